"""Each derivation of the L2 chapter against an independent numeric check."""

import math

import numpy as np
import pytest
import torch

from goaldrift.theory import l2_equilibrium as th
from goaldrift.theory.derivation import numeric

RNG = np.random.default_rng(7)


def test_ridge_formula_matches_augmented_least_squares():
    n, d, lam = 15, 30, 0.3
    X, y = RNG.standard_normal((n, d)), RNG.standard_normal(n)
    # Ridge as ordinary least squares on [X; sqrt(n lam) I]: no eigen-decomposition involved.
    A = np.vstack([X, math.sqrt(n * lam) * np.eye(d)])
    w_ridge = np.linalg.lstsq(A, np.concatenate([y, np.zeros(d)]), rcond=None)[0]
    s, V = np.linalg.eigh(X.T @ X / n)
    b = V.T @ (X.T @ y / n)
    w_formula = numeric(th.ridge_along_eigendirection().result, th.b, th.s, th.lam)(b, s, lam)
    assert np.allclose(V @ w_formula, w_ridge, atol=1e-10)
    keep = s > 1e-9
    shrink = numeric(th.ridge_shrinkage().result, th.s, th.lam)(s[keep], lam)
    w_ls = V.T @ (np.linalg.pinv(X) @ y)
    assert np.allclose((V.T @ w_ridge)[keep] / w_ls[keep], shrink, atol=1e-8)


def test_gradient_at_optimum_by_finite_differences():
    s, b, lam, h = 2.0, 0.7, 0.4, 1e-6
    w_star = float(th.ridge_along_eigendirection().result.subs({th.s: s, th.b: b, th.lam: lam}))
    loss = lambda w: s / 2 * w**2 - b * w
    fd = (loss(w_star + h) - loss(w_star - h)) / (2 * h)
    predicted = float(th.gradient_at_ridge_optimum().result.subs({th.s: s, th.b: b, th.lam: lam}))
    assert fd == pytest.approx(predicted, rel=1e-7)
    assert fd == pytest.approx(-lam * w_star, rel=1e-7)


def test_gd_factor_on_a_null_direction():
    eta, lam = 0.3, 0.05
    X = RNG.standard_normal((4, 9))
    u = np.linalg.svd(X)[2][-1]  # a right singular vector with singular value 0
    w = RNG.standard_normal(9)
    w_next = w - eta * (X.T @ (X @ w - 1.0) / 4) - eta * lam * w
    factor = numeric(th.unused_direction_factor_gd().result, th.eta, th.lam)(eta, lam)
    assert (u @ w_next) / (u @ w) == pytest.approx(factor, rel=1e-12)


def test_adamw_factor_on_a_zero_gradient_coordinate():
    eta, lam = 0.01, 0.2
    w = torch.tensor([1.5, -0.7], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.AdamW([w], lr=eta, weight_decay=lam)
    for _ in range(5):
        w.grad = torch.zeros_like(w)
        opt.step()
    factor = numeric(th.unused_coordinate_factor_adamw().result, th.eta, th.lam)(eta, lam)
    assert np.allclose(w.detach().numpy(), np.array([1.5, -0.7]) * factor**5, rtol=1e-13)


def test_adam_l2_first_step_is_sign_times_eta():
    eta, lam = 0.01, 0.2
    w = torch.tensor([1.5, -0.7], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([w], lr=eta, weight_decay=lam, eps=0.0)
    w.grad = torch.zeros_like(w)
    opt.step()
    ratio = th.adam_l2_update_on_unused_coordinate().result
    signs = [float(ratio.subs(th.g, 1.5 * lam)), float(ratio.subs(th.g, -0.7 * lam))]
    assert np.allclose(np.array([1.5, -0.7]) - w.detach().numpy(), eta * np.array(signs), rtol=1e-12)


@pytest.mark.parametrize("eta_lam", [0.3, 0.01, 1e-4])
def test_half_life_by_iteration(eta_lam):
    t_half = float(th.half_life().result.subs(th.eta * th.lam, eta_lam).subs({th.eta: eta_lam, th.lam: 1}))
    steps = 0
    value = 1.0
    while value > 0.5:
        value *= 1 - eta_lam
        steps += 1
    assert steps - 1 < t_half <= steps
    if eta_lam < 0.05:
        assert t_half == pytest.approx(math.log(2) / eta_lam, rel=eta_lam)


def test_noise_variance_by_monte_carlo():
    eta, lam, sigma, chains = 0.1, 0.5, 2.0, 200_000
    rng = np.random.default_rng(3)
    w = np.zeros(chains)
    for _ in range(int(12 / (eta * lam))):
        w = (1 - eta * lam) * w - eta * sigma * rng.standard_normal(chains)
    V = numeric(th.noise_stationary_variance().result, th.eta, th.lam, th.sigma)(eta, lam, sigma)
    assert np.mean(w**2) == pytest.approx(V, abs=5 * V * math.sqrt(2 / chains))
    leading = numeric(th.noise_variance_leading_order(), th.eta, th.lam, th.sigma)
    assert leading(1e-6, lam, sigma) == pytest.approx(V * (2 - eta * lam) / 2 * 1e-5, rel=1e-6)


def test_derivations_render_latex():
    for derive in (th.ridge_along_eigendirection, th.ridge_shrinkage, th.gradient_at_ridge_optimum,
                   th.unused_direction_factor_gd, th.unused_coordinate_factor_adamw,
                   th.adam_l2_update_on_unused_coordinate, th.half_life, th.noise_stationary_variance):
        text = derive().latex()
        assert text and "True" not in text


def test_the_chapter_spec_declares_the_derived_predictions():
    from goaldrift.book.chapters.ch01_l2_equilibrium import CLAIMS
    from goaldrift.book.declarations import by_id, value_of

    claims = by_id(CLAIMS)
    factor = numeric(th.unused_direction_factor_gd().result, th.eta, th.lam)
    for eta, lam in RNG.uniform([0.01, 0.001], [1.9, 1.0], size=(200, 2)):
        p = {"learning_rate": float(eta), "weight_decay": float(lam)}
        # bit for bit: the spec's declared value is the derivation evaluated
        assert value_of(claims["null_space_decay_per_step"].predicted, p) == float(factor(eta, lam))
        assert value_of(claims["adam_l2_first_step_is_eta"].predicted, p) == eta
