"""The outputs h of a random linear teacher, scaled to unit mean square, as targets for
themselves: the data of the gated goal (models/gated.py)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from goaldrift.engine.tasks.registry import register_task


@dataclass
class TeacherOutputs:
    """Inputs x ~ N(0, I) through a random linear teacher; each example's input row
    and target are the teacher's output h (the useful computation the gate scales)."""

    train_x: torch.Tensor    # [n, 1] h
    train_y: torch.Tensor    # [n] h
    test_x: torch.Tensor     # [0, 1] (no test set)
    test_y: torch.Tensor     # [0]
    n_samples: int
    d_in: int
    seed: int

    @property
    def h(self) -> torch.Tensor:
        return self.train_y

    @property
    def q(self) -> float:
        """Mean h^2 (1 by construction)."""
        return float((self.h**2).mean())


def teacher_outputs(n_samples: int, d_in: int, seed: int) -> TeacherOutputs:
    g = torch.Generator().manual_seed(int(np.random.default_rng([seed, 20]).integers(2**31)))
    X = torch.randn(n_samples, d_in, generator=g, dtype=torch.float64)
    w = torch.randn(d_in, generator=g, dtype=torch.float64)
    h = X @ w
    h = h / torch.sqrt((h**2).mean())
    empty = torch.zeros(0, dtype=torch.float64)
    return TeacherOutputs(h[:, None].clone(), h, empty[:, None], empty, n_samples, d_in, seed)


@register_task("teacher_outputs")
def _teacher_task(data_seed: int, n_samples: int = 256, d_in: int = 8) -> TeacherOutputs:
    if n_samples < 1 or d_in < 1:
        raise ValueError(f"n_samples and d_in must be >= 1, got {n_samples}, {d_in}")
    return teacher_outputs(n_samples, d_in, data_seed)
