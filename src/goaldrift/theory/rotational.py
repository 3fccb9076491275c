"""Derivations for the rotational-equilibrium chapter (hypothesis H2), in sympy.

A weight followed by a normalisation is scale invariant, f(cw) = f(w): its
gradient is orthogonal to it and shrinks as 1/||w||. Weight decay pulls the
norm in, the orthogonal gradient pushes it out (by Pythagoras), and the two
balance at an equilibrium norm with a fixed angular update per step
(van Laarhoven 2017; Wan et al. 2021; Kosson et al. 2024).

Notation: N = ||w||^2, G = E||g||^2 (the gradient where the weight is), and
G~ = E||g~||^2 for the gradient at the unit-norm point, G = G~/N.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from goaldrift.theory.derivation import Derivation

eta, lam, c = sp.symbols("eta lambda c", positive=True)
mu, beta1 = sp.symbols("mu beta_1", positive=True)
N, G, Gt, C = sp.symbols(r"N G \tilde{G} C", positive=True)
k, j = sp.symbols("k j", integer=True, nonnegative=True)


def scale_invariance() -> Derivation:
    """For f(w) = F(w/||w||) (three coordinates stand for any number): w . grad f = 0
    (Euler's theorem for degree 0), and grad f(cw) = grad f(w) / c."""
    ws = sp.symbols("w_1:4", positive=True)
    F = sp.Function("F")
    r = sp.sqrt(sum(x**2 for x in ws))
    f = F(*(x / r for x in ws))
    euler = sp.simplify(sum(x * sp.diff(f, x) for x in ws))
    g1 = sp.diff(f, ws[0])
    scaled = sp.simplify(c * g1.subs({x: c * x for x in ws}, simultaneous=True) - g1)
    return Derivation(
        (euler, scaled),
        (
            sp.Eq(sp.Symbol("f(w)"), sp.Symbol(r"F(w/\|w\|)")),
            sp.Eq(sp.Symbol(r"{w\cdot\nabla f}"), euler, evaluate=False),
            sp.Eq(sp.Symbol(r"{c\,\partial_1 f(cw) - \partial_1 f(w)}"), scaled, evaluate=False),
        ),
    )


def sgd_norm_step() -> Derivation:
    """One SGD step with decay, w' = (1 - eta lambda) w - eta g, with w . g = 0:
    ||w'||^2 = (1 - eta lambda)^2 ||w||^2 + eta^2 ||g||^2, exactly."""
    d, gg = sp.symbols(r"w\cdot{g} \|g\|^2", real=True)
    full = (1 - eta * lam) ** 2 * N - 2 * eta * (1 - eta * lam) * d + eta**2 * gg
    exact = full.subs(d, 0)
    return Derivation(
        exact,
        (
            sp.Eq(sp.Symbol(r"{\|w_{t+1}\|^2}"), full),
            sp.Eq(sp.Symbol(r"{\|w_{t+1}\|^2}"), exact),
        ),
    )


def sgd_equilibrium() -> Derivation:
    """Stationarity of the expected step with G = G~/N: N^2 = eta G~ / (lambda (2 - eta lambda)),
    to leading order ||w||^4 = eta G~ / (2 lambda). The angle per step: tan(theta) =
    eta ||g|| / ((1 - eta lambda) ||w||), so at equilibrium cos(theta) = 1 - eta lambda."""
    step = sgd_norm_step().result.subs(sp.Symbol(r"\|g\|^2", real=True), Gt / N)
    sample = {eta: 0.1, lam: 0.01, Gt: 1.0}  # eta lambda < 1 picks the positive root
    N_star = [s for s in sp.solve(sp.Eq(step, N), N) if float(s.subs(sample)) > 0][0]
    leading = sp.limit(N_star**2 / eta, eta, 0) * eta
    tan_sq = sp.simplify(eta**2 * (Gt / N_star) / ((1 - eta * lam) ** 2 * N_star))
    cos_sq = sp.factor(1 / (1 + tan_sq))
    cos_theta = 1 - eta * lam                     # the positive root, eta lambda < 1
    assert sp.simplify(cos_sq - cos_theta**2) == 0
    theta = sp.acos(cos_theta)
    theta_leading = sp.sqrt(2 * eta * lam)
    return Derivation(
        {"norm4": N_star**2, "norm4_leading": leading, "cos_theta": cos_theta, "theta": theta,
         "theta_leading": theta_leading},
        (
            sp.Eq(N, step),
            sp.Eq(sp.Symbol(r"{\|w\|^4}"), sp.factor(N_star**2)),
            sp.Eq(sp.Symbol(r"{\|w\|^4}"), leading + sp.Symbol(r"{O(\eta^2)}")),
            sp.Eq(sp.Symbol(r"{\tan^2\theta}"), tan_sq),
            sp.Eq(sp.Symbol(r"{\cos^2\theta}"), cos_sq),
            sp.Eq(sp.Symbol(r"\cos\theta"), cos_theta),
            sp.Eq(sp.Symbol(r"\theta"), theta_leading + sp.Symbol(r"{O((\eta\lambda)^{3/2})}")),
        ),
    )


def _series(term: sp.Expr, beta) -> sp.Expr:
    """sum_{k>=0} term for a term polynomial in beta^k: each beta^{nk} sums to 1/(1 - beta^n)."""
    x = sp.Dummy("x")
    poly = sp.expand(term).replace(lambda e: e.is_Pow and e.base == beta and e.exp.has(k),
                                   lambda e: x ** sp.simplify(e.exp / k))
    poly = sp.Poly(sp.expand(poly), x)
    return sp.simplify(sum(coef / (1 - beta**n) for (n,), coef in poly.terms()))


def ema_equilibrium(amplitude, beta, decay_rate, kick_sq) -> Derivation:
    """Equilibrium of a scale-invariant weight whose update is -eta (a sum_k beta^k kick_{t-k})
    plus a decay that removes 2 eta * decay_rate * N per step. Random-walk assumption: the
    kicks are uncorrelated from step to step with E||kick||^2 = kick_sq, and each is
    orthogonal to the weight it was computed at, but not to later weights: kick_{t-k}
    entered w_t with coefficient -eta a sum_{j<k} beta^j."""
    ema_sq = sp.simplify(amplitude**2 * kick_sq * _series(beta ** (2 * k), beta))
    entered = -eta * amplitude * (1 - beta**k) / (1 - beta)          # sum_{j<k} beta^j
    w_dot_update = sp.simplify(amplitude * kick_sq * _series(beta**k * entered, beta))
    gain = sp.factor(sp.simplify(eta**2 * ema_sq - 2 * eta * w_dot_update))
    N_star = sp.simplify(gain / (2 * eta * decay_rate))
    theta_sq = sp.simplify(eta**2 * ema_sq / N_star)
    return Derivation(
        {"N": N_star, "theta_sq": theta_sq, "ema_sq": ema_sq, "w_dot_update": w_dot_update},
        (
            sp.Eq(sp.Symbol(r"{E\|m\|^2}"), ema_sq),
            sp.Eq(sp.Symbol(r"E[w\cdot m]"), w_dot_update),
            sp.Eq(sp.Symbol(r"{2\eta\lambda_{\mathrm{eff}}\,\|w\|^2}"), gain, evaluate=False),
            sp.Eq(sp.Symbol(r"{\|w\|^2}"), N_star),
            sp.Eq(sp.Symbol(r"{\theta^2}"), theta_sq),
        ),
    )


def sgdm_equilibrium() -> Derivation:
    """SGD with momentum mu (PyTorch: b <- mu b + g + lambda w, w <- w - eta b): the decay
    also passes through the momentum, lambda_eff = lambda / (1 - mu). With G = G~/N:
    ||w||^4 = eta G~ / (2 lambda (1 - mu)), theta = sqrt(2 eta lambda / (1 + mu))."""
    d = ema_equilibrium(1, mu, lam / (1 - mu), G)
    N_of_G = d.result["N"]
    norm4 = sp.simplify(N_of_G.subs(G, Gt / N) * N)   # N = eta G / (...) with G = G~/N
    theta = sp.sqrt(sp.simplify(d.result["theta_sq"]))
    return Derivation(
        {"norm4": norm4, "theta": theta},
        d.steps + (
            sp.Eq(sp.Symbol(r"{\|w\|^4}"), norm4, evaluate=False),
            sp.Eq(sp.Symbol(r"\theta"), theta),
        ),
    )


def adamw_equilibrium() -> Derivation:
    """AdamW (beta_1, decoupled decay lambda): the kicks are g/sqrt(v), of squared norm C (the
    number of elements) when the gradient is noise; the momentum is an EMA with amplitude
    1 - beta_1. ||w|| = sqrt(eta C / (2 lambda)), theta = sqrt(2 eta lambda (1-beta_1)/(1+beta_1))."""
    d = ema_equilibrium(1 - beta1, beta1, lam, C)
    norm = sp.sqrt(d.result["N"])
    theta = sp.sqrt(sp.factor(d.result["theta_sq"]))
    return Derivation(
        {"norm": norm, "theta": theta},
        d.steps + (
            sp.Eq(sp.Symbol(r"\|w\|"), norm),
            sp.Eq(sp.Symbol(r"\theta"), theta),
        ),
    )


def momentum_decay_root() -> Derivation:
    """A direction with exactly zero loss gradient under SGD with momentum: r_{t+1} = r_t - eta b_t,
    b_t = mu b_{t-1} + lambda r_t. Its characteristic polynomial; the slow root is
    1 - eta lambda / (1 - mu) + O(eta^2)."""
    z = sp.Symbol("z")
    poly = sp.expand((z - 1) * (z - mu) + eta * lam * z)
    roots = sp.solve(poly, z)
    slow = max(roots, key=lambda r: float(r.subs({eta: 1e-3, lam: 1e-2, mu: 0.9})))
    eps = sp.Symbol("epsilon")
    linear = sp.expand(poly.subs(z, 1 - eps)).subs(eps**2, 0)   # z = 1 - eps, eps small
    eps1 = sp.solve(linear, eps)[0]
    return Derivation(
        slow,
        (
            sp.Eq(poly, 0),
            sp.Eq(sp.Symbol("z_{slow}"), slow),
            sp.Eq(sp.Symbol("z_{slow}"), 1 - eps1 + sp.Symbol(r"{O((\eta\lambda)^2)}")),
        ),
    )


def momentum_decay_factors(lr: float, weight_decay: float, momentum: float, steps: int) -> np.ndarray:
    """r_t / r_0, t = 0..steps, for a coordinate with zero loss gradient under PyTorch's SGD with
    momentum (the first buffer is the gradient itself). momentum = 0 gives (1 - eta lambda)^t."""
    r, b = 1.0, None
    out = [r]
    for _ in range(steps):
        g = weight_decay * r
        b = g if b is None or momentum == 0 else momentum * b + g
        r = r - lr * b
        out.append(r)
    return np.array(out)
