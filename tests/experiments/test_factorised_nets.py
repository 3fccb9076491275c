"""goaldrift.experiments.decay.factorised_nets (chapter factorised_simplicity): its
training and numerics against theory and independent checks."""

import math

import numpy as np
import pytest

from goaldrift.experiments.decay import factorised_nets as fn
from goaldrift.theory import factorised as th
from goaldrift.theory.derivation import numeric

RNG = np.random.default_rng(3)


def test_balancedness_gd_factor_matches_one_torch_step():
    lam, eta = 0.25, 0.07
    c = RNG.standard_normal(5)
    U0 = RNG.standard_normal((2, 5))
    run = fn.train_diagonal(c, 2, lam, eta, U0, max_steps=1, grad_tol=0.0)
    r = U0[0] * U0[1] - c
    factor = numeric(th.balancedness_gd_factor().result, th.eta, th.lam, th.sp.Symbol("r", real=True))(eta, lam, r)
    B0, B1 = U0[0] ** 2 - U0[1] ** 2, run.factors[0] ** 2 - run.factors[1] ** 2
    assert np.allclose(B1 / B0, factor, rtol=1e-12)


def test_rk4_flow_matches_closed_form_balancedness():
    lam = 0.4
    u0, v0, c = RNG.standard_normal(4), RNG.standard_normal(4), RNG.standard_normal(4)
    times, B = fn.balancedness_flow_rk4(u0, v0, c, lam, t_end=2.0, dt=0.005)
    assert np.allclose(B, B[0] * np.exp(-2 * lam * times[:, None]), rtol=1e-8)


def test_deep_threshold_and_stationary_product():
    lam, depth = 0.2, 3
    crit = float(th.deep_stationarity().result.subs({th.lam: lam, th.L: depth}))
    # Brute force: the nonzero branch exists iff c >= min_p h(p).
    grid = np.linspace(1e-6, 3, 2_000_001)
    assert np.min(grid + lam * grid ** (2 / depth - 1)) == pytest.approx(crit, rel=1e-6)
    assert fn.deep_stationary_product(0.95 * crit, depth, lam) == 0.0
    p = fn.deep_stationary_product(-1.3, depth, lam)
    assert p < 0 and abs(p) + lam * abs(p) ** (2 / depth - 1) == pytest.approx(1.3, rel=1e-12)


def test_targets_keep_their_margin():
    c = fn.diagonal_targets(200, 0.3, 2.0, 0.2, seed=1)
    gap = np.abs(np.abs(c) - 0.3)
    assert gap.min() >= 0.2 * 0.3 - 1e-12 and np.abs(c).max() <= 2.0


def test_training_diverging_stops_instead_of_hanging():
    run = fn.train_diagonal([1.0, 2.0], 2, 0.1, 5.0, np.ones((2, 2)) * 3, max_steps=500)
    assert run.steps < 500 and not math.isfinite(run.max_grad)  # stopped early, on the divergence


def test_recorded_history_is_the_factors_before_each_step():
    lam, eta, record = 0.2, 0.1, 30
    c = RNG.standard_normal(6)
    U0 = RNG.standard_normal((2, 6))
    run = fn.train_diagonal(c, 2, lam, eta, U0, record=record, grad_tol=1e-6)
    H, R = run.history, run.residuals
    assert H.shape == (record, 2, 6) and R.shape == (record, 6)
    assert np.array_equal(H[0], U0)
    assert np.allclose(R, H[:, 0] * H[:, 1] - c, rtol=1e-14, atol=1e-15)
    # one step of gradient descent with L2, by hand: u' = u - eta (r v + lam u), v' = v - eta (r u + lam v)
    u, v, r = H[:-1, 0], H[:-1, 1], R[:-1]
    assert np.allclose(H[1:, 0], u - eta * (r * v + lam * u), rtol=1e-13)
    assert np.allclose(H[1:, 1], v - eta * (r * u + lam * v), rtol=1e-13)
    assert run.steps >= record and run.steps % fn.CHECK_EVERY == 0 and run.max_grad < 1e-6


def test_factorised_matrix_soft_thresholds_singular_values():
    lam, eta = 0.3, 0.3
    s = fn.spread_singular_values(2, 1, lam, 1.5, 0.5)
    M = fn.matrix_target(3, s, seed=2)
    run = fn.train_factorised_matrix(M, 3, lam, eta, 0.1, seed=2, grad_tol=1e-8)  # 300 steps
    assert run.max_grad < 1e-8 and run.steps % fn.CHECK_EVERY == 0
    assert np.allclose(run.singular_values(), th.soft_threshold(s, lam), atol=1e-6)
