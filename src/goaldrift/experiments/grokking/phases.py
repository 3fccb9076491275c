"""Phase boundaries of a grokking run, by a stated rule on the curves.

Nanda et al. (2023) split training into memorisation, circuit formation and
cleanup. We detect the boundaries from the train accuracy and the test loss
only, so that the other progress measures (weight norm, Gini, excluded
loss) can be tested *against* the phases without circularity:

* end of memorisation: the first evaluation with train accuracy >= ``mem_acc``;
* cleanup is the fall of the test loss. On h = log10(test loss), from the
  end of memorisation on, let h_hi be the highest value (at step t_peak) and
  h_lo the lowest value after t_peak. Cleanup starts at the first step after
  t_peak where h has fallen by ``start_frac`` of (h_hi - h_lo) and ends at the
  first step where it has fallen by ``end_frac`` of it. If the total fall is
  less than ``min_drop`` decades there is no cleanup (both are None);
* generalisation: the first evaluation with test accuracy >= ``gen_acc``.

Circuit formation is the stretch between the end of memorisation and the
start of cleanup.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from goaldrift.tables import markdown_table


@dataclass(frozen=True)
class Phases:
    memorisation_end: float | None
    cleanup_start: float | None
    cleanup_end: float | None
    generalisation: float | None

    def spans(self, last_step: float) -> list[tuple[str, float, float]]:
        """(name, start, end) of each phase that exists, for shading plots."""
        out = []
        if self.memorisation_end is not None:
            out.append(("memorisation", 0.0, self.memorisation_end))
            if self.cleanup_start is not None:
                out.append(("circuit formation", self.memorisation_end, self.cleanup_start))
                out.append(("cleanup", self.cleanup_start, self.cleanup_end if self.cleanup_end is not None else last_step))
            else:
                out.append(("circuit formation", self.memorisation_end, last_step))
        return out


def first_step(steps, condition) -> float | None:
    """The first step at which ``condition`` (a bool array) holds, or None."""
    condition = np.asarray(condition, dtype=bool)
    if not condition.any():
        return None
    return float(np.asarray(steps)[np.argmax(condition)])


def detect_phases(steps, train_acc, test_loss, test_acc, mem_acc: float = 0.99, gen_acc: float = 0.95,
                  start_frac: float = 0.1, end_frac: float = 0.9, min_drop: float = 1.0) -> Phases:
    """Phase boundaries of one run (1-D curves on the same evaluation steps)."""
    steps = np.asarray(steps, dtype=float)
    train_acc, test_loss, test_acc = (np.asarray(v, dtype=float) for v in (train_acc, test_loss, test_acc))
    if not 0 < start_frac < end_frac < 1:
        raise ValueError(f"need 0 < start_frac < end_frac < 1, got {start_frac}, {end_frac}")
    mem = first_step(steps, train_acc >= mem_acc)
    gen = first_step(steps, test_acc >= gen_acc)
    start = end = None
    if mem is not None:
        after = steps >= mem
        h = np.log10(np.maximum(test_loss, 1e-300))
        i_peak = np.flatnonzero(after)[np.argmax(h[after])]
        h_hi, h_lo = h[i_peak], h[i_peak:].min()
        if h_hi - h_lo >= min_drop:
            tail = slice(i_peak, None)
            start = first_step(steps[tail], h[tail] <= h_hi - start_frac * (h_hi - h_lo))
            end = first_step(steps[tail], h[tail] <= h_hi - end_frac * (h_hi - h_lo))
    return Phases(mem, start, end, gen)


def phase_mask(steps, start: float | None, end: float | None) -> np.ndarray:
    """Evaluations with start <= step <= end (empty if either is None)."""
    steps = np.asarray(steps, dtype=float)
    if start is None or end is None:
        return np.zeros(steps.shape, dtype=bool)
    return (steps >= start) & (steps <= end)


def rate_per_step(steps, values, start: float | None, end: float | None) -> float:
    """Average rate of change (end value - start value)/(end - start) over a
    phase, from the evaluations nearest its boundaries; nan if undefined."""
    steps, values = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
    if start is None or end is None or end <= start:
        return float("nan")
    i, j = np.argmin(np.abs(steps - start)), np.argmin(np.abs(steps - end))
    if steps[j] <= steps[i]:
        return float("nan")
    return float((values[j] - values[i]) / (steps[j] - steps[i]))


def rate_ratio(steps, values, phases: Phases) -> float:
    """Rate of change during circuit formation divided by the rate during
    cleanup. A quantity that changes "sharply during cleanup" has a ratio
    well below 1 (or negative: it moved the other way before). nan when a
    phase is missing or the cleanup rate is zero."""
    before = rate_per_step(steps, values, phases.memorisation_end, phases.cleanup_start)
    during = rate_per_step(steps, values, phases.cleanup_start, phases.cleanup_end)
    if not np.isfinite(before) or not np.isfinite(during) or during == 0:
        return float("nan")
    return before / during


def worst_over_seeds(values, worst=max) -> float:
    """The worst per-seed value (``worst`` is ``max`` or ``min``), or nan if any seed's value is not
    finite: a seed without the phases counts against a claim instead of silently dropping out."""
    values = list(values)
    return float("nan") if any(not np.isfinite(v) for v in values) else worst(values)


def generalisation_delay(phases: Phases, last_step: float | None = None) -> float:
    """Step of generalisation over step of the end of memorisation; nan if either is missing or zero.

    With ``last_step`` (the run's budget), a run that memorised but did not generalise within it
    is censored: its delay is at least ``last_step / memorisation_end``, and that lower bound is
    returned (see ``delay_is_censored``), so a slow seed pulls a claim that the delay is long
    toward its line instead of leaving it undefined.
    """
    a, b = phases.generalisation, phases.memorisation_end
    if a is None and last_step is not None and b:
        return last_step / b
    return float("nan") if a is None or b is None or b == 0 else a / b


def delay_is_censored(phases: Phases) -> bool:
    """The run memorised and did not generalise within its budget (its delay is a lower bound)."""
    return phases.generalisation is None and bool(phases.memorisation_end)


@dataclass(frozen=True)
class CircuitFormationChange:
    """How the excluded loss (train) and the test loss change over circuit formation, as the ratio of
    their values at its end (start of cleanup) to their values at its start (end of memorisation).
    ``margin`` = min(excluded_ratio - 1, 1 - test_ratio) is positive when the excluded loss rose and the
    test loss fell; all three are nan when a phase is missing."""

    margin: float
    excluded_ratio: float
    test_ratio: float


def circuit_formation_change(steps, excluded_loss, test_loss, phases: Phases) -> CircuitFormationChange:
    """The change of the excluded and the test loss (1-D curves) over circuit formation, read at the
    evaluations where memorisation ends and cleanup starts."""
    if phases.memorisation_end is None or phases.cleanup_start is None:
        return CircuitFormationChange(float("nan"), float("nan"), float("nan"))
    i, j = np.searchsorted(steps, phases.memorisation_end), np.searchsorted(steps, phases.cleanup_start)
    excluded_ratio = excluded_loss[j] / excluded_loss[i]
    test_ratio = test_loss[j] / test_loss[i]
    return CircuitFormationChange(min(excluded_ratio - 1, 1 - test_ratio), excluded_ratio, test_ratio)


def cleanup_sharpness(steps, values, phases: Phases, sign: int) -> float:
    """``rate_ratio`` of a quantity expected to move in direction ``sign`` (+1 up, -1 down) during
    cleanup: circuit-formation rate / cleanup rate. nan without a cleanup, or if the quantity moved
    the wrong way during it (a small ratio would then not mean a sharp change in cleanup)."""
    during = rate_per_step(steps, values, phases.cleanup_start, phases.cleanup_end)
    r = rate_ratio(steps, values, phases)
    return r if np.isfinite(r) and sign * during > 0 else float("nan")


# Nanda et al. (2023), main run: memorisation to about 1.4k steps, circuit formation to
# about 9.4k, cleanup to about 13.3k (full batch, so their epochs are our steps).
PUBLISHED_BOUNDARIES = {"memorisation_end": 1400.0, "cleanup_start": 9400.0, "cleanup_end": 13300.0}
PUBLISHED_SETTING = {"p": 113, "train_frac": 0.3, "d_model": 128, "learning_rate": 1e-3, "weight_decay": 1.0}


def is_published_setting(**setting) -> bool:
    """Whether a run's p, train_frac, d_model, learning_rate and weight_decay are the published ones
    (the only setting in which its phase boundaries can be compared with the paper's)."""
    return all(np.isclose(setting[k], v, rtol=1e-12, atol=0) for k, v in PUBLISHED_SETTING.items())


def over_published(phases: Phases) -> dict[str, float]:
    """Each of the run's boundaries (end of memorisation, start and end of cleanup) divided by the
    published one; nan where the run has no such boundary."""
    return {k: float("nan") if getattr(phases, k) is None else getattr(phases, k) / v
            for k, v in PUBLISHED_BOUNDARIES.items()}


PHASE_COLORS = {"memorisation": "#d62728", "circuit formation": "#ff7f0e", "cleanup": "#2ca02c"}


def shade(ax, phases: Phases, last_step: float, label: bool = True) -> None:
    """Shade each phase's span on a matplotlib axis (log-x safe: memorisation starts at step 1)."""
    for name, start, end in phases.spans(last_step):
        ax.axvspan(max(start, 1.0), end, color=PHASE_COLORS[name], alpha=0.12, lw=0,
                   label=name if label else None)


# ---- what the chapter shows of the phases ---------------------------------------------


def step_text(v, spec: str = ".0f") -> str:
    """A step (or another number) for a table: a dash when it is missing (None) or not finite."""
    return "—" if v is None or not np.isfinite(v) else f"{v:{spec}}"


def phase_table(seeds, key_freqs, phases) -> str:
    """Markdown table: per seed, its key frequencies (a list of k) and its phase boundaries."""
    return markdown_table(
        ["seed", "key frequencies", "memorisation ends", "cleanup starts", "cleanup ends", "test acc ≥ 0.95"],
        [[s, ", ".join(map(str, k)) or "none", step_text(q.memorisation_end), step_text(q.cleanup_start),
          step_text(q.cleanup_end), step_text(q.generalisation)] for s, k, q in zip(seeds, key_freqs, phases)])


@dataclass(frozen=True)
class PublishedComparison:
    """Each seed's phase boundaries against the published run's: a table, and what it means here."""

    published_setting: bool   # the run is at the published p, train_frac, d_model, eta, lambda
    ratios: dict              # boundary name -> [our boundary / published one, per seed] (nan: none)
    table: str                # Markdown: per seed, each boundary and its ratio to the published one
    reading: str              # a sentence on the comparison
    setting_reading: str      # a sentence on what the verdicts are about at this setting


def published_comparison(seeds, phases, eval_every: int, **setting) -> PublishedComparison:
    """``over_published`` of every seed's phases, read against whether ``setting`` (p, train_frac,
    d_model, learning_rate, weight_decay) is the published one."""
    published = is_published_setting(**setting)
    against = [over_published(q) for q in phases]
    table = markdown_table(
        ["seed", *(f"{k.replace('_', ' ')} (published {v:.0f})" for k, v in PUBLISHED_BOUNDARIES.items())],
        [[s, *(f"{step_text(getattr(q, k))} ({a[k]:.2f}×)" for k in PUBLISHED_BOUNDARIES)]
         for s, q, a in zip(seeds, phases, against)])
    ratios = {k: [a[k] for a in against] for k in PUBLISHED_BOUNDARIES}
    if published:
        span = lambda k: f"{np.nanmin(ratios[k]):.2f}× to {np.nanmax(ratios[k]):.2f}×"
        reading = (f"This run uses the published setting, so the ratios compare like with like (the splits and "
                   f"initialisations are ours): over the seeds, memorisation ends at {span('memorisation_end')} the "
                   f"published step, cleanup starts at {span('cleanup_start')} and ends at {span('cleanup_end')} of it. "
                   f"Our rule marks the end of memorisation by train accuracy alone, read every {eval_every} steps, so "
                   f"that boundary need not coincide with the paper's.")
        setting_reading = ("This run is at the published setting, so these verdicts are about the published phases "
                           "themselves, not about a compressed version of them.")
    else:
        reading = ("This run does not use the published setting (see Setup: a smaller, faster problem), so its "
                   "phases are expected to end much earlier; the comparison is made by the paper-profile "
                   "snapshot of this chapter.")
        setting_reading = ("With this chapter's fast setting (a larger training fraction and step size than the "
                           "published ones) the phases are compressed and test accuracy climbs during circuit "
                           "formation already, so \"cleanup\" is a gradual process that the test loss, not the norm, "
                           "marks sharply. The paper-profile snapshot of this chapter runs the published setting.")
    return PublishedComparison(published, ratios, table, reading, setting_reading)
