"""Ungrokking: a grokked network trained on too small a training set.

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

from goaldrift.experiments import plots
from goaldrift.experiments.grokking import clock
from goaldrift.experiments.grokking import grokking_runs as gr
from goaldrift.engine import parallel, runs
from goaldrift.engine.models import build_model
from goaldrift.experiments.grokking.phases import first_step
from goaldrift.engine.tasks.modular import split_pairs
from goaldrift.engine.train import RunConfig
from goaldrift.theory import cleanup
from goaldrift.tables import markdown_table


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


def continuation_job(state: dict, cfg: RunConfig) -> parallel.Job:
    """``continue_from(state, cfg)`` as a job for ``parallel.run_all``."""
    return parallel.Job(cfg, {"init_state": state})


def timing_grid(lr_low: float, lr_high: float, wd_low: float, wd_high: float) -> list[tuple[float, float]]:
    """The 2x2 (η, λ) grid of the timing members: two learning rates times two decays, η-major."""
    return [(lr, wd) for lr in (lr_low, lr_high) for wd in (wd_low, wd_high)]


def scan_fractions(frac_min: float, frac_max: float, n_fracs: int) -> list[float]:
    """The hysteresis scan's training fractions: ``n_fracs`` evenly spaced, rounded to 4 decimals."""
    return [float(f) for f in np.round(np.linspace(frac_min, frac_max, n_fracs), 4)]


def all_nested(p: int, fracs, big_frac: float, seeds) -> bool:
    """``is_nested_split`` for every seed and every fraction: each smaller set inside the grokked one."""
    return all(is_nested_split(p, f, big_frac, s) for s in seeds for f in fracs)


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


# ---- what the chapter's claims read ------------------------------------------


def start_gap(continuation: runs.Run, base: runs.Run) -> float:
    """Worst relative gap, over the continuation's members, between its sum of squared weights at
    its first evaluation and the grokked run's final one: 0 when every member starts from those weights."""
    start = continuation.metrics["weight_norm_sq"][0]
    return float(np.max(np.abs(start / base.metrics["weight_norm_sq"][-1, 0] - 1)))


def complete_seed_exponents(t_half, grid, seeds) -> clock.SeedExponents:
    """``clock.seed_exponents`` of t_1/2 ``[seed, member]`` (member k at ``grid[k]`` = (η, λ)) over the
    seeds whose every member ungrokked (finite t_1/2): a seed with a missing member would fit its
    slopes on a different design than the others."""
    t_half = np.asarray(t_half, dtype=float)
    complete = np.all(np.isfinite(t_half), axis=1)
    n = int(complete.sum())
    return clock.seed_exponents(t_half[complete].ravel(), np.tile([g[0] for g in grid], n),
                                np.tile([g[1] for g in grid], n), np.repeat(np.array(seeds)[complete], len(grid)))


@dataclass
class TimingRuns:
    """Per seed: the grokked network, its continuation on the small set at every (η, λ) of
    ``grid`` plus the λ = 0 control (one ensemble), and the warm-up control; and the steps
    t_1/2 after the switch until the test accuracy falls below 1/2 (nan: never)."""

    grid: list                 # (η, λ) of the timing members
    base_cfgs: list            # per seed: the grokking run's config
    bases: list                # per seed: the grokked run
    timing: list               # per seed: members grid + [(η, 0)]
    warm: list                 # per seed: the warm-up control at (η, λ)
    base_test_acc: np.ndarray  # [seed] final test accuracy of the grokked network
    t_half: np.ndarray         # [seed, grid]
    t_zero: np.ndarray         # [seed] the λ = 0 control's t_1/2
    t_warm: np.ndarray         # [seed] the warm-up control's t_1/2
    control: tuple = (np.nan, np.nan)  # (η, λ) of the grokking run, the λ = 0 member's η and the warm-up control

    @property
    def seeds(self) -> list:
        return [c.data_seed for c in self.base_cfgs]

    @property
    def eta_lam(self) -> np.ndarray:
        return np.array([lr * wd for lr, wd in self.grid])

    @property
    def zero_min_acc(self) -> np.ndarray:
        """[seed] the λ = 0 control's lowest test accuracy after the switch."""
        return np.array([float(r.metrics["test_acc"][:, len(self.grid)].min()) for r in self.timing])

    @property
    def trained_now(self) -> int:
        """How many of the runs were trained by this call (the rest came from the cache)."""
        return sum(r.trained for r in self.bases + self.timing + self.warm)

    @property
    def start_gap(self) -> float:
        """``start_gap`` of the worst continuation (timing ensembles and warm-up controls) against its grokked run."""
        return max(start_gap(r, b) for r, b in zip(self.timing + self.warm, self.bases + self.bases))

    @property
    def n_complete(self) -> int:
        """Seeds whose every timing member ungrokked within the budget."""
        return int(np.all(np.isfinite(self.t_half), axis=1).sum())

    def grokked(self) -> clock.OverSeeds:
        """Final test accuracy of each grokked network before the switch; measured: the lowest."""
        return clock.OverSeeds(float(self.base_test_acc.min()), np.ravel(self.base_test_acc))

    def ungrokked(self) -> clock.OverSeeds:
        """Per seed: the share of its timing members whose test accuracy fell below 1/2; measured: the
        share over all (seed, member)."""
        fell = np.isfinite(self.t_half)
        return clock.OverSeeds(float(fell.mean()), fell.mean(axis=1))

    def zero_control(self) -> clock.OverSeeds:
        """Per seed: the λ = 0 member's lowest test accuracy after the switch; measured: the lowest."""
        acc = self.zero_min_acc
        return clock.OverSeeds(float(acc.min()), acc)

    def warm_control(self) -> clock.OverSeeds:
        """Per seed: 1 if the warm-up control fell below 1/2 test accuracy, else 0; measured: the share."""
        fell = np.isfinite(self.t_warm).astype(float)
        return clock.OverSeeds(float(fell.mean()), fell)

    def final_accuracies(self, key: str = "test_acc") -> np.ndarray:
        """[seed, grid] ``final_accuracy`` of each timing member at the end of the budget."""
        return np.stack([final_accuracy(r.metrics[key]) for r in self.timing])[:, :len(self.grid)]

    def matched_pairs(self) -> clock.MatchedPairs:
        """ln(t_1/2(2η, λ/2) / t_1/2(η, λ)) per seed for the grid's product-matched pairs; a member that
        did not ungrok within the budget has a t_1/2 known only to exceed it (``clock.censored_bounds``)."""
        cfg = self.timing[0].config
        low, high = clock.censored_bounds(self.t_half, cfg.steps, cfg.eval_every / 2)
        return clock.matched_pair_ratios(self.seeds, self.grid, low, high)

    def time_exponent(self) -> "TimeExponent":
        return time_exponent(self.t_half, self.grid, self.seeds)

    def complete_exponents(self) -> clock.SeedExponents:
        return complete_seed_exponents(self.t_half, self.grid, self.seeds)

    def prose_numbers(self) -> dict:
        """What the prose quotes: the grokked networks' lowest test accuracy, the runs trained now, the
        state at the end of the budget, the controls, and the range of ηλ t_1/2."""
        after, rescaled = self.final_accuracies(), self.eta_lam * self.t_half
        no_warm = self.t_half[:, self.grid.index(tuple(self.control))]
        with np.errstate(invalid="ignore"):
            warm_delay_ratio = float(np.nanmedian(self.t_warm / no_warm))
        any_rescaled = np.isfinite(rescaled).any()
        return dict(
            base_test_acc_min=self.grokked().measured, trained_now=self.trained_now,
            ungrokked_share=self.ungrokked().measured,
            test_acc_after_median=float(np.median(after)), test_acc_after_max=float(after.max()),
            train_acc_after_min=float(self.final_accuracies("train_acc").min()),
            zero_min_acc=self.zero_control().measured, warm_ungrokked_share=self.warm_control().measured,
            warm_delay_ratio=warm_delay_ratio, n_complete=self.n_complete,
            rescaled_min=float(np.nanmin(rescaled)) if any_rescaled else float("nan"),
            rescaled_max=float(np.nanmax(rescaled)) if any_rescaled else float("nan"),
        )

    def t_half_table(self) -> str:
        rows = [[s, *("—" if np.isnan(t) else f"{t:.0f} (ηλt = {t * el:.2f})" for t, el in zip(row, self.eta_lam))]
                for s, row in zip(self.seeds, self.t_half)]
        return ("Steps $t_{1/2}$ after the switch until test accuracy < 0.5 (— : not within the budget)\n\n"
                + markdown_table(["seed", *(f"η={lr:g}, λ={wd:g}" for lr, wd in self.grid)], rows))

    def plot_after_switch(self) -> None:
        """The first seed's test accuracy after the switch at every (η, λ), against steps and against ηλ × steps."""
        fig, (ax1, ax2) = plots.panels(2, height=3.6)
        r = self.timing[0]
        for k, (lr, wd) in enumerate(self.grid):
            label = f"η={lr:g}, λ={wd:g}"
            ax1.plot(r.metrics["step"], r.metrics["test_acc"][:, k], label=label)
            ax2.plot(lr * wd * r.metrics["step"], r.metrics["test_acc"][:, k], label=label)
        for ax in (ax1, ax2):
            ax.axhline(0.5, **plots.PREDICTED)
            ax.set_ylabel("test accuracy")
        ax1.set_xlabel("steps after the switch")
        ax2.set_xlabel("ηλ × steps after the switch")
        ax1.set_title(f"seed {self.seeds[0]}: training on {r.config.task['train_frac']:g} of the pairs")
        ax2.set_title("the same against rescaled time")
        ax1.legend(fontsize=8)
        plots.show(fig)

    def plot_time_law(self, law: "TimeExponent") -> None:
        """t_1/2 against ηλ per seed (log-log), with the fitted power law and a slope −1 line through the median."""
        eta_lam = self.eta_lam
        fig, ax = plots.panels(1, height=3.4)
        for i, s in enumerate(self.seeds):
            ax.loglog(eta_lam, self.t_half[i], "o", label=f"seed {s}")
        xs = np.geomspace(eta_lam.min(), eta_lam.max(), 20)
        if law.fit is not None:
            ax.loglog(xs, law.fit(xs), color="grey", label=f"fit: slope {law.fit.exponent:.2f}")
            anchor = np.nanmedian(eta_lam * self.t_half)
            ax.loglog(xs, anchor / xs, **plots.PREDICTED, label="slope −1 (∝ 1/(ηλ))")
        ax.set_xlabel("ηλ")
        ax.set_ylabel("steps to test acc < 0.5")
        ax.legend(fontsize=8)
        plots.show(fig)


def timing_runs(p: int, grok_frac: float, d_model: int, seeds, lr: float, weight_decay: float, grid,
                grok_steps: int, ungrok_frac: float, ungrok_steps: int, eval_every: int,
                warmup_control_steps: int, grok_warmup_steps: int = 10) -> TimingRuns:
    """Grok each seed's network at (``lr``, ``weight_decay``) on ``grok_frac`` of the pairs, then
    continue it on ``ungrok_frac`` at every (η, λ) in ``grid`` and at (``lr``, 0); and, as the
    control for the optimiser's restart, at (``lr``, ``weight_decay``) with a warm-up of
    ``warmup_control_steps``."""
    grid = [tuple(g) for g in grid]
    members = grid + [(lr, 0.0)]
    base_cfgs = [gr.config(p, grok_frac, d_model, lr, weight_decay, grok_steps, seeds=[s], data_seed=s,
                           warmup_steps=grok_warmup_steps, eval_every=eval_every) for s in seeds]
    bases = gr.run_plain_all(base_cfgs)
    jobs = []  # per seed: the timing grid, then the warm-up control
    for cfg, base in zip(base_cfgs, bases):
        c2 = continuation_config(cfg, ungrok_frac, [g[0] for g in members], [g[1] for g in members], ungrok_steps,
                                 eval_every)
        c_warm = continuation_config(cfg, ungrok_frac, [lr], [weight_decay], ungrok_steps, eval_every,
                                     warmup_steps=warmup_control_steps)
        jobs += [continuation_job(stacked_state(base.model.state_dict(), len(members)), c2),
                 continuation_job(base.model.state_dict(), c_warm)]
    continued = parallel.run_all(jobs)
    timing, warm = continued[0::2], continued[1::2]
    t_all = np.stack([first_step_below(r.metrics["step"], r.metrics["test_acc"], 0.5) for r in timing])
    return TimingRuns(grid=grid, base_cfgs=base_cfgs, bases=bases, timing=timing, warm=warm,
                      base_test_acc=np.array([final_accuracy(b.metrics["test_acc"])[0] for b in bases]),
                      t_half=t_all[:, :len(grid)], t_zero=t_all[:, len(grid)],
                      t_warm=np.array([first_step_below(r.metrics["step"], r.metrics["test_acc"], 0.5)[0]
                                       for r in warm]), control=(lr, weight_decay))


@dataclass(frozen=True)
class TimeExponent:
    """The exponent of t_1/2 against ηλ, with its seed interval; ``fit`` is None (and the
    numbers nan) when too few members ungrokked to fit a slope on every seed."""

    fit: cleanup.PowerLawFit | None
    exponent: float
    ci: tuple[float, float]


def time_exponent(t_half, grid, seeds) -> TimeExponent:
    """``theory.cleanup.fit_power_law`` of t_1/2 ``[seed, member]`` against η λ of ``grid``, one
    slope per seed; nan where it cannot be fitted (a seed with fewer than two finite t_1/2, or
    fewer than two seeds)."""
    eta_lam = np.array([lr * wd for lr, wd in grid])
    try:
        fit = cleanup.fit_power_law(np.tile(eta_lam, len(seeds)), np.asarray(t_half).ravel(),
                                    np.repeat(seeds, len(grid)))
    except ValueError:  # too few members ungrokked to fit a slope per seed
        return TimeExponent(None, float("nan"), (float("nan"), float("nan")))
    return TimeExponent(fit, fit.exponent, (fit.ci_low, fit.ci_high))


@dataclass(frozen=True)
class HysteresisScan:
    """Final test accuracy at each scanned training fraction (arrays over fractions)."""

    scratch: np.ndarray        # trained from scratch for the whole budget (grok + ungrok steps)
    scratch_short: np.ndarray  # the same network read after ungrok_steps only
    grokked: np.ndarray        # the grokked network continued for ungrok_steps
    fracs: list = None         # the scanned training fractions

    def thresholds(self, short: bool = False) -> "Thresholds":
        """Critical fractions from scratch (at the matched budget, or after ungrok_steps only) and kept."""
        return thresholds(self.fracs, self.scratch_short if short else self.scratch, self.grokked)

    @property
    def window(self) -> int:
        """Fractions kept by the grokked network that scratch training does not reach at the matched budget."""
        return hysteresis_window(self.grokked, self.scratch)

    @property
    def window_short(self) -> int:
        return hysteresis_window(self.grokked, self.scratch_short)

    def prose_numbers(self, frac_max: float) -> dict:
        """The thresholds in words (``above frac_max`` where the scan found none) and the two windows."""
        label = lambda v: f"{v:g}" if v is not None else f"above {frac_max:g}"
        full, short = self.thresholds(), self.thresholds(short=True)
        return dict(grok_threshold=label(full.grok), grok_threshold_short=label(short.grok),
                    keep_threshold=label(full.keep), window=self.window, window_short=self.window_short)

    def plot(self) -> None:
        """Final test accuracy against the training fraction, from scratch (both budgets) and from the grokked network."""
        fig, ax = plots.panels(1, height=3.4)
        ax.plot(self.fracs, self.scratch, "o-", label="from scratch, matched total budget")
        ax.plot(self.fracs, self.scratch_short, "^:", label="from scratch, only the steps after the switch")
        ax.plot(self.fracs, self.grokked, "s-", label="from the grokked network (ungrokking)")
        ax.axhline(0.95, **plots.PREDICTED, label="0.95")
        ax.set_xlabel("training fraction of the pairs")
        ax.set_ylabel("final test accuracy")
        ax.legend(fontsize=8)
        plots.show(fig)


def hysteresis_scan(base_cfg: RunConfig, seed: int, grokked_state: dict, fracs, lr: float, weight_decay: float,
                    grok_steps: int, ungrok_steps: int, eval_every: int) -> HysteresisScan:
    """At each training fraction, one ensemble of two members: a fresh network and the grokked one.
    Both run grok_steps + ungrok_steps, so the scratch member's budget matches the grokked network's
    whole history; the grokked member is read at ungrok_steps after the switch."""
    cfgs = [continuation_config(base_cfg, f, [lr] * 2, [weight_decay] * 2, grok_steps + ungrok_steps, eval_every)
            for f in fracs]
    scratch, scratch_short, grokked = [], [], []
    jobs = [continuation_job(concat_states(fresh_state(cfg, seed), grokked_state), cfg) for cfg in cfgs]
    for r in parallel.run_all(jobs):
        m = r.metrics
        upto = m["step"] <= ungrok_steps
        scratch.append(final_accuracy(m["test_acc"][:, 0:1])[0])
        scratch_short.append(final_accuracy(m["test_acc"][upto, 0:1])[0])
        grokked.append(final_accuracy(m["test_acc"][upto, 1:2])[0])
    return HysteresisScan(np.array(scratch), np.array(scratch_short), np.array(grokked), list(fracs))


def hysteresis_window(grokked_acc, scratch_acc, level: float = 0.95) -> int:
    """Number of scanned fractions where the grokked network stays generalised (accuracy >= level)
    but the scratch network does not reach it."""
    return int(np.sum((np.asarray(grokked_acc) >= level) & (np.asarray(scratch_acc) < level)))


@dataclass(frozen=True)
class RescaledSwitch:
    """Weights multiplied by each of several factors at a switch step, then trained on together."""

    train_acc_at_switch: float
    generalisation: np.ndarray  # step after the switch where each rescaled copy generalises (nan: never)
    after: runs.Run             # the continuation, member k rescaled by scales[k]


def rescaled_switches(p: int, train_frac: float, d_model: int, lr: float, weight_decay: float, seeds,
                      switch_step: int, after_steps: int, scales, warmup_steps: int, eval_every: int,
                      after_eval_every: int, step_matched: bool = False) -> list[RescaledSwitch]:
    """Per seed: train one network to ``switch_step``, multiply every weight by each of ``scales``
    and continue all copies in one ensemble (same data and seed; no second warm-up). The copies
    share η and λ, or, with ``step_matched``, the copy scaled by c runs at η c and λ / c: Adam's step
    is about η per coordinate whatever the weights' size, so at a common η a larger copy takes
    relatively smaller steps; η c keeps the step relative to the weights, and λ / c keeps ηλ, the
    decay rate. The seeds' runs are trained side by side, stage by stage."""
    befores = gr.run_plain_all([gr.config(p, train_frac, d_model, [lr], [weight_decay], switch_step, seeds=[s],
                                          data_seed=s, warmup_steps=warmup_steps,
                                          eval_every=min(eval_every, switch_step)) for s in seeds])
    n = len(scales)
    lrs = [lr * c for c in scales] if step_matched else [lr] * n
    wds = [weight_decay / c for c in scales] if step_matched else [weight_decay] * n
    jobs = [continuation_job(concat_states(*(clock.rescaled(before.model.state_dict(), c) for c in scales)),
                             gr.config(p, train_frac, d_model, lrs, wds, after_steps,
                                       seeds=[s] * n, data_seed=s, warmup_steps=0, eval_every=after_eval_every))
            for s, before in zip(seeds, befores)]
    return [RescaledSwitch(float(before.metrics["train_acc"][-1, 0]), gr.milestones(after.metrics).generalisation, after)
            for before, after in zip(befores, parallel.run_all(jobs))]


def rescaled_switch(p: int, train_frac: float, d_model: int, lr: float, weight_decay: float, seed: int,
                    switch_step: int, after_steps: int, scales, warmup_steps: int, eval_every: int,
                    after_eval_every: int) -> RescaledSwitch:
    """``rescaled_switches`` for one seed."""
    return rescaled_switches(p, train_frac, d_model, lr, weight_decay, [seed], switch_step, after_steps, scales,
                             warmup_steps, eval_every, after_eval_every)[0]
