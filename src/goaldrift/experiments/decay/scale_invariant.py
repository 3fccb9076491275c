"""Scale-invariant weights in a LayerNorm MLP, trained online (rotational equilibrium,
H2).

The network is x -> LN(x W_0) -> ReLU -> LN(. W_1) -> ReLU -> . W_2 + b_2, where LN
is LayerNorm without affine parameters and with eps = 0. Then the output is
exactly unchanged when W_0 (or W_1) is multiplied by any c > 0: those two
matrices are scale invariant, and their gradient is orthogonal to them. LN
also subtracts the mean over hidden units, so adding the same vector to every
column of W_0 or W_1 changes nothing either: that "shift" component receives
exactly zero gradient, a second direction the loss ignores.

The task is a teacher-student regression with fresh inputs and label noise at
every step (online, so the gradient noise never runs out). An ensemble of K
students, one (lr, weight decay, seed) each, trains at once through the engine
(goaldrift.engine: the "scale_invariant_mlp" model kind, the "teacher_stream"
task, the half_mse loss, the ensemble optimiser, the run cache), in float64; a
step observer records every scale-invariant weight before and after each step.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import torch

from goaldrift.engine import runs
from goaldrift.engine.models.invariant_mlp import SCALE_INVARIANT, ScaleInvariantMLPConfig, init_weights
from goaldrift.engine.models.invariant_mlp import network_outputs as forward
from goaldrift.engine.tasks.stream import Teacher
from goaldrift.engine.train import OptimConfig, RunConfig, StepView
from goaldrift.stats import farthest_from
from goaldrift.theory import rotational as th
from goaldrift.theory.derivation import numeric

def make_teacher(d_in: int, d_hidden: int, seed: int) -> Teacher:
    """The teacher of the engine's "teacher_stream" task for teacher_seed = seed: a K = 1
    network from seed + 10000, scaled so that Var(y) = 1 before label noise."""
    return Teacher(d_in, d_hidden, seed)


def shift_component(W: torch.Tensor) -> torch.Tensor:
    """The part of W [K, fan_in, d] that adds the same vector to every column: (W 1/d) 1^T."""
    return W.mean(-1, keepdim=True).expand_as(W)


def unit_angle(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Angle between a[k] and b[k] per member, accurate for tiny angles (2 atan2 of half chords)."""
    ua = a.flatten(1) / a.flatten(1).norm(dim=1, keepdim=True)
    ub = b.flatten(1) / b.flatten(1).norm(dim=1, keepdim=True)
    return 2 * torch.atan2((ua - ub).norm(dim=1), (ua + ub).norm(dim=1))


@dataclass
class Trace:
    """Per-step records of one scale-invariant weight, for every member ([steps(+1), K])."""
    norm_sq: np.ndarray     # ||w_t||^2, t = 0..T
    grad_sq: np.ndarray     # ||g_t||^2 of the loss gradient at w_t, t = 0..T-1
    cos_wg: np.ndarray      # w_t . g_t / (||w_t|| ||g_t||)
    angle: np.ndarray       # angle between w_t and w_{t+1}
    shift_sq: np.ndarray    # squared norm of the shift component, t = 0..T
    n_elements: int         # C, the number of elements of w

    @property
    def unit_grad_sq(self) -> np.ndarray:
        """||g~_t||^2, the gradient at the unit-norm point w_t/||w_t||: ||g_t||^2 ||w_t||^2."""
        return self.grad_sq * self.norm_sq[:-1]


@dataclass
class Run:
    kind: str
    lrs: np.ndarray
    weight_decays: np.ndarray
    seeds: list[int]
    traces: dict[str, Trace]
    loss: np.ndarray         # [steps, K] training loss per step
    momentum: float = 0.0    # SGD's heavy-ball momentum (kind "sgd")
    betas: tuple = (0.9, 0.999)  # Adam's betas (kind "adamw")


def rotation_records(view: StepView) -> dict[str, torch.Tensor]:
    """A step observer: per scale-invariant weight w and member, ||w||^2, ||g||^2, w.g and
    ||shift||^2 before the step, and the angle the step turned w by."""
    out = {}
    for n in SCALE_INVARIANT:
        before, after = view.before[n], view.after[n]
        w, g = before.flatten(1), view.grad[n].flatten(1)
        out[f"{n}.norm_sq"] = (w * w).sum(1)
        out[f"{n}.grad_sq"] = (g * g).sum(1)
        out[f"{n}.w_dot_g"] = (w * g).sum(1)
        out[f"{n}.shift_sq"] = shift_component(before).pow(2).flatten(1).sum(1)
        out[f"{n}.angle"] = unit_angle(before, after)
    return out


def train(kind: str, lrs, weight_decays, seeds, teacher: Teacher, steps: int, batch_size: int,
          label_noise: float, data_seed: int, momentum: float = 0.0, betas=(0.9, 0.999),
          init_scale: float = 1.0, root=None) -> Run:
    """Train K students (member k: lrs[k], weight_decays[k], seeds[k]) on the same stream of
    fresh batches (the engine's "teacher_stream" task from data_seed), recording every
    scale-invariant weight at every step; cached in the run cache. init_scale multiplies
    the scale-invariant weights at the start (it changes their norm, not the function
    the network computes)."""
    K = len(seeds)
    lrs = np.broadcast_to(np.asarray(lrs, float), (K,)).copy()
    weight_decays = np.broadcast_to(np.asarray(weight_decays, float), (K,)).copy()
    config = RunConfig(
        task={"name": "teacher_stream", "d_in": teacher.d_in, "d_hidden": teacher.d_hidden,
              "teacher_seed": teacher.seed, "batch_size": batch_size, "label_noise": float(label_noise)},
        model=ScaleInvariantMLPConfig(d_in=teacher.d_in, d_hidden=teacher.d_hidden, init_scale=float(init_scale)),
        optim=OptimConfig(kind=kind, lr=lrs.tolist(), weight_decay=weight_decays.tolist(),
                          betas=tuple(float(b) for b in betas), momentum=float(momentum)),
        steps=steps, seeds=[int(s) for s in seeds], data_seed=data_seed, loss="half_mse", eval_every=steps,
        checkpoint_every=max(1000, steps // 4),   # a checkpoint holds every per-step record so far: a few only
        dtype="float64", device="cpu")
    r = runs.run(config, root=root, observers={"rotation": rotation_records}, progress=False)
    m = r.metrics
    traces = {}
    with torch.no_grad():
        for n in SCALE_INVARIANT:
            w_end = getattr(r.model, n).detach()
            norm_sq, grad_sq = m[f"{n}.norm_sq"], m[f"{n}.grad_sq"]
            traces[n] = Trace(
                norm_sq=np.concatenate([norm_sq, (w_end**2).flatten(1).sum(1).numpy()[None]]),
                grad_sq=grad_sq,
                cos_wg=m[f"{n}.w_dot_g"] / np.sqrt(norm_sq * grad_sq),
                angle=m[f"{n}.angle"],
                shift_sq=np.concatenate([m[f"{n}.shift_sq"], shift_component(w_end).pow(2).flatten(1).sum(1).numpy()[None]]),
                n_elements=w_end[0].numel(),
            )
    return Run(kind, lrs, weight_decays, list(seeds), traces, m["step_loss"], float(momentum),
               tuple(float(b) for b in betas))


def scaled_gradient_error(teacher: Teacher, seed: int, scale: float, batch_size: int = 64) -> dict[str, float]:
    """Worst relative violation of f(c w) = f(w) and grad f(c w) = grad f(w) / c for each
    scale-invariant weight of one network (c = scale)."""
    d_in, d_hidden = teacher.weights["W_0"].shape[1:]
    w = {k: v[None] for k, v in init_weights(d_in, d_hidden, seed).items()}
    x = torch.randn(batch_size, d_in, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
    y = teacher(x)
    out = {}
    for name in SCALE_INVARIANT:
        def loss_and_grad(c):
            p = {k: (v * c if k == name else v).clone().requires_grad_() for k, v in w.items()}
            loss = 0.5 * (forward(p, x)[0] - y).pow(2).mean()
            (grad,) = torch.autograd.grad(loss, p[name])   # a check of the function, not a training step
            return float(loss.detach()), grad
        l1, g1 = loss_and_grad(1.0)
        lc, gc = loss_and_grad(scale)
        out[name] = max(abs(lc / l1 - 1), float((gc * scale - g1).norm() / g1.norm()))
    return out


def window(a: np.ndarray, fraction: float) -> np.ndarray:
    """The last `fraction` of the rows of a (the steps after the approach to equilibrium)."""
    return a[int(round(len(a) * (1 - fraction))):]


def block_means(a: np.ndarray, n_blocks: int) -> np.ndarray:
    """Means of n_blocks consecutive blocks along axis 0 (for a standard error of a correlated series)."""
    n = (len(a) // n_blocks) * n_blocks
    return a[:n].reshape(n_blocks, n // n_blocks, *a.shape[1:]).mean(1)


def rms_angle(trace: Trace, fraction: float) -> np.ndarray:
    """Root-mean-square angle per step over the window, per member [K]."""
    return np.sqrt((window(trace.angle, fraction) ** 2).mean(0))


def mean_norm(trace: Trace, fraction: float) -> np.ndarray:
    """sqrt of the window mean of ||w_t||^2, per member [K]."""
    return np.sqrt(window(trace.norm_sq[:-1], fraction).mean(0))


def norm_drift(trace: Trace, fraction: float) -> np.ndarray:
    """Relative change of the mean ||w||^2 from the first to the second half of the window [K]."""
    N = window(trace.norm_sq[:-1], fraction)
    half = len(N) // 2
    return N[half:].mean(0) / N[:half].mean(0) - 1


def relative_standard_error(series: np.ndarray, n_blocks: int = 10) -> np.ndarray:
    """Standard error of the mean of a correlated series [T, K], relative to the mean, from block means."""
    b = block_means(series, n_blocks)
    return b.std(0, ddof=1) / np.sqrt(n_blocks) / np.abs(b.mean(0))


def sgd_step_identity_error(run: Run) -> float:
    """Worst relative error of ||w_{t+1}||^2 = (1 - eta lambda)^2 ||w_t||^2 + eta^2 ||g_t||^2 (SGD, no momentum)."""
    worst = 0.0
    for tr in run.traces.values():
        predicted = (1 - run.lrs * run.weight_decays) ** 2 * tr.norm_sq[:-1] + run.lrs**2 * tr.grad_sq
        worst = max(worst, float(np.abs(tr.norm_sq[1:] / predicted - 1).max()))
    return worst


def _one_lr(run: Run) -> float:
    if not np.all(run.lrs == run.lrs[0]):
        raise ValueError("the equilibrium predictions here need one learning rate for every member")
    return float(run.lrs[0])


@cache
def _equilibrium_laws(which: str):
    """(theta, norm law) of the rotational theory as numpy functions, derived once per process."""
    if which == "sgd":
        d = th.sgd_equilibrium()
        return numeric(d.result["theta"], th.eta, th.lam), numeric(d.result["norm4"], th.eta, th.lam, th.Gt)
    if which == "sgdm":
        d = th.sgdm_equilibrium()
        return (numeric(d.result["theta"], th.eta, th.lam, th.mu),
                numeric(d.result["norm4"], th.eta, th.lam, th.mu, th.Gt))
    d = th.adamw_equilibrium()
    return numeric(d.result["theta"], th.eta, th.lam, th.beta1), numeric(d.result["norm"], th.eta, th.lam, th.C)


def equilibrium_ratios(run: Run, fraction: float) -> dict[str, list[np.ndarray]]:
    """Measured over predicted equilibrium of each scale-invariant weight (one [K] array per
    weight, in SCALE_INVARIANT order), over the last `fraction` of the run: "angle", the rms
    angle per step, and "norm", sqrt of the mean ||w||^2. The predictions are the rotational
    theory's for the run's optimiser: SGD (momentum 0), SGD with momentum, or AdamW (beta_1);
    the SGD norms use G~, the window mean of the gradient at unit norm."""
    lr, lam = _one_lr(run), run.weight_decays
    if run.kind == "adamw":
        theta_law, norm_law = _equilibrium_laws("adamw")
        theta = theta_law(lr, lam, run.betas[0])
        predicted_norm = lambda tr: norm_law(lr, lam, tr.n_elements)
    elif run.kind == "sgd" and run.momentum == 0:
        theta_law, norm4 = _equilibrium_laws("sgd")
        theta = theta_law(lr, lam)
        predicted_norm = lambda tr: norm4(lr, lam, window(tr.unit_grad_sq, fraction).mean(0)) ** 0.25
    elif run.kind == "sgd":
        theta_law, norm4 = _equilibrium_laws("sgdm")
        theta = theta_law(lr, lam, run.momentum)
        predicted_norm = lambda tr: norm4(lr, lam, run.momentum, window(tr.unit_grad_sq, fraction).mean(0)) ** 0.25
    else:
        raise ValueError(f"no equilibrium prediction for optimiser kind {run.kind!r}")
    out = {"angle": [], "norm": []}
    for name in SCALE_INVARIANT:
        tr = run.traces[name]
        out["angle"].append(rms_angle(tr, fraction) / theta)
        out["norm"].append(mean_norm(tr, fraction) / predicted_norm(tr))
    return out


def worst_ratio(ratios) -> float:
    """The ratio (measured/predicted) farthest from 1, over all arrays in `ratios`."""
    return farthest_from(list(ratios), 1.0)


def samples_by_seed(per_weight, seeds) -> np.ndarray:
    """[seeds, members]: one row per seed (members of one seed share its data and start, so
    only seeds are independent samples), one column per (weight, member of that seed), from
    one [K] array per weight and the members' seeds."""
    seeds = np.asarray(seeds)
    return np.array([np.concatenate([np.ravel(x)[seeds == s] for x in per_weight]) for s in np.unique(seeds)])


def shift_law_error(run: Run, floor: float = 1e-6) -> tuple[float, int]:
    """Worst relative error of ||s_t|| / ||s_0|| (the shift component of every scale-invariant
    weight and member) against the zero-gradient recursion of SGD with the run's momentum,
    over the steps where ||s_t|| >= floor ||w_t|| (below, rounding of the rest of w
    dominates); and how many steps were checked."""
    if run.kind != "sgd":
        raise ValueError(f"the zero-gradient recursion is SGD's, not {run.kind!r}'s")
    worst, checked = 0.0, 0
    for tr in run.traces.values():
        steps = len(tr.shift_sq) - 1
        for k in range(len(run.seeds)):
            law = th.momentum_decay_factors(run.lrs[k], run.weight_decays[k], run.momentum, steps)
            ratio = np.sqrt(tr.shift_sq[:, k] / tr.shift_sq[0, k])
            usable = np.sqrt(tr.shift_sq[:, k]) >= floor * np.sqrt(tr.norm_sq[:, k])
            worst = max(worst, float(np.abs(ratio[usable] / np.abs(law[usable]) - 1).max()))
            checked += int(usable.sum())
    return worst, checked


def shift_kept_ratio(run: Run, members) -> float:
    """Smallest ||s_T|| / ||s_0|| over (1 - eta lambda)^T, the part of the shift component that
    decay alone would leave, over every scale-invariant weight and the selected members
    (`members`: a [K] mask or indices)."""
    lr, lam = run.lrs[members], run.weight_decays[members]
    return min(float(np.min(np.sqrt(tr.shift_sq[-1, members] / tr.shift_sq[0, members])
                            / (1 - lr * lam) ** (len(tr.shift_sq) - 1)))
               for tr in run.traces.values())
