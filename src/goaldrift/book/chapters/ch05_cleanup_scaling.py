"""The spec of chapter 5 (book/chapters/cleanup_scaling.ipynb): cleanup as weight decay at
work, delay against eta*lambda (H3): its parameters, profiles and checks."""

from __future__ import annotations

from goaldrift.book.chapter import Chapter, seed_param
from goaldrift.book.chapters.ch04_grokking_replication import grokking_shape
from goaldrift.book.params import Param


def _cleanup_grid(v: dict) -> str | None:
    if not v["lr_low"] < v["lr_high"]:
        return "lr_low must be smaller than lr_high (two learning rates separate eta from lambda)"
    if v["wd_min"] > v["wd_max"] or (v["n_wd"] == 1 and v["wd_min"] != v["wd_max"]):
        return "need wd_min <= wd_max, and wd_min == wd_max when n_wd == 1"
    if v["lr_high"] * v["wd_max"] > 0.05:
        return "lr_high * wd_max must be <= 0.05 (1 - eta*lambda per step must stay near 1)"
    if v["steps"] < 10 * v["eval_every"]:
        return "steps must be at least 10 * eval_every"
    return grokking_shape(v)


def _cleanup_runs(values: dict) -> list:
    # The engine (torch) is loaded only when the sweep is built, never to list chapters.
    from goaldrift.experiments.grokking.grokking_runs import cleanup_sweep

    names = ("seed", "n_seeds", "p", "train_frac", "d_model", "lr_low", "lr_high", "wd_min", "wd_max",
             "n_wd", "warmup_steps", "steps", "eval_every")
    return cleanup_sweep(**{n: values[n] for n in names})[2]


CLEANUP_SCALING = Chapter(
    name="cleanup_scaling",
    title="Cleanup as weight decay at work: how the delay scales with eta*lambda",
    params=[
        seed_param(),
        Param("n_seeds", int, 5, "ensembles; seed s sets the split and the init of every member", low=2, high=32),
        Param("p", int, 47, "modulus of a+b mod p (an odd prime)", low=5, high=257),
        Param("train_frac", float, 0.5, "fraction of the p^2 pairs used for training", low=0.05, high=0.95),
        Param("d_model", int, 64, "residual width (4 heads; d_mlp = 4 d_model)", low=8, high=512),
        Param("lr_low", float, 0.002, "smaller AdamW eta of the grid", low=1e-5, high=0.03),
        Param("lr_high", float, 0.004, "larger AdamW eta of the grid (also the lambda = 0 control)", low=1e-5, high=0.03),
        Param("wd_min", float, 1.0, "smallest nonzero lambda", low=0.0, low_open=True, high=10.0),
        Param("wd_max", float, 2.0, "largest lambda", low=0.0, low_open=True, high=10.0),
        Param("n_wd", int, 2, "log-spaced lambda values from wd_min to wd_max", low=1, high=16),
        Param("warmup_steps", int, 10, "linear warm-up steps", low=0, high=10_000),
        Param("steps", int, 3000, "full-batch training steps (the budget)", low=50, high=200_000),
        Param("eval_every", int, 25, "steps between evaluations", low=1, high=10_000),
    ],
    profiles={
        "smoke": {"n_seeds": 2, "p": 23, "d_model": 32, "lr_low": 0.003, "lr_high": 0.006, "wd_min": 2.0,
                  "wd_max": 2.0, "n_wd": 1, "steps": 400, "eval_every": 20},
        "paper": {"n_seeds": 5, "p": 113, "train_frac": 0.3, "d_model": 128, "lr_low": 0.001, "lr_high": 0.002,
                  "wd_min": 0.5, "wd_max": 4.0, "n_wd": 4, "steps": 40_000, "eval_every": 100},
    },
    constraints=[_cleanup_grid],
    hypotheses=("H3",),
    headline_claim="delay_exponent_is_minus_one",
    sweep=_cleanup_runs,
)
