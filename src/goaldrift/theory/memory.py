"""Derivations for a goal read from a store outside weight decay (hypothesis H6), in
sympy.

The network's output is y = a·v(x) + s(x): v(x) = ±1 the goal, read from a fixed
store (not a parameter: never trained, never decayed), a the read gain (the read
path, one parameter), s(x) what the MLP adds. On phase-2 data the proxy equals the
goal, so the MLP could carry the target instead; any output s it produces through
two layers costs at least lambda |s| in L2 (AM-GM on each path: w1² + w2² >= 2|w1 w2|).
Training minimises the engine's mean squared error (no factor 1/2) plus lambda/2
times the squared weights (gradient descent with L2), so with a constant MLP output s
in the goal's direction the objective is (1 - a - s)^2 + lambda/2 a^2 + lambda s.
"""

from __future__ import annotations

import sympy as sp

from goaldrift.theory.derivation import Derivation

a, s, lam, eta = sp.symbols("a s lambda eta", positive=True)


def objective(read_decayed: bool) -> sp.Expr:
    """The regularised phase-2 objective in the read gain a and the MLP's share s >= 0."""
    return (1 - a - s) ** 2 + (lam / 2 * a**2 if read_decayed else 0) + lam * s


def read_gain_equilibrium(read_decayed: bool) -> Derivation:
    """With s = 0: a* = 2/(2 + lambda) when the read gain decays, 1 when it is exempt."""
    f = objective(read_decayed).subs(s, 0)
    a_star = sp.solve(sp.diff(f, a), a)[0]
    return Derivation(sp.simplify(a_star), (
        sp.Eq(sp.Symbol(r"\partial_a J|_{s=0}"), sp.diff(f, a)),
        sp.Eq(sp.Symbol("a^*"), sp.simplify(a_star)),
    ))


def mlp_share_slope(read_decayed: bool) -> Derivation:
    """dJ/ds at s = 0 and a = a*: positive, so at the minimiser the MLP adds nothing
    (s* = 0) and the goal is read from the store, whether or not the read gain decays."""
    a_star = read_gain_equilibrium(read_decayed).result
    slope = sp.simplify(sp.diff(objective(read_decayed), s).subs({s: 0, a: a_star}))
    return Derivation(slope, (sp.Eq(sp.Symbol(r"\partial_s J|_{s=0,\,a=a^*}"), slope),))


def read_gain_contraction(read_decayed: bool) -> Derivation:
    """Gradient descent on J(a, 0): a - a* shrinks by 1 - eta (2 + lambda) per step
    (decayed), 1 - 2 eta (exempt)."""
    f = objective(read_decayed).subs(s, 0)
    factor = sp.simplify(1 - eta * sp.diff(f, a, 2))
    return Derivation(factor, (sp.Eq(sp.Symbol(r"\frac{a_{t+1}-a^*}{a_t-a^*}"), factor),))


def store_derivations() -> list[Derivation]:
    """The chapter's derivation in order: a* and the MLP's slope with the read gain decayed,
    then exempt, then the contraction of gradient descent on a decayed read gain."""
    out = []
    for decayed in (True, False):
        out += [read_gain_equilibrium(decayed), mlp_share_slope(decayed)]
    return out + [read_gain_contraction(True)]
