"""Networks with a leading ensemble dimension: parameters are [K, ...].

``build_model`` turns a config dataclass into a model whose member k is
initialised from ``seeds[k]`` exactly as a single model with that seed.
Every model has ``predict(x) -> [K, N, d_out]`` (what the loss reads) and
``run_with_cache(x) -> (out, {name: activation})``.
"""

from __future__ import annotations

import torch

from goaldrift.engine.models.factorised import Diagonal, DiagonalConfig, FactorisedMatrix, FactorisedMatrixConfig
from goaldrift.engine.models.gated import GatedGoal, GatedGoalConfig
from goaldrift.engine.models.ln_mlp import LNMLP, LNMLPConfig
from goaldrift.engine.models.mlp import MLP, MLPConfig
from goaldrift.engine.models.invariant_mlp import ScaleInvariantMLP, ScaleInvariantMLPConfig
from goaldrift.engine.models.store import StoreMLP, StoreMLPConfig
from goaldrift.engine.models.transformer import Transformer, TransformerConfig

# store_mlp (and ln_mlp) before mlp: a config that subclasses MLPConfig must match first,
# and model_kind takes the first match
MODEL_KINDS = {"transformer": (TransformerConfig, Transformer), "store_mlp": (StoreMLPConfig, StoreMLP),
               "ln_mlp": (LNMLPConfig, LNMLP), "mlp": (MLPConfig, MLP),
               "gated_goal": (GatedGoalConfig, GatedGoal), "diagonal": (DiagonalConfig, Diagonal),
               "factorised_matrix": (FactorisedMatrixConfig, FactorisedMatrix),
               "scale_invariant_mlp": (ScaleInvariantMLPConfig, ScaleInvariantMLP)}


def model_kind(cfg) -> str:
    for kind, (cfg_cls, _) in MODEL_KINDS.items():
        if isinstance(cfg, cfg_cls):
            return kind
    raise ValueError(f"unknown model config type {type(cfg).__name__}")


def build_model(cfg, seeds, dtype=torch.float32, device="cpu"):
    _, cls = MODEL_KINDS[model_kind(cfg)]
    return cls(cfg, seeds, dtype=dtype, device=device)


__all__ = ["Diagonal", "DiagonalConfig", "FactorisedMatrix", "FactorisedMatrixConfig", "GatedGoal", "GatedGoalConfig",
           "LNMLP", "LNMLPConfig", "MLP", "MLPConfig", "ScaleInvariantMLP", "ScaleInvariantMLPConfig", "StoreMLP",
           "StoreMLPConfig", "Transformer", "TransformerConfig", "build_model", "model_kind", "MODEL_KINDS"]
