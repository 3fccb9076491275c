"""goaldrift.experiments.decay.unused_weights (chapter l2_equilibrium) against
independent checks: closed-form ridge solutions, hand-written update rules and
the stationary variance of a linear recursion."""

import math

import numpy as np
import pytest

from goaldrift.experiments.decay import unused_weights as uw


@pytest.fixture(scope="module")
def data():
    return uw.make_regression(n_samples=12, n_features=30, n_zero=4, seed=3)


def test_regression_is_scaled_and_has_zero_features(data):
    assert data.X.shape == (12, 34)
    assert np.all(data.X[:, -4:] == 0)
    assert np.linalg.eigvalsh(data.covariance)[-1] == pytest.approx(1.0, rel=1e-12)
    again = uw.make_regression(12, 30, 4, seed=3)
    assert np.array_equal(again.X, data.X) and np.array_equal(again.y, data.y)
    assert not np.array_equal(uw.make_regression(12, 30, 4, seed=4).X, data.X)


def test_null_projector_is_the_projector_onto_the_null_space(data):
    P = data.null_projector()
    assert np.abs(data.X @ P).max() < 1e-12
    assert np.abs(P @ P - P).max() < 1e-12
    assert round(np.trace(P)) == 34 - 12   # rank of X is n_samples


def test_step_budget_is_the_first_step_below_the_contraction():
    eta, lam, c = 0.5, 0.01, 1e-12
    steps = uw.gd_step_budget(eta, lam, c)
    rho = max(1 - eta * lam, abs(1 - eta * (1 + lam)))
    assert rho**steps <= c < rho ** (steps - 1)


def test_gradient_descent_reaches_the_ridge_solution_and_shrinks_the_null_space(data):
    eta, lam = 0.5, 0.05
    w0 = uw.initial_weights(34, seed=1)
    run = uw.gradient_descent(data, w0, eta, lam, uw.gd_step_budget(eta, lam), record=50)
    # the ridge solution by a linear solve, independently of the module
    n = data.X.shape[0]
    ridge = np.linalg.solve(data.X.T @ data.X / n + lam * np.eye(34), data.X.T @ data.y / n)
    assert np.abs(run.weights - ridge).max() < 1e-9
    factors = uw.per_step_factors(run.null_norms)
    assert len(factors) == 50
    assert np.abs(factors - (1 - eta * lam)).max() < 1e-12


def test_eigen_shrinkage_of_the_ridge_solution_is_s_over_s_plus_lambda(data):
    lam = 0.1
    s, measured, predicted = uw.eigen_shrinkage(data, data.ridge_solution(lam), lam)
    assert len(s) > 0
    assert np.abs(measured - predicted).max() < 1e-9
    assert np.abs(predicted - s / (s + lam)).max() == 0


def test_adamw_decays_zero_gradient_coordinates_exactly_and_adam_l2_does_not(data):
    eta, lam, steps = 0.01, 0.5, 20
    w0 = uw.initial_weights(34, seed=2)
    decoupled = uw.adam_trajectory(data, w0, eta, lam, steps, coupled=False)
    zero = slice(30, 34)
    expected = w0[zero] * (1 - eta * lam) ** np.arange(steps + 1)[:, None]
    assert np.abs(decoupled[:, zero] - expected).max() < 1e-15
    # Adam with coupled L2, first step on a zero-gradient coordinate: the gradient is
    # lambda*w, so m_hat/sqrt(v_hat) = sign(w) and the step is eta (up to Adam's eps=1e-8).
    coupled = uw.adam_trajectory(data, w0, eta, lam, 1, coupled=True)
    g = lam * w0[zero]
    assert np.abs(coupled[1, zero] - (w0[zero] - eta * g / (np.abs(g) + 1e-8))).max() < 1e-15


def test_null_direction_is_invisible_to_the_loss_and_not_an_axis(data):
    u = uw.null_direction(data, seed=0)
    assert np.linalg.norm(u) == pytest.approx(1.0, rel=1e-12)
    assert np.abs(data.X @ u).max() < 1e-12
    assert np.all(u[-4:] == 0)
    assert (np.abs(u) > 1e-3).sum() > 10


def test_decay_rate_errors_vanish_on_an_exact_geometric_series():
    eta, lam = 0.1, 0.2
    values = 3.0 * (1 - eta * lam) ** np.arange(30)
    assert uw.decay_rate_errors(values, eta, lam).max() < 1e-12
    assert uw.decay_rate_errors(values, eta, 2 * lam).min() == pytest.approx(0.5, rel=1e-9)


def test_sgd_noise_variance_matches_the_linear_recursion():
    # w_{t+1} = (1 - eta lam) w_t - eta sigma xi_t has stationary variance
    # eta^2 sigma^2 / (1 - (1 - eta lam)^2); after 300 steps the transient is ~e^-30 of it.
    eta, lam, sigma, steps = 0.1, 1.0, 2.0, 300
    a = 1 - eta * lam
    exact = eta**2 * sigma**2 * (1 - a ** (2 * steps)) / (1 - a**2)
    run = uw.noise_driven_variance(20000, eta, lam, sigma, steps, seed=5)
    assert run.standard_error == pytest.approx(run.variance * math.sqrt(2 / 20000))
    assert abs(run.variance - exact) < 4 * run.standard_error
    assert uw.noise_driven_variance(20000, eta, lam, sigma, steps, seed=5).variance == run.variance


def test_unknown_noise_optimizer_is_refused():
    with pytest.raises(ValueError, match="unknown optimizer"):
        uw.noise_driven_variance(10, 0.1, 0.1, 1.0, 5, seed=0, optimizer="adamw")


def test_ridge_distance_and_stationarity_residual(data):
    lam = 0.05
    w_ridge = data.ridge_solution(lam)
    assert uw.ridge_distance(data, w_ridge, lam) == 0.0
    assert uw.ridge_distance(data, 1.1 * w_ridge, lam) == pytest.approx(0.1, rel=1e-12)
    assert uw.stationarity_residual(data, w_ridge, lam) < 1e-12
    # away from the optimum, against a finite-difference gradient of 1/(2n)||Xw - y||^2
    w = np.random.default_rng(0).standard_normal(data.X.shape[1])
    loss = lambda v: 0.5 * np.mean((data.X @ v - data.y) ** 2)
    eps = 1e-6
    grad = np.array([(loss(w + eps * e) - loss(w - eps * e)) / (2 * eps) for e in np.eye(len(w))])
    expected = np.linalg.norm(grad + lam * w) / (lam * np.linalg.norm(w))
    assert uw.stationarity_residual(data, w, lam) == pytest.approx(expected, rel=1e-6)


def test_unit_unused_start_and_first_step_drop():
    w0 = np.arange(6, dtype=float)
    w = uw.with_unit_unused(w0, 3, seed=2)
    assert np.array_equal(w[:3], w0[:3]) and np.array_equal(np.abs(w[3:]), np.ones(3))
    assert np.array_equal(w, uw.with_unit_unused(w0, 3, seed=2)) and np.array_equal(w0, np.arange(6.0))
    trajectory = np.array([[5.0, 1.0, -1.0, 1.0], [5.5, 0.7, -0.9, 0.2], [0.0, 0.0, 0.0, 0.0]])
    assert uw.first_step_drop(trajectory, 3) == pytest.approx((0.3 + 0.1 + 0.8) / 3, rel=1e-12)


def test_predicted_noise_variance_is_the_linear_recursion():
    eta, lam, sigma, steps = 0.5, 0.01, 3.0, 150
    v = 0.0
    for _ in range(steps):   # w' = (1 - eta lam) w - eta g, g ~ N(0, sigma^2): V' = (1 - eta lam)^2 V + eta^2 sigma^2
        v = (1 - eta * lam) ** 2 * v + eta**2 * sigma**2
    assert uw.predicted_noise_variance(eta, lam, sigma, steps) == pytest.approx(v, rel=1e-12)


# --- the chapter's measurements, one call each ------------------------------------

def test_null_space_decay_against_a_hand_written_gradient_descent(data):
    eta, lam = 0.5, 0.05
    m = uw.null_space_decay(12, 30, 4, 3, eta, lam, record=40)
    assert np.array_equal(m.data.X, data.X) and np.array_equal(m.w0, uw.initial_weights(34, 3))
    # gradient descent by hand; the null space from an SVD basis (no pinv)
    n, X, y = 12, data.X, data.y
    _, sv, Vt = np.linalg.svd(X)
    N = Vt[int(np.sum(sv > 1e-10)):].T                      # orthonormal basis of the null space
    w, norms = m.w0.copy(), [np.linalg.norm(N.T @ m.w0)]
    for t in range(m.steps):
        w = w - eta * (X.T @ (X @ w - y) / n + lam * w)
        if t < 40:
            norms.append(np.linalg.norm(N.T @ w))
    assert m.steps == uw.gd_step_budget(eta, lam) and len(m.factors) == 40
    hand = np.array(norms[1:]) / np.array(norms[:-1])
    assert np.allclose(m.factors, hand, rtol=1e-12)
    assert m.predicted_factor == 1 - eta * lam
    assert m.worst_factor == m.factors[np.argmax(np.abs(m.factors - (1 - eta * lam)))]
    assert m.factor_rel_error == abs(m.worst_factor - (1 - eta * lam)) / (1 - eta * lam) < 1e-12
    # the end point: ridge by augmented least squares
    A = np.vstack([X, math.sqrt(n * lam) * np.eye(34)])
    ridge = np.linalg.lstsq(A, np.concatenate([y, np.zeros(34)]), rcond=None)[0]
    assert m.ridge_distance == pytest.approx(np.linalg.norm(w - ridge) / np.linalg.norm(ridge), rel=1e-3, abs=1e-12)
    grad = X.T @ (X @ w - y) / n
    assert m.stationarity_residual == pytest.approx(np.linalg.norm(grad + lam * w) / (lam * np.linalg.norm(w)),
                                                    rel=1e-3, abs=1e-12)
    assert m.ridge_distance < 1e-9 and m.stationarity_residual < 1e-9
    assert np.abs(m.predicted_shrinkage - m.eigenvalues / (m.eigenvalues + lam)).max() == 0
    assert m.shrinkage_error == np.abs(m.shrinkage - m.predicted_shrinkage).max() < 1e-9


def test_adamw_null_direction_summaries_of_a_hand_built_run():
    m = uw.AdamWNullDirections(trajectory=np.zeros((7, 3)), direction=np.zeros(3),
                               coordinate_errors=np.array([[1e-15, 3e-15], [2e-15, 0.0]]),
                               direction_errors=np.array([5.0, 1.0, 3.0, 2.0, 4.0, 0.0]))
    assert m.worst_coordinate_error == 3e-15 and m.worst_direction_error == 5.0
    assert m.median_direction_error == 2.5          # sorted 0 1 2 3 4 5
    assert m.late_direction_error == 2.0            # the last three: 2 4 0


def test_adamw_null_directions_on_the_regression(data):
    eta, lam, steps = 0.05, 0.2, 30
    w0 = uw.initial_weights(34, seed=1)
    m = uw.adamw_null_directions(data, w0, eta, lam, steps, seed=0)
    assert m.trajectory.shape == (steps + 1, 34) and np.array_equal(m.trajectory[0], w0)
    assert np.array_equal(m.direction, uw.null_direction(data, seed=0))
    # zero-gradient coordinates: an exact geometric series, so the rate error is rounding
    assert m.coordinate_errors.shape == (steps, 4) and m.worst_coordinate_error < 1e-9
    along = m.trajectory @ m.direction
    rate = 1 - along[1:] / along[:-1]
    assert np.allclose(m.direction_errors, np.abs(rate - eta * lam) / (eta * lam), rtol=1e-12)
    assert m.worst_direction_error > 0.1                   # Adam's normalisation leaks into u


def test_coupled_adam_first_step_is_eta_and_magnitudes(data):
    eta, lam, steps = 0.01, 0.3, 5
    w0 = uw.initial_weights(34, seed=1)
    m = uw.coupled_adam(data, w0, eta, lam, steps, seed=2)
    assert np.array_equal(np.abs(m.start[-4:]), np.ones(4)) and np.array_equal(m.start[:30], w0[:30])
    # first Adam step on g = lam * (+-1): |step| = eta * lam / (lam + eps), eps = 1e-8
    assert m.first_step_drop == pytest.approx(eta * lam / (lam + 1e-8), rel=1e-12)
    assert np.allclose(m.unused_magnitude(m.decoupled), (1 - eta * lam) ** np.arange(steps + 1), rtol=1e-14)
    hand = np.array([[9.0, -1.0, 3.0], [9.0, 0.5, -0.5]])
    assert np.array_equal(uw.CoupledAdam(hand[0], 2, hand, hand, 0.0).unused_magnitude(hand), [2.0, 0.5])


def test_noise_experiment_prediction_tolerance_and_ratio():
    eta, lam, sigma, chains = 0.1, 1.0, 2.0, 4000
    m = uw.noise_experiment(chains, eta, lam, sigma, seed=4)
    assert m.steps == 60 == uw.noise_steps(eta, lam)            # ceil(6 / 0.1)
    assert uw.noise_steps(0.5, 0.01) == 1200 and uw.noise_steps(0.3, 0.7) == 29   # 6/0.21 = 28.57
    v = 0.0
    for _ in range(m.steps):                                   # V' = (1 - eta lam)^2 V + eta^2 sigma^2
        v = (1 - eta * lam) ** 2 * v + eta**2 * sigma**2
    assert m.predicted == pytest.approx(v, rel=1e-12)
    assert m.tolerance == pytest.approx(4 * v * math.sqrt(2 / chains), rel=1e-12)
    assert m.leading == pytest.approx(0.2, rel=1e-12)          # eta sigma^2 / (2 lambda)
    assert m.sgd.variance == uw.noise_driven_variance(chains, eta, lam, sigma, 60, seed=4).variance
    assert abs(m.sgd.variance - m.predicted) < m.tolerance
    assert m.adam_ratio == m.adam.variance / m.predicted
    assert m.adam.variance == uw.noise_driven_variance(chains, eta, lam, sigma, 60, seed=4, optimizer="adam_l2").variance


def test_plots_draw_without_error(data, monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    m = uw.null_space_decay(12, 30, 4, 3, 0.5, 0.05, record=40)
    uw.plot_null_space_decay(m)
    uw.plot_adamw_null_directions(uw.adamw_null_directions(m.data, m.w0, 0.05, 0.2, 10, seed=0))
    uw.plot_coupled_adam(uw.coupled_adam(m.data, m.w0, 0.05, 0.2, 10, seed=0), 0.05, 0.2)
    assert len(shown) == 3
