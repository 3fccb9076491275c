"""A memory inside the network exempt from weight decay, with and without its read path (H6).

The memory is the goal's pathway by construction (``protection.pathway_masks``: the input
rows of the goal's bits and the hidden biases): trained in phase 2 but never decayed. Per
seed, three members: nothing exempt; the memory exempt with its read path (the readout)
decayed; memory and read path exempt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from goaldrift.experiments.goals import protection as pr
from goaldrift.experiments.goals import proxy_drift as drift

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
