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
from typing import Callable

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


# --- The chapter's study: three optimisers, one ensemble each, and what it measures ---

OPTIMISERS = ("SGD", "SGD+momentum", "AdamW")


@dataclass
class Study:
    """The rotational-equilibrium study: one ensemble per optimiser (OPTIMISERS), each with
    the same members, seed-major: for every seed, one member per weight-decay multiplier."""
    teacher: Teacher
    runs: dict[str, Run]        # by optimiser name
    multipliers: np.ndarray     # [K] each member's weight decay over the optimiser's smallest
    seeds: list[int]            # [K] each member's initialisation seed
    data_seed: int
    label_noise: float
    steps: int

    @property
    def n_elements(self) -> dict[str, int]:
        """C, the number of elements of each scale-invariant weight."""
        return {name: tr.n_elements for name, tr in self.runs["SGD"].traces.items()}

    @property
    def noise_floor(self) -> float:
        """The smallest expected training loss: half the label noise's variance."""
        return 0.5 * self.label_noise**2


def train_study(d_in: int, d_hidden: int, seed: int, n_seeds: int, multipliers, steps: int, batch_size: int,
                label_noise: float, init_scale: float, sgd: tuple, sgdm: tuple, adamw: tuple,
                root=None) -> Study:
    """Train the three ensembles on the teacher of `seed` and its stream (data_seed = seed):
    sgd = (lr, smallest weight decay), sgdm = (lr, smallest weight decay, momentum),
    adamw = (lr, smallest weight decay, beta_1). Members: seeds seed .. seed + n_seeds - 1,
    each at every multiplier of the smallest weight decay."""
    teacher = make_teacher(d_in, d_hidden, seed)
    mult = np.tile(np.asarray(multipliers, float), n_seeds)
    seeds = [seed + i for i in range(n_seeds) for _ in multipliers]
    common = dict(teacher=teacher, steps=steps, batch_size=batch_size, label_noise=label_noise,
                  data_seed=seed, init_scale=init_scale, root=root)
    (sgd_lr, sgd_wd), (sgdm_lr, sgdm_wd, momentum), (adamw_lr, adamw_wd, beta1) = sgd, sgdm, adamw
    runs = {
        "SGD": train("sgd", sgd_lr, sgd_wd * mult, seeds, **common),
        "SGD+momentum": train("sgd", sgdm_lr, sgdm_wd * mult, seeds, momentum=momentum, **common),
        "AdamW": train("adamw", adamw_lr, adamw_wd * mult, seeds, betas=(beta1, 0.999), **common),
    }
    return Study(teacher, runs, mult, seeds, seed, float(label_noise), steps)


@dataclass
class ExactErrors:
    """The identities of the arithmetic, each as its worst violation over the study."""
    scale_invariance: float    # worst of f(3w) = f(w), 3 grad f(3w) = grad f(w), over W_0 and W_1
    orthogonality: float       # worst |cos(w, g)| over every step, member, weight and optimiser
    sgd_step_identity: float   # worst relative error of SGD's per-step norm identity


def exact_errors(study: Study, scale: float = 3.0) -> ExactErrors:
    """Scale invariance on one network of the chapter's seed, orthogonality of every recorded
    gradient, and the per-step norm identity of the SGD run."""
    scale_err = scaled_gradient_error(study.teacher, study.data_seed, scale=scale)
    cos_max = max(float(np.abs(tr.cos_wg).max()) for run in study.runs.values() for tr in run.traces.values())
    return ExactErrors(max(scale_err.values()), cos_max, sgd_step_identity_error(study.runs["SGD"]))


@dataclass
class EquilibriumFit:
    """Measured over predicted equilibrium of one optimiser's run (equilibrium_ratios) and the
    sizes that could explain a miss, over the last `fraction` of the run."""
    angle: list[np.ndarray]    # rms angle per step / predicted, one [K] array per weight
    norm: list[np.ndarray]     # sqrt(mean ||w||^2) / predicted, one [K] array per weight
    seeds: list[int]           # [K] the members' seeds (only seeds are independent samples)
    drift: float               # largest |relative change of mean ||w||^2| from the window's first half to its second
    angle_sem: float           # largest relative standard error of the window mean of the squared angle
    window_loss: float         # mean training loss over the window, all members
    theta: Callable[[float], float] | None  # the predicted angle per step at a lambda (the run's lr and optimiser)

    def worst(self, what: str) -> float:
        """The ratio farthest from 1 ("angle" or "norm"), over weights and members."""
        return worst_ratio(getattr(self, what))

    def samples(self, what: str) -> np.ndarray:
        """[seeds, weights x members of a seed]: the ratios as independent samples (samples_by_seed)."""
        return samples_by_seed(getattr(self, what), self.seeds)

    def span(self, what: str) -> str:
        """The smallest and largest ratio, "a–b" to three decimals."""
        return f"{np.min(getattr(self, what)):.3f}–{np.max(getattr(self, what)):.3f}"

    @property
    def seed_spread(self) -> float:
        """Largest difference of the angle ratio between two seeds, for the same weight and decay."""
        x = np.array(self.angle)                       # [weights, K], members seed-major
        seeds = np.asarray(self.seeds)
        by_seed = np.stack([x[:, seeds == s] for s in np.unique(seeds)])   # [seeds, weights, members of a seed]
        return float(np.max(by_seed.max(0) - by_seed.min(0)))


def equilibrium_fit(run: Run, fraction: float) -> EquilibriumFit:
    """The equilibrium of `run` against the rotational theory of its optimiser."""
    ratios = equilibrium_ratios(run, fraction)
    drift = max(float(np.abs(norm_drift(tr, fraction)).max()) for tr in run.traces.values())
    sem = max(float(relative_standard_error(window(tr.angle, fraction) ** 2).max()) for tr in run.traces.values())
    lr = _one_lr(run)
    if run.kind == "adamw":
        law = _equilibrium_laws("adamw")[0]
        theta = lambda lam: float(law(lr, lam, run.betas[0]))
    elif run.momentum:
        law = _equilibrium_laws("sgdm")[0]
        theta = lambda lam: float(law(lr, lam, run.momentum))
    else:
        law = _equilibrium_laws("sgd")[0]
        theta = lambda lam: float(law(lr, lam))
    return EquilibriumFit(ratios["angle"], ratios["norm"], list(run.seeds), drift, sem,
                          float(window(run.loss, fraction).mean()), theta)


@dataclass
class ShiftSummary:
    """The zero-gradient shift component: its law under SGD and SGD with momentum, and how
    much of it AdamW keeps."""
    sgd_error: float       # worst relative error against (1 - eta lambda)^t
    sgdm_error: float      # worst relative error against the zero-gradient momentum recursion
    checked: int           # (step, member) pairs checked, both runs and weights together
    adamw_kept: float      # smallest ||s_T|| / ||s_0|| over (1 - eta lambda)^T, AdamW members at the largest decay
    adamw_efolds: float    # eta lambda T of those members: the e-folds decay alone would remove


def shift_summary(study: Study) -> ShiftSummary:
    """The shift component of every scale-invariant weight, over the study's three runs."""
    err_sgd, n_sgd = shift_law_error(study.runs["SGD"])
    err_sgdm, n_sgdm = shift_law_error(study.runs["SGD+momentum"])
    top = study.multipliers == study.multipliers.max()
    adamw = study.runs["AdamW"]
    k = int(np.flatnonzero(top)[0])
    return ShiftSummary(err_sgd, err_sgdm, n_sgd + n_sgdm, shift_kept_ratio(adamw, top),
                        float(adamw.lrs[k] * adamw.weight_decays[k] * study.steps))


def plot_norms_and_angles(study: Study, fits: dict[str, EquilibriumFit], fraction: float, member: int = 1) -> None:
    """Left: ||W_0|| of the SGD members of the first seed against the derived equilibrium norm.
    Right: the angle per step of W_0 (rms over 50 steps) of `member` under each optimiser,
    against its prediction."""
    from goaldrift.experiments import plots

    fig, (ax1, ax2) = plots.panels(2)
    run = study.runs["SGD"]
    tr = run.traces["W_0"]
    norm4 = _equilibrium_laws("sgd")[1]
    n_first = int(np.sum(np.asarray(study.seeds) == study.seeds[0]))
    t_axis = np.arange(study.steps + 1)
    for i, lam_i in enumerate(run.weight_decays[:n_first]):
        ax1.plot(t_axis, np.sqrt(tr.norm_sq[:, i]), color=plots.COLORS[i], lw=1, label=f"$\\lambda$={lam_i:g}")
        G_unit = window(tr.unit_grad_sq[:, i], fraction).mean()
        ax1.axhline(norm4(run.lrs[i], lam_i, G_unit) ** 0.25, **plots.PREDICTED)
    ax1.set(xlabel="step", ylabel="$\\|W_0\\|$", title="SGD: norm of a scale-invariant weight")
    ax1.legend()
    smooth = 50
    for j, (name, r) in enumerate(study.runs.items()):
        rms = np.sqrt(np.convolve(r.traces["W_0"].angle[:, member] ** 2, np.ones(smooth) / smooth, mode="valid"))
        ax2.semilogy(np.arange(len(rms)) + smooth, rms, color=plots.COLORS[j], lw=1, label=name)
    for j, (name, r) in enumerate(study.runs.items()):
        ax2.axhline(fits[name].theta(r.weight_decays[member]), **plots.PREDICTED, label="predicted" if j == 0 else None)
    ax2.set(xlabel="step", ylabel="angle per step (rad, rms over 50)",
            title=f"$W_0$, members at {study.multipliers[member]:g}$\\lambda$")
    ax2.legend()
    plots.show(fig)


def plot_shift(study: Study, member: int = 1) -> None:
    """||shift of W_0|| over its start for `member` under each optimiser, against the
    zero-gradient law of SGD with that run's momentum (plain decay for AdamW)."""
    from goaldrift.experiments import plots

    fig, ax = plots.panels(1)
    t_axis = np.arange(study.steps + 1)
    for j, (name, r) in enumerate(study.runs.items()):
        tr = r.traces["W_0"]
        ax.semilogy(t_axis, np.sqrt(tr.shift_sq[:, member] / tr.shift_sq[0, member]), color=plots.COLORS[j],
                    lw=1.2, label=name)
        law = th.momentum_decay_factors(r.lrs[member], r.weight_decays[member], r.momentum, study.steps)
        ax.semilogy(t_axis, np.abs(law), color=plots.COLORS[j], ls=":", lw=1)
    ax.semilogy([], [], color="black", ls=":", lw=1, label="zero-gradient law")
    ax.set(xlabel="step", ylabel="$\\|$shift of $W_0\\|$ / start",
           title=f"the component LayerNorm cannot see (members at {study.multipliers[member]:g}$\\lambda$)")
    ax.legend()
    plots.show(fig)
