"""Fully connected networks for the toy tasks, as an ensemble.

The drift experiments need many small networks that differ only in seed,
η or λ; training them as one [K, ...] batch costs little more than one.
Activations: ReLU, and x² (the quadratic networks that grok modular
arithmetic in a few thousand steps, Gromov 2023), and identity for deep
linear networks.

Init: weights N(0, init_scale² / fan_in), biases zero, drawn per member from
a generator seeded with that member's seed, layer by layer (W then b), so
member k equals a K=1 model with seed k's seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from goaldrift.engine.models.ensemble import EnsembleModule

ACTIVATIONS = {
    "relu": torch.relu,
    "quadratic": torch.square,
    "linear": lambda x: x,
}


@dataclass
class MLPConfig:
    d_in: int
    d_hidden: int | list[int] = field(default_factory=lambda: [256])
    d_out: int = 1
    activation: str = "relu"
    bias: bool = True
    init_scale: float = 1.0

    @property
    def widths(self) -> list[int]:
        hidden = [self.d_hidden] if isinstance(self.d_hidden, int) else list(self.d_hidden)
        return [self.d_in, *hidden, self.d_out]

    def validate(self) -> None:
        for w in self.widths:
            if not isinstance(w, int) or w <= 0:
                raise ValueError(f"model widths must be positive ints, got {self.widths}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"model.activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")
        if not self.init_scale > 0:
            raise ValueError(f"model.init_scale must be > 0, got {self.init_scale}")


def mlp_init(cfg: MLPConfig, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    w = {}
    widths = cfg.widths
    for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
        w[f"W_{i}"] = torch.randn(fan_in, fan_out, generator=g) * (cfg.init_scale / math.sqrt(fan_in))
        if cfg.bias:
            w[f"b_{i}"] = torch.zeros(fan_out)
    return w


class MLP(EnsembleModule):
    """K MLPs; ``W_i [K, fan_in, fan_out]``, ``b_i [K, fan_out]``.

    ``W_0`` reads the input; the last ``W_{L}`` is the readout (also
    available as ``W_in`` / ``W_out`` for the one-hidden-layer case).
    """

    def __init__(self, cfg: MLPConfig, seeds, dtype=torch.float32, device="cpu"):
        super().__init__(cfg, seeds, mlp_init, dtype=dtype, device=device)
        self.n_layers = len(cfg.widths) - 1

    @property
    def W_in(self) -> torch.Tensor:
        return self.W_0

    @property
    def W_out(self) -> torch.Tensor:
        return getattr(self, f"W_{self.n_layers - 1}")

    def weights(self) -> list[torch.Tensor]:
        return [getattr(self, f"W_{i}") for i in range(self.n_layers)]

    def run_with_cache(self, x: torch.Tensor):
        """Outputs ``[K, N, d_out]`` and a cache with "hidden.{i}.pre",
        "hidden.{i}.post" for every hidden layer i, and "out"."""
        cache: dict[str, torch.Tensor] = {}
        out = self._forward(x, cache)
        return out, cache

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._forward(x, None)

    predict = forward

    def _forward(self, x, cache):
        """x is ``[N, d_in]`` (shared by all members) or ``[K, N, d_in]``."""
        act = ACTIVATIONS[self.cfg.activation]
        h = x
        for i in range(self.n_layers):
            W = getattr(self, f"W_{i}")
            if h.dim() == 2:  # shared input: one broadcast matmul for all members
                h = h.expand(W.shape[0], *h.shape)
            if self.cfg.bias:
                h = torch.baddbmm(getattr(self, f"b_{i}")[:, None], h, W)
            else:
                h = torch.bmm(h, W)
            if i < self.n_layers - 1:
                if cache is not None:
                    cache[f"hidden.{i}.pre"] = h.detach()
                h = act(h)
                if cache is not None:
                    cache[f"hidden.{i}.post"] = h.detach()
        if cache is not None:
            cache["out"] = h.detach()
        return h
