"""Diagonal product networks and factorised matrices A B^T, as ensembles.

A diagonal network of depth L computes x_i u_1i u_2i ... u_Li for each input
coordinate i; fed the all-ones input it outputs the products themselves, so
fitting it to targets c (task "coordinate_targets") solves n scalar problems
at once. A factorised matrix computes x A B^T; fed the identity it outputs
the rows of A B^T (task "matrix_targets"). The inits reproduce the chapter's
published draws exactly (numpy and torch streams seeded from the member's seed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from goaldrift.engine.models.ensemble import EnsembleModule


def _positive_int(value, what: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"model.{what} must be a positive int, got {value!r}")


@dataclass
class DiagonalConfig:
    n: int                     # coordinates
    depth: int = 2             # factors per coordinate
    init_scale: float = 0.1    # factors start N(0, init_scale^2)

    @property
    def d_in(self) -> int:
        return self.n

    @property
    def d_out(self) -> int:
        return self.n

    def validate(self) -> None:
        _positive_int(self.n, "n")
        _positive_int(self.depth, "depth")
        if not self.init_scale > 0:
            raise ValueError(f"model.init_scale must be > 0, got {self.init_scale}")


def diagonal_init(cfg: DiagonalConfig, seed: int) -> dict[str, torch.Tensor]:
    """``U`` [depth, n], init_scale times standard normals from numpy's stream [seed, 11]."""
    U = cfg.init_scale * np.random.default_rng([seed, 11]).standard_normal((cfg.depth, cfg.n))
    return {"U": torch.tensor(U, dtype=torch.float64)}


class Diagonal(EnsembleModule):
    """Parameter ``U`` [K, depth, n]; ``predict(x [N, n]) -> [K, N, n]``, x times the products."""

    def __init__(self, cfg: DiagonalConfig, seeds, dtype=torch.float32, device="cpu"):
        super().__init__(cfg, seeds, diagonal_init, dtype=dtype, device=device)

    def products(self) -> torch.Tensor:
        """[K, n]: prod_l u_li per member and coordinate."""
        return self.U.prod(1)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.products()[:, None, :]

    forward = predict

    def run_with_cache(self, x: torch.Tensor):
        out = self.predict(x)
        return out, {"products": self.products().detach(), "out": out.detach()}


@dataclass
class FactorisedMatrixConfig:
    d: int                     # the matrix is d x d
    width: int                 # A and B are d x width
    init_scale: float = 0.1    # entries start N(0, init_scale^2)

    @property
    def d_in(self) -> int:
        return self.d

    @property
    def d_out(self) -> int:
        return self.d

    def validate(self) -> None:
        _positive_int(self.d, "d")
        _positive_int(self.width, "width")
        if not self.init_scale > 0:
            raise ValueError(f"model.init_scale must be > 0, got {self.init_scale}")


def factorised_matrix_init(cfg: FactorisedMatrixConfig, seed: int) -> dict[str, torch.Tensor]:
    """``A``, ``B`` [d, width]: init_scale times float64 standard normals, A then B, from a
    torch generator seeded by numpy's stream [seed, 13]."""
    g = torch.Generator().manual_seed(int(np.random.default_rng([seed, 13]).integers(2**31)))
    A = cfg.init_scale * torch.randn(cfg.d, cfg.width, generator=g, dtype=torch.float64)
    B = cfg.init_scale * torch.randn(cfg.d, cfg.width, generator=g, dtype=torch.float64)
    return {"A": A, "B": B}


class FactorisedMatrix(EnsembleModule):
    """Parameters ``A``, ``B`` [K, d, width]; ``predict(x [N, d]) -> [K, N, d]`` = x A B^T."""

    def __init__(self, cfg: FactorisedMatrixConfig, seeds, dtype=torch.float32, device="cpu"):
        super().__init__(cfg, seeds, factorised_matrix_init, dtype=dtype, device=device)

    def product(self) -> torch.Tensor:
        """[K, d, d]: A B^T per member."""
        return self.A @ self.B.mT

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.product()

    forward = predict

    def run_with_cache(self, x: torch.Tensor):
        out = self.predict(x)
        return out, {"product": self.product().detach(), "out": out.detach()}
