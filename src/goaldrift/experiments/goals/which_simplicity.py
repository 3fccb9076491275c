"""The optimiser crossover: which of two training-equivalent solutions wins under SGD,
AdamW, large-ε Adam and sign descent (chapter which_simplicity).

Every arm continues the same phase-1 networks (``proxy_drift.phase1``, one per seed) on
phase-2 data whose proxy bit takes the values ±scale, for each proxy scale ("geometry"):
at scale 1 the proxy is the cheap rule in L2 and in ℓ∞; at scale 0.1 a proxy pathway
carrying the same output needs weights ten times larger, so it is dearer in L2 than the
goal, while AdamW's ℓ∞ box (goaldrift.theory.adamw_drift) still holds it. Each arm runs at
the same ηλ, so every run reaches the same ηλt budget in the same number of steps.

Within one (arm, geometry) run the ensemble holds, per seed: the arm's (η, λ); its λ = 0
control; and, for the arms with a drift-law test, (η/r, rλ) at the same ηλ. Arms differ
in optimiser kind, ε or betas, so each is its own run; all runs start from the same phase-1
networks, so every comparison between arms or geometries is paired by seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from goaldrift.experiments import plots
from goaldrift.experiments.goals import proxy_drift as drift
from goaldrift.tables import markdown_table
from goaldrift.theory import adamw_drift as adamw


@dataclass(frozen=True)
class Arm:
    """One optimiser setting of phase 2 (the engine's OptimConfig fields it sets)."""

    name: str
    kind: str
    lr: float
    weight_decay: float
    eps: float = 1e-8
    betas: tuple[float, float] = (0.9, 0.98)
    law: bool = False  # also run (η/r, rλ) at the same ηλ, for the drift-law ratio

    def members(self, n_seeds: int, lr_ratio: float) -> list[drift.Member]:
        """Seed-major: per seed (η, λ), (η, 0) and, for a law arm, (η/r, rλ)."""
        settings = [(self.lr, self.weight_decay), (self.lr, 0.0)]
        if self.law:
            settings.append((self.lr / lr_ratio, self.weight_decay * lr_ratio))
        return [drift.Member(s, float(lr), float(wd)) for s in range(n_seeds) for lr, wd in settings]


def arms(sgd_lr: float, adam_lr: float, eta_lambda: float, large_eps: float) -> dict[str, Arm]:
    """The four arms at one ηλ: SGD at rate ``sgd_lr``; AdamW at ``adam_lr``; Adam with ε =
    ``large_eps`` and η = ``sgd_lr`` · ε (steps η g/ε: SGD's rate, theory.adamw_drift.large_eps_step);
    sign descent, AdamW with betas (0, 0) at ``adam_lr`` (step η g/(|g| + ε))."""
    big_lr = sgd_lr * large_eps
    return {
        "sgd": Arm("sgd", "sgd", sgd_lr, eta_lambda / sgd_lr, law=True),
        "adamw": Arm("adamw", "adamw", adam_lr, eta_lambda / adam_lr, law=True),
        "large_eps_adam": Arm("large_eps_adam", "adamw", big_lr, eta_lambda / big_lr, eps=large_eps),
        "sign_descent": Arm("sign_descent", "adamw", adam_lr, eta_lambda / adam_lr, betas=(0.0, 0.0)),
    }


@dataclass
class Crossover:
    """Every (arm, proxy scale) run, read by ``proxy_drift.decay_drift``; per-seed readings."""

    arms: dict            # {name: Arm}
    scales: tuple         # proxy scales, the cheap one (1) first
    lr_ratio: float
    steps: int
    n_seeds: int
    runs: dict            # {(arm name, scale): DecayDrift}

    def _select(self, arm: str, scale: float, lr: float, weight_decay: float) -> np.ndarray:
        """Indices of the members at (η, λ), one per seed in seed order."""
        d = self.runs[(arm, scale)]
        return np.array([i for i, m in enumerate(d.members) if m.lr == lr and m.weight_decay == weight_decay])

    def _main(self, arm: str, scale: float) -> np.ndarray:
        a = self.arms[arm]
        return self._select(arm, scale, a.lr, a.weight_decay)

    def t_d(self, arm: str, scale: float) -> np.ndarray:
        """Drift step of the arm's (η, λ) member per seed (inf: none in the budget)."""
        return self.runs[(arm, scale)].t_d[self._main(arm, scale)]

    def drifted(self, arm: str, scale: float) -> np.ndarray:
        """1 where the seed's (η, λ) member drifts in the budget (agreement below 1/2), else 0:
        a run that never drifts is a 0 outcome, never dropped."""
        return np.isfinite(self.t_d(arm, scale)).astype(float)

    def x_d(self, arm: str, scale: float) -> np.ndarray:
        """ηλt_d per seed (inf: censored at the budget)."""
        a = self.arms[arm]
        return a.lr * a.weight_decay * self.t_d(arm, scale)

    def final_drift(self, arm: str, scale: float) -> np.ndarray:
        """1 - final conflict agreement of the (η, λ) member, per seed."""
        d = self.runs[(arm, scale)]
        return 1 - d.agreement[-1, self._main(arm, scale)]

    def controls_kept(self) -> np.ndarray:
        """Per seed, 1 where no λ = 0 member of any arm or geometry drifts in the budget."""
        kept = np.ones(self.n_seeds)
        for (arm, scale), d in self.runs.items():
            idx = self._select(arm, scale, self.arms[arm].lr, 0.0)
            kept *= np.isfinite(d.t_d[idx]) == 0
        return kept

    def controls_lowest(self) -> float:
        """Lowest conflict agreement of any λ = 0 member at any evaluation."""
        return float(min(d.agreement[:, d.control].min() for d in self.runs.values()))

    def all_arms_drift(self, scale: float) -> np.ndarray:
        """Per seed, 1 where every arm's (η, λ) member drifts toward the proxy at ``scale``."""
        return np.prod([self.drifted(arm, scale) for arm in self.arms], axis=0)

    def interaction(self, a: str, b: str) -> np.ndarray:
        """Per seed, the paired interaction of final drift: (a's drift at the dear scale minus at the
        cheap one) minus (the same for b)."""
        cheap, dear = self.scales[0], self.scales[-1]
        return (self.final_drift(a, dear) - self.final_drift(a, cheap)) - \
               (self.final_drift(b, dear) - self.final_drift(b, cheap))

    def law_ratio(self, arm: str, scale: float) -> np.ndarray:
        """Per seed, t_d(η/r, rλ) / t_d(η, λ) (the same ηλ); nan where either member is censored
        (a ratio of a censored time is not known, so the claim it feeds cannot be decided)."""
        a = self.arms[arm]
        d = self.runs[(arm, scale)]
        slow = d.t_d[self._select(arm, scale, a.lr / self.lr_ratio, a.weight_decay * self.lr_ratio)]
        fast = self.t_d(arm, scale)
        with np.errstate(invalid="ignore"):
            ratio = slow / fast
        return np.where(np.isfinite(slow) & np.isfinite(fast), ratio, np.nan)

    def budget_x(self) -> float:
        """ηλt at the end of the budget (the same for every arm)."""
        a = next(iter(self.arms.values()))
        return a.lr * a.weight_decay * self.steps

    def table(self) -> str:
        rows = []
        for (arm, scale), d in self.runs.items():
            a = self.arms[arm]
            x = self.x_d(arm, scale)
            done = x[np.isfinite(x)]
            rows.append([arm, f"{scale:g}", f"{a.lr:g}", f"{a.weight_decay:g}", f"{a.eps:g}",
                         f"({a.betas[0]:g}, {a.betas[1]:g})",
                         f"{int(self.drifted(arm, scale).sum())}/{self.n_seeds}",
                         f"{done.min():.2f} to {done.max():.2f}" if done.size else "none",
                         f"{d.agreement[:, d.control].min():.2f}"])
        return markdown_table(["arm", "proxy scale", "$\\eta$", "$\\lambda$", "$\\epsilon$", "betas",
                               "drifted", "$\\eta\\lambda t_d$", "lowest agreement, $\\lambda=0$"], rows)

    def figure(self):
        """Mean conflict agreement of each arm's (η, λ) members against ηλt, one panel per scale."""
        fig, axes = plots.panels(len(self.scales), width=9.0)
        for ax, scale in zip(np.atleast_1d(axes), self.scales):
            for j, arm in enumerate(self.arms):
                d, a = self.runs[(arm, scale)], self.arms[arm]
                idx = self._main(arm, scale)
                # line styles differ too: SGD and large-eps Adam can lie on top of each other
                ax.plot(d.steps * a.lr * a.weight_decay, d.agreement[:, idx].mean(1),
                        color=plots.COLORS[j % len(plots.COLORS)], linestyle=("-", "--", ":", "-.")[j % 4],
                        linewidth=2.4 if j == 0 else 1.4, label=arm)
            ax.axhline(0.5, **plots.PREDICTED)
            ax.set(xlabel="$\\eta\\lambda t$", ylabel="aligned agreement (mean over seeds)",
                   title=f"proxy bit at scale {scale:g}", ylim=(-0.05, 1.05))
            ax.legend(fontsize=7)
        return fig


def box_drifted(design: drift.Design, k: int, start, lr: float, weight_decay: float, scales, steps: int,
                eval_every: int, root=None) -> dict:
    """AdamW at (η, ``weight_decay``), one member per seed, on each proxy scale: {scale: 1 where the
    seed drifts in the budget, else 0}. The test of the ℓ∞ box (theory.adamw_drift.proxy_capacity):
    a λ at which the box holds the cheap proxy's output but not the dear one's."""
    out = {}
    for scale in scales:
        members = drift.grid(design.n_seeds, [lr], [weight_decay])
        run = drift.phase2(design.setup(k, proxy_scale=scale), start, members, steps, kind="adamw",
                           eval_every=eval_every, root=root)
        out[scale] = np.isfinite(drift.decay_drift(run, members).t_d).astype(float)
    return out


def crossover(design: drift.Design, k: int, start, arm_settings: dict, scales, steps: int,
              eval_every: int, lr_ratio: float, root=None) -> Crossover:
    """Phase 2 of every arm on every proxy scale, all from the phase-1 networks ``start``."""
    runs = {}
    for scale in scales:
        setup = design.setup(k, proxy_scale=scale)
        for name, a in arm_settings.items():
            members = a.members(design.n_seeds, lr_ratio)
            run = drift.phase2(setup, start, members, steps, kind=a.kind, eps=a.eps, betas=a.betas,
                               eval_every=eval_every, root=root)
            runs[(name, scale)] = drift.decay_drift(run, members)
    return Crossover(arms=dict(arm_settings), scales=tuple(scales), lr_ratio=lr_ratio, steps=steps,
                     n_seeds=design.n_seeds, runs=runs)


# ---- the derivations' checks: each simulates torch.optim (not the engine) ------------------

def half_life_steps(k_factors: int, eta_lambda: float, lr: float = 0.01) -> float:
    """Steps until a product of ``k_factors`` scalars, each trained by torch.optim.AdamW with zero
    gradient (only the decoupled decay acts), falls to half its start; log-linear interpolation
    between the two steps around the crossing."""
    factors = [torch.nn.Parameter(torch.tensor(1.0, dtype=torch.float64)) for _ in range(k_factors)]
    opt = torch.optim.AdamW(factors, lr=lr, weight_decay=eta_lambda / lr)
    log_prev, step = 0.0, 0
    while True:
        for f in factors:
            f.grad = torch.zeros_like(f)
        opt.step()
        step += 1
        log_now = float(sum(torch.log(f.detach()) for f in factors))
        if log_now <= -math.log(2):
            return step - 1 + (log_prev + math.log(2)) / (log_prev - log_now)
        log_prev = log_now


def sign_step_per_eta(lr: float, grads, betas=(0.9, 0.98), steps: int = 20) -> np.ndarray:
    """Per constant gradient size: torch.optim.AdamW's mean step over ``steps`` steps, divided by η."""
    out = []
    for grad in grads:
        w = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))
        opt = torch.optim.AdamW([w], lr=lr, weight_decay=0.0, betas=tuple(betas))
        for _ in range(steps):
            w.grad = torch.tensor(float(grad), dtype=torch.float64)
            opt.step()
        out.append(-w.item() / (steps * lr))
    return np.array(out)


def linf_fixed_point(lr: float, weight_decay: float, grad: float = 0.3, tol: float = 1e-12) -> float:
    """|θ| where torch.optim.AdamW settles under a gradient that keeps its sign (run until a step
    moves θ by less than ``tol``)."""
    w = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))
    opt = torch.optim.AdamW([w], lr=lr, weight_decay=weight_decay)
    while True:
        before = w.item()
        w.grad = torch.tensor(grad, dtype=torch.float64)
        opt.step()
        if abs(w.item() - before) < tol:
            return abs(w.item())


def large_eps_deviation(lr: float, eps: float, n: int = 101) -> float:
    """Largest |Δθ / (η g/ε) - 1| of torch.optim.AdamW's first step over gradients g in [-1, 1]
    (g = 0 left out)."""
    g = torch.linspace(-1, 1, n, dtype=torch.float64)
    g = g[g != 0]
    w = torch.nn.Parameter(torch.zeros_like(g))
    opt = torch.optim.AdamW([w], lr=lr, weight_decay=0.0, eps=eps)
    w.grad = g.clone()
    opt.step()
    return float(((-w.detach()) / (lr * g / eps) - 1).abs().max())


def laws_table(arm_settings: dict, width: int, dear_scale: float) -> str:
    """Each arm's predicted drift condition and clock, from theory.adamw_drift and theory.drift."""
    rows = []
    for name, a in arm_settings.items():
        sign_like = a.kind == "adamw" and a.eps < 1.0
        if sign_like:
            cap = adamw.proxy_capacity(width, dear_scale, a.weight_decay)
            condition = (f"the proxy fits AdamW's box $|\\theta|\\le 1/\\lambda$ = {adamw.linf_bound_at(a.weight_decay):g}: "
                         f"capacity {cap:.3g} {'>=' if cap >= 1 else '<'} 1, so drift "
                         f"{'predicted' if cap >= 1 else 'excluded'}")
            clock = "sign growth, $\\eta t$: ratio $r$ at the same $\\eta\\lambda$"
        else:
            condition = (f"cheaper in L2 wins: the proxy at scale {dear_scale:g} costs "
                         f"{1 / dear_scale:.3g} times the scale-1 proxy, so no drift toward it")
            clock = "L2, $\\eta\\lambda t$ (drift point $\\ln 2/2$ for a free proxy): ratio 1"
        rows.append([name, condition, clock])
    return markdown_table(["arm", "drift toward the L2-dearer proxy", "clock of the drift"], rows)
