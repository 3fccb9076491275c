"""The cost-ratio drift law checked against an independent simulation of the pathway
equations (explicit Euler on the norms, the loss's pull found by root finding)."""

import math

import pytest

from goaldrift.theory import drift_law as th


def simulate_drift_point(rho: float, a0: float, dx: float = 1e-5, x_max: float = 20.0) -> float:
    # the two pathways' squared norms r^2 = c s, c_p = 1, c_g = rho; each step: decay,
    # then the loss's pull mu chosen so that the shares still sum to one
    ra2, rp2 = rho * a0, 1.0 - a0
    x = 0.0
    while x < x_max:
        A, P = ra2 / rho, rp2
        if A <= 0.5:
            return x
        # ds/dx = 2 s (2 mu / (lambda c) - 1); sum zero -> 2 mu / lambda = (A + P) / (A/rho + P)
        pull = (A + P) / (A / rho + P)
        ra2 += dx * 2 * ra2 * (pull / rho - 1)
        rp2 += dx * 2 * rp2 * (pull - 1)
        x += dx
    return math.inf


def test_share_rate_of_a_decayed_pathway():
    # with no pull (mu = 0) a degree-2 pathway's share falls at rate 2 (e^{-2x})
    rate = th.share_rate().result
    assert float(rate.subs({th.mu: 0, th.s: 0.7})) == pytest.approx(-1.4)


@pytest.mark.parametrize("rho, a0", [(2.0, 0.99), (6.0, 0.999), (20.0, 0.97)])
def test_drift_point_matches_simulation(rho, a0):
    closed = float(th.drift_point_cost_ratio().result.subs({th.rho: rho, th.A0: a0}))
    assert closed == pytest.approx(simulate_drift_point(rho, a0), rel=1e-3)
    assert th.predicted_drift_point(rho, a0) == pytest.approx(closed, rel=1e-12)
    # the rate equation itself, at one point, against the simulation's increments
    A = 0.8
    rate = float(th.aligned_share_rate().result.subs({th.rho: rho, th.A: A}))
    pull = 1 / (A / rho + (1 - A))
    assert rate == pytest.approx(2 * A * (pull / rho - 1), rel=1e-12)


def test_limits():
    assert float(th.free_proxy_limit().result) == pytest.approx(math.log(2) / 2, rel=1e-14)
    assert th.equal_cost_limit().result == th.sp.oo
    assert th.predicted_drift_point(1e9, 1 - 1e-12) == pytest.approx(math.log(2) / 2, rel=1e-3)
    assert th.predicted_drift_point(0.5, 0.99) == math.inf   # dearer proxy: no drift
    assert th.predicted_drift_point(1.0, 0.99) == math.inf
    assert th.predicted_drift_point(3.0, 0.4) == 0.0          # already past the crossing
    assert simulate_drift_point(0.7, 0.99, dx=1e-3) == math.inf


def test_scale_invariant_drift_point_against_a_layernorm_network():
    import torch
    from goaldrift.engine.models import LNMLPConfig, build_model
    d = th.scale_invariant_drift_point()
    L_free = [s for s in d.result.free_symbols][0]
    assert float(d.result.subs(L_free, 1)) == pytest.approx(math.log(2), rel=1e-14)
    assert float(d.result.subs(L_free, 2)) == pytest.approx(math.log(2) / 2, rel=1e-14)
    # independent check: decaying every weight of a LayerNorm network by c scales its output
    # (without readout bias) by c exactly once: the hidden layer is scale-invariant
    net = build_model(LNMLPConfig(d_in=5, d_hidden=16), [3], dtype=torch.float64)
    with torch.no_grad():
        net.b_1.zero_(); net.b_0.normal_()
        x = torch.randn(40, 5, dtype=torch.float64)
        f0 = net.predict(x).clone()
        c = 0.6
        for p in net.parameters():
            p.mul_(c)
        assert torch.allclose(net.predict(x), c * f0, rtol=1e-4, atol=1e-9)  # LN eps breaks it at ~1e-5 relative
        assert not torch.allclose(net.predict(x), c**2 * f0, rtol=1e-2)  # not the degree-2 MLP rule


@pytest.mark.parametrize("l_free", [1, 2])
def test_scale_invariant_drift_point_as_a_number(l_free):
    # independent: e^{-L x} = 1/2
    assert th.scale_invariant_drift_point_at(l_free) == pytest.approx(-math.log(0.5) / l_free, rel=1e-15)
