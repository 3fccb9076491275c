"""A goal read from a store outside weight decay (H6, the real case).

The network (goaldrift.engine.models.store) indexes a fixed table with the goal's
bits and adds ``read`` times what it finds to its MLP's output. Phase 1 trains it on
phase-1 data; phase 2 continues with plain gradient descent and L2 (the optimiser
whose fixed point is the minimiser that goaldrift.theory.memory derives), once with
the read gain decayed and once with it exempt, per seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from goaldrift.engine.models import StoreMLPConfig
from goaldrift.engine.models.store import parity_table
from goaldrift.experiments.goals import protection as pr
from goaldrift.experiments.goals import proxy_drift as drift
from goaldrift.experiments.goals.protection import Measured, highest, lowest, mean_of
from goaldrift.theory import memory as thm
from goaldrift.theory.derivation import numeric

VARIANTS = ("read path decayed", "read path exempt")
SHORT = dict(zip(VARIANTS, ("decayed", "exempt")))   # the variants' names in claim ids and glued numbers


def store_model(setup: drift.Setup) -> StoreMLPConfig:
    """The setup's MLP with a parity store indexed by the goal's bits, read gain 1 at init."""
    m = setup.model()
    return StoreMLPConfig(d_in=m.d_in, d_hidden=m.d_hidden, d_out=m.d_out, init_scale=m.init_scale,
                          store_bits=drift.complex_inputs(setup.task), read_init=1.0)


@dataclass
class StoreResult:
    plan: list[tuple[int, str]]   # (seed index, variant) per member
    agreement: np.ndarray         # [members] final aligned agreement on the conflict set
    read: np.ndarray              # [members] final read gain
    read_start: np.ndarray        # [members] read gain at the start of phase 2
    mlp_norm: np.ndarray          # [members] final norm of the MLP's readout (W_1)
    run: object

    def by_variant(self, values: np.ndarray, variant: str) -> np.ndarray:
        return np.array([values[i] for i, p in enumerate(self.plan) if p[1] == variant])


def store_phase2(setup: drift.Setup, run1, n_seeds: int, lr: float, weight_decay: float, steps: int,
                 eval_every: int, root=None) -> StoreResult:
    """Phase 2 of the store reader with SGD + L2: per seed, the read gain decayed or exempt."""
    model = store_model(setup)
    shapes = pr.member_shapes(run1.model)
    plan, masks = [], []
    for s in range(n_seeds):
        for v in VARIANTS:
            m = pr.no_masks(shapes)
            if v == VARIANTS[1]:
                m["read"][:] = True
            plan.append((s, v))
            masks.append(m)
    members = [drift.Member(s, lr, weight_decay) for s, _ in plan]
    run = drift.phase2(setup, run1, members, steps, kind="sgd", eval_every=eval_every,
                       masks={"exempt": pr.stack_members(masks)}, model=model, root=root)
    read0 = run1.model.read.detach()[[s for s, _ in plan], 0].double().numpy()
    return StoreResult(plan, run.metrics["conflict_agreement"][-1], run.model.read.detach()[:, 0].double().numpy(),
                       read0, run.model.W_1.detach().flatten(1).norm(dim=1).double().numpy(), run)


def derived_read_gain(variant: str, weight_decay: float) -> float:
    """The read gain a* at the minimiser of the regularised loss (goaldrift.theory.memory),
    with the read gain decayed (``VARIANTS[0]``) or exempt."""
    return float(numeric(thm.read_gain_equilibrium(variant == VARIANTS[0]).result, thm.lam)(weight_decay))


def store_change(result: StoreResult, setup: drift.Setup) -> float:
    """Largest change of the store's entries from the parity table over both phases, plus 1 if
    the store is a parameter: exactly 0 for a store outside the optimiser."""
    model = result.run.model
    table = parity_table(len(store_model(setup).store_bits))
    return (float((model.store.detach().double().cpu() - table).abs().max())
            + float("store" in dict(model.named_parameters())))


def derived_read_gains(weight_decay: float) -> dict[str, float]:
    """``derived_read_gain`` of each variant, by its short name (``SHORT``)."""
    return {SHORT[v]: derived_read_gain(v, weight_decay) for v in VARIANTS}


def store_runs(setup: drift.Setup, seeds: list[int], phase1: tuple, n_seeds: int, lr: float,
               weight_decay: float, steps: int, eval_every: int, root=None) -> StoreResult:
    """Both phases of the store reader: phase 1 (``phase1`` = (lr, weight decay, steps), AdamW)
    from ``seeds``, then ``store_phase2``."""
    run1 = drift.phase1(setup, seeds, *phase1, model=store_model(setup), root=root)
    return store_phase2(setup, run1, n_seeds, lr, weight_decay, steps, eval_every=eval_every, root=root)


@dataclass(frozen=True)
class StoreSummary:
    """What the store's claims record, with their per-seed samples."""

    store_change: float     # largest change of the store's entries (+1 if it is a parameter)
    drifted: Measured       # read gain decayed: highest final aligned agreement
    held: Measured          # read gain exempt: lowest final aligned agreement
    a_star: dict            # short variant name -> the derived read gain a*
    read_ratio: dict        # short variant name -> final read gain over a*; mean over seeds
    glue: dict              # the numbers the prose quotes, by glue name


def summarise(result: StoreResult, setup: drift.Setup, weight_decay: float) -> StoreSummary:
    """The store reader's claims' values (a* derived at ``weight_decay``)."""
    dec, ex = VARIANTS
    a_star = derived_read_gains(weight_decay)
    return StoreSummary(
        store_change=store_change(result, setup),
        drifted=highest(result.by_variant(result.agreement, dec)),
        held=lowest(result.by_variant(result.agreement, ex)),
        a_star=a_star,
        read_ratio={SHORT[v]: mean_of(result.by_variant(result.read, v) / a_star[SHORT[v]]) for v in VARIANTS},
        glue={"store_mlp_norm_max": float(result.mlp_norm.max()),
              "store_read_decayed_mean": float(result.by_variant(result.read, dec).mean()),
              "store_p1_read_min": float(result.read_start.min())},
    )
