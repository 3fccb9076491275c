"""The spec of chapter 8 (book/chapters/protecting_goals.ipynb): protecting a goal:
freezing, memory, triggers (H5, H6, H8): its parameters, profiles and checks."""

from __future__ import annotations

from goaldrift.book.chapter import Chapter, seed_param
from goaldrift.book.params import Param


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


PROTECTING_GOALS = Chapter(
    name="protecting_goals",
    title="Protecting a goal: freezing, memory outside decay, and an unused trigger",
    params=[
        seed_param(),
        Param("n_seeds", int, 3, "phase-1 networks (init seeds)", low=1, high=64),
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
    claims_by_hypothesis={
        # H5 predicts that the goal's weights stop the drift and that as many other weights do not; the
        # comparisons of rankings (beyond the resolution, magnitude) and the larger random sets go
        # beyond H5 and stay on the chapter's verdicts only.
        "H5": ("ranked_freezing_stops_drift", "frozen_weights_do_not_move", "random_freezing_does_not",
               "construction_with_read_path_stops_drift", "construction_without_read_path_drifts"),
        # the store reader: H6's two cases with a store that is not a parameter; the read gains at the
        # derived equilibrium test the chapter's derivation, not H6, and stay on the chapter's verdicts only
        "H6": ("protected_read_path_bounds_drift", "memory_survives", "memory_alone_does_not_bound_drift",
               "store_read_decayed_drifts", "store_exempt_holds_goal", "store_outside_the_optimiser"),
        # trigger_erased_at_degree2_rate is the named alternative of trigger_erased_at_h1_rate, not a
        # prediction of H8: it stays on the chapter's verdicts but does not count for H8.
        "H8": ("trigger_erased_at_h1_rate", "trigger_row_decays_exactly", "trigger_row_untouched_without_decay",
               "trigger_survival_collapses", "trigger_survives_without_decay",
               # the entangled trigger: H8's clock and its control in the hard case; the rate comparison
               # with the dedicated trigger goes beyond H8 and stays on the chapter's verdicts only
               "entangled_trigger_survives_without_decay", "entangled_trigger_erased_on_decay_clock",
               "entangled_trigger_intact_at_finetuning_budget"),
    },
)
