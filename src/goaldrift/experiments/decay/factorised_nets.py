"""Diagonal and factorised linear networks trained with weight decay (H2).

A diagonal network of depth L computes, for each coordinate i, the product
u_1i u_2i ... u_Li and is fitted to a target c_i with squared error; the
coordinates do not interact, so one run measures many scalar problems at once.
A factorised matrix W = A B^T is fitted to a target M in the same way.
Everything is plain full-batch gradient descent in float64 through the engine
(goaldrift.engine: the "diagonal" and "factorised_matrix" model kinds, the
"coordinate_targets" and "matrix_targets" tasks, the half_sse loss, and the
optimiser kind "sgd_torch", which adds lambda*w to the gradient, exactly the L2
penalty, in torch.optim.SGD's arithmetic), until a gradient-tolerance StopRule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
import sympy as sp
import torch

from goaldrift.engine.models.factorised import DiagonalConfig, FactorisedMatrixConfig, diagonal_init
from goaldrift.engine.train import OptimConfig, RunConfig, StepView, StopRule, train
from goaldrift.theory import factorised as th
from goaldrift.theory.derivation import numeric

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


def _sgd_config(task: dict, model, weight_decay: float, lr: float, grad_tol: float, max_steps: int,
                min_steps: int = 0, seed: int = 0) -> RunConfig:
    """Full-batch float64 gradient descent with L2 in the gradient (torch.optim.SGD's
    arithmetic) on half the summed squared error, until every partial derivative is
    below grad_tol (tested every CHECK_EVERY steps, at most max_steps)."""
    return RunConfig(task=task, model=model,
                     optim=OptimConfig(kind="sgd_torch", lr=float(lr), weight_decay=float(weight_decay)),
                     steps=max_steps, seeds=[seed], loss="half_sse", eval_every=max_steps, checkpoint_every=None,
                     dtype="float64", device="cpu", stop=StopRule(float(grad_tol), CHECK_EVERY, min_steps))


def _first_steps(record: int):
    """A step observer keeping the factors and the residual before each of the first `record` steps."""
    def observe(view: StepView):
        if view.step < record:
            U = view.before["U"]
            return {"factors": U, "residual": U.prod(1) - view.data.train_y[0]}
        return None
    return observe


def train_diagonal(targets, depth: int, weight_decay: float, lr: float, init, grad_tol: float = 1e-11,
                   max_steps: int = 200_000, record: int = 0) -> DiagonalRun:
    """Gradient descent on sum_i 1/2 (prod_l u_li - c_i)^2 + lambda/2 sum u^2 until every
    partial derivative is below grad_tol. `init` is the [depth, n] starting factors.
    record > 0 keeps the factors and the residual before each of the first `record`
    steps (and the run takes at least that many)."""
    c = np.asarray(targets, dtype=float)
    config = _sgd_config({"name": "coordinate_targets", "targets": c.tolist()}, DiagonalConfig(n=len(c), depth=depth),
                         weight_decay, lr, grad_tol, max_steps, min_steps=record)
    start = {"U": torch.tensor(np.asarray(init, dtype=float), dtype=torch.float64)[None]}
    observers = {"first_steps": _first_steps(record)} if record else None
    model, m = train(config, init_state=start, observers=observers, progress=False)
    factors = model.U.detach()[0].numpy()
    return DiagonalRun(factors, factors.prod(0), int(m["step"][-1]), float(m["grad_max"][-1].max()),
                       m["factors"][:, 0] if record else None, m["residual"][:, 0] if record else None)


def cheapest_factorisation_gap(run: DiagonalRun, targets, weight_decay: float) -> float:
    """Worst relative gap |u^2 + v^2 - 2|uv|| / (2|uv|) of a depth-2 run's surviving
    coordinates (|c| > lambda): zero when each ends at its cheapest factorisation |u| = |v|."""
    if run.factors.shape[0] != 2:
        raise ValueError(f"the cheapest-factorisation gap is for depth 2 (got depth {run.factors.shape[0]})")
    alive = np.abs(np.asarray(targets, dtype=float)) > weight_decay
    u, v = run.factors
    return float((np.abs(u**2 + v**2 - 2 * np.abs(u * v))[alive] / (2 * np.abs(run.products[alive]))).max())


@cache
def _balancedness_factor():
    """(eta, lambda, r) -> the derived one-step factor of u^2 - v^2, derived once per process."""
    return numeric(th.balancedness_gd_factor().result, th.eta, th.lam, sp.Symbol("r", real=True))


def balancedness_step_error(run: DiagonalRun, lr: float, weight_decay: float, floor: float = 1e-6) -> tuple[float, int]:
    """Worst relative error of B_{t+1} / B_t (B = u^2 - v^2, per coordinate) against the
    derived one-step factor (1 - eta lambda)^2 - eta^2 r_t^2, over the recorded steps of a
    depth-2 run where |B_t| >= floor (u_t^2 + v_t^2) (below, rounding dominates B); and how
    many (step, coordinate) pairs were checked."""
    if run.history is None or run.history.shape[1] != 2:
        raise ValueError("need a depth-2 run with recorded steps (train_diagonal(..., record=N))")
    H = run.history
    B_t, S_t = H[:, 0] ** 2 - H[:, 1] ** 2, H[:, 0] ** 2 + H[:, 1] ** 2
    factor = _balancedness_factor()
    usable = np.abs(B_t[:-1]) >= floor * S_t[:-1]
    if not usable.any():
        raise ValueError(f"no recorded step has |u^2 - v^2| >= {floor:g} (u^2 + v^2): nothing to check")
    ratio = B_t[1:][usable] / B_t[:-1][usable]
    predicted = factor(lr, weight_decay, run.residuals[:-1][usable])
    return np.max(np.abs(ratio / predicted - 1)), int(usable.sum())


def balancedness_flow_error(times, B, weight_decay: float) -> float:
    """Worst relative error of u^2 - v^2 along a flow ([times, n], from balancedness_flow_rk4)
    against B_0 exp(-2 lambda t); at lambda = 0, the worst relative change of B."""
    times, B = np.asarray(times, dtype=float), np.asarray(B, dtype=float)
    return np.abs(B / (B[0] * np.exp(-2 * weight_decay * times[:, None])) - 1).max()


def small_init(depth: int, n: int, scale: float, seed: int) -> np.ndarray:
    """[depth, n] factors N(0, scale^2): the engine's diagonal-network init for `seed`."""
    return diagonal_init(DiagonalConfig(n=n, depth=depth, init_scale=scale), seed)["U"].numpy()


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
    s = padded_singular_values(singular_values, d)
    Uq, _ = np.linalg.qr(rng.standard_normal((d, d)))
    Vq, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return Uq @ np.diag(s) @ Vq.T


def padded_singular_values(singular_values, d: int) -> np.ndarray:
    """The d singular values of a d x d matrix with the given nonzero ones: zeros appended."""
    s = np.zeros(d)
    s[: len(singular_values)] = singular_values
    return s


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
    random start (the engine's factorised-matrix init for `seed`), until every partial
    derivative is below grad_tol."""
    M = np.asarray(M, dtype=float)
    config = _sgd_config({"name": "matrix_targets", "matrix": M.tolist()},
                         FactorisedMatrixConfig(d=M.shape[0], width=width, init_scale=float(init_scale)),
                         weight_decay, lr, grad_tol, max_steps, seed=seed)
    model, m = train(config, progress=False)
    return MatrixRun(model.A.detach()[0].numpy(), model.B.detach()[0].numpy(), int(m["step"][-1]),
                     float(m["grad_max"][-1].max()))


def numerical_rank(singular_values, tol: float) -> int:
    return int(np.sum(np.asarray(singular_values) > tol))


def singular_value_error(singular_values, target_singular_values, weight_decay: float) -> float:
    """Worst |s_i - max(t_i - lambda, 0)| between a run's singular values and the target's
    (zero-padded to as many) soft-thresholded at lambda."""
    sv = np.asarray(singular_values, dtype=float)
    return np.abs(sv - th.soft_threshold(padded_singular_values(target_singular_values, len(sv)), weight_decay)).max()


def nuclear_norm_gap(run: MatrixRun) -> float:
    """|(||A||^2 + ||B||^2) / (2 ||AB^T||_*) - 1|: zero when the factors are the cheapest
    factorisation of their product."""
    return abs(((run.A**2).sum() + (run.B**2).sum()) / (2 * run.singular_values().sum()) - 1)
