"""How much faster is our engine than the published grokking trainer?

Measures, in one process and at the published configuration (p=113, 30%
train, full batch, AdamW lr 1e-3, λ=1, betas (0.9, 0.98), 10-step warm-up):

1. seconds per step of a *plain* re-implementation of the published
   trainer's step: every position through every layer, the full-batch test
   loss computed WITH gradients every step, labels rebuilt in Python every
   step, float64 cross-entropy;
2. seconds per step of our engine (fast last-position path, precomputed
   labels, metrics every 100 steps under no_grad), and the ratio;
3. ensemble throughput (member-steps per second) for K = 1, 4, 16;
4. with ``--sweep-steps N``: the wall time of a real K-member weight-decay
   sweep at that configuration (``goaldrift.engine.sweeps``, one ensemble run, metrics
   every 100 steps, checkpoints every 1000, written to a temporary run cache),
   and that time scaled to the published 40k steps. The issue's GPU target is
   ``--sweep-steps 40000`` under three minutes on one H100/H200.

Timing: plain and engine trials alternate and the fastest trial of each
counts, because on a shared machine other processes only ever add time;
wall and process-CPU seconds are both printed.

Usage: python benchmarks/bench_engine.py [--device auto|cpu|cuda] [--threads 2]
       python benchmarks/bench_engine.py --sweep-only --sweep-steps 40000 --device cuda
A script, not a test: run it by hand when the engine changes.
"""

from __future__ import annotations

import argparse
import math
import random
import time

import torch
import torch.nn.functional as F
from torch import nn

from goaldrift.engine.device import describe, pick_device
from goaldrift.engine.train import OptimConfig, RunConfig, Trainer

P, FRAC, SEED = 113, 0.3, 0


class PlainTransformer(nn.Module):
    """The published architecture written the published way (einsums over
    all three positions, weights in the published layout)."""

    def __init__(self, p=P, d_model=128, n_heads=4, d_head=32, d_mlp=512, n_ctx=3):
        super().__init__()
        V, D = p + 1, d_model
        r = lambda *s: nn.Parameter(torch.randn(*s) / math.sqrt(D))
        self.W_E, self.W_pos = r(D, V), r(n_ctx, D)
        self.W_K, self.W_Q, self.W_V = r(n_heads, d_head, D), r(n_heads, d_head, D), r(n_heads, d_head, D)
        self.W_O = r(D, n_heads * d_head)
        self.W_in, self.b_in = r(d_mlp, D), nn.Parameter(torch.zeros(d_mlp))
        self.W_out, self.b_out = r(D, d_mlp), nn.Parameter(torch.zeros(D))
        self.W_U = nn.Parameter(torch.randn(D, V) / math.sqrt(V))
        self.register_buffer("mask", torch.tril(torch.ones(n_ctx, n_ctx)))
        self.d_head = d_head

    def forward(self, x):
        x = torch.einsum("dbp->bpd", self.W_E[:, x]) + self.W_pos[: x.shape[-1]]
        k = torch.einsum("ihd,bpd->biph", self.W_K, x)
        q = torch.einsum("ihd,bpd->biph", self.W_Q, x)
        v = torch.einsum("ihd,bpd->biph", self.W_V, x)
        scores = torch.einsum("biph,biqh->biqp", k, q)
        scores = torch.tril(scores) - 1e10 * (1 - self.mask)
        attn = F.softmax(scores / math.sqrt(self.d_head), dim=-1)
        z = torch.einsum("biph,biqp->biqh", v, attn)
        z = z.permute(0, 2, 1, 3).reshape(z.shape[0], z.shape[2], -1)
        x = x + torch.einsum("df,bqf->bqd", self.W_O, z)
        h = F.relu(torch.einsum("md,bpd->bpm", self.W_in, x) + self.b_in)
        x = x + torch.einsum("dm,bpm->bpd", self.W_out, h) + self.b_out
        return x @ self.W_U


def plain_stepper(device):
    """The published trainer's step as a closure (state built once)."""
    pairs = [(i, j, P) for i in range(P) for j in range(P)]
    random.seed(SEED)
    random.shuffle(pairs)
    cut = int(FRAC * len(pairs))
    train, test = pairs[:cut], pairs[cut:]
    torch.manual_seed(0)
    model = PlainTransformer().to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1.0, betas=(0.9, 0.98))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(s / 10, 1))

    def full_loss(data):
        logits = model(torch.tensor(data, device=device))[:, -1].to(torch.float64)
        labels = torch.tensor([(i + j) % P for i, j, _ in data], device=device)
        return -logits.log_softmax(-1).gather(-1, labels[:, None])[:, 0].mean()

    def step():
        train_loss = full_loss(train)
        test_loss = full_loss(test)
        train_loss.item(), test_loss.item()
        train_loss.backward()
        opt.step()
        sched.step()
        opt.zero_grad()

    return step


def engine_stepper(device, K):
    """Our step (Trainer.train_step) as a closure, and one metrics pass."""
    cfg = RunConfig(steps=10**6, seeds=list(range(K)), eval_every=100, checkpoint_every=None,
                    device=device.type, optim=OptimConfig(lr=1e-3, weight_decay=1.0, warmup_steps=10))
    trainer = Trainer(cfg)
    counter = iter(range(10**6))
    return (lambda: trainer.train_step(next(counter))), (lambda: trainer.evaluate(0))


def timed(device, fn, n):
    """Per-call (wall, CPU) seconds of n calls."""
    with Clock(device) as c:
        for _ in range(n):
            fn()
    return c.wall / n, c.cpu / n


def best(trials):
    """Fastest trial: on a shared machine interference only ever adds time."""
    return min(t[0] for t in trials), min(t[1] for t in trials)


def peak_memory_mib(device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Clock:
    """Wall and process-CPU time together: on a shared machine the CPU time
    (summed over threads) is the steadier measure of the work done."""

    def __init__(self, device):
        self.device = device

    def __enter__(self):
        sync(self.device)
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        sync(self.device)
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


PUBLISHED_STEPS = 40_000


def sweep_seconds(device, members: int, steps: int) -> float:
    """Wall seconds of a ``members``-point λ sweep of ``steps`` steps, end to
    end: data, model, training, metrics, checkpoints and the cached result."""
    import tempfile

    from goaldrift.engine.sweeps import Sweep, run_sweep

    base = RunConfig(steps=steps, seeds=[SEED], eval_every=100, checkpoint_every=1000, device=device.type,
                     optim=OptimConfig(lr=1e-3, weight_decay=1.0, warmup_steps=10))
    lambdas = [round(0.1 * 30 ** (i / max(1, members - 1)), 6) for i in range(members)]  # 0.1 .. 3
    sweep = Sweep("bench", base, {"weight_decay": lambdas}, members_per_run=members)
    with tempfile.TemporaryDirectory() as root, Clock(device) as c:
        run_sweep(sweep, root=root, report=lambda _: None)
    return c.wall


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--trials", type=int, default=5, help="interleaved timing trials; the best counts")
    ap.add_argument("--plain-steps", type=int, default=3, help="plain steps per trial")
    ap.add_argument("--engine-steps", type=int, default=20, help="engine steps per trial (K=1)")
    ap.add_argument("--ensembles", default="1,4,16")
    ap.add_argument("--sweep-steps", type=int, default=0, help="also time a real λ sweep of this many steps")
    ap.add_argument("--sweep-members", type=int, default=16)
    ap.add_argument("--sweep-only", action="store_true", help="skip the step benchmark")
    args = ap.parse_args()
    if args.threads < 1 or args.sweep_steps < 0 or args.sweep_members < 1:
        ap.error("--threads and --sweep-members must be >= 1, --sweep-steps >= 0")
    torch.set_num_threads(args.threads)
    try:
        device = pick_device(args.device)
    except ValueError as err:
        ap.exit(2, f"bench_engine: error: {err}\n")
    print(f"device: {describe(device)}; torch {torch.__version__}; p={P}, train fraction {FRAC}, full batch")
    if not args.sweep_only:
        step_benchmark(device, args)
    if args.sweep_steps:
        wall = sweep_seconds(device, args.sweep_members, args.sweep_steps)
        scaled = wall * PUBLISHED_STEPS / args.sweep_steps
        print(f"{args.sweep_members}-member λ sweep, {args.sweep_steps} steps: {wall:.1f} s wall "
              f"({args.sweep_members * args.sweep_steps / wall:.0f} member-steps/s); "
              f"scaled to {PUBLISHED_STEPS} steps: {scaled:.1f} s = {scaled / 60:.2f} min")


def step_benchmark(device, args):
    # the engine first, so that the process's peak memory is the engine's own
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    engine_step, engine_eval = engine_stepper(device, 1)
    for _ in range(3):
        engine_step()
    engine_eval()
    mem = "peak GPU memory (engine)" if device.type == "cuda" else "peak RSS (engine, process)"
    print(f"{mem:27s}: {peak_memory_mib(device):.0f} MiB")
    plain_step = plain_stepper(device)
    plain_step()  # warm-up

    plain_t, engine_t, eval_t = [], [], []
    for _ in range(args.trials):  # interleaved, so both see the same machine load
        plain_t.append(timed(device, plain_step, args.plain_steps))
        engine_t.append(timed(device, engine_step, args.engine_steps))
        eval_t.append(timed(device, engine_eval, 1))
    plain, plain_cpu = best(plain_t)
    step, step_cpu = best(engine_t)
    ev, ev_cpu = best(eval_t)
    engine, engine_cpu = step + ev / 100, step_cpu + ev_cpu / 100
    print(f"best of {args.trials} interleaved trials    wall s/step   CPU s/step (all threads)")
    print(f"plain published-style step : {plain:10.4f}   {plain_cpu:10.4f}   ({args.plain_steps} steps/trial)")
    print(f"engine train step (K=1)    : {step:10.4f}   {step_cpu:10.4f}   ({args.engine_steps} steps/trial)")
    print(f"engine metrics pass        : {ev:10.4f}   {ev_cpu:10.4f}   (train+test loss/acc, norms)")
    print(f"engine, metrics every 100  : {engine:10.4f}   {engine_cpu:10.4f}")
    print(f"speed-up                   : {plain / engine:9.1f}x   {plain_cpu / engine_cpu:9.1f}x")
    print("ensemble throughput (metrics every 100 amortised):")
    for K in [int(k) for k in args.ensembles.split(",")]:
        step_k, eval_k = engine_stepper(device, K)
        step_k()
        n = max(2, args.engine_steps // K) if device.type == "cpu" else args.engine_steps
        s_k = best([timed(device, step_k, n) for _ in range(max(2, args.trials // 2))])
        e_k = timed(device, eval_k, 1)
        wall, cpu = s_k[0] + e_k[0] / 100, s_k[1] + e_k[1] / 100
        print(f"  K={K:<3d} {wall:.4f} s/step  {K / wall:8.1f} member-steps/s  "
              f"(per member {plain / (wall / K):.1f}x the plain step; CPU {plain_cpu / (cpu / K):.1f}x)")

if __name__ == "__main__":
    main()
