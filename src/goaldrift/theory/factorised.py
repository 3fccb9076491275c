"""Derivations for the factorised-weights chapter (hypothesis H2), in sympy.

When a weight is a product of factors, L2 on the factors is not L2 on the
product: for uv it is 2|uv| (an L1 penalty, so sparsity), for a depth-L
product it is L|p|^{2/L} (a quasi-norm), and for a matrix product AB^T it is
twice the nuclear norm (so low rank).
"""

from __future__ import annotations

import sympy as sp

from goaldrift.theory.derivation import Derivation

u, v, c, p, lam, eta, t = sp.symbols("u v c p lambda eta t", positive=True)
L = sp.Symbol("L", positive=True, integer=True)
B = sp.Function("B")


def cheapest_factorisation() -> Derivation:
    """min over uv = c of u^2 + v^2 (c > 0): substitute v = c/u, set the derivative to zero."""
    cost = u**2 + (c / u) ** 2
    u_star = [s for s in sp.solve(sp.diff(cost, u), u) if s.is_positive][0]
    minimum = sp.simplify(cost.subs(u, u_star))
    return Derivation(
        minimum,
        (
            sp.Eq(sp.Symbol("C(u)"), cost),
            sp.Eq(sp.Symbol("u^*"), u_star),
            sp.Eq(sp.Symbol(r"{\min_{uv=c}\,u^2+v^2}"), minimum),
        ),
    )


def cheapest_deep_factorisation() -> Derivation:
    """min over u_1...u_L = c of sum u_i^2 (c > 0). Lagrange: 2u_i = mu c / u_i, so every
    u_i^2 is the same, u_i = c^{1/L}, and the cost is L c^{2/L}: the l_{2/L} quasi-norm."""
    mu = sp.Symbol("mu", positive=True)
    ui = sp.Symbol("u_i", positive=True)
    lagrange = sp.Eq(2 * ui, mu * c / ui)
    ui_sq = sp.solve(lagrange, ui)[0] ** 2
    equal = c ** (sp.Integer(2) / L)  # all u_i^2 equal and their product is c^2
    minimum = L * equal
    return Derivation(
        minimum,
        (
            lagrange,
            sp.Eq(sp.Symbol("u_i^2"), ui_sq),
            sp.Eq(sp.Symbol(r"{\prod_i u_i^2}"), c**2),
            sp.Eq(sp.Symbol(r"{\min \sum_i u_i^2}"), minimum),
        ),
    )


def scalar_objective(depth=2):
    """J(u_1..u_L) = 1/2 (prod u - c)^2 + lambda/2 sum u_i^2, for a target c."""
    us = sp.symbols("u v", real=True) if depth == 2 else sp.symbols(f"u_1:{depth + 1}", real=True)
    target = sp.Symbol("c", real=True)
    prod = sp.Mul(*us)
    return us, target, sp.Rational(1, 2) * (prod - target) ** 2 + lam / 2 * sum(x**2 for x in us)


def stationary_product() -> Derivation:
    """Stationary product of 1/2 (uv - c)^2 + lambda/2 (u^2 + v^2) for c > lambda.

    u dJ/du - v dJ/dv = lambda (u^2 - v^2), so a stationary point with lambda > 0 is
    balanced, u^2 = v^2 = |p|. Then dJ/du * v = (p - c) p + lambda p = 0 gives
    p = c - lambda (or p = 0). By symmetry p = sign(c) max(|c| - lambda, 0).
    """
    (uu, vv), target, J = scalar_objective(2)
    Ju, Jv = sp.diff(J, uu), sp.diff(J, vv)
    balance = sp.factor(sp.expand(uu * Ju - vv * Jv))
    # On the balanced branch u = v = sqrt(p), p > 0:
    on_branch = sp.factor(sp.expand((Ju * vv).subs({uu: sp.sqrt(p), vv: sp.sqrt(p)})))
    roots = sp.solve(on_branch.subs(target, c), p)
    nonzero = [r for r in roots if r != 0][0]
    return Derivation(
        nonzero,
        (
            sp.Eq(sp.Symbol("J"), J),
            sp.Eq(sp.Symbol(r"{u\,\partial_u J - v\,\partial_v J}"), balance),
            sp.Eq(sp.Symbol(r"{v\,\partial_u J\,|_{u=v=\sqrt{p}}}"), on_branch),
            sp.Eq(sp.Symbol("p^*"), nonzero),
            sp.Eq(sp.Symbol("{p^*(c)}"), sp.sign(target) * sp.Max(sp.Abs(target) - lam, 0)),
        ),
    )


def origin_hessian_eigenvalues() -> Derivation:
    """Hessian of J at u = v = 0: eigenvalues lambda +- c. The origin is a minimum
    iff |c| < lambda, so small targets are thresholded to exactly zero."""
    (uu, vv), target, J = scalar_objective(2)
    H = sp.hessian(J, (uu, vv)).subs({uu: 0, vv: 0, target: c})  # c > 0 without loss of generality
    eigs = list(H.eigenvals().keys())
    return Derivation(eigs, (sp.Eq(sp.Symbol("H(0,0)"), H, evaluate=False), sp.Eq(sp.Symbol(r"{\mathrm{eig}\,H(0,0)}"), sp.FiniteSet(*eigs), evaluate=False)))


def fixed_point_hessian_eigenvalues() -> Derivation:
    """Hessian of J at the balanced fixed point u = v = sqrt(c - lambda) (c > lambda):
    eigenvalues 2(c - lambda) (along the product) and 2 lambda (balancedness).
    They set how fast gradient descent converges."""
    (uu, vv), target, J = scalar_objective(2)
    root = sp.sqrt(c - lam)
    H = sp.simplify(sp.hessian(J, (uu, vv)).subs({uu: root, vv: root, target: c}))
    eigs = [sp.simplify(e) for e in H.eigenvals().keys()]
    return Derivation(eigs, (sp.Eq(sp.Symbol("H^*"), H, evaluate=False), sp.Eq(sp.Symbol(r"{\mathrm{eig}\,H^*}"), sp.FiniteSet(*eigs), evaluate=False)))


def balancedness_flow() -> Derivation:
    """Under gradient flow on J, d/dt (u^2 - v^2) = -2 lambda (u^2 - v^2): B(t) = B(0) e^{-2 lambda t}."""
    (uu, vv), target, J = scalar_objective(2)
    du, dv = -sp.diff(J, uu), -sp.diff(J, vv)
    rate = sp.factor(sp.expand(2 * uu * du - 2 * vv * dv))
    solution = sp.dsolve(sp.Eq(B(t).diff(t), -2 * lam * B(t)), B(t), ics={B(0): sp.Symbol("B_0")})
    return Derivation(
        solution.rhs,
        (
            sp.Eq(sp.Symbol(r"{\tfrac{d}{dt}(u^2 - v^2)}"), rate, evaluate=False),
            solution,
        ),
    )


def balancedness_gd_factor() -> Derivation:
    """One step of gradient descent (step eta) on J multiplies B = u^2 - v^2 by exactly
    (1 - eta lambda)^2 - eta^2 r^2, with r = uv - c the residual before the step."""
    (uu, vv), target, J = scalar_objective(2)
    u_next = uu - eta * sp.diff(J, uu)
    v_next = vv - eta * sp.diff(J, vv)
    r = sp.Symbol("r", real=True)
    factor = sp.factor(sp.simplify((u_next**2 - v_next**2) / (uu**2 - vv**2)))
    factor_r = sp.expand(sp.simplify(factor.subs(target, uu * vv - r)))
    return Derivation(
        factor_r,
        (sp.Eq(sp.Symbol("{B_{t+1}/B_t}"), factor_r),),
    )


def effective_penalty_soft_threshold() -> Derivation:
    """Minimising over factorisations first: J = 1/2 (p - c)^2 + lambda |p|; for c > lambda
    the minimiser is p = c - lambda (soft thresholding), at cost lambda (c - lambda/2)."""
    objective = sp.Rational(1, 2) * (p - c) ** 2 + lam / 2 * cheapest_factorisation().result.subs(c, p)
    p_star = sp.solve(sp.diff(objective, p), p)[0]
    return Derivation(
        p_star,
        (sp.Eq(sp.Symbol("J(p)"), objective), sp.Eq(sp.Symbol("p^*"), p_star)),
    )


def deep_stationarity() -> Derivation:
    """Depth L, balanced (|u_i| = p^{1/L}): J = 1/2 (p - c)^2 + lambda L/2 p^{2/L}.
    A nonzero stationary product solves c = p + lambda p^{2/L - 1} = h(p).
    h has a minimum at p_min; for c below h(p_min) the only stationary point is 0:
    the threshold for depth L."""
    objective = sp.Rational(1, 2) * (p - c) ** 2 + lam / 2 * L * p ** (sp.Integer(2) / L)
    h = sp.expand(sp.solve(sp.diff(objective, p), c)[0])
    p_min = sp.solve(sp.diff(h, p), p)[0]
    # h(p_min) = p_min (1 + lambda p_min^{(2-2L)/L}) and p_min^{(2L-2)/L} = lambda (L-2)/L:
    threshold = p_min * (2 * L - 2) / (L - 2)
    return Derivation(
        threshold,
        (
            sp.Eq(sp.Symbol("J(p)"), objective),
            sp.Eq(c, h),
            sp.Eq(sp.Symbol("p_{min}"), p_min),
            sp.Eq(sp.Symbol("c_{crit}"), threshold),
        ),
    )


def nuclear_norm_statement() -> sp.Expr:
    """||A||_F^2 + ||B||_F^2 >= 2 ||A B^T||_*, with equality at the balanced SVD factors.
    Per singular value sigma_i it is the scalar result 2|c| with c = sigma_i."""
    sigma = sp.Symbol("sigma_i", positive=True)
    return sp.Sum(cheapest_factorisation().result.subs(c, sigma), (sp.Symbol("i"), 1, sp.Symbol("r")))


def soft_threshold(x, threshold):
    """sign(x) max(|x| - threshold, 0), elementwise (numpy)."""
    import numpy as np

    x = np.asarray(x, dtype=float)
    return np.sign(x) * np.maximum(np.abs(x) - threshold, 0.0)


def critical_target(weight_decay: float, depth: int) -> float:
    """c_crit of deep_stationarity evaluated at lambda and L: below it a depth-L balanced
    product has no nonzero stationary point."""
    return float(deep_stationarity().result.subs({lam: weight_decay, L: depth}))
