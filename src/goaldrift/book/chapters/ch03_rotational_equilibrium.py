"""The spec of chapter 3 (book/chapters/rotational_equilibrium.md): rotational
equilibrium of scale-invariant weights (H2): its parameters, profiles and checks."""

from __future__ import annotations

from goaldrift.book.chapter import Chapter, seed_param
from goaldrift.book.params import Param
from goaldrift.book.declarations import check, evidence


# Members train at lambda, 2 lambda and 4 lambda; the smallest must reach its equilibrium
# within the first half of the run (approach rate about 4 eta lambda for SGD, 2 eta lambda
# for AdamW), and the largest must keep eta lambda small (the equilibria are expansions in it).
ROTATIONAL_DECAY_MULTIPLIERS = (1.0, 2.0, 4.0)

# The design of the random-walk evidence: the members, the optimiser, the budget.
_BUDGET = ("{steps} online steps of {batch_size} fresh samples (label noise {label_noise}); "
           "W_0 and W_1, averaged over the second half of each run")
_SGDM_DESIGN = ("{n_seeds} seeds x lambda in {{lambda, 2 lambda, 4 lambda}} at lambda = {sgd_weight_decay}; "
                "SGD with momentum mu = {momentum}, eta = {sgdm_lr}; " + _BUDGET)
_ADAMW_DESIGN = ("{n_seeds} seeds x lambda in {{lambda, 2 lambda, 4 lambda}} at lambda = {adamw_weight_decay}; "
                 "AdamW beta_1 = {beta1}, eta = {adamw_lr}; " + _BUDGET)


def _rot_equilibrates(v: dict) -> str | None:
    T, lam, mu = v["steps"], v["sgd_weight_decay"], v["momentum"]
    if T * v["sgd_lr"] * lam < 4:
        return "steps * sgd_lr * sgd_weight_decay must be >= 4 (SGD would not reach its equilibrium)"
    if T * v["sgdm_lr"] * lam / (1 - mu) < 4:
        return "steps * sgdm_lr * sgd_weight_decay / (1 - momentum) must be >= 4 (SGD with momentum would not reach its equilibrium)"
    if T * v["adamw_lr"] * v["adamw_weight_decay"] < 8:
        return "steps * adamw_lr * adamw_weight_decay must be >= 8 (AdamW would not reach its equilibrium)"
    return None


def _rot_small_eta_lambda(v: dict) -> str | None:
    top = max(ROTATIONAL_DECAY_MULTIPLIERS)
    lam, mu = v["sgd_weight_decay"], v["momentum"]
    worst = max(v["sgd_lr"] * lam, v["sgdm_lr"] * lam / (1 - mu), v["adamw_lr"] * v["adamw_weight_decay"]) * top
    if worst > 0.06:
        return f"the largest eta * lambda (times 4 for the largest member; over 1 - momentum for SGDM) is {worst:g}, must be <= 0.06"
    return None


CLAIMS = (
    check(
        "scale_invariance_exact",
        "f(3w) = f(w) and 3 grad f(3w) = grad f(w) for W_0 and W_1 of the LayerNorm MLP (worst relative error)",
        predicted=0.0, comparison="abs", tolerance=1e-12, hypothesis=None,
    ),
    check(
        "gradient_orthogonal",
        "the gradient of a scale-invariant weight is orthogonal to it, every step, member and optimiser (worst |cos(w, g)|)",
        predicted=0.0, comparison="abs", tolerance=1e-12, hypothesis=None,
    ),
    check(
        "sgd_norm_step_identity",
        "SGD: ||w_{{t+1}}||^2 = (1 - eta lambda)^2 ||w_t||^2 + eta^2 ||g_t||^2 at every step (worst relative error)",
        predicted=0.0, comparison="abs", tolerance=1e-12, hypothesis=None,
    ),
    check(
        "sgd_equilibrium_angle",
        "SGD: the rms angle per step of W_0 and W_1 is arccos(1 - eta lambda) ~ sqrt(2 eta lambda) (measured/predicted, worst member)",
        predicted=1.0, comparison="abs", tolerance=0.05, hypothesis=None,
    ),
    check(
        "sgd_equilibrium_norm",
        "SGD: ||w||^4 = eta G~ / (lambda (2 - eta lambda)), G~ = E||grad at unit norm||^2 (measured/predicted ||w||, geometric mean over seeds of the worst member)",
        predicted=1.0, comparison="abs", tolerance=0.05, hypothesis=None,
    ),
    check(
        "shift_decays_sgd",
        "SGD: the zero-gradient shift component of W_0, W_1 decays as (1 - eta lambda)^t despite the noise (worst relative error)",
        predicted=0.0, comparison="abs", tolerance=1e-07, hypothesis=None,
    ),
    check(
        "shift_decays_sgdm",
        "SGD with momentum: the shift component follows the zero-gradient momentum recursion (worst relative error)",
        predicted=0.0, comparison="abs", tolerance=1e-07, hypothesis=None,
    ),
    check(
        "shift_held_under_adamw",
        "AdamW: the shift component ends at least 10x above (1 - eta lambda)^T of its start (members at 4 lambda, smallest ratio)",
        predicted=10.0, comparison="at_least", hypothesis=None,
    ),
    evidence(
        "sgdm_equilibrium_angle",
        "SGD with momentum turns W_0, W_1 by sqrt(2 eta lambda / (1 + mu)) per step (rms; measured/predicted, geometric mean over seeds of the worst member)",
        alternative="a ratio outside 1 +- 0.05 for some member",
        predicted=1.0, comparison="abs", tolerance=0.05, hypothesis=None,
        design=_SGDM_DESIGN, role="aside", statistic="log_mean",
    ),
    evidence(
        "sgdm_equilibrium_norm",
        "SGD with momentum: ||w||^4 = eta G~ / (2 lambda (1 - mu)) (measured/predicted ||w||, geometric mean over seeds of the worst member)",
        alternative="a ratio outside 1 +- 0.05 for some member",
        predicted=1.0, comparison="abs", tolerance=0.05, hypothesis=None,
        design=_SGDM_DESIGN, role="aside", statistic="log_mean",
    ),
    evidence(
        "adamw_equilibrium_angle",
        "AdamW turns W_0, W_1 by sqrt(2 eta lambda (1 - beta_1)/(1 + beta_1)) per step (rms; measured/predicted, geometric mean over seeds of the worst member)",
        alternative="a ratio outside 1 +- 0.05 for some member",
        predicted=1.0, comparison="abs", tolerance=0.05, hypothesis=None,
        design=_ADAMW_DESIGN, role="aside", statistic="log_mean",
    ),
    evidence(
        "adamw_equilibrium_norm",
        "AdamW: ||w|| = sqrt(eta C / (2 lambda)), whatever the gradient (measured/predicted, geometric mean over seeds of the worst member)",
        alternative="a ratio outside 1 +- 0.05 for some member",
        predicted=1.0, comparison="abs", tolerance=0.05, hypothesis=None,
        design=_ADAMW_DESIGN, role="aside", statistic="log_mean",
    ),
)


ROTATIONAL_EQUILIBRIUM = Chapter(
    name="rotational_equilibrium",
    title="Rotational equilibrium",
    params=[
        seed_param(),
        Param("n_seeds", int, 2, "students per weight decay (different initialisations)", low=2, high=8),
        Param("d_in", int, 16, "input dimension", low=4, high=64),
        Param("d_hidden", int, 32, "width of both LayerNorm layers", low=8, high=64),
        Param("batch_size", int, 32, "fresh samples per step", low=4, high=256),
        Param("label_noise", float, 0.5, "std of the noise added to the teacher's labels", low=0.2, high=2.0),
        Param("steps", int, 2000, "training steps of every run", low=200, high=100000),
        Param("init_scale", float, 0.2, "start of the scale-invariant weights, times the usual N(0, 1/fan_in)", low=0.05, high=0.2),
        Param("sgd_lr", float, 0.1, "step eta of plain SGD", low=0.0, low_open=True, high=0.3),
        Param("sgd_weight_decay", float, 0.02, "smallest lambda of SGD and SGD with momentum", low=0.0, low_open=True, high=0.1),
        Param("momentum", float, 0.9, "momentum mu of SGD with momentum", low=0.5, high=0.95),
        Param("sgdm_lr", float, 0.01, "step eta of SGD with momentum", low=0.0, low_open=True, high=0.05),
        Param("adamw_lr", float, 0.004, "AdamW learning rate", low=1e-4, high=0.02),
        Param("adamw_weight_decay", float, 1.0, "smallest AdamW weight decay", low=0.01, high=2.0),
        Param("beta1", float, 0.9, "AdamW beta_1", low=0.5, high=0.95),
    ],
    profiles={
        "smoke": {"steps": 600, "sgd_weight_decay": 0.07, "adamw_lr": 0.01, "adamw_weight_decay": 1.4},
        "paper": {"steps": 20000, "n_seeds": 4, "d_hidden": 64, "sgd_weight_decay": 0.002, "adamw_weight_decay": 0.2},
    },
    constraints=[_rot_equilibrates, _rot_small_eta_lambda],
    hypotheses=(),
    headline_claim="sgd_equilibrium_angle",
    claims=CLAIMS,
)
