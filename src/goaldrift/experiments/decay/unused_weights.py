"""Measurements of how weight decay treats weights the loss does not use (H1).

An under-determined linear regression (fewer samples than features) has a
null space: directions the loss cannot see. Gradient descent with decay
shrinks them by exactly 1 - eta*lambda per step. Features that are zero in
every sample give coordinates whose gradient is exactly zero, the only
null directions on which decoupled AdamW obeys the same law (Adam's
per-coordinate scaling is not rotation invariant).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from goaldrift.engine import runs
from goaldrift.engine.models import MLPConfig
from goaldrift.engine.tasks.regression import linear_regression
from goaldrift.engine.train import OptimConfig, RunConfig
from goaldrift.stats import farthest_from
from goaldrift.theory import l2_equilibrium as th
from goaldrift.theory.derivation import numeric


@dataclass
class Regression:
    """y = X w_true + noise, with X scaled so the top eigenvalue of X^T X / n is 1.

    The last `n_zero` columns of X are zero in every sample.
    """

    X: np.ndarray
    y: np.ndarray
    n_zero: int
    seed: int     # of the engine's "linear_regression" task that drew it

    @property
    def n(self) -> int:
        return self.X.shape[0]

    @property
    def covariance(self) -> np.ndarray:
        return self.X.T @ self.X / self.n

    @property
    def target_moment(self) -> np.ndarray:
        return self.X.T @ self.y / self.n

    def null_projector(self) -> np.ndarray:
        """P with P w = the part of w the loss cannot see."""
        return np.eye(self.X.shape[1]) - np.linalg.pinv(self.X) @ self.X

    def ridge_solution(self, weight_decay: float) -> np.ndarray:
        d = self.X.shape[1]
        return np.linalg.solve(self.covariance + weight_decay * np.eye(d), self.target_moment)

    def least_squares_min_norm(self) -> np.ndarray:
        return np.linalg.pinv(self.X) @ self.y


def make_regression(n_samples: int, n_features: int, n_zero: int, seed: int) -> Regression:
    """The engine's "linear_regression" task as numpy arrays (what the training runs rebuild)."""
    d = linear_regression(n_samples, n_features, n_zero, seed)
    return Regression(d.train_x.numpy(), d.train_y.numpy(), n_zero, seed)


def initial_weights(dim: int, seed: int) -> np.ndarray:
    return np.random.default_rng([seed, 1]).standard_normal(dim)


def gd_step_budget(learning_rate: float, weight_decay: float, contraction: float = 1e-12) -> int:
    """Steps for GD on this chapter's data (eigenvalues in [0, 1]) to contract every
    mode of the error by `contraction`: the slowest mode is the null space (1 - eta*lambda)
    or the top eigendirection |1 - eta*(1 + lambda)|."""
    rho = max(1 - learning_rate * weight_decay, abs(1 - learning_rate * (1 + weight_decay)))
    return math.ceil(math.log(contraction) / math.log(rho))


@dataclass
class GDRun:
    weights: np.ndarray            # final w
    null_norms: np.ndarray         # ||P w_t|| for t = 0 .. len-1
    steps: int


def gradient_descent(data: Regression, w0: np.ndarray, learning_rate: float,
                     weight_decay: float, steps: int, record: int) -> GDRun:
    """Plain float64 gradient descent on 1/(2n)||Xw - y||^2 + lambda/2 ||w||^2,
    recording the null-space norm for the first `record` steps."""
    S, c, P = data.covariance, data.target_moment, data.null_projector()
    w = w0.copy()
    null_norms = np.empty(min(record, steps) + 1)
    null_norms[0] = np.linalg.norm(P @ w)
    for t in range(steps):
        w = w - learning_rate * (S @ w - c) - learning_rate * weight_decay * w
        if t + 1 < len(null_norms):
            null_norms[t + 1] = np.linalg.norm(P @ w)
    return GDRun(w, null_norms, steps)


def ridge_distance(data: Regression, w: np.ndarray, weight_decay: float) -> float:
    """||w - w_ridge|| / ||w_ridge||: how far w is from the ridge solution at this decay."""
    w_ridge = data.ridge_solution(weight_decay)
    return np.linalg.norm(w - w_ridge) / np.linalg.norm(w_ridge)


def stationarity_residual(data: Regression, w: np.ndarray, weight_decay: float) -> float:
    """||grad L(w) + lambda w|| / (lambda ||w||), grad L(w) = X^T X w / n - X^T y / n: the
    relative residual of the stationarity condition grad L = -lambda w."""
    grad_loss = data.covariance @ w - data.target_moment
    return np.linalg.norm(grad_loss + weight_decay * w) / (weight_decay * np.linalg.norm(w))


def per_step_factors(norms: np.ndarray, floor: float = 1e-8) -> np.ndarray:
    """Ratios norm_{t+1}/norm_t while the norm is still above floor * norm_0
    (below that, rounding of the loss gradient dominates the tiny remainder)."""
    keep = norms[:-1] > floor * norms[0]
    return (norms[1:] / norms[:-1])[keep]


def eigen_shrinkage(data: Regression, w: np.ndarray, weight_decay: float, min_share: float = 1e-3):
    """Per eigendirection of the covariance with eigenvalue s > 0: measured ratio of
    w to the least-squares solution, and the prediction s/(s+lambda)."""
    s, V = np.linalg.eigh(data.covariance)
    w_ls = V.T @ data.least_squares_min_norm()
    w_m = V.T @ w
    keep = (s > 1e-10) & (np.abs(w_ls) > min_share * np.linalg.norm(w_ls))
    return s[keep], w_m[keep] / w_ls[keep], s[keep] / (s[keep] + weight_decay)


def _weights(model, data, step) -> dict[str, torch.Tensor]:
    return {"weights": model.W_0.detach()[:, :, 0]}


def adam_trajectory(data: Regression, w0: np.ndarray, learning_rate: float,
                    weight_decay: float, steps: int, coupled: bool, root=None) -> np.ndarray:
    """Weights after every step of the engine's AdamW (decoupled) or Adam with coupled L2
    (PyTorch's Adam defaults: betas 0.9, 0.999, eps 1e-8) on 1/(2n)||Xw - y||^2, in
    float64, from w0; rows are steps 0..steps. Cached in the run cache."""
    d = data.X.shape[1]
    config = RunConfig(
        task={"name": "linear_regression", "n_samples": data.n, "n_features": d - data.n_zero, "n_zero": data.n_zero},
        model=MLPConfig(d_in=d, d_hidden=[], d_out=1, bias=False),
        optim=OptimConfig(kind="adam_l2" if coupled else "adamw", lr=float(learning_rate),
                          weight_decay=float(weight_decay), betas=(0.9, 0.999), eps=1e-8),
        steps=steps, seeds=[0], data_seed=data.seed, loss="half_mse", eval_every=1, dtype="float64", device="cpu")
    start = {"W_0": torch.tensor(w0, dtype=torch.float64)[None, :, None]}
    r = runs.run(config, root=root, init_state=start, metric_fns={"weights": _weights}, progress=False)
    return r.metrics["weights"][:, 0, :]


def with_unit_unused(w0: np.ndarray, n_zero: int, seed: int) -> np.ndarray:
    """w0 with its last n_zero coordinates (those of the all-zero features) set to random
    signs +-1 (seeded): unused weights of magnitude exactly 1."""
    signs = np.where(np.random.default_rng([seed, 3]).random(n_zero) < 0.5, -1.0, 1.0)
    w = w0.copy()
    w[-n_zero:] = signs
    return w


def first_step_drop(trajectory: np.ndarray, n_zero: int) -> float:
    """Mean |w_1 - w_0| over the last n_zero coordinates of a trajectory [steps + 1, d]."""
    return np.abs(trajectory[1, -n_zero:] - trajectory[0, -n_zero:]).mean()


def null_direction(data: Regression, seed: int) -> np.ndarray:
    """A unit vector in the null space of the dense features, mixing many
    coordinates: invisible to the loss, but not a coordinate axis."""
    dense = data.X.shape[1] - data.n_zero
    rng = np.random.default_rng([seed, 2])
    P = data.null_projector()[:dense, :dense]
    u = P @ rng.standard_normal(dense)
    full = np.zeros(data.X.shape[1])
    full[:dense] = u / np.linalg.norm(u)
    return full


def decay_rate_errors(values: np.ndarray, learning_rate: float, weight_decay: float) -> np.ndarray:
    """|r_t - eta*lambda| / (eta*lambda) where r_t = 1 - v_{t+1}/v_t is the measured
    per-step decay rate of a scalar (or of each column)."""
    ratios = values[1:] / values[:-1]
    return np.abs((1 - ratios) - learning_rate * weight_decay) / (learning_rate * weight_decay)


@dataclass
class NoiseRun:
    variance: float          # cross-sectional mean of w^2 over independent chains
    standard_error: float    # of that variance, for Gaussian chains: V sqrt(2/N)
    steps: int


def predicted_noise_variance(learning_rate: float, weight_decay: float, sigma: float, steps: int) -> float:
    """Variance after `steps` of SGD with decay on a weight fed only gradient noise N(0, sigma^2),
    from 0: the stationary eta sigma^2 / (lambda (2 - eta lambda)) times 1 - (1 - eta lambda)^(2 t)."""
    stationary = numeric(th.noise_stationary_variance().result, th.eta, th.lam, th.sigma)(learning_rate, weight_decay, sigma)
    return stationary * (1 - (1 - learning_rate * weight_decay) ** (2 * steps))


def noise_driven_variance(n_chains: int, learning_rate: float, weight_decay: float,
                          sigma: float, steps: int, seed: int, optimizer: str = "sgd") -> NoiseRun:
    """Independent weights that receive only gradient noise N(0, sigma^2), started
    at 0, under torch.optim.SGD(weight_decay) or Adam with coupled L2."""
    gen = torch.Generator().manual_seed(seed)
    w = torch.zeros(n_chains, dtype=torch.float64, requires_grad=True)
    if optimizer == "sgd":
        opt = torch.optim.SGD([w], lr=learning_rate, weight_decay=weight_decay)
    elif optimizer == "adam_l2":
        opt = torch.optim.Adam([w], lr=learning_rate, weight_decay=weight_decay)
    else:
        raise ValueError(f"unknown optimizer {optimizer!r}")
    for _ in range(steps):
        w.grad = sigma * torch.randn(n_chains, generator=gen, dtype=torch.float64)
        opt.step()
    variance = float((w.detach() ** 2).mean())
    return NoiseRun(variance, variance * math.sqrt(2.0 / n_chains), steps)


# --- the chapter's measurements, each one call ------------------------------------

@dataclass
class NullSpaceDecay:
    """Gradient descent with decay on the chapter's regression (Measurement 1): how the
    null space shrinks per step and where the run ends."""

    data: Regression
    w0: np.ndarray                  # the start (also the start of the Adam runs)
    learning_rate: float
    weight_decay: float
    run: GDRun
    factors: np.ndarray             # per-step factors ||P w_{t+1}|| / ||P w_t|| (per_step_factors)
    predicted_factor: float         # the derived factor 1 - eta lambda (sympy, evaluated)
    worst_factor: float             # the measured factor farthest from the prediction
    ridge_distance: float           # relative distance of the end point to the ridge solution
    stationarity_residual: float    # relative residual of grad L(w) = -lambda w at the end point
    eigenvalues: np.ndarray         # of X^T X / n, the kept eigendirections (eigen_shrinkage)
    shrinkage: np.ndarray           # measured w_T / w_LS along each of them
    predicted_shrinkage: np.ndarray  # s / (s + lambda)
    shrinkage_error: float          # worst |measured - predicted| shrinkage

    @property
    def steps(self) -> int:
        return self.run.steps

    @property
    def factor_rel_error(self) -> float:
        """|worst factor - predicted| / predicted."""
        return abs(self.worst_factor - self.predicted_factor) / self.predicted_factor


def null_space_decay(n_samples: int, n_features: int, n_zero: int, seed: int, learning_rate: float,
                     weight_decay: float, record: int = 5000) -> NullSpaceDecay:
    """Draw the regression and start of `seed`, run float64 gradient descent with decay for
    gd_step_budget steps (recording the null-space norm for the first `record`), and
    measure the per-step null-space factor against the derived 1 - eta lambda, the end
    point against the ridge solution, and the shrinkage per eigendirection."""
    data = make_regression(n_samples, n_features, n_zero, seed)
    w0 = initial_weights(data.X.shape[1], seed)
    steps = gd_step_budget(learning_rate, weight_decay)
    run = gradient_descent(data, w0, learning_rate, weight_decay, steps, record=min(steps, record))
    factors = per_step_factors(run.null_norms)
    predicted = float(numeric(th.unused_direction_factor_gd().result, th.eta, th.lam)(learning_rate, weight_decay))
    s, measured, predicted_shrinkage = eigen_shrinkage(data, run.weights, weight_decay)
    return NullSpaceDecay(
        data, w0, learning_rate, weight_decay, run, factors, predicted, farthest_from(factors, predicted),
        ridge_distance(data, run.weights, weight_decay), stationarity_residual(data, run.weights, weight_decay),
        s, measured, predicted_shrinkage, np.max(np.abs(measured - predicted_shrinkage)))


def plot_null_space_decay(m: NullSpaceDecay) -> None:
    """Left: the null-space norm against (1 - eta lambda)^t; right: the shrinkage per
    eigendirection against s / (s + lambda)."""
    from goaldrift.experiments import plots

    fig, (ax1, ax2) = plots.panels(2)
    t = np.arange(len(m.run.null_norms))
    ax1.semilogy(t, m.run.null_norms / m.run.null_norms[0], label="measured $\\|P w_t\\|/\\|P w_0\\|$")
    ax1.semilogy(t, m.predicted_factor ** t, **plots.PREDICTED, label="$(1-\\eta\\lambda)^t$")
    ax1.set(xlabel="step $t$", ylabel="null-space norm (relative)", title="GD: unused directions")
    ax1.legend()
    grid = np.logspace(np.log10(m.eigenvalues.min()) - 1, 0.1, 200)
    ax2.semilogx(grid, grid / (grid + m.weight_decay), **plots.PREDICTED, label="$s/(s+\\lambda)$")
    ax2.semilogx(m.eigenvalues, m.shrinkage, "o", ms=4, label="measured $w_T/w_{LS}$")
    ax2.set(xlabel="eigenvalue $s$ of $X^\\top X/n$", ylabel="shrinkage", title="ridge shrinkage")
    ax2.legend()
    plots.show()


@dataclass
class AdamWNullDirections:
    """The engine's AdamW on the regression (Measurement 2): the per-step decay rate of the
    zero-gradient coordinates and of a mixed null-space direction u, against eta lambda."""

    trajectory: np.ndarray          # [steps + 1, d] AdamW weights
    direction: np.ndarray           # the unit null-space direction u (null_direction)
    coordinate_errors: np.ndarray   # [steps, n_zero] decay_rate_errors of the zero-gradient coordinates
    direction_errors: np.ndarray    # [steps] decay_rate_errors of w_t . u

    @property
    def worst_coordinate_error(self) -> float:
        return self.coordinate_errors.max()

    @property
    def worst_direction_error(self) -> float:
        return self.direction_errors.max()

    @property
    def median_direction_error(self) -> float:
        """Median over all steps of the error along u."""
        return float(np.median(self.direction_errors))

    @property
    def late_direction_error(self) -> float:
        """Median over the second half of the steps of the error along u (after the transient)."""
        return float(np.median(self.direction_errors[len(self.direction_errors) // 2:]))


def adamw_null_directions(data: Regression, w0: np.ndarray, learning_rate: float, weight_decay: float,
                          steps: int, seed: int) -> AdamWNullDirections:
    """AdamW (decoupled) from w0 for `steps` steps; decay-rate errors on the zero-gradient
    coordinates and along the seeded mixed null direction."""
    trajectory = adam_trajectory(data, w0, learning_rate, weight_decay, steps, coupled=False)
    coordinate_errors = decay_rate_errors(trajectory[:, -data.n_zero:], learning_rate, weight_decay)
    u = null_direction(data, seed)
    return AdamWNullDirections(trajectory, u, coordinate_errors,
                               decay_rate_errors(trajectory @ u, learning_rate, weight_decay))


def plot_adamw_null_directions(m: AdamWNullDirections) -> None:
    """The error of the per-step decay rate along u and on the worst zero-gradient coordinate."""
    from goaldrift.experiments import plots

    fig, ax = plots.panels(1)
    steps = np.arange(1, len(m.direction_errors) + 1)
    ax.semilogy(steps, m.direction_errors, label="mixed null direction $u$")
    ax.semilogy(steps, np.maximum(m.coordinate_errors.max(1), 1e-17), label="zero-gradient coordinates (worst)")
    ax.set(xlabel="step $t$", ylabel="$|r_t-\\eta\\lambda|/(\\eta\\lambda)$", title="AdamW: error of the per-step decay rate")
    ax.legend()
    plots.show()


@dataclass
class CoupledAdam:
    """Adam with coupled L2 against AdamW from a start whose unused weights are +-1."""

    start: np.ndarray               # w0 with unit unused weights (with_unit_unused)
    n_zero: int
    coupled: np.ndarray             # [steps + 1, d] Adam + coupled L2
    decoupled: np.ndarray           # [steps + 1, d] AdamW
    first_step_drop: float          # mean |w_1 - w_0| of the unused weights under coupled L2

    def unused_magnitude(self, trajectory: np.ndarray) -> np.ndarray:
        """Mean |w| of the zero-gradient coordinates at each step."""
        return np.abs(trajectory[:, -self.n_zero:]).mean(1)


def coupled_adam(data: Regression, w0: np.ndarray, learning_rate: float, weight_decay: float,
                 steps: int, seed: int) -> CoupledAdam:
    """Adam + coupled L2 and AdamW from w0 with its unused weights set to seeded signs +-1."""
    start = with_unit_unused(w0, data.n_zero, seed)
    coupled = adam_trajectory(data, start, learning_rate, weight_decay, steps, coupled=True)
    decoupled = adam_trajectory(data, start, learning_rate, weight_decay, steps, coupled=False)
    return CoupledAdam(start, data.n_zero, coupled, decoupled, first_step_drop(coupled, data.n_zero))


def plot_coupled_adam(m: CoupledAdam, learning_rate: float, weight_decay: float) -> None:
    """Mean |w| of the unused weights under both optimisers, against (1 - eta lambda)^t."""
    from goaldrift.experiments import plots

    fig, ax = plots.panels(1)
    steps = np.arange(len(m.coupled))
    ax.plot(steps, m.unused_magnitude(m.decoupled), label="AdamW (decoupled)")
    ax.plot(steps, m.unused_magnitude(m.coupled), label="Adam + coupled L2")
    ax.plot(steps, (1 - learning_rate * weight_decay) ** steps, **plots.PREDICTED, label="$(1-\\eta\\lambda)^t$")
    ax.set(xlabel="step $t$", ylabel="mean $|w|$ of zero-gradient coordinates", title="decoupled vs coupled decay")
    ax.legend()
    plots.show()


@dataclass
class NoiseExperiment:
    """Weights fed only gradient noise (Measurement 3), under SGD + decay and Adam + coupled L2."""

    steps: int              # ceil(settle / (eta lambda))
    predicted: float        # predicted_noise_variance after `steps` steps
    tolerance: float        # 4 standard errors of the sample variance: 4 V sqrt(2 / n_chains)
    leading: float          # the leading-order variance eta sigma^2 / (2 lambda)
    sgd: NoiseRun
    adam: NoiseRun

    @property
    def adam_ratio(self) -> float:
        """Adam + L2's variance in units of the SGD prediction."""
        return self.adam.variance / self.predicted


def noise_steps(learning_rate: float, weight_decay: float, settle: float = 6) -> int:
    """ceil(settle / (eta lambda)): after it the variance is within e^(-2 settle) of stationary."""
    return int(np.ceil(settle / (learning_rate * weight_decay)))


def noise_experiment(n_chains: int, learning_rate: float, weight_decay: float, sigma: float,
                     seed: int) -> NoiseExperiment:
    """The noise-driven variance under SGD and Adam + L2 for noise_steps steps, with the
    prediction and its tolerance (four standard errors), both fixed before the runs."""
    steps = noise_steps(learning_rate, weight_decay)
    V = predicted_noise_variance(learning_rate, weight_decay, sigma, steps)
    tolerance = 4 * V * np.sqrt(2 / n_chains)
    sgd = noise_driven_variance(n_chains, learning_rate, weight_decay, sigma, steps, seed)
    adam = noise_driven_variance(n_chains, learning_rate, weight_decay, sigma, steps, seed, optimizer="adam_l2")
    return NoiseExperiment(steps, V, tolerance, learning_rate * sigma**2 / (2 * weight_decay), sgd, adam)
