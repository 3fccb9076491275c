"""What every ensemble model shares: K members stacked along a leading dimension."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn


class EnsembleModule(nn.Module):
    """Registers one parameter per name, shaped [K, ...], whose slice k is exactly
    what `init(cfg, seeds[k])` draws for a single model with that seed."""

    def __init__(self, cfg, seeds, init: Callable[[object, int], dict[str, torch.Tensor]],
                 dtype=torch.float32, device="cpu"):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.seeds = [int(s) for s in seeds]
        members = [init(cfg, s) for s in self.seeds]
        for name in members[0]:
            stacked = torch.stack([m[name] for m in members]).to(dtype=dtype, device=device)
            self.register_parameter(name, nn.Parameter(stacked))

    @property
    def K(self) -> int:
        return len(self.seeds)
