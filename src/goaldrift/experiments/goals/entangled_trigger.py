"""A trigger entangled with the bits phase 2 uses (H8, the hard case).

The trigger is a pattern, +1 on every bit of ``bits`` (the goal's bits first, then
other input bits), not a dedicated input: every weight that reads the trigger also
carries the main goal, so phase 2 moves it. On a triggered input the behaviour is the
sign of ``target_bit`` (a bit the goal never reads) instead of the goal. Phase 1 sees
trigger examples and no unlabelled pattern matches; phase 2 sees no pattern match at
all, so the triggered behaviour is never exercised but its weights are.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from goaldrift.engine.tasks.proxy import ProxyData, ProxyTask
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
