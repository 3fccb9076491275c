"""Which simplicity each optimiser selects (H4, H2): AdamW's update against SGD's L2 picture.

SGD with weight decay follows gradient flow on loss + λ/2 ||θ||²: of two solutions that fit
equally well, the one cheaper in L2 wins (goaldrift.theory.drift, drift_law), and a run's clock
is ηλt. AdamW's update is different in kind. Per coordinate, with gradient g,

    θ ← θ(1 - ηλ) - η m̂ / (sqrt(v̂) + ε),

and four consequences follow from that line alone:

(a) a pathway of k multiplied factors whose gradient vanishes decays as (1-ηλ)^{kt}:
    half-life ln2/(kηλ), whatever the optimiser's moments (they are zero);
(b) a coordinate whose gradient keeps its sign moves by η g/(|g| + ε) per step (m̂ = g,
    v̂ = g² for a constant gradient, whatever β1 and β2): about η, independent of |g|, when
    ε ≪ |g|. A pathway that phase 1 left unused grows at the same rate as one it used;
(c) the fixed point of θ ← θ(1-ηλ) - ηs with |s| ≤ 1 is θ = -s/λ: AdamW keeps every
    coordinate within |θ| ≤ 1/λ, an ℓ∞ constraint, not an L2 penalty (Xie & Li 2024);
(d) with ε ≫ |g| the step is η g/ε: SGD with rate η/ε (to first order in |g|/ε), so a
    large-ε Adam is SGD with decoupled decay and should select what SGD selects.

β1 and β2 enter only through how m̂ and v̂ average a gradient that changes: for a gradient
of constant sign (b) holds for any β; β1 = β2 = 0 makes the step η g/(|g| + ε), sign descent,
at every step. What these do not give is a drift time for AdamW: (b) says the clock of a
sign-like pathway is ηt, not ηλt, and the chapter tests that ratio (``clock_ratio``); no
constant of the drift point is derived here, so none is claimed.
"""

from __future__ import annotations

import sympy as sp

from goaldrift.theory.derivation import Derivation

eta, lam, t, g, eps = sp.symbols("eta lambda t g epsilon", positive=True)
k = sp.Symbol("k", positive=True, integer=True)
theta, s = sp.symbols("theta s", real=True)
eta_1, eta_2 = sp.symbols("eta_1 eta_2", positive=True)


def pathway_half_life() -> Derivation:
    """(a) A product of k factors, each decayed by (1 - ηλ) per step with zero gradient: the
    half-life -ln2 / (k ln(1-ηλ)), and ln2/(kηλ) to first order in ηλ."""
    tt = sp.Symbol("t_{1/2}", positive=True)
    product = (1 - eta * lam) ** (k * t)
    (exact,) = sp.solve(sp.Eq(k * tt * sp.log(1 - eta * lam), -sp.log(2)), tt)
    leading = sp.limit(exact * eta * lam, eta, 0) / (eta * lam)
    return Derivation(
        sp.simplify(leading),
        (
            sp.Eq(sp.Symbol(r"\prod_{i=1}^{k}\theta_i(t)/\theta_i(0)"), product),
            sp.Eq(tt, exact),
            sp.Eq(tt, sp.simplify(leading), evaluate=False),
        ),
    )


def sign_growth_step() -> Derivation:
    """(b) The AdamW step of a coordinate with constant gradient g > 0 (bias-corrected
    moments m̂ = g, v̂ = g²): η g/(g + ε), which tends to η as ε/g → 0."""
    m_hat, v_hat = g, g**2
    step = eta * m_hat / (sp.sqrt(v_hat) + eps)
    limit = sp.limit(step, eps, 0)
    return Derivation(
        limit,
        (
            sp.Eq(sp.Symbol(r"\hat m"), m_hat),
            sp.Eq(sp.Symbol(r"\hat v"), v_hat),
            sp.Eq(sp.Symbol(r"|\Delta\theta|"), step),
            sp.Eq(sp.Symbol(r"\lim_{\epsilon/g\to 0}|\Delta\theta|"), limit),
        ),
    )


def linf_equilibrium() -> Derivation:
    """(c) The fixed point of θ ← θ(1 - ηλ) - η s (s: the normalised step, |s| ≤ 1): θ* = -s/λ,
    so |θ*| ≤ 1/λ."""
    (fixed,) = sp.solve(sp.Eq(theta, theta * (1 - eta * lam) - eta * s), theta)
    return Derivation(
        fixed,
        (
            sp.Eq(theta, theta * (1 - eta * lam) - eta * s),
            sp.Eq(sp.Symbol(r"\theta^*"), fixed),
            sp.Le(sp.Symbol(r"\left|\theta^{*}\right|"), 1 / lam),
        ),
    )


def large_eps_step() -> Derivation:
    """(d) The step η g/(|g| + ε) expanded in g/ε: η g/ε to first order (SGD with rate η/ε),
    with relative error g/ε."""
    step = eta * g / (g + eps)
    series = sp.series(step, g, 0, 3).removeO()
    leading = sp.expand(series).coeff(g, 1) * g
    return Derivation(
        leading,
        (
            sp.Eq(sp.Symbol(r"\Delta\theta"), step),
            sp.Eq(sp.Symbol(r"\Delta\theta"), sp.expand(series) + sp.O(g**3)),
            sp.Eq(sp.Symbol(r"\Delta\theta"), leading + sp.O(g**2)),
        ),
    )


def clock_ratio() -> Derivation:
    """The drift-time ratio t_d(η_2, λ_2)/t_d(η_1, λ_1) of two settings with the same ηλ:
    1 on the L2 clock (t_d = x_d/(ηλ)), η_1/η_2 on the sign-growth clock (t_d = c/η)."""
    x_d, c = sp.symbols("x_d c", positive=True)
    lam_1 = lam
    lam_2 = eta_1 * lam_1 / eta_2  # the same ηλ
    l2 = sp.simplify((x_d / (eta_2 * lam_2)) / (x_d / (eta_1 * lam_1)))
    sign = sp.simplify((c / eta_2) / (c / eta_1))
    return Derivation(
        sign,
        (
            sp.Eq(sp.Symbol(r"\lambda_2"), lam_2),
            sp.Eq(sp.Symbol(r"t_d(\eta_2)/t_d(\eta_1)\,[\mathrm{L2\ clock}]"), l2),
            sp.Eq(sp.Symbol(r"t_d(\eta_2)/t_d(\eta_1)\,[\mathrm{sign\ clock}]"), sign),
        ),
    )


# ---- evaluated at numbers ---------------------------------------------------------

def half_life_at(k_factors: int, eta_lambda: float) -> float:
    """``pathway_half_life`` at k factors and ηλ: ln2/(kηλ)."""
    return float(pathway_half_life().result.subs({k: k_factors, eta: eta_lambda, lam: 1}))


def sign_step_at(lr: float, grad: float, epsilon: float) -> float:
    """The AdamW step η g/(|g| + ε) of a constant gradient (the ``sign_growth_step`` before its limit)."""
    return float(sign_growth_step().steps[2].rhs.subs({eta: lr, g: abs(grad), eps: epsilon}))


def linf_bound_at(weight_decay: float) -> float:
    """``linf_equilibrium`` at its largest step |s| = 1: 1/λ."""
    return float(abs(linf_equilibrium().result.subs({s: 1, lam: weight_decay})))


def large_eps_rate(lr: float, epsilon: float) -> float:
    """The SGD rate of a large-ε Adam (``large_eps_step``): η/ε."""
    return float(large_eps_step().result.subs({eta: lr, eps: epsilon, g: 1}))


def clock_ratio_at(lr_1: float, lr_2: float) -> tuple[float, float]:
    """``clock_ratio`` at η_1, η_2: (L2 clock, sign-growth clock) = (1, η_1/η_2)."""
    d = clock_ratio()
    values = {eta_1: lr_1, eta_2: lr_2}
    return float(d.steps[1].rhs.subs(values)), float(d.result.subs(values))


def proxy_capacity(width: int, proxy_scale: float, weight_decay: float) -> float:
    """The largest output a proxy pathway can carry inside AdamW's ℓ∞ box (``linf_equilibrium``):
    ``width`` hidden units, each an input weight on the proxy bit (input ±proxy_scale) times a
    readout weight, both at most 1/λ: width · scale / λ². Below the target output (1) an AdamW
    run cannot hand the output to the proxy, whatever its L2 cost."""
    bound = linf_bound_at(weight_decay)
    return float(width * proxy_scale * bound**2)
