"""The rotational-equilibrium derivations (H2) against independent numeric checks."""

import math

import numpy as np
import pytest
import sympy as sp
import torch

from goaldrift.theory import rotational as th
from goaldrift.theory.derivation import numeric


def test_scale_invariance_is_symbolically_exact():
    euler, scaled = th.scale_invariance().result
    assert euler == 0 and scaled == 0


def test_sgd_norm_step_by_direct_computation():
    rng = np.random.default_rng(0)
    w = rng.standard_normal(40)
    g = rng.standard_normal(40)
    g -= (g @ w) / (w @ w) * w                 # orthogonal, as for a scale-invariant weight
    eta, lam = 0.3, 0.07
    w_next = w - eta * (g + lam * w)
    formula = numeric(th.sgd_norm_step().result, th.N, th.eta, th.lam, th.sp.Symbol(r"\|g\|^2", real=True))
    assert w_next @ w_next == pytest.approx(formula(w @ w, eta, lam, g @ g), rel=1e-13)


def simulate_noise(optimizer, eta, lam, d=64, steps=40_000, burn=10_000, momentum=0.0, beta1=0.9, seed=0):
    """A purely scale-invariant weight under isotropic noise: g_t = P_perp(xi_t) / ||w_t||,
    xi ~ N(0, I) (so G~ = d - 1). Returns (mean ||w||^2, rms angle per step) after burn-in."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(d) * 0.1
    b = np.zeros(d)
    m, v = np.zeros(d), np.zeros(d)
    norms, angles = [], []
    for t in range(1, steps + 1):
        xi = rng.standard_normal(d)
        g = (xi - (xi @ w) / (w @ w) * w) / np.linalg.norm(w)
        w_old = w
        if optimizer == "sgd":
            b = momentum * b + g + lam * w if t > 1 else g + lam * w
            w = w - eta * b
        else:  # AdamW, PyTorch's arithmetic, beta_2 = 0.999
            w = w * (1 - eta * lam)
            m = beta1 * m + (1 - beta1) * g
            v = 0.999 * v + 0.001 * g * g
            w = w - eta / (1 - beta1**t) * m / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
        if t > burn:
            norms.append(w_old @ w_old)
            cos = (w_old @ w) / np.linalg.norm(w_old) / np.linalg.norm(w)
            angles.append(math.acos(min(1.0, cos)))
    return float(np.mean(norms)), float(np.sqrt(np.mean(np.square(angles))))


def test_sgd_equilibrium_by_simulation():
    eta, lam, d = 0.1, 0.01, 64
    N_mean, angle = simulate_noise("sgd", eta, lam, d)
    res = th.sgd_equilibrium().result
    norm4 = float(res["norm4"].subs({th.eta: eta, th.lam: lam, th.Gt: d - 1}))
    assert N_mean**2 == pytest.approx(norm4, rel=0.03)
    assert angle == pytest.approx(float(res["theta"].subs({th.eta: eta, th.lam: lam})), rel=0.02)
    assert float(res["theta_leading"].subs({th.eta: eta, th.lam: lam})) == pytest.approx(math.acos(1 - eta * lam), rel=1e-3)


def test_sgdm_equilibrium_by_simulation():
    eta, lam, mu, d = 0.01, 0.01, 0.9, 64
    N_mean, angle = simulate_noise("sgd", eta, lam, d, momentum=mu)
    res = th.sgdm_equilibrium().result
    norm4 = float(res["norm4"].subs({th.eta: eta, th.lam: lam, th.mu: mu, th.Gt: d - 1}))
    assert N_mean**2 == pytest.approx(norm4, rel=0.05)
    assert angle == pytest.approx(float(res["theta"].subs({th.eta: eta, th.lam: lam, th.mu: mu})), rel=0.03)


def test_adamw_equilibrium_by_simulation():
    eta, lam, b1, d = 0.004, 0.5, 0.9, 64
    N_mean, angle = simulate_noise("adamw", eta, lam, d, beta1=b1)
    res = th.adamw_equilibrium().result
    subs = {th.eta: eta, th.lam: lam, th.beta1: b1, th.C: d}
    assert math.sqrt(N_mean) == pytest.approx(float(res["norm"].subs(subs)), rel=0.05)
    assert angle == pytest.approx(float(res["theta"].subs(subs)), rel=0.05)


def test_momentum_result_without_momentum_is_sgd():
    sgdm, sgd = th.sgdm_equilibrium().result, th.sgd_equilibrium().result
    assert th.sp.simplify(sgdm["norm4"].subs(th.mu, 0) - sgd["norm4_leading"]) == 0
    assert th.sp.simplify(sgdm["theta"].subs(th.mu, 0) - sgd["theta_leading"]) == 0


def test_momentum_decay_root_against_numpy_and_torch():
    eta, lam, mu = 0.05, 0.02, 0.8
    root = float(th.momentum_decay_root().result.subs({th.eta: eta, th.lam: lam, th.mu: mu}))
    assert root == pytest.approx(max(np.roots([1, -(1 + mu - eta * lam), mu]).real), rel=1e-12)
    factors = th.momentum_decay_factors(eta, lam, mu, 300)
    p = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    opt = torch.optim.SGD([p], lr=eta, momentum=mu, weight_decay=lam)
    for t in range(300):
        p.grad = torch.zeros_like(p)
        opt.step()
    assert p.item() == pytest.approx(factors[-1], rel=1e-12)
    assert factors[-1] / factors[-2] == pytest.approx(root, rel=1e-6)
    assert np.allclose(th.momentum_decay_factors(eta, lam, 0.0, 10), (1 - eta * lam) ** np.arange(11), rtol=1e-14)


def test_ema_equilibrium_series_by_direct_summation():
    """E||m||^2 and E[w.m] are infinite sums over past kicks; sum them term by term."""
    a, beta, rate, kick_sq, eta = 0.1, 0.9, 0.05, 2.0, 0.01
    d = th.ema_equilibrium(sp.Float(a), sp.Float(beta), sp.Float(rate), sp.Float(kick_sq))
    k = np.arange(4000)
    ema_sq = a**2 * kick_sq * np.sum(beta ** (2 * k))
    entered = -eta * a * (1 - beta**k) / (1 - beta)
    w_dot_update = a * kick_sq * np.sum(beta**k * entered)
    value = lambda e: float(sp.sympify(e).subs(th.eta, eta))
    assert value(d.result["ema_sq"]) == pytest.approx(ema_sq, rel=1e-10)
    assert value(d.result["w_dot_update"]) == pytest.approx(w_dot_update, rel=1e-10)
    N = (eta**2 * ema_sq - 2 * eta * w_dot_update) / (2 * eta * rate)
    assert value(d.result["N"]) == pytest.approx(N, rel=1e-10)
    assert value(d.result["theta_sq"]) == pytest.approx(eta**2 * ema_sq / N, rel=1e-10)
