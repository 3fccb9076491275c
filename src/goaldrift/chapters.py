"""The book's chapters: where each notebook lives and what parameters it takes.

A chapter is a notebook in book/chapters/ with one cell tagged `parameters`
whose values are the `default` profile. Its declared parameters (with valid
ranges and cross-parameter rules) are checked before papermill starts, so a
bad value never reaches a half-written run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

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
    # For a chapter that tests several hypotheses: which claims bear on which
    # (hypothesis -> claim ids; the first id is that hypothesis's headline).
    claims_by_hypothesis: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # The chapter's training runs as a function of its parameters, for chapters
    # whose runs `goaldrift sweep CHAPTER` can train ahead (locally or on Ray)
    # into the cache the chapter then reads.
    sweep: Callable[[dict], list] | None = None

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


# --- chapter: rotational equilibrium of scale-invariant weights (H2) ---------------

# Members train at lambda, 2 lambda and 4 lambda; the smallest must reach its equilibrium
# within the first half of the run (approach rate about 4 eta lambda for SGD, 2 eta lambda
# for AdamW), and the largest must keep eta lambda small (the equilibria are expansions in it).
ROTATIONAL_DECAY_MULTIPLIERS = (1.0, 2.0, 4.0)


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


ROTATIONAL_EQUILIBRIUM = Chapter(
    name="rotational_equilibrium",
    title="Rotational equilibrium",
    params=[
        _seed(),
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
    hypotheses=("H2",),
    headline_claim="sgd_equilibrium_angle",
)


# --- chapter: the price of persistence, a gradient hacker (H7) -------------------

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


PRICE_OF_PERSISTENCE = Chapter(
    name="price_of_persistence",
    title="The price of persistence: a gradient hacker",
    params=[
        _seed(),
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
    ],
    profiles={
        "smoke": {"n_lambdas": 4, "lambda_ratio_min": 0.1, "direction_steps": 100, "n_samples": 64},
        "paper": {"n_lambdas": 24, "lambda_ratio_min": 0.01, "direction_steps": 5000, "goal_dim": 256},
    },
    constraints=[_hacker_gd_is_stable, _hacker_converges_in_budget, _hacker_batch],
    hypotheses=("H7",),
    headline_claim="price_of_persistence",
)


# --- chapter: how much do real runs decay? (H9) ------------------------------------

def _schedule_check_order(v: dict) -> str | None:
    if not v["check_warmup"] < v["check_decay_end"] <= v["check_steps"]:
        return "need check_warmup < check_decay_end <= check_steps"
    return None


REAL_RUNS_DECAY = Chapter(
    name="real_runs_decay",
    title="How much do real runs decay?",
    params=[
        Param("check_steps", int, 20000, "steps of the synthetic schedule checked against the closed form", low=3, high=10_000_000),
        Param("check_warmup", int, 500, "its warm-up steps", low=1, high=10_000_000),
        Param("check_decay_end", int, 18000, "step where its decay reaches the floor", low=2, high=10_000_000),
        Param("check_final_fraction", float, 0.1, "its floor as a fraction of the peak", low=0.0, high=1.0),
    ],
    profiles={"smoke": {"check_steps": 2000, "check_warmup": 50, "check_decay_end": 1800}},
    constraints=[_schedule_check_order],
    hypotheses=("H9",),
    headline_claim="pretraining_at_least_one_efold",
)


# --- chapter: does weight decay turn an aligned goal into its proxy? (H4) -------

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


PROXY_DRIFT = Chapter(
    name="proxy_drift",
    title="Does weight decay turn an aligned goal into its simpler proxy?",
    params=[
        _seed(),
        Param("n_seeds", int, 3, "phase-1 networks (init seeds); every phase-2 setting runs on each", low=1, high=64),
        Param("n_bits", int, 12, "input bits; bit 0 is the proxy", low=3, high=64),
        Param("k", int, 3, "parity order of the aligned goal (bits 1..k)", low=2, high=16),
        Param("width", int, 64, "hidden units of the one-hidden-layer ReLU network", low=8, high=4096),
        Param("n_train", int, 1024, "training examples per phase", low=64, high=1_000_000),
        Param("phase1_steps", int, 800, "full-batch AdamW steps of phase 1", low=10, high=1_000_000),
        Param("phase1_lr", float, 0.003, "phase-1 learning rate", low=1e-5, high=0.03),
        Param("phase1_weight_decay", float, 0.1, "phase-1 weight decay", low=0.0, high=1.0),
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
    claims_by_hypothesis={
        "H4": ("drift_point_ln2_over_2", "phase1_goal_proxy_uncorrelated", "phase2_proxy_equals_goal",
               "conflict_proxy_opposes_goal", "mse_lambda0_no_drift", "all_decayed_members_drift",
               "collapse_on_eta_lambda_t", "norm_ratio_at_drift", "drift_step_scales_as_inverse_eta_lambda",
               "mse_sgd_lambda0_no_drift", "reversal_no_drift", "equal_complexity_no_drift",
               "drift_point_independent_of_k"),
    },
)


# --- chapter: grokking and its cleanup phase, replicated (H3) ----------------------

def _grokking_shape(v: dict) -> str | None:
    p = v["p"]
    if p < 5 or any(p % d == 0 for d in range(2, int(p**0.5) + 1)):
        return "p must be an odd prime >= 5 (the Fourier basis of Z_p and the task need it)"
    if v["d_model"] % 4:
        return "d_model must be a multiple of 4 (four attention heads)"
    if v["steps"] < 10 * v["eval_every"]:
        return "steps must be at least 10 * eval_every (the phase rule needs the curves resolved)"
    return None


GROKKING_REPLICATION = Chapter(
    name="grokking_replication",
    title="Grokking and its cleanup phase, replicated",
    params=[
        _seed(),
        Param("n_seeds", int, 3, "runs; seed s sets both the train/test split and the init", low=1, high=32),
        Param("p", int, 47, "modulus of a+b mod p (an odd prime)", low=5, high=257),
        Param("train_frac", float, 0.5, "fraction of the p^2 pairs used for training", low=0.05, high=0.95),
        Param("d_model", int, 64, "residual width (4 heads of d_model/4; d_mlp = 4 d_model)", low=8, high=512),
        Param("learning_rate", float, 0.003, "AdamW eta", low=1e-5, high=0.03),
        Param("weight_decay", float, 1.0, "AdamW lambda (decoupled)", low=0.0, high=10.0),
        Param("warmup_steps", int, 10, "linear warm-up steps", low=0, high=10_000),
        Param("steps", int, 2000, "full-batch training steps", low=50, high=200_000),
        Param("eval_every", int, 20, "steps between evaluations and weight snapshots", low=1, high=10_000),
        Param("key_share_factor", float, 2.0, "a frequency is key if its energy share is this many times the uniform share",
              low=1.0, low_open=True, high=20.0),
    ],
    profiles={
        "smoke": {"n_seeds": 1, "p": 23, "d_model": 32, "steps": 400, "eval_every": 20},
        "paper": {"n_seeds": 5, "p": 113, "train_frac": 0.3, "d_model": 128, "learning_rate": 0.001,
                  "steps": 40_000, "eval_every": 200},
    },
    constraints=[_grokking_shape],
    hypotheses=("H3",),
    headline_claim="memorisation_precedes_generalisation",
)


# --- chapter: protecting a goal: freezing, memory, triggers (H5, H6, H8) ----------

def _protect_budgets(v: dict) -> str | None:
    el = v["learning_rate"] * v["weight_decay"]
    if el > 0.05:
        return "learning_rate * weight_decay must be <= 0.05 (1 - eta*lambda per step must stay near 1)"
    if v["phase2_steps"] * el < 1.04:
        return "phase2_steps * learning_rate * weight_decay must be >= 1.04 (three times the drift point ln2/2)"
    if v["trigger_steps"] * el < 1.0:
        return "trigger_steps * learning_rate * weight_decay must be >= 1 (the trigger run must reach eta*lambda*t = 1)"
    if v["eval_every"] > 0.35 / el / 3:
        return "eval_every must be <= ln2/2 / (3 * learning_rate * weight_decay) (the drift needs 3 evaluations)"
    return None


def _protect_shapes(v: dict) -> str | None:
    if v["k"] > v["n_bits"] - 2:
        return "k must be <= n_bits - 2 (bit 0 is the proxy and the last bit the trigger's target)"
    if not v["min_fraction"] < v["max_fraction"]:
        return "min_fraction must be < max_fraction"
    if v["n_train"] % 2:
        return "n_train must be even (phase-1 goal and proxy are exactly balanced)"
    return None


PROTECTING_GOALS = Chapter(
    name="protecting_goals",
    title="Protecting a goal: freezing, memory outside decay, and an unused trigger",
    params=[
        _seed(),
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
        Param("max_fraction", float, 0.3, "largest fraction of weights frozen", low=1e-3, high=1.0),
        Param("n_fractions", int, 5, "fractions on the freezing curve (log-spaced)", low=2, high=50),
        Param("n_trigger", int, 256, "trigger examples in phase 1 (and in the trigger test set)", low=8, high=100_000),
        Param("trigger_steps", int, 1000, "phase-2 steps of the trigger run", low=10, high=1_000_000),
        Param("eval_every", int, 25, "steps between evaluations (the trigger run: half of it)", low=1, high=10_000),
    ],
    profiles={
        "smoke": {"n_seeds": 1, "width": 32, "n_train": 256, "phase1_steps": 150, "phase1_lr": 0.01,
                  "learning_rate": 0.004, "weight_decay": 2.0, "phase2_steps": 150, "n_fractions": 2,
                  "n_trigger": 64, "trigger_steps": 150, "eval_every": 10},
        "paper": {"n_seeds": 10, "width": 256, "n_train": 4096, "phase1_steps": 3000, "learning_rate": 0.001,
                  "weight_decay": 0.3, "phase2_steps": 4000, "n_fractions": 9, "n_trigger": 1024,
                  "trigger_steps": 14000},
    },
    constraints=[_protect_budgets, _protect_shapes],
    hypotheses=("H5", "H6", "H8"),
    headline_claim="ranked_freezing_stops_drift",
    claims_by_hypothesis={
        "H5": ("ranked_freezing_stops_drift", "frozen_weights_do_not_move", "random_freezing_does_not",
               "construction_with_read_path_stops_drift", "construction_without_read_path_drifts"),
        "H6": ("protected_read_path_bounds_drift", "memory_survives", "memory_alone_does_not_bound_drift"),
        # trigger_erased_at_degree2_rate is the named alternative of trigger_erased_at_h1_rate, not a
        # prediction of H8: it stays on the chapter's verdicts but does not count for H8.
        "H8": ("trigger_erased_at_h1_rate", "trigger_row_decays_exactly", "trigger_row_untouched_without_decay",
               "trigger_survival_collapses", "trigger_survives_without_decay"),
    },
)


# --- chapter: cleanup as weight decay at work, delay against eta*lambda (H3) -------

def _cleanup_grid(v: dict) -> str | None:
    if not v["lr_low"] < v["lr_high"]:
        return "lr_low must be smaller than lr_high (two learning rates separate eta from lambda)"
    if v["wd_min"] > v["wd_max"] or (v["n_wd"] == 1 and v["wd_min"] != v["wd_max"]):
        return "need wd_min <= wd_max, and wd_min == wd_max when n_wd == 1"
    if v["lr_high"] * v["wd_max"] > 0.05:
        return "lr_high * wd_max must be <= 0.05 (1 - eta*lambda per step must stay near 1)"
    if v["steps"] < 10 * v["eval_every"]:
        return "steps must be at least 10 * eval_every"
    return _grokking_shape(v)


def _cleanup_runs(values: dict) -> list:
    from goaldrift.grokking_runs import cleanup_sweep

    names = ("seed", "n_seeds", "p", "train_frac", "d_model", "lr_low", "lr_high", "wd_min", "wd_max",
             "n_wd", "warmup_steps", "steps", "eval_every")
    return cleanup_sweep(**{n: values[n] for n in names})[2]


CLEANUP_SCALING = Chapter(
    name="cleanup_scaling",
    title="Cleanup as weight decay at work: how the delay scales with eta*lambda",
    params=[
        _seed(),
        Param("n_seeds", int, 5, "ensembles; seed s sets the split and the init of every member", low=2, high=32),
        Param("p", int, 47, "modulus of a+b mod p (an odd prime)", low=5, high=257),
        Param("train_frac", float, 0.5, "fraction of the p^2 pairs used for training", low=0.05, high=0.95),
        Param("d_model", int, 64, "residual width (4 heads; d_mlp = 4 d_model)", low=8, high=512),
        Param("lr_low", float, 0.002, "smaller AdamW eta of the grid", low=1e-5, high=0.03),
        Param("lr_high", float, 0.004, "larger AdamW eta of the grid (also the lambda = 0 control)", low=1e-5, high=0.03),
        Param("wd_min", float, 1.0, "smallest nonzero lambda", low=0.0, low_open=True, high=10.0),
        Param("wd_max", float, 2.0, "largest lambda", low=0.0, low_open=True, high=10.0),
        Param("n_wd", int, 2, "log-spaced lambda values from wd_min to wd_max", low=1, high=16),
        Param("warmup_steps", int, 10, "linear warm-up steps", low=0, high=10_000),
        Param("steps", int, 3000, "full-batch training steps (the budget)", low=50, high=200_000),
        Param("eval_every", int, 25, "steps between evaluations", low=1, high=10_000),
    ],
    profiles={
        "smoke": {"n_seeds": 2, "p": 23, "d_model": 32, "lr_low": 0.003, "lr_high": 0.006, "wd_min": 2.0,
                  "wd_max": 2.0, "n_wd": 1, "steps": 400, "eval_every": 20},
        "paper": {"n_seeds": 5, "p": 113, "train_frac": 0.3, "d_model": 128, "lr_low": 0.001, "lr_high": 0.002,
                  "wd_min": 0.5, "wd_max": 4.0, "n_wd": 4, "steps": 40_000, "eval_every": 100},
    },
    constraints=[_cleanup_grid],
    hypotheses=("H3",),
    headline_claim="delay_exponent_is_minus_one",
    sweep=_cleanup_runs,
)


# --- chapter: drift back: ungrokking below the critical training set (H3) --------

def _ungrokking_setup(v: dict) -> str | None:
    if not v["ungrok_frac"] < v["grok_frac"]:
        return "ungrok_frac must be smaller than grok_frac (the continuation trains on a subset)"
    if not v["frac_min"] < v["frac_max"] <= v["grok_frac"]:
        return "need frac_min < frac_max <= grok_frac (the scan continues on subsets of the grokked set)"
    if not v["lr_low"] < v["lr_high"] or not v["wd_low"] < v["wd_high"]:
        return "need lr_low < lr_high and wd_low < wd_high (a 2x2 grid separates eta from lambda)"
    if v["lr_high"] * v["wd_high"] > 0.05:
        return "lr_high * wd_high must be <= 0.05 (1 - eta*lambda per step must stay near 1)"
    for name in ("grok_steps", "ungrok_steps"):
        if v[name] < 10 * v["eval_every"]:
            return f"{name} must be at least 10 * eval_every"
    return _grokking_shape(v | {"steps": v["grok_steps"]})


UNGROKKING = Chapter(
    name="ungrokking",
    title="Drift back: ungrokking below the critical training set",
    params=[
        _seed(),
        Param("n_seeds", int, 2, "grokked networks; seed s sets the split and the init", low=2, high=32),
        Param("p", int, 47, "modulus of a+b mod p (an odd prime)", low=5, high=257),
        Param("d_model", int, 64, "residual width (4 heads; d_mlp = 4 d_model)", low=8, high=512),
        Param("grok_frac", float, 0.5, "training fraction the network groks on", low=0.05, high=0.95),
        Param("grok_steps", int, 2000, "AdamW steps of the grokking run", low=50, high=200_000),
        Param("ungrok_frac", float, 0.1, "training fraction of the ungrokking runs (a prefix of the grokked set)",
              low=0.01, high=0.9),
        Param("ungrok_steps", int, 2000, "AdamW steps after the switch (timing runs and the scan)", low=50, high=200_000),
        Param("lr_low", float, 0.003, "AdamW eta (the grokking run and the scan)", low=1e-5, high=0.03),
        Param("lr_high", float, 0.006, "larger eta of the 2x2 timing grid", low=1e-5, high=0.03),
        Param("wd_low", float, 1.0, "AdamW lambda (the grokking run and the scan)", low=0.0, low_open=True, high=10.0),
        Param("wd_high", float, 2.0, "larger lambda of the 2x2 timing grid", low=0.0, low_open=True, high=10.0),
        Param("frac_min", float, 0.1, "smallest training fraction of the hysteresis scan", low=0.01, high=0.9),
        Param("frac_max", float, 0.5, "largest training fraction of the hysteresis scan", low=0.02, high=0.95),
        Param("n_fracs", int, 5, "fractions in the scan (evenly spaced)", low=2, high=20),
        Param("eval_every", int, 25, "steps between evaluations", low=1, high=10_000),
    ],
    profiles={
        "smoke": {"p": 23, "d_model": 32, "grok_steps": 300, "ungrok_frac": 0.2, "ungrok_steps": 300,
                  "lr_low": 0.005, "lr_high": 0.01, "frac_min": 0.2, "frac_max": 0.5, "n_fracs": 2,
                  "eval_every": 20},
        "paper": {"n_seeds": 5, "p": 113, "grok_frac": 0.3, "d_model": 128, "grok_steps": 40_000,
                  "ungrok_frac": 0.05, "ungrok_steps": 20_000, "lr_low": 0.001, "lr_high": 0.002,
                  "frac_min": 0.05, "frac_max": 0.3, "n_fracs": 6, "eval_every": 100},
    },
    constraints=[_ungrokking_setup],
    hypotheses=("H3",),
    headline_claim="ungrokking_happens",
)


# In reading order (the order of _toc.yml, of the verdicts page and of `goaldrift book`).
CHAPTERS: dict[str, Chapter] = {
    c.name: c
    for c in [
        L2_EQUILIBRIUM, FACTORISED_SIMPLICITY, ROTATIONAL_EQUILIBRIUM,
        GROKKING_REPLICATION, CLEANUP_SCALING, UNGROKKING,
        PROXY_DRIFT, PROTECTING_GOALS, PRICE_OF_PERSISTENCE,
        REAL_RUNS_DECAY,
    ]
}
