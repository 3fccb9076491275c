"""Grokking replicated: one snapshotted run per seed, its float64 progress measures and phases,
what the claims about the three phases read off them, and the same seeds rerun at other lambda.

Every reduction over seeds is here, each with the rule it uses: a seed whose phases are
missing counts against a claim (``phases.worst_over_seeds``) instead of dropping out, and a
seed whose run did not generalise within its budget has no slope (``clock.exponent_by_seed``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from goaldrift.experiments import plots
from goaldrift.experiments.grokking import clock
from goaldrift.experiments.grokking import grokking_measures as gm
from goaldrift.experiments.grokking import grokking_runs as gr
from goaldrift.experiments.grokking import phases as ph
from goaldrift.tables import markdown_table


@dataclass(frozen=True)
class Setting:
    """The task, model and optimiser of the replication (the published trainer's warm-up rule)."""

    p: int
    train_frac: float
    d_model: int
    learning_rate: float
    weight_decay: float
    steps: int
    warmup_steps: int
    eval_every: int

    def config(self, seed: int, weight_decay: float | None = None, steps: int | None = None):
        """One seed's run (the seed sets both the split and the init), at another lambda and budget if given."""
        return gr.config(self.p, self.train_frac, self.d_model, self.learning_rate,
                         self.weight_decay if weight_decay is None else weight_decay,
                         self.steps if steps is None else steps, seeds=[seed], data_seed=seed,
                         warmup_steps=self.warmup_steps, eval_every=self.eval_every, warmup_rule="published")

    @property
    def n_train(self) -> int:
        """Training examples: the fraction of the p² pairs."""
        return int(self.train_frac * self.p * self.p)


def curve_phases(metrics: dict, member: int = 0) -> ph.Phases:
    """``phases.detect_phases`` of one member of a run's recorded curves (train accuracy, test loss and accuracy)."""
    return ph.detect_phases(metrics["step"], metrics["train_acc"][:, member], metrics["test_loss"][:, member],
                            metrics["test_acc"][:, member])


@dataclass(frozen=True)
class CleanupSharpness:
    """Per seed: rate during circuit formation / rate during cleanup, for ln(sum of squared weights)
    (expected to fall in cleanup) and the Gini coefficients of W_E and W_L (expected to rise);
    nan for a seed without the phases or where the quantity moved the wrong way in cleanup."""

    seeds: list
    norm: list
    gini_embed: list
    gini_unembed: list

    @property
    def norm_worst(self) -> float:
        """The largest norm ratio over seeds (nan if any seed's is undefined)."""
        return ph.worst_over_seeds(self.norm)

    @property
    def gini_worst(self) -> float:
        """The largest Gini ratio over seeds and both matrices (nan if any is undefined)."""
        return ph.worst_over_seeds(self.gini_embed + self.gini_unembed)

    @property
    def gini_samples(self) -> np.ndarray:
        """[seeds, 2]: the two Gini ratios per seed, members of one worst-of rule."""
        return np.column_stack([self.gini_embed, self.gini_unembed])

    @property
    def norm_best(self) -> float:
        """The smallest finite norm ratio (nan if none is finite)."""
        return float(np.nanmin(self.norm)) if np.isfinite(self.norm).any() else float("nan")

    def table(self) -> str:
        return ("Rate during circuit formation / rate during cleanup, per seed:\n\n"
                + markdown_table(["seed", "norm", "Gini of $W_E$", "Gini of $W_L$"],
                                 [[s, *(f"{r:.2f}" for r in row)]
                                  for s, *row in zip(self.seeds, self.norm, self.gini_embed, self.gini_unembed)]))


@dataclass
class Replication:
    """The snapshotted runs of every seed at the chapter's setting, their float64 progress
    measures (``grokking_measures.ProgressMeasures``) and phases (from those float64 curves)."""

    setting: Setting
    seeds: list
    runs: list
    measures: list
    phases: list

    @property
    def main(self) -> gm.ProgressMeasures:
        """The first seed's measures (the one the figures show)."""
        return self.measures[0]

    @property
    def trained_now(self) -> int:
        return sum(r.trained for r in self.runs)

    @property
    def loss_gap(self) -> float:
        """Worst relative gap, over seeds, between the float64 train loss and the trainer's record."""
        return max(gm.relative_gap(m.train_loss[:, 0], r.metrics["train_loss"][:, 0])
                   for m, r in zip(self.measures, self.runs))

    @property
    def decomposition_error(self) -> float:
        """Worst error of restricted + excluded = logits + constant part, over seeds."""
        return max(m.decomposition_error for m in self.measures)

    def generalisation_delays(self) -> clock.OverSeeds:
        """Step of test acc >= 0.95 over step of train acc >= 0.99, per seed; measured: the smallest.

        A seed that memorised but did not generalise within the budget enters with its lower
        bound, the last step over the memorisation step (``phases.generalisation_delay``): for
        the claim "the delay is at least 3x" that can only pull the estimate toward the line.
        """
        delays = [ph.generalisation_delay(q, float(m.steps[-1])) for q, m in zip(self.phases, self.measures)]
        return clock.OverSeeds(ph.worst_over_seeds(delays, min), delays)

    @property
    def censored_seeds(self) -> list:
        """The seeds that memorised but did not generalise within the budget."""
        return [s for s, q in zip(self.seeds, self.phases) if ph.delay_is_censored(q)]

    def circuit_formation(self) -> list[ph.CircuitFormationChange]:
        """Per seed: how the excluded loss and the test loss changed over circuit formation."""
        return [ph.circuit_formation_change(m.steps, m.excluded_loss[:, 0], m.test_loss[:, 0], q)
                for m, q in zip(self.measures, self.phases)]

    def circuit_formation_margins(self) -> clock.OverSeeds:
        """Per seed min(excluded ratio - 1, 1 - test ratio); measured: the smallest."""
        margins = [c.margin for c in self.circuit_formation()]
        return clock.OverSeeds(ph.worst_over_seeds(margins, min), margins)

    def cleanup_sharpness(self) -> CleanupSharpness:
        mq = list(zip(self.measures, self.phases))
        return CleanupSharpness(
            list(self.seeds),
            [ph.cleanup_sharpness(m.steps, np.log(m.sum_sq["total"][:, 0]), q, -1) for m, q in mq],
            [ph.cleanup_sharpness(m.steps, m.gini_embed[:, 0], q, +1) for m, q in mq],
            [ph.cleanup_sharpness(m.steps, m.gini_unembed[:, 0], q, +1) for m, q in mq])

    def phase_table(self) -> str:
        return ph.phase_table(self.seeds, [m.key_freqs[0] for m in self.measures], self.phases)

    def published_comparison(self) -> ph.PublishedComparison:
        s = self.setting
        return ph.published_comparison(self.seeds, self.phases, s.eval_every, p=s.p, train_frac=s.train_frac,
                                       d_model=s.d_model, learning_rate=s.learning_rate, weight_decay=s.weight_decay)

    def prose_numbers(self) -> dict:
        """The numbers the prose quotes about the first seed (and how many runs were trained now)."""
        main, q = self.main, self.phases[0]
        change = self.circuit_formation()[0]
        total = main.sum_sq["total"][:, 0]
        return dict(
            trained_now=self.trained_now,
            key_freqs_main=", ".join(map(str, main.key_freqs[0])) or "none",
            excluded_ratio_main=change.excluded_ratio,
            test_ratio_main=change.test_ratio,
            norm_ratio_best=self.cleanup_sharpness().norm_best,
            norm_mem_end=float(np.sqrt(total[np.searchsorted(main.steps, q.memorisation_end or 0)])),
            norm_final=float(np.sqrt(total[-1])),
            gini_embed_final=float(main.gini_embed[-1, 0]),
            gini_embed_start=float(main.gini_embed[0, 0]),
        )

    def lambda_scan(self, other_budgets: dict) -> "ClockInLambda":
        """The same seeds at other lambda (``{lambda: step budget}``), eta fixed; the runs at the
        setting's lambda are this replication's."""
        s = self.setting
        budgets = {s.weight_decay: s.steps, **other_budgets}
        cfgs = {(lam, seed): s.config(seed, lam, budget)
                for lam, budget in budgets.items() if lam != s.weight_decay for seed in self.seeds}
        trained = dict(zip(cfgs, gr.run_with_snapshots_all(list(cfgs.values()))))
        by_lambda = {lam: self.runs if lam == s.weight_decay else [trained[lam, seed] for seed in self.seeds]
                     for lam in budgets}
        scan = clock.lambda_scan({lam: [gr.milestones(r.metrics) for r in rs] for lam, rs in by_lambda.items()},
                                 budgets)
        return ClockInLambda(s.learning_rate, list(self.seeds), scan, by_lambda,
                             {lam: [curve_phases(r.metrics) for r in rs] for lam, rs in by_lambda.items()},
                             sum(r.trained for lam, rs in by_lambda.items() if lam != s.weight_decay for r in rs))


def replicate(setting: Setting, seeds, key_share_factor: float) -> Replication:
    """Train (or load) one snapshotted run per seed, side by side, and measure it in float64: key
    frequencies by ``key_share_factor``, phases by the rule of ``phases`` on the float64 curves."""
    seeds = list(seeds)
    cfgs = [setting.config(s) for s in seeds]
    runs = gr.run_with_snapshots_all(cfgs)
    measures = [gm.progress_measures(run, gr.data_for(cfg), share_factor=key_share_factor)
                for cfg, run in zip(cfgs, runs)]
    phases = [ph.detect_phases(m.steps, m.train_acc[:, 0], m.test_loss[:, 0], m.test_acc[:, 0]) for m in measures]
    return Replication(setting, seeds, runs, measures, phases)


@dataclass
class ClockInLambda:
    """The clock at fixed eta: the same seeds trained at several lambda (``clock.LambdaScan``,
    arrays [seeds, lambdas], lambdas ascending), each run's phases, and the runs themselves."""

    learning_rate: float
    seeds: list
    scan: clock.LambdaScan
    runs: dict        # lambda -> one run per seed
    phases: dict      # lambda -> one ``phases.Phases`` per seed (from the recorded curves)
    trained_now: int  # runs at the other lambda trained by this call

    @property
    def clock_units(self) -> np.ndarray:
        """eta * lambda * delay, [seeds, lambdas]: the clock predicts the same number at every lambda."""
        return self.learning_rate * self.scan.lambdas * self.scan.delay

    @property
    def exponents(self) -> np.ndarray:
        """Per seed: the slope of ln(delay) in ln(lambda); nan for a seed with a run that did not generalise."""
        return self.scan.exponents()

    @property
    def exponent_mean(self) -> float:
        """Mean slope over the seeds that have one (nan if none has)."""
        e = self.exponents
        with_slope = np.isfinite(e)
        return float(np.mean(e[with_slope])) if with_slope.any() else float("nan")

    def table(self) -> str:
        scan, units, fmt = self.scan, self.clock_units, ph.step_text
        rows = [[f"{lam:g}", s, f"{budget:.0f}", fmt(scan.memorisation[i, j]), fmt(scan.generalisation[i, j]),
                 fmt(self.phases[lam][i].cleanup_end), fmt(units[i, j], ".3g"),
                 fmt(scan.norm_at_generalisation[i, j], ".3g")]
                for j, (lam, budget) in enumerate(zip(scan.lambdas, scan.budgets)) for i, s in enumerate(self.seeds)]
        return markdown_table(["λ", "seed", "budget", "memorisation ends", "test acc ≥ 0.95", "cleanup ends",
                               "ηλ × delay", "norm at test acc ≥ 0.95"], rows)

    def prose_numbers(self) -> dict:
        """How many runs generalised (within their budget, within its first four fifths), the range of the
        delay in units of decay and of the norm at generalisation, and the slopes per seed."""
        scan, units, e = self.scan, self.clock_units, self.exponents
        finite = np.isfinite(units)
        nan = float("nan")
        return dict(
            trained_now_scan=self.trained_now,
            scan_runs_total=int(scan.generalisation.size),
            scan_generalised=int(np.isfinite(scan.generalisation).sum()),
            scan_within_budget=int(round(scan.share_within(0.8) * scan.generalisation.size)),
            clock_units_min=float(np.min(units[finite])) if finite.any() else nan,
            clock_units_max=float(np.max(units[finite])) if finite.any() else nan,
            norm_gen_min=float(np.nanmin(scan.norm_at_generalisation)) if finite.any() else nan,
            norm_gen_max=float(np.nanmax(scan.norm_at_generalisation)) if finite.any() else nan,
            scan_exponents_by_seed=", ".join(ph.step_text(v, ".3g") for v in e),
            scan_seeds_with_slope=int(np.isfinite(e).sum()),
        )


# ---- figures -------------------------------------------------------------------------


def _shaded(ax, rep: Replication, log: bool = True) -> None:
    T = rep.main.steps
    ph.shade(ax, rep.phases[0], T[-1])
    if log:
        ax.set_xscale("log")
    ax.set_xlim(max(T[1], 1), T[-1])


def plot_losses_and_accuracy(rep: Replication) -> None:
    """The first seed's float64 losses (train, test, restricted, excluded) and accuracies, phases shaded."""
    main, x = rep.main, np.maximum(rep.main.steps, 1)
    fig, (ax1, ax2) = plots.panels(2, height=3.6)
    _shaded(ax1, rep)
    ax1.loglog(x, main.train_loss[:, 0], label="train")
    ax1.loglog(x, main.test_loss[:, 0], label="test")
    ax1.loglog(x, main.restricted_loss[:, 0], label="restricted (test)")
    ax1.loglog(x, main.excluded_loss[:, 0], label="excluded (train)")
    ax1.set(xlabel="step", ylabel="cross-entropy (float64)", title=f"seed {rep.seeds[0]}: losses")
    ax1.legend(fontsize=7, loc="lower left")
    _shaded(ax2, rep)
    ax2.plot(x, main.train_acc[:, 0], label="train")
    ax2.plot(x, main.test_acc[:, 0], label="test")
    ax2.set(xlabel="step", ylabel="accuracy", title="accuracy")
    ax2.legend(fontsize=7, loc="center left")
    plots.show(fig)


def plot_norm_and_sparsity(rep: Replication) -> None:
    """The first seed's sum of squared weights by component, and the Gini coefficients of W_E and W_L."""
    main, x = rep.main, np.maximum(rep.main.steps, 1)
    fig, (ax1, ax2) = plots.panels(2, height=3.6)
    _shaded(ax1, rep)
    for comp in ("total", *gm.COMPONENTS):
        ax1.plot(x, main.sum_sq[comp][:, 0], label=comp, lw=2 if comp == "total" else 1)
    ax1.set_yscale("log")
    ax1.set(xlabel="step", ylabel="sum of squared weights", title="weight norm by component")
    ax1.legend(fontsize=7)
    _shaded(ax2, rep)
    ax2.plot(x, main.gini_embed[:, 0], label="Gini of $W_E$ Fourier norms")
    ax2.plot(x, main.gini_unembed[:, 0], label="Gini of $W_L$ Fourier norms")
    ax2.set(xlabel="step", ylabel="Gini coefficient", title="sparsity in the Fourier basis")
    ax2.legend(fontsize=7)
    plots.show(fig)


def plot_lambda_scan(scan: ClockInLambda) -> None:
    """Test accuracy of every seed (line style) at each lambda (colour), on a log step axis."""
    fig, ax = plots.panels(1, height=3.4)
    for j, lam in enumerate(scan.scan.lambdas):
        for i, r in enumerate(scan.runs[lam]):
            ax.plot(np.maximum(r.metrics["step"], 1), r.metrics["test_acc"][:, 0], color=f"C{j}",
                    ls=("-", "--", ":")[i % 3], label=f"λ = {lam:g}" if i == 0 else None)
    ax.set_xscale("log")
    ax.set(xlabel="step", ylabel="test accuracy", title=f"the same seeds at three λ (η = {scan.learning_rate:g})")
    ax.legend()
    plots.show(fig)
