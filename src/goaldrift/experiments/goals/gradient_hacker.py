"""A toy gradient hacker (H7): goal parameters whose norm gates the useful output.

The model computes y_hat(x) = s(||g||) * h(x): h is a fixed useful computation
(it fits the target exactly: y = h(x)), s(r) = r^2 / (r^2 + kappa^2) a gate,
and g the goal parameters. What the goal *is* lives in g's direction (what
the model would do off distribution, g . z), which the training loss never
sees; by making its useful output depend on ||g||, the model makes shrinking
its goal cost training loss. An ensemble of K copies, one weight decay each,
trains at once through the engine (goaldrift.engine: the gated-goal model, the
teacher_outputs task, the half_mse loss, the ensemble optimiser, the run cache).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from goaldrift.engine import runs
from goaldrift.engine.models.gated import GatedGoal, GatedGoalConfig, gate
from goaldrift.engine.tasks.teacher import TeacherOutputs, teacher_outputs
from goaldrift.engine.train import OptimConfig, RunConfig


def make_data(n_samples: int, d_in: int, seed: int) -> TeacherOutputs:
    """Inputs x ~ N(0, I), a random linear teacher; h scaled so that mean h^2 is exactly 1
    (the engine's task "teacher_outputs", which the training runs rebuild from its seed)."""
    return teacher_outputs(n_samples, d_in, seed)


def initial_goal(goal_dim: int, norm: float, seed: int) -> torch.Tensor:
    """A random goal direction (seeded) with the given norm: the gated-goal model's own
    initialisation for ``seed``, float64 [goal_dim]."""
    model = GatedGoal(GatedGoalConfig(goal_dim, init_norm=norm), [seed], dtype=torch.float64)
    return model.goal.detach()[0].clone()


def member_losses(goal: torch.Tensor, h: torch.Tensor, kappa: float, coupled: bool = True) -> torch.Tensor:
    """[K] training losses 1/2 mean (y - s(||g_k||) h)^2 with y = h (the loss the engine
    trains, "half_mse" of the gated goal). Uncoupled: y_hat = h whatever g is, so the loss
    does not depend on g at all (plus 0 * g to keep the graph)."""
    if not coupled:
        return 0.5 * ((h - h) ** 2).mean() + 0.0 * goal.sum(1)
    s = gate(goal.norm(dim=1), kappa)                     # [K]
    return 0.5 * ((h[None, :] - s[:, None] * h[None, :]) ** 2).mean(1)


def stationarity_residual(goal: np.ndarray, h: torch.Tensor, kappa: float, weight_decays) -> np.ndarray:
    """[K] relative residuals ||grad L(g_k) + lambda_k g_k|| / (lambda_k ||g_k||) of the
    stationarity condition grad L = -lambda g, one per member of ``goal`` [K, m]. The
    gradient is one autograd evaluation of the coupled loss, not a training step."""
    goal = np.asarray(goal, dtype=np.float64)
    lam = np.asarray(weight_decays, dtype=np.float64)
    if goal.ndim != 2 or lam.shape != (goal.shape[0],):
        raise ValueError(f"need goals [K, m] and K weight decays (got {goal.shape} and {lam.shape})")
    G = torch.tensor(goal, requires_grad=True)
    (grad,) = torch.autograd.grad(member_losses(G, h, kappa).sum(), G)
    norms = G.detach().norm(dim=1).numpy()   # as the engine's goal_norm metric computes ||g||
    return np.linalg.norm(grad.numpy() + lam[:, None] * goal, axis=1) / (lam * norms)


@dataclass
class HackerRun:
    goal: np.ndarray            # [K, m] final goal parameters
    norms: np.ndarray           # [steps + 1, K] ||g_k|| per step
    losses: np.ndarray          # [K] final training losses
    steps: int


def _goal_norm(model, data, step) -> dict[str, torch.Tensor]:
    return {"goal_norm": model.goal.detach().norm(dim=1)}


def train(data: TeacherOutputs, goal0: torch.Tensor, weight_decays, lr: float, kappa: float, steps: int,
          kind: str = "sgd", coupled: bool = True, exempt: bool = False, batch_size: int = 0,
          seed: int = 0, root=None) -> HackerRun:
    """Train K copies of the goal (one per weight decay) from the same start, through the
    engine (cached in the run cache, resumable). batch_size 0: full batch; else the
    engine's seeded minibatches (batch_seed = seed). exempt: the goal is trained but
    never decayed (memory outside weight decay). The norm is recorded every step."""
    K = len(weight_decays)
    config = RunConfig(
        task={"name": "teacher_outputs", "n_samples": data.n_samples, "d_in": data.d_in},
        model=GatedGoalConfig(goal_dim=int(goal0.shape[0]), kappa=float(kappa), coupled=coupled),
        optim=OptimConfig(kind=kind, lr=float(lr), weight_decay=[float(w) for w in weight_decays],
                          groups={"goal": "exempt"} if exempt else {}),
        steps=steps, seeds=[0] * K, data_seed=data.seed, batch_size=batch_size or None, batch_seed=seed,
        loss="half_mse", eval_every=1, dtype="float64", device="cpu")
    start = {"goal": goal0.detach().to(torch.float64).expand(K, -1).clone()}
    r = runs.run(config, root=root, init_state=start, metric_fns={"goal_norm": _goal_norm}, progress=False)
    return HackerRun(r.model.goal.detach().numpy(), r.metrics["goal_norm"], r.metrics["train_loss"][-1], steps)


def steps_to_converge(rate_per_step: float, contraction: float = 1e-12) -> int:
    """Steps for a linear mode contracting by (1 - rate) per step to shrink by `contraction`."""
    return int(math.ceil(math.log(contraction) / math.log(1 - rate_per_step)))


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine between [K, m] arrays (or a [K, m] array and an [m] vector)."""
    b = np.broadcast_to(b, a.shape)
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


def turn_degrees(goal: np.ndarray, goal0: np.ndarray) -> np.ndarray:
    """Angle in degrees between each row of ``goal`` [K, m] and ``goal0`` [m] (or [K, m])."""
    return np.degrees(np.arccos(np.clip(cosine(goal, goal0), -1.0, 1.0)))


@dataclass
class AdamTurns:
    """The AdamW direction test over seeds (one goal direction per seed): with decay
    lambda and the lambda = 0 control, from the same start, in the same run."""
    seeds: list[int]
    turn_decayed: np.ndarray      # [S] degrees between g_T and g_0, weight decay lambda
    turn_undecayed: np.ndarray    # [S] the same at lambda = 0 (the control)
    sign_cos_start: np.ndarray    # [S] cos(g_0, sign g_0)
    sign_cos_decayed: np.ndarray  # [S] cos(g_T, sign g_0), weight decay lambda
    sign_cos_undecayed: np.ndarray  # [S] the same at lambda = 0

    @property
    def undecayed_share(self) -> np.ndarray:
        """Per seed: the control's turn over the decayed run's turn (1: decay adds nothing)."""
        return self.turn_undecayed / self.turn_decayed

    @property
    def sign_gain(self) -> np.ndarray:
        """Per seed: how much closer g moved to sign(g_0) under AdamW with decay (cosine gain)."""
        return self.sign_cos_decayed - self.sign_cos_start


def adam_turns(data: TeacherOutputs, goal_dim: int, kappa: float, weight_decay: float, lr: float,
               steps: int, seeds, root=None) -> AdamTurns:
    """Train the coupled goal with AdamW at ``weight_decay`` and at 0 (two members of one
    ensemble, full batch), once per seed's goal direction (``initial_goal(goal_dim, kappa, s)``)."""
    rows = []
    for s in seeds:
        g0 = initial_goal(goal_dim, kappa, int(s))
        run = train(data, g0, [float(weight_decay), 0.0], lr, kappa, steps, kind="adamw", root=root)
        g0n, sign0 = g0.numpy(), np.sign(g0.numpy())
        turn = turn_degrees(run.goal, g0n)
        sign_cos = cosine(run.goal, sign0)
        rows.append((turn[0], turn[1], float(cosine(g0n[None], sign0)[0]), sign_cos[0], sign_cos[1]))
    cols = [np.array(c, dtype=float) for c in zip(*rows)]
    return AdamTurns([int(s) for s in seeds], *cols)
