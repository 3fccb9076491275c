"""The spec of chapter drift_beyond_the_toy (book/chapters/drift_beyond_the_toy.md):
does the drift point follow the cost ratio of goal and proxy? (H4): its parameters,
profiles and checks. (Its transformer section became chapter transformer_drift, issue 29.)"""

from __future__ import annotations

import math

from goaldrift.book.chapter import Chapter, seed_param
from goaldrift.book.params import Param
from goaldrift.book.declarations import check, evidence


def _budget_reaches_slow_drifts(v: dict) -> str | None:
    # The law predicts drift points up to about 1 for the cost ratios of these tasks;
    # the budget must reach eta*lambda*t = 1.5 or "no drift" only means "not yet".
    if v["phase2_steps"] * v["learning_rate"] * v["weight_decay"] < 1.5:
        return "phase2_steps * learning_rate * weight_decay must be >= 1.5 (the budget must reach eta*lambda*t = 1.5)"
    return None


def _drift_resolved(v: dict) -> str | None:
    if v["eval_every"] * v["learning_rate"] * v["weight_decay"] > 0.05:
        return "eval_every * learning_rate * weight_decay must be <= 0.05 (drift points resolved to 0.05 in eta*lambda*t)"
    if v["learning_rate"] * v["weight_decay"] > 0.05:
        return "learning_rate * weight_decay must be <= 0.05 (1 - eta*lambda per step must stay near 1)"
    return None


def _layernorm_budget(v: dict) -> str | None:
    # The slower member (lambda/4) must pass the degree-1 drift point ln 2 with a 50% margin,
    # and also the sqrt clock's reading of it must be resolved: 3 evaluations before ln 2.
    if v["ln_phase2_steps"] * v["ln_learning_rate"] * v["ln_weight_decay"] / 4 < 1.04:
        return "ln_phase2_steps * ln_learning_rate * ln_weight_decay / 4 must be >= 1.04 (1.5 ln 2 for the slower member)"
    if v["eval_every"] * v["ln_learning_rate"] * v["ln_weight_decay"] > 0.23:
        return "eval_every * ln_learning_rate * ln_weight_decay must be <= 0.23 (3 evaluations before ln 2)"
    if v["ln_learning_rate"] * v["ln_weight_decay"] > 0.05:
        return "ln_learning_rate * ln_weight_decay must be <= 0.05 (1 - eta*lambda per step must stay near 1)"
    return None


def _task_fits(v: dict) -> str | None:
    if v["max_k"] > v["n_bits"] - 1:
        return "max_k must be <= n_bits - 1 (bit 0 is the proxy)"
    if v["n_train"] % 2:
        return "n_train must be even (phase-1 goal and proxy are exactly balanced)"
    return None


# The designs the evidence rests on (seeds, grid, budget), filled from the parameters.
_LN = ("{n_seeds} seeds of the LayerNorm network (width {width}, parity of min(3, {max_k}) bits, {n_train} "
       "examples, {phase1_steps} phase-1 steps)")
_LN_GRID = (_LN + " x lambda in {{lambda/4, lambda}} at lambda = {ln_weight_decay}, eta = {ln_learning_rate}, "
            "{ln_phase2_steps} steps, evaluated every {eval_every}")

CLAIMS = (
    check(
        "law_free_proxy_limit_is_ln2_over_2",
        "derivation: the law's limit rho -> inf, A_0 -> 1 equals ln(2)/2",
        predicted=math.log(2) / 2, comparison="rel", tolerance=1e-12,
    ),
    check(
        "law_equal_cost_no_drift",
        "derivation: at equal cost (rho -> 1) the drift point diverges",
        predicted=True, comparison="equal",
    ),
    evidence(
        "drift_point_vs_cost_ratio",
        "share of seeds in which at least 0.8 of the tasks have a drift point that matches the cost-ratio law within a "
        "factor 1.5 (no drift in budget counts when predicted)",
        alternative="the drift point does not follow the cost ratio (ln2/2 whatever the costs)",
        predicted=0.5, comparison="at_least", hypothesis="H4",
        design="{n_seeds} seeds (width {width}, {n_train} examples) x tasks: parity k = 1..{max_k}, parity of three "
               "bits with the proxy bit scaled by 1/2 and 1/10, slabs k = 2, 3; phase 1 {phase1_steps} steps (slabs "
               "{slab_phase1_steps}), one member per (task, seed) at eta = {learning_rate}, lambda = {weight_decay}, "
               "{phase2_steps} steps, evaluated every {eval_every}; per seed: its hit fraction over the tasks", role="law", statistic="binomial",
        outcome=("at_least", 0.8),
    ),
    evidence(
        "layernorm_drift_clock",
        "LayerNorm network: log-log slope of t_d against eta*lambda (-1: the eta*lambda*t clock)",
        alternative="the rotational clock sqrt(eta*lambda)*t (slope -1/2)",
        predicted=-1.0, comparison="abs", tolerance=0.15, alternative_value=-0.5, hypothesis="H4",
        design=_LN_GRID + "; per seed: the slope over its two decayed members", role="core",
    ),
    evidence(
        "layernorm_drift_point_ln2",
        "LayerNorm network: mean eta*lambda*t_d equals ln 2 (only the degree-1 readout decays output)",
        alternative="ln(2)/2, the degree-2 value of the network without LayerNorm",
        predicted=math.log(2), comparison="rel", tolerance=0.15, alternative_value=math.log(2) / 2, hypothesis="H4",
        design=_LN_GRID + "; per seed: the mean eta*lambda*t_d of its decayed members", role="law", statistic="log_mean",
    ),
    evidence(
        "layernorm_lambda0_no_drift",
        "share of seeds in which: LayerNorm network, lambda = 0: lowest aligned agreement over the budget (>= 0.9)",
        alternative="the loss alone drifts the LayerNorm network",
        predicted=0.5, comparison="at_least", hypothesis="H4",
        design=_LN + ", one member per seed at eta = {ln_learning_rate}, lambda = 0, {ln_phase2_steps} steps, "
                     "evaluated every {eval_every}; per seed: its lowest agreement", role="core", statistic="binomial", outcome=("at_least", 0.9),
    ),
    evidence(
        "layernorm_reversal_no_drift",
        "share of seeds in which: LayerNorm network reversed (goal bit 0, proxy the parity): lowest aligned agreement (>= 0.9)",
        alternative="the LayerNorm network drifts toward a dearer proxy",
        predicted=0.5, comparison="at_least", hypothesis="H4",
        design=_LN + ", reversed, one member per seed at eta = {ln_learning_rate}, lambda = {ln_weight_decay}, "
                     "{ln_phase2_steps} steps, evaluated every {eval_every}; per seed: its lowest agreement", role="core", statistic="binomial", outcome=("at_least", 0.9),
    ),
    evidence(
        "ce_drift_from_normalised_step",
        "cross-entropy, lambda = 0: drift under Adam minus drift under large-epsilon Adam, paired by seed (>= 0.5)",
        alternative="the loss drives the drift whatever the step rule (large-epsilon Adam drifts as much)",
        predicted=0.5, comparison="at_least",
        design="{n_seeds} seeds of a cross-entropy phase 1 (parity of min(3, {max_k}) bits, {phase1_steps} "
               "steps), one member each at lambda = 0 for {ce_phase2_steps} steps under Adam (eta = {learning_rate}, "
               "epsilon = 1e-8) and Adam with epsilon = {ce_eps_large}; per seed: the difference of the two drifts", support=(-1.0, 1.0), role="aside",
    ),
)


DRIFT_BEYOND_THE_TOY = Chapter(
    name="drift_beyond_the_toy",
    title="Beyond the toy: the drift point, the cost ratio and a LayerNorm network",
    params=[
        seed_param(),
        # 6, not 3, since issue 27: a 0/1 outcome is decided by an exact binomial interval, and 3 of 3
        # seeds gives [0.29, 1], which cannot reach "at least half"; 6 of 6 gives [0.54, 1]
        Param("n_seeds", int, 6, "phase-1 networks (init seeds) per task", low=1, high=64),
        Param("n_bits", int, 12, "input bits; bit 0 is the proxy", low=3, high=64),
        Param("max_k", int, 6, "largest parity order of the sweep (parity k = 1..max_k)", low=2, high=16),
        Param("width", int, 64, "hidden units of the one-hidden-layer ReLU network", low=8, high=4096),
        Param("n_train", int, 1024, "training examples per phase", low=64, high=1_000_000),
        Param("phase1_steps", int, 800, "full-batch AdamW steps of phase 1 (goal and proxy-alone networks)", low=10, high=1_000_000),
        Param("phase1_lr", float, 0.003, "phase-1 learning rate", low=1e-5, high=0.03),
        Param("phase1_weight_decay", float, 0.1, "phase-1 weight decay", low=0.0, high=1.0),
        Param("slab_phase1_steps", int, 1500, "phase-1 steps of the slab networks", low=10, high=1_000_000),
        Param("slab_lr", float, 0.01, "phase-1 learning rate of the slab networks", low=1e-5, high=0.03),
        Param("learning_rate", float, 0.004, "phase-2 AdamW eta", low=1e-5, high=0.05),
        Param("weight_decay", float, 1.0, "phase-2 lambda", low=0.0, low_open=True, high=10.0),
        Param("phase2_steps", int, 600, "phase-2 steps", low=10, high=1_000_000),
        Param("eval_every", int, 10, "steps between evaluations", low=1, high=10_000),
        Param("ln_learning_rate", float, 0.004, "LayerNorm network: phase-2 AdamW eta", low=1e-5, high=0.05),
        Param("ln_weight_decay", float, 2.0, "LayerNorm network: largest phase-2 lambda (lambda/4 and 0 also run)", low=0.0, low_open=True, high=10.0),
        Param("ln_phase2_steps", int, 800, "LayerNorm network: phase-2 steps", low=10, high=1_000_000),
        Param("ce_phase2_steps", int, 1500, "cross-entropy comparison: phase-2 steps (lambda = 0)", low=10, high=1_000_000),
        Param("ce_eps_large", float, 0.01, "cross-entropy comparison: Adam's large epsilon", low=1e-6, high=1.0),
        Param("sgd_lr", float, 0.1, "cross-entropy comparison: SGD learning rate", low=1e-4, high=0.2),
    ],
    profiles={
        "smoke": {"n_seeds": 1, "max_k": 2, "width": 32, "n_train": 256, "phase1_steps": 150, "phase1_lr": 0.01,
                  "slab_phase1_steps": 150, "learning_rate": 0.01, "phase2_steps": 150, "eval_every": 5,
                  "ce_phase2_steps": 150,
                  "ln_learning_rate": 0.01, "ln_phase2_steps": 250},
        "paper": {"n_seeds": 10, "width": 256, "n_train": 4096, "phase1_steps": 3000,
                  "slab_phase1_steps": 5000,
                  "learning_rate": 0.002, "phase2_steps": 1500, "eval_every": 20},
    },
    constraints=[_budget_reaches_slow_drifts, _drift_resolved, _task_fits, _layernorm_budget],
    hypotheses=("H4",),
    headline_claim="drift_point_vs_cost_ratio",
    # ce_drift_from_normalised_step explains a different mechanism (the loss-driven drift of
    # cross-entropy under Adam): reported on the chapter's verdicts, not counted for H4.
    claims=CLAIMS,
)
