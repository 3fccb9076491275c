"""A two-layer LayerNorm MLP whose hidden weights are exactly scale invariant, as an
ensemble.

The network is x -> LN(x W_0) -> ReLU -> LN(. W_1) -> ReLU -> . W_2 + b_2, where LN
is LayerNorm without affine parameters and with eps = 0. The output is then
exactly unchanged when W_0 (or W_1) is multiplied by any c > 0, and adding
the same vector to every column of W_0 or W_1 changes nothing either (LN
subtracts the mean over hidden units). Unlike ``ln_mlp`` (eps 1e-5, biases),
nothing breaks the invariance. The same functions build the teacher of the
"teacher_stream" task.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from goaldrift.engine.models.ensemble import EnsembleModule

SCALE_INVARIANT = ("W_0", "W_1")   # the weights followed by a LayerNorm


def layer_norm(z: torch.Tensor) -> torch.Tensor:
    """LayerNorm over the last dimension, no affine, eps = 0: exactly invariant to z -> c z."""
    z = z - z.mean(-1, keepdim=True)
    return z / z.pow(2).mean(-1, keepdim=True).sqrt()


def init_weights(d_in: int, d_hidden: int, seed: int) -> dict[str, torch.Tensor]:
    """One member's weights: N(0, 1/fan_in) matrices, zero bias (float64, seeded)."""
    g = torch.Generator().manual_seed(int(np.random.default_rng([seed, 30]).integers(2**31)))
    shapes = {"W_0": (d_in, d_hidden), "W_1": (d_hidden, d_hidden), "W_2": (d_hidden, 1)}
    w = {name: torch.randn(*shape, generator=g, dtype=torch.float64) / math.sqrt(shape[0])
         for name, shape in shapes.items()}
    w["b_2"] = torch.zeros(1, dtype=torch.float64)
    return w


def network_outputs(w: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Outputs [K, B] of an ensemble with weights [K, ...] on shared inputs x [B, d_in]."""
    h = torch.relu(layer_norm(torch.einsum("bi,kij->kbj", x, w["W_0"])))
    h = torch.relu(layer_norm(torch.bmm(h, w["W_1"])))
    return torch.bmm(h, w["W_2"])[..., 0] + w["b_2"]


@dataclass
class ScaleInvariantMLPConfig:
    d_in: int
    d_hidden: int = 32
    init_scale: float = 1.0    # multiplies W_0 and W_1 at the start: their norm, not the function
    d_out: int = 1

    def validate(self) -> None:
        for what in ("d_in", "d_hidden"):
            v = getattr(self, what)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"model.{what} must be a positive int, got {v!r}")
        if not self.init_scale > 0:
            raise ValueError(f"model.init_scale must be > 0, got {self.init_scale}")
        if self.d_out != 1:
            raise ValueError("the scale-invariant MLP has one output")


def scale_invariant_init(cfg: ScaleInvariantMLPConfig, seed: int) -> dict[str, torch.Tensor]:
    w = init_weights(cfg.d_in, cfg.d_hidden, seed)
    for name in SCALE_INVARIANT:
        w[name] = w[name] * cfg.init_scale
    return w


class ScaleInvariantMLP(EnsembleModule):
    """Parameters W_0 [K, d_in, d], W_1 [K, d, d], W_2 [K, d, 1], b_2 [K, 1];
    ``predict(x [B, d_in]) -> [K, B, 1]``."""

    def __init__(self, cfg: ScaleInvariantMLPConfig, seeds, dtype=torch.float32, device="cpu"):
        super().__init__(cfg, seeds, scale_invariant_init, dtype=dtype, device=device)

    def weights(self) -> dict[str, torch.Tensor]:
        return {name: getattr(self, name) for name in ("W_0", "W_1", "W_2", "b_2")}

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return network_outputs(self.weights(), x)[..., None]

    forward = predict

    def run_with_cache(self, x: torch.Tensor):
        out = self.predict(x)
        return out, {"out": out.detach()}
