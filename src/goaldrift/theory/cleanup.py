"""Derivations for the cleanup chapters (hypothesis H3): cleanup as weight decay at work.

The picture. After memorisation the training loss is nearly zero, so if
weight decay were the only force, every weight would shrink by 1 - ηλ per
step (decoupled AdamW), i.e. the norm would follow N_0 e^{-ηλt}. If the
network generalises once its norm has fallen by a fixed ratio N_mem/N_gen
(the memorising circuit is too expensive to keep), the delay between
memorisation and generalisation is ln(N_mem/N_gen)/(ηλ): inversely
proportional to ηλ, with curves that collapse when plotted against ηλt.
Omnigrok's t ∝ 1/γ is the same exponent. The chapter measures the exponent
instead of assuming it; ``fit_power_law`` gives it with a seed-based interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import sympy as sp

from goaldrift.theory.derivation import Derivation, numeric
from goaldrift.stats import student_t_quantile

eta, lam, t = sp.symbols("eta lambda t", positive=True)
N0, N_mem, N_gen, C = sp.symbols("N_0 N_mem N_gen C", positive=True)
alpha = sp.Symbol("alpha", real=True)
x = sp.Symbol("x", positive=True)  # x = eta * lambda (the decay rate per step)


def norm_decay() -> Derivation:
    """Norm under decay alone: dN/dt = -ηλN (continuous) and N_t = (1-ηλ)^t N_0 (per step)."""
    N = sp.Function("N")
    ode = sp.Eq(N(t).diff(t), -eta * lam * N(t))
    solution = sp.dsolve(ode, N(t), ics={N(0): N0}).rhs
    discrete = (1 - eta * lam) ** t * N0
    return Derivation(solution, (ode, sp.Eq(N(t), solution), sp.Eq(sp.Symbol("N_t"), discrete)))


def discrete_to_continuous_gap() -> sp.Expr:
    """ln of (1-ηλ)^t / e^{-ηλt} to leading order: -(ηλ)² t / 2 (negligible for ηλ ≪ 1)."""
    exact = t * sp.log(1 - x) + x * t
    return sp.series(exact, x, 0, 3).removeO().subs(x, eta * lam)


def cleanup_delay_from_norm_ratio() -> Derivation:
    """Steps for pure decay to take the norm from N_mem to N_gen: ln(N_mem/N_gen)/(ηλ)."""
    tau = sp.Symbol("tau", positive=True)
    equation = sp.Eq(N_mem * sp.exp(-eta * lam * tau), N_gen)
    solved = sp.solve(equation, tau)[0]
    # Written as a log of the ratio; the assertion keeps the rewrite honest.
    solution = sp.log(N_mem / N_gen) / (eta * lam)
    assert sp.simplify(sp.expand_log(solved - solution, force=True)) == 0
    return Derivation(solution, (equation, sp.Eq(tau, solution)))


def delay_exponent(delay: sp.Expr) -> sp.Expr:
    """Log-log slope d ln τ / d ln(ηλ) of a delay law τ(η, λ)."""
    as_x = delay.subs(lam, x / eta)
    return sp.simplify(sp.diff(sp.log(as_x), x) * x)


def delay_forms() -> dict[str, Derivation]:
    """The delay laws in the literature, each with its log-log exponent in ηλ."""
    forms = {
        "Omnigrok": C / (eta * lam),
        "norm ratio": cleanup_delay_from_norm_ratio().result,
        "power law": C * (eta * lam) ** alpha,
    }
    out = {}
    tau = sp.Symbol("tau", positive=True)
    slope = sp.Symbol(r"\frac{d\ln\tau}{d\ln(\eta\lambda)}")
    for name, delay in forms.items():
        exponent = delay_exponent(delay)
        out[name] = Derivation(exponent, (sp.Eq(tau, delay), sp.Eq(slope, exponent)))
    return out


def rescaled_norm() -> Derivation:
    """Under decay alone, N/N_0 depends on η, λ and t only through x = ηλt."""
    s = sp.Symbol("s", positive=True)
    ratio = sp.simplify(norm_decay().result / N0)
    collapsed = ratio.subs(t, s / (eta * lam))
    return Derivation(collapsed, (sp.Eq(sp.Symbol("N(t)/N_0"), ratio), sp.Eq(sp.Symbol(r"N/N_0"), collapsed),
                                  sp.Eq(s, eta * lam * t)))


c_scale = sp.Symbol("c", positive=True)  # factor every weight is multiplied by at the switch


def clock_and_critical_norm() -> dict[str, Derivation]:
    """The two explanations of the delay, as laws for tau(eta, lambda, N_mem).

    *Clock*: generalisation comes a fixed amount of decay after memorisation,
    tau = C/(eta lambda), whatever the norm. *Critical norm* (Omnigrok):
    generalisation comes when the norm reaches a level N_c; if decay alone moves
    the norm, tau = ln(N_mem/N_c)/(eta lambda). Both have exponent -1 in eta*lambda,
    so the exponent alone cannot tell them apart; they differ in how tau depends
    on the norm at memorisation.
    """
    N_c = sp.Symbol("N_c", positive=True)
    tau = sp.Symbol("tau", positive=True)
    laws = {"clock": C / (eta * lam),
            "critical norm": cleanup_delay_from_norm_ratio().result.subs(N_gen, N_c)}
    out = {}
    for name, law in laws.items():
        d_ln_nmem = sp.simplify(sp.diff(law, N_mem) * N_mem)  # d tau / d ln N_mem
        out[name] = Derivation(d_ln_nmem, (sp.Eq(tau, law), sp.Eq(sp.Symbol(r"\frac{\partial\tau}{\partial\ln N_{mem}}"), d_ln_nmem)))
    return out


def rescaling_delay_shift() -> dict[str, Derivation]:
    """Shift of the delay when every weight is multiplied by c at memorisation
    (N_mem -> c N_mem): ln(c)/(eta lambda) under the critical norm, 0 under the clock."""
    out = {}
    tau_shift = sp.Symbol(r"\Delta\tau", real=True)
    for name, d in clock_and_critical_norm().items():
        law = d.steps[0].rhs
        shift = sp.simplify(sp.expand_log(law.subs(N_mem, c_scale * N_mem) - law, force=True))
        out[name] = Derivation(shift, (sp.Eq(tau_shift, shift),))
    return out


# ---- fitting the exponent with seed-based uncertainty ----------------------------------


@dataclass
class PowerLawFit:
    """y ≈ prefactor · x^exponent, the exponent with a seed-based interval.

    ``per_seed`` holds one least-squares log-log slope per seed; the exponent
    is their mean, ``stderr`` their standard error, and [ci_low, ci_high] the
    Student-t interval at ``level``. ``prefactor`` is from the pooled fit
    with the exponent fixed at the mean (for drawing the line).
    """

    exponent: float
    prefactor: float
    per_seed: np.ndarray
    stderr: float
    ci_low: float
    ci_high: float
    level: float

    @property
    def half_width(self) -> float:
        return 0.5 * (self.ci_high - self.ci_low)

    def __call__(self, xs):
        return self.prefactor * np.asarray(xs, dtype=float) ** self.exponent


def fit_power_law(xs, ys, seeds, level: float = 0.95) -> PowerLawFit:
    """Fit log y = a + α log x separately for each seed; α's interval from the seeds.

    Points with non-finite or non-positive x or y are dropped. Each seed
    needs at least two distinct x values; at least two seeds are needed for
    an interval.
    """
    xs, ys, seeds = (np.asarray(v) for v in (xs, ys, seeds))
    ok = np.isfinite(xs) & np.isfinite(ys) & (xs > 0) & (ys > 0)
    xs, ys, seeds = xs[ok].astype(float), ys[ok].astype(float), seeds[ok]
    slopes = []
    for s in np.unique(seeds):
        lx, ly = np.log(xs[seeds == s]), np.log(ys[seeds == s])
        if len(np.unique(lx)) < 2:
            raise ValueError(f"seed {s} has fewer than two distinct x values to fit")
        slopes.append(np.polyfit(lx, ly, 1)[0])
    slopes = np.array(slopes)
    if len(slopes) < 2:
        raise ValueError("need at least two seeds for a seed-based interval")
    mean = float(slopes.mean())
    se = float(slopes.std(ddof=1) / math.sqrt(len(slopes)))
    half = student_t_quantile(0.5 + level / 2, len(slopes) - 1) * se
    prefactor = float(np.exp(np.mean(np.log(ys) - mean * np.log(xs))))
    return PowerLawFit(mean, prefactor, slopes, se, mean - half, mean + half, level)


def critical_norm_shifts(scales, eta_value: float, lam_value: float) -> dict:
    """The critical-norm law's shift of the delay, ln(c)/(ηλ) steps, for each factor c in ``scales``:
    ``rescaling_delay_shift()["critical norm"]`` evaluated at (η, λ) = (``eta_value``, ``lam_value``)."""
    shift_of = numeric(rescaling_delay_shift()["critical norm"].result, c_scale, eta, lam)
    return {c: float(shift_of(c, eta_value, lam_value)) for c in scales}
