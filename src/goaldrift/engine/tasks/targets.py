"""Fixed numbers as targets for networks fitted to them directly: each coordinate of a
diagonal network, each entry of a matrix A B^T.

"coordinate_targets": one example, the all-ones input, target c (so the
diagonal network's outputs are its products). "matrix_targets": the d basis
vectors as inputs, the rows of M as targets (so a factorised matrix outputs
A B^T). The numbers travel in the run configuration itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from goaldrift.engine.tasks.registry import register_task


@dataclass
class Targets:
    train_x: torch.Tensor    # [N, d] float64: ones [1, n], or the identity [d, d]
    train_y: torch.Tensor    # [N, d] float64: c [1, n], or M [d, d]
    test_x: torch.Tensor     # [0, d] (no test set)
    test_y: torch.Tensor     # [0, d]


def _finite_matrix(values, what: str) -> torch.Tensor:
    t = torch.tensor(np.asarray(values, dtype=float), dtype=torch.float64)
    if t.numel() == 0 or not bool(torch.isfinite(t).all()):
        raise ValueError(f"{what} must be a non-empty list of finite numbers")
    return t


def coordinate_targets(targets) -> Targets:
    c = _finite_matrix(targets, "targets")
    if c.dim() != 1:
        raise ValueError(f"targets must be a flat list of numbers, got shape {tuple(c.shape)}")
    n = c.shape[0]
    return Targets(torch.ones(1, n, dtype=torch.float64), c[None].clone(),
                   torch.zeros(0, n, dtype=torch.float64), torch.zeros(0, n, dtype=torch.float64))


def matrix_targets(matrix) -> Targets:
    M = _finite_matrix(matrix, "matrix")
    if M.dim() != 2 or M.shape[0] != M.shape[1]:
        raise ValueError(f"matrix must be square (a list of d rows of d numbers), got shape {tuple(M.shape)}")
    d = M.shape[0]
    return Targets(torch.eye(d, dtype=torch.float64), M,
                   torch.zeros(0, d, dtype=torch.float64), torch.zeros(0, d, dtype=torch.float64))


@register_task("coordinate_targets")
def _coordinate_task(data_seed: int, targets: list) -> Targets:
    return coordinate_targets(targets)


@register_task("matrix_targets")
def _matrix_task(data_seed: int, matrix: list) -> Targets:
    return matrix_targets(matrix)
