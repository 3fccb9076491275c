"""Derivations for the L2 equilibrium chapter (hypothesis H1), in sympy.

Each function derives one result symbolically and returns the expression
(for the chapter to render as LaTeX); `goaldrift.theory.derivation.numeric`
turns any of them into a plain function for plots and claims.
"""

from __future__ import annotations

import sympy as sp

from goaldrift.theory.derivation import Derivation

eta, lam, s, b, w, t, sigma = sp.symbols("eta lambda s b w t sigma", positive=True)
beta1, beta2 = sp.symbols("beta_1 beta_2", positive=True)
g = sp.Symbol("g", real=True, nonzero=True)


def ridge_along_eigendirection() -> Derivation:
    """Stationary point of L(w) + lambda/2 w^2 along one eigendirection of the data.

    A quadratic loss restricted to an eigendirection with eigenvalue s of the
    data covariance is s/2 w^2 - b w (+ const); its unregularised minimum is b/s.
    """
    loss = s / 2 * w**2 - b * w
    objective = loss + lam / 2 * w**2
    stationary = sp.solve(sp.diff(objective, w), w)[0]
    return Derivation(
        stationary,
        (
            sp.Eq(sp.Symbol("J"), objective),
            sp.Eq(sp.Derivative(sp.Symbol("J"), w), sp.diff(objective, w)),
            sp.Eq(sp.Symbol("w^*"), stationary),
        ),
    )


def ridge_shrinkage() -> Derivation:
    """Ratio of the ridge solution to the least-squares one: s / (s + lambda)."""
    stationary = ridge_along_eigendirection().result
    unregularised = sp.solve(sp.diff(s / 2 * w**2 - b * w, w), w)[0]
    shrink = sp.simplify(stationary / unregularised)
    return Derivation(shrink, (sp.Eq(sp.Symbol("w^*") / sp.Symbol("w_{LS}"), shrink),))


def gradient_at_ridge_optimum() -> Derivation:
    """At the ridge optimum the loss gradient balances the decay: grad L = -lambda w*."""
    stationary = ridge_along_eigendirection().result
    grad_loss = sp.diff(s / 2 * w**2 - b * w, w).subs(w, stationary)
    grad_symbol = sp.Symbol(r"\nabla L^*")
    return Derivation(
        sp.simplify(grad_loss),
        (
            sp.Eq(grad_symbol, sp.simplify(grad_loss)),
            sp.Eq(grad_symbol + lam * sp.Symbol("w^*"), sp.simplify(grad_loss + lam * stationary), evaluate=False),
        ),
    )


def unused_direction_factor_gd() -> Derivation:
    """Per-step factor of gradient descent with decay on a direction the loss ignores.

    The loss gradient along such a direction is 0, so w_{t+1} = w_t - eta*(0 + lambda*w_t).
    """
    step = w - eta * (0 + lam * w)
    factor = sp.simplify(step / w)
    return Derivation(factor, (sp.Eq(sp.Symbol("w_{t+1}"), sp.expand(step)), sp.Eq(sp.Symbol("w_{t+1}/w_t"), factor)))


def unused_coordinate_factor_adamw() -> Derivation:
    """Decoupled AdamW (PyTorch: theta <- theta - eta*lambda*theta - eta*m_hat/(sqrt(v_hat)+eps))
    on a coordinate whose gradient is exactly zero at every step: m = v = 0, so only
    the decoupled decay acts."""
    eps = sp.Symbol("epsilon", positive=True)
    m_hat, v_hat = sp.Integer(0), sp.Integer(0)
    step = w - eta * lam * w - eta * m_hat / (sp.sqrt(v_hat) + eps)
    factor = sp.simplify(step / w)
    return Derivation(factor, (sp.Eq(sp.Symbol("w_{t+1}"), step), sp.Eq(sp.Symbol("w_{t+1}/w_t"), factor)))


def adam_l2_update_on_unused_coordinate() -> Derivation:
    """Adam with coupled L2 feeds lambda*w into the moments. For a (slowly varying)
    gradient g = lambda*w, the bias-corrected ratio m_hat/sqrt(v_hat) tends to
    g/|g| = sign(w): the step is -eta*sign(w), independent of lambda. The weight
    falls by a constant amount per step, not by a constant factor."""
    k = sp.Symbol("k", positive=True, integer=True)
    m_hat = g * (1 - beta1**k) / (1 - beta1**k)
    v_hat = g**2 * (1 - beta2**k) / (1 - beta2**k)
    ratio = sp.simplify(m_hat / sp.sqrt(v_hat))
    return Derivation(ratio, (sp.Eq(sp.Symbol("\\hat m_k/\\sqrt{\\hat v_k}"), ratio),))


def half_life() -> Derivation:
    """Steps for an unused weight to halve under the factor 1 - eta*lambda, and its
    small-eta*lambda form ln 2 / (eta*lambda)."""
    exact = sp.log(2) / -sp.log(1 - eta * lam)
    x = sp.Symbol("x", positive=True)
    leading = sp.series(exact.subs(eta * lam, x), x, 0, 1).removeO().subs(x, eta * lam)
    return Derivation(exact, (sp.Eq(sp.Symbol("t_{1/2}"), exact), sp.Eq(sp.Symbol("t_{1/2}"), sp.simplify(leading) + sp.O(1), evaluate=False)))


def noise_stationary_variance() -> Derivation:
    """Stationary variance of a weight that receives only gradient noise g ~ (0, sigma^2)
    under SGD with decay: w' = (1 - eta*lambda) w - eta*g, so
    V = (1 - eta*lambda)^2 V + eta^2 sigma^2."""
    V = sp.Symbol("V", positive=True)
    recursion = sp.Eq(V, (1 - eta * lam) ** 2 * V + eta**2 * sigma**2)
    exact = sp.simplify(sp.solve(recursion, V)[0])
    return Derivation(exact, (recursion, sp.Eq(V, exact)))


def noise_variance_leading_order() -> sp.Expr:
    """eta sigma^2 / (2 lambda): the small-eta*lambda limit of the stationary variance."""
    exact = noise_stationary_variance().result
    return sp.simplify(sp.limit(exact / (eta * sigma**2 / lam), eta, 0) * eta * sigma**2 / lam)

