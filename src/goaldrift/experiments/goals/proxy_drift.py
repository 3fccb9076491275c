"""Two-phase training: learn an aligned goal, then keep training where a proxy agrees.

Phase 1 trains one network per seed on data where goal and proxy are
independent (``goaldrift.engine.tasks.proxy``). Phase 2 continues copies of those
networks, all in one ensemble: member i starts from phase-1 network
``members[i].source`` and has its own η and λ. Every evaluation records

* ``conflict_agreement``: fraction of the conflict set (proxy = -goal) on
  which the output's sign is the goal's: 1 = aligned, 0 = the proxy;
* ``excluded_loss``: the loss on phase-2 inputs with the proxy removed
  (the analogue of the grokking papers' excluded loss);
* pathway norms: input weights on the simple bit (bit 0), input weights on
  the complex rule's inputs, and everything else.

The drift step t_d is the first time the conflict agreement falls below 1/2,
linearly interpolated between evaluations (inf: no drift in the budget).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from goaldrift.engine import runs
from goaldrift.engine.models import LNMLPConfig, MLPConfig
from goaldrift.engine.tasks.proxy import ProxyData, ProxyTask, phase_data
from goaldrift.engine.train import OptimConfig, RunConfig, per_member_loss


@dataclass(frozen=True)
class Member:
    """One phase-2 network: which phase-1 network it continues, its η and λ."""

    source: int
    lr: float
    weight_decay: float


@dataclass(frozen=True)
class Setup:
    """Everything shared by the two phases."""

    task: ProxyTask
    width: int = 128
    n_train: int = 2048
    n_test: int = 1024
    data_seed: int = 0
    loss: str = "mse"
    init_scale: float = 1.0

    @property
    def labels(self) -> bool:
        return self.loss == "cross_entropy"

    layer_norm: bool = False  # LayerNorm before the ReLU (a scale-invariant hidden layer)

    def model(self):
        if self.layer_norm:
            return LNMLPConfig(d_in=self.task.d_in, d_hidden=self.width, d_out=2 if self.labels else 1,
                               init_scale=self.init_scale)
        return MLPConfig(d_in=self.task.d_in, d_hidden=self.width, d_out=2 if self.labels else 1,
                         init_scale=self.init_scale)

    def task_spec(self, phase: int) -> dict:
        """The engine's task entry: enough to rebuild the data from the config."""
        t = self.task
        return {"name": "proxy", "phase": phase, "n_train": self.n_train, "n_test": self.n_test,
                "labels": self.labels, "n_bits": t.n_bits, "k": t.k, "family": t.family,
                "reverse": t.reverse, "slab_margin": t.slab_margin, "trigger": t.trigger,
                **({"proxy_scale": t.proxy_scale} if t.proxy_scale != 1.0 else {})}

    def data(self, phase: int, **extra) -> ProxyData:
        return phase_data(self.task, phase, self.n_train, self.n_test, self.data_seed,
                          labels=self.labels, **extra)


# ---- what is measured during training ----------------------------------------

def margin(model, x: torch.Tensor) -> torch.Tensor:
    """Signed output per member ``[K, N]``: the logit difference for two classes."""
    out = model.predict(x)
    return out[..., 1] - out[..., 0] if out.shape[-1] == 2 else out[..., 0]


def model_inputs(x: torch.Tensor, device, dtype) -> torch.Tensor:
    """Inputs on the model's device; real inputs in its dtype, token ids unchanged."""
    return x.to(device, dtype) if x.is_floating_point() else x.to(device)


def complex_inputs(task: ProxyTask) -> list[int]:
    return list(range(1, task.k + 1)) if task.family == "parity" else [1]


def pathway_norms(model, task: ProxyTask) -> dict[str, torch.Tensor]:
    """Norms per member of the input weights on bit 0 (the simple rule), on the
    complex rule's inputs, and of all other parameters."""
    W = model.W_0.detach().to(torch.float64)
    cplx = complex_inputs(task)
    simple = W[:, 0].norm(dim=1)
    complex_ = W[:, cplx].flatten(1).norm(dim=1)
    total_sq = sum(p.detach().to(torch.float64).square().flatten(1).sum(1) for p in model.parameters())
    other = (total_sq - simple**2 - complex_**2).clamp_min(0).sqrt()
    return {"simple_norm": simple, "complex_norm": complex_, "other_norm": other, "total_norm": total_sq.sqrt()}


def drift_metrics(loss: str, task: ProxyTask):
    """The metric function the engine calls at every evaluation."""

    def fn(model, data: ProxyData, step: int) -> dict[str, torch.Tensor]:
        p0 = next(model.parameters())
        dev, dt = p0.device, p0.dtype
        m_conf = margin(model, model_inputs(data.conflict_x, dev, dt))
        goal = data.conflict_goal.to(dev, dt)
        out = {"conflict_agreement": ((m_conf > 0) == (goal > 0)).to(torch.float64).mean(1),
               "conflict_margin": (m_conf * goal).to(torch.float64).mean(1)}
        neutral = model.predict(model_inputs(data.neutral_x, dev, dt)).to(torch.float64)
        g = data.neutral_goal.to(dev)
        y = ((g + 1) / 2).long() if loss == "cross_entropy" else g.to(torch.float64)
        out["excluded_loss"] = per_member_loss(loss, neutral, y)
        if hasattr(model, "W_0"):  # the MLP's pathways; other models report their total norm
            out.update(pathway_norms(model, task))
        else:
            out["total_norm"] = sum(p.detach().to(torch.float64).square().flatten(1).sum(1)
                                    for p in model.parameters()).sqrt()
        return out

    fn.__name__ = f"drift_metrics_{loss}"
    return fn


# ---- the two phases ----------------------------------------------------------

def phase1(setup: Setup, seeds: list[int], lr: float, weight_decay: float, steps: int,
           kind: str = "adamw", eval_every: int = 100, extra=None, root=None,
           data: ProxyData | None = None, model=None) -> runs.Run:
    """Train one network per init seed on phase-1 data (goal and proxy independent).
    ``data`` replaces the phase-1 data (e.g. with an entangled trigger's examples);
    ``model`` replaces the setup's MLP config (e.g. a store reader)."""
    data = data if data is not None else setup.data(1, **(extra or {}))
    config = RunConfig(task=setup.task_spec(1), model=model or setup.model(),
                       optim=OptimConfig(kind=kind, lr=lr, weight_decay=weight_decay),
                       steps=steps, seeds=list(seeds), data_seed=setup.data_seed, loss=setup.loss,
                       eval_every=eval_every, checkpoint_every=None)
    metrics = {f"drift_{setup.loss}": drift_metrics(setup.loss, setup.task)}
    return runs.run(config, root=root, data=data, metric_fns=metrics, progress=False)


def tile_state(state: dict[str, torch.Tensor], sources: list[int]) -> dict[str, torch.Tensor]:
    """An ensemble state whose member i is member ``sources[i]`` of ``state``."""
    idx = torch.as_tensor(sources)
    return {k: v.detach()[idx].clone() for k, v in state.items()}


def phase2(setup: Setup, start, members: list[Member], steps: int, kind: str = "adamw",
           eval_every: int = 50, masks=None, data: ProxyData | None = None, momentum: float = 0.0,
           extra_metrics: dict | None = None, root=None, model=None, eps: float = 1e-8) -> runs.Run:
    """Continue phase-1 networks (``start``: a Run or a state dict) on phase-2 data.

    ``masks``: the optimiser's element-wise {"frozen"|"exempt": {name: bool [K, ...]}}.
    ``data`` replaces the phase-2 data (e.g. phase-1 data for the trigger test);
    ``extra_metrics`` ({name: fn}) are evaluated beside the drift metrics; ``model``
    replaces the setup's MLP config; ``eps`` is Adam's ε.
    """
    state = start.model.state_dict() if hasattr(start, "model") else start
    init = tile_state(state, [m.source for m in members])
    data = data if data is not None else setup.data(2)
    config = RunConfig(task=setup.task_spec(2), model=model or setup.model(),
                       optim=OptimConfig(kind=kind, lr=[m.lr for m in members],
                                         weight_decay=[m.weight_decay for m in members], momentum=momentum, eps=eps),
                       steps=steps, seeds=list(range(len(members))), data_seed=setup.data_seed,
                       loss=setup.loss, eval_every=eval_every, checkpoint_every=None)
    metrics = {f"drift_{setup.loss}": drift_metrics(setup.loss, setup.task), **(extra_metrics or {})}
    return runs.run(config, root=root, data=data, init_state=init, masks=masks, metric_fns=metrics,
                    progress=False)


# ---- reading the curves ------------------------------------------------------

def drift_step(steps: np.ndarray, agreement: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """First crossing of ``threshold`` from above, per member, linearly interpolated
    between evaluations; inf where the agreement never falls below it.

    steps ``[T]``, agreement ``[T, K]`` → ``[K]``.
    """
    steps = np.asarray(steps, dtype=float)
    agreement = np.asarray(agreement, dtype=float)
    out = np.full(agreement.shape[1], np.inf)
    for k in range(agreement.shape[1]):
        below = np.nonzero(agreement[:, k] < threshold)[0]
        if len(below) == 0:
            continue
        i = below[0]
        if i == 0:
            out[k] = steps[0]
            continue
        a0, a1 = agreement[i - 1, k], agreement[i, k]
        out[k] = steps[i - 1] + (a0 - threshold) / (a0 - a1) * (steps[i] - steps[i - 1])
    return out


def value_at(steps: np.ndarray, curve: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Each member's curve ``[T, K]`` read at its own time ``t[k]`` (linear interpolation)."""
    return np.array([np.interp(t[k], steps, curve[:, k]) if np.isfinite(t[k]) else np.nan
                     for k in range(curve.shape[1])])


def collapse_spread(x: np.ndarray) -> float:
    """Spread of positive values on a log scale: std of log(x). 0 = perfect collapse."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x) & (x > 0)]
    return float(np.std(np.log(x))) if len(x) > 1 else float("nan")


def loglog_slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of log y against log x over finite positive pairs."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if ok.sum() < 2 or np.ptp(np.log(x[ok])) == 0:
        return float("nan")
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])


def loglog_slope_by_source(x: np.ndarray, y: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """``loglog_slope`` of y against x separately for each phase-1 network (``sources``), in the
    order of np.unique(sources): the per-seed samples of a slope claim."""
    x, y, sources = np.asarray(x), np.asarray(y), np.asarray(sources)
    return np.array([loglog_slope(x[sources == s], y[sources == s]) for s in np.unique(sources)])


def init_seeds(seed: int, n_seeds: int) -> list[int]:
    """The phase-1 init seeds of a chapter whose parameter is ``seed``."""
    return [1000 * seed + i for i in range(n_seeds)]


def grid(n_seeds: int, lrs, weight_decays) -> list[Member]:
    """Every (seed, η, λ) combination, seed-major: one ensemble for the whole sweep."""
    return [Member(s, float(lr), float(wd)) for s in range(n_seeds) for lr in lrs for wd in weight_decays]


def eta_lambda(members: list[Member]) -> np.ndarray:
    return np.array([m.lr * m.weight_decay for m in members])


# ---- comparisons the chapter judges -------------------------------------------

@dataclass
class GroupOutcome:
    """Phase-2 outcome of the members of one (loss, optimiser, η, λ) group."""

    lr: float
    drift: float             # 1 - final conflict agreement, mean over the group's members
    finals: np.ndarray       # 1 - final conflict agreement of each member (one per seed)
    train_acc: float         # lowest final training accuracy in the group
    curve: np.ndarray        # conflict agreement at each evaluation, mean over the members
    steps: np.ndarray


def group_outcome(metrics: dict, selected: np.ndarray, lr: float) -> GroupOutcome:
    """The outcome of the members ``selected`` (a bool mask over the ensemble) of a phase-2 run."""
    agree = metrics["conflict_agreement"]
    return GroupOutcome(lr=lr, drift=float(1 - agree[-1, selected].mean()), finals=1 - agree[-1, selected],
                        train_acc=float(metrics["train_acc"][-1, selected].min()),
                        curve=agree[:, selected].mean(1), steps=metrics["step"])


def loss_optimiser_groups(starts: dict, settings: dict, n_seeds: int, steps: int, eval_every: int,
                          done: dict | None = None, root=None) -> dict:
    """Phase 2 for every (loss, optimiser) pair, with λ = 0 and with decay, from the same phase-1 networks.

    ``starts``: {loss name: (Setup, phase-1 Run)}; ``settings``: {optimiser kind: (η, λ)};
    ``done``: {(loss name, kind): (phase-2 Run, its members)} already trained (their members at the
    setting's η are read, others ignored). Returns {(loss name, kind, λ): GroupOutcome}.
    """
    done = done or {}
    groups = {}
    for loss_name, (setup, start) in starts.items():
        for kind, (lr, lam) in settings.items():
            if (loss_name, kind) in done:
                run, members = done[(loss_name, kind)]
            else:
                members = grid(n_seeds, [lr], [0.0, lam])
                run = phase2(setup, start, members, steps, kind=kind, eval_every=eval_every, root=root)
            for wd in (0.0, lam):
                selected = np.array([m.lr == lr and m.weight_decay == wd for m in members])
                groups[(loss_name, kind, wd)] = group_outcome(run.metrics, selected, lr)
    return groups


@dataclass
class DriftPoint:
    """η λ t_d of each seed's network on one task (inf: no drift in the budget), and how well
    phase 1 learned that task."""

    x: np.ndarray
    phase1_test_acc: float   # lowest over seeds
    phase1_train_loss: float  # highest over seeds


def drift_point(setup: Setup, seeds: list[int], phase1_lr: float, phase1_weight_decay: float, phase1_steps: int,
                lr: float, weight_decay: float, steps: int, eval_every: int, root=None) -> DriftPoint:
    """Phase 1 on ``setup``'s task, then phase 2 at one (η, λ) from every seed's network."""
    r1 = phase1(setup, seeds, phase1_lr, phase1_weight_decay, phase1_steps, root=root)
    members = grid(len(seeds), [lr], [weight_decay])
    r2 = phase2(setup, r1, members, steps, eval_every=eval_every, root=root)
    t_d = drift_step(r2.metrics["step"], r2.metrics["conflict_agreement"])
    return DriftPoint(x=eta_lambda(members) * t_d, phase1_test_acc=float(r1.metrics["test_acc"][-1].min()),
                      phase1_train_loss=float(r1.metrics["train_loss"][-1].max()))


def worst_relative_deviation(x_by_setting, predicted: float) -> np.ndarray:
    """Per seed, the largest |x / predicted - 1| over settings (rows: settings, columns: seeds)."""
    return np.max(np.abs(np.stack(x_by_setting) / predicted - 1), axis=0)
