"""Integrated weight decay of a learning-rate schedule (hypothesis H9), in sympy.

Under decoupled decay (PyTorch's AdamW, and plain GD/SGD), a weight the loss
does not use is multiplied by (1 - eta_t lambda) at step t, so over a run it
loses sum_t -ln(1 - eta_t lambda) ~ lambda * sum_t eta_t e-folds. This module
derives the area under the usual schedules: linear warm-up over W steps to
eta, then a cosine (or linear) decay to alpha*eta at step T_d, then alpha*eta
until step T.
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp

from goaldrift.theory.derivation import Derivation, numeric

eta, lam, alpha = sp.symbols("eta lambda alpha", positive=True)
t, W, Td, T = sp.symbols("t W T_d T", positive=True)


def _pieces(decay: str):
    warm = eta * t / W
    s = (t - W) / (Td - W)
    if decay == "cosine":
        middle = eta * (alpha + (1 - alpha) * (1 + sp.cos(sp.pi * s)) / 2)
    elif decay == "linear":
        middle = eta * (alpha + (1 - alpha) * (1 - s))
    else:
        raise ValueError(f"unknown decay {decay!r}; use 'cosine' or 'linear'")
    return warm, middle, alpha * eta


def schedule_integral(decay: str = "cosine") -> Derivation:
    """Area under warm-up + decay + floor: the continuous-time sum of eta_t."""
    warm, middle, floor = _pieces(decay)
    parts = [sp.integrate(warm, (t, 0, W)), sp.simplify(sp.integrate(middle, (t, W, Td))), floor * (T - Td)]
    total = sp.factor(sp.simplify(sum(parts)))
    eta_t = sp.Piecewise((warm, t < W), (middle, t < Td), (floor, True))
    return Derivation(
        total,
        (
            sp.Eq(sp.Symbol(r"\eta_t"), eta_t),
            sp.Eq(sp.Symbol(r"{\int_0^T \eta_t\,dt}"), sum(parts), evaluate=False),
            sp.Eq(sp.Symbol(r"{\int_0^T \eta_t\,dt}"), total),
        ),
    )


def efolds() -> Derivation:
    """e-folds lost by an unused weight: -sum ln(1 - eta_t lambda) = lambda sum eta_t + O(eta^2 lambda^2)."""
    x = sp.Symbol("x", positive=True)
    series = sp.series(-sp.log(1 - x), x, 0, 3).removeO()
    assert sp.expand(series - x - x**2 / 2) == 0
    shown = sp.Symbol(r"{\eta\lambda + \tfrac12\eta^2\lambda^2 + \ldots}")
    return Derivation(series, (sp.Eq(sp.Symbol(r"{-\ln(1-\eta\lambda)}"), shown, evaluate=False),))


def discrete_schedule(peak: float, steps: int, warmup: int, decay_end: int, final_fraction: float,
                      decay: str = "cosine") -> np.ndarray:
    """eta_t for t = 0 .. steps-1: warm-up min(1, (t+1)/W) (LambdaLR style), then the decay
    from peak to final_fraction*peak between W and decay_end, then the floor."""
    t_ = np.arange(steps, dtype=float)
    eta_t = np.empty(steps)
    warm = t_ < warmup
    eta_t[warm] = peak * (t_[warm] + 1) / warmup
    mid = (t_ >= warmup) & (t_ < decay_end)
    s = (t_[mid] - warmup) / max(decay_end - warmup, 1)
    shape = (1 + np.cos(math.pi * s)) / 2 if decay == "cosine" else 1 - s
    eta_t[mid] = peak * (final_fraction + (1 - final_fraction) * shape)
    eta_t[t_ >= decay_end] = peak * final_fraction
    return eta_t


def integral_value(peak: float, steps: int, warmup: int, decay_end: int, final_fraction: float,
                   decay: str = "cosine") -> float:
    f = numeric(schedule_integral(decay).result, eta, W, Td, T, alpha)
    return float(f(peak, warmup, decay_end, steps, final_fraction))


def sum_integral_gap(peak: float, steps: int, warmup: int, decay_end: int, final_fraction: float,
                     decay: str = "cosine") -> float:
    """|sum_t eta_t - closed-form integral| in units of 2 peak: how far the continuous-time
    integral is from the discrete schedule's sum (at most one step at peak on each side)."""
    eta_t = discrete_schedule(peak, steps, warmup, decay_end, final_fraction, decay)
    return abs(eta_t.sum() - integral_value(peak, steps, warmup, decay_end, final_fraction, decay)) / (2 * peak)


def worst_sum_integral_gap(peak: float, steps: int, warmup: int, decay_end: int, final_fraction: float,
                           decays=("cosine", "linear")) -> float:
    """The largest sum_integral_gap over the given decay shapes of one schedule (units of 2 peak)."""
    return max([sum_integral_gap(peak, steps, warmup, decay_end, final_fraction, decay) for decay in decays])
