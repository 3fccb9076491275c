"""An MLP that reads its goal from a fixed store, as an ensemble; the external memory of
chapter protecting_goals (H6).

The store is a table of 2^k values, one per pattern of the goal's bits, filled with
the goal (the parity of those bits) and registered as a buffer: it is not a
parameter, so no optimiser trains or decays it. The network indexes it with the
goal's bits and adds ``read`` (one parameter per member, the read path) times the
value it finds to the MLP's output: y = MLP(x) + read · store[index(x)].
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from goaldrift.engine.models.mlp import MLP, MLPConfig, mlp_init


@dataclass
class StoreMLPConfig(MLPConfig):
    store_bits: list[int] = field(default_factory=lambda: [1, 2, 3])
    read_init: float = 1.0

    def validate(self) -> None:
        super().validate()
        if not self.store_bits or any(not 0 <= b < self.d_in for b in self.store_bits):
            raise ValueError(f"model.store_bits must be input indices in [0, {self.d_in}), got {self.store_bits}")
        if self.d_out != 1:
            raise ValueError("a store reader has one output")


def parity_table(n_bits: int) -> torch.Tensor:
    """The store's content: entry i is the product of the ±1 bits of i (bit j = +1 iff set)."""
    i = torch.arange(2 ** n_bits)
    signs = torch.stack([((i >> j) & 1) * 2 - 1 for j in range(n_bits)], dim=1)
    return signs.prod(dim=1).to(torch.float64)


def store_index(x: torch.Tensor, bits: list[int]) -> torch.Tensor:
    """The table row each input reads: bit j of the index is set iff x[..., bits[j]] > 0."""
    weights = torch.tensor([1 << j for j in range(len(bits))], device=x.device)
    return ((x[..., bits] > 0).long() * weights).sum(-1)


def _init(cfg: StoreMLPConfig, seed: int) -> dict[str, torch.Tensor]:
    w = mlp_init(cfg, seed)
    w["read"] = torch.tensor([float(cfg.read_init)])
    return w


class StoreMLP(MLP):
    """K MLPs with a read gain ``read [K, 1]`` and a fixed buffer ``store [2^k]``."""

    def __init__(self, cfg: StoreMLPConfig, seeds, dtype=torch.float32, device="cpu"):
        super(MLP, self).__init__(cfg, seeds, _init, dtype=dtype, device=device)
        self.n_layers = len(cfg.widths) - 1
        # persistent=False: the store is rebuilt from the config, never loaded or saved as a state
        self.register_buffer("store", parity_table(len(cfg.store_bits)).to(dtype=dtype, device=device),
                             persistent=False)

    def read_value(self, x: torch.Tensor) -> torch.Tensor:
        """What the store holds for each input, [N] (or [K, N])."""
        return self.store[store_index(x, self.cfg.store_bits)]

    def _forward(self, x, cache):
        out = super()._forward(x, cache)
        value = self.read_value(x)
        value = value[None].expand(self.K, -1) if value.dim() == 1 else value
        out = out + self.read[:, :, None] * value[:, :, None]
        if cache is not None:
            cache["store_read"] = value
            cache["out"] = out
        return out
