"""A memory inside the network exempt from weight decay, with and without its read path (H6).

The memory is the goal's pathway by construction (``protection.pathway_masks``: the input
rows of the goal's bits and the hidden biases): trained in phase 2 but never decayed. Per
seed, three members: nothing exempt; the memory exempt with its read path (the readout)
decayed; memory and read path exempt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from goaldrift.experiments import plots
from goaldrift.experiments.goals import protection as pr
from goaldrift.experiments.goals import proxy_drift as drift
from goaldrift.experiments.goals.protection import Measured, highest, lowest

VARIANTS = ("no exemption", "memory exempt, read path decayed", "memory and read path exempt")


@dataclass
class MemoryResult:
    plan: list[str]          # variant per member (seed-major)
    kept: np.ndarray         # [members] norm of the memory (the goal's input rows), end over start
    agreement: np.ndarray    # [members] final aligned agreement on the conflict set
    run: object

    def by_variant(self, values: np.ndarray, variant: str) -> np.ndarray:
        """Per seed: ``values`` (one per member) of the members of ``variant``."""
        return np.array([values[i] for i, p in enumerate(self.plan) if p == variant])

    def summary(self) -> "MemorySummary":
        """The values the chapter's memory claims record, with their per-seed samples."""
        return MemorySummary(
            kept=lowest(self.by_variant(self.kept, VARIANTS[1])),
            drifted=highest(self.by_variant(self.agreement, VARIANTS[1])),
            held=lowest(self.by_variant(self.agreement, VARIANTS[2])),
            kept_baseline=float(self.by_variant(self.kept, VARIANTS[0]).max()),
        )


@dataclass(frozen=True)
class MemorySummary:
    kept: Measured        # memory exempt, read path decayed: lowest memory norm, end over start
    drifted: Measured     # memory exempt, read path decayed: highest final aligned agreement
    held: Measured        # memory and read path exempt: lowest final aligned agreement
    kept_baseline: float  # nothing exempt: highest memory norm, end over start


def memory_masks(shapes: dict, task, variant: str) -> dict:
    """One member's exemption masks for ``variant``."""
    if variant == VARIANTS[0]:
        return pr.no_masks(shapes)
    return pr.pathway_masks(shapes, task, read_path=variant == VARIANTS[2])


def memory_phase2(setup: drift.Setup, run1, n_seeds: int, lr: float, weight_decay: float, steps: int,
                  eval_every: int, root=None) -> MemoryResult:
    """Phase 2 at one (η, λ) from every seed's phase-1 network, once per variant."""
    shapes = pr.member_shapes(run1.model)
    plan = [v for _ in range(n_seeds) for v in VARIANTS]
    members = [drift.Member(s, lr, weight_decay) for s in range(n_seeds) for _ in VARIANTS]
    masks = [memory_masks(shapes, setup.task, v) for v in plan]
    run = drift.phase2(setup, run1, members, steps, eval_every=eval_every,
                       masks={"exempt": pr.stack_members(masks)}, root=root)
    m = run.metrics
    return MemoryResult(plan, m["complex_norm"][-1] / m["complex_norm"][0], m["conflict_agreement"][-1], run)


def plot_memory(mem: MemoryResult, lr: float, weight_decay: float, drift_point: float):
    """Seed 0, each variant on the ηλt axis: the aligned agreement (the predicted drift point
    dashed), and the memory's norm (solid) beside the proxy weight's (dotted). Returns the figure."""
    fig, (ax1, ax2) = plots.panels(2)
    mm = mem.run.metrics
    x_axis = mm["step"] * lr * weight_decay
    for j, v in enumerate(VARIANTS):
        i = mem.plan.index(v)
        ax1.plot(x_axis, mm["conflict_agreement"][:, i], color=plots.COLORS[j], label=v)
        ax2.plot(x_axis, mm["complex_norm"][:, i], color=plots.COLORS[j], label=v)
        ax2.plot(x_axis, mm["simple_norm"][:, i], color=plots.COLORS[j], linestyle=":")
    ax1.axvline(drift_point, **plots.PREDICTED)
    ax1.set(xlabel="$\\eta\\lambda t$", ylabel="aligned agreement", title="behaviour (seed 0)")
    ax2.set(xlabel="$\\eta\\lambda t$", ylabel="norm", title="memory (solid) and proxy weight (dotted)")
    ax1.legend(fontsize=7)
    return fig
