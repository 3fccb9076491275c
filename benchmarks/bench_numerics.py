"""What the portable CPU numerics cost: seconds per step, portable against native.

The kernels are chosen when torch first computes, so each mode runs in its own
process (``GOALDRIFT_NUMERICS=portable`` or ``native``); the trials alternate
between the two and the fastest trial of each counts, because on a shared
machine other processes only ever add time. Printed: each mode's s/step, its
ATen capability and MKL branch, and the portable/native ratio (reported, never
asserted).

Workloads: the published grokking step (p=113 transformer, full batch) and a
proxy-task MLP step (the goal-drift chapters' model), each from initialisation.

Usage: python benchmarks/bench_numerics.py [--trials 3] [--steps 40]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

WORKER = r"""
import json, sys, time
import goaldrift
from goaldrift import numerics
from goaldrift.engine.device import call_with_flushed_denormals
from goaldrift.engine.models import MLPConfig
from goaldrift.engine.train import OptimConfig, RunConfig, Trainer

steps = int(sys.argv[1])
configs = {
    "p113 transformer": RunConfig(task={"name": "modular_addition", "p": 113, "train_frac": 0.3}, steps=steps,
                                  seeds=[0], device="cpu", checkpoint_every=None,
                                  optim=OptimConfig(lr=1e-3, weight_decay=1.0, warmup_steps=10,
                                                    warmup_rule="published")),
    "proxy MLP (K=8)": RunConfig(task={"name": "proxy", "phase": 1, "n_train": 1024, "n_test": 256, "labels": False,
                                       "n_bits": 20, "k": 3}, model=MLPConfig(d_in=20, d_hidden=256, d_out=1),
                                 optim=OptimConfig(kind="adamw", lr=1e-3, weight_decay=0.1), steps=steps,
                                 seeds=list(range(8)), loss="mse", device="cpu", checkpoint_every=None),
}
out = {"numerics": numerics.describe(), "s_per_step": {}}
for name, cfg in configs.items():
    tr = Trainer(cfg)
    def timed(stop=None):
        for step in range(3):  # warm-up: first-call allocations
            tr.train_step(step)
        t = time.perf_counter()
        for step in range(3, 3 + steps):
            tr.train_step(step)
        return (time.perf_counter() - t) / steps
    out["s_per_step"][name], _ = call_with_flushed_denormals(timed)
print(json.dumps(out))
"""


def trial(mode: str, steps: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "ONEDNN_MAX_CPU_ISA")}
    env["GOALDRIFT_NUMERICS"] = mode
    out = subprocess.run([sys.executable, "-c", WORKER, str(steps)], capture_output=True, text=True, env=env,
                         check=True)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--steps", type=int, default=40)
    args = ap.parse_args()
    best: dict[str, dict] = {}
    info: dict[str, dict] = {}
    for _ in range(args.trials):
        for mode in ("portable", "native"):
            r = trial(mode, args.steps)
            info[mode] = r["numerics"]
            for name, s in r["s_per_step"].items():
                best.setdefault(mode, {})[name] = min(s, best.get(mode, {}).get(name, float("inf")))
    print(f"CPU: {info['native']['cpu_model']}; fastest of {args.trials} alternating trials, {args.steps} steps each")
    for mode in ("portable", "native"):
        n = info[mode]
        print(f"  {mode:8s}: ATen {n['aten_capability']}, MKL_CBWR {n['mkl_cbwr']}, pinned {n['pinned']}")
    for name in best["native"]:
        p, n = best["portable"][name], best["native"][name]
        print(f"{name:18s} portable {p * 1e3:7.1f} ms/step   native {n * 1e3:7.1f} ms/step   "
              f"portable/native {p / n:.2f}x")


if __name__ == "__main__":
    main()
