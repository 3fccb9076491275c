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
