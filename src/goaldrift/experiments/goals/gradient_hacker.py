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
from goaldrift.theory import l2_equilibrium as l2
from goaldrift.theory import persistence as th
from goaldrift.theory.derivation import numeric


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


# --- The chapter's three measurements on one toy: the sweep over lambda, the controls, the direction ---

@dataclass
class Toy:
    """The chapter's gradient hacker: its data, its goal's start, the gate scale, the step."""
    data: TeacherOutputs
    goal0: torch.Tensor   # [goal_dim] the start of every run but the AdamW direction seeds'
    kappa: float
    lr: float             # gradient-descent step
    seed: int

    @property
    def q(self) -> float:
        """The mean squared target (1 by construction)."""
        return self.data.q

    @property
    def lam_crit(self) -> float:
        """The critical decay 2 q / kappa^2 (theory.persistence), above which no goal is held."""
        return th.critical_decay_at(self.q, self.kappa)


def make_toy(n_samples: int, d_in: int, goal_dim: int, kappa: float, lr: float, seed: int) -> Toy:
    """The data of `seed` and a goal of norm kappa in the direction of `seed`."""
    return Toy(make_data(n_samples, d_in, seed), initial_goal(goal_dim, kappa, seed), float(kappa), lr, seed)


@dataclass
class LambdaSweep:
    """One full-batch GD member per lambda = ratio * lambda_crit (n_below ratios below 1, then
    the ones above), trained until the slowest mode has contracted by 1e-12 and half again,
    against the derived equilibrium."""
    ratios: np.ndarray      # [K] lambda / lambda_crit
    lams: np.ndarray        # [K] lambda
    n_below: int
    lam_crit: float
    q: float
    kappa: float
    steps: int
    run: HackerRun
    r_star: np.ndarray      # [n_below] derived equilibrium norms
    loss_star: np.ndarray   # [n_below] derived equilibrium losses (the price)
    norm_error: float       # worst |r_T / r* - 1| below lambda_crit
    loss_error: float       # worst |L_T / L(r*) - 1| below lambda_crit
    erased: float           # largest final ||g|| / ||g_0|| above lambda_crit
    residual: float         # worst relative residual of grad L = -lambda g below lambda_crit

    @property
    def price_low(self) -> float:
        """The training loss held at the weakest decay."""
        return float(self.run.losses[0])

    @property
    def price_high(self) -> float:
        """The training loss held at the strongest decay below lambda_crit."""
        return float(self.run.losses[self.n_below - 1])

    @property
    def closed_gate_loss(self) -> float:
        """The loss with the gate closed, q / 2."""
        return self.q / 2

    @property
    def ratio_below_max(self) -> float:
        """The largest lambda / lambda_crit below 1."""
        return float(self.ratios[self.n_below - 1])

    @property
    def ratios_above_text(self) -> str:
        """The ratios above lambda_crit, "a, b, c"."""
        return ", ".join(f"{r:g}" for r in self.ratios[self.n_below:])


def sweep_steps(q: float, kappa: float, lr: float, lams: np.ndarray, lam_crit: float, n_below: int) -> int:
    """Steps for the slowest member to contract by 1e-12 (the linearised rate r* F'(r*) below
    lambda_crit, lambda - lambda_crit above it), times 1.5, plus 200 for the transient."""
    rate = numeric(th.relaxation_rate().result, th.q, th.kappa, th.lam)
    slowest = min(lr * rate(q, kappa, lams[:n_below]).min(), lr * (lams[n_below:] - lam_crit).min())
    return int(1.5 * steps_to_converge(slowest)) + 200


def lambda_sweep(toy: Toy, n_below: int, ratio_min: float, ratio_max: float = 0.7,
                 ratios_above=(1.3, 2.0, 3.0), root=None) -> LambdaSweep:
    """The sweep: n_below ratios geometric from ratio_min to ratio_max, then ratios_above."""
    q, kappa, lam_crit = toy.q, toy.kappa, toy.lam_crit
    ratios = np.concatenate([np.geomspace(ratio_min, ratio_max, n_below), np.array(ratios_above)])
    lams = ratios * lam_crit
    steps = sweep_steps(q, kappa, toy.lr, lams, lam_crit, n_below)
    run = train(toy.data, toy.goal0, lams, toy.lr, kappa, steps, root=root)
    below = lams[:n_below]
    r_star = numeric(th.equilibrium_norm().result, th.q, th.kappa, th.lam)(q, kappa, below)
    loss_star = numeric(th.equilibrium_loss().result, th.q, th.kappa, th.lam)(q, kappa, below)
    r_end = run.norms[-1]
    return LambdaSweep(
        ratios, lams, n_below, lam_crit, q, kappa, steps, run, r_star, loss_star,
        norm_error=np.max(np.abs(r_end[:n_below] / r_star - 1)),
        loss_error=np.max(np.abs(run.losses[:n_below] / loss_star - 1)),
        erased=r_end[n_below:].max() / kappa,
        residual=stationarity_residual(run.goal[:n_below], toy.data.h, kappa, below).max())


@dataclass
class Controls:
    """The two controls at one lambda: the goal uncoupled from the output, and the coupled
    goal exempt from decay."""
    uncoupled_error: float   # worst |per-step factor of ||g|| / (1 - eta lambda) - 1| without coupling
    exempt_min_step: float   # smallest per-step change of the exempt goal's norm
    exempt_norm: float       # the exempt goal's final norm
    exempt_loss: float       # its final training loss
    held_norm: float         # the derived r* of the decayed hacker at the same lambda


def controls(toy: Toy, lam: float, exempt_steps: int, uncoupled_steps: int = 200, root=None) -> Controls:
    """Train both controls from the toy's goal at weight decay `lam`."""
    free = train(toy.data, toy.goal0, [lam], toy.lr, toy.kappa, uncoupled_steps, coupled=False, root=root)
    factor = float(numeric(l2.unused_direction_factor_gd().result, l2.eta, l2.lam)(toy.lr, lam))
    per_step = free.norms[1:, 0] / free.norms[:-1, 0]
    exempt = train(toy.data, toy.goal0, [lam], toy.lr, toy.kappa, exempt_steps, exempt=True, root=root)
    held = float(numeric(th.equilibrium_norm().result, th.q, th.kappa, th.lam)(toy.q, toy.kappa, lam))
    return Controls(np.max(np.abs(per_step / factor - 1)), np.diff(exempt.norms[:, 0]).min(),
                    float(exempt.norms[-1, 0]), float(exempt.losses[0]), held)


@dataclass
class DirectionTest:
    """Does the goal's direction survive? Minibatch SGD from the toy's goal, AdamW over seeds
    (adam_turns), and the off-distribution behaviour of the toy's goal under AdamW."""
    sgd_one_minus_cos: float   # minibatch SGD with decay: 1 - cos(g_T, g_0)
    turns: AdamTurns
    agreement: float           # AdamW with decay, the toy's goal: share of probes z with sign(g_T . z) = sign(g_0 . z)

    def mean(self, name: str) -> float:
        """The mean over seeds of one of the AdamW turns' per-seed arrays (by name)."""
        return float(getattr(self.turns, name).mean())

    def least(self, name: str) -> float:
        """The smallest over seeds of one of the AdamW turns' per-seed arrays (by name)."""
        return float(getattr(self.turns, name).min())


def direction_test(toy: Toy, lam: float, batch_size: int, adam_lr: float, steps: int, n_seeds: int,
                   n_probes: int = 4096, root=None) -> DirectionTest:
    """SGD with minibatches of batch_size (batch seed: the toy's seed) and AdamW (full batch,
    at `lam` and at 0, goal directions of seeds toy.seed .. toy.seed + n_seeds - 1), `steps`
    steps each; n_probes Gaussian probes from the toy's seed."""
    g0 = toy.goal0.numpy()
    mini = train(toy.data, toy.goal0, [lam], toy.lr, toy.kappa, steps, batch_size=batch_size, seed=toy.seed, root=root)
    seeds = [toy.seed + i for i in range(n_seeds)]
    turns = adam_turns(toy.data, len(g0), toy.kappa, lam, adam_lr, steps, seeds, root=root)
    adam = train(toy.data, toy.goal0, [lam], adam_lr, toy.kappa, steps, kind="adamw", root=root)
    z = torch.randn(n_probes, len(g0), generator=torch.Generator().manual_seed(toy.seed), dtype=torch.float64).numpy()
    agree = float(np.mean(np.sign(z @ adam.goal[0]) == np.sign(z @ g0)))
    return DirectionTest(float(1 - cosine(mini.goal, g0)[0]), turns, agree)


def plot_sweep(sweep: LambdaSweep) -> None:
    """The held norm and the training loss against lambda / lambda_crit: the derived curves
    (zero norm and the closed-gate loss above lambda_crit) and the trained members."""
    from goaldrift.experiments import plots

    fig, (ax1, ax2) = plots.panels(2)
    grid = np.geomspace(sweep.ratios.min() * 0.8, 3.5, 300)
    lam = grid * sweep.lam_crit
    with np.errstate(invalid="ignore"):
        r_star = numeric(th.equilibrium_norm().result, th.q, th.kappa, th.lam)(sweep.q, sweep.kappa, lam)
        loss_star = numeric(th.equilibrium_loss().result, th.q, th.kappa, th.lam)(sweep.q, sweep.kappa, lam)
    ax1.plot(grid, np.where(grid < 1, np.nan_to_num(r_star), 0.0), **plots.PREDICTED, label="$r^*$ (derived)")
    ax1.plot(sweep.ratios, sweep.run.norms[-1], "o", ms=5, label="measured $\\|g_T\\|$")
    ax1.set(xscale="log", xlabel="$\\lambda/\\lambda_{crit}$", ylabel="goal norm", title="how much goal is held")
    ax1.legend()
    ax2.plot(grid, np.where(grid < 1, loss_star, sweep.closed_gate_loss), **plots.PREDICTED, label="$L(r^*)$ (derived)")
    ax2.plot(sweep.ratios, sweep.run.losses, "o", ms=5, label="measured training loss")
    ax2.set(xscale="log", xlabel="$\\lambda/\\lambda_{crit}$", ylabel="training loss", title="what holding it costs")
    ax2.legend()
    plots.show(fig)
