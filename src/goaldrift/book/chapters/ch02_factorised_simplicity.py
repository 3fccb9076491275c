"""The spec of chapter 2 (book/chapters/factorised_simplicity.md): factorised weights
become sparse and low rank (H2): its parameters, profiles and checks."""

from __future__ import annotations

from goaldrift.book.chapter import Chapter, seed_param
from goaldrift.book.params import Param
from goaldrift.book.declarations import check, computed, evidence


def _fact_targets_exist(v: dict) -> str | None:
    if v["c_max"] < 1.5 * (1 + v["margin"]) * v["weight_decay"]:
        return "c_max must be >= 1.5 * (1 + margin) * weight_decay (some targets must lie above the threshold)"
    return None


def _fact_gd_is_stable(v: dict) -> str | None:
    # Largest curvature met: depth-3 products up to max(c_max, 2 c_crit) have curvature
    # about 3 p^(4/3); the matrix problem about 2 s_max. Keep eta times that well below 2.
    lam = v["weight_decay"]
    c_top = max(v["c_max"], 8 * (lam / 3) ** 0.75)
    if v["learning_rate"] * (3 * c_top ** (4 / 3) + 2 * c_top + 1) > 1.5:
        return "learning_rate too large for c_max: need learning_rate * (3 c^(4/3) + 2 c + 1) <= 1.5 (gradient descent would oscillate)"
    return None


def _fact_converges_in_budget(v: dict) -> str | None:
    # The slowest mode near the end point has curvature about margin * lambda.
    if v["learning_rate"] * v["weight_decay"] * v["margin"] < 2e-3:
        return "learning_rate * weight_decay * margin must be >= 2e-3 (convergence to 1e-11 would take too many steps)"
    return None


def _fact_matrix_fits(v: dict) -> str | None:
    if v["n_above"] + v["n_below"] > v["matrix_dim"]:
        return "n_above + n_below must be <= matrix_dim"
    return None


def _above_threshold(p: dict) -> int:
    """n_above: the target singular values above lambda"""
    return p["n_above"]


def _nonzero_singular_values(p: dict) -> int:
    """n_above + n_below: every nonzero target singular value"""
    return p["n_above"] + p["n_below"]


CLAIMS = (
    check(
        "diagonal_soft_threshold",
        "depth-2 diagonal net with decay: each product ends at sign(c) max(|c| - lambda, 0) (worst coordinate)",
        predicted=0.0, comparison="abs", tolerance=1e-06, hypothesis="H2",
    ),
    check(
        "diagonal_zeroed_count",
        "the coordinates set to zero (|uv| < 1e-8) are exactly those with |c| < lambda (count)",
        predicted=computed("the number of drawn targets with |c| < lambda (factorised_nets.diagonal_threshold)"),
        comparison="equal", hypothesis="H2",
    ),
    check(
        "cheapest_factorisation_reached",
        "surviving coordinates end at the cheapest factorisation, u^2 + v^2 = 2|uv| (worst relative gap)",
        predicted=0.0, comparison="abs", tolerance=1e-06, hypothesis="H2",
    ),
    check(
        "no_decay_no_threshold",
        "lambda = 0: every product ends at its target c, small ones included (worst coordinate)",
        predicted=0.0, comparison="abs", tolerance=1e-06, hypothesis="H2",
    ),
    check(
        "balancedness_gd_factor",
        "one GD step multiplies u^2 - v^2 by (1 - eta lambda)^2 - eta^2 r^2 (worst relative error over checked steps)",
        predicted=0.0, comparison="abs", tolerance=1e-08, hypothesis="H2",
    ),
    check(
        "balancedness_flow",
        "gradient flow with decay: u^2 - v^2 = B_0 exp(-2 lambda t) (worst relative error to t = 3/lambda)",
        predicted=0.0, comparison="abs", tolerance=1e-06, hypothesis="H2",
    ),
    check(
        "balancedness_conserved_without_decay",
        "lambda = 0: gradient flow conserves u^2 - v^2 (worst relative change)",
        predicted=0.0, comparison="abs", tolerance=1e-06, hypothesis="H2",
    ),
    check(
        "deep_threshold_products",
        "depth 3 from the fit: each product ends at the largest root of p + lambda p^(-1/3) = |c|, or 0 below c_crit (worst coordinate)",
        predicted=0.0, comparison="abs", tolerance=1e-06, hypothesis="H2",
    ),
    check(
        "deep_threshold_survivors",
        "depth 3: the surviving coordinates (|p| > 1e-8) are exactly those with |c| > c_crit (count)",
        predicted=computed("the number of drawn depth-3 targets with |c| > c_crit, c_crit the derived threshold "
                           "(goaldrift.theory.factorised.deep_stationarity) at lambda (factorised_nets.deep_threshold)"),
        comparison="equal", hypothesis="H2",
    ),
    check(
        "matrix_rank",
        "with decay, the rank of AB^T (singular values > 1e-6) equals the number of target singular values above lambda",
        predicted=_above_threshold, comparison="equal", hypothesis="H2",
    ),
    check(
        "matrix_singular_values",
        "with decay, the singular values of AB^T are those of the target soft-thresholded at lambda (worst)",
        predicted=0.0, comparison="abs", tolerance=1e-06, hypothesis="H2",
    ),
    check(
        "matrix_nuclear_norm",
        "with decay, ||A||^2 + ||B||^2 ends at 2 ||AB^T||_* (relative gap)",
        predicted=0.0, comparison="abs", tolerance=1e-06, hypothesis="H2",
    ),
    check(
        "matrix_no_decay_full_rank",
        "lambda = 0: AB^T keeps every nonzero target singular value (rank)",
        predicted=_nonzero_singular_values, comparison="equal", hypothesis="H2",
    ),
)


FACTORISED_SIMPLICITY = Chapter(
    name="factorised_simplicity",
    title="Factorised weights become sparse and low rank",
    params=[
        seed_param(),
        Param("weight_decay", float, 0.3, "L2 coefficient lambda (the threshold)", low=0.05, high=0.5),
        Param("learning_rate", float, 0.1, "gradient-descent step eta", low=0.0, low_open=True, high=0.3),
        Param("n_coordinates", int, 64, "coordinates of the diagonal networks", low=4, high=4096),
        Param("c_max", float, 2.0, "largest target / singular value", low=0.1, high=3.0),
        Param("margin", float, 0.25, "no target within this fraction of the threshold", low=0.1, high=0.5),
        Param("init_scale", float, 0.1, "std of the small random start", low=1e-3, high=0.3),
        Param("matrix_dim", int, 8, "size d of the d x d factorised matrix", low=2, high=32),
        Param("n_above", int, 4, "target singular values above lambda", low=1, high=32),
        Param("n_below", int, 4, "target singular values below lambda (nonzero)", low=0, high=31),
    ],
    profiles={
        "smoke": {"n_coordinates": 16, "matrix_dim": 4, "n_above": 2, "n_below": 2},
        "paper": {"n_coordinates": 1024, "matrix_dim": 32, "n_above": 12, "n_below": 12},
    },
    constraints=[_fact_targets_exist, _fact_gd_is_stable, _fact_converges_in_budget, _fact_matrix_fits],
    hypotheses=("H2",),
    headline_claim="diagonal_soft_threshold",
    claims=CLAIMS,
)
