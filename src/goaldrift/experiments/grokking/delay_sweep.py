"""The delay to generalise across a grid of (eta, lambda), read as one row per (seed, member):
the budget rule, the lambda = 0 controls, the exponents, the collapse against eta*lambda*t, the
norm against pure decay and the two laws' fits; and the weight-rescaling intervention.

The sweep itself (its grid, seeds and ensemble configurations) is
``grokking_runs.cleanup_sweep``; the statistics per seed are ``clock``'s. Every selection
rule is a property here: ``decayed`` (lambda > 0) and ``checked`` (decayed, with a finite
positive delay: the runs the fits use).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from goaldrift.experiments import plots
from goaldrift.experiments.grokking import clock
from goaldrift.experiments.grokking import grokking_runs as gr
from goaldrift.experiments.grokking import ungrokking as ug
from goaldrift.experiments.grokking.phases import step_text
from goaldrift.tables import markdown_table


def design_numbers(grid, steps: int, lr_low: float, wd_min: float, lr_slow: float, slow_steps: int) -> dict:
    """What the prose says of the design: members per seed (with decay), learning rates, the span of
    eta*lambda (in decades), and the units of decay the slowest member of each ensemble sees."""
    decayed = [lr * wd for lr, wd in grid if wd > 0]
    return dict(n_members=len(grid), n_decayed_members=len(decayed), n_lr=len({lr for lr, _ in grid}),
                etalam_min=min(decayed), etalam_max=max(decayed),
                etalam_decades=float(np.log10(max(decayed) / min(decayed))),
                budget_decay=steps * lr_low * wd_min, budget_decay_slow=slow_steps * lr_slow * wd_min)


def delay_bounds(memorisation, generalisation, budget, eval_every: int) -> tuple[np.ndarray, np.ndarray]:
    """Per run, the interval the delay is known to lie in: the measured delay where both milestones were
    reached (floored at half an evaluation interval, since both are read on the same evaluation grid);
    [budget - t_mem, inf) where the run memorised but did not generalise within its budget (right-censored,
    ``clock.censored_bounds``); (0, inf) where it never memorised (nothing is known)."""
    t_mem = np.asarray(memorisation, dtype=float)
    low, high = clock.censored_bounds(np.asarray(generalisation, dtype=float) - t_mem,
                                      np.asarray(budget, dtype=float) - t_mem, eval_every / 2)
    unknown = ~np.isfinite(t_mem)
    return np.where(unknown, 0.0, low), np.where(unknown, np.inf, high)


def third_eta_text(lr_slow: float, slow_steps: int) -> str:
    """The clause of the design that describes the third eta's ensemble (empty without one)."""
    if not lr_slow > 0:
        return ""
    return (f"; and, as a second ensemble per seed with a budget of its own, {slow_steps} steps, a third "
            f"and smaller η = {lr_slow:g} with the same λ values and a λ = 0 control of its own (a smaller η needs "
            "proportionally more steps for the same decay, and giving them to the whole grid would multiply the cost)")


@dataclass
class DelaySweep:
    """Every (seed, member) of the sweep: its point (seed, eta, lambda, budget) and milestones.
    ``runs[i]`` is seed ``seeds[i]``'s joined ensemble, member k at ``grid[k]``."""

    grid: list
    seeds: list
    runs: list
    points: list
    milestones: gr.Milestones

    @property
    def eta(self) -> np.ndarray:
        return np.array([q.lr for q in self.points])

    @property
    def lam(self) -> np.ndarray:
        return np.array([q.weight_decay for q in self.points])

    @property
    def seed_of(self) -> np.ndarray:
        return np.array([q.seed for q in self.points])

    @property
    def budget(self) -> np.ndarray:
        return np.array([q.budget for q in self.points])

    @property
    def decayed(self) -> np.ndarray:
        return self.lam != 0

    @property
    def checked(self) -> np.ndarray:
        """Decayed members with a finite positive delay: the runs the fits and the norm check use."""
        d = self.milestones.delay
        return self.decayed & np.isfinite(d) & (d > 0)

    @property
    def trained_now(self) -> int:
        return sum(r.trained for r in self.runs)

    def table(self) -> str:
        ms, fmt = self.milestones, step_text
        return markdown_table(
            ["seed", "η", "λ", "ηλ", "budget", "t_mem", "t_gen", "delay", "N_mem", "N_gen"],
            [[q.seed, f"{q.lr:g}", f"{q.weight_decay:.3g}", f"{q.lr * q.weight_decay:.2e}", q.budget,
              fmt(ms.memorisation[i]), fmt(ms.generalisation[i]), fmt(ms.delay[i]),
              f"{ms.norm_at_memorisation[i]:.3g}", f"{ms.norm_at_generalisation[i]:.3g}"]
             for i, q in enumerate(self.points)])

    # ---- the budget rule and the controls

    @property
    def share_in_time(self) -> float:
        """Share of the decayed members that generalised within the first 80% of their budget."""
        d = self.decayed
        return clock.share_generalised_by(self.milestones.generalisation[d], 0.8 * self.budget[d])

    @property
    def n_late(self) -> int:
        return int(round((1 - self.share_in_time) * self.decayed.sum()))

    def zero_controls(self) -> clock.OverSeeds:
        """Per seed: the highest test accuracy any lambda = 0 control reached within its budget; measured:
        the highest over seeds."""
        cols = [k for k, g in enumerate(self.grid) if g[1] == 0]
        best = [float(np.nanmax(r.metrics["test_acc"][:, cols])) for r in self.runs]  # nan: after a budget
        return clock.OverSeeds(max(best), best)

    # ---- the exponents, the collapse, the norm and the two laws

    def exponents(self) -> clock.SeedExponents:
        return clock.seed_exponents(self.milestones.delay, self.eta, self.lam, self.seed_of)

    def collapse_numbers(self) -> dict:
        """Spread of ln t_gen against spread of ln(eta*lambda*t_gen) over the decayed members that
        generalised (nan with fewer than two), and the median eta*lambda*t_gen."""
        g = self.milestones.generalisation
        gen = self.decayed & np.isfinite(g)
        rescaled = self.eta * self.lam * g
        nan = float("nan")
        return dict(spread_steps=float(np.std(np.log(g[gen]))) if gen.sum() > 1 else nan,
                    spread_rescaled=float(np.std(np.log(rescaled[gen]))) if gen.sum() > 1 else nan,
                    etalam_tgen_median=float(np.median(rescaled[gen])) if gen.any() else nan)

    def norm_decay(self) -> clock.NormDecayCheck:
        ms = self.milestones
        return clock.norm_decay_check(ms.delay, self.eta, self.lam, ms.norm_at_memorisation,
                                      ms.norm_at_generalisation, self.checked, self.seed_of)

    def norm_numbers(self) -> dict:
        """Medians over the checked runs of the measured and the pure-decay norm ratios, of
        ln(N_mem/N_gen), and of eta*lambda*delay (nan: no run checked)."""
        ok, check = self.checked, self.norm_decay()
        if not ok.any():
            return dict.fromkeys(("median_measured_norm_ratio", "median_predicted_norm_ratio",
                                  "median_log_norm_ratio", "median_etalam_delay"), float("nan"))
        return dict(median_measured_norm_ratio=float(np.median(check.measured[ok])),
                    median_predicted_norm_ratio=float(np.median(check.predicted[ok])),
                    median_log_norm_ratio=float(np.median(-np.log(check.measured[ok]))),
                    median_etalam_delay=float(np.median((self.eta * self.lam * self.milestones.delay)[ok])))

    def matched_pairs(self, eval_every: int) -> clock.MatchedPairs:
        """The log delay ratio of every product-matched pair (``matched_pairs``), seed by seed, censored
        delays entering as intervals (``delay_bounds``)."""
        ms = self.milestones
        low, high = delay_bounds(ms.memorisation, ms.generalisation, self.budget, eval_every)
        K = len(self.grid)
        return clock.matched_pair_ratios(self.seeds, self.grid, low.reshape(-1, K), high.reshape(-1, K))

    def law_fits(self) -> clock.LawFits:
        ms = self.milestones
        return clock.law_fits_by_seed(self.runs, self.seeds, self.grid, self.checked, self.seed_of,
                                      ms.memorisation, ms.delay, self.eta, self.lam)

    # ---- figures

    def plot_delays(self) -> None:
        """Delay against eta*lambda (log-log), one marker per eta, with a 1/(eta*lambda) line through the runs."""
        eta, lam, delay, ok = self.eta, self.lam, self.milestones.delay, self.checked
        fig, ax = plots.panels(1, height=3.6)
        for lr, marker in zip(sorted({lr for lr, _ in self.grid}), "^os"):
            sel = ok & (eta == lr)
            ax.loglog((eta * lam)[sel], delay[sel], marker, ls="none", alpha=0.8, label=f"$\\eta$ = {lr:g}")
        if ok.any():
            xs = np.geomspace((eta * lam)[ok].min() / 1.2, (eta * lam)[ok].max() * 1.2, 50)
            ref = np.exp(np.mean(np.log(delay[ok] * (eta * lam)[ok])))
            ax.loglog(xs, ref / xs, **plots.PREDICTED, label="$\\propto 1/(\\eta\\lambda)$")
        ax.set(xlabel="$\\eta\\lambda$", ylabel="delay $t_{gen} - t_{mem}$ (steps)", title="delay against the decay rate")
        ax.legend(fontsize=8)
        plots.show(fig)

    def plot_collapse(self, rescaled_max: float) -> None:
        """The first seed's test accuracy against steps and against eta*lambda*t (up to ``rescaled_max``)."""
        first = self.runs[0].metrics
        t_axis = first["step"]
        fig, (ax1, ax2) = plots.panels(2, height=3.6)
        for k, (lr, wd) in enumerate(self.grid):
            if wd == 0:
                ax1.plot(t_axis, first["test_acc"][:, k], color="gray", ls=":", label="λ = 0")
                continue
            label = f"η = {lr:g}, λ = {wd:.3g}"
            ax1.plot(t_axis, first["test_acc"][:, k], label=label)
            ax2.plot(lr * wd * t_axis, first["test_acc"][:, k], label=label)
        ax1.set(xlabel="step $t$", ylabel="test accuracy", title="against steps")
        ax2.set(xlabel="rescaled time $\\eta\\lambda t$", ylabel="test accuracy", title="against $\\eta\\lambda t$")
        ax2.set_xlim(0, rescaled_max)
        ax1.legend(fontsize=6)
        plots.show(fig)

    def plot_norms(self, rescaled_max: float) -> None:
        """The norm ratio at generalisation against pure decay, and the first seed's norm trajectories
        from memorisation against eta*lambda*(t - t_mem) (up to ``rescaled_max``)."""
        eta, lam, ms, ok = self.eta, self.lam, self.milestones, self.checked
        measured = self.norm_decay().measured
        fig, (ax1, ax2) = plots.panels(2, height=3.6)
        lim = max(float(np.nanmax(eta * lam * ms.delay)) * 1.1, 0.1) if ok.any() else 1.0
        xs = np.linspace(0, lim, 100)
        ax1.plot(xs, np.exp(-xs), **plots.PREDICTED, label="pure decay $e^{-\\eta\\lambda(t-t_{mem})}$")
        ax1.plot((eta * lam * ms.delay)[ok], measured[ok], "o", label="measured at $t_{gen}$")
        ax1.set(xlabel="$\\eta\\lambda\\,(t_{gen}-t_{mem})$", ylabel="$N_{gen}/N_{mem}$", title="norm at generalisation")
        ax1.legend(fontsize=7)
        first = self.runs[0].metrics
        t_axis, norm = first["step"], np.sqrt(first["weight_norm_sq"])
        for k, (lr, wd) in enumerate(self.grid):
            i = np.searchsorted(t_axis, ms.memorisation[k]) if np.isfinite(ms.memorisation[k]) else 0
            if wd > 0:
                ax2.plot(lr * wd * (t_axis[i:] - t_axis[i]), norm[i:, k] / norm[i, k], label=f"η = {lr:g}, λ = {wd:.3g}")
        xs2 = np.linspace(0, rescaled_max, 100)
        ax2.plot(xs2, np.exp(-xs2), **plots.PREDICTED)
        ax2.set_yscale("log")
        ax2.set_xlim(0, xs2[-1])
        ax2.set_ylim(np.exp(-xs2[-1]) if xs2[-1] < 4 else 1e-2, 1.5)
        ax2.set(xlabel="$\\eta\\lambda\\,(t-t_{mem})$", ylabel="$N(t)/N_{mem}$", title="norm trajectories (first seed)")
        ax2.legend(fontsize=6)
        plots.show(fig)


def delay_sweep(grid, seeds, configs) -> DelaySweep:
    """Train (or load) the sweep's ensembles, join them per seed and read every member's milestones."""
    runs = gr.sweep_runs(configs, seeds)
    points, ms = gr.sweep_milestones(runs, grid, seeds)
    return DelaySweep(list(grid), list(seeds), runs, points, ms)


def exponent_table(ex: clock.SeedExponents) -> str:
    """Per seed: the exponent in eta*lambda, in lambda, in eta, and lambda minus eta."""
    return markdown_table(["seed", "in ηλ", "in λ", "in η", "λ − η"],
                          [[s, f"{a:.3g}", f"{b:.3g}", f"{c:.3g}", f"{d:.3g}"]
                           for s, a, b, c, d in zip(ex.seeds, ex.eta_lambda, ex.in_lambda, ex.in_eta, ex.difference)])


def law_fit_table(seeds, fits: clock.LawFits) -> str:
    return markdown_table(["seed", "RMS clock", "RMS critical norm", "N_c"],
                          [[s, f"{a:.3f}", f"{b:.3f}", f"{c:.3g}"]
                           for s, a, b, c in zip(seeds, fits.clock, fits.critical_norm, fits.critical_norms)])


# ---- the rescaling intervention -------------------------------------------------------


@dataclass(frozen=True)
class Intervention:
    """Per seed: one network trained to the switch, then its weights multiplied by each of ``scales``
    (``scales[0]`` = 1, the control) and trained on together."""

    seeds: list
    scales: tuple
    train_at_switch: list          # per seed: train accuracy at the switch
    generalisation: np.ndarray     # [seed, scale] steps after the switch to test acc >= 0.95 (nan: never)

    def memorised(self) -> clock.OverSeeds:
        """Train accuracy at the switch per seed; measured: the lowest."""
        return clock.OverSeeds(min(self.train_at_switch), list(self.train_at_switch))

    def shift(self, c: float) -> np.ndarray:
        """Per seed: the generalisation step of the copy rescaled by c minus the control's."""
        return self.generalisation[:, self.scales.index(c)] - self.generalisation[:, 0]

    def undefined_pairs(self, c: float) -> list:
        """The seeds whose shift for scale c is undefined: the copy or the control never
        generalised within the budget (a censored pair; its mean over seeds is then NaN)."""
        return [s for s, d in zip(self.seeds, self.shift(c)) if np.isnan(d)]

    def move_numbers(self, c: float) -> dict:
        """Over the seeds whose shift for scale c is defined: the median size of the shift, and the share
        of them that moved in the direction the critical norm predicts (the sign of ln c); nan if none."""
        d = self.shift(c)
        d = d[np.isfinite(d)]
        if not d.size:
            return {"median_abs_shift": float("nan"), "share_critical_sign": float("nan")}
        return {"median_abs_shift": float(np.median(np.abs(d))),
                "share_critical_sign": float(np.mean(np.sign(d) == np.sign(np.log(c))))}

    def within(self, c: float, tolerance: float) -> np.ndarray:
        """Per seed, 1.0 where the shift for scale c is known to lie within +-tolerance, else 0.0.

        A pair with a member that never generalised in the budget is censored: it has only a
        one-sided bound (the copy censored: shift > budget - t_control; the control censored:
        shift < t_copy - budget), which never places it inside a band, so it counts as 0 (either
        it lies outside, or the budget cannot tell): censoring never helps the prediction."""
        t1, tc = self.generalisation[:, 0], self.generalisation[:, self.scales.index(c)]
        known = np.isfinite(t1) & np.isfinite(tc)
        return np.where(known, np.abs(np.where(known, tc - t1, 0.0)) <= tolerance, False).astype(float)

    def table(self) -> str:
        return ("Generalisation step after the switch\n\n"
                + markdown_table(["seed", *(f"t_gen (c={c:g})" if c == 1 else f"c={c:g}" for c in self.scales)],
                                 [[s, *map(step_text, row)] for s, row in zip(self.seeds, self.generalisation)]))


def rescaling_intervention(p: int, train_frac: float, d_model: int, lr: float, weight_decay: float, seeds,
                           switch_step: int, after_steps: int, scales, warmup_steps: int, eval_every: int,
                           after_eval_every: int, step_matched: bool = False) -> Intervention:
    """``ungrokking.rescaled_switches`` read per seed; ``scales`` must start with the control, 1."""
    scales = tuple(scales)
    if scales[0] != 1:
        raise ValueError("the first scale is the control and must be 1")
    switched = ug.rescaled_switches(p, train_frac, d_model, lr, weight_decay, seeds, switch_step, after_steps, scales,
                                    warmup_steps, eval_every, after_eval_every,
                                    step_matched=step_matched)
    return Intervention(list(seeds), scales, [r.train_acc_at_switch for r in switched],
                        np.array([r.generalisation for r in switched]))
