"""The spec of chapter 3 (book/chapters/rotational_equilibrium.ipynb): rotational
equilibrium of scale-invariant weights (H2): its parameters, profiles and checks."""

from __future__ import annotations

from goaldrift.book.chapter import Chapter, seed_param
from goaldrift.book.params import Param


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
    hypotheses=("H2",),
    headline_claim="sgd_equilibrium_angle",
)
