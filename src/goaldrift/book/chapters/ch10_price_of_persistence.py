"""The spec of chapter 9 (book/chapters/price_of_persistence.md): the price of
persistence, a gradient hacker (H7): its parameters, profiles and checks."""

from __future__ import annotations

from goaldrift.book.chapter import Chapter, seed_param
from goaldrift.book.params import Param
from goaldrift.book.declarations import check, evidence


# The design of the AdamW direction evidence: the seeds, the two decays, the budget.
_DIRECTION_DESIGN = ("{n_direction_seeds} goal directions (seeds {seed} onward), each trained twice from the same "
                     "start, at lambda = 0.3 lambda_crit and at lambda = 0; AdamW lr {adam_lr}, full batch of "
                     "{n_samples} inputs, {direction_steps} steps; goal_dim {goal_dim}, kappa {kappa}")

def _hacker_gd_is_stable(v: dict) -> str | None:
    # q = 1 by construction, so lambda_crit = 2/kappa^2 and the largest decay used is
    # 3 lambda_crit; one step multiplies g by 1 - eta F with |F| <= 6/kappa^2.
    if v["learning_rate"] * 6 / v["kappa"] ** 2 > 1.5:
        return "learning_rate * 6 / kappa^2 must be <= 1.5 (gradient descent on the goal would oscillate)"
    return None


def _hacker_converges_in_budget(v: dict) -> str | None:
    x = v["lambda_ratio_min"]
    if v["learning_rate"] * 12 * x * (1 - x ** (1 / 3)) / v["kappa"] ** 2 < 2e-3:
        return "lambda_ratio_min too small for this learning_rate and kappa (the slowest member would need > 20k steps)"
    return None


def _hacker_batch(v: dict) -> str | None:
    if v["batch_size"] > v["n_samples"]:
        return "batch_size must be <= n_samples"
    return None


CLAIMS = (
    check(
        "equilibrium_norm",
        "below lambda_crit the goal's norm settles at r* = sqrt((2 q kappa^4/lambda)^(1/3) - kappa^2) (worst relative error)",
        predicted=0.0, comparison="abs", tolerance=1e-06, hypothesis="H7",
    ),
    check(
        "price_of_persistence",
        "the training loss held at equilibrium is 2^(1/3) q^(1/3) kappa^(4/3) lambda^(2/3) / 4 (worst relative error)",
        predicted=0.0, comparison="abs", tolerance=1e-06, hypothesis="H7",
    ),
    check(
        "erased_above_critical",
        "above lambda_crit = 2q/kappa^2 the goal is erased: largest final ||g|| / ||g_0||",
        predicted=0.0, comparison="abs", tolerance=1e-08, hypothesis="H7",
    ),
    check(
        "gradient_balances_decay",
        "at the held equilibrium the loss gradient balances the decay, grad L = -lambda g (worst relative residual)",
        predicted=0.0, comparison="abs", tolerance=1e-06, hypothesis="H7",
    ),
    check(
        "no_coupling_decays_at_h1_rate",
        "without coupling the goal's norm shrinks by 1 - eta*lambda every step (worst relative error)",
        predicted=0.0, comparison="abs", tolerance=1e-12, hypothesis="H7",
    ),
    check(
        "exempt_goal_only_grows",
        "exempt from decay, the coupled goal's norm never decreases (smallest per-step change)",
        predicted=0.0, comparison="at_least", hypothesis="H7",
    ),
    check(
        "direction_fixed_under_sgd",
        "minibatch SGD with decay: the goal's direction does not move, 1 - cos(g_T, g_0) (float64 rounding)",
        predicted=0.0, comparison="abs", tolerance=1e-12,
    ),
    evidence(
        "adamw_turns_toward_sign_pattern",
        "AdamW with decay moves the goal toward sign(g_0): mean gain in cos(g, sign g_0) over seeds (>= 0)",
        alternative="the turn goes elsewhere (the cosine to sign(g_0) falls)",
        predicted=0.0, comparison="at_least",
        design=_DIRECTION_DESIGN, role="law", hypothesis="H7",
    ),
    evidence(
        "optimiser_turns_goal_without_decay",
        "the optimiser, not weight decay, turns the goal: turn at lambda = 0 over turn at 0.3 lambda_crit, mean over seeds (>= 0.5)",
        alternative="weight decay drives the turn (the lambda = 0 control turns less than half as far)",
        predicted=0.5, comparison="at_least",
        design=_DIRECTION_DESIGN, role="law", hypothesis="H7",
    ),
)


PRICE_OF_PERSISTENCE = Chapter(
    name="price_of_persistence",
    title="The price of persistence: a gradient hacker",
    params=[
        seed_param(),
        Param("kappa", float, 1.0, "gate scale: s(r) = r^2/(r^2 + kappa^2); smaller is stronger coupling", low=0.5, high=2.0),
        Param("learning_rate", float, 0.1, "gradient-descent step eta", low=0.0, low_open=True, high=1.0),
        Param("n_samples", int, 256, "training inputs", low=8, high=100000),
        Param("d_in", int, 8, "input dimension of the useful computation", low=1, high=1024),
        Param("goal_dim", int, 16, "dimension of the goal vector g", low=2, high=4096),
        Param("n_lambdas", int, 8, "weight decays below lambda_crit (three more above it)", low=2, high=64),
        Param("lambda_ratio_min", float, 0.02, "smallest lambda / lambda_crit", low=0.005, high=0.5),
        Param("batch_size", int, 16, "minibatch size of the direction test", low=1, high=100000),
        Param("adam_lr", float, 0.01, "AdamW learning rate of the direction test", low=1e-4, high=0.1),
        Param("direction_steps", int, 500, "steps of the direction test", low=10, high=100000),
        Param("n_direction_seeds", int, 5, "goal directions (seeds) of the AdamW direction test", low=3, high=64),
    ],
    profiles={
        "smoke": {"n_lambdas": 4, "lambda_ratio_min": 0.1, "direction_steps": 100, "n_samples": 64,
                  "n_direction_seeds": 3},
        "paper": {"n_lambdas": 24, "lambda_ratio_min": 0.01, "direction_steps": 5000, "goal_dim": 256},
    },
    constraints=[_hacker_gd_is_stable, _hacker_converges_in_budget, _hacker_batch],
    hypotheses=("H7",),
    headline_claim="price_of_persistence",
    # H7 is a derived law: the training runs check the derivation (equilibrium norm, price, erasure,
    # the uncoupled control), they do not test it against an alternative. The AdamW direction claims
    # are evidence about this toy's optimiser, not predictions of H7, so they do not count for it.
    claims=CLAIMS,
)
