"""A toy gradient hacker (H7): goal parameters whose norm gates the useful output; used
by chapters price_of_persistence.

The model computes y_hat(x) = s(||g||) * h(x): h is a fixed useful computation
(it fits the target exactly: y = h(x)), s(r) = r^2 / (r^2 + kappa^2) a gate,
and g the goal parameters. What the goal *is* lives in g's direction (what
the model would do off distribution, g . z), which the training loss never
sees; by making its useful output depend on ||g||, the model makes shrinking
its goal cost training loss. An ensemble of K copies, one weight decay each,
trains at once with goaldrift.engine.optim's ensemble optimiser.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from goaldrift.engine.optim import EnsembleOptimizer


@dataclass
class HackerData:
    h: torch.Tensor   # [n] the useful computation's output on each training input (= the target)
    q: float          # mean h^2 (1 by construction)


def make_data(n_samples: int, d_in: int, seed: int) -> HackerData:
    """Inputs x ~ N(0, I), a random linear teacher; h scaled so that mean h^2 is exactly 1."""
    g = torch.Generator().manual_seed(int(np.random.default_rng([seed, 20]).integers(2**31)))
    X = torch.randn(n_samples, d_in, generator=g, dtype=torch.float64)
    w = torch.randn(d_in, generator=g, dtype=torch.float64)
    h = X @ w
    h = h / torch.sqrt((h**2).mean())
    return HackerData(h, float((h**2).mean()))


def initial_goal(goal_dim: int, norm: float, seed: int) -> torch.Tensor:
    """A random goal direction (seeded) with the given norm."""
    g = np.random.default_rng([seed, 21]).standard_normal(goal_dim)
    return torch.tensor(norm * g / np.linalg.norm(g), dtype=torch.float64)


def gate(r: torch.Tensor, kappa: float) -> torch.Tensor:
    return r**2 / (r**2 + kappa**2)


def member_losses(goal: torch.Tensor, h: torch.Tensor, kappa: float, coupled: bool = True) -> torch.Tensor:
    """[K] training losses 1/2 mean (y - s(||g_k||) h)^2 with y = h. Uncoupled: y_hat = h
    whatever g is, so the loss does not depend on g at all (plus 0 * g to keep the graph)."""
    if not coupled:
        return 0.5 * ((h - h) ** 2).mean() + 0.0 * goal.sum(1)
    s = gate(goal.norm(dim=1), kappa)                     # [K]
    return 0.5 * ((h[None, :] - s[:, None] * h[None, :]) ** 2).mean(1)


@dataclass
class HackerRun:
    goal: np.ndarray            # [K, m] final goal parameters
    norms: np.ndarray           # [steps + 1, K] ||g_k|| per step
    losses: np.ndarray          # [K] final training losses
    steps: int


def train(data: HackerData, goal0: torch.Tensor, weight_decays, lr: float, kappa: float, steps: int,
          kind: str = "sgd", coupled: bool = True, exempt: bool = False, batch_size: int = 0,
          seed: int = 0) -> HackerRun:
    """Train K copies of the goal (one per weight decay) from the same start.
    batch_size 0: full batch; else minibatches drawn from a seeded generator.
    exempt: the goal is trained but never decayed (memory outside weight decay)."""
    wds = torch.as_tensor(weight_decays, dtype=torch.float64)
    K = len(wds)
    goal = goal0.detach().clone().expand(K, -1).clone().requires_grad_()
    opt = EnsembleOptimizer([("goal", goal)], kind=kind, lr=lr, weight_decay=wds,
                            groups={"goal": "exempt"} if exempt else None)
    rng = torch.Generator().manual_seed(int(np.random.default_rng([seed, 22]).integers(2**31)))
    n = data.h.shape[0]
    norms = [goal.detach().norm(dim=1).numpy().copy()]
    for _ in range(steps):
        h = data.h if not batch_size else data.h[torch.randint(0, n, (batch_size,), generator=rng)]
        opt.zero_grad()
        member_losses(goal, h, kappa, coupled).sum().backward()
        opt.step()
        norms.append(goal.detach().norm(dim=1).numpy().copy())
    with torch.no_grad():
        losses = member_losses(goal, data.h, kappa, coupled).numpy()
    return HackerRun(goal.detach().numpy(), np.array(norms), losses, steps)


def steps_to_converge(rate_per_step: float, contraction: float = 1e-12) -> int:
    """Steps for a linear mode contracting by (1 - rate) per step to shrink by `contraction`."""
    return int(math.ceil(math.log(contraction) / math.log(1 - rate_per_step)))


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine between [K, m] arrays (or a [K, m] array and an [m] vector)."""
    b = np.broadcast_to(b, a.shape)
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
