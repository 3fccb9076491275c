"""The factorised-weights derivations (H2) against independent numeric checks."""

import math

import numpy as np
import pytest
import sympy as sp
import torch

from goaldrift.theory import factorised as th
from goaldrift.theory.derivation import numeric

RNG = np.random.default_rng(3)


def test_cheapest_factorisation_by_grid_search():
    c = 0.83
    u = np.linspace(0.05, 5, 200001)
    brute = np.min(u**2 + (c / u) ** 2)
    assert brute == pytest.approx(float(th.cheapest_factorisation().result.subs(th.c, c)), rel=1e-8)


@pytest.mark.parametrize("depth", [3, 4])
def test_cheapest_deep_factorisation_by_optimisation(depth):
    c = 1.7
    # Minimise sum u_i^2 with u_L = c / prod(others), by plain gradient descent on logs.
    x = torch.zeros(depth - 1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([x], max_iter=500, tolerance_grad=1e-14, tolerance_change=1e-16)

    def cost():
        opt.zero_grad()
        us = torch.exp(x)
        last = c / us.prod()
        value = (us**2).sum() + last**2
        value.backward()
        return value

    opt.step(cost)
    predicted = float(th.cheapest_deep_factorisation().result.subs({th.c: c, th.L: depth}))
    assert float(cost().detach()) == pytest.approx(predicted, rel=1e-9)


def test_soft_threshold_is_the_global_minimum_of_the_scalar_problem():
    lam = 0.3
    grid = np.linspace(-2, 2, 2001)
    U, V = np.meshgrid(grid, grid, indexing="ij")
    for c in [-1.4, -0.2, 0.1, 0.9]:
        J = 0.5 * (U * V - c) ** 2 + lam / 2 * (U**2 + V**2)
        i, j = np.unravel_index(np.argmin(J), J.shape)
        assert U[i, j] * V[i, j] == pytest.approx(float(th.soft_threshold(c, lam)), abs=5e-3)
    assert float(th.stationary_product().result.subs({th.c: 0.9, th.lam: lam})) == pytest.approx(0.6)


def test_hessians_by_finite_differences():
    lam, c, h = 0.2, 0.9, 1e-5

    def J(u, v):
        return 0.5 * (u * v - c) ** 2 + lam / 2 * (u * u + v * v)

    def hess(u, v):
        H = np.zeros((2, 2))
        pts = [(u, v)]
        for a in range(2):
            for b in range(2):
                e_a, e_b = np.eye(2)[a] * h, np.eye(2)[b] * h
                f = lambda d: J(u + d[0], v + d[1])
                H[a, b] = (f(e_a + e_b) - f(e_a - e_b) - f(-e_a + e_b) + f(-e_a - e_b)) / (4 * h * h)
        return H

    at_origin = sorted(np.linalg.eigvalsh(hess(0.0, 0.0)))
    predicted = sorted(float(e.subs({th.c: c, th.lam: lam})) for e in th.origin_hessian_eigenvalues().result)
    assert np.allclose(at_origin, predicted, atol=1e-5)
    root = math.sqrt(c - lam)
    at_fixed = sorted(np.linalg.eigvalsh(hess(root, root)))
    predicted = sorted(float(e.subs({th.c: c, th.lam: lam})) for e in th.fixed_point_hessian_eigenvalues().result)
    assert np.allclose(at_fixed, predicted, atol=1e-5)


def test_nuclear_norm_bound_and_equality():
    A, Bm = RNG.standard_normal((6, 4)), RNG.standard_normal((6, 4))
    W = A @ Bm.T
    nuclear = np.linalg.svd(W, compute_uv=False).sum()
    assert (A**2).sum() + (Bm**2).sum() >= 2 * nuclear - 1e-12
    Uw, s, Vt = np.linalg.svd(W)
    A_bal, B_bal = Uw * np.sqrt(s), Vt.T * np.sqrt(s)
    assert (A_bal**2).sum() + (B_bal**2).sum() == pytest.approx(2 * nuclear, rel=1e-12)


def test_scalar_objective_matches_its_formula_at_depth_three():
    us, target, J = th.scalar_objective(3)
    f = numeric(J, *us, target, th.lam)
    u = RNG.normal(size=3)
    direct = 0.5 * (np.prod(u) - 0.7) ** 2 + 0.3 / 2 * np.sum(u**2)
    assert f(*u, 0.7, 0.3) == pytest.approx(direct, rel=1e-12)


def test_balancedness_flow_by_runge_kutta():
    """Integrate the gradient flow of J numerically; u^2 - v^2 must follow B_0 e^{-2 lambda t}."""
    c, lam, T, n = 1.2, 0.4, 3.0, 30_000
    grad = lambda w: np.array([(w[0] * w[1] - c) * w[1] + lam * w[0], (w[0] * w[1] - c) * w[0] + lam * w[1]])
    w = np.array([1.7, 0.2])
    B0, h = w[0] ** 2 - w[1] ** 2, T / n
    for _ in range(n):
        k1 = -grad(w)
        k2 = -grad(w + h / 2 * k1)
        k3 = -grad(w + h / 2 * k2)
        k4 = -grad(w + h * k3)
        w = w + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    predicted = float(th.balancedness_flow().result.subs({sp.Symbol("B_0"): B0, th.lam: lam, th.t: T}))
    assert w[0] ** 2 - w[1] ** 2 == pytest.approx(predicted, rel=1e-8)


def test_soft_threshold_minimiser_by_grid_search():
    c, lam = 1.3, 0.45
    p = np.linspace(-4, 4, 1_600_001)
    brute = p[np.argmin(0.5 * (p - c) ** 2 + lam * np.abs(p))]
    predicted = float(th.effective_penalty_soft_threshold().result.subs({th.c: c, th.lam: lam}))
    assert brute == pytest.approx(predicted, abs=1e-5)
    assert predicted == pytest.approx(float(th.soft_threshold(c, lam)))


def test_nuclear_norm_statement_on_random_matrices():
    """||A||^2 + ||B||^2 >= sum_i (summand at sigma_i) for any factors of M = A B^T,
    with equality at the balanced SVD factors."""
    statement = th.nuclear_norm_statement()
    sigma = next(s for s in statement.free_symbols if s.name == "sigma_i")
    summand = numeric(statement.function, sigma)
    A, Bm = RNG.normal(size=(5, 3)), RNG.normal(size=(4, 3))
    M = A @ Bm.T
    U, S, Vt = np.linalg.svd(M, full_matrices=False)
    bound = sum(summand(s) for s in S)
    assert bound == pytest.approx(2 * S.sum(), rel=1e-12)
    assert (A**2).sum() + (Bm**2).sum() >= bound
    A_bal, B_bal = U * np.sqrt(S), Vt.T * np.sqrt(S)
    assert np.allclose(A_bal @ B_bal.T, M)
    assert (A_bal**2).sum() + (B_bal**2).sum() == pytest.approx(bound, rel=1e-12)


@pytest.mark.parametrize("lam, depth", [(0.3, 3), (0.1, 4)])
def test_critical_target_is_the_minimum_of_h(lam, depth):
    # brute force: a nonzero stationary product exists iff |c| >= min_p p + lam p^(2/L - 1)
    p = np.linspace(1e-6, 3, 3_000_001)
    assert th.critical_target(lam, depth) == pytest.approx(np.min(p + lam * p ** (2 / depth - 1)), rel=1e-7)
    assert isinstance(th.critical_target(lam, depth), float)
