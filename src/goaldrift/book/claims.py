"""Predicted-vs-measured claims: recorded, glued into the prose, and enforced.

A chapter states each prediction before it measures, then records the
comparison here. Every record goes to `claims.json` beside the executed
notebook; the numbers are also glued (myst-nb) so the prose quotes what was
measured, never a typed-in value. Under enforced profiles a failing check
fails the chapter (after the verdict table has been shown). Every chapter uses it.

Two kinds of claim:
- a *check* (`ClaimBook.check`): an identity, a derivation, or the code and
  data being what they say. Enforced: if it fails, the code or the theory is
  wrong, and the chapter must fail. Verdict "pass" or "FAIL".
- *evidence* (`ClaimBook.evidence`): a prediction about the world that could
  come out either way. Never enforced; only evidence feeds a hypothesis's
  verdict, and only the claims declared as its *core* (see ROLES in
  goaldrift.book.declarations). Its verdict has three states, decided by an
  interval against the prediction's region and, where the claim names one, an
  alternative value:
    supported     the interval lies inside the predicted region (and excludes the alternative);
    refuted       the interval lies wholly outside the predicted region;
    inconclusive  otherwise; its note says which way the data lean.
  The interval fits the statistic the claim declares (STATISTICS): a
  Student-t interval of a mean over seeds, of a log for positive ratios and
  times, an exact binomial interval for a fraction of 0/1 outcomes, a fit's
  own interval, or the point for a computed value. With samples, the measured
  value is the statistic's own estimate, so it always lies in its interval.
  When a rule takes the worst of m members, each member's interval is widened
  to level 1 - alpha/m (Bonferroni), and the measured value is the worst
  member's.

Each evidence verdict also carries its *margin*: how far its interval would have
to move, in units of its own half-width, before the verdict changed (an end
crossing a decision line: an end of the predicted region, or the alternative's
value). CPU and GPU bits never match, so a decided verdict with a margin below
FRAGILE_MARGIN would not survive last-bit noise: it is labelled *fragile*.
"""

from __future__ import annotations

import dataclasses
import html
import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from goaldrift.book.declarations import COMPARISONS, ROLES, STATISTICS
from goaldrift.book.profiles import ENFORCED
from goaldrift.stats import by_seed, clopper_pearson, student_t_quantile  # noqa: F401 (by_seed: the chapters' import)
from goaldrift.tables import html_table

CLAIMS_FILE = "claims.json"
SERIES_FILE = "series.json"  # measured values a chapter offers the front page's figure
INJECTED_ENV = "GOALDRIFT_PARAMETERS"  # the values `goaldrift run` gave the kernel, as JSON



class ClaimFailure(AssertionError):
    """An enforced claim failed: the chapter's measurement contradicts its prediction."""


KINDS = ("check", "evidence")
EVIDENCE_VERDICTS = ("supported", "refuted", "inconclusive")
ALPHA = 0.05  # evidence intervals are 95% (before the correction for worst-of rules)
FRAGILE_MARGIN = 0.25  # a decided verdict closer than this (in half-widths) to a line is fragile


@dataclass(repr=False)
class Claim:
    id: str
    chapter: str
    statement: str
    predicted: Any
    measured: Any
    tolerance: float | None
    comparison: str
    passed: bool
    enforced: bool
    kind: str = "check"
    # Evidence only: its three-state verdict, the interval that decided it, the
    # alternative it had to exclude, and the decision rule in words.
    verdict: str | None = None
    interval_low: float | None = None
    interval_high: float | None = None
    alternative: str | None = None
    rule: str | None = None
    hypothesis: str | None = None  # the hypothesis it bears on, as declared in the chapter spec
    # Evidence only: the shift, in half-widths of the interval, that would change the verdict
    # (None for a point value or an unbounded interval, which have no half-width).
    margin: float | None = None
    # Evidence only: its role for its hypothesis, the statistic of its interval (both declared
    # before measuring), and for an inconclusive verdict which way the data lean.
    role: str | None = None
    statistic: str | None = None
    note: str | None = None
    trials: int | None = None  # a binomial claim: its number of seeds (the measured value is a share of them)
    # Evidence only: the alternative's value the interval had to exclude, and for a two-sided rule
    # over several members each member's interval: with them a reader decides the verdict again.
    alternative_value: float | None = None
    member_intervals: list | None = None

    def __post_init__(self):
        if self.verdict is None:  # a check, or a record written before evidence had verdicts
            if self.kind == "check":
                self.verdict = "pass" if self.passed else "FAIL"
            else:
                self.verdict = "supported" if self.passed else "refuted"

    @property
    def is_evidence(self) -> bool:
        return self.kind == "evidence"

    @property
    def fragile(self) -> bool:
        """A decided verdict that last-bit noise could change (margin below FRAGILE_MARGIN)."""
        return (self.is_evidence and self.verdict in ("supported", "refuted") and self.margin is not None
                and self.margin < FRAGILE_MARGIN)

    def line(self) -> str:
        """One plain line: what a reader needs, no machinery."""
        text = (f"{self.kind} {self.id}: {self.verdict} (predicted {format_value(self.predicted)}, "
                f"measured {format_value(self.measured)}")
        if self.is_evidence and not (self.interval_low is not None and self.interval_low == self.interval_high):
            text += f", interval {interval_text(self)}"
        return text + ")"

    def __repr__(self) -> str:
        return self.line()

    def _ipython_display_(self) -> None:
        """Shown once: record() shows each claim's badge as it is recorded, so a cell that records
        three claims shows three badges, and the cell's last expression does not repeat the last."""
        if getattr(self, "_shown", False):
            return
        self._shown = True  # an attribute, not a field: claims.json does not carry it
        from IPython.display import display

        display({"text/html": self._repr_html_(), "text/plain": self.line()}, raw=True)

    def _repr_html_(self) -> str:

        extra = ""
        if self.is_evidence and not (self.interval_low is not None and self.interval_low == self.interval_high):
            extra = f", interval {html.escape(interval_text(self))}"
        return (
            f'<div class="gd-claim">{badge_html(self.verdict)} <code>{html.escape(self.id)}</code> '
            f'<span class="gd-claim-kind">{self.kind}</span>: predicted {html.escape(format_value(self.predicted))}, '
            f"measured {html.escape(format_value(self.measured))}{extra}</div>"
        )


# --- statistics for evidence ----------------------------------------------------

def t_interval(samples, level: float = 1 - ALPHA) -> tuple[float, float]:
    """Two-sided Student-t interval of the mean of `samples` (non-finite values
    make it unbounded: a seed that never reached the event is not evidence for a
    value). Fewer than two samples give (-inf, inf): one seed has no spread."""
    x = np.asarray(samples, dtype=float).ravel()
    if x.size < 2 or not np.all(np.isfinite(x)):
        return (-math.inf, math.inf)
    mean = float(x.mean())
    se = float(x.std(ddof=1) / math.sqrt(x.size))
    half = student_t_quantile(0.5 + level / 2, x.size - 1) * se
    return (mean - half, mean + half)


def paired_difference(a, b, level: float = 1 - ALPHA) -> tuple[float, float]:
    """t-interval of the mean of a - b over paired samples (same seeds)."""
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired samples need the same length ({a.size} vs {b.size})")
    return t_interval(a - b, level)


def bonferroni(alpha: float, members: int) -> float:
    """Per-member error rate so that m members together err with probability <= alpha."""
    if members < 1:
        raise ValueError("members must be >= 1")
    return alpha / members


def sidak(alpha: float, members: int) -> float:
    """Šidák's per-member rate, exact for independent members: 1 - (1 - alpha)^(1/m)."""
    if members < 1:
        raise ValueError("members must be >= 1")
    return 1 - (1 - alpha) ** (1 / members)


def prediction_region(predicted: float, comparison: str, tolerance: float | None) -> tuple[float, float]:
    """The values of the measured quantity that the prediction allows."""
    if comparison == "at_least":
        return (predicted, math.inf)
    if comparison == "at_most":
        return (-math.inf, predicted)
    if comparison == "equal":
        return (predicted, predicted)
    if tolerance is None or tolerance < 0:
        raise ValueError(f"comparison {comparison!r} needs a tolerance >= 0")
    half = tolerance * abs(predicted) if comparison == "rel" else tolerance
    return (predicted - half, predicted + half)


def decide(interval: tuple[float, float], region: tuple[float, float],
           alternative_value: float | None = None) -> str:
    """Three-state verdict of an interval against the prediction's region:
    supported when it lies inside the region (and excludes the alternative value, when
    the claim names one), refuted when it lies wholly outside, inconclusive otherwise."""
    lo, hi = interval
    if any(map(math.isnan, (lo, hi))):
        return "inconclusive"
    r_lo, r_hi = region
    if hi < r_lo or lo > r_hi:
        return "refuted"
    inside = r_lo <= lo and hi <= r_hi
    excludes = alternative_value is None or not lo <= alternative_value <= hi
    return "supported" if inside and excludes else "inconclusive"


def decide_members(bounds, region: tuple[float, float], alternative_value: float | None = None) -> str:
    """The verdict of a two-sided rule over several members: each member's interval is decided
    and the worst decision stands (refuted, then inconclusive, then supported)."""
    verdicts = [decide(tuple(b), region, alternative_value) for b in bounds]
    return "refuted" if "refuted" in verdicts else "inconclusive" if "inconclusive" in verdicts else "supported"


def verdict_note(interval: tuple[float, float], region: tuple[float, float],
                 alternative_value: float | None = None) -> str | None:
    """For an inconclusive verdict, which way the data lean (None for a decided one)."""
    if decide(interval, region, alternative_value) != "inconclusive":
        return None
    lo, hi = interval
    if not all(map(math.isfinite, (lo, hi))):
        return "the interval is unbounded or undefined (too few seeds, or a seed without the event)"
    r_lo, r_hi = region
    inside = r_lo <= lo and hi <= r_hi
    if alternative_value is not None and not lo <= alternative_value <= hi:
        return "the alternative is excluded, but the interval reaches outside the predicted region"
    if inside:
        return "inside the predicted region, but the alternative is not excluded"
    return "the interval straddles an edge of the predicted region"


def margin(interval: tuple[float, float], region: tuple[float, float],
           alternative_value: float | None = None) -> float | None:
    """The smallest shift of ``interval`` (its width kept), in units of its half-width,
    that changes its verdict under ``decide``; None where there is no half-width (a point,
    an unbounded or undefined end) and infinity where no shift changes it.

    A verdict changes only where an end of the interval crosses a line (an end of the
    region, or the alternative's value), so the candidates are the distances from each
    end to each line; each is tried just past the crossing.
    """
    lo, hi = interval
    if not all(map(math.isfinite, (lo, hi))) or hi <= lo:
        return None
    half = (hi - lo) / 2
    verdict = decide(interval, region, alternative_value)
    lines = [v for v in (*region, alternative_value) if v is not None and math.isfinite(v)]
    nudge = 1e-9 * half
    shifts = sorted({line - end for line in lines for end in (lo, hi)}, key=abs)
    for s in shifts:
        for past in ((s + nudge,) if s > 0 else (s - nudge,) if s < 0 else (nudge, -nudge)):
            if decide((lo + past, hi + past), region, alternative_value) != verdict:
                return abs(s) / half
    return math.inf


def _log_margin(interval, region, alternative_value=None) -> float | None:
    """The margin of a log-scale interval, measured on the log scale, where the interval is
    symmetric and where its noise lives (a region end at or below zero is -infinity there)."""
    lo, hi = interval
    if not (lo > 0 and hi > 0):
        return None
    log = lambda v: (math.log(v) if v > 0 else -math.inf) if v is not None else None  # noqa: E731
    alt = log(alternative_value) if alternative_value is not None else None
    return margin((math.log(lo), math.log(hi)), (log(region[0]), log(region[1])), alt)


def compare(predicted: Any, measured: Any, comparison: str, tolerance: float | None) -> bool:
    """Whether a measurement agrees with its prediction under a stated rule."""
    if comparison not in COMPARISONS:
        raise ValueError(f"unknown comparison {comparison!r} (known: {', '.join(COMPARISONS)})")
    if comparison == "equal":
        return measured == predicted
    predicted, measured = float(predicted), float(measured)
    if math.isnan(measured) or math.isnan(predicted):
        return False
    if comparison == "at_most":
        return measured <= predicted
    if comparison == "at_least":
        return measured >= predicted
    if tolerance is None or tolerance < 0:
        raise ValueError(f"comparison {comparison!r} needs a tolerance >= 0")
    gap = abs(measured - predicted)
    if comparison == "rel":
        return gap <= tolerance * abs(predicted)
    return gap <= tolerance


def _plain(value: Any) -> Any:
    """numpy / torch scalars to plain Python, so claims.json stays readable."""
    if hasattr(value, "item") and callable(value.item):
        try:
            return value.item()
        except (ValueError, RuntimeError):
            pass
    return value


def _as_json(value: Any) -> Any:
    """The value as claims.json will hold it (a tuple becomes a list), so that the comparison made
    when recording is the one a reader of the file makes again."""
    return json.loads(json.dumps(value, default=str))


def format_value(value: Any) -> str:
    value = _plain(value)
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value == 0 or 1e-3 <= abs(value) < 1e5:
            return f"{value:.6g}"
        return f"{value:.3e}"
    return str(value)


class ClaimBook:
    """The claims of one executed chapter.

    A chapter opens its book with `ClaimBook.open(name, globals())`: the claims
    its spec declares (goaldrift.book.declarations) and the parameters it runs
    with. The notebook then records each measurement with `record`; `finish`
    fails the chapter on a declared claim it never recorded, or on a claim it
    recorded without declaring it. `check` and `evidence` record a claim whose
    rule is given at the call; a declared chapter may not use them.
    """

    def __init__(self, chapter: str, profile: str = "default", output_dir: str | os.PathLike = "",
                 declared=(), parameters: dict | None = None):
        from goaldrift.book.declarations import by_id

        self.chapter = chapter
        self.profile = profile
        self.enforcing = ENFORCED.get(profile, True)
        self.output_dir = Path(output_dir) if output_dir else None
        self.claims: list[Claim] = []
        self.series: dict[str, dict] = {}
        self.declared = by_id(declared)
        self.parameters = dict(parameters or {})
        self._recording_declared = False

    @classmethod
    def open(cls, chapter: str, namespace: dict) -> "ClaimBook":
        """The claim book of a registered chapter, from the notebook's namespace (its parameters)."""
        from goaldrift.book.chapters import get_chapter

        spec = get_chapter(chapter)
        parameters = {p.name: namespace[p.name] for p in spec.params}
        book = cls(chapter, namespace["profile"], namespace["output_dir"], declared=spec.claims,
                   parameters=parameters)
        book._namespace = namespace  # read again at finish: the parameters must still be what was injected
        book._check_parameters("when the claim book opened")
        return book

    def _check_parameters(self, when: str) -> None:
        """Fail if a parameter differs from the value the run injected ($GOALDRIFT_PARAMETERS, set by
        `goaldrift run` for its kernel) or, in an interactive run, from its value at open: a cell that
        set `learning_rate = 0.5` after the parameters computed with 0.5 while run_info said 0.1."""
        namespace = getattr(self, "_namespace", None)
        if namespace is None:
            return
        injected = os.environ.get(INJECTED_ENV)
        expected = json.loads(injected) if injected else self.parameters
        for name, value in expected.items():
            if name in self.parameters and _as_json(namespace.get(name)) != _as_json(value):
                raise ClaimFailure(f"chapter {self.chapter!r}: parameter {name!r} is {namespace.get(name)!r} "
                                   f"{when}, but the run set it to {value!r}: a cell changed it, so this run "
                                   f"would not be the run its record says")

    def record(self, id: str, measured: Any, *, samples: Any = None, interval: tuple[float, float] | None = None,
               context: dict | None = None, **computed_values) -> Claim:
        """Record the measurement of a declared claim. Its prediction and rule come from the
        declaration; only the values it declares as `computed(...)` are passed here (e.g.
        `predicted=` from a derivation evaluated at run time). `context` fills the statement's
        `{name}` fields that are not parameters."""
        from goaldrift.book.declarations import Computed, fill, value_of

        if id not in self.declared:
            raise ValueError(f"claim {id!r} is not declared in the spec of chapter {self.chapter!r}")
        d = self.declared[id]
        values = {}
        for name in ("predicted", "tolerance", "alternative_value", "worst_of"):
            declared_value = getattr(d, name)
            if isinstance(declared_value, Computed):
                if name not in computed_values:
                    raise ValueError(f"claim {id!r}: its {name} is declared as computed ({declared_value.how}); "
                                     f"pass {name}= to record")
                values[name] = computed_values.pop(name)
            elif name in computed_values:
                raise ValueError(f"claim {id!r}: its {name} is fixed in the chapter spec; record cannot change it")
            else:
                values[name] = value_of(declared_value, self.parameters)
        if computed_values:
            raise TypeError(f"record() got unexpected keyword(s): {', '.join(sorted(computed_values))}")
        statement = fill(d.statement, self.parameters, context)
        if d.outcome is not None and samples is not None:  # each seed's value becomes its 0/1 outcome
            rule, threshold = d.outcome
            samples = [1.0 if compare(threshold, v, rule, None) else 0.0 for v in np.ravel(np.asarray(samples, float))]
        self._recording_declared = True
        try:
            if not d.is_evidence:
                if samples is not None or interval is not None:
                    raise ValueError(f"check {id!r}: a check has no samples or interval")
                claim = self.check(id, statement, values["predicted"], measured, values["tolerance"], d.comparison)
            else:
                claim = self.evidence(id, statement, values["predicted"], measured,
                                      fill(d.alternative, self.parameters, context), values["tolerance"],
                                      d.comparison, samples=samples, interval=interval,
                                      alternative_value=values["alternative_value"], worst_of=values["worst_of"],
                                      statistic=d.statistic, role=d.role, support=d.support)
        finally:
            self._recording_declared = False
        claim.hypothesis = d.hypothesis
        _show_in_notebook(claim)
        return claim

    def predictions(self):
        """The chapter's predictions, as its spec declared them before measuring (a displayable table)."""
        from IPython.display import Markdown

        from goaldrift.book.declarations import predictions_markdown

        return Markdown(predictions_markdown(list(self.declared.values()), self.parameters))

    def undeclared_or_unrecorded(self) -> str | None:
        """Why the recorded claims are not exactly the declared ones, or None."""
        if not self.declared:
            return None
        recorded = [c.id for c in self.claims]
        missing = [i for i in self.declared if i not in recorded]
        extra = [i for i in recorded if i not in self.declared]
        problems = []
        if missing:
            problems.append(f"declared but never recorded: {', '.join(missing)}")
        if extra:
            problems.append(f"recorded but not declared: {', '.join(extra)}")
        return "; ".join(problems) or None

    def check(
        self,
        id: str,
        statement: str,
        predicted: Any,
        measured: Any,
        tolerance: float | None = None,
        comparison: str = "rel",
    ) -> Claim:
        """A check: an identity, a derivation, or the code and data being what they say (enforced)."""
        predicted, measured = _plain(predicted), _plain(measured)
        return self._record(id, statement, predicted, measured, tolerance, comparison, enforced=True, kind="check")

    def evidence(
        self,
        id: str,
        statement: str,
        predicted: Any,
        measured: Any,
        alternative: str,
        tolerance: float | None = None,
        comparison: str = "rel",
        samples: Any = None,
        interval: tuple[float, float] | None = None,
        alternative_value: float | None = None,
        worst_of: int = 1,
        statistic: str | None = None,
        role: str | None = None,
        support: tuple[float, float] | None = None,
    ) -> Claim:
        """Evidence: a prediction about the world, with a three-state verdict.

        The verdict comes from an interval fit to `statistic` (goaldrift.book.declarations.STATISTICS;
        by default "stated" with `interval`, "mean" with `samples`, "point" with neither):
        - "stated": `interval` is the chapter's own (e.g. a fit's seed interval); `measured`
          must lie inside it;
        - "mean" / "log_mean": `samples` per seed (1-D), or per seed and member (2-D,
          [seeds, members]) for a rule over the worst member; a Student-t interval of each
          member's mean (of its log, for "log_mean"), Bonferroni-corrected for the number of
          members (`worst_of` when the members are not separate columns);
        - "binomial": `samples` are one 0/1 outcome per seed; the exact binomial interval of
          their fraction;
        - "point": the measurement is computed, not sampled: the interval is the point.
        With samples, the recorded `measured` is the statistic's estimate (the mean, the
        geometric mean, the fraction, or the worst member's), whatever the caller passed, so
        that the value quoted always lies inside the interval that decided it. `support`, the
        values the statistic can take (e.g. (0, 1) for a fraction), bounds a mean's or a stated
        interval, since the true value lies there.
        """
        if not alternative:
            raise ValueError(f"evidence {id!r} must name its alternative")
        statistic = statistic or ("stated" if interval is not None else "mean" if samples is not None else "point")
        if statistic not in STATISTICS:
            raise ValueError(f"evidence {id!r}: unknown statistic {statistic!r} (known: {', '.join(STATISTICS)})")
        wants = {"stated": "an interval", "point": "neither samples nor an interval"}.get(statistic, "samples")
        given = "an interval" if interval is not None else "samples" if samples is not None else \
            "neither samples nor an interval"
        if (interval is not None and samples is not None) or wants != given:
            raise ValueError(f"evidence {id!r}: statistic {statistic!r} is recorded with {wants}, not {given}")
        predicted, measured = _plain(predicted), _plain(measured)
        # the caller's own summary (e.g. the worst seed, as the prose words it), glued beside the
        # statistic's estimate that the claim records
        glue_value(f"{id}_value", measured)
        region = prediction_region(float(predicted), comparison, tolerance)
        member_margin, per_member, trials, member_bounds = None, None, None, None
        if statistic == "stated":
            lo, hi = (float(v) for v in interval)
            if math.isfinite(float(measured)) and not lo <= float(measured) <= hi:
                raise ValueError(f"evidence {id!r}: measured {format_value(measured)} lies outside its own "
                                 f"interval [{format_value(lo)}, {format_value(hi)}]")
            how = "the stated interval (see the statement)"
        elif statistic == "binomial":
            lo, hi, measured, how = _binomial_interval(id, samples, worst_of)
            trials = int(np.asarray(samples).size)
        elif statistic == "point":
            lo = hi = float(measured)
            how = "the point value (one computation; no interval over seeds)"
        else:
            # member_bounds (a two-sided rule over members) are kept: with them a reader decides the verdict again
            lo, hi, measured, how, per_member, member_margin, member_bounds = _member_interval(
                samples, comparison, region, alternative_value, worst_of, predicted, log=statistic == "log_mean")
        if support is not None and statistic in ("mean", "stated"):  # no bound outside the possible values
            lo, hi = max(lo, float(support[0])), min(hi, float(support[1]))
            how += f", within the possible values [{format_value(support[0])}, {format_value(support[1])}]"
        verdict = per_member or decide((lo, hi), region, alternative_value)
        seeds = np.asarray(samples).shape[0] if statistic in ("mean", "log_mean") else None
        # A binomial interval does not move continuously: it changes only when a seed's outcome
        # flips, so it has no margin in half-widths (its verdict is as robust as each seed's outcome).
        room = None if statistic == "binomial" else member_margin if per_member else \
            _log_margin((lo, hi), region, alternative_value) if statistic == "log_mean" else \
            margin((lo, hi), region, alternative_value)
        # The decision itself (supported / refuted / inconclusive) is the module's rule, stated
        # once on the Verdicts page; the record names the interval and the predicted region.
        rule = f"{how}; predicted region [{format_value(region[0])}, {format_value(region[1])}]"
        return self._record(
            id, statement, predicted, measured, tolerance, comparison, enforced=False, kind="evidence",
            verdict=verdict,
            # JSON has no infinity: an unbounded (or undefined) end is stored as null
            interval_low=lo if math.isfinite(lo) else None,
            interval_high=hi if math.isfinite(hi) else None,
            alternative=alternative,
            rule=rule,
            margin=room if room is not None and math.isfinite(room) else None,  # JSON has no infinity
            role=role,
            statistic=statistic,
            trials=trials,
            alternative_value=None if alternative_value is None else float(alternative_value),
            member_intervals=None if member_bounds is None else
            [[_finite_or_none(a), _finite_or_none(b)] for a, b in member_bounds],
            note=None if verdict != "inconclusive" else
            ("1 seed: no interval (a t-interval needs 2 or more)" if seeds == 1 else
             "a member's interval is undecided" if per_member else verdict_note((lo, hi), region, alternative_value)),
        )

    def _record(self, id, statement, predicted, measured, tolerance, comparison, **kind_fields) -> Claim:
        """Build the claim (its `passed` from the comparison rule) and record it, once."""
        if self.declared and not self._recording_declared:
            raise ValueError(f"chapter {self.chapter!r} declares its claims in its spec: record {id!r} "
                             f"with record(), not with a rule typed at the call")
        claim = Claim(id=id, chapter=self.chapter, statement=statement, predicted=predicted, measured=measured,
                      tolerance=tolerance, comparison=comparison,
                      passed=bool(compare(_as_json(predicted), _as_json(measured), comparison, tolerance)),
                      **kind_fields)
        if any(c.id == claim.id for c in self.claims):
            raise ValueError(f"claim {claim.id!r} recorded twice")
        self.claims.append(claim)
        glue_value(f"{claim.id}_predicted", claim.predicted)
        glue_value(f"{claim.id}_measured", claim.measured)
        glue_value(f"{claim.id}_verdict", claim.verdict)
        if claim.tolerance is not None:
            glue_value(f"{claim.id}_tolerance", claim.tolerance)
        if claim.is_evidence:
            glue_value(f"{claim.id}_interval", interval_text(claim))
            glue_value(f"{claim.id}_note", claim.note or "decided")
        return claim

    def reading(self, id: str, **by_verdict: str) -> str:
        """The sentence that reads a recorded claim's verdict, chosen by it and glued as
        ``{id}_reading``: prose never states under an inconclusive verdict what only a
        supported one would mean. Every verdict the claim could have needs its sentence
        (supported, refuted and inconclusive for evidence; pass and FAIL for a check)."""
        claim = next((c for c in self.claims if c.id == id), None)
        if claim is None:
            raise ValueError(f"reading of {id!r}: record the claim first")
        needed = set(EVIDENCE_VERDICTS) if claim.is_evidence else {"pass", "FAIL"}
        if set(by_verdict) != needed:
            raise ValueError(f"reading of {id!r}: give one sentence for each of {', '.join(sorted(needed))}, "
                             f"not for {', '.join(sorted(by_verdict)) or 'none'}")
        text = by_verdict[claim.verdict]
        glue_value(f"{id}_reading", text)
        return text

    def figure_series(self, key: str, label: str, values, predicted: float | None = None,
                      names: list[str] | None = None) -> None:
        """Measured values for the front page's headline figure (written with the claims); ``names``
        labels each value (the figure then gives each its own row)."""
        vals = [float(v) if np.isfinite(v) else None for v in np.ravel(np.asarray(values, dtype=float))]
        if names is not None and len(names) != len(vals):
            raise ValueError(f"figure series {key!r}: {len(names)} names for {len(vals)} values")
        self.series[key] = {"label": label, "values": vals, "predicted": predicted}
        if names is not None:
            self.series[key]["names"] = [str(n) for n in names]

    def failures(self) -> list[Claim]:
        return [c for c in self.claims if c.kind == "check" and not c.passed]

    def table(self):
        """The chapter's verdict table, as a displayable Markdown object."""
        from IPython.display import Markdown

        return Markdown(verdict_markdown(self.claims, with_chapter=False, compact=True))

    def save(self) -> Path | None:
        if self.output_dir is None:
            return None
        self.output_dir.mkdir(parents=True, exist_ok=True)
        path = self.output_dir / CLAIMS_FILE
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps([asdict(c) for c in self.claims], indent=2, default=str))
        os.replace(tmp, path)
        if self.series:
            (self.output_dir / SERIES_FILE).write_text(json.dumps(self.series, indent=1))
        return path

    def finish(self) -> None:
        """Write claims.json; fail if the recorded claims are not the declared ones (at every
        profile), and under an enforced profile on any failed check."""
        self.save()
        self._check_parameters("when the chapter finished")
        mismatch = self.undeclared_or_unrecorded()
        if mismatch:
            raise ClaimFailure(f"chapter {self.chapter!r}: {mismatch}")
        failed = self.failures()
        if failed and self.enforcing:
            lines = "; ".join(
                f"{c.id}: predicted {format_value(c.predicted)}, measured {format_value(c.measured)}"
                for c in failed
            )
            raise ClaimFailure(f"{len(failed)} enforced claim(s) failed: {lines}")


def _member_statistics(samples, worst_of, log):
    """Each member's t-interval over seeds at level 1 - alpha/m, and its mean (geometric, when
    ``log``): (the samples on the interval's scale, bounds, means, level, m)."""
    x = np.asarray(samples, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    if log:
        finite = x[np.isfinite(x)]
        if np.any(finite <= 0):
            raise ValueError(f"a log-scale interval needs positive samples, got {finite[finite <= 0][0]:g}")
        x = np.log(x)
    m = max(x.shape[1], worst_of)
    level = 1 - bonferroni(ALPHA, m)
    bounds = np.array([t_interval(x[:, j], level) for j in range(x.shape[1])])
    means = x.mean(axis=0)
    if log:  # back on the measured scale; an unbounded interval stays unbounded
        finite_rows = np.all(np.isfinite(bounds), axis=1)
        bounds = np.where(finite_rows[:, None], np.exp(bounds), bounds)
        means = np.exp(means)
    return x, bounds, means, level, m


def _finite_or_none(v: float) -> float | None:
    return v if math.isfinite(v) else None  # JSON has no infinity


def _member_interval(samples, comparison, region, alternative_value, worst_of, predicted, log=False):
    """Interval for a rule over members: each member's t-interval over seeds (of the log of
    its values, when ``log``) at level 1 - alpha/m. For at_least (the worst is the smallest)
    the interval of the smallest mean is [min lows, min highs]; for at_most, [max lows,
    max highs]. For a two-sided rule each member is decided and the worst decision stands;
    the reported interval spans all members. Returns (low, high, the worst member's estimate,
    how, the worst decision or None, its margin or None, each member's bounds or None)."""
    x, bounds, means, level, m = _member_statistics(samples, worst_of, log)
    n = x.shape[0]
    what = (f"{100 * level:.4g}% t-interval of the {'geometric mean (t on the log)' if log else 'mean'} "
            f"over {n} seed(s)" + (f", Bonferroni-corrected for the worst of {m} members" if m > 1 else ""))
    if comparison == "at_least":
        return float(bounds[:, 0].min()), float(bounds[:, 1].min()), float(means.min()), what, None, None, None
    if comparison == "at_most":
        return float(bounds[:, 0].max()), float(bounds[:, 1].max()), float(means.max()), what, None, None, None
    if x.shape[1] == 1:
        return float(bounds[0, 0]), float(bounds[0, 1]), float(means[0]), what, None, None, None
    worst = decide_members(bounds, region, alternative_value)
    # the worst verdict moves when any member's does: the nearest member's margin (conservative)
    margins = [m for m in (margin(tuple(b), region, alternative_value) for b in bounds) if m is not None]
    farthest = float(means[np.nanargmax(np.abs(means - float(predicted)))]) if np.any(np.isfinite(means)) \
        else float("nan")
    return (float(bounds[:, 0].min()), float(bounds[:, 1].max()), farthest, "each member's " + what, worst,
            min(margins) if margins else None, [tuple(map(float, b)) for b in bounds])


def _binomial_interval(claim_id, samples, worst_of):
    """The exact binomial interval of the fraction of 0/1 outcomes (one per seed), at level
    1 - alpha/worst_of. Returns (low, high, fraction, how)."""
    x = np.asarray(samples, dtype=float).ravel()
    if x.size == 0 or not np.all((x == 0) | (x == 1)):
        raise ValueError(f"evidence {claim_id!r}: a binomial statistic needs one 0/1 outcome per seed, "
                         f"got {np.asarray(samples).ravel()[:6].tolist()}")
    level = 1 - bonferroni(ALPHA, max(1, int(worst_of)))
    k, n = int(x.sum()), int(x.size)
    lo, hi = clopper_pearson(k, n, level)
    return lo, hi, k / n, f"{100 * level:.4g}% exact binomial (Clopper-Pearson) interval of {k} of {n} seeds"


BADGE_COLOURS = {
    "pass": "#1a7f37", "supported": "#1a7f37",
    "FAIL": "#b42318", "refuted": "#b42318",
    "inconclusive": "#9a6700", "not yet tested": "#57606a", "derivation failed": "#b42318",
    "fragile": "#8250df",
    "derived": "#0550ae",
}


def _show_in_notebook(claim: Claim) -> None:
    """Display a recorded claim's badge now, when running in a notebook kernel (silent elsewhere)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and getattr(shell, "kernel", None) is not None:
        claim._ipython_display_()


def badge_html(verdict: str) -> str:
    """A verdict as a coloured badge that carries its word (readable without colour)."""
    colour = BADGE_COLOURS.get(verdict, "#57606a")
    return (f'<span class="gd-badge gd-{verdict.replace(" ", "-").lower()}" style="background:{colour};'
            f'color:#fff;border-radius:3px;padding:0 0.4em;font-size:0.85em;font-weight:600">{verdict}</span>')


def verdict_badges(claim: Claim) -> str:
    """The verdict's badge, and a second one, *fragile*, when its margin is below FRAGILE_MARGIN."""
    badge = badge_html(claim.verdict)
    return badge + " " + badge_html("fragile") if claim.fragile else badge


def margin_text(claim: Claim) -> str:
    """The margin in half-widths ("—" where the interval has none)."""
    if claim.margin is None:
        return "—"
    return f"{claim.margin:.2f}" if claim.margin < 100 else "> 100"


def interval_text(claim: Claim, number=format_value) -> str:
    """The claim's interval in words, each end written by ``number``."""
    if not claim.is_evidence:
        return "—"
    lo, hi = claim.interval_low, claim.interval_high
    if lo is None and hi is None:
        return "unbounded"  # fewer than two seeds, or a seed where the event never happened
    if lo == hi:
        return number(lo)
    return f"[{'-inf' if lo is None else number(lo)}, {'inf' if hi is None else number(hi)}]"


def glue_value(name: str, value: Any) -> None:
    """Glue a number for the prose ({glue:text}`name`); silent outside a notebook."""
    try:
        from myst_nb import glue
    except ImportError:  # the library is usable without the book toolchain
        return
    glue(name, _plain(value), display=False)


def glue_values(**named: Any) -> None:
    """Glue several numbers for the prose at once, each under its keyword's name."""
    for name, value in named.items():
        glue_value(name, value)


class ClaimSchemaError(ValueError):
    """claims.json does not hold what a chapter writes: the message is one line."""


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _json_value(v) -> bool:
    if v is None or isinstance(v, (bool, int, float, str)):
        return True
    if isinstance(v, list):
        return all(_json_value(x) for x in v)
    if isinstance(v, dict):
        return all(isinstance(k, str) and _json_value(x) for k, x in v.items())
    return False


# Every field of a claim record: (check, what it must be). The first block is
# required; the rest are optional (evidence claims: kind, verdict, interval).
REQUIRED_FIELDS = {
    "id": (lambda v: isinstance(v, str) and v != "", "a non-empty string"),
    "chapter": (lambda v: isinstance(v, str), "a string"),
    "statement": (lambda v: isinstance(v, str), "a string"),
    "predicted": (_json_value, "a JSON value"),
    "measured": (_json_value, "a JSON value"),
    "tolerance": (lambda v: v is None or _number(v), "a number or null"),
    "comparison": (lambda v: v in COMPARISONS, f"one of {', '.join(COMPARISONS)}"),
    "passed": (lambda v: isinstance(v, bool), "true or false"),
    "enforced": (lambda v: isinstance(v, bool), "true or false"),
}
OPTIONAL_FIELDS = {
    "kind": (lambda v: v is None or v in ("check", "evidence"), "check or evidence"),
    "verdict": (lambda v: v is None or v in ("pass", "FAIL", *EVIDENCE_VERDICTS),
                "pass or FAIL (a check), supported, refuted or inconclusive (evidence)"),
    "interval_low": (lambda v: v is None or _number(v), "a number or null (unbounded or undefined)"),
    "interval_high": (lambda v: v is None or _number(v), "a number or null (unbounded or undefined)"),
    "alternative": (lambda v: v is None or _number(v) or isinstance(v, str), "a number or a string"),
    "rule": (lambda v: v is None or _number(v) or isinstance(v, str), "a number or a string"),
    "hypothesis": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "margin": (lambda v: v is None or (_number(v) and v >= 0), "a number >= 0 or null"),
    "role": (lambda v: v is None or v in ROLES, f"one of {', '.join(ROLES)} or null"),
    "statistic": (lambda v: v is None or v in STATISTICS, f"one of {', '.join(STATISTICS)} or null"),
    "note": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "trials": (lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 1),
               "an integer >= 1 or null"),
    "alternative_value": (lambda v: v is None or _number(v), "a number or null"),
    "member_intervals": (lambda v: v is None or (isinstance(v, list) and 0 < len(v) <= 10_000 and all(
        isinstance(b, list) and len(b) == 2 and all(e is None or _number(e) for e in b) for b in v)),
        "null or a list of [low, high] pairs (numbers or null)"),
}


def _ends(value, unbounded: float) -> list[float]:
    """The values a stored interval end may have had: null was an unbounded or an undefined end."""
    return [unbounded, math.nan] if value is None else [float(value)]


def _interval_verdicts(low, high, region, alternative_value) -> set[str]:
    return {decide((lo, hi), region, alternative_value)
            for lo in _ends(low, -math.inf) for hi in _ends(high, math.inf)}


def possible_verdicts(record: dict) -> set[str]:
    """The verdicts an evidence record's own numbers allow, decided again by the code that decided
    it (decide, decide_members). Exact for a record that carries its alternative's value; for an
    older one, whose alternative's value was not kept, every verdict that some value allows."""
    region = prediction_region(float(record["predicted"]), record["comparison"], record["tolerance"])
    known_alternative = "alternative_value" in record
    alternative_value = record.get("alternative_value")
    members = record.get("member_intervals")
    if members:
        per_member = [_interval_verdicts(lo, hi, region, alternative_value) for lo, hi in members]
        possible = set()
        if any("refuted" in v for v in per_member):
            possible.add("refuted")
        if all(v - {"refuted"} for v in per_member) and any("inconclusive" in v for v in per_member):
            possible.add("inconclusive")
        if all("supported" in v for v in per_member):
            possible.add("supported")
    elif not known_alternative and str(record.get("rule") or "").startswith("each member's"):
        # an older record of a rule over members: only the span of all members' intervals was kept
        span = _interval_verdicts(record.get("interval_low"), record.get("interval_high"), region, None)
        possible = {"supported", "inconclusive"} if span == {"supported"} else {"refuted", "inconclusive"}
    else:
        possible = _interval_verdicts(record.get("interval_low"), record.get("interval_high"), region,
                                      alternative_value)
    if not known_alternative and "supported" in possible:
        possible.add("inconclusive")  # an alternative inside the interval would have made it so
    return possible


def validate_record(record, where: str) -> dict:
    """One claim record checked field by field (types included), and its
    `passed` checked against its own numbers, so a hand-edited or damaged
    file cannot turn a failure into a pass."""
    if not isinstance(record, dict):
        raise ClaimSchemaError(f"{where}: a claim must be a JSON object, not {type(record).__name__}")
    label = f"{where}, claim {record.get('id')!r}" if isinstance(record.get("id"), str) else where
    for name, (ok, what) in REQUIRED_FIELDS.items():
        if name not in record:
            raise ClaimSchemaError(f"{label}: field {name!r} is missing")
        if not ok(record[name]):
            raise ClaimSchemaError(f"{label}: {name!r} must be {what}, not {record[name]!r}")
    for name, value in record.items():
        if name in REQUIRED_FIELDS:
            continue
        if name not in OPTIONAL_FIELDS:
            raise ClaimSchemaError(f"{label}: unknown field {name!r}")
        ok, what = OPTIONAL_FIELDS[name]
        if not ok(value):
            raise ClaimSchemaError(f"{label}: {name!r} must be {what}, not {value!r}")
    kind, verdict = record.get("kind") or "check", record.get("verdict")
    if verdict is not None and (verdict in ("pass", "FAIL")) != (kind == "check"):
        raise ClaimSchemaError(f"{label}: verdict {verdict!r} is not a verdict of a {kind}")
    if kind == "check" and verdict is not None and verdict != ("pass" if record["passed"] else "FAIL"):
        raise ClaimSchemaError(f"{label}: verdict {verdict!r} contradicts 'passed': {record['passed']}")
    if record["enforced"] != (kind == "check"):  # a hand-edited flag would change the exit code, not the claim
        raise ClaimSchemaError(f"{label}: a {kind} is {'always' if kind == 'check' else 'never'} enforced, "
                               f"but 'enforced' is {record['enforced']}")
    # 'passed' and the verdict decided again from the record's own numbers, by the code that
    # decided them: for every comparison ('equal' and non-numbers included) and every interval
    try:
        recomputed = compare(record["predicted"], record["measured"], record["comparison"], record["tolerance"])
    except (ValueError, TypeError) as err:
        raise ClaimSchemaError(f"{label}: its predicted and measured values cannot be compared "
                               f"({str(err).splitlines()[0][:120]})") from None
    if recomputed != record["passed"]:
        raise ClaimSchemaError(f"{label}: 'passed' is {record['passed']} but its predicted and measured "
                               f"values say {recomputed}")
    if kind == "evidence" and verdict is not None:
        try:
            possible = possible_verdicts(record)
        except (ValueError, TypeError) as err:
            raise ClaimSchemaError(f"{label}: its prediction has no region ({str(err)[:120]})") from None
        if verdict not in possible:
            raise ClaimSchemaError(f"{label}: verdict {verdict!r} contradicts its own interval and predicted "
                                   f"region, which say {' or '.join(sorted(possible))}")
    return record


def load_claims(path: str | os.PathLike) -> list[Claim]:
    """The claims in a claims.json, validated; ClaimSchemaError (one line) otherwise."""
    from goaldrift.jsonfiles import read_json

    path = Path(path)
    try:
        records = read_json(path, CLAIMS_FILE)
    except (OSError, ValueError) as err:
        raise ClaimSchemaError(f"cannot read {path}: {str(err).splitlines()[0]}") from None
    if not isinstance(records, list):
        raise ClaimSchemaError(f"{path}: must hold a list of claims, not {type(records).__name__}")
    seen = set()
    fields = {f.name for f in dataclasses.fields(Claim)}
    claims = []
    for i, record in enumerate(records):
        if isinstance(record, dict) and "kind" not in record and isinstance(record.get("enforced"), bool):
            record["kind"] = "check" if record["enforced"] else "evidence"  # written before claims had kinds
        validate_record(record, f"{path}, claim {i + 1}")
        if record["id"] in seen:
            raise ClaimSchemaError(f"{path}: claim {record['id']!r} appears twice")
        seen.add(record["id"])
        claims.append(Claim(**{k: v for k, v in record.items() if k in fields}))
    return claims


def claim_counts(claims: list[Claim]) -> str:
    """The one-line tally a run and `goaldrift claims` end with: checks passed, evidence by verdict."""
    checks = [c for c in claims if not c.is_evidence]
    evidence = [c for c in claims if c.is_evidence]
    tally = ", ".join(f"{sum(c.verdict == v for c in evidence)} {v}" for v in EVIDENCE_VERDICTS)
    return f"checks: {sum(c.passed for c in checks)} of {len(checks)} pass; evidence: {tally}"


def rule_text(c: Claim) -> str:
    rule = COMPARISONS[c.comparison]
    if c.tolerance is not None and c.comparison in ("rel", "abs"):
        rule = rule.replace("tolerance", format_value(c.tolerance))
    return rule


def claim_anchor(claim: Claim) -> str:
    """The id of a claim's row in a verdict table: the front page and the chapters link to it."""
    return f"claim-{claim.chapter}-{claim.id}"


def _claim_cell(c: Claim) -> str:
    what = c.kind if not c.is_evidence else " · ".join(
        x for x in (c.hypothesis and f"{c.hypothesis} {c.role or 'core'}", c.statistic) if x)
    return f'<a class="gd-claim-id" href="#{claim_anchor(c)}"><code>{html.escape(c.id)}</code></a>' + (
        f'<br><small>{html.escape(what)}</small>' if what else "")


def _rule_details(c: Claim) -> str:
    """The statement, with the alternative and the decision rule folded below it."""
    parts = []
    if c.is_evidence:
        parts.append(f"alternative: {html.escape(c.alternative or '—')}")
        parts.append(f"rule: {html.escape(c.rule or rule_text(c))}")
        if c.note:
            parts.append(f"inconclusive: {html.escape(c.note)}")
    else:
        parts.append(f"rule: {html.escape(rule_text(c))}")
    return (f"{html.escape(str(c.statement))}<details><summary>rule</summary>"
            + "<br>".join(parts) + "</details>")


def _measured_cell(c: Claim) -> str:
    text = html.escape(format_value(c.measured))
    interval = interval_text(c)
    if c.is_evidence and interval != text and interval != "—":
        text += f"<br><small>{html.escape(interval)}</small>"
    return text


def _row_attrs(c: Claim) -> dict:
    return {"id": claim_anchor(c), "data-verdict": c.verdict, "data-chapter": c.chapter,
            "data-hypothesis": c.hypothesis or "", "data-kind": c.kind}


def verdict_markdown(claims: list[Claim], with_chapter: bool = True, compact: bool = False) -> str:
    """Evidence and checks as two tables (HTML inside Markdown, so that columns wrap and each
    row has an anchor, claim_anchor): verdict, claim, statement (with the alternative and the
    decision rule folded under it), predicted, measured with its interval, and for evidence
    the margin. ``compact`` (a chapter's own table) drops the chapter column."""
    evidence = [c for c in claims if c.is_evidence]
    checks = [c for c in claims if not c.is_evidence]
    out = []
    for title, group in (("Evidence", evidence), ("Checks", checks)):
        if not group:
            continue
        head = ["verdict", "claim", "statement", "predicted", "measured"] + (["margin"] if group is evidence else [])
        rows = [[verdict_badges(c) if c.is_evidence else badge_html(c.verdict), _claim_cell(c), _rule_details(c),
                 html.escape(format_value(c.predicted)), _measured_cell(c)]
                + ([margin_text(c)] if c.is_evidence else []) for c in group]
        if with_chapter and not compact:
            head = ["chapter", *head]
            rows = [[html.escape(c.chapter), *r] for c, r in zip(group, rows)]
        out.append(f"**{title}**\n\n" + html_table(head, rows, [_row_attrs(c) for c in group],
                                                   cls=f"gd-table gd-verdicts gd-{title.lower()}"))
    return "\n\n".join(out)
