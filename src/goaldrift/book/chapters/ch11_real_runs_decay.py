"""The spec of chapter 10 (book/chapters/real_runs_decay.md): how much do real runs
decay? (H9): its parameters, profiles and checks."""

from __future__ import annotations

from goaldrift.book.chapter import Chapter
from goaldrift.book.params import Param
from goaldrift.book.declarations import check, evidence


def _schedule_check_order(v: dict) -> str | None:
    if not v["check_warmup"] < v["check_decay_end"] <= v["check_steps"]:
        return "need check_warmup < check_decay_end <= check_steps"
    return None


CLAIMS = (
    check(
        "synthetic_sum_vs_integral",
        "synthetic schedules: |sum_t eta_t - closed form| in units of 2 eta_peak (must be <= 1)",
        predicted=1.0, comparison="at_most", hypothesis="H9",
    ),
    check(
        "recipe_sum_vs_integral",
        "published recipes: |sum_t eta_t - closed form| in units of 2 eta_peak (must be <= 1)",
        predicted=1.0, comparison="at_most", hypothesis="H9",
    ),
    check(
        "efold_linearisation",
        "-sum ln(1 - eta_t lambda) = lambda sum eta_t up to a relative eta_peak*lambda (worst, in those units; <= 1)",
        predicted=1.0, comparison="at_most", hypothesis="H9",
    ),
    evidence(
        "pretraining_at_least_one_efold",
        "every pretraining run integrates at least one e-fold of decay (smallest run)",
        alternative="some published pretraining run integrates less than one e-fold",
        predicted=1.0, comparison="at_least", hypothesis="H9",
        design=("every published pretraining recipe in goaldrift.experiments.decay.recipes that states its "
                "weight decay and length, summed step by step over its schedule; no seeds (a deterministic count)"), role="law", statistic="point",
    ),
    evidence(
        "finetuning_below_001_efold",
        "fine-tuning integrates at most 0.01 e-folds (largest run)",
        alternative="some published fine-tuning run integrates more than 0.01 e-folds",
        predicted=0.01, comparison="at_most", hypothesis="H9",
        design=("every published fine-tuning recipe in goaldrift.experiments.decay.recipes that states its "
                "weight decay and length, summed step by step over its schedule; no seeds (a deterministic count)"), role="core", statistic="point",
    ),
)


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
    claims=CLAIMS,
)
