"""Derivations for the drift chapters (H4, H8): when does decay hand the output to the proxy?

The picture. After phase 1 the network computes the aligned goal with output
1 on every phase-2 example, so the phase-2 loss starts at (nearly) zero and
only weight decay acts: every weight shrinks by 1 - ηλ per step, and an
aligned pathway that is homogeneous of degree L in its weights (L = 2 for
a one-hidden-layer ReLU network: input layer then readout) loses output as
(1 - ηλ)^{Lt}. The loss then pulls the output back to the target, and the
cheapest way to do that is the proxy (a single input bit). If all of the
restoring goes to the proxy and none to the aligned pathway, the aligned
share is A = e^{-Lηλt} and the proxy share P = 1 - A; the conflict set
(proxy = -goal) sees A - P, which changes sign at A = 1/2.
"""

from __future__ import annotations

import sympy as sp

from goaldrift.theory.derivation import Derivation

eta, lam, t = sp.symbols("eta lambda t", positive=True)
L = sp.Symbol("L", positive=True, integer=True)
A0 = sp.Symbol("A_0", positive=True)
x = sp.Symbol("x", positive=True)  # x = eta * lambda * t
c_a, c_p, a, u, v = sp.symbols("c_a c_p a u v", positive=True)


def aligned_share() -> Derivation:
    """Output of a degree-L pathway whose weights all shrink by (1-ηλ) per step,
    and its continuous-time form e^{-Lηλt}."""
    per_step = (1 - eta * lam) ** (L * t)
    continuous = sp.exp(-L * eta * lam * t)
    log_ratio = sp.limit(sp.log(1 - eta * lam) / (-eta * lam), eta, 0)  # -> 1: the two agree for small ηλ
    return Derivation(
        A0 * continuous,
        (
            sp.Eq(sp.Symbol("A(t)"), A0 * per_step),
            sp.Eq(sp.Symbol(r"\lim_{\eta\lambda\to 0}\,\ln(1-\eta\lambda)/(-\eta\lambda)"), log_ratio),
            sp.Eq(sp.Symbol("A(t)"), A0 * continuous),
        ),
    )


def drift_point() -> Derivation:
    """ηλ t_d: the aligned share A(t) = e^{-Lηλt} (A_0 = 1) meets the proxy share 1 - A."""
    A = sp.exp(-L * x)
    P = 1 - A
    conflict = A - P
    solution = sp.solve(sp.Eq(conflict, 0), x)
    (result,) = [sp.simplify(s) for s in solution]
    return Derivation(
        result,
        (
            sp.Eq(sp.Symbol("A"), A),
            sp.Eq(sp.Symbol("P"), P),
            sp.Eq(sp.Symbol(r"f_{\rm conflict}"), sp.simplify(conflict)),
            sp.Eq(sp.Symbol(r"\eta\lambda t_d"), result),
        ),
    )


def drift_step_exact() -> Derivation:
    """t_d from the exact per-step factor: (1-ηλ)^{L t_d} = 1/2."""
    tt = sp.Symbol("t_d", positive=True)
    (result,) = sp.solve(sp.Eq(L * tt * sp.log(1 - eta * lam), -sp.log(2)), tt)
    return Derivation(result, (sp.Eq((1 - eta * lam) ** (L * tt), sp.Rational(1, 2)), sp.Eq(tt, result)))


def norm_ratio_at_drift() -> Derivation:
    """The aligned weights' norm at the drift point, relative to its start: 2^{-1/L}."""
    ratio = sp.exp(-drift_point().result)
    r = sp.Symbol(r"\rho_d")  # the norm ratio ||θ(t_d)|| / ||θ(0)||
    return Derivation(sp.simplify(ratio), (sp.Eq(r, sp.exp(-sp.Symbol(r"\eta\lambda t_d"))), sp.Eq(r, sp.simplify(ratio))))


def pathway_cost() -> Derivation:
    """The cheapest squared norm of a two-factor pathway u·v = a is 2a (AM-GM):
    under L2 a degree-2 pathway pays in proportion to the output it carries."""
    lagr = sp.Symbol("mu")
    J = u**2 + v**2 - lagr * (u * v - a)
    sols = sp.solve([sp.diff(J, u), sp.diff(J, v), u * v - a], [u, v, lagr], dict=True)
    cost = sp.simplify((u**2 + v**2).subs(sols[0]))
    return Derivation(cost, (sp.Eq(sp.Symbol("u"), sols[0][u]), sp.Eq(sp.Symbol(r"\min_{uv=a} u^2+v^2"), cost)))


def cheaper_pathway_wins() -> Derivation:
    """With output shares A + P = 1 costing c_a A + c_p P, the cost falls with A
    at rate c_p - c_a: L2 moves the whole output to the cheaper pathway."""
    cost = c_a * a + c_p * (1 - a)
    slope = sp.diff(cost, a)
    return Derivation(slope, (sp.Eq(sp.Symbol("C(A)"), cost), sp.Eq(sp.Derivative(sp.Symbol("C"), sp.Symbol("A")), slope)))


def drift_point_at(degree: int = 2) -> float:
    """``drift_point()`` evaluated at degree L: ηλt_d = ln2/L (ln2/2 for a one-hidden-layer ReLU network)."""
    return float(drift_point().result.subs(L, degree))


def norm_ratio_at(degree: int = 2) -> float:
    """``norm_ratio_at_drift()`` evaluated at degree L: 2^{-1/L}."""
    return float(norm_ratio_at_drift().result.subs(L, degree))
