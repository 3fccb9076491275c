"""An under-determined linear regression (fewer samples than features, some features zero
in every sample), scaled so the top eigenvalue of X^T X / n is 1."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from goaldrift.engine.tasks.registry import register_task


@dataclass
class RegressionData:
    train_x: torch.Tensor    # [n, n_features + n_zero] float64; the last n_zero columns are 0
    train_y: torch.Tensor    # [n] X w_true + noise
    test_x: torch.Tensor     # [0, d] (no test set)
    test_y: torch.Tensor     # [0]


def linear_regression(n_samples: int, n_features: int, n_zero: int, seed: int) -> RegressionData:
    rng = np.random.default_rng([seed, 0])
    dense = rng.standard_normal((n_samples, n_features))
    dense /= math.sqrt(np.linalg.eigvalsh(dense.T @ dense / n_samples)[-1])
    X = np.hstack([dense, np.zeros((n_samples, n_zero))])
    w_true = rng.standard_normal(n_features + n_zero) / math.sqrt(n_features)
    y = X @ w_true + 0.1 * rng.standard_normal(n_samples)
    return RegressionData(torch.from_numpy(X), torch.from_numpy(y),
                          torch.zeros(0, X.shape[1], dtype=torch.float64), torch.zeros(0, dtype=torch.float64))


@register_task("linear_regression")
def _regression_task(data_seed: int, n_samples: int = 40, n_features: int = 120, n_zero: int = 8) -> RegressionData:
    if min(n_samples, n_features) < 1 or n_zero < 0:
        raise ValueError(f"need n_samples, n_features >= 1 and n_zero >= 0, got {n_samples}, {n_features}, {n_zero}")
    return linear_regression(n_samples, n_features, n_zero, data_seed)
