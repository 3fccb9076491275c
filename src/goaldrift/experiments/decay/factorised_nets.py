"""Diagonal and factorised linear networks trained with weight decay (H2); used by
chapters factorised_simplicity.

A diagonal network of depth L computes, for each coordinate i, the product
u_1i u_2i ... u_Li and is fitted to a target c_i with squared error; the
coordinates do not interact, so one run measures many scalar problems at once.
A factorised matrix W = A B^T is fitted to a target M in the same way.
Everything is plain gradient descent in float64 (torch.optim.SGD, whose
`weight_decay` adds lambda*w to the gradient: exactly the L2 penalty).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

CHECK_EVERY = 25  # steps between convergence checks (a check costs a device sync)


def diagonal_targets(n: int, threshold: float, c_max: float, margin: float, seed: int) -> np.ndarray:
    """n targets with random signs and |c| uniform on [0.1 threshold, (1-margin) threshold] or
    [(1+margin) threshold, c_max] (half each): none sits within `margin` of the threshold,
    where convergence slows to a crawl (the curvature there vanishes)."""
    rng = np.random.default_rng([seed, 10])
    n_below = n // 2
    below = rng.uniform(0.1 * threshold, (1 - margin) * threshold, n_below)
    above = rng.uniform((1 + margin) * threshold, c_max, n - n_below)
    signs = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    return np.concatenate([below, above]) * signs


@dataclass
class DiagonalRun:
    factors: np.ndarray        # [L, n] final factors
    products: np.ndarray       # [n] final products
    steps: int                 # steps taken
    max_grad: float            # largest |dJ/du| at the end
    history: np.ndarray | None = None     # [recorded steps, L, n] factors before each step
    residuals: np.ndarray | None = None   # [recorded steps, n] product - c before each step


def train_diagonal(targets, depth: int, weight_decay: float, lr: float, init, grad_tol: float = 1e-11,
                   max_steps: int = 200_000, record: int = 0) -> DiagonalRun:
    """Gradient descent on sum_i 1/2 (prod_l u_li - c_i)^2 + lambda/2 sum u^2 until every
    partial derivative is below grad_tol. `init` is the [depth, n] starting factors.
    record > 0 keeps the factors and the residual for the first `record` steps."""
    c = torch.as_tensor(targets, dtype=torch.float64)
    U = torch.tensor(np.asarray(init, dtype=float), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([U], lr=lr, weight_decay=weight_decay)
    bal, res = [], []
    step = 0
    while True:
        opt.zero_grad()
        r = U.prod(0) - c
        (0.5 * (r**2).sum()).backward()
        if step < record:
            with torch.no_grad():
                bal.append(U.detach().numpy().copy())
                res.append(r.detach().numpy().copy())
        if step % CHECK_EVERY == 0 or step >= max_steps:
            max_grad = float((U.grad + weight_decay * U.detach()).abs().max())
            if (max_grad < grad_tol and step >= record) or step >= max_steps or not math.isfinite(max_grad):
                break
        opt.step()
        step += 1
    factors = U.detach().numpy()
    return DiagonalRun(factors, factors.prod(0), step, max_grad,
                       np.array(bal) if record else None, np.array(res) if record else None)


def small_init(depth: int, n: int, scale: float, seed: int) -> np.ndarray:
    return scale * np.random.default_rng([seed, 11]).standard_normal((depth, n))


def fitted_balanced_init(targets, depth: int) -> np.ndarray:
    """The balanced unregularised fit: every |u_l| = |c|^{1/L}, the sign on the first factor."""
    c = np.asarray(targets, dtype=float)
    mag = np.abs(c) ** (1.0 / depth)
    U = np.tile(mag, (depth, 1))
    U[0] *= np.sign(c)
    return U


def deep_stationary_product(c: float, depth: int, weight_decay: float) -> float:
    """Where gradient descent from the balanced fit p = |c| ends for depth L >= 3: the largest
    root of p + lambda p^{2/L-1} = |c| if it exists (|c| above the threshold), else 0."""
    a = abs(c)
    h = lambda q: q + weight_decay * q ** (2.0 / depth - 1.0)
    p_min = (weight_decay * (depth - 2) / depth) ** (depth / (2.0 * (depth - 1)))
    if h(p_min) >= a:
        return 0.0
    lo, hi = p_min, a  # h(lo) < a <= h(hi), h increasing on [p_min, inf)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if h(mid) < a else (lo, mid)
    return math.copysign(0.5 * (lo + hi), c)


def balancedness_flow_rk4(u0, v0, targets, weight_decay: float, t_end: float, dt: float):
    """Integrate gradient flow on the depth-2 diagonal objective with classical RK4 (float64).
    Returns the times and u^2 - v^2 at each of them."""
    u, v, c = (np.asarray(x, dtype=float).copy() for x in (u0, v0, targets))

    def field(u, v):
        r = u * v - c
        return -(r * v + weight_decay * u), -(r * u + weight_decay * v)

    n_steps = int(math.ceil(t_end / dt))
    out = [u**2 - v**2]
    for _ in range(n_steps):
        k1 = field(u, v)
        k2 = field(u + dt / 2 * k1[0], v + dt / 2 * k1[1])
        k3 = field(u + dt / 2 * k2[0], v + dt / 2 * k2[1])
        k4 = field(u + dt * k3[0], v + dt * k3[1])
        u = u + dt / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])
        v = v + dt / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])
        out.append(u**2 - v**2)
    return np.arange(n_steps + 1) * dt, np.array(out)


# --- factorised matrices --------------------------------------------------------

def matrix_target(d: int, singular_values, seed: int) -> np.ndarray:
    """M = U diag(s) V^T with random orthogonal U, V (seeded)."""
    rng = np.random.default_rng([seed, 12])
    s = np.zeros(d)
    s[: len(singular_values)] = singular_values
    Uq, _ = np.linalg.qr(rng.standard_normal((d, d)))
    Vq, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return Uq @ np.diag(s) @ Vq.T


def spread_singular_values(n_above: int, n_below: int, threshold: float, s_max: float, margin: float) -> np.ndarray:
    """Singular values evenly spread above (1+margin) threshold up to s_max, and below
    (1-margin) threshold down to 0.2 threshold; none near the threshold."""
    above = np.linspace(s_max, (1 + margin) * threshold, n_above) if n_above else np.zeros(0)
    below = np.linspace((1 - margin) * threshold, 0.2 * threshold, n_below) if n_below else np.zeros(0)
    return np.concatenate([above, below])


@dataclass
class MatrixRun:
    A: np.ndarray
    B: np.ndarray
    steps: int
    max_grad: float

    @property
    def product(self) -> np.ndarray:
        return self.A @ self.B.T

    def singular_values(self) -> np.ndarray:
        return np.linalg.svd(self.product, compute_uv=False)


def train_factorised_matrix(M, width: int, weight_decay: float, lr: float, init_scale: float, seed: int,
                            grad_tol: float = 1e-10, max_steps: int = 400_000) -> MatrixRun:
    """Gradient descent on 1/2 ||A B^T - M||_F^2 + lambda/2 (||A||^2 + ||B||^2) from a small
    random start, until every partial derivative is below grad_tol."""
    d = M.shape[0]
    g = torch.Generator().manual_seed(int(np.random.default_rng([seed, 13]).integers(2**31)))
    A = (init_scale * torch.randn(d, width, generator=g, dtype=torch.float64)).requires_grad_()
    B = (init_scale * torch.randn(d, width, generator=g, dtype=torch.float64)).requires_grad_()
    target = torch.as_tensor(M, dtype=torch.float64)
    opt = torch.optim.SGD([A, B], lr=lr, weight_decay=weight_decay)
    step = 0
    while True:
        opt.zero_grad()
        (0.5 * ((A @ B.T - target) ** 2).sum()).backward()
        if step % CHECK_EVERY == 0 or step >= max_steps:
            max_grad = max(float((A.grad + weight_decay * A.detach()).abs().max()),
                           float((B.grad + weight_decay * B.detach()).abs().max()))
            if max_grad < grad_tol or step >= max_steps or not math.isfinite(max_grad):
                break
        opt.step()
        step += 1
    return MatrixRun(A.detach().numpy(), B.detach().numpy(), step, max_grad)


def numerical_rank(singular_values, tol: float) -> int:
    return int(np.sum(np.asarray(singular_values) > tol))
