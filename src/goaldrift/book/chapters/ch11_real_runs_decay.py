"""The spec of chapter 10 (book/chapters/real_runs_decay.ipynb): how much do real runs
decay? (H9): its parameters, profiles and checks."""

from __future__ import annotations

from goaldrift.book.chapter import Chapter
from goaldrift.book.params import Param


def _schedule_check_order(v: dict) -> str | None:
    if not v["check_warmup"] < v["check_decay_end"] <= v["check_steps"]:
        return "need check_warmup < check_decay_end <= check_steps"
    return None


REAL_RUNS_DECAY = Chapter(
    name="real_runs_decay",
    title="How much do real runs decay?",
    params=[
        Param("check_steps", int, 20000, "steps of the synthetic schedule checked against the closed form", low=3, high=10_000_000),
        Param("check_warmup", int, 500, "its warm-up steps", low=1, high=10_000_000),
        Param("check_decay_end", int, 18000, "step where its decay reaches the floor", low=2, high=10_000_000),
        Param("check_final_fraction", float, 0.1, "its floor as a fraction of the peak", low=0.0, high=1.0),
    ],
    profiles={"smoke": {"check_steps": 2000, "check_warmup": 50, "check_decay_end": 1800}},
    constraints=[_schedule_check_order],
    hypotheses=("H9",),
    headline_claim="pretraining_at_least_one_efold",
)
