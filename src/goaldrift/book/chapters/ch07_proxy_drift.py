"""The spec of chapter 7 (book/chapters/proxy_drift.md): does weight decay turn an
aligned goal into its proxy? (H4): its parameters, profiles and checks."""

from __future__ import annotations

import math

from goaldrift.book.chapter import Chapter, proxy_network_params, seed_param
from goaldrift.book.params import Param
from goaldrift.book.declarations import check, computed, evidence


def _drift_in_budget(v: dict) -> str | None:
    # The slowest member (eta, lambda/4) must pass the predicted drift point ln2/2 ~ 0.35
    # with a 50% margin, or "no drift" would only mean "not yet".
    if v["phase2_steps"] * v["learning_rate"] * v["weight_decay"] / 4 < 0.52:
        return "phase2_steps * learning_rate * weight_decay / 4 must be >= 0.52 (every member must reach eta*lambda*t = 1.5 ln2/2)"
    return None


def _drift_resolved(v: dict) -> str | None:
    fastest = 0.35 / (v["learning_rate"] * v["lr_ratio"] * v["weight_decay"])
    if v["eval_every"] > fastest / 3:
        return "eval_every must be <= ln2/2 / (3 * learning_rate * lr_ratio * weight_decay) (the fastest drift needs 3 evaluations)"
    return None


def _drift_task_fits(v: dict) -> str | None:
    if max(v["k"], v["max_k"]) > v["n_bits"] - 1:
        return "k and max_k must be <= n_bits - 1 (bit 0 is the proxy)"
    if v["n_train"] % 2:
        return "n_train must be even (phase-1 goal and proxy are exactly balanced)"
    if v["learning_rate"] * v["lr_ratio"] * v["weight_decay"] > 0.05:
        return "learning_rate * lr_ratio * weight_decay must be <= 0.05 (1 - eta*lambda per step must stay near 1)"
    return None


# The designs the evidence rests on (seeds, grid, budget), filled from the parameters.
_ETA_HI = "eta = {lr_ratio} x {learning_rate}"
_GRID = ("{n_seeds} seeds (width {width}, {n_train} examples, {phase1_steps} phase-1 steps) x eta in "
         "{{{learning_rate}, {lr_ratio} x {learning_rate}}} x lambda in {{lambda/4, lambda/2, lambda}} at "
         "lambda = {weight_decay}; squared error, AdamW, {phase2_steps} phase-2 steps, evaluated every {eval_every}")
_SWEEP = ("one member per seed at " + _ETA_HI + ", lambda = {weight_decay}, for a third of {phase2_steps} steps, "
          "evaluated every {eval_every}")

CLAIMS = (
    check(
        "phase1_goal_proxy_uncorrelated",
        "phase 1: sample correlation of goal and proxy is exactly 0",
        predicted=0.0, comparison="equal", hypothesis="H4",
    ),
    check(
        "phase2_proxy_equals_goal",
        "phase 2: fraction of examples with proxy = goal",
        predicted=1.0, comparison="equal", hypothesis="H4",
    ),
    check(
        "conflict_proxy_opposes_goal",
        "conflict set: fraction of examples with proxy = -goal",
        predicted=1.0, comparison="equal", hypothesis="H4",
    ),
    evidence(
        "mse_lambda0_no_drift",
        "share of seeds in which: squared error, AdamW, lambda = 0: lowest aligned agreement over the whole budget (no drift: >= 0.9)",
        alternative="the loss alone drifts the goal (agreement below 0.9)",
        predicted=0.5, comparison="at_least", hypothesis="H4",
        design="{n_seeds} seeds x eta in {{{learning_rate}, {lr_ratio} x {learning_rate}}} at lambda = 0 (the "
               "control members of the decay grid); squared error, AdamW, {phase2_steps} steps, evaluated every "
               "{eval_every}; per seed: its lowest agreement", role="core", statistic="binomial", outcome=("at_least", 0.9),
    ),
    evidence(
        "all_decayed_members_drift",
        "share of seeds in which every decayed member drifts in the budget (squared error, AdamW, lambda > 0)",
        alternative="some decayed member keeps the goal within the budget",
        predicted=0.5, comparison="at_least", hypothesis="H4",
        design=_GRID + "; per seed: the fraction of its decayed members that drift", role="core", statistic="binomial", outcome=("equal", 1.0),
    ),
    evidence(
        "collapse_on_eta_lambda_t",
        "spread (std of log) of eta*lambda*t_d over all lambda, eta, seeds",
        alternative="the drift point is not set by eta*lambda*t (spread above 0.1)",
        predicted=0.1, comparison="at_most", hypothesis="H4",
        design=_GRID + "; per seed: the spread of its decayed members", role="core", statistic="log_mean",
    ),
    evidence(
        "drift_point_ln2_over_2",
        "mean eta*lambda*t_d equals ln(2)/2 (degree-2 network)",
        alternative="ln 2 (the degree-1 rate)",
        predicted=computed("ln(2)/2: the derivation's drift point (goaldrift.theory.drift.drift_point) at degree L = 2, "
                           "evaluated by the chapter's derivation cell"),
        comparison="rel", tolerance=0.15, alternative_value=math.log(2), hypothesis="H4",
        design=_GRID + "; per seed: the mean eta*lambda*t_d of its decayed members", role="law", statistic="log_mean",
    ),
    evidence(
        "norm_ratio_at_drift",
        "total weight norm at t_d over its phase-2 start equals 2^(-1/2)",
        alternative="a norm ratio outside 2^(-1/2) +- 5%",
        predicted=computed("2^(-1/2): the derivation's norm ratio (goaldrift.theory.drift.norm_ratio_at_drift) at "
                           "degree L = 2, evaluated by the chapter's derivation cell"),
        comparison="rel", tolerance=0.05, hypothesis="H4",
        design=_GRID + "; per seed: the mean norm ratio of its members that drift", role="law", statistic="log_mean",
    ),
    evidence(
        "drift_step_scales_as_inverse_eta_lambda",
        "log-log slope of t_d against eta*lambda is -1",
        alternative="a slope outside -1 +- 0.1",
        predicted=-1.0, comparison="abs", tolerance=0.1, hypothesis="H4",
        design=_GRID + "; per seed: the slope over its decayed members", role="core",
    ),
    evidence(
        "ce_adamw_loss_alone_drifts",
        "cross-entropy + AdamW, lambda = 0: mean drift at the end of the budget (>= 0.5: the loss alone drives it)",
        alternative="without decay cross-entropy keeps the goal (drift below 0.5)",
        predicted=0.5, comparison="at_least",
        design="{n_seeds} seeds of a cross-entropy phase 1 (two logits, {phase1_steps} steps), one member each with "
               "AdamW at " + _ETA_HI + ", lambda = 0, {phase2_steps} steps; per seed: 1 - its final agreement", support=(0.0, 1.0), role="aside",
    ),
    evidence(
        "mse_sgd_lambda0_no_drift",
        "squared error + SGD, lambda = 0: mean drift at the end of the budget (<= 0.1)",
        alternative="squared error + SGD drifts without decay (drift above 0.1)",
        predicted=0.1, comparison="at_most", hypothesis="H4",
        design="{n_seeds} seeds of the squared-error phase 1, one member each with SGD at eta = {sgd_lr}, lambda = 0, "
               "{phase2_steps} steps; per seed: 1 - its final agreement", support=(0.0, 1.0), role="core",
    ),
    evidence(
        "reversal_no_drift",
        "share of seeds in which: reversed (proxy is the complex rule), lambda > 0: lowest aligned agreement over the budget (>= 0.9)",
        alternative="decay drifts the goal even toward a more complex proxy",
        predicted=0.5, comparison="at_least", hypothesis="H4",
        design="{n_seeds} seeds of the reversed task (goal bit 0, proxy the parity of {k} bits) x lambda in "
               "{{lambda/2, lambda}} at lambda = {weight_decay}, " + _ETA_HI + ", {phase2_steps} steps, evaluated "
               "every {eval_every}; per seed: its lowest agreement", role="core", statistic="binomial", outcome=("at_least", 0.9),
    ),
    # A check since issue 27, not evidence: with k = 1 the phase-2 inputs have x_0 = x_1, so
    # w_0 and w_1 get identical gradients and identical fresh Adam moments, and no drift is
    # guaranteed by symmetry. It cannot come out the other way; it tests that the code keeps
    # the symmetry.
    check(
        "equal_complexity_no_drift",
        "parity of k = 1 (goal and proxy exchangeable by symmetry): fraction of seeds that drift (0)",
        predicted=0.0, comparison="equal", hypothesis="H4",
    ),
    evidence(
        "drift_point_independent_of_k",
        "parity k >= 2: each seed's largest deviation of eta*lambda*t_d from ln(2)/2, mean over seeds, within 25% (k-independent)",
        alternative="the drift point depends on k (some deviation above 25%)",
        predicted=0.25, comparison="at_most", hypothesis="H4",
        design="{n_seeds} seeds of each parity k = 2..{max_k}, " + _SWEEP + "; per seed: its largest deviation over k", support=(0.0, math.inf), role="law",
    ),
)


PROXY_DRIFT = Chapter(
    name="proxy_drift",
    title="Does weight decay turn an aligned goal into its simpler proxy?",
    params=[
        seed_param(),
        # 6, not 3, since issue 27: a 0/1 outcome is decided by an exact binomial interval, and 3 of 3
        # seeds gives [0.29, 1], which cannot reach "at least half"; 6 of 6 gives [0.54, 1]
        Param("n_seeds", int, 6, "phase-1 networks (init seeds); every phase-2 setting runs on each", low=1, high=64),
        *proxy_network_params(),
        Param("learning_rate", float, 0.002, "smaller phase-2 AdamW eta (the other is lr_ratio times it)", low=1e-5, high=0.01),
        Param("lr_ratio", float, 2.0, "ratio of the two phase-2 learning rates", low=1.5, high=10.0),
        Param("weight_decay", float, 1.0, "largest phase-2 lambda; lambda/2 and lambda/4 also run", low=0.0, low_open=True, high=10.0),
        Param("phase2_steps", int, 1500, "phase-2 steps", low=10, high=1_000_000),
        Param("sgd_lr", float, 0.1, "SGD learning rate of the loss-driven comparison", low=1e-4, high=0.2),
        Param("sgd_weight_decay", float, 0.05, "SGD weight decay of the loss-driven comparison", low=0.0, low_open=True, high=1.0),
        Param("max_k", int, 4, "largest complexity k of the complexity sweep", low=2, high=16),
        Param("slab_phase1_steps", int, 1500, "phase-1 steps of the slab networks", low=10, high=1_000_000),
        Param("slab_lr", float, 0.01, "phase-1 learning rate of the slab networks", low=1e-5, high=0.03),
        Param("eval_every", int, 25, "steps between evaluations", low=1, high=10_000),
    ],
    profiles={
        "smoke": {"n_seeds": 1, "width": 32, "n_train": 256, "phase1_steps": 150, "phase1_lr": 0.01,
                  "learning_rate": 0.004, "weight_decay": 4.0, "phase2_steps": 150, "max_k": 2,
                  "slab_phase1_steps": 150, "eval_every": 3},
        "paper": {"n_seeds": 10, "width": 256, "n_train": 4096, "phase1_steps": 3000, "learning_rate": 0.001,
                  "lr_ratio": 3.0, "weight_decay": 0.3, "phase2_steps": 8000, "max_k": 5, "slab_phase1_steps": 5000},
    },
    constraints=[_drift_in_budget, _drift_resolved, _drift_task_fits],
    hypotheses=("H4",),
    headline_claim="drift_point_ln2_over_2",
    # ce_adamw_loss_alone_drifts measures a different mechanism (the loss alone drives the
    # drift): it is reported on the chapter's verdicts, and H4 neither predicts nor excludes it.
    claims=CLAIMS,
)
