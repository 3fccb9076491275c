"""A trigger entangled with the bits phase 2 uses (H8, the hard case).

The trigger is a pattern, +1 on every bit of ``bits`` (the goal's bits first, then
other input bits), not a dedicated input: every weight that reads the trigger also
carries the main goal, so phase 2 moves it. On a triggered input the behaviour is the
sign of ``target_bit`` (a bit the goal never reads) instead of the goal. Phase 1 sees
trigger examples and no unlabelled pattern matches; phase 2 sees no pattern match at
all, so the triggered behaviour is never exercised but its weights are.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from goaldrift.engine.tasks.proxy import ProxyData, ProxyTask
from goaldrift.experiments import plots
from goaldrift.experiments.goals import protection as pr
from goaldrift.experiments.goals import proxy_drift as drift
from goaldrift.experiments.goals.protection import Erasure, Measured, TriggerRun
from goaldrift.experiments.goals.proxy_drift import margin


def pattern_bits(task: ProxyTask, size: int) -> list[int]:
    """The trigger's bits: the goal's bits 1..k, then the next input bits, ``size`` in all
    (never bit 0, the proxy, nor the last bit, the target)."""
    if not task.k <= size <= task.n_bits - 2:
        raise ValueError(f"pattern size must be in [k, n_bits - 2] = [{task.k}, {task.n_bits - 2}], got {size}")
    return list(range(1, size + 1))


def matches(x: torch.Tensor, bits: list[int]) -> torch.Tensor:
    """bool [n]: the rows of ``x`` that carry the pattern (+1 on every bit of ``bits``)."""
    return (x[:, bits] > 0).all(dim=1)


def trigger_examples(task: ProxyTask, n: int, seed: int, bits: list[int], target_bit: int):
    """n triggered inputs (random ±1 bits, the pattern set) and their behaviour, the sign
    of ``target_bit``: float64 ``[n, n_bits]`` and ``[n]``."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 2, (n, task.n_bits), generator=g, dtype=torch.float64) * 2 - 1
    x[:, bits] = 1.0
    return x, x[:, target_bit].clone()


def without_pattern(data: ProxyData, bits: list[int]) -> ProxyData:
    """The same data with every training row that carries the pattern removed."""
    keep = ~matches(data.train_x, bits)
    return replace(data, train_x=data.train_x[keep], train_y=data.train_y[keep],
                   train_goal=data.train_goal[keep], train_proxy=data.train_proxy[keep])


def phase1_data(phase1: ProxyData, tx: torch.Tensor, ty: torch.Tensor, bits: list[int]) -> ProxyData:
    """Phase-1 data whose pattern matches are exactly the trigger examples (behaviour
    ``ty``): the natural matches, labelled by the goal, are removed first."""
    base = without_pattern(phase1, bits)
    y = ty.to(base.train_y.dtype)
    return replace(base, train_x=torch.cat([base.train_x, tx.to(base.train_x.dtype)]),
                   train_y=torch.cat([base.train_y, y]),
                   train_goal=torch.cat([base.train_goal, ty.to(base.train_goal.dtype)]),
                   train_proxy=torch.cat([base.train_proxy, tx[:, 0].to(base.train_proxy.dtype)]))


def metrics():
    """Metric fn: accuracy and mean aligned margin of the triggered behaviour on
    ``data.trigger_x`` / ``data.trigger_behaviour`` (attached to the data, so they join
    the run's hash)."""

    def fn(model, data, step):
        dev, dt = model.W_0.device, model.W_0.dtype
        m = margin(model, data.trigger_x.to(dev, dt))
        want = data.trigger_behaviour.to(dev, dt)
        return {"trigger_acc": ((m > 0) == (want > 0)).to(torch.float64).mean(1),
                "trigger_margin": (m * want).to(torch.float64).mean(1)}

    fn.__name__ = "entangled_trigger_metrics"
    return fn


def at_budget(x_axis, values, budget: float):
    """Per member: the value at the first evaluation whose ηλt is at least ``budget``
    (``x_axis``, ``values`` [evals, K]), and that ηλt."""
    x_axis, values = np.asarray(x_axis, dtype=float), np.asarray(values, dtype=float)
    out, where = np.full(values.shape[1], np.nan), np.full(values.shape[1], np.nan)
    for j in range(values.shape[1]):
        i = np.nonzero(x_axis[:, j] >= budget)[0]
        if i.size:
            out[j], where[j] = values[i[0], j], x_axis[i[0], j]
    return out, where


def largest_budget(recipes, stage: str = "fine-tuning"):
    """Among the ``recipes`` of ``stage`` that state a weight decay, the one whose
    ηλt = λ Σ_t η_t (closed-form integral, ``Recipe.lr_integral``) is largest, and that ηλt."""
    stated = [r for r in recipes if r.stage == stage and r.weight_decay is not None]
    best = max(stated, key=lambda r: r.lr_integral() * r.weight_decay)
    return best, best.lr_integral() * best.weight_decay


# ---- the experiment (chapter protecting_goals) --------------------------------------------

def entangled_trigger(setup: drift.Setup, seeds: list[int], phase1: tuple, n_seeds: int, lr: float,
                      weight_decay: float, steps: int, eval_every: int, n_trigger: int, pattern_size: int,
                      seed: int, root=None) -> TriggerRun:
    """Phase 1 (``phase1`` = (lr, weight decay, steps)) on phase-1 data whose pattern matches
    are exactly ``n_trigger`` trigger examples; phase 2 on phase-1 data without any pattern
    match (the main goal stays in use), the held-out trigger set (stream ``seed + 1``)
    attached; members as the dedicated trigger's (``protection.trigger_members``)."""
    task = setup.task
    bits, target = pattern_bits(task, pattern_size), pr.trigger_target_bit(task)
    tx, ty = trigger_examples(task, n_trigger, seed, bits, target)
    run1 = drift.phase1(setup, seeds, *phase1, data=phase1_data(setup.data(1), tx, ty, bits), root=root)
    data = without_pattern(setup.data(1), bits)
    data.trigger_x, data.trigger_behaviour = [
        t.float() for t in trigger_examples(task, n_trigger, seed + 1, bits, target)]
    members = pr.trigger_members(n_seeds, lr, weight_decay)
    run = drift.phase2(setup, run1, members, steps, eval_every=pr.trigger_eval_every(eval_every), data=data,
                       extra_metrics={"trigger": metrics()}, root=root)
    return TriggerRun(run1, run, members, lr, data)


@dataclass(frozen=True)
class EntangledSummary:
    """What the entangled trigger's claims record, against the dedicated trigger's erasure."""

    erasure: Erasure        # the entangled trigger's own erasure measures
    rate_gap: Measured      # per seed: entangled minus dedicated mean exponent; value: the mean
    at_budget: Measured     # lowest trigger accuracy at the first evaluation past ``budget``; samples: per seed
    recipe: object          # the fine-tuning recipe with the largest ηλt
    budget: float           # its ηλt
    glue: dict              # the numbers the prose quotes, by glue name


def summarise(ent: TriggerRun, dedicated: Erasure, recipes, pattern_size: int) -> EntangledSummary:
    """The entangled trigger's erasure, its rate against the ``dedicated`` trigger's, and its
    accuracy at the largest fine-tuning budget among ``recipes``."""
    er = pr.erasure(ent)
    gap = er.exponent.samples - dedicated.exponent.samples
    recipe, budget = largest_budget(recipes, stage="fine-tuning")
    wd, d = ent.weight_decays, ent.decays
    x_members = ent.steps[:, None] * ent.lr * wd[None, :]
    acc, where = at_budget(x_members[:, d], ent.metrics["trigger_acc"][:, d], budget)
    finite = np.isfinite(er.survival)
    glue = {
        "pattern_share": 2.0 ** -pattern_size,
        "ent_p1_trigger_acc": float(metrics()(ent.run1.model, ent.data, 0)["trigger_acc"].min()),
        "ent_exponent": float(np.nanmean(er.exponents)),
        "ded_exponent": float(np.mean(dedicated.exponents)),
        "ent_survival_x": float(np.mean(er.survival[finite])) if finite.any() else float("inf"),
        "ent_never_erased": int((~finite).sum()),
        "ft_budget": float(budget),
        "ent_survival_over_ft": float(np.nanmin(np.where(finite, er.survival, np.nan)) / budget),
        "ft_recipe": recipe.name,
        "ft_where_max": float(np.nanmax(where)),
        "ent_main_goal_kept": er.main_goal_kept,
    }
    return EntangledSummary(er, Measured(float(np.mean(gap)), gap),
                            Measured(float(np.nanmin(acc)), pr.per_seed(acc, ent.sources, np.min)),
                            recipe, budget, glue)


def plot_entangled(ent: TriggerRun, dedicated: TriggerRun, budget: float):
    """Seed 0 on the ηλt axis: the trigger margin relative to its start, entangled (solid)
    against dedicated (dotted), and the entangled trigger's accuracy, with lambda = 0 (on the
    largest lambda's clock) and the fine-tuning ``budget``. Returns the figure."""
    fig, (ax1, ax2) = plots.panels(2)
    wd, em = ent.weight_decays, ent.metrics
    ent_margin, ded_margin = em["trigger_margin"], dedicated.metrics["trigger_margin"]
    for i, member in enumerate(ent.members):
        if member.source != 0 or wd[i] == 0:
            continue
        c = pr.lambda_colour(wd, wd[i])
        x_i = ent.steps * ent.lr * wd[i]
        ax1.semilogy(x_i, np.maximum(ent_margin[:, i] / ent_margin[0, i], 1e-3), color=c,
                     label=f"entangled, $\\lambda$={wd[i]:g}")
        ax1.semilogy(x_i, np.maximum(ded_margin[:, i] / ded_margin[0, i], 1e-3), color=c, linestyle=":")
        ax2.plot(x_i, em["trigger_acc"][:, i], color=c, label=f"$\\lambda$={wd[i]:g}")
    ax2.plot(ent.steps * ent.lr * wd.max(), em["trigger_acc"][:, ent.members.index(drift.Member(0, ent.lr, 0.0))],
             color="grey", label="$\\lambda$=0 (steps as for $\\lambda$)")
    ax2.axvline(budget, **plots.PREDICTED, label="largest fine-tuning $\\eta\\lambda t$")
    ax1.set(xlabel="$\\eta\\lambda t$", ylabel="relative to phase-2 start",
            title="trigger margin: entangled (solid), dedicated (dotted)", xlim=(0, 2), ylim=(1e-3, 1.5))
    ax2.set(xlabel="$\\eta\\lambda t$", ylabel="trigger behaviour accuracy", title="survival of the entangled trigger",
            xlim=(0, 2))
    ax1.legend(fontsize=7)
    ax2.legend(fontsize=7)
    return fig
