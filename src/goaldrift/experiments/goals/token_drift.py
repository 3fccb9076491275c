"""The drift task as token sequences for a one-layer transformer, and the transformer's
pathway cost.

The goal is the parity of tokens 1..k (read through attention), the proxy is
token 0; the sets are those of ``goaldrift.engine.tasks.proxy`` as tokens.
A ``TokenSetup`` has the interface of ``proxy_drift.Setup``, so the same
``phase1``/``phase2`` functions train it through the engine; ``transformer_drift``
places the bits at positions drawn per seed and reads the mechanism.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from goaldrift.engine.models import TransformerConfig
from goaldrift.engine.tasks.proxy import EQUALS_TOKEN, ProxyData, ProxyTask, token_data
from goaldrift.experiments.goals.drift_law import training_margin


@dataclass(frozen=True)
class TokenSetup:
    """Everything shared by the two phases of the transformer runs (squared error, one output)."""

    task: ProxyTask
    d_model: int = 32
    n_heads: int = 2
    d_head: int = 16
    d_mlp: int = 64
    n_train: int = 1024
    n_test: int = 1024
    data_seed: int = 0
    loss: str = "mse"

    @property
    def labels(self) -> bool:
        return False

    def model(self) -> TransformerConfig:
        return TransformerConfig(d_vocab=EQUALS_TOKEN + 1, d_vocab_out=1, n_ctx=self.task.n_bits + 1,
                                 d_model=self.d_model, n_heads=self.n_heads, d_head=self.d_head, d_mlp=self.d_mlp)

    def task_spec(self, phase: int) -> dict:
        t = self.task
        return {"name": "proxy_tokens", "phase": phase, "n_train": self.n_train, "n_test": self.n_test,
                "n_bits": t.n_bits, "k": t.k, "reverse": t.reverse}

    def data(self, phase: int, **extra) -> ProxyData:
        if extra:
            raise ValueError("token data take no extra inputs")
        return token_data(self.task, phase, self.n_train, self.n_test, self.data_seed)


def squared_norm(model) -> np.ndarray:
    """Squared L2 norm of all parameters per member ``[K]``."""
    return sum(p.detach().to(torch.float64).square().flatten(1).sum(1) for p in model.parameters()).numpy()


def network_cost(run, setup: TokenSetup) -> np.ndarray:
    """Cost at the training margin of a trained network: its squared parameter norm
    per unit of mean training margin (the degree-2 scaling of the law)."""
    data = setup.data(1)
    return squared_norm(run.model) / training_margin(run.model, data.train_x, data.train_goal)
