"""A one-hidden-layer ReLU network with LayerNorm (no affine) before the ReLU, as an
ensemble: the scale-invariant network of chapter drift_beyond_the_toy.

The hidden layer's weights and biases (W_0, b_0) are scale-invariant: the
function does not change when they are multiplied by any c > 0, so weight
decay on them changes only their effective step size (the rotational
picture of chapter rotational_equilibrium). The readout (W_1, b_1) is not.
Parameter names and init follow ``goaldrift.engine.models.mlp``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from goaldrift.engine.models.ensemble import EnsembleModule
from goaldrift.engine.models.mlp import MLPConfig, mlp_init

LN_EPS = 1e-5


@dataclass
class LNMLPConfig:
    d_in: int
    d_hidden: int = 64
    d_out: int = 1
    init_scale: float = 1.0

    def validate(self) -> None:
        MLPConfig(d_in=self.d_in, d_hidden=self.d_hidden, d_out=self.d_out, init_scale=self.init_scale).validate()


def ln_mlp_init(cfg: LNMLPConfig, seed: int) -> dict[str, torch.Tensor]:
    return mlp_init(MLPConfig(d_in=cfg.d_in, d_hidden=cfg.d_hidden, d_out=cfg.d_out, init_scale=cfg.init_scale), seed)


def layer_norm(z: torch.Tensor) -> torch.Tensor:
    """Normalise the last dimension to zero mean and unit variance (no gain, no bias)."""
    return torch.nn.functional.layer_norm(z, z.shape[-1:], eps=LN_EPS)


class LNMLP(EnsembleModule):
    """K networks ``relu(LN(x W_0 + b_0)) W_1 + b_1``; parameters are [K, ...]."""

    def __init__(self, cfg: LNMLPConfig, seeds, dtype=torch.float32, device="cpu"):
        super().__init__(cfg, seeds, ln_mlp_init, dtype=dtype, device=device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.expand(self.W_0.shape[0], *x.shape) if x.dim() == 2 else x
        h = torch.relu(layer_norm(torch.baddbmm(self.b_0[:, None], h, self.W_0)))
        return torch.baddbmm(self.b_1[:, None], h, self.W_1)

    predict = forward
