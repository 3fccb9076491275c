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


def test_cheapest_factorisation_gap_over_surviving_coordinates_only():
    u, v = np.array([2.0, 1.0, 0.1]), np.array([2.0, 4.0, 0.3])
    run = fn.DiagonalRun(np.stack([u, v]), u * v, steps=1, max_grad=0.0)
    # |c| > lambda for the first two: gaps |u^2 + v^2 - 2|uv|| / (2|uv|) = 0 and 9/8; the third is ignored
    assert fn.cheapest_factorisation_gap(run, [3.0, -5.0, 0.05], 0.5) == pytest.approx(9 / 8, rel=1e-15)
    assert fn.cheapest_factorisation_gap(run, [3.0, 0.4, 0.05], 0.5) == 0.0
    deep = fn.DiagonalRun(np.ones((3, 2)), np.ones(2), steps=1, max_grad=0.0)
    with pytest.raises(ValueError, match="depth 2"):
        fn.cheapest_factorisation_gap(deep, [1.0, 1.0], 0.1)


def test_balancedness_step_error_on_a_recorded_run_and_a_corrupted_step():
    lam, eta, record = 0.2, 0.1, 30
    c = RNG.standard_normal(6)
    U0 = RNG.standard_normal((2, 6))
    run = fn.train_diagonal(c, 2, lam, eta, U0, record=record, grad_tol=1e-1)   # the recorded steps only
    err, checked = fn.balancedness_step_error(run, eta, lam)
    B = run.history[:, 0] ** 2 - run.history[:, 1] ** 2
    S = run.history[:, 0] ** 2 + run.history[:, 1] ** 2
    assert err < 1e-10 and checked == int(np.sum(np.abs(B[:-1]) >= 1e-6 * S[:-1])) > 0
    # one GD step by hand multiplies B by (1 - eta lam)^2 - eta^2 r^2; a wrong step size shows
    err_wrong, _ = fn.balancedness_step_error(run, 1.1 * eta, lam)
    assert err_wrong > 1e-3
    with pytest.raises(ValueError, match="nothing to check"):
        fn.balancedness_step_error(run, eta, lam, floor=2.0)
    unrecorded = fn.train_diagonal(c, 2, lam, eta, U0, max_steps=1, grad_tol=0.0)
    with pytest.raises(ValueError, match="recorded"):
        fn.balancedness_step_error(unrecorded, eta, lam)


def test_balancedness_flow_error_against_exact_exponentials():
    times = np.linspace(0, 5, 11)
    B0 = np.array([0.3, -2.0])
    exact = B0 * np.exp(-2 * 0.4 * times[:, None])
    assert fn.balancedness_flow_error(times, exact, 0.4) < 1e-14
    off = exact.copy()
    off[7, 1] *= 1.01
    assert fn.balancedness_flow_error(times, off, 0.4) == pytest.approx(0.01, rel=1e-9)
    flat = np.tile(B0, (11, 1))
    flat[3, 0] *= 0.98
    assert fn.balancedness_flow_error(times, flat, 0.0) == pytest.approx(0.02, rel=1e-9)


def test_singular_value_error_pads_and_soft_thresholds():
    assert np.array_equal(fn.padded_singular_values([1.5, 0.2], 4), [1.5, 0.2, 0.0, 0.0])
    target = [1.5, 0.8, 0.2]                    # soft-thresholded at 0.3: 1.2, 0.5, 0, (0)
    assert fn.singular_value_error([1.2, 0.5, 0.0, 0.0], target, 0.3) == pytest.approx(0.0, abs=1e-15)
    assert fn.singular_value_error([1.2, 0.5, 0.01, 0.0], target, 0.3) == pytest.approx(0.01, rel=1e-12)


def test_nuclear_norm_gap_of_balanced_and_unbalanced_factors():
    U, _ = np.linalg.qr(RNG.standard_normal((4, 4)))
    V, _ = np.linalg.qr(RNG.standard_normal((4, 4)))
    root_s = np.sqrt(np.diag([2.0, 1.0, 0.5, 0.0]))
    balanced = fn.MatrixRun(U @ root_s, V @ root_s, steps=1, max_grad=0.0)   # ||A||^2 + ||B||^2 = 2 ||AB^T||_*
    assert fn.nuclear_norm_gap(balanced) < 1e-14
    lopsided = fn.MatrixRun(2 * U @ root_s, V @ root_s / 2, steps=1, max_grad=0.0)  # same product, (4 + 1/4) / 2 - 1
    assert fn.nuclear_norm_gap(lopsided) == pytest.approx(1.125, rel=1e-12)


# --- the chapter's measurements, one call each ------------------------------------

def test_product_tolerance_bound_and_record_steps_by_hand():
    # mu = min(2 * 0.3, 0.25 * 0.3) = 0.075; 2 sqrt(2) sqrt(2) 1e-11 / 0.075
    assert fn.product_tolerance_bound(2.0, 0.3, 0.25) == pytest.approx(4e-11 / 0.075, rel=1e-12)
    assert fn.product_tolerance_bound(2.0, 0.3, 2.5, grad_tol=1e-9) == pytest.approx(4e-9 / 0.6, rel=1e-12)
    steps = fn.balancedness_record_steps(0.1, 0.3)
    assert steps == 232                                   # ceil(ln(1e6) / 0.06) + 1 = ceil(230.26) + 1
    assert math.exp(-0.06 * (steps - 1)) <= 1e-6 < math.exp(-0.06 * (steps - 2))


@pytest.fixture(scope="module")
def diag():
    return fn.diagonal_threshold(8, 0.4, 0.15, 1.5, 0.4, 0.1, seed=5)


def test_diagonal_threshold_against_the_soft_threshold_by_hand(diag):
    lam, c = 0.4, fn.diagonal_targets(8, 0.4, 1.5, 0.4, seed=5)
    assert np.array_equal(diag.targets, c) and np.array_equal(diag.init, fn.small_init(2, 8, 0.1, seed=5))
    hand = np.where(np.abs(c) > lam, c - np.sign(c) * lam, 0.0)
    assert np.array_equal(diag.predicted, hand)
    assert diag.soft_threshold_error == np.abs(diag.run.products - hand).max() < 1e-6
    assert diag.zeroed == diag.predicted_zeroed == sum(abs(x) < lam for x in c) == 4
    assert diag.cheapest_gap < 1e-6 and diag.run.max_grad < 1e-11 and diag.control.max_grad < 1e-11
    assert diag.control_error == np.abs(diag.control.products - c).max() < 1e-6
    small = [abs(p) for p, x in zip(diag.control.products, c) if abs(x) <= lam]
    assert diag.control_smallest == min(small) == pytest.approx(min(abs(x) for x in c if abs(x) <= lam), abs=1e-6)
    assert diag.run.history.shape[0] == fn.balancedness_record_steps(0.15, lam) and diag.control.history is None
    assert diag.product_bound == fn.product_tolerance_bound(1.5, lam, 0.4)


def test_balancedness_of_the_diagonal_run(diag):
    bal = fn.balancedness(diag)
    assert bal.t_end == 3.0 / 0.4
    assert bal.step_error < 1e-8 and bal.checked > 0
    # the flows by hand from the same start: B(t) = B_0 e^(-2 lambda t), and B conserved at lambda = 0
    times, B = fn.balancedness_flow_rk4(diag.init[0], diag.init[1], diag.targets, 0.4, t_end=7.5, dt=1e-2)
    assert bal.flow_error == np.abs(B / (B[0] * np.exp(-0.8 * times[:, None])) - 1).max() < 1e-6
    _, B0 = fn.balancedness_flow_rk4(diag.init[0], diag.init[1], diag.targets, 0.0, t_end=7.5, dt=1e-2)
    assert bal.conserved_error == np.abs(B0 / B0[0] - 1).max() < 1e-6


def test_deep_threshold_survivors_sit_on_the_largest_root():
    lam, depth = 0.3, 3
    c_crit = th.critical_target(lam, depth)
    deep = fn.deep_threshold(8, c_crit, lam, 0.05, 1.5, 0.4, seed=6, depth=depth)
    c = deep.targets
    assert np.array_equal(c, fn.diagonal_targets(8, c_crit, max(1.5, 2 * c_crit), 0.4, seed=6))
    above = np.abs(c) > c_crit
    assert deep.survivors == deep.predicted_survivors == int(above.sum()) == 4
    assert deep.product_error == np.abs(deep.run.products - deep.predicted).max() < 1e-6
    assert np.all(deep.predicted[~above] == 0)
    # each survivor: h(|p|) = |c| on the increasing branch, p_min = (lam (L-2)/L)^(L/(2L-2))
    p = np.abs(deep.predicted[above])
    assert np.allclose(p + lam * p ** (2 / depth - 1), np.abs(c[above]), rtol=1e-12)
    assert np.all(p > (lam / 3) ** 0.75)
    assert deep.smallest_survivor == p.min()


def test_matrix_threshold_rank_and_singular_values_by_hand():
    lam = 0.3
    m = fn.matrix_threshold(3, 2, 1, lam, 0.3, 1.5, 0.5, 0.1, seed=2)
    s = fn.spread_singular_values(2, 1, lam, 1.5, 0.5)
    assert np.array_equal(m.target_singular_values, s) and np.array_equal(m.padded_target, s)
    assert np.allclose(np.linalg.svd(m.target, compute_uv=False), s, atol=1e-12)
    assert m.rank == 2 and m.control_rank == 3
    hand = np.maximum(np.sort(s)[::-1] - lam, 0.0)
    assert m.singular_value_error == np.abs(m.singular_values - hand).max() < 1e-6
    A, B = m.run.A, m.run.B
    assert m.nuclear_gap == pytest.approx(abs(((A**2).sum() + (B**2).sum()) / (2 * np.linalg.norm(A @ B.T, "nuc")) - 1),
                                          abs=1e-12)
    assert np.allclose(m.control_singular_values, np.sort(s)[::-1], atol=1e-6)


def test_plots_draw_without_error(diag, monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    fn.plot_diagonal_threshold(diag)
    fn.plot_matrix_threshold(fn.matrix_threshold(3, 2, 1, 0.3, 0.3, 1.5, 0.5, 0.1, seed=2))
    assert len(shown) == 2


def test_the_chapter_spec_declares_the_ranks_and_tolerances_as_values():
    from goaldrift.book.chapters.ch02_factorised_simplicity import CLAIMS
    from goaldrift.book.declarations import Computed, by_id, value_of

    claims = by_id(CLAIMS)
    p = {"n_above": 5, "n_below": 3}
    assert value_of(claims["matrix_rank"].predicted, p) == 5
    assert value_of(claims["matrix_no_decay_full_rank"].predicted, p) == 8
    assert not [d.id for d in CLAIMS if isinstance(d.tolerance, Computed)]
