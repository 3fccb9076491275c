"""The gradient-hacker derivations (H7) against independent numeric checks."""

import numpy as np
import pytest

from goaldrift.theory import persistence as th
from goaldrift.theory.derivation import numeric


def _loss(r, q=1.0, kappa=0.8):
    return q / 2 * (kappa**2 / (r**2 + kappa**2)) ** 2


def test_equilibrium_by_brute_force_minimisation():
    q, kappa, lam = 1.3, 0.8, 0.9
    r = np.linspace(0, 5, 2_000_001)
    objective = _loss(r, q, kappa) + lam / 2 * r**2
    i = np.argmin(objective)
    predicted = float(th.equilibrium_norm().result.subs({th.q: q, th.kappa: kappa, th.lam: lam}))
    assert r[i] == pytest.approx(predicted, abs=1e-5)
    loss = float(th.equilibrium_loss().result.subs({th.q: q, th.kappa: kappa, th.lam: lam}))
    assert _loss(r[i], q, kappa) == pytest.approx(loss, rel=1e-5)


def test_critical_decay_by_brute_force():
    q, kappa = 1.3, 0.8
    crit = float(th.critical_decay().result.subs({th.q: q, th.kappa: kappa}))
    r = np.linspace(0, 5, 200_001)
    for lam, zero in [(0.9 * crit, False), (1.02 * crit, True)]:
        assert bool(r[np.argmin(_loss(r, q, kappa) + lam / 2 * r**2)] == 0) == zero


def test_relaxation_rate_by_finite_differences():
    q, kappa, lam, h = 1.0, 1.0, 0.5, 1e-6
    F = numeric(th.radial_force().result, th.r, th.q, th.kappa, th.lam)
    r_star = float(th.equilibrium_norm().result.subs({th.q: q, th.kappa: kappa, th.lam: lam}))
    fd = -((r_star + h) * F(r_star + h, q, kappa, lam) - (r_star - h) * F(r_star - h, q, kappa, lam)) / (2 * h)
    predicted = float(th.relaxation_rate().result.subs({th.q: q, th.kappa: kappa, th.lam: lam}))
    assert -fd == pytest.approx(predicted, rel=1e-6)


def test_gate_and_training_loss_against_their_definition():
    r, kappa, q = 0.6, 0.8, 1.3
    subs = {th.r: r, th.kappa: kappa, th.q: q}
    gate = r**2 / (r**2 + kappa**2)
    assert float(th.gate().subs(subs)) == pytest.approx(gate, rel=1e-14)
    assert float(th.training_loss().subs(subs)) == pytest.approx(_loss(r, q, kappa), rel=1e-14)


def test_exempt_growth_is_minus_the_loss_slope_and_positive():
    q, kappa = 1.3, 0.8
    growth = numeric(th.exempt_growth().result, th.r, th.q, th.kappa)
    r = np.linspace(0.05, 5, 50)
    h = 1e-6
    slope = (_loss(r + h, q, kappa) - _loss(r - h, q, kappa)) / (2 * h)
    assert np.allclose(growth(r, q, kappa), -slope, rtol=1e-6)
    assert (growth(r, q, kappa) > 0).all()


def test_critical_decay_at_numbers_is_two_q_over_kappa_squared():
    assert th.critical_decay_at(1.3, 0.8) == pytest.approx(2 * 1.3 / 0.8**2, rel=1e-15)
