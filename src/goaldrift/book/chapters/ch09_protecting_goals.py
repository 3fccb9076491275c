"""The spec of chapter 8 (book/chapters/protecting_goals.md): protecting a goal:
freezing, memory, triggers (H5, H6, H8): its parameters, profiles and checks."""

from __future__ import annotations

from goaldrift.book.chapter import Chapter, seed_param
from goaldrift.book.params import Param
from goaldrift.book.declarations import check, evidence


def _protect_budgets(v: dict) -> str | None:
    el = v["learning_rate"] * v["weight_decay"]
    if el > 0.05:
        return "learning_rate * weight_decay must be <= 0.05 (1 - eta*lambda per step must stay near 1)"
    if v["phase2_steps"] * el < 1.04:
        return "phase2_steps * learning_rate * weight_decay must be >= 1.04 (three times the drift point ln2/2)"
    if v["trigger_steps"] * el < 1.0:
        return "trigger_steps * learning_rate * weight_decay must be >= 1 (the trigger run must reach eta*lambda*t = 1)"
    if v["store_lr"] * (2 + v["weight_decay"]) >= 1:
        return "store_lr * (2 + weight_decay) must be < 1 (gradient descent on the read gain would oscillate)"
    if v["store_steps"] * v["store_lr"] * v["weight_decay"] < 5:
        return "store_steps * store_lr * weight_decay must be >= 5 (the store reader's MLP must decay to its equilibrium)"
    if v["eval_every"] > 0.35 / el / 3:
        return "eval_every must be <= ln2/2 / (3 * learning_rate * weight_decay) (the drift needs 3 evaluations)"
    return None


def _protect_shapes(v: dict) -> str | None:
    if v["k"] > v["n_bits"] - 2:
        return "k must be <= n_bits - 2 (bit 0 is the proxy and the last bit the trigger's target)"
    if not v["k"] <= v["pattern_size"] <= v["n_bits"] - 2:
        return "pattern_size must be in [k, n_bits - 2] (the goal's bits first; bit 0 and the last bit are not in it)"
    if not v["min_fraction"] < v["max_fraction"]:
        return "min_fraction must be < max_fraction"
    if v["n_train"] % 2:
        return "n_train must be even (phase-1 goal and proxy are exactly balanced)"
    return None


def _resolution(p: dict) -> float:
    """1 / bracket_factor (the bisection's resolution)"""
    return 1 / p["bracket_factor"]


def _bracket_factor(p: dict) -> float:
    """bracket_factor (the bisection's resolution)"""
    return p["bracket_factor"]


def _row_tolerance(p: dict) -> float:
    """4 * trigger_steps * 2^-24: four float32 roundings per step (of 1 - eta*lambda and of w)"""
    return 4 * p["trigger_steps"] * 2.0**-24


# The designs the evidence rests on (filled from the parameters).
_ADAMW = "AdamW phase 2 at eta = {learning_rate:g}, lambda = {weight_decay:g}, {phase2_steps} steps"
_RANKED = ("{n_seeds} seeds; per ranking and seed a coarse grid of {n_fractions} fractions in "
           "[{min_fraction:g}, {max_fraction:g}] bisected until hi/lo <= {bracket_factor:g} (at most {max_rounds} "
           "rounds); " + _ADAMW)
_PATHWAY = "{n_seeds} seeds, one member each in the coarse run of the ranked grid; " + _ADAMW


def _random(multiple: int) -> str:
    return (f"{{n_seeds}} seeds; per seed one random set of {multiple} times its gradient x weight sufficient "
            "fraction (capped at 1), after the bisection; " + _ADAMW)


_MEMORY = ("{n_seeds} seeds, three members each (nothing exempt; memory exempt; memory and read path exempt); "
           + _ADAMW)
_STORE = ("{n_seeds} seeds, two members each (read gain decayed; exempt); phase 1 AdamW {phase1_steps} steps; "
          "phase 2 gradient descent with L2 at eta = {store_lr:g}, lambda = {weight_decay:g}, {store_steps} steps")
_TRIGGER = ("{n_seeds} seeds x lambda in {{0, lambda/4, lambda/2, lambda}} at lambda = {weight_decay:g}; AdamW "
            "eta = {learning_rate:g}, {trigger_steps} steps; {n_trigger} trigger examples in phase 1, {n_trigger} "
            "held out")
_ENTANGLED = _TRIGGER + "; a pattern of {pattern_size} bits"


CLAIMS = (
    check(
        "frozen_weights_do_not_move",
        "largest change of any frozen element over phase 2",
        predicted=0.0, comparison="equal", hypothesis="H5",
    ),
    evidence(
        "ranked_freezing_stops_drift",
        "freezing by gradient x weight stops the drift with no more weights than the circuit's pathway: sufficient fraction over the construction's fraction, mean over seeds (<= 1)",
        alternative="the ranking needs more weights than the pathway it should find (ratio above 1)",
        predicted=1.0, comparison="at_most", hypothesis="H5",
        design=_RANKED, role="core", statistic="log_mean",
    ),
    evidence(
        "ranking_smaller_than_construction",
        "gradient x weight needs a smaller set than the construction beyond the resolution: ratio (<= 1/{bracket_factor:g})",
        alternative="not smaller beyond the bracket's resolution (ratio above 1/{bracket_factor:g})",
        predicted=_resolution, comparison="at_most",
        design=_RANKED, role="aside", statistic="log_mean",
    ),
    evidence(
        "magnitude_needs_more_than_attribution",
        "a ranking blind to the goal (|theta|) needs a larger set: sufficient fraction, magnitude over gradient x weight (>= {bracket_factor:g})",
        alternative="magnitude does as well within the resolution (ratio below {bracket_factor:g})",
        predicted=_bracket_factor, comparison="at_least",
        design=_RANKED, role="aside", statistic="log_mean",
    ),
    evidence(
        "random_freezing_does_not",
        "share of seeds in which: freezing as many random weights as the sufficient ranked set: highest final agreement over seeds (<= 0.1)",
        alternative="random freezing of the same size also holds the goal (agreement above 0.1)",
        predicted=0.5, comparison="at_least", hypothesis="H5",
        design=_random(1), role="core", statistic="binomial", outcome=("at_most", 0.1),
    ),
    evidence(
        "random_freezing_2x_does_not",
        "share of seeds in which: freezing 2 times the sufficient ranked fraction at random (capped at 1): highest final agreement (<= 0.1)",
        alternative="2 times as many random weights hold the goal (agreement above 0.1)",
        predicted=0.5, comparison="at_least",
        design=_random(2), role="aside", statistic="binomial", outcome=("at_most", 0.1),
    ),
    evidence(
        "random_freezing_3x_does_not",
        "share of seeds in which: freezing 3 times the sufficient ranked fraction at random (capped at 1): highest final agreement (<= 0.1)",
        alternative="3 times as many random weights hold the goal (agreement above 0.1)",
        predicted=0.5, comparison="at_least",
        design=_random(3), role="aside", statistic="binomial", outcome=("at_most", 0.1),
    ),
    evidence(
        "random_freezing_10x_does_not",
        "share of seeds in which: freezing 10 times the sufficient ranked fraction at random (capped at 1): highest final agreement (<= 0.1)",
        alternative="10 times as many random weights hold the goal (agreement above 0.1)",
        predicted=0.5, comparison="at_least",
        design=_random(10), role="aside", statistic="binomial", outcome=("at_most", 0.1),
    ),
    evidence(
        "construction_with_read_path_stops_drift",
        "share of seeds in which: freezing the goal pathway with its readout: lowest final agreement (>= 0.9)",
        alternative="the goal drifts despite the frozen pathway (agreement below 0.9)",
        predicted=0.5, comparison="at_least", hypothesis=None,
        design=_PATHWAY, role="aside", statistic="binomial", outcome=("at_least", 0.9),
    ),
    evidence(
        "construction_without_read_path_drifts",
        "share of seeds in which: freezing the goal's input rows and biases only: highest final agreement (<= 0.1)",
        alternative="the input rows alone hold the goal (agreement above 0.1)",
        predicted=0.5, comparison="at_least", hypothesis="H5",
        design=_PATHWAY, role="core", statistic="binomial", outcome=("at_most", 0.1),
    ),
    evidence(
        "memory_survives",
        "memory exempt, read path decayed: each seed's lowest ratio of the memory's norm, end over start, geometric mean over seeds (>= 0.9)",
        alternative="the exempt memory shrinks (ratio below 0.9)",
        predicted=0.9, comparison="at_least", hypothesis=None,
        design=_MEMORY, role="design", statistic="log_mean",
    ),
    evidence(
        "memory_alone_does_not_bound_drift",
        "share of seeds in which: memory exempt, read path decayed: highest final aligned agreement (<= 0.1)",
        alternative="the exempt memory alone holds the goal (agreement above 0.1)",
        predicted=0.5, comparison="at_least", hypothesis="H6",
        design=_MEMORY, role="core", statistic="binomial", outcome=("at_most", 0.1),
    ),
    evidence(
        "protected_read_path_bounds_drift",
        "share of seeds in which: memory and read path exempt: lowest final aligned agreement (>= 0.9)",
        alternative="the goal drifts despite the exempt read path (agreement below 0.9)",
        predicted=0.5, comparison="at_least", hypothesis="H6",
        design=_MEMORY, role="core", statistic="binomial", outcome=("at_least", 0.9),
    ),
    check(
        "store_outside_the_optimiser",
        "the store is a buffer, not a parameter: largest change of its entries over both phases",
        predicted=0.0, comparison="equal", hypothesis="H6",
    ),
    evidence(
        "store_read_decayed_drifts",
        "share of seeds in which: store intact, read gain decayed: highest final aligned agreement (<= 0.1, H6)",
        alternative="the goal is held through the decayed read path (as derived for a read path cheaper than the proxy)",
        predicted=0.5, comparison="at_least", hypothesis="H6",
        design=_STORE, role="core", statistic="binomial", outcome=("at_most", 0.1),
    ),
    evidence(
        "store_exempt_holds_goal",
        "share of seeds in which: store intact, read gain exempt: lowest final aligned agreement (>= 0.9)",
        alternative="the goal drifts despite the protected store and read path (agreement below 0.9)",
        predicted=0.5, comparison="at_least", hypothesis="H6",
        design=_STORE, role="core", statistic="binomial", outcome=("at_least", 0.9),
    ),
    evidence(
        "store_read_gain_decayed_at_derived_equilibrium",
        "read gain decayed: final a over the derived a* = {a_star:.4g}, mean over seeds (within 1%)",
        alternative="the MLP takes a share of the target (a off the derived a*)",
        predicted=1.0, comparison="rel", tolerance=0.01,
        design=_STORE, role="law", statistic="log_mean", hypothesis="H6",
    ),
    evidence(
        "store_read_gain_exempt_at_derived_equilibrium",
        "read gain exempt: final a over the derived a* = {a_star:.4g}, mean over seeds (within 1%)",
        alternative="the MLP takes a share of the target (a off the derived a*)",
        predicted=1.0, comparison="rel", tolerance=0.01,
        design=_STORE, role="law", statistic="log_mean", hypothesis="H6",
    ),
    check(
        "trigger_row_decays_exactly",
        "trigger input weights: worst relative error of ||w_t|| / ||w_0|| against (1 - eta*lambda)^t",
        predicted=0.0, comparison="abs", tolerance=_row_tolerance, hypothesis="H8",
    ),
    check(
        "trigger_row_untouched_without_decay",
        "lambda = 0: largest change of the trigger input weights' norm",
        predicted=0.0, comparison="equal", hypothesis="H8",
    ),
    evidence(
        "trigger_erased_at_h1_rate",
        "trigger behaviour margin decays as (1 - eta*lambda)^(p t) with p = 1 (H1's rate)",
        alternative="p = 2 (two decayed layers)",
        predicted=1.0, comparison="rel", tolerance=0.15, alternative_value=2.0, hypothesis="H8",
        design=_TRIGGER + "; p fitted per member over eta*lambda*t <= 1", role="law",
    ),
    evidence(
        "trigger_erased_at_degree2_rate",
        "trigger behaviour margin decays with p = 2 (two decayed layers)",
        alternative="p = 1 (H1's rate)",
        predicted=2.0, comparison="rel", tolerance=0.15, alternative_value=1.0,
        design=_TRIGGER + "; p fitted per member over eta*lambda*t <= 1", role="law", hypothesis="H8",
    ),
    evidence(
        "trigger_survival_collapses",
        "spread (std of log) of eta*lambda*t at which trigger accuracy falls below 3/4",
        alternative="eta*lambda*t at erasure differs between settings (spread above 0.1)",
        predicted=0.1, comparison="at_most", hypothesis="H8",
        design=_TRIGGER, role="core", statistic="log_mean",
    ),
    evidence(
        "trigger_survives_without_decay",
        "share of seeds in which: lambda = 0: lowest final trigger accuracy (>= 0.9)",
        alternative="the trigger is lost without decay (accuracy below 0.9)",
        predicted=0.5, comparison="at_least", hypothesis="H8",
        design=_TRIGGER, role="core", statistic="binomial", outcome=("at_least", 0.9),
    ),
    evidence(
        "entangled_trigger_survives_without_decay",
        "share of seeds in which: entangled trigger, lambda = 0: lowest final trigger accuracy (>= 0.9)",
        alternative="the phase-2 gradient alone erases it (accuracy below 0.9)",
        predicted=0.5, comparison="at_least", hypothesis="H8",
        design=_ENTANGLED, role="core", statistic="binomial", outcome=("at_least", 0.9),
    ),
    evidence(
        "entangled_trigger_erased_on_decay_clock",
        "entangled trigger: spread (std of log) of eta*lambda*t at which its accuracy falls below 3/4 (<= 0.1)",
        alternative="erasure is not on the eta*lambda*t clock (spread above 0.1)",
        predicted=0.1, comparison="at_most", hypothesis="H8",
        design=_ENTANGLED, role="core", statistic="log_mean",
    ),
    evidence(
        "entangled_trigger_rate_as_dedicated",
        "entangled minus dedicated trigger: fitted rate exponent p, mean over seeds (|difference| <= 0.3)",
        alternative="entanglement changes the erasure rate (difference beyond 0.3)",
        predicted=0.0, comparison="abs", tolerance=0.3,
        design=_ENTANGLED + "; p fitted per member over eta*lambda*t <= 1, mean per seed", role="law", hypothesis="H8",
    ),
    evidence(
        "entangled_trigger_intact_at_finetuning_budget",
        "share of seeds in which: entangled trigger at the largest published fine-tuning eta*lambda*t: lowest trigger accuracy (>= 0.9)",
        alternative="already damaged at that budget (accuracy below 0.9)",
        predicted=0.5, comparison="at_least", hypothesis="H8",
        design=_ENTANGLED + "; read at the largest fine-tuning eta*lambda*t among the published recipes", role="law", statistic="binomial", outcome=("at_least", 0.9),
    ),
)


PROTECTING_GOALS = Chapter(
    name="protecting_goals",
    title="Protecting a goal: freezing, memory outside decay, and an unused trigger",
    params=[
        seed_param(),
        # 6, not 3, since issue 27: a 0/1 outcome is decided by an exact binomial interval, and 3 of 3
        # seeds gives [0.29, 1], which cannot reach "at least half"; 6 of 6 gives [0.54, 1]
        Param("n_seeds", int, 6, "phase-1 networks (init seeds)", low=1, high=64),
        Param("n_bits", int, 12, "input bits; bit 0 is the proxy, the last bit the trigger's target", low=4, high=64),
        Param("k", int, 3, "parity order of the aligned goal", low=2, high=16),
        Param("width", int, 64, "hidden units", low=8, high=4096),
        Param("n_train", int, 1024, "training examples per phase", low=64, high=1_000_000),
        Param("phase1_steps", int, 800, "phase-1 AdamW steps", low=10, high=1_000_000),
        Param("phase1_lr", float, 0.003, "phase-1 learning rate", low=1e-5, high=0.03),
        Param("phase1_weight_decay", float, 0.1, "phase-1 weight decay", low=0.0, high=1.0),
        Param("learning_rate", float, 0.004, "phase-2 AdamW eta", low=1e-5, high=0.02),
        Param("weight_decay", float, 1.0, "phase-2 lambda (trigger test: also 0, lambda/4, lambda/2)", low=0.0, low_open=True, high=10.0),
        Param("phase2_steps", int, 800, "phase-2 steps of the freezing and memory runs", low=10, high=1_000_000),
        Param("min_fraction", float, 0.003, "smallest fraction of weights frozen", low=1e-4, high=0.9),
        Param("max_fraction", float, 1.0, "largest fraction of weights frozen on the coarse grid", low=1e-3, high=1.0),
        Param("n_fractions", int, 6, "fractions on the coarse freezing grid (log-spaced)", low=2, high=50),
        Param("pattern_size", int, 5, "bits of the entangled trigger's pattern (the goal's bits first)", low=2, high=62),
        Param("store_lr", float, 0.05, "gradient-descent eta of the store reader's phase 2", low=1e-4, high=0.3),
        Param("store_steps", int, 400, "phase-2 steps of the store reader", low=10, high=1_000_000),
        Param("bracket_factor", float, 1.3, "bisect until the sufficient fraction is bracketed within this factor",
              low=1.01, high=3.0),
        Param("max_rounds", int, 6, "most bisection rounds (one ensemble run each)", low=0, high=30),
        Param("n_trigger", int, 256, "trigger examples in phase 1 (and in the trigger test set)", low=8, high=100_000),
        Param("trigger_steps", int, 1000, "phase-2 steps of the trigger run", low=10, high=1_000_000),
        Param("eval_every", int, 25, "steps between evaluations (the trigger run: half of it)", low=1, high=10_000),
    ],
    profiles={
        "smoke": {"n_seeds": 1, "width": 32, "n_train": 256, "phase1_steps": 150, "phase1_lr": 0.01,
                  "learning_rate": 0.004, "weight_decay": 2.0, "phase2_steps": 150, "n_fractions": 2,
                  "n_trigger": 64, "trigger_steps": 150, "eval_every": 10, "store_steps": 100},
        "paper": {"n_seeds": 10, "width": 256, "n_train": 4096, "phase1_steps": 3000, "learning_rate": 0.001,
                  "weight_decay": 0.3, "phase2_steps": 4000, "n_fractions": 9, "n_trigger": 1024,
                  "trigger_steps": 14000},
    },
    constraints=[_protect_budgets, _protect_shapes],
    hypotheses=("H5", "H6", "H8"),
    headline_claim="ranked_freezing_stops_drift",
    claims=CLAIMS,
)
