"""Ungrokking: a grokked network trained on too small a training set; used by chapters ungrokking.

Varma et al. (2023) train a network until it groks, then continue on a
training set far below the critical size: the test accuracy falls back
(the network drifts to the memorising solution, now the cheaper one). This
module builds those continuation runs on top of ``goaldrift.experiments.grokking.grokking_runs``
and reads off how fast and at which training-set sizes it happens.

The smaller training sets are prefixes of the same shuffled pair list
(``tasks.modular.split_pairs``), so each one is a subset of the set the
network grokked on, and its test set is every pair it no longer trains on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from goaldrift.experiments.grokking import grokking_runs as gr
from goaldrift.engine import runs
from goaldrift.engine.models import build_model
from goaldrift.experiments.grokking.phases import first_step
from goaldrift.engine.tasks.modular import split_pairs
from goaldrift.engine.train import RunConfig


def stacked_state(state: dict, K: int) -> dict:
    """A one-member state_dict repeated into K identical ensemble members."""
    for name, v in state.items():
        if v.shape[0] != 1:
            raise ValueError(f"{name} has {v.shape[0]} members; pass one member's state")
    return {name: v.detach().cpu().expand(K, *v.shape[1:]).clone() for name, v in state.items()}


def member_state(state: dict, k: int) -> dict:
    """Member k of an ensemble state_dict, as a one-member state_dict."""
    return {name: v[k:k + 1].detach().cpu().clone() for name, v in state.items()}


def concat_states(*states: dict) -> dict:
    """Join ensemble state_dicts member-wise (same parameter names and shapes)."""
    return {name: torch.cat([s[name].detach().cpu() for s in states]) for name in states[0]}


def fresh_state(cfg: RunConfig, seed: int) -> dict:
    """The untrained one-member weights that init seed ``seed`` gives for ``cfg``'s model."""
    return build_model(cfg.model, [seed]).state_dict()


def is_nested_split(p: int, small_frac: float, big_frac: float, seed: int) -> bool:
    """True if the training pairs at ``small_frac`` are a subset of those at ``big_frac``."""
    small, _ = split_pairs(p, small_frac, seed)
    big, _ = split_pairs(p, big_frac, seed)
    return set(small) <= set(big)


def continuation_config(base: RunConfig, train_frac: float, lrs, weight_decays, steps: int,
                        eval_every: int, warmup_steps: int = 0) -> RunConfig:
    """A run that continues ``base``'s network on the first ``train_frac`` of
    its pairs, one member per (lr, weight_decay). The optimiser's moments start
    from zero; by default with no warm-up (the network is trained already), and
    with ``warmup_steps`` > 0 as the control for that restart: a fresh Adam's first
    steps are large (the second moment is still small), which a warm-up tames."""
    t, m = base.task, base.model
    lrs, weight_decays = list(lrs), list(weight_decays)
    return gr.config(t["p"], train_frac, m.d_model, lrs, weight_decays, steps, seeds=[base.data_seed] * len(lrs),
                     data_seed=base.data_seed, warmup_steps=warmup_steps, eval_every=eval_every)


def continue_from(state: dict, cfg: RunConfig, progress: bool | None = False) -> runs.Run:
    """The cached run of ``cfg`` starting from the ensemble weights ``state``."""
    return runs.run(cfg, init_state=state, progress=progress)


def first_step_below(steps, acc, level: float) -> np.ndarray:
    """Per member (columns of ``acc`` [T, K]): the first step with accuracy
    < level, nan if never."""
    acc = np.asarray(acc, dtype=float)
    out = np.full(acc.shape[1], np.nan)
    for k in range(acc.shape[1]):
        s = first_step(steps, acc[:, k] < level)
        if s is not None:
            out[k] = s
    return out


def final_accuracy(acc, tail: float = 0.1) -> np.ndarray:
    """Per member: mean accuracy over the last ``tail`` of the evaluations
    (at least one), so one noisy evaluation does not decide the end state."""
    acc = np.asarray(acc, dtype=float)
    n = max(1, int(round(tail * acc.shape[0])))
    return acc[-n:].mean(axis=0)


@dataclass(frozen=True)
class Thresholds:
    """Critical training fractions read off a scan (None: not found in the scan).

    ``grok``: smallest fraction at which training from scratch generalises;
    ``keep``: smallest fraction at which a grokked network stays generalised.
    Hysteresis means keep < grok: fractions in [keep, grok) generalise only
    if the network had grokked before."""

    grok: float | None
    keep: float | None

    @property
    def hysteresis(self) -> bool | None:
        if self.keep is None:
            return None
        if self.grok is None:  # nothing grokked from scratch: any kept fraction is a window
            return True
        return self.keep < self.grok


def critical_fraction(fracs, final_acc, level: float) -> float | None:
    """The smallest fraction from which on (all larger fractions included)
    the final accuracy is >= level; None if not even the largest reaches it."""
    fracs, final_acc = np.asarray(fracs, dtype=float), np.asarray(final_acc, dtype=float)
    order = np.argsort(fracs)
    fracs, ok = fracs[order], final_acc[order] >= level
    if not ok[-1]:
        return None
    i = len(ok) - 1
    while i > 0 and ok[i - 1]:
        i -= 1
    return float(fracs[i])


def thresholds(fracs, scratch_acc, grokked_acc, level: float = 0.95) -> Thresholds:
    return Thresholds(critical_fraction(fracs, scratch_acc, level), critical_fraction(fracs, grokked_acc, level))
