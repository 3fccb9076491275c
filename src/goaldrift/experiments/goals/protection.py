"""Ways to protect a goal from drift: which weights to freeze or exempt from decay.

Masks are the engine optimiser's element-wise masks: ``{name: bool [K, ...]}``
with True marking a protected element (frozen: neither trained nor decayed;
exempt: trained, never decayed). Three ways to choose the elements:

* by construction: the pathway we built the goal into (the input rows of the
  goal's inputs, the hidden biases, and optionally the readout = read path);
* by attribution: the elements with the largest |θ · ∂M/∂θ|, where M is the
  network's mean aligned margin on phase-1 data (first-order importance);
* at random: the same number of elements, drawn per member from a seeded stream.

It also holds what the chapter's claims record (``Measured``: a value and the
per-seed samples of its interval, with the reductions ``lowest``, ``highest``,
``mean_of`` and ``per_seed``) and the dedicated trigger's experiment (H8).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch

from goaldrift.engine.tasks.proxy import trigger_set
from goaldrift.experiments import plots
from goaldrift.experiments.goals import proxy_drift as drift
from goaldrift.experiments.goals.proxy_drift import complex_inputs, margin
from goaldrift.stats import by_seed as per_seed  # one number per phase-1 network


# ---- what a claim records ------------------------------------------------------------------

@dataclass(frozen=True)
class Measured:
    """What a claim records: its measured value and the samples (one per seed) its interval
    is taken over (one row per seed and a column per member for a worst-of rule)."""

    value: float
    samples: np.ndarray


def lowest(samples) -> Measured:
    """The lowest sample (the worst member of an at-least rule), with the samples."""
    x = np.asarray(samples)
    return Measured(float(x.min()), x)


def highest(samples) -> Measured:
    """The highest sample (the worst member of an at-most rule), with the samples."""
    x = np.asarray(samples)
    return Measured(float(x.max()), x)


def mean_of(samples) -> Measured:
    """The mean of the samples, with the samples."""
    x = np.asarray(samples)
    return Measured(float(np.mean(x)), x)


def attribution_scores(model, x: torch.Tensor, goal: torch.Tensor) -> dict[str, torch.Tensor]:
    """|θ ∂M/∂θ| per element, M = mean over x of goal · margin, per member."""
    params = dict(model.named_parameters())
    for p in params.values():
        p.grad = None
    dev, dt = model.W_0.device, model.W_0.dtype
    m = (margin(model, x.to(dev, dt)) * goal.to(dev, dt)).mean(1).sum()
    grads = torch.autograd.grad(m, list(params.values()))
    return {n: (p.detach() * g).abs() for (n, p), g in zip(params.items(), grads)}


def top_fraction_masks(scores: dict[str, torch.Tensor], fraction: float) -> dict[str, torch.Tensor]:
    """True on each member's ceil(fraction · P) highest-scoring elements (P: all elements)."""
    names = list(scores)
    flat = torch.cat([scores[n].flatten(1) for n in names], dim=1)  # [K, P]
    K, P = flat.shape
    count = min(P, math.ceil(fraction * P))
    chosen = torch.zeros_like(flat, dtype=torch.bool)
    if count:
        top = flat.topk(count, dim=1).indices
        chosen.scatter_(1, top, True)
    return _unflatten(chosen, scores)


def random_masks(shapes: dict[str, torch.Size], fraction: float, seed: int) -> dict[str, torch.Tensor]:
    """True on ceil(fraction · P) elements per member, drawn at random (seeded)."""
    g = torch.Generator().manual_seed(seed)
    K = next(iter(shapes.values()))[0]
    P = sum(math.prod(s[1:]) for s in shapes.values())
    count = min(P, math.ceil(fraction * P))
    chosen = torch.zeros(K, P, dtype=torch.bool)
    for k in range(K):
        chosen[k, torch.randperm(P, generator=g)[:count]] = True
    return _unflatten(chosen, {n: torch.empty(s) for n, s in shapes.items()})


def _unflatten(flat: torch.Tensor, like: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out, i = {}, 0
    for n, t in like.items():
        size = math.prod(t.shape[1:])
        out[n] = flat[:, i:i + size].reshape(t.shape).clone()
        i += size
    return out


def pathway_masks(shapes: dict[str, torch.Size], task, read_path: bool) -> dict[str, torch.Tensor]:
    """The goal's pathway by construction: the input rows of the goal's inputs and the
    hidden biases, plus the readout weights when ``read_path``."""
    masks = {n: torch.zeros(s, dtype=torch.bool) for n, s in shapes.items()}
    masks["W_0"][:, complex_inputs(task), :] = True
    masks["b_0"][:] = True
    if read_path:
        masks["W_1"][:] = True
    return masks


def stack_members(per_member: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Member masks (each ``[1, ...]`` or ``[...]``-with-member-dim) → one ensemble mask."""
    return {n: torch.cat([m[n] for m in per_member]) for n in per_member[0]}


def fraction(masks: dict[str, torch.Tensor]) -> torch.Tensor:
    """Fraction of elements marked, per member."""
    marked = sum(m.flatten(1).sum(1) for m in masks.values())
    total = sum(math.prod(m.shape[1:]) for m in masks.values())
    return marked.to(torch.float64) / total


def largest_frozen_change(start: dict[str, torch.Tensor], end: dict[str, torch.Tensor],
                          frozen: dict[str, torch.Tensor]) -> float:
    """Largest |end - start| over the frozen elements of every parameter (0 when nothing is frozen):
    exactly 0 when freezing works. ``start`` may be in another dtype; it is cast to ``end``'s."""
    return max(float((end[n] - start[n].to(end[n].dtype))[frozen[n]].abs().max()) if frozen[n].any() else 0.0
               for n in frozen)


def no_masks(shapes: dict[str, torch.Size]) -> dict[str, torch.Tensor]:
    return {n: torch.zeros(s, dtype=torch.bool) for n, s in shapes.items()}


def member_shapes(model) -> dict[str, torch.Size]:
    """Parameter shapes of one member (``[1, ...]``), for building per-member masks."""
    return {n: torch.Size([1, *p.shape[1:]]) for n, p in model.named_parameters()}


def trigger_metrics(task):
    """Metric for the backdoor-like goal: reads ``data.trigger_x`` / ``data.trigger_behaviour``
    (attached to the training data, so they join the run's hash)."""

    def fn(model, data, step):
        dev, dt = model.W_0.device, model.W_0.dtype
        m = margin(model, data.trigger_x.to(dev, dt))
        want = data.trigger_behaviour.to(dev, dt)
        return {"trigger_acc": ((m > 0) == (want > 0)).to(torch.float64).mean(1),
                "trigger_margin": (m * want).to(torch.float64).mean(1),
                "trigger_row_norm": model.W_0.detach()[:, task.trigger_bit].to(torch.float64).norm(dim=1)}

    fn.__name__ = "trigger_metrics"
    return fn


# ---- rankings and the sufficient frozen fraction (chapter protecting_goals, H5) ----------

def magnitude_scores(model) -> dict[str, torch.Tensor]:
    """|θ| per element, per member: the ranking that needs neither data nor the goal."""
    return {n: p.detach().abs().clone() for n, p in model.named_parameters()}


def construction_scores(model, task) -> dict[str, torch.Tensor]:
    """The ranking that knows the circuit: every element of the goal's pathway with its
    read path (``pathway_masks(read_path=True)``) above every other element; within each
    part, by |θ|."""
    mags = magnitude_scores(model)
    top = max(float(v.max()) for v in mags.values()) + 1.0
    shapes = {n: torch.Size([1, *v.shape[1:]]) for n, v in mags.items()}
    path = pathway_masks(shapes, task, read_path=True)
    return {n: mags[n] + top * path[n].to(mags[n].dtype) for n in mags}


def first_bracket(fractions, stopped) -> tuple[np.ndarray, np.ndarray]:
    """From a coarse grid, per column (a ranking on one seed): the smallest fraction
    that stops the drift (``hi``; inf if none) and the largest grid fraction below it
    that does not (``lo``; 0 if the smallest grid point already stops it).
    ``fractions`` [F] increasing; ``stopped`` bool [F, C]."""
    fractions, stopped = np.asarray(fractions, dtype=float), np.asarray(stopped, dtype=bool)
    lo, hi = np.zeros(stopped.shape[1]), np.full(stopped.shape[1], np.inf)
    for c in range(stopped.shape[1]):
        ok = np.nonzero(stopped[:, c])[0]
        if ok.size:
            hi[c] = fractions[ok[0]]
            lo[c] = fractions[ok[0] - 1] if ok[0] > 0 else 0.0
    return lo, hi


def bisection_point(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The refinement rule: the geometric midpoint sqrt(lo · hi); with no lower end yet
    (lo = 0), half of hi."""
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    return np.where(lo > 0, np.sqrt(np.maximum(lo, 0) * hi), hi / 2)


def resolved(lo: np.ndarray, hi: np.ndarray, factor: float) -> np.ndarray:
    """Columns whose bracket is within ``factor`` (hi / lo <= factor; never with lo = 0
    or no sufficient fraction)."""
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (lo > 0) & np.isfinite(hi) & (hi / np.where(lo > 0, lo, 1.0) <= factor)


def refine_bracket(lo: np.ndarray, hi: np.ndarray, evaluate, factor: float = 1.3,
                   max_rounds: int = 8) -> tuple[np.ndarray, np.ndarray, int]:
    """Geometric bisection of each column's bracket until hi / lo <= factor. Each round
    calls ``evaluate(columns, fractions) -> bool stopped`` once for all unresolved columns
    (one ensemble run). Columns without a sufficient fraction are left as they are.
    Returns (lo, hi, rounds used)."""
    lo, hi = np.array(lo, dtype=float), np.array(hi, dtype=float)
    for r in range(max_rounds):
        todo = np.nonzero(~resolved(lo, hi, factor) & np.isfinite(hi))[0]
        if todo.size == 0:
            return lo, hi, r
        mid = bisection_point(lo[todo], hi[todo])
        ok = np.asarray(evaluate(todo, mid), dtype=bool)
        hi[todo[ok]] = mid[ok]
        lo[todo[~ok]] = mid[~ok]
    return lo, hi, max_rounds


# ---- the trigger's erasure (chapter protecting_goals, H8) ---------------------------------

def unused_row_error(steps, lr: float, weight_decays, row_norm) -> float:
    """Worst relative error of ||w_t|| / ||w_0|| against (1 - η λ)^t (float64) over the members
    with λ > 0: exactly 0 for weights whose gradient is exactly zero, up to rounding.
    ``steps`` [T], ``weight_decays`` [K], ``row_norm`` [T, K]."""
    steps, wd, row = np.asarray(steps), np.asarray(weight_decays), np.asarray(row_norm)
    factor = (1 - lr * wd)[None, :] ** steps[:, None]
    decays = wd > 0
    return float(np.max(np.abs(row[:, decays] / row[0, decays] - factor[:, decays]) / factor[:, decays]))


def margin_decay_exponents(steps, lr: float, weight_decays, margin, max_x: float = 1.0) -> np.ndarray:
    """Per member with λ > 0: the exponent p of margin(t) ∝ exp(-p η λ t), by least squares on
    log(margin / margin_0) against x = η λ t over the evaluations with x <= ``max_x`` and a
    positive margin; nan where fewer than two evaluations qualify.
    ``steps`` [T], ``weight_decays`` [K], ``margin`` [T, K] → [members with λ > 0]."""
    steps, wd, margin = np.asarray(steps), np.asarray(weight_decays), np.asarray(margin)
    out = []
    for i in np.nonzero(wd > 0)[0]:
        x_i = steps * lr * wd[i]
        window = (x_i <= max_x) & (margin[:, i] > 0)
        out.append(-np.polyfit(x_i[window], np.log(margin[window, i] / margin[0, i]), 1)[0]
                   if window.sum() >= 2 else np.nan)
    return np.array(out)


# ---- the dedicated trigger's run (chapter protecting_goals, H8) ----------------------------

ERASED = 0.75   # trigger accuracy below which the behaviour counts as lost (halfway to chance)
RATE_WINDOW = 1.0   # the exponent is fitted over eta * lambda * t <= RATE_WINDOW


def trigger_lambdas(weight_decay: float) -> list[float]:
    """The trigger runs' weight decays: 0, lambda/4, lambda/2, lambda."""
    return [0.0, weight_decay / 4, weight_decay / 2, weight_decay]


def trigger_members(n_seeds: int, lr: float, weight_decay: float) -> list[drift.Member]:
    """Every seed at every ``trigger_lambdas(weight_decay)``, seed-major."""
    return drift.grid(n_seeds, [lr], trigger_lambdas(weight_decay))


def trigger_eval_every(eval_every: int) -> int:
    """The trigger runs evaluate twice as often as the freezing and memory runs."""
    return max(1, eval_every // 2)


def trigger_target_bit(task) -> int:
    """The triggered behaviour is the sign of the last input bit, which the goal never reads."""
    return task.n_bits - 1


@dataclass
class TriggerRun:
    """Phase 2 of networks trained with a triggered behaviour, on data where it is never
    exercised: per seed, every ``trigger_lambdas``."""

    run1: object      # the phase-1 run
    run: object       # the phase-2 run
    members: list     # drift.Member per phase-2 member
    lr: float
    data: object      # the phase-2 data, with the held-out trigger set attached

    @property
    def metrics(self) -> dict:
        return self.run.metrics

    @property
    def steps(self) -> np.ndarray:
        return self.run.metrics["step"]

    @property
    def weight_decays(self) -> np.ndarray:
        return np.array([m.weight_decay for m in self.members])

    @property
    def decays(self) -> np.ndarray:
        """bool per member: lambda > 0."""
        return self.weight_decays > 0

    @property
    def sources(self) -> np.ndarray:
        """The phase-1 network of each decayed member (the seeds of the erasure intervals)."""
        return np.array([m.source for m in self.members])[self.decays]


def dedicated_trigger(setup: drift.Setup, seeds: list[int], phase1: tuple, n_seeds: int, lr: float,
                      weight_decay: float, steps: int, eval_every: int, n_trigger: int, seed: int,
                      root=None) -> TriggerRun:
    """A trigger on a dedicated input (zero on all other data): phase 1 (``phase1`` =
    (lr, weight decay, steps)) on phase-1 data plus ``n_trigger`` trigger examples; phase 2 on
    phase-1 data without any, the held-out trigger set (stream ``seed + 1``) attached."""
    task = replace(setup.task, trigger=True)
    trig_setup = replace(setup, task=task)
    target = trigger_target_bit(task)
    tx, ty = trigger_set(task, n_trigger, seed, target)
    run1 = drift.phase1(trig_setup, seeds, *phase1, extra=dict(extra_x=tx, extra_goal=ty), root=root)
    data = trig_setup.data(1)
    data.trigger_x, data.trigger_behaviour = [t.float() for t in trigger_set(task, n_trigger, seed + 1, target)]
    members = trigger_members(n_seeds, lr, weight_decay)
    run = drift.phase2(trig_setup, run1, members, steps, eval_every=trigger_eval_every(eval_every), data=data,
                       extra_metrics={"trigger": trigger_metrics(task)}, root=root)
    return TriggerRun(run1, run, members, lr, data)


def trigger_row_error(trig: TriggerRun) -> float:
    """``unused_row_error`` of the trigger input weights of the decayed members."""
    return unused_row_error(trig.steps, trig.lr, trig.weight_decays, trig.metrics["trigger_row_norm"])


def trigger_row_change_without_decay(trig: TriggerRun) -> float:
    """Largest change of the trigger input weights' norm over the members with lambda = 0."""
    row, d = trig.metrics["trigger_row_norm"], trig.decays
    return float(np.max(np.abs(row[:, ~d] - row[0, ~d])))


@dataclass(frozen=True)
class Erasure:
    """How a triggered behaviour is erased in a ``TriggerRun``."""

    exponents: np.ndarray   # [decayed members] p of margin ∝ exp(-p ηλt), fitted over ηλt <= RATE_WINDOW
    exponent: Measured      # their mean; samples: the mean per seed
    survival: np.ndarray    # [decayed members] ηλt at which the trigger accuracy first falls below ERASED
    spread: Measured        # collapse_spread (std of log) of ``survival``; samples: the spread per seed
    without_decay: Measured  # lowest final trigger accuracy over the members with lambda = 0
    main_goal_kept: float   # lowest final test accuracy of the main goal over all members

    @property
    def survival_mean(self) -> float:
        return float(np.mean(self.survival))


def erasure(trig: TriggerRun) -> Erasure:
    """The erasure measures of a trigger run (dedicated or entangled)."""
    m, wd, d, src = trig.metrics, trig.weight_decays, trig.decays, trig.sources
    exponents = margin_decay_exponents(trig.steps, trig.lr, wd, m["trigger_margin"], max_x=RATE_WINDOW)
    survival = drift.drift_step(trig.steps, m["trigger_acc"][:, d], threshold=ERASED) * trig.lr * wd[d]
    return Erasure(exponents=exponents, exponent=Measured(float(np.mean(exponents)), per_seed(exponents, src)),
                   survival=survival,
                   spread=Measured(drift.collapse_spread(survival), per_seed(survival, src, drift.collapse_spread)),
                   without_decay=lowest(m["trigger_acc"][-1, ~d]), main_goal_kept=float(m["test_acc"][-1].min()))


def lambda_colour(weight_decays, wd: float) -> str:
    """One colour per weight decay of a trigger run (in increasing order)."""
    return plots.COLORS[list(np.unique(weight_decays)).index(wd)]


def plot_trigger(trig: TriggerRun):
    """Seed 0's trigger margin and input weights relative to their start (against e^{-ηλt} and
    e^{-2ηλt}), and its trigger accuracy, on the ηλt axis. Returns the figure."""
    fig, (ax1, ax2) = plots.panels(2)
    m, wd = trig.metrics, trig.weight_decays
    margin_, row = m["trigger_margin"], m["trigger_row_norm"]
    for i, member in enumerate(trig.members):
        if member.source != 0 or wd[i] == 0:
            continue
        c = lambda_colour(wd, wd[i])
        x_i = trig.steps * trig.lr * wd[i]
        ax1.semilogy(x_i, margin_[:, i] / margin_[0, i], color=c, label=f"margin, $\\lambda$={wd[i]:g}")
        ax1.semilogy(x_i, row[:, i] / row[0, i], color=c, linestyle=":")
        ax2.plot(x_i, m["trigger_acc"][:, i], color=c, label=f"$\\lambda$={wd[i]:g}")
    grid_x = np.linspace(0, 2, 100)
    ax1.semilogy(grid_x, np.exp(-grid_x), **plots.PREDICTED, label="$e^{-\\eta\\lambda t}$ (H1)")
    ax1.semilogy(grid_x, np.exp(-2 * grid_x), color="black", linestyle="-.", linewidth=1.0,
                 label="$e^{-2\\eta\\lambda t}$")
    ax1.set(xlabel="$\\eta\\lambda t$", ylabel="relative to phase-2 start",
            title="trigger margin (solid), input weights (dotted)", xlim=(0, 2), ylim=(1e-2, 1.2))
    ax2.set(xlabel="$\\eta\\lambda t$", ylabel="trigger behaviour accuracy", title="survival of the trigger goal",
            xlim=(0, 2))
    ax1.legend(fontsize=7)
    ax2.legend(fontsize=7)
    return fig
