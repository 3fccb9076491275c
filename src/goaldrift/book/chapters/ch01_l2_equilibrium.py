"""The spec of chapter 1 (book/chapters/l2_equilibrium.md): L2 equilibrium and the decay
of unused weights (H1): its parameters, profiles and checks."""

from __future__ import annotations

from goaldrift.book.chapter import Chapter, seed_param
from goaldrift.book.params import Param
from goaldrift.book.declarations import check, computed, evidence


def _l2_gd_is_stable(v: dict) -> str | None:
    # The data are scaled so the top eigenvalue of X^T X / n is exactly 1, so GD on
    # the ridge loss is stable iff eta * (1 + lambda) < 2; we keep a margin.
    if v["learning_rate"] * (1 + v["weight_decay"]) > 1.9:
        return (
            "learning_rate * (1 + weight_decay) must be <= 1.9 "
            "(gradient descent on this chapter's data diverges beyond 2)"
        )
    return None


def _l2_decay_budget(v: dict) -> str | None:
    eta_lam = v["learning_rate"] * v["weight_decay"]
    if not 1e-4 <= eta_lam <= 0.5:
        return (
            f"learning_rate * weight_decay = {eta_lam:g} must lie in [1e-4, 0.5] "
            "(the step budget is ~28/(eta*lambda) steps; 1 - eta*lambda must stay well above 0)"
        )
    return None


def _l2_underdetermined(v: dict) -> str | None:
    if v["n_samples"] >= v["n_features"]:
        return "n_samples must be smaller than n_features (the null space must be non-empty)"
    return None


def _unused_direction_factor(p: dict) -> float:
    """1 - eta lambda: the per-step factor of gradient descent with decay on a direction the loss
    cannot see (derived in goaldrift.theory.l2_equilibrium.unused_direction_factor_gd)"""
    return 1 - p["learning_rate"] * p["weight_decay"]


def _learning_rate(p: dict) -> float:
    """eta: Adam's normalised first step g/|g| is 1 whatever lambda and |w| are
    (goaldrift.theory.l2_equilibrium.adam_l2_update_on_unused_coordinate)"""
    return p["learning_rate"]


CLAIMS = (
    check(
        "null_space_decay_per_step",
        "GD: the null-space component shrinks by 1 - eta*lambda every step (worst step, float64)",
        predicted=_unused_direction_factor, comparison="rel", tolerance=1e-06, hypothesis="H1",
    ),
    check(
        "gd_converges_to_ridge",
        "GD with decay converges to the ridge solution (relative distance)",
        predicted=0.0, comparison="abs", tolerance=1e-08, hypothesis="H1",
    ),
    check(
        "gradient_balances_decay",
        "at the end of GD, grad L(w) = -lambda w (relative residual)",
        predicted=0.0, comparison="abs", tolerance=1e-08, hypothesis="H1",
    ),
    check(
        "ridge_shrinkage_per_eigendirection",
        "each eigendirection is shrunk by s/(s+lambda) (worst direction, absolute)",
        predicted=0.0, comparison="abs", tolerance=1e-06, hypothesis="H1",
    ),
    check(
        "adamw_zero_gradient_coordinate",
        "AdamW: a coordinate with exactly zero gradient decays by 1 - eta*lambda per step (worst relative error of the rate)",
        predicted=0.0, comparison="abs", tolerance=1e-06, hypothesis="H1",
    ),
    check(
        "adamw_general_null_direction_breaks_law",
        "AdamW: a mixed null-space direction does NOT decay at eta*lambda (worst step's relative error of the rate is above 0.1)",
        predicted=0.1, comparison="at_least", hypothesis="H1",
    ),
    check(
        "adam_l2_first_step_is_eta",
        "Adam with coupled L2: an unused coordinate loses eta on the first step, independent of lambda",
        predicted=_learning_rate, comparison="rel", tolerance=0.001, hypothesis="H1",
    ),
    check(
        "sgd_noise_stationary_variance",
        "SGD + decay: a weight fed only gradient noise settles at variance eta sigma^2 / (lambda (2 - eta lambda))",
        predicted=computed(
            "the derived stationary variance (goaldrift.theory.l2_equilibrium.noise_stationary_variance) at "
            "eta, lambda, sigma, times the transient 1 - (1 - eta lambda)^(2t) left after t = ceil(6/(eta lambda)) "
            "steps from w = 0 (unused_weights.predicted_noise_variance)"),
        comparison="abs",
        tolerance=computed("four standard errors of the variance of noise_chains Gaussian weights, "
                           "4 V sqrt(2/noise_chains) with V the prediction"),
        hypothesis="H1",
    ),
)


L2_EQUILIBRIUM = Chapter(
    name="l2_equilibrium",
    title="L2 equilibrium and the decay of unused weights",
    params=[
        seed_param(),
        Param("learning_rate", float, 0.5, "step size eta of GD, SGD and AdamW", low=0.0, low_open=True, high=1.9),
        Param("weight_decay", float, 0.01, "L2 coefficient lambda", low=0.0, low_open=True, high=1.0),
        Param("n_samples", int, 40, "samples of the regression (fewer than features)", low=2, high=5000),
        Param("n_features", int, 120, "features of the regression", low=3, high=5000),
        Param("n_zero_features", int, 8, "features that are zero in every sample", low=1, high=1000),
        Param("adam_steps", int, 400, "steps of the AdamW / Adam+L2 runs", low=10, high=100000),
        Param("noise_sigma", float, 3.0, "std of the pure-noise gradient", low=0.0, low_open=True, high=100.0),
        Param("noise_chains", int, 20000, "independent weights in the noise experiment", low=100, high=1000000),
    ],
    profiles={
        "smoke": {"n_samples": 20, "n_features": 60, "adam_steps": 100, "noise_chains": 2000},
        "paper": {"n_samples": 200, "n_features": 1000, "adam_steps": 2000, "noise_chains": 200000},
    },
    constraints=[_l2_gd_is_stable, _l2_decay_budget, _l2_underdetermined],
    hypotheses=("H1",),
    headline_claim="null_space_decay_per_step",
    claims=CLAIMS,
)
