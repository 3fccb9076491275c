"""The gradient-hacker derivations (H7) against independent numeric checks."""

import numpy as np
import pytest
import torch

from goaldrift import gradient_hacker as gh
from goaldrift.theory import persistence as th


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
    F = th.numeric(th.radial_force().result, th.r, th.q, th.kappa, th.lam)
    r_star = float(th.equilibrium_norm().result.subs({th.q: q, th.kappa: kappa, th.lam: lam}))
    fd = -((r_star + h) * F(r_star + h, q, kappa, lam) - (r_star - h) * F(r_star - h, q, kappa, lam)) / (2 * h)
    predicted = float(th.relaxation_rate().result.subs({th.q: q, th.kappa: kappa, th.lam: lam}))
    assert -fd == pytest.approx(predicted, rel=1e-6)


def test_radial_force_matches_autograd():
    data = gh.make_data(64, 4, seed=2)
    g = gh.initial_goal(5, 0.7, seed=2)[None].clone().requires_grad_()
    gh.member_losses(g, data.h, kappa=1.1).sum().backward()
    F = th.numeric(th.radial_force().result, th.r, th.q, th.kappa, th.lam)
    predicted = F(0.7, data.q, 1.1, 0.0) * g.detach()
    assert torch.allclose(g.grad, predicted, rtol=1e-12, atol=0)


def test_data_has_unit_power_and_uncoupled_loss_ignores_goal():
    data = gh.make_data(50, 3, seed=1)
    assert data.q == pytest.approx(1.0, rel=1e-14)
    g = torch.ones(2, 4, dtype=torch.float64, requires_grad=True)
    gh.member_losses(g, data.h, 1.0, coupled=False).sum().backward()
    assert torch.all(g.grad == 0)


def test_exempt_goal_is_not_decayed_without_coupling():
    data = gh.make_data(32, 3, seed=0)
    g0 = gh.initial_goal(4, 1.0, seed=0)
    run = gh.train(data, g0, [0.5], 0.1, 1.0, 20, coupled=False, exempt=True)
    assert np.allclose(run.norms[:, 0], 1.0, rtol=1e-14)


def test_gate_and_training_loss_against_their_definition():
    r, kappa, q = 0.6, 0.8, 1.3
    subs = {th.r: r, th.kappa: kappa, th.q: q}
    gate = r**2 / (r**2 + kappa**2)
    assert float(th.gate().subs(subs)) == pytest.approx(gate, rel=1e-14)
    assert float(th.training_loss().subs(subs)) == pytest.approx(_loss(r, q, kappa), rel=1e-14)


def test_exempt_growth_is_minus_the_loss_slope_and_positive():
    q, kappa = 1.3, 0.8
    growth = th.numeric(th.exempt_growth().result, th.r, th.q, th.kappa)
    r = np.linspace(0.05, 5, 50)
    h = 1e-6
    slope = (_loss(r + h, q, kappa) - _loss(r - h, q, kappa)) / (2 * h)
    assert np.allclose(growth(r, q, kappa), -slope, rtol=1e-6)
    assert (growth(r, q, kappa) > 0).all()
