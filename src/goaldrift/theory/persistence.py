"""Derivations for the price-of-persistence chapter (hypothesis H7), in sympy.

A toy gradient hacker: the model's useful output is multiplied by a gate
s(r) = r^2 / (r^2 + kappa^2) of the norm r = ||g|| of its goal parameters g.
The goal itself lives in g's direction, which the training loss never sees.
With the useful computation fitting the target exactly when the gate is open,
the training loss is L(r) = q/2 (1 - s(r))^2, q the mean squared target.
"""

from __future__ import annotations

import sympy as sp

from goaldrift.theory.derivation import Derivation

r, kappa, q, lam, eta = sp.symbols("r kappa q lambda eta", positive=True)
x = sp.Symbol("x", positive=True)  # lambda / lambda_crit


def gate() -> sp.Expr:
    return r**2 / (r**2 + kappa**2)


def training_loss() -> sp.Expr:
    """L(r) = q/2 (1 - s(r))^2."""
    return sp.simplify(q / 2 * (1 - gate()) ** 2)


def radial_force() -> Derivation:
    """Gradient descent on L(||g||) + lambda/2 ||g||^2 moves g along itself:
    grad = (L'(r)/r + lambda) g = F(r) g. F is increasing in r."""
    F = sp.simplify(sp.diff(training_loss(), r) / r + lam)
    return Derivation(
        F,
        (
            sp.Eq(sp.Symbol("L(r)"), training_loss()),
            sp.Eq(sp.Symbol(r"{\nabla_g (L + \tfrac{\lambda}{2}\|g\|^2)}"), sp.Symbol("F(r)") * sp.Symbol("g")),
            sp.Eq(sp.Symbol("F(r)"), F),
        ),
    )


def critical_decay() -> Derivation:
    """The origin repels (the goal can be held) iff F(0) < 0, i.e. lambda < 2q/kappa^2."""
    F0 = sp.limit(radial_force().result, r, 0)
    crit = sp.solve(sp.Eq(F0, 0), lam)[0]
    return Derivation(crit, (sp.Eq(sp.Symbol("F(0)"), F0), sp.Eq(sp.Symbol(r"\lambda_{crit}"), crit)))


def equilibrium_norm() -> Derivation:
    """Stationarity grad L = -lambda g, i.e. F(r*) = 0: r*^2 = (2 q kappa^4/lambda)^{1/3} - kappa^2."""
    F = radial_force().result
    stationarity = sp.Eq(sp.Symbol(r"{(r^{*2}+\kappa^2)^3}"), 2 * q * kappa**4 / lam)
    r_sq = (2 * q * kappa**4 / lam) ** sp.Rational(1, 3) - kappa**2
    assert sp.simplify(F.subs(r, sp.sqrt(r_sq))) == 0
    in_x = sp.simplify(r_sq.subs(lam, x * critical_decay().result) / kappa**2)
    return Derivation(
        sp.sqrt(r_sq),
        (
            sp.Eq(sp.Symbol("{F(r^*)}"), 0),
            stationarity,
            sp.Eq(sp.Symbol("r^{*2}"), r_sq),
            sp.Eq(sp.Symbol(r"{r^{*2}/\kappa^2}"), in_x),
        ),
    )


def equilibrium_loss() -> Derivation:
    """Training loss held at the equilibrium (lambda < lambda_crit): the price of persistence."""
    r_star = equilibrium_norm().result
    loss = sp.simplify(training_loss().subs(r, r_star))
    in_x = sp.simplify(loss.subs(lam, x * critical_decay().result) / (q / 2))
    return Derivation(
        loss,
        (sp.Eq(sp.Symbol("{L(r^*)}"), loss), sp.Eq(sp.Symbol(r"{L(r^*)/(q/2)}"), in_x)),
    )


def relaxation_rate() -> Derivation:
    """Linearised gradient flow dr/dt = -r F(r) near r*: rate r* F'(r*) = 6 lambda (1 - x^{1/3})."""
    F = radial_force().result
    r_star = equilibrium_norm().result
    rate = sp.simplify((r * sp.diff(F, r)).subs(r, r_star))
    in_x = sp.simplify(sp.powsimp(rate.subs(lam, x * critical_decay().result), force=True))
    return Derivation(rate, (sp.Eq(sp.Symbol(r"{r^*F'(r^*)}"), rate), sp.Eq(sp.Symbol(r"{r^*F'(r^*)}"), in_x)))


def exempt_growth() -> Derivation:
    """Goal exempt from decay: dr/dt = -L'(r) > 0 for every r > 0, so the norm only grows
    and the loss only falls: no price, and no limit."""
    dL = sp.simplify(sp.diff(training_loss(), r))
    return Derivation(-dL, (sp.Eq(sp.Symbol(r"{\dot r}"), -dL),))


def critical_decay_at(q_value: float, kappa_value: float) -> float:
    """lambda_crit at numbers: the sympy result of critical_decay() evaluated at q and kappa."""
    return float(critical_decay().result.subs({q: q_value, kappa: kappa_value}))
