"""The drift task as token sequences for a one-layer transformer, and the transformer's
pathway cost.

The goal is the parity of tokens 1..k (read through attention), the proxy is
token 0; the sets are those of ``goaldrift.engine.tasks.proxy`` as tokens.
A ``TokenSetup`` has the interface of ``proxy_drift.Setup``, so the same
``phase1``/``phase2`` functions train it through the engine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from goaldrift.engine.models import TransformerConfig
from goaldrift.engine.tasks.proxy import EQUALS_TOKEN, ProxyData, ProxyTask, token_data
from goaldrift.experiments.goals.drift_law import law_prediction, start_share, training_margin
from goaldrift.experiments.goals.proxy_drift import phase1


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


def transformer_phase1(task: ProxyTask, d_model: int, n_train: int, data_seed: int, seeds, lr: float,
                       weight_decay: float, steps: int):
    """(TokenSetup, phase-1 Run) of the chapter's one-layer transformer on ``task``: one head of width
    d_model/2, an MLP twice d_model wide."""
    setup = TokenSetup(task, d_model=d_model, d_head=max(d_model // 2, 1), d_mlp=2 * d_model, n_train=n_train,
                       data_seed=data_seed)
    return setup, phase1(setup, seeds, lr, weight_decay, steps)


@dataclass
class TransformerLaw:
    """The law's prediction for the transformer, per seed, from costs measured before phase 2:
    the goal network's cost over the cost of a network trained on the proxy alone."""

    rho: np.ndarray             # cost ratio goal / proxy
    a0: np.ndarray              # aligned share at the start of phase 2
    pred: np.ndarray            # the law's ηλt_d
    goal_test_acc: np.ndarray   # phase-1 test accuracy of the goal networks
    proxy_test_acc: np.ndarray  # and of the proxy-alone networks

    @property
    def pred_min(self) -> float:
        return float(np.min(self.pred))

    @property
    def rho_mean(self) -> float:
        return float(np.mean(self.rho))

    def markdown(self) -> str:
        return (f"phase-1 test accuracy (goal): {np.round(self.goal_test_acc, 3).tolist()}; "
                f"proxy alone: {np.round(self.proxy_test_acc, 3).tolist()}; "
                f"cost ratio per seed: {np.round(self.rho, 2).tolist()}; "
                f"predicted drift point per seed: {np.round(self.pred, 2).tolist()}")


def transformer_law(run, setup: TokenSetup, proxy_run, proxy_setup: TokenSetup) -> TransformerLaw:
    """``network_cost`` of the goal and proxy-alone networks, the goal network's starting share,
    and the law's drift point from them (``drift_law.law_prediction``)."""
    rho = network_cost(run, setup) / network_cost(proxy_run, proxy_setup)
    a0 = start_share(run, setup)
    return TransformerLaw(rho=rho, a0=a0, pred=law_prediction(rho, a0), goal_test_acc=run.metrics["test_acc"][-1],
                          proxy_test_acc=proxy_run.metrics["test_acc"][-1])
