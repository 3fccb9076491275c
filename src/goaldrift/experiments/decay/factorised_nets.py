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


# --- the chapter's measurements, one call each -------------------------------------

ZERO = 1e-8  # a product (or singular value) below this counts as deleted


def product_tolerance_bound(c_max: float, weight_decay: float, margin: float, grad_tol: float = 1e-11) -> float:
    """How far from its fixed point a depth-2 product can sit when every partial derivative
    is below grad_tol: the curvature there is at least mu = min(2 lambda, margin lambda),
    so the factors are within sqrt(2) grad_tol / mu and the product within 2 sqrt(c_max) times that."""
    mu_min = min(2 * weight_decay, margin * weight_decay)
    return 2 * np.sqrt(c_max) * np.sqrt(2) * grad_tol / mu_min


def balancedness_record_steps(lr: float, weight_decay: float, fall: float = 1e6) -> int:
    """Steps for the imbalance u^2 - v^2 to fall by `fall` at the rate e^(-2 lambda eta) per step, plus one."""
    return int(np.ceil(np.log(fall) / (2 * lr * weight_decay))) + 1


@dataclass
class DiagonalThreshold:
    """A depth-2 diagonal network with decay and its lambda = 0 control, from one start
    (Measurement 1), and what the claims read from them."""

    targets: np.ndarray
    init: np.ndarray                # [2, n] the common small start
    weight_decay: float
    learning_rate: float
    c_max: float
    product_bound: float            # product_tolerance_bound: how close convergence brings a product
    run: DiagonalRun                # with decay (first steps recorded, for balancedness)
    control: DiagonalRun            # lambda = 0
    predicted: np.ndarray           # soft_threshold(targets, lambda)
    soft_threshold_error: float     # worst |product - predicted|
    zeroed: int                     # products below ZERO
    predicted_zeroed: int           # targets with |c| < lambda
    cheapest_gap: float             # cheapest_factorisation_gap over the survivors
    control_error: float            # worst |product - c| without decay
    control_smallest: float         # smallest |product| without decay over the targets |c| <= lambda


def diagonal_threshold(n: int, weight_decay: float, lr: float, c_max: float, margin: float, init_scale: float,
                       seed: int, grad_tol: float = 1e-11) -> DiagonalThreshold:
    """Draw n targets around lambda and a small start (seeded), train the depth-2 diagonal
    network with decay (recording balancedness_record_steps steps) and without, both to
    grad_tol, and compare the products with the soft threshold."""
    targets = diagonal_targets(n, weight_decay, c_max, margin, seed)
    init = small_init(2, n, init_scale, seed)
    record = balancedness_record_steps(lr, weight_decay)
    run = train_diagonal(targets, 2, weight_decay, lr, init, grad_tol=grad_tol, record=record)
    predicted = th.soft_threshold(targets, weight_decay)
    control = train_diagonal(targets, 2, 0.0, lr, init, grad_tol=grad_tol)
    return DiagonalThreshold(
        targets, init, weight_decay, lr, c_max, product_tolerance_bound(c_max, weight_decay, margin, grad_tol),
        run, control, predicted, np.abs(run.products - predicted).max(),
        int(np.sum(np.abs(run.products) < ZERO)), int(np.sum(np.abs(targets) < weight_decay)),
        cheapest_factorisation_gap(run, targets, weight_decay), np.abs(control.products - targets).max(),
        float(np.abs(control.products[np.abs(targets) <= weight_decay]).min()))


def plot_diagonal_threshold(m: DiagonalThreshold) -> None:
    """Left: learned products against the soft threshold, with and without decay; right: the
    imbalance |u^2 - v^2| of a few coordinates against e^(-2 lambda eta t)."""
    from goaldrift.experiments import plots

    lam = m.weight_decay
    fig, (ax1, ax2) = plots.panels(2)
    grid = np.linspace(-m.c_max, m.c_max, 400)
    ax1.plot(grid, th.soft_threshold(grid, lam), **plots.PREDICTED, label="sign(c) max(|c|-$\\lambda$, 0)")
    ax1.plot(m.targets, m.run.products, "o", ms=4, label=f"trained, $\\lambda$={lam:g}")
    ax1.plot(m.targets, m.control.products, "x", ms=4, label="trained, $\\lambda$=0")
    ax1.set(xlabel="target $c_i$", ylabel="learned product $u_iv_i$", title="diagonal network")
    ax1.legend()
    B_hist = m.run.history[:, 0] ** 2 - m.run.history[:, 1] ** 2
    steps_axis = np.arange(B_hist.shape[0])
    n = len(m.targets)
    for i in range(0, n, max(1, n // 6)):
        ax2.semilogy(steps_axis, np.abs(B_hist[:, i]), lw=1)
    ax2.semilogy(steps_axis, np.abs(B_hist[0]).max() * np.exp(-2 * lam * m.learning_rate * steps_axis),
                 **plots.PREDICTED, label="$e^{-2\\lambda\\eta t}$")
    ax2.set(xlabel="step $t$", ylabel="$|u_i^2-v_i^2|$", title="balancedness")
    ax2.legend()
    plots.show()


@dataclass
class Balancedness:
    """Measurement 2: the imbalance u^2 - v^2 under one GD step and under gradient flow."""

    step_error: float       # balancedness_step_error over the recorded steps of the decayed run
    checked: int            # (step, coordinate) pairs it checked
    flow_error: float       # RK4 flow with decay against B_0 e^(-2 lambda t)
    conserved_error: float  # RK4 flow at lambda = 0: worst relative change of B
    t_end: float


def balancedness(m: DiagonalThreshold, horizon: float = 3.0, dt: float = 1e-2) -> Balancedness:
    """The one-step factor on the recorded run of `m`, and the flow from its start and
    targets, with and without decay, integrated to t = horizon / lambda."""
    step_error, checked = balancedness_step_error(m.run, m.learning_rate, m.weight_decay)
    t_end = horizon / m.weight_decay
    times, B = balancedness_flow_rk4(m.init[0], m.init[1], m.targets, m.weight_decay, t_end=t_end, dt=dt)
    times0, B0 = balancedness_flow_rk4(m.init[0], m.init[1], m.targets, 0.0, t_end=t_end, dt=dt)
    return Balancedness(step_error, checked, balancedness_flow_error(times, B, m.weight_decay),
                        balancedness_flow_error(times0, B0, 0.0), t_end)


@dataclass
class DeepThreshold:
    """Measurement 3: a depth-L diagonal network from the balanced fit, targets around c_crit."""

    depth: int
    c_crit: float
    targets: np.ndarray
    run: DiagonalRun
    predicted: np.ndarray       # deep_stationary_product of each target
    product_error: float        # worst |product - predicted|
    survivors: int              # products above ZERO
    predicted_survivors: int    # targets with |c| > c_crit
    smallest_survivor: float    # smallest predicted |product| among the targets above c_crit


def deep_threshold(n: int, c_crit: float, weight_decay: float, lr: float, c_max: float, margin: float,
                   seed: int, depth: int = 3, grad_tol: float = 1e-11) -> DeepThreshold:
    """n targets drawn (with `seed`) around c_crit up to max(c_max, 2 c_crit), trained from
    the balanced unregularised fit with decay to grad_tol, against the largest root of
    h(p) = |c| (or 0)."""
    targets = diagonal_targets(n, c_crit, max(c_max, 2 * c_crit), margin, seed)
    run = train_diagonal(targets, depth, weight_decay, lr, fitted_balanced_init(targets, depth), grad_tol=grad_tol)
    predicted = np.array([deep_stationary_product(x, depth, weight_decay) for x in targets])
    above = np.abs(targets) > c_crit
    return DeepThreshold(depth, c_crit, targets, run, predicted, np.abs(run.products - predicted).max(),
                         int(np.sum(np.abs(run.products) > ZERO)), int(np.sum(above)),
                         float(np.abs(predicted[above]).min()))


@dataclass
class MatrixThreshold:
    """Measurement 4: a factorised matrix AB^T fitted with and without decay."""

    target_singular_values: np.ndarray   # the nonzero ones (spread_singular_values)
    target: np.ndarray                   # M
    run: MatrixRun
    control: MatrixRun                   # lambda = 0
    singular_values: np.ndarray
    control_singular_values: np.ndarray
    rank: int                            # numerical_rank(singular values, rank_tol)
    control_rank: int
    singular_value_error: float          # against the target's soft-thresholded at lambda
    nuclear_gap: float                   # nuclear_norm_gap of the decayed run
    weight_decay: float

    @property
    def padded_target(self) -> np.ndarray:
        return padded_singular_values(self.target_singular_values, len(self.singular_values))


def matrix_threshold(d: int, n_above: int, n_below: int, weight_decay: float, lr: float, s_max: float,
                     margin: float, init_scale: float, seed: int, rank_tol: float = 1e-6) -> MatrixThreshold:
    """A d x d target with n_above singular values above lambda and n_below below (none within
    margin), fitted by AB^T from the small seeded start with decay and without."""
    s_target = spread_singular_values(n_above, n_below, weight_decay, s_max, margin)
    M = matrix_target(d, s_target, seed)
    run = train_factorised_matrix(M, d, weight_decay, lr, init_scale, seed)
    control = train_factorised_matrix(M, d, 0.0, lr, init_scale, seed)
    sv, sv0 = run.singular_values(), control.singular_values()
    return MatrixThreshold(s_target, M, run, control, sv, sv0, numerical_rank(sv, rank_tol), numerical_rank(sv0, rank_tol),
                           singular_value_error(sv, s_target, weight_decay), nuclear_norm_gap(run), weight_decay)


def plot_matrix_threshold(m: MatrixThreshold) -> None:
    """Singular values of the target and of both trained products, with lambda."""
    from goaldrift.experiments import plots

    fig, ax = plots.panels(1)
    k = np.arange(1, len(m.singular_values) + 1)
    ax.semilogy(k, np.maximum(m.padded_target, 1e-17), "s", mfc="none", label="target")
    ax.semilogy(k, np.maximum(m.control_singular_values, 1e-17), "x", label="trained, $\\lambda$=0")
    ax.semilogy(k, np.maximum(m.singular_values, 1e-17), "o", label=f"trained, $\\lambda$={m.weight_decay:g}")
    ax.axhline(m.weight_decay, **plots.PREDICTED, label="$\\lambda$")
    ax.set(xlabel="index", ylabel="singular value", title="factorised matrix $AB^\\top$")
    ax.legend()
    plots.show()
