"""Drift theory checked against independent numerics (simulation, root finding, minimisation)."""

import math

import numpy as np
import pytest
import torch

from goaldrift.theory import drift as th
from goaldrift.theory.derivation import numeric


@pytest.mark.parametrize("eta_lam, steps", [(1e-3, 300), (0.02, 50)])
def test_aligned_share_matches_a_decayed_relu_network(eta_lam, steps):
    # a one-hidden-layer ReLU network with biases on the hidden layer is degree-2 homogeneous
    g = torch.Generator().manual_seed(0)
    W0, b0, W1 = torch.randn(6, 20, generator=g, dtype=torch.float64), torch.randn(20, generator=g, dtype=torch.float64), torch.randn(20, generator=g, dtype=torch.float64)
    x = torch.randn(30, 6, generator=g, dtype=torch.float64)
    f0 = torch.relu(x @ W0 + b0) @ W1
    c = 1.0
    for _ in range(steps):
        c *= 1 - eta_lam
    ft = torch.relu(x @ (c * W0) + c * b0) @ (c * W1)
    per_step = numeric(th.aligned_share().steps[0].rhs, th.A0, th.eta, th.lam, th.L, th.t)
    assert np.allclose((ft / f0).numpy(), per_step(1.0, eta_lam, 1.0, 2, steps), rtol=1e-12)
    cont = numeric(th.aligned_share().result, th.A0, th.eta, th.lam, th.L, th.t)(1.0, eta_lam, 1.0, 2, steps)
    assert abs(cont - c**2) < 2 * eta_lam**2 * steps  # e^{-x} vs (1 - x/t)^t: second order


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
def test_drift_point_is_where_shares_cross(depth):
    lo, hi = 0.0, 5.0
    for _ in range(200):  # bisection on A - P = 2 e^{-Lx} - 1
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if 2 * math.exp(-depth * mid) - 1 > 0 else (lo, mid)
    assert float(th.drift_point().result.subs(th.L, depth)) == pytest.approx(lo, abs=1e-12)
    ratio = float(th.norm_ratio_at_drift().result.subs(th.L, depth))
    assert ratio**depth == pytest.approx(0.5)


@pytest.mark.parametrize("eta_lam, depth", [(4e-3, 2), (0.05, 2), (0.01, 3)])
def test_exact_drift_step_by_counting(eta_lam, depth):
    a, steps = 1.0, 0
    while a > 0.5:
        a *= (1 - eta_lam) ** depth
        steps += 1
    t_d = float(th.drift_step_exact().result.subs({th.L: depth, th.eta: eta_lam, th.lam: 1.0}))
    assert steps - 1 < t_d <= steps


def test_pathway_cost_by_minimisation():
    u = np.linspace(0.01, 10, 200001)
    for a in (0.3, 1.0, 4.0):
        assert (u**2 + (a / u) ** 2).min() == pytest.approx(float(th.pathway_cost().result.subs(th.a, a)), rel=1e-6)


def test_cheaper_pathway_wins_numerically():
    shares = np.linspace(0, 1, 11)
    ca, cp = 3.0, 1.0
    costs = ca * shares + cp * (1 - shares)
    assert shares[np.argmin(costs)] == 0.0
    assert float(th.cheaper_pathway_wins().result.subs({th.c_a: ca, th.c_p: cp})) == pytest.approx(np.diff(costs)[0] / 0.1)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_drift_point_and_norm_ratio_as_numbers(depth):
    # independent: A = e^{-L x} meets 1 - A at x = ln2 / L (bisection), and the norm there is e^{-x}
    lo, hi = 1e-9, 10.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if 2 * math.exp(-depth * mid) - 1 > 0 else (lo, mid)
    assert th.drift_point_at(depth) == pytest.approx(lo, rel=1e-12)
    assert th.norm_ratio_at(depth) == pytest.approx(math.exp(-lo), rel=1e-12)
