"""Cleanup derivations against simulation, finite differences and tables."""

import math

import numpy as np
import pytest
import sympy as sp
import torch

from goaldrift.engine.optim import EnsembleOptimizer
from goaldrift.theory import cleanup as th
from goaldrift.theory.derivation import numeric
from goaldrift.stats import student_t_quantile


def test_norm_decay_matches_adamw_with_zero_gradient():
    eta, lam, steps = 3e-3, 1.0, 500
    w = torch.nn.Parameter(torch.randn(1, 50, dtype=torch.float64))
    n0 = w.detach().norm().item()
    opt = EnsembleOptimizer([("w", w)], kind="adamw", lr=eta, weight_decay=lam)
    for _ in range(steps):
        w.grad = torch.zeros_like(w)
        opt.step()
    discrete = th.norm_decay().steps[-1].rhs
    predicted = float(discrete.subs({th.eta: eta, th.lam: lam, th.t: steps, th.N0: n0}))
    assert w.detach().norm().item() == pytest.approx(predicted, rel=1e-12)
    continuous = float(th.norm_decay().result.subs({th.eta: eta, th.lam: lam, th.t: steps, th.N0: n0}))
    gap = float(th.discrete_to_continuous_gap().subs({th.eta: eta, th.lam: lam, th.t: steps}))
    assert math.log(predicted / continuous) == pytest.approx(gap, rel=1e-2)


def test_delay_from_norm_ratio_by_iterating_the_decay():
    for eta, lam in [(1e-3, 1.0), (3e-3, 0.5), (1e-2, 2.0)]:
        n, steps = 40.0, 0
        while n > 25.0:
            n *= 1 - eta * lam
            steps += 1
        f = numeric(th.cleanup_delay_from_norm_ratio().result, th.N_mem, th.N_gen, th.eta, th.lam)
        tau = f(40.0, 25.0, eta, lam)
        # The per-step factor 1 - x differs from e^{-x} by O(x^2) per step.
        assert steps == pytest.approx(tau, rel=eta * lam + 1 / tau)


def test_delay_exponents_by_finite_differences():
    forms = th.delay_forms()
    subs = {th.C: 7.0, th.N_mem: 40.0, th.N_gen: 25.0, th.alpha: -0.7, th.eta: 2e-3}
    for name, d in forms.items():
        tau = d.steps[0].rhs.subs(subs)
        f = sp.lambdify(th.lam, tau)
        l, h = 1.3, 1e-6
        slope = (math.log(f(l * (1 + h))) - math.log(f(l * (1 - h)))) / (math.log(1 + h) - math.log(1 - h))
        assert slope == pytest.approx(float(d.result.subs(subs)), rel=1e-6), name


def test_rescaled_norm_collapses():
    f = numeric(th.norm_decay().result, th.N0, th.eta, th.lam, th.t)
    # Same eta*lambda*t, different eta, lambda, t: same norm.
    assert f(1.0, 1e-3, 2.0, 500) == pytest.approx(f(1.0, 4e-3, 0.25, 1000))
    assert th.rescaled_norm().result == sp.exp(-sp.Symbol("s", positive=True))


@pytest.mark.parametrize("q,dof,table", [(0.975, 1, 12.706), (0.975, 2, 4.303), (0.975, 4, 2.776),
                                         (0.975, 10, 2.228), (0.95, 5, 2.015), (0.975, 1000, 1.962)])
def test_student_t_quantile_against_the_table(q, dof, table):
    assert student_t_quantile(q, dof) == pytest.approx(table, abs=1.5e-3)


@pytest.mark.parametrize("q", [0.6, 0.9, 0.975, 0.995, 0.9999])
def test_student_t_quantile_against_closed_forms(q):
    """dof 1 (Cauchy) and dof 2 have exact quantiles; large dof follows the
    Cornish-Fisher expansion around the normal quantile."""
    from statistics import NormalDist

    rel = 1e-6 if q <= 0.995 else 1e-5  # the docstring's stated accuracy
    assert student_t_quantile(q, 1) == pytest.approx(math.tan(math.pi * (q - 0.5)), rel=rel)
    assert student_t_quantile(q, 2) == pytest.approx((2 * q - 1) / math.sqrt(2 * q * (1 - q)), rel=rel)
    z, nu = NormalDist().inv_cdf(q), 10_000
    cornish_fisher = z + (z**3 + z) / (4 * nu) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * nu**2)
    assert student_t_quantile(q, nu) == pytest.approx(cornish_fisher, rel=rel)


def test_power_law_fit_recovers_a_known_exponent():
    rng = np.random.default_rng(0)
    x = np.tile(np.geomspace(1e-3, 1e-2, 5), 6)
    seeds = np.repeat(np.arange(6), 5)
    y = 3.0 * x**-0.8 * np.exp(0.05 * rng.standard_normal(x.size))
    fit = th.fit_power_law(x, y, seeds)
    assert fit.exponent == pytest.approx(-0.8, abs=0.05)
    assert fit.ci_low < -0.8 < fit.ci_high
    assert fit.prefactor == pytest.approx(3.0, rel=0.1)
    assert len(fit.per_seed) == 6 and fit(1e-3) == pytest.approx(fit.prefactor * 1e-3**fit.exponent)


@pytest.mark.slow  # 400 Monte Carlo fits: the coverage band needs them
def test_power_law_interval_has_its_nominal_coverage():
    rng = np.random.default_rng(1)
    x = np.tile(np.geomspace(1e-3, 1e-2, 4), 3)
    seeds = np.repeat(np.arange(3), 4)
    hits = 0
    for _ in range(400):
        y = x**-1.0 * np.exp(0.2 * rng.standard_normal(x.size))
        fit = th.fit_power_law(x, y, seeds)
        hits += fit.ci_low <= -1.0 <= fit.ci_high
    assert 0.91 <= hits / 400 <= 0.99


def test_power_law_fit_refuses_what_it_cannot_fit():
    with pytest.raises(ValueError):
        th.fit_power_law([1, 2], [1, 2], [0, 0])  # one seed: no interval
    with pytest.raises(ValueError):
        th.fit_power_law([1, 1, 2, 3], [1, 2, 3, 4], [0, 0, 1, 1])  # seed 0 has one x
    # Non-positive or non-finite points are dropped, not fitted.
    fit = th.fit_power_law([1, 2, 4, 1, 2, 4, 8], [1, 0.5, 0.25, 2, 1, np.nan, -1], [0, 0, 0, 1, 1, 1, 1])
    assert fit.exponent == pytest.approx(-1.0)


def test_delay_exponent_by_finite_differences():
    """A delay law mixing two powers: its log-log slope in eta*lambda at one point,
    symbolic against a central difference."""
    tau = th.C / (th.eta * th.lam) + 3 * sp.sqrt(th.eta * th.lam)
    slope = th.delay_exponent(tau)
    C, x0, h = 0.02, 0.01, 1e-5
    f = lambda x: math.log(C / x + 3 * math.sqrt(x))
    numeric_slope = (f(x0 * math.exp(h)) - f(x0 * math.exp(-h))) / (2 * h)
    assert float(slope.subs({th.C: C, th.x: x0, th.eta: 0.37})) == pytest.approx(numeric_slope, rel=1e-7)
    assert th.delay_exponent(th.C / (th.eta * th.lam)) == -1


def test_clock_and_critical_norm_by_finite_differences_in_the_memorisation_norm():
    subs = {th.C: 3.0, th.eta: 5e-3, th.lam: 0.3, sp.Symbol("N_c", positive=True): 20.0}
    for name, d in th.clock_and_critical_norm().items():
        f = sp.lambdify(th.N_mem, d.steps[0].rhs.subs(subs))
        n, h = 30.0, 1e-6
        slope = (f(n * (1 + h)) - f(n * (1 - h))) / (math.log(1 + h) - math.log(1 - h))
        assert slope == pytest.approx(float(d.result.subs(subs)), rel=1e-6, abs=1e-9), name
    assert th.clock_and_critical_norm()["clock"].result == 0


def test_rescaling_shift_by_iterating_the_decay_from_a_rescaled_norm():
    # Pure decay from c*N_mem down to N_c, step by step, against ln(c)/(eta*lambda).
    eta, lam, n_mem, n_c = 5e-3, 0.3, 30.0, 20.0

    def steps_to_reach(n):
        k = 0
        while n > n_c:
            n *= 1 - eta * lam
            k += 1
        return k

    shifts = th.rescaling_delay_shift()
    assert shifts["clock"].result == 0
    for c in (0.8, 1.25):
        measured = steps_to_reach(c * n_mem) - steps_to_reach(n_mem)
        predicted = float(shifts["critical norm"].result.subs({th.c_scale: c, th.eta: eta, th.lam: lam}))
        assert measured == pytest.approx(predicted, abs=2 + abs(predicted) * eta * lam)


def test_critical_norm_shifts_are_ln_c_over_eta_lambda():
    shifts = th.critical_norm_shifts((0.8, 1.25), 0.01, 0.3)
    assert shifts[1.25] == pytest.approx(math.log(1.25) / 0.003, rel=1e-12)
    assert shifts[0.8] == pytest.approx(math.log(0.8) / 0.003, rel=1e-12)
    assert th.critical_norm_shifts([1.0], 0.02, 1.0) == {1.0: 0.0}
