"""A goal vector whose norm gates a fixed useful output, y_hat = s(||g||) h, as an
ensemble; the gradient hacker of chapter price_of_persistence.

The input row is h, what the network's useful computation outputs on that
example; the gate is s(r) = r^2 / (r^2 + kappa^2). The loss can only be
lowered by growing ||g||, so weight decay and the loss pull on the goal's
norm alone. Uncoupled (``coupled=False``) the output is h whatever g is:
the goal is then a weight the loss does not use, and its gradient is exactly
zero (kept in the graph, so weight decay still acts on it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from goaldrift.engine.models.ensemble import EnsembleModule


@dataclass
class GatedGoalConfig:
    goal_dim: int
    kappa: float = 1.0
    init_norm: float = 1.0     # the seeded random start direction, scaled to this norm
    coupled: bool = True
    d_in: int = 1              # one input: h
    d_out: int = 1

    def validate(self) -> None:
        if not isinstance(self.goal_dim, int) or self.goal_dim <= 0:
            raise ValueError(f"model.goal_dim must be a positive int, got {self.goal_dim!r}")
        if not self.kappa > 0 or not self.init_norm > 0:
            raise ValueError(f"model.kappa and model.init_norm must be > 0, got {self.kappa}, {self.init_norm}")
        if self.d_in != 1 or self.d_out != 1:
            raise ValueError("a gated goal reads one input (h) and has one output")


def initial_goal(goal_dim: int, norm: float, seed: int) -> torch.Tensor:
    """A random goal direction (seeded) with the given norm, float64."""
    g = np.random.default_rng([seed, 21]).standard_normal(goal_dim)
    return torch.tensor(norm * g / np.linalg.norm(g), dtype=torch.float64)


def gate(r: torch.Tensor, kappa: float) -> torch.Tensor:
    return r**2 / (r**2 + kappa**2)


class GatedGoal(EnsembleModule):
    """Parameter ``goal`` [K, goal_dim]; ``predict(h [N, 1]) -> [K, N, 1]``."""

    def __init__(self, cfg: GatedGoalConfig, seeds, dtype=torch.float32, device="cpu"):
        super().__init__(cfg, seeds, lambda c, s: {"goal": initial_goal(c.goal_dim, c.init_norm, s)},
                         dtype=dtype, device=device)

    def run_with_cache(self, x: torch.Tensor):
        s = gate(self.goal.norm(dim=1), self.cfg.kappa)
        out = self.predict(x)
        return out, {"gate": s, "out": out}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.cfg.coupled:
            return x[None].expand(self.K, -1, -1) + 0.0 * self.goal.sum(1)[:, None, None]
        s = gate(self.goal.norm(dim=1), self.cfg.kappa)       # [K]
        return s[:, None, None] * x[None]

    predict = forward
