"""The spec of chapter 4 (book/chapters/grokking_replication.md): grokking and its
cleanup phase, replicated (H3): its parameters, profiles and checks."""

from __future__ import annotations

from goaldrift.book.chapter import Chapter, seed_param
from goaldrift.book.params import Param
from goaldrift.book.declarations import check, evidence


def grokking_shape(v: dict) -> str | None:
    p = v["p"]
    if p < 5 or any(p % d == 0 for d in range(2, int(p**0.5) + 1)):
        return "p must be an odd prime >= 5 (the Fourier basis of Z_p and the task need it)"
    if v["d_model"] % 4:
        return "d_model must be a multiple of 4 (four attention heads)"
    if v["steps"] < 10 * v["eval_every"]:
        return "steps must be at least 10 * eval_every (the phase rule needs the curves resolved)"
    return None


def _lambda_scan(v: dict) -> str | None:
    if not v["wd_low"] < v["weight_decay"] < v["wd_high"]:
        return "need wd_low < weight_decay < wd_high (the scan brackets the main run's lambda)"
    if min(v["wd_low_steps"], v["wd_high_steps"]) < 10 * v["eval_every"]:
        return "wd_low_steps and wd_high_steps must be at least 10 * eval_every"
    return None


_MAIN_RUNS = ("{n_seeds} seeds (each sets the split and the init); p = {p}, {train_frac} of the pairs for training, "
              "d_model = {d_model}; AdamW at eta = {learning_rate}, lambda = {weight_decay}, {steps} full-batch steps, "
              "snapshots every {eval_every}")
_PHASES = _MAIN_RUNS + "; phases by the rule of goaldrift.experiments.grokking.phases"


CLAIMS = (
    check(
        "float64_losses_match_trainer",
        "train loss recomputed in float64 from the snapshots equals the trainer's record (worst relative gap)",
        predicted=0.0, comparison="abs", tolerance=0.001, hypothesis="H3",
    ),
    check(
        "restricted_plus_excluded_is_exact",
        "restricted + excluded logits = logits + their constant part (worst relative error, float64)",
        predicted=0.0, comparison="abs", tolerance=1e-10, hypothesis="H3",
    ),
    evidence(
        "memorisation_precedes_generalisation",
        "step of test acc >= 0.95 over step of train acc >= 0.99 (geometric mean over seeds) is at least 3",
        alternative="generalisation follows memorisation within 3x (no delay)",
        predicted=3.0, comparison="at_least", hypothesis="H3", design=_PHASES, role="core", statistic="log_mean",
    ),
    evidence(
        "excluded_rises_test_falls_in_circuit_formation",
        "circuit formation: excluded loss up and test loss down (mean over seeds of each seed's smaller margin) is positive",
        alternative="excluded loss falls or test loss rises in circuit formation",
        predicted=0.0, comparison="at_least", hypothesis=None, design=_PHASES, role="aside",
    ),
    evidence(
        "norm_falls_sharply_in_cleanup",
        "rate of ln(sum of squared weights) in circuit formation / in cleanup, norm falling in cleanup (geometric mean over seeds) is at most 0.5",
        alternative="the norm falls as fast before cleanup as in it (ratio above 0.5)",
        predicted=0.5, comparison="at_most", hypothesis="H3", design=_PHASES, role="core", statistic="log_mean",
    ),
    evidence(
        "gini_rises_sharply_in_cleanup",
        "rate of the Gini coefficient (W_E and W_L) in circuit formation / in cleanup, rising in cleanup (geometric mean over seeds) is at most 0.5",
        alternative="sparsity rises as fast before cleanup as in it (ratio above 0.5)",
        predicted=0.5, comparison="at_most", hypothesis="H3", design=_PHASES, role="core", statistic="log_mean",
    ),
    evidence(
        "delay_scales_as_one_over_lambda",
        "exponent of the delay in lambda at fixed eta (mean over the seeds with a slope; 95% seed interval, unbounded if a run did not generalise) is -1 within 0.25",
        alternative="exponent -1/2",
        predicted=-1.0, comparison="abs", tolerance=0.25, alternative_value=-0.5, hypothesis="H3",
        design="the same {n_seeds} seeds at lambda in {{{wd_low}, {weight_decay}, {wd_high}}}, eta = {learning_rate} fixed; "
               "budgets {wd_low_steps}, {steps} and {wd_high_steps} steps (fixed before the scan ran)", role="core", statistic="stated",
    ),
)


GROKKING_REPLICATION = Chapter(
    name="grokking_replication",
    title="Grokking and its cleanup phase, replicated",
    params=[
        seed_param(),
        # 5, not 3, since issue 26: with 3 seeds decided verdicts sat on their lines; 8, not 5, since
        # an AMD build flipped two verdicts against the Intel one (see the design history)
        Param("n_seeds", int, 8, "runs; seed s sets both the train/test split and the init", low=1, high=32),
        Param("p", int, 47, "modulus of a+b mod p (an odd prime)", low=5, high=257),
        Param("train_frac", float, 0.5, "fraction of the p^2 pairs used for training", low=0.05, high=0.95),
        Param("d_model", int, 64, "residual width (4 heads of d_model/4; d_mlp = 4 d_model)", low=8, high=512),
        Param("learning_rate", float, 0.003, "AdamW eta", low=1e-5, high=0.03),
        Param("weight_decay", float, 1.0, "AdamW lambda (decoupled)", low=0.0, high=10.0),
        Param("warmup_steps", int, 10, "linear warm-up steps", low=0, high=10_000),
        Param("steps", int, 2000, "full-batch training steps", low=50, high=200_000),
        Param("eval_every", int, 20, "steps between evaluations and weight snapshots", low=1, high=10_000),
        Param("wd_low", float, 0.5, "smaller lambda of the clock scan (same seeds, same eta)", low=0.0, low_open=True, high=10.0),
        Param("wd_low_steps", int, 4500, "step budget of the runs at wd_low", low=50, high=200_000),
        Param("wd_high", float, 3.0, "larger lambda of the clock scan", low=0.0, low_open=True, high=10.0),
        Param("wd_high_steps", int, 1000, "step budget of the runs at wd_high", low=50, high=200_000),
        Param("key_share_factor", float, 2.0, "a frequency is key if its energy share is this many times the uniform share",
              low=1.0, low_open=True, high=20.0),
    ],
    profiles={
        "smoke": {"n_seeds": 1, "p": 23, "d_model": 32, "steps": 400, "eval_every": 20, "wd_low_steps": 400,
                  "wd_high_steps": 200},
        # Cut from 5 seeds x 40k steps before any paper run, to fit a 2-core CPU (see the chapter's design history).
        "paper": {"n_seeds": 3, "p": 113, "train_frac": 0.3, "d_model": 128, "learning_rate": 0.001,
                  "steps": 18_000, "eval_every": 200,
                  # The lambda scan's budgets: the clock's prediction from the lambda = 1 runs, with a margin
                  # (fixed before any scan run; see the chapter's design history).
                  "wd_low": 0.3, "wd_low_steps": 36_000, "wd_high": 3.0, "wd_high_steps": 12_000},
    },
    constraints=[grokking_shape, _lambda_scan],
    hypotheses=("H3",),
    headline_claim="memorisation_precedes_generalisation",
    claims=CLAIMS,
)
