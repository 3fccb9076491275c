"""Goal drift in a one-layer transformer (chapter transformer_drift): sequences whose token
positions are drawn per seed, one run per seed, and the goal circuit watched in phase 2.

The tasks are those of ``token_drift`` (bits as tokens, '=' last, the output read at the last
position), with bit i placed at position ``positions[i]``: a permutation drawn from the seed,
so that no position's embedding is special to the goal or to the proxy. Each seed therefore
has its own data, and its own runs (trained side by side by ``goaldrift.engine.parallel``).

Every evaluation records, beside ``proxy_drift.drift_metrics``, the named intermediates of
the mechanism (TransformerLens style):

* ``attn_goal`` / ``attn_proxy``: attention from the last position to the goal's tokens
  (summed) and to the proxy's token, mean over heads and conflict sequences;
* ``pos_norm_goal`` / ``pos_norm_proxy``: the norm of the positional embeddings of the goal's
  positions (root mean square over them) and of the proxy's: the only weights that belong to
  one pathway (the token embedding is shared by every position);
* ``goal_contribution`` / ``proxy_contribution``: the output each rule carries, from the
  margins on the phase-2 set (goal and proxy agree: g + p) and on the conflict set
  (they disagree: g - p).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from goaldrift.engine import parallel
from goaldrift.engine.models import TransformerConfig
from goaldrift.engine.tasks.proxy import EQUALS_TOKEN, ProxyTask, TokenData, placed_token_data
from goaldrift.engine.train import OptimConfig, RunConfig
from goaldrift.experiments.goals import proxy_drift as drift
from goaldrift.experiments.goals.drift_law import law_hit, law_prediction, start_share, training_margin
from goaldrift.experiments.goals.token_drift import network_cost

THRESHOLD = 0.5  # drift: the conflict agreement falls below this (proxy_drift.drift_step)


# ---- data with the positions drawn per seed ----------------------------------

def seed_positions(seed: int, n_bits: int) -> tuple[int, ...]:
    """Position of bit i, a permutation of 0..n_bits-1 drawn from ``seed`` ('=' stays last)."""
    g = torch.Generator().manual_seed(int(seed) + 7_777)
    return tuple(int(p) for p in torch.randperm(n_bits, generator=g))


@dataclass(frozen=True)
class PlacedSetup:
    """One seed's transformer task: the rules, the sizes and the positions of its bits."""

    task: ProxyTask
    positions: tuple
    d_model: int = 16
    n_train: int = 256
    n_test: int = 1024
    data_seed: int = 0
    loss: str = "mse"

    @property
    def labels(self) -> bool:
        """Cross-entropy reads class labels and two logits; squared error one output and ±1."""
        return self.loss == "cross_entropy"

    def model(self) -> TransformerConfig:
        return TransformerConfig(d_vocab=EQUALS_TOKEN + 1, d_vocab_out=2 if self.labels else 1,
                                 n_ctx=self.task.n_bits + 1,
                                 d_model=self.d_model, n_heads=2, d_head=max(self.d_model // 2, 1),
                                 d_mlp=2 * self.d_model)

    def task_spec(self, phase: int) -> dict:
        t = self.task
        spec = {"name": "proxy_tokens_placed", "phase": phase, "n_train": self.n_train, "n_test": self.n_test,
                "n_bits": t.n_bits, "k": t.k, "reverse": t.reverse, "positions": list(self.positions)}
        return {**spec, "labels": True} if self.labels else spec

    def data(self, phase: int) -> TokenData:
        return placed_token_data(self.task, phase, self.n_train, self.n_test, self.data_seed, self.positions,
                                 self.labels)


# ---- what is recorded -----------------------------------------------------------

_DRIFT = {"mse": drift.drift_metrics("mse", None), "cross_entropy": drift.drift_metrics("cross_entropy", None)}


def mechanism_metrics(model, data: TokenData, step: int) -> dict[str, torch.Tensor]:
    """The drift metrics and the mechanism's named intermediates (see the module docstring);
    the excluded loss in the loss the data's targets are for (class labels: cross-entropy)."""
    p0 = next(model.parameters())
    loss = "mse" if data.train_y.is_floating_point() else "cross_entropy"
    with torch.no_grad():
        out = _DRIFT[loss](model, data, step)
        _, cache = model.run_with_cache(data.conflict_x[:256].to(p0.device))
        last = cache["attn.pattern"][:, :, :, -1, :].to(torch.float64).mean(dim=(1, 2))   # [K, C]
        out["attn_goal"] = last[:, list(data.goal_positions)].sum(1)
        out["attn_proxy"] = last[:, list(data.proxy_positions)].sum(1)
        W_pos = model.W_pos.detach().to(torch.float64)
        out["pos_norm_goal"] = W_pos[:, list(data.goal_positions)].square().mean(1).sum(1).sqrt()
        out["pos_norm_proxy"] = W_pos[:, list(data.proxy_positions)].square().mean(1).sum(1).sqrt()
        m_agree = torch.as_tensor(training_margin(model, data.train_x, data.train_goal))
        m_conflict = out["conflict_margin"].cpu()
        out["goal_contribution"] = (m_agree + m_conflict) / 2
        out["proxy_contribution"] = (m_agree - m_conflict) / 2
    return out


# ---- the two phases, one run per seed -------------------------------------------

def _config(setup: PlacedSetup, phase: int, seeds, lrs, weight_decays, steps: int, eval_every: int) -> RunConfig:
    return RunConfig(task=setup.task_spec(phase), model=setup.model(),
                     optim=OptimConfig(kind="adamw", lr=list(lrs), weight_decay=list(weight_decays)),
                     steps=steps, seeds=list(seeds), data_seed=setup.data_seed, loss=setup.loss,
                     eval_every=eval_every, checkpoint_every=None)


def phase1_jobs(setups: list[PlacedSetup], init_seeds: list[int], lr: float, weight_decay: float,
                steps: int) -> list[parallel.Job]:
    """One phase-1 network per setup (its own data and positions), from its init seed."""
    return [parallel.Job(_config(s, 1, [seed], [lr], [weight_decay], steps, max(steps // 10, 1)),
                         {"data": s.data(1), "metric_fns": {"drift_mechanism": mechanism_metrics}})
            for s, seed in zip(setups, init_seeds)]


def phase2_jobs(setups: list[PlacedSetup], starts: list, lr: float, weight_decays, steps: int,
                eval_every: int) -> list[parallel.Job]:
    """Per setup, one ensemble continuing its phase-1 network at every λ of ``weight_decays``."""
    jobs = []
    for s, start in zip(setups, starts):
        init = drift.tile_state(start.model.state_dict(), [0] * len(weight_decays))
        cfg = _config(s, 2, range(len(weight_decays)), [lr] * len(weight_decays), weight_decays, steps, eval_every)
        jobs.append(parallel.Job(cfg, {"data": s.data(2), "init_state": init,
                                       "metric_fns": {"drift_mechanism": mechanism_metrics}}))
    return jobs


def run_groups(groups: dict[str, list[parallel.Job]]) -> dict[str, list]:
    """Every group's jobs trained side by side in one pool (``parallel.run_all``), the runs
    handed back by group in the order of their jobs."""
    runs = parallel.run_all([job for jobs in groups.values() for job in jobs])
    out, i = {}, 0
    for name, jobs in groups.items():
        out[name], i = runs[i:i + len(jobs)], i + len(jobs)
    return out


# ---- reading the runs -------------------------------------------------------------

@dataclass
class Arm:
    """One task's phase 2 over seeds: every curve ``[seed, T, member]``, members the λ grid."""

    name: str
    weight_decays: tuple
    lr: float
    steps: np.ndarray          # [T]
    curves: dict               # name -> [S, T, L]

    @property
    def n_seeds(self) -> int:
        return self.curves["conflict_agreement"].shape[0]

    @cached_property
    def _drift_steps(self) -> np.ndarray:
        a = self.curves["conflict_agreement"]
        return np.stack([drift.drift_step(self.steps, a[s], THRESHOLD) for s in range(self.n_seeds)])

    @property
    def decayed_columns(self) -> list[int]:
        return [j for j, wd in enumerate(self.weight_decays) if wd > 0]

    def t_d(self) -> np.ndarray:
        """Drift step per seed and member ``[S, L]`` (inf: none within the budget, a censored time)."""
        return self._drift_steps

    def x_d(self) -> np.ndarray:
        """ηλt_d per seed and member (inf: censored at the budget)."""
        with np.errstate(invalid="ignore"):
            return self.t_d() * self.lr * np.asarray(self.weight_decays)[None, :]

    def column(self, weight_decay: float) -> int:
        return list(self.weight_decays).index(weight_decay)

    def drifted(self, weight_decay: float) -> np.ndarray:
        """0/1 per seed: the member at this λ drifts within the budget."""
        return np.isfinite(self.t_d()[:, self.column(weight_decay)]).astype(float)

    def drifted_any_decayed(self) -> np.ndarray:
        return np.isfinite(self.t_d()[:, self.decayed_columns]).any(1).astype(float)

    def t_half(self) -> np.ndarray:
        """First evaluated step at which the conflict margin (the goal's lead over the proxy) is at
        most half its start, per seed and member ``[S, L]`` (inf: not within the budget): the
        point the mechanism is read at, defined also where the agreement never crosses 1/2."""
        m = self.curves["conflict_margin"]
        below = m <= 0.5 * m[:, :1, :]
        first = np.where(below.any(1), below.argmax(1), -1)
        return np.where(first >= 0, self.steps[np.maximum(first, 0)], np.inf)

    def law_hits(self, predicted: np.ndarray) -> np.ndarray:
        """Per seed, the fraction of decayed members whose drift point ηλt_d matches ``predicted``
        (per seed) within a factor 1.5 (``drift_law.law_hit``; no drift counts when predicted
        beyond that member's budget ηλT)."""
        x, T = self.x_d(), float(self.steps[-1])
        hits = [law_hit(x[:, j], predicted, self.lr * self.weight_decays[j] * T) for j in self.decayed_columns]
        return np.mean(hits, axis=0)

    def lowest_agreement(self, weight_decay: float) -> np.ndarray:
        return self.curves["conflict_agreement"][:, :, self.column(weight_decay)].min(1)

    def final(self, name: str, weight_decay: float) -> np.ndarray:
        return self.curves[name][:, -1, self.column(weight_decay)]

    def goal_share(self, weight_decay: float) -> np.ndarray:
        """Share of the output the goal carries at the end, g / (g + p), per seed (1: the goal alone,
        1/2: an even mixture, 0: the proxy alone)."""
        g, p = self.final("goal_contribution", weight_decay), self.final("proxy_contribution", weight_decay)
        return g / (g + p)

    def mean_curve(self, name: str, weight_decay: float) -> np.ndarray:
        return self.curves[name][:, :, self.column(weight_decay)].mean(0)


def read_arm(name: str, runs: list, lr: float, weight_decays) -> Arm:
    steps = np.asarray(runs[0].metrics["step"])
    keys = ("conflict_agreement", "conflict_margin", "train_loss", "test_acc", "total_norm", "attn_goal",
            "attn_proxy", "pos_norm_goal", "pos_norm_proxy", "goal_contribution", "proxy_contribution")
    curves = {k: np.stack([np.asarray(r.metrics[k], dtype=float) for r in runs]) for k in keys}
    return Arm(name, tuple(float(w) for w in weight_decays), float(lr), steps, curves)


def mechanism_at_half(arm: Arm, weight_decay: float, fall: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Two readings of the mechanism per seed, each 0/1, taken when the member at this λ has
    lost half the goal's lead (``Arm.t_half``), or at the end of the budget if it never does:

    * cleanup: the goal's positional-embedding norm over the proxy's had fallen to ``fall`` of
      its start by then (the goal circuit shrinks before the output moves);
    * attention switch: the last position attended more to the proxy's token than to the
      goal's tokens by then (the read-out moves before the weights shrink)."""
    j = arm.column(weight_decay)
    t_read = np.minimum(arm.t_half()[:, j], arm.steps[-1])
    cleanup, switch = [], []
    for s in range(arm.n_seeds):
        by = arm.steps <= t_read[s]
        ratio = arm.curves["pos_norm_goal"][s, :, j] / arm.curves["pos_norm_proxy"][s, :, j]
        cleanup.append(float((ratio[by] <= fall * ratio[0]).any()))
        switch.append(float((arm.curves["attn_proxy"][s, by, j] > arm.curves["attn_goal"][s, by, j]).any()))
    return np.array(cleanup), np.array(switch)


def placement_mismatch(setup: PlacedSetup, phase: int = 2) -> float:
    """Share of sequences (training and conflict sets) whose goal and proxy, recomputed from the
    tokens at ``goal_positions`` / ``proxy_positions`` (a product of ±1 bits), differ from the
    labels: 0 when the placed data are what they say."""
    d = setup.data(phase)

    def product(x, positions):
        return (2 * x[:, list(positions)].double() - 1).prod(1)

    wrong = []
    for x, goal in ((d.train_x, d.train_goal), (d.conflict_x, d.conflict_goal)):
        wrong.append((product(x, d.goal_positions) != goal.double()).double().mean())
    wrong.append((product(d.train_x, d.proxy_positions) != d.train_proxy.double()).double().mean())
    wrong.append((product(d.conflict_x, d.proxy_positions) != -d.conflict_goal.double()).double().mean())
    wrong.append(float((d.train_x[:, -1] != EQUALS_TOKEN).double().mean()))
    return float(max(wrong))


# ---- the law's prediction, from costs measured before phase 2 --------------------

def law_predictions(goal_runs, goal_setups, proxy_runs, proxy_setups) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cost ratio goal / proxy-alone, starting aligned share A_0, the L2 law's drift point ηλt_d)
    per seed, from the phase-1 networks only (``token_drift.network_cost``,
    ``drift_law.start_share``, ``drift_law.law_prediction``)."""
    rho = np.array([float(network_cost(r, s)[0] / network_cost(q, p)[0])
                    for r, s, q, p in zip(goal_runs, goal_setups, proxy_runs, proxy_setups)])
    a0 = np.array([float(start_share(r, s)[0]) for r, s in zip(goal_runs, goal_setups)])
    return rho, a0, law_prediction(rho, a0)


def weight_scale(runs) -> float:
    """Largest root-mean-square entry of any weight matrix over the phase-1 networks: the scale
    AdamW's box 1/λ is compared with."""
    return max(float(p.detach().to(torch.float64).square().mean().sqrt())
               for r in runs for name, p in r.model.named_parameters() if not name.startswith("b_"))


def setups_for(task: ProxyTask, init_seeds, **sizes) -> list[PlacedSetup]:
    """One setup per seed: its data seed and its positions come from the init seed."""
    return [PlacedSetup(task, seed_positions(seed, task.n_bits), data_seed=seed, **sizes) for seed in init_seeds]
