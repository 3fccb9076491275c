"""The drift point as a function of the cost ratio of goal and proxy pathways (H4).

The model. Two pathways of a degree-2 homogeneous network carry the output
on phase-2 data: the aligned goal (share A) and the proxy (share P). A
pathway that carries share s at the smallest L2 cost has squared norm
r² = c s, where c is its cost at the training margin (squared norm per unit
output). Under gradient flow with decoupled weight decay every pathway's
norm obeys dr/dt = -ηλ r + ημ ∂s/∂r, where μ is the loss's pull on the
output; on phase-2 data the loss holds the output at the margin, A + P = 1,
which fixes μ. Eliminating μ gives one equation for A in x = ηλt, with the
cost ratio ρ = c_goal / c_proxy. The conflict set (proxy = -goal) sees
A - P, which changes sign at A = 1/2: that is the drift point.

Special cases, derived and not put in: ρ → ∞ (a free proxy) gives the toy's
ln2/2; ρ = 1 (equal cost) gives no drift at all; ρ < 1 (a dearer proxy)
moves the output to the goal.
"""

from __future__ import annotations

import sympy as sp

from goaldrift.theory.derivation import Derivation

x, eta, lam, mu = sp.symbols("x eta lambda mu", positive=True)
rho, c_g, c_p, r, s = sp.symbols("rho c_g c_p r s", positive=True)
A = sp.Symbol("A", positive=True)
A0 = sp.Symbol("A_0", positive=True)


def share_rate() -> Derivation:
    """ds/dx of a degree-2 pathway of cost c under decay and the loss's pull μ:
    2 s (2μ/(λc) - 1) (x = ηλt)."""
    c = sp.Symbol("c", positive=True)
    share = r**2 / c
    dr_dt = -eta * lam * r + eta * mu * sp.diff(share, r)
    ds_dx = sp.simplify((sp.diff(share, r) * dr_dt / (eta * lam)).subs(r, sp.sqrt(c * s)))
    return Derivation(ds_dx, (sp.Eq(sp.Symbol("s"), share), sp.Eq(sp.Symbol(r"\dot r"), dr_dt),
                              sp.Eq(sp.Derivative(sp.Symbol("s"), x), ds_dx)))


def aligned_share_rate() -> Derivation:
    """dA/dx with A + P = 1 held by the loss, in the cost ratio ρ = c_g/c_p:
    -2 A (1-A)(ρ-1) / (A + ρ(1-A))."""
    rate = share_rate().result
    c = sp.Symbol("c", positive=True)
    ra, rp = rate.subs({s: A, c: c_g}), rate.subs({s: 1 - A, c: c_p})
    (mu_star,) = sp.solve(sp.Eq(ra + rp, 0), mu)
    dA = sp.factor(sp.simplify(ra.subs(mu, mu_star).subs(c_g, rho * c_p)))
    return Derivation(dA, (sp.Eq(sp.Symbol(r"\mu^*"), mu_star), sp.Eq(sp.Derivative(A, x), dA)))


def drift_point_cost_ratio() -> Derivation:
    """ηλt_d: the time A falls from A_0 to 1/2, in ρ and the starting share A_0."""
    dA = aligned_share_rate().result
    integrand = sp.apart(sp.simplify(1 / dA), A)
    xd = sp.simplify(-sp.integrate(integrand, (A, sp.Rational(1, 2), A0)))
    closed = (rho * sp.log(2 * A0) + sp.log(1 / (2 * (1 - A0)))) / (2 * (rho - 1))
    # sympy's antiderivative carries log(A - 1) branches; the closed form is checked at a point
    point = {rho: sp.Rational(7, 2), A0: sp.Rational(9, 10)}
    assert abs(complex(sp.N((xd - closed).subs(point)))) < 1e-12
    return Derivation(closed, (sp.Eq(sp.Symbol(r"dx"), integrand * sp.Symbol("dA")),
                               sp.Eq(sp.Symbol(r"\eta\lambda t_d"), closed)))


def free_proxy_limit() -> Derivation:
    """ρ → ∞ with A_0 → 1: ηλt_d → ln2/2, the toy chapter's drift point."""
    xd = drift_point_cost_ratio().result
    lim_rho = sp.limit(xd, rho, sp.oo)
    lim = sp.limit(lim_rho, A0, 1)
    return Derivation(lim, (sp.Eq(sp.Symbol(r"\lim_{\rho\to\infty}\eta\lambda t_d"), lim_rho),
                            sp.Eq(sp.Symbol(r"\lim_{A_0\to 1}"), lim)))


def equal_cost_limit() -> Derivation:
    """ρ → 1⁺: the drift point diverges (equal cost, no drift)."""
    xd = drift_point_cost_ratio().result
    lim = sp.limit(xd.subs(A0, sp.Rational(99, 100)), rho, 1, dir="+")
    return Derivation(lim, (sp.Eq(sp.Symbol(r"\lim_{\rho\to 1^+}\eta\lambda t_d"), lim),))


def predicted_drift_point(ratio: float, start_share: float) -> float:
    """Numeric ηλt_d for cost ratio ρ and starting aligned share A_0 (inf: no drift)."""
    import math
    if not 0.5 < start_share < 1:
        return 0.0 if start_share <= 0.5 else math.inf
    if ratio <= 1:
        return math.inf
    return (ratio * math.log(2 * start_share) + math.log(1 / (2 * (1 - start_share)))) / (2 * (ratio - 1))


def scale_invariant_drift_point() -> Derivation:
    """A network whose decayed factors split into scale-invariant ones (behind a
    normalisation: shrinking them changes nothing) and L_free homogeneous ones
    loses aligned output as e^{-L_free ηλt}; with the restoring all through the
    proxy (ρ → ∞) the drift point is ln2 / L_free, on the ηλt clock. For a
    LayerNorm hidden layer and a linear readout, L_free = 1: ln 2. The rotation
    of the scale-invariant weights (rate √(2ηλ)) moves no output by itself."""
    L_free = sp.Symbol("L_free", positive=True, integer=True)
    A_t = sp.exp(-L_free * x)
    (xd,) = sp.solve(sp.Eq(A_t - (1 - A_t), 0), x)
    xd = sp.simplify(xd)
    return Derivation(xd, (sp.Eq(sp.Symbol("A"), A_t), sp.Eq(sp.Symbol(r"\eta\lambda t_d"), xd),
                           sp.Eq(sp.Symbol(r"\eta\lambda t_d|_{L_{free}=1}"), xd.subs(L_free, 1))))


def scale_invariant_drift_point_at(l_free: int = 1) -> float:
    """``scale_invariant_drift_point()`` evaluated at L_free: ln2 / L_free (ln 2 for a LayerNorm
    hidden layer and a linear readout)."""
    return float(scale_invariant_drift_point().result.subs(sp.Symbol("L_free", positive=True, integer=True), l_free))


def equal_cost_split() -> Derivation:
    """Two rules that share every weight but one factor each, of the same cost, with output
    a + b on the phase-2 data held at a + b = 1 by the loss. If each rule's own factor carries
    its share with degree L (share ∝ w^L), the L2 cost of the split is a^{2/L} + b^{2/L}.
    For L = 1 (a factor the output is linear in, e.g. a positional embedding read through
    shared weights) the cheapest split is even, a = 1/2; the curvature there,
    2^{4-2/L}(2 - L)/L², is positive only for L < 2: at L = 2 (the degree-2 network
    of ``drift_point_cost_ratio``) every split costs the same, and above it the even split
    is the dearest (a corner wins)."""
    a = sp.Symbol("a", positive=True)
    L = sp.Symbol("L", positive=True)
    cost = a ** (2 / L) + (1 - a) ** (2 / L)
    (split,) = sp.solve(sp.diff(cost.subs(L, 1), a), a)
    curvature = sp.simplify(sp.diff(cost, a, 2).subs(a, sp.Rational(1, 2)))
    return Derivation(split, (
        sp.Eq(sp.Symbol("C(a)"), cost),
        sp.Eq(sp.Symbol(r"\arg\min_a C|_{L=1}"), split),
        sp.Eq(sp.Symbol(r"C''(1/2)"), curvature),
    ))
