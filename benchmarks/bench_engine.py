"""How much faster is our engine than the published grokking trainer?

Measures, in one process and at the published configuration (p=113, 30%
train, full batch, AdamW lr 1e-3, λ=1, betas (0.9, 0.98), 10-step warm-up):

1. seconds per step of a *plain* re-implementation of the published
   trainer's step: every position through every layer, the full-batch test
   loss computed WITH gradients every step, labels rebuilt in Python every
   step, float64 cross-entropy;
2. seconds per step of our engine (fast last-position path, precomputed
   labels, metrics every 100 steps under no_grad), and the ratio;
3. ensemble throughput (member-steps per second) for K = 1, 4, 16.

Usage: python benchmarks/bench_engine.py [--device auto|cpu|cuda] [--threads 2]
A script, not a test: run it by hand when the engine changes.
"""

from __future__ import annotations

import argparse
import math
import random
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from goaldrift.device import describe, pick_device
from goaldrift.train import OptimConfig, RunConfig, Trainer

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


def plain_step_seconds(device, steps):
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

    step()  # warm-up
    sync(device)
    t = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return (time.perf_counter() - t) / steps


def engine_step_seconds(device, K, steps, eval_every=100):
    """Seconds per step of Trainer.run, with the cost of one metrics pass
    every ``eval_every`` steps amortised in (measured separately, since a
    short timing run would otherwise be dominated by its first and last
    evaluation)."""
    cfg = RunConfig(steps=steps, seeds=list(range(K)), eval_every=10**9, checkpoint_every=None,
                    device=device.type, optim=OptimConfig(lr=1e-3, weight_decay=1.0, warmup_steps=10))
    trainer = Trainer(cfg)
    Trainer(RunConfig(**{**cfg.__dict__, "steps": 2})).run(progress=False)  # warm-up
    t = time.perf_counter()
    trainer.evaluate(0)
    sync(device)
    t_eval = time.perf_counter() - t
    t = time.perf_counter()
    trainer.run(progress=False)  # evaluates at step 0 and at the end
    sync(device)
    t_run = time.perf_counter() - t
    return max(t_run - 2 * t_eval, 0.0) / steps + t_eval / eval_every


def peak_memory_mib(device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--plain-steps", type=int, default=10)
    ap.add_argument("--engine-steps", type=int, default=100)
    ap.add_argument("--ensembles", default="1,4,16")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    print(f"device: {describe(device)}; torch {torch.__version__}; p={P}, train fraction {FRAC}, full batch")

    # the engine first, so that the process's peak memory is the engine's own
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    engine = engine_step_seconds(device, 1, args.engine_steps)
    mem = "peak GPU memory (engine)" if device.type == "cuda" else "peak RSS (engine, process)"
    print(f"{mem:27s}: {peak_memory_mib(device):.0f} MiB")
    plain = plain_step_seconds(device, args.plain_steps)
    print(f"plain published-style step : {plain:.4f} s/step  ({args.plain_steps} steps)")
    print(f"engine step (K=1)          : {engine:.4f} s/step  ({args.engine_steps} steps, metrics every 100)")
    print(f"speed-up                   : {plain / engine:.1f}x")
    print("ensemble throughput:")
    for K in [int(k) for k in args.ensembles.split(",")]:
        steps = max(20, args.engine_steps // K) if device.type == "cpu" else args.engine_steps
        s = engine_step_seconds(device, K, steps)
        print(f"  K={K:<3d} {s:.4f} s/step  {K / s:8.1f} member-steps/s  ({K / s * plain:.1f}x plain per member)")


if __name__ == "__main__":
    main()
