"""Independent runs, trained one after another in this process against side by side
in worker processes (goaldrift.engine.parallel): wall seconds and their ratio.

The runs are cleanup_scaling's default ensembles (p=23, d_model 32, 80% train,
8 members) shortened to --steps, one per seed; both ways train into fresh,
separate run caches, and the script checks that they give the same bits.
Prints numbers; targets never live in tests.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

from goaldrift.engine import parallel, runs
from goaldrift.experiments.grokking import grokking_runs as gr


def configs(n_runs: int, steps: int):
    grid, _, cfgs = gr.cleanup_sweep(seed=0, n_seeds=n_runs, p=23, train_frac=0.8, d_model=32, lr_low=0.01,
                                     lr_high=0.02, wd_min=0.1, wd_max=0.8, n_wd=3, max_eta_lambda=0.016,
                                     warmup_steps=10, steps=steps, eval_every=50)
    for c in cfgs:
        c.device = "cpu"
    return cfgs


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=4, help="independent runs (one ensemble per seed)")
    ap.add_argument("--steps", type=int, default=1000, help="steps per run")
    ap.add_argument("--workers", type=int, default=parallel.usable_cores(), help="worker processes")
    args = ap.parse_args()
    if args.runs < 1 or args.steps < 50 or args.workers < 1:
        ap.error("need --runs >= 1, --steps >= 50 and --workers >= 1")
    cfgs = configs(args.runs, args.steps)
    member_steps = sum(c.steps * c.K for c in cfgs)
    with tempfile.TemporaryDirectory() as here, tempfile.TemporaryDirectory() as ahead:
        t0 = time.perf_counter()
        in_process = [runs.run(c, root=here, progress=False) for c in cfgs]
        sequential = time.perf_counter() - t0
        os.environ[parallel.WORKERS_VAR] = str(args.workers)
        t0 = time.perf_counter()
        side_by_side = parallel.run_all([parallel.Job(c) for c in cfgs], root=ahead)
        parallel_s = time.perf_counter() - t0
        same = all(np.array_equal(a.metrics[k], b.metrics[k]) for a, b in zip(in_process, side_by_side)
                   for k in a.metrics)
    print(f"{args.runs} runs x {args.steps} steps x K={cfgs[0].K} ({member_steps} member-steps), "
          f"{parallel.usable_cores()} usable cores, load average {os.getloadavg()[0]:.1f}")
    print(f"one after another, this process : {sequential:8.1f} s")
    print(f"side by side, {args.workers} worker process(es): {parallel_s:8.1f} s "
          f"(worker start-up included)")
    print(f"speed-up                         : {sequential / parallel_s:8.2f}x")
    print(f"same bits both ways              : {same}")


if __name__ == "__main__":
    main()
