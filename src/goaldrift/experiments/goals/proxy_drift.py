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
from goaldrift.engine.tasks.proxy import ProxyData, ProxyTask, phase_data, sample_set
from goaldrift.engine.train import OptimConfig, RunConfig, per_member_loss
from goaldrift.tables import markdown_table
from goaldrift.stats import by_seed as per_seed  # one number per phase-1 network


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
           extra_metrics: dict | None = None, root=None, model=None, eps: float = 1e-8,
           betas: tuple[float, float] = (0.9, 0.98)) -> runs.Run:
    """Continue phase-1 networks (``start``: a Run or a state dict) on phase-2 data.

    ``masks``: the optimiser's element-wise {"frozen"|"exempt": {name: bool [K, ...]}}.
    ``data`` replaces the phase-2 data (e.g. phase-1 data for the trigger test);
    ``extra_metrics`` ({name: fn}) are evaluated beside the drift metrics; ``model``
    replaces the setup's MLP config; ``eps`` and ``betas`` are Adam's ε and (β1, β2) (betas (0, 0)
    is sign descent: with β2 = 0 the step is η g/(|g| + ε)).
    """
    state = start.model.state_dict() if hasattr(start, "model") else start
    init = tile_state(state, [m.source for m in members])
    data = data if data is not None else setup.data(2)
    config = RunConfig(task=setup.task_spec(2), model=model or setup.model(),
                       optim=OptimConfig(kind=kind, lr=[m.lr for m in members],
                                         weight_decay=[m.weight_decay for m in members], momentum=momentum, eps=eps,
                                         betas=tuple(betas)),
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


# ---- the drift chapters' design and readings -----------------------------------
# What the chapters (proxy_drift, drift_beyond_the_toy) record: each number comes
# from one of these, so a notebook cell is "call -> record -> plot".

@dataclass(frozen=True)
class Design:
    """What a drift chapter's networks share: init seeds, input size, width, data, and the
    phase-1 schedules (parity and k-slab rules have their own). Built from the chapter's
    parameters by ``from_parameters`` (the names are the parameters' names)."""

    seed: int
    n_seeds: int
    n_bits: int
    width: int
    n_train: int
    phase1_lr: float
    phase1_weight_decay: float
    phase1_steps: int
    slab_lr: float | None = None
    slab_phase1_steps: int | None = None

    @classmethod
    def from_parameters(cls, params) -> "Design":
        names = [f for f in cls.__dataclass_fields__ if f in params]
        return cls(**{f: params[f] for f in names})

    @property
    def seeds(self) -> list[int]:
        return init_seeds(self.seed, self.n_seeds)

    def setup(self, k: int, family: str = "parity", reverse: bool = False, proxy_scale: float = 1.0,
              loss: str = "mse", layer_norm: bool = False) -> Setup:
        """The ``Setup`` of one task (``ProxyTask(n_bits, k, family, reverse, proxy_scale)``)."""
        task = ProxyTask(n_bits=self.n_bits, k=k, family=family, reverse=reverse, proxy_scale=proxy_scale)
        return Setup(task, width=self.width, n_train=self.n_train, data_seed=self.seed, loss=loss,
                     layer_norm=layer_norm)

    def schedule(self, family: str = "parity") -> tuple:
        """(lr, weight decay, steps) of phase 1 for a rule family: slab rules have their own rate and length."""
        if family == "slab":
            return self.slab_lr, self.phase1_weight_decay, self.slab_phase1_steps
        return self.phase1_lr, self.phase1_weight_decay, self.phase1_steps

    def phase1(self, setup: Setup) -> runs.Run:
        """Phase 1 of every seed on ``setup``'s task, with its family's schedule."""
        return phase1(setup, self.seeds, *self.schedule(setup.task.family))


@dataclass(frozen=True)
class SetChecks:
    """The task construction, measured on freshly sampled sets (``engine.tasks.proxy.sample_set``)."""

    phase1_correlation: float   # mean of goal * proxy on phase-1 inputs (0: exactly uncorrelated)
    phase2_agreement: float     # fraction of phase-2 inputs with proxy = goal
    conflict_opposition: float  # fraction of the conflict set with proxy = -goal


def set_checks(task: ProxyTask, n: int, seed: int) -> SetChecks:
    p1, p2, cf = (sample_set(task, which, n, seed) for which in ("phase1", "phase2", "conflict"))
    return SetChecks(phase1_correlation=float((task.goal(p1) * task.proxy(p1)).mean()),
                     phase2_agreement=float((task.goal(p2) == task.proxy(p2)).double().mean()),
                     conflict_opposition=float((task.goal(cf) == -task.proxy(cf)).double().mean()))


@dataclass(frozen=True)
class Phase1Fit:
    """How well phase 1 learned its task, per seed and at the worst seed."""

    test_acc: np.ndarray    # final test accuracy per seed
    train_loss: np.ndarray  # final training loss per seed

    @property
    def test_acc_min(self) -> float:
        return float(self.test_acc.min())

    @property
    def train_loss_max(self) -> float:
        return float(self.train_loss.max())

    def markdown(self) -> str:
        return (f"phase-1 test accuracy per seed: {np.round(self.test_acc, 3).tolist()}; "
                f"final training loss: {np.array2string(self.train_loss, precision=2)}")


def phase1_fit(run: runs.Run) -> Phase1Fit:
    return Phase1Fit(test_acc=run.metrics["test_acc"][-1], train_loss=run.metrics["train_loss"][-1])


@dataclass
class DecayDrift:
    """One phase-2 ensemble read member by member: the drift step t_d of each member (first
    crossing of agreement 1/2, inf: none in the budget), its drift point ηλt_d, and the
    reductions over members and seeds that the chapters record. Members with λ = 0 are the
    control; the rest are "decayed". Every ``*_by_seed`` is one number per phase-1 network."""

    members: list
    steps: np.ndarray       # [T]
    agreement: np.ndarray   # [T, K] conflict-set agreement
    t_d: np.ndarray         # [K]
    metrics: dict           # the run's other curves (pathway norms, losses)

    @property
    def eta_lambda(self) -> np.ndarray:
        return eta_lambda(self.members)

    @property
    def sources(self) -> np.ndarray:
        return np.array([m.source for m in self.members])

    @property
    def decayed(self) -> np.ndarray:
        return self.eta_lambda > 0

    @property
    def control(self) -> np.ndarray:
        return self.eta_lambda == 0

    @property
    def x(self) -> np.ndarray:
        """ηλt_d of every member (inf: no drift; nan: a λ = 0 member that does not drift)."""
        with np.errstate(invalid="ignore"):  # 0 * inf
            return self.eta_lambda * self.t_d

    @property
    def x_d(self) -> np.ndarray:
        """ηλt_d of the decayed members."""
        return self.x[self.decayed]

    # lowest agreement: "no drift" rules
    @property
    def control_min(self) -> float:
        return float(self.agreement[:, self.control].min())

    @property
    def control_min_by_seed(self) -> np.ndarray:
        return per_seed(self.agreement[:, self.control].min(0), self.sources[self.control], np.min)

    @property
    def lowest(self) -> float:
        """Lowest agreement of any member at any evaluation."""
        return float(self.agreement.min())

    @property
    def lowest_by_seed(self) -> np.ndarray:
        return per_seed(self.agreement.min(0), self.sources, np.min)

    # which decayed members drift, and where
    @property
    def drifted_fraction(self) -> float:
        return float(np.isfinite(self.t_d[self.decayed]).mean())

    @property
    def drifted_by_seed(self) -> np.ndarray:
        return per_seed(np.isfinite(self.t_d[self.decayed]), self.sources[self.decayed])

    @property
    def n_decayed(self) -> int:
        return int(self.decayed.sum())

    @property
    def n_drifted(self) -> int:
        return int(np.isfinite(self.x_d).sum())

    @property
    def mean_x(self) -> float:
        return float(np.mean(self.x_d))

    @property
    def x_min(self) -> float:
        return float(np.min(self.x_d))

    @property
    def x_max(self) -> float:
        return float(np.max(self.x_d))

    @property
    def mean_x_by_seed(self) -> np.ndarray:
        return per_seed(self.x_d, self.sources[self.decayed])

    @property
    def earliest_drift(self) -> float:
        """Smallest ηλt_d of a decayed member that held the goal at the first evaluation
        (a member below one half from the start never held it: not a drift)."""
        x = self.x
        return float(np.min(x[self.decayed & (x > 0)], initial=np.inf))

    # the collapse on the ηλt clock
    @property
    def spread(self) -> float:
        return collapse_spread(self.x_d)

    @property
    def spread_by_seed(self) -> np.ndarray:
        return per_seed(self.x_d, self.sources[self.decayed], collapse_spread)

    @property
    def raw_spread(self) -> float:
        """The spread of the drift steps themselves (no clock)."""
        return collapse_spread(self.t_d[self.decayed])

    @property
    def sqrt_clock_spread(self) -> float:
        """The spread on the rotational clock √(ηλ) t_d."""
        with np.errstate(invalid="ignore"):  # 0 * inf of the λ = 0 members, dropped below
            clock = np.sqrt(self.eta_lambda) * self.t_d
        return collapse_spread(clock[self.decayed])

    @property
    def slope(self) -> float:
        """Log-log slope of t_d against ηλ over all decayed members."""
        return loglog_slope(self.eta_lambda[self.decayed], self.t_d[self.decayed])

    @property
    def slope_by_seed(self) -> np.ndarray:
        d = self.decayed
        return loglog_slope_by_source(self.eta_lambda[d], self.t_d[d], self.sources[d])

    @property
    def mean_seed_slope(self) -> float:
        return float(np.mean(self.slope_by_seed))

    # the weights' norm at the drift
    @property
    def norm_ratio_d(self) -> np.ndarray:
        """Total weight norm at t_d over its phase-2 start, per decayed member (nan: no drift)."""
        norm, d = self.metrics["total_norm"], self.decayed
        return value_at(self.steps, norm, self.t_d)[d] / norm[0, d]

    @property
    def norm_ratio(self) -> float:
        return float(np.nanmean(self.norm_ratio_d))

    @property
    def norm_ratio_by_seed(self) -> np.ndarray:
        return per_seed(self.norm_ratio_d, self.sources[self.decayed], np.nanmean)

    def slowest_budget(self, steps: int) -> float:
        """ηλt reached in ``steps`` by the slowest decayed member."""
        return float(self.eta_lambda[self.decayed].min() * steps)

    def member(self, source: int, lr: float, weight_decay: float) -> int:
        """Index of the member continuing ``source`` at (η, λ)."""
        return [i for i, m in enumerate(self.members)
                if m.source == source and m.lr == lr and m.weight_decay == weight_decay][0]


def decay_drift(run: runs.Run, members: list[Member]) -> DecayDrift:
    """Read a phase-2 run of ``members``."""
    m = run.metrics
    return DecayDrift(members=list(members), steps=m["step"], agreement=m["conflict_agreement"],
                      t_d=drift_step(m["step"], m["conflict_agreement"]), metrics=m)


def phase2_drift(setup: Setup, start, members: list[Member], steps: int, **phase2_options) -> DecayDrift:
    """``phase2`` of ``members`` from ``start``, read by ``decay_drift``."""
    return decay_drift(phase2(setup, start, members, steps, **phase2_options), members)


def groups_table(groups: dict) -> str:
    """The outcome of ``loss_optimiser_groups`` as a Markdown table, one row per group."""
    return markdown_table(
        ["loss", "optimiser", "$\\eta$", "$\\lambda$", "drift (1 - final agreement)", "min final train acc"],
        [[loss_name, kind, f"{g.lr:g}", f"{wd:g}", f"{g.drift:.2f}", f"{g.train_acc:.2f}"]
         for (loss_name, kind, wd), g in sorted(groups.items())])


def loss_share(loss_only: float, with_decay: float) -> float:
    """The drift of the λ = 0 group as a fraction of the drift with decay (same loss, optimiser, budget)."""
    return loss_only / max(with_decay, 1e-12)


@dataclass
class ComplexitySweep:
    """``drift_point`` of every (family, k) task of a complexity sweep."""

    points: dict  # {(family, k): DriftPoint}
    n_seeds: int

    def drifted(self, key) -> np.ndarray:
        """Whether each seed's network of task ``key`` drifted in the budget (one member per seed)."""
        return np.isfinite(self.points[key].x)

    def drifted_fraction(self, key) -> float:
        return float(self.drifted(key).mean())

    def mean_x(self, key) -> float:
        """Mean ηλt_d of task ``key``; inf where some seed did not drift."""
        g = self.points[key]
        return np.mean(g.x) if np.all(np.isfinite(g.x)) else float("inf")

    def deviation_by_seed(self, keys, predicted: float) -> np.ndarray:
        """Per seed, the largest relative deviation of ηλt_d from ``predicted`` over the tasks ``keys``."""
        return worst_relative_deviation([self.points[key].x for key in keys], predicted)

    def worst_deviation(self, keys, predicted: float) -> float:
        return float(np.max(self.deviation_by_seed(keys, predicted)))

    def table(self) -> str:
        return markdown_table(
            ["family", "k", "phase-1 test acc (min)", "phase-1 train loss (max)", "$\\eta\\lambda t_d$ (mean)", "drifted"],
            [[family, kk, f"{g.phase1_test_acc:.3f}", f"{g.phase1_train_loss:.2g}", f"{self.mean_x((family, kk)):.3f}",
              f"{np.isfinite(g.x).sum()}/{self.n_seeds}"] for (family, kk), g in self.points.items()])


def complexity_sweep(design: Design, families: dict, lr: float, weight_decay: float, steps: int,
                     eval_every: int) -> ComplexitySweep:
    """``drift_point`` for every family and k (``families``: {family: ks}), each with its family's
    phase-1 schedule, then phase 2 at one (η, λ) for ``steps``."""
    points = {}
    for family, ks in families.items():
        for kk in ks:
            points[(family, kk)] = drift_point(design.setup(kk, family), design.seeds, *design.schedule(family),
                                               lr, weight_decay, steps, eval_every)
    return ComplexitySweep(points, design.n_seeds)


@dataclass
class OptimiserDrift:
    """1 - final conflict agreement per seed under each named optimiser setting (one member per seed)."""

    finals: dict  # {name: [seeds]}

    def mean(self, name: str) -> float:
        return float(self.finals[name].mean())

    def difference(self, a: str, b: str) -> np.ndarray:
        """Drift under ``a`` minus drift under ``b``, paired by seed."""
        return self.finals[a] - self.finals[b]

    def mean_difference(self, a: str, b: str) -> float:
        return float(self.difference(a, b).mean())

    def table(self) -> str:
        return markdown_table(["optimiser ($\\lambda=0$)", "drift per seed", "mean"],
                              [[k, np.round(v, 2).tolist(), f"{v.mean():.2f}"] for k, v in self.finals.items()])


def optimiser_drift(setup: Setup, start, n_seeds: int, settings: dict, steps: int, eval_every: int) -> OptimiserDrift:
    """Continue every seed with λ = 0 under each setting ({name: (kind, η, Adam's ε)})."""
    finals = {}
    for name, (kind, lr, eps) in settings.items():
        r = phase2(setup, start, grid(n_seeds, [lr], [0.0]), steps, kind=kind, eps=eps, eval_every=eval_every)
        finals[name] = 1 - r.metrics["conflict_agreement"][-1]
    return OptimiserDrift(finals)
