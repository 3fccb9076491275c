"""The book's chapters: where each notebook lives and what parameters it takes.

A chapter is a notebook in book/chapters/ with one cell tagged `parameters`
whose values are the `default` profile. Its declared parameters (with valid
ranges and cross-parameter rules) are checked before papermill starts, so a
bad value never reaches a half-written run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from goaldrift.params import Constraint, Param

REPO_ROOT = Path(__file__).resolve().parents[2]
BOOK_DIR = REPO_ROOT / "book"


@dataclass(frozen=True)
class Chapter:
    name: str
    title: str
    params: list[Param]
    # Values that differ from the defaults, per profile ("default" uses the defaults).
    profiles: dict[str, dict] = field(default_factory=dict)
    constraints: list[Constraint] = field(default_factory=list)
    # Which hypotheses of the book (goaldrift.hypotheses) this chapter tests, and the
    # claim whose measured value the front page quotes for them.
    hypotheses: tuple[str, ...] = ()
    headline_claim: str | None = None

    @property
    def notebook(self) -> Path:
        return BOOK_DIR / "chapters" / f"{self.name}.ipynb"

    def defaults(self) -> dict:
        return {p.name: p.default for p in self.params}


def _seed() -> Param:
    return Param("seed", int, 0, "seed of the data and of every initialisation", low=0)


# --- chapter: L2 equilibrium and the decay of unused weights (H1) -------------

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


L2_EQUILIBRIUM = Chapter(
    name="l2_equilibrium",
    title="L2 equilibrium and the decay of unused weights",
    params=[
        _seed(),
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
)


# --- chapter: factorised weights become sparse and low rank (H2) ----------------

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


FACTORISED_SIMPLICITY = Chapter(
    name="factorised_simplicity",
    title="Factorised weights become sparse and low rank",
    params=[
        _seed(),
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
)


CHAPTERS: dict[str, Chapter] = {c.name: c for c in [L2_EQUILIBRIUM, FACTORISED_SIMPLICITY]}
