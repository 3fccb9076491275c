"""Grokking runs for the chapters: configurations, cached training, milestones.

A thin layer over ``goaldrift.engine.train`` / ``goaldrift.engine.runs``: it names the
configurations the grokking chapters use (the one-layer transformer on
a+b mod p, AdamW with warm-up, full batch) and reads each member's
milestones (memorisation, generalisation, norms there) off its curves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from goaldrift.engine import parallel, runs
from goaldrift.experiments.grokking.grokking_measures import weight_snapshot
from goaldrift.engine.models import TransformerConfig
from goaldrift.experiments.grokking.phases import first_step
from goaldrift.engine.tasks.modular import modular_data
from goaldrift.engine.train import OptimConfig, RunConfig

N_HEADS = 4


def transformer(p: int, d_model: int) -> TransformerConfig:
    """The published shape scaled to d_model: 4 heads, d_mlp = 4 d_model."""
    return TransformerConfig.for_modulus(p, d_model=d_model, n_heads=N_HEADS, d_head=d_model // N_HEADS,
                                         d_mlp=4 * d_model)


def config(p: int, train_frac: float, d_model: int, lr, weight_decay, steps: int, seeds: list[int],
           data_seed: int, warmup_steps: int = 10, eval_every: int = 100,
           warmup_rule: str = "one_step_ahead") -> RunConfig:
    """Full-batch AdamW (betas 0.9, 0.98) on a+b mod p; lr and weight_decay
    may be one value per member. ``warmup_rule="published"`` follows the
    published trainer's schedule exactly (see ``goaldrift.engine.optim``)."""
    return RunConfig(
        task={"name": "modular_addition", "p": p, "train_frac": train_frac},
        model=transformer(p, d_model),
        optim=OptimConfig(kind="adamw", lr=lr, weight_decay=weight_decay, betas=(0.9, 0.98),
                          warmup_steps=warmup_steps, warmup_rule=warmup_rule),
        steps=steps, seeds=list(seeds), data_seed=data_seed, eval_every=eval_every,
        checkpoint_every=max(eval_every, steps // 4),
    )


def data_for(cfg: RunConfig):
    t = cfg.task
    return modular_data(p=t["p"], train_frac=t["train_frac"], seed=cfg.data_seed)


def run_with_snapshots(cfg: RunConfig, progress: bool | None = False):
    """The cached run with every parameter stored at each evaluation."""
    return runs.run(cfg, metric_fns={"weight_snapshot": weight_snapshot}, progress=progress)


def run_plain(cfg: RunConfig, progress: bool | None = False):
    """The cached run with the trainer's built-in metrics only."""
    return runs.run(cfg, progress=progress)


def run_with_snapshots_all(configs: list[RunConfig]) -> list[runs.Run]:
    """``run_with_snapshots`` of each config; those not cached are trained side by
    side first, one worker process each (``goaldrift.engine.parallel``)."""
    return parallel.run_all([parallel.Job(c, {"metric_fns": {"weight_snapshot": weight_snapshot}}) for c in configs])


def run_plain_all(configs: list[RunConfig]) -> list[runs.Run]:
    """``run_plain`` of each config; those not cached are trained side by side first."""
    return parallel.run_all([parallel.Job(c) for c in configs])


@dataclass
class Milestones:
    """Per member ``[K]``: memorisation and generalisation steps (nan if not
    reached), the weight norm there, and the delay between them."""

    memorisation: np.ndarray
    generalisation: np.ndarray
    norm_at_memorisation: np.ndarray
    norm_at_generalisation: np.ndarray

    @property
    def delay(self) -> np.ndarray:
        return self.generalisation - self.memorisation


def milestones(metrics: dict, mem_acc: float = 0.99, gen_acc: float = 0.95) -> Milestones:
    """Memorisation: first evaluation with train accuracy >= mem_acc;
    generalisation: first with test accuracy >= gen_acc."""
    steps = metrics["step"]
    norm = np.sqrt(metrics["weight_norm_sq"])
    K = norm.shape[1]
    out = np.full((4, K), np.nan)
    for k in range(K):
        for row, (acc, level) in enumerate(((metrics["train_acc"][:, k], mem_acc), (metrics["test_acc"][:, k], gen_acc))):
            s = first_step(steps, acc >= level)
            if s is not None:
                out[row, k] = s
                out[row + 2, k] = norm[np.searchsorted(steps, s), k]
    return Milestones(*out)


@dataclass
class SweepPoint:
    """One member of a sweep ensemble, with its ensemble's step budget."""

    seed: int
    lr: float
    weight_decay: float
    budget: int


def sweep_grid(lrs, weight_decays, zero_decay_lr=None, max_eta_lambda: float | None = None) -> list[tuple[float, float]]:
    """(lr, weight_decay) pairs: the product, less the pairs with lr * weight_decay
    above ``max_eta_lambda`` (if given), plus one lambda = 0 member (a control) at
    each lr in ``zero_decay_lr`` (one value or a list)."""
    grid = [(float(lr), float(wd)) for lr in lrs for wd in weight_decays
            if max_eta_lambda is None or lr * wd <= max_eta_lambda * (1 + 1e-9)]
    if zero_decay_lr is not None:
        grid += [(float(lr), 0.0) for lr in np.atleast_1d(zero_decay_lr)]
    return grid


def sweep_configs(grid, seeds, p: int, train_frac: float, d_model: int, steps: int,
                  warmup_steps: int = 10, eval_every: int = 20) -> list[RunConfig]:
    """One ensemble per seed (seed = data split = init of every member), its
    members the (lr, weight_decay) grid points."""
    return [config(p, train_frac, d_model, [g[0] for g in grid], [g[1] for g in grid], steps,
                   seeds=[s] * len(grid), data_seed=s, warmup_steps=warmup_steps, eval_every=eval_every)
            for s in seeds]


def cleanup_sweep(seed: int, n_seeds: int, p: int, train_frac: float, d_model: int, lr_low: float,
                  lr_high: float, wd_min: float, wd_max: float, n_wd: int, max_eta_lambda: float,
                  warmup_steps: int, steps: int, eval_every: int, lr_slow: float = 0.0, slow_steps: int = 0
                  ) -> tuple[list[tuple[float, float]], list[int], list[RunConfig]]:
    """The cleanup-scaling chapter's sweep, from its parameters: the (lr, weight_decay)
    grid (both lrs times log-spaced lambdas, less the members above ``max_eta_lambda``,
    plus a lambda = 0 control at each lr), the seeds, and one ensemble run per seed.
    With ``lr_slow`` > 0, each seed has a second ensemble at that smaller lr (the same
    lambdas and a control) with its own budget ``slow_steps``: a smaller lr needs
    proportionally more steps for the same decay, and giving them to the whole grid
    would multiply the cost. ``configs`` is seed-major; ``grid`` lists one seed's members
    in the order ``join_ensembles`` puts them. Declared once here so the chapter and
    `goaldrift sweep cleanup_scaling` train the same runs (and so share the run cache)."""
    seeds = list(range(seed, seed + n_seeds))
    lams = np.geomspace(wd_min, wd_max, n_wd)
    parts = [(sweep_grid([lr_low, lr_high], lams, zero_decay_lr=[lr_low, lr_high], max_eta_lambda=max_eta_lambda), steps)]
    if lr_slow > 0:
        parts.append((sweep_grid([lr_slow], lams, zero_decay_lr=[lr_slow], max_eta_lambda=max_eta_lambda), slow_steps))
    grid = [g for part, _ in parts for g in part]
    configs = [cfg for s in seeds for part, budget in parts
               for cfg in sweep_configs(part, [s], p, train_frac, d_model, budget, warmup_steps=warmup_steps,
                                        eval_every=eval_every)]
    return grid, seeds, configs


@dataclass
class JoinedRun:
    """One seed's sweep ensembles read as one ensemble: the members side by side in
    grid order, every ensemble on the evaluation steps of the longest (nan after its
    own budget), and each member's budget."""

    metrics: dict[str, np.ndarray]
    budgets: np.ndarray
    trained: bool


def join_ensembles(ensembles: list) -> JoinedRun:
    """Join one seed's ensemble runs (same evaluation steps, budgets may differ)."""
    longest = max(ensembles, key=lambda r: len(r.metrics["step"]))
    steps = longest.metrics["step"]
    for r in ensembles:
        if not np.array_equal(r.metrics["step"], steps[:len(r.metrics["step"])]):
            raise ValueError("ensembles to join must be evaluated on the same steps (the same eval_every)")
    metrics = {"step": steps}
    for key in longest.metrics:
        if key == "step":
            continue
        blocks = []
        for r in ensembles:
            v = np.asarray(r.metrics[key], dtype=float)
            block = np.full((longest.metrics[key].shape[0], *v.shape[1:]), np.nan)
            block[:v.shape[0]] = v
            blocks.append(block)
        metrics[key] = np.concatenate(blocks, axis=1)
    budgets = np.concatenate([[r.config.steps] * r.config.K for r in ensembles])
    return JoinedRun(metrics, budgets, any(r.trained for r in ensembles))


def sweep_runs(configs: list[RunConfig], seeds) -> list[JoinedRun]:
    """Train a sweep's ensembles (those not cached side by side) and join them seed by
    seed; ``configs`` seed-major, the same number per seed, as ``cleanup_sweep`` gives them."""
    per = len(configs) // len(seeds)
    if per * len(seeds) != len(configs):
        raise ValueError("every seed needs the same number of ensembles")
    ensembles = run_plain_all(configs)
    return [join_ensembles(ensembles[i * per:(i + 1) * per]) for i in range(len(seeds))]


def sweep_milestones(runs_by_seed, grid, seeds) -> tuple[list[SweepPoint], Milestones]:
    """Flatten the per-seed (joined) ensembles into one row per (seed, lr, weight_decay)."""
    points, parts = [], []
    for s, run in zip(seeds, runs_by_seed):
        points += [SweepPoint(s, lr, wd, int(b)) for (lr, wd), b in zip(grid, run.budgets)]
        parts.append(milestones(run.metrics))
    joined = Milestones(*(np.concatenate([getattr(m, f) for m in parts])
                          for f in ("memorisation", "generalisation", "norm_at_memorisation", "norm_at_generalisation")))
    return points, joined
