"""Claims declared in a chapter's spec, before anything is measured.

A chapter spec (goaldrift.book.chapters.chNN_*) lists every claim its notebook
will record: id, statement, kind, the hypothesis it bears on, the prediction,
the decision rule (comparison and tolerance; for evidence, the named
alternative and the worst-of correction) and the design it rests on. The
notebook then only records what it measured (`ClaimBook.record`), so the
prediction is fixed in git history before the measurement that tests it, and
the chapter fails if it records a claim it did not declare or leaves a
declared one unrecorded.

A declared value is one of:
- a plain value (a number, a bool);
- a function of the chapter's parameters (`lambda p: p["learning_rate"] * ...`),
  evaluated when the claim is recorded;
- `computed("how")`: a value the chapter derives at run time before the
  measurement (a sympy result evaluated at the parameters, a pilot's
  measurement); the notebook passes it to `record`, and the declaration says
  where it comes from.

Statements, alternatives and designs may hold `{name}` fields, filled from
the chapter's parameters (and from `context` given to `record`).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any, Callable, Mapping


# How `measured` is compared with `predicted`.
COMPARISONS = {
    "rel": "|measured - predicted| <= tolerance * |predicted|",
    "abs": "|measured - predicted| <= tolerance",
    "at_most": "measured <= predicted",
    "at_least": "measured >= predicted",
    "equal": "measured == predicted",
}


@dataclass(frozen=True)
class Computed:
    """A declared quantity the chapter computes at run time, before measuring; `how` says from what."""

    how: str

    def __str__(self) -> str:
        return f"computed: {self.how}"


def computed(how: str) -> Computed:
    return Computed(how)


KINDS = ("check", "evidence")

# What an evidence claim is to its hypothesis, declared before measuring. A hypothesis's
# verdict comes from its core claims only; its laws are reported beside it.
ROLES = {
    "core": "what the hypothesis itself predicts (its effect, and the controls where it must not happen)",
    "law": "a quantitative model of the effect (a rate, a constant, a scaling law)",
    "design": "a condition the design needs (memorised before the switch, a budget long enough); no hypothesis",
    "aside": "a finding beside the hypotheses (it decides none of them)",
}
# The statistic an evidence claim's interval is taken over, declared with the claim.
STATISTICS = {
    "mean": "mean over seeds, Student-t interval (per member and worst member for a rule over members)",
    "log_mean": "geometric mean over seeds, Student-t interval of the log (a positive ratio or time)",
    "binomial": "fraction of seeds with the 0/1 outcome, exact (Clopper-Pearson) binomial interval",
    "stated": "an interval the chapter computes (a fit's seed interval; see the statement)",
    "point": "a computed value, not sampled (its interval is the point)",
}


@dataclass(frozen=True)
class Declared:
    id: str
    statement: str
    kind: str
    predicted: Any
    comparison: str = "rel"
    tolerance: Any = None
    hypothesis: str | None = None
    alternative: str | None = None  # evidence: what the data must exclude, in words
    alternative_value: Any = None  # evidence: a single value the interval must exclude, if any
    worst_of: Any = 1  # evidence: Bonferroni correction for a rule over the worst of m members
    design: str = ""  # evidence: the seeds, grid and budget it rests on
    role: str | None = None  # evidence: one of ROLES
    statistic: str = "mean"  # evidence: one of STATISTICS
    # evidence, binomial: the rule (comparison, threshold) that makes each seed's value its
    # 0/1 outcome, e.g. ("at_least", 0.9) for "this seed kept the goal"; the claim's own
    # prediction is then about the fraction of seeds with the outcome
    outcome: tuple | None = None
    # evidence: the values the statistic can take, e.g. (0, 1) for a fraction; its interval is
    # intersected with them (the true value lies there, so coverage is kept)
    support: tuple | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"claim {self.id!r}: kind must be one of {KINDS}, not {self.kind!r}")
        if self.comparison not in COMPARISONS:
            raise ValueError(f"claim {self.id!r}: unknown comparison {self.comparison!r}")
        if self.kind == "evidence" and not self.alternative:
            raise ValueError(f"evidence {self.id!r} must name its alternative")
        if self.kind == "check" and (self.alternative or self.alternative_value is not None or self.design
                                     or self.role is not None):
            raise ValueError(f"check {self.id!r}: alternatives, designs and roles belong to evidence")
        if self.kind == "evidence":
            if self.role not in ROLES:
                raise ValueError(f"evidence {self.id!r}: role must be one of {', '.join(ROLES)}, not {self.role!r}")
            if (self.role in ("core", "law")) != (self.hypothesis is not None):
                raise ValueError(f"evidence {self.id!r}: a {self.role} claim "
                                 + ("needs a hypothesis" if self.role in ("core", "law") else "bears on no hypothesis"))
            if self.statistic not in STATISTICS:
                raise ValueError(f"evidence {self.id!r}: statistic must be one of {', '.join(STATISTICS)}, "
                                 f"not {self.statistic!r}")
            if self.statistic == "binomial" and self.comparison not in ("at_least", "at_most"):
                # no interval of finitely many trials lies inside a single value
                raise ValueError(f"evidence {self.id!r}: a binomial fraction is compared at_least or at_most")
            if self.outcome is not None and (self.statistic != "binomial" or len(self.outcome) != 2
                                             or self.outcome[0] not in COMPARISONS):
                raise ValueError(f"evidence {self.id!r}: an outcome rule is (comparison, threshold), for a "
                                 f"binomial statistic")

    @property
    def is_evidence(self) -> bool:
        return self.kind == "evidence"

    def runtime_fields(self) -> tuple[str, ...]:
        """The fields whose value the notebook must pass to `record`."""
        return tuple(name for name in ("predicted", "tolerance", "alternative_value", "worst_of")
                     if isinstance(getattr(self, name), Computed))


def check(id: str, statement: str, predicted: Any, comparison: str = "rel", tolerance: Any = None,
          hypothesis: str | None = None) -> Declared:
    """Declare a check: an identity, a derivation, or the code and data being what they say (enforced)."""
    return Declared(id, statement, "check", predicted, comparison, tolerance, hypothesis)


def evidence(id: str, statement: str, predicted: Any, alternative: str, comparison: str = "rel",
             tolerance: Any = None, hypothesis: str | None = None, alternative_value: Any = None,
             worst_of: Any = 1, design: str = "", role: str | None = None, statistic: str = "mean",
             outcome: tuple | None = None, support: tuple | None = None) -> Declared:
    """Declare evidence: a prediction about the world that could come out either way, its
    role for its hypothesis (ROLES) and the statistic its interval is taken over (STATISTICS)."""
    return Declared(id, statement, "evidence", predicted, comparison, tolerance, hypothesis, alternative,
                    alternative_value, worst_of, design, role, statistic, outcome, support)


def value_of(declared: Any, params: Mapping[str, Any]) -> Any:
    """A declared plain value, or a function of the parameters evaluated at them."""
    return declared(params) if callable(declared) else declared


class _Fields(dict):
    def __missing__(self, key):
        raise KeyError(key)


def fill(template: str, params: Mapping[str, Any], context: Mapping[str, Any] | None = None) -> str:
    """A statement with its `{name}` fields filled from the parameters and the record's context."""
    if not template or "{" not in template:
        return template
    fields = _Fields(params)
    fields.update(context or {})
    try:
        return string.Formatter().vformat(template, (), fields)
    except KeyError as err:
        raise ValueError(f"statement {template[:60]!r}...: no parameter or context value {err.args[0]!r}") from None


def describe(value: Any) -> str:
    """A declared value in words, for the prediction table."""
    from goaldrift.book.claims import format_value

    if isinstance(value, Computed):
        return str(value)
    if callable(value):
        return getattr(value, "__doc__", None) or "a function of the parameters"
    return format_value(value)


def by_id(declarations: tuple[Declared, ...] | list[Declared]) -> dict[str, Declared]:
    out: dict[str, Declared] = {}
    for d in declarations:
        if d.id in out:
            raise ValueError(f"claim {d.id!r} declared twice")
        out[d.id] = d
    return out


Prediction = Callable[[Mapping[str, Any]], Any]


def predictions_markdown(declarations, params: Mapping[str, Any]) -> str:
    """The chapter's predictions as declared before measuring: one row per claim."""
    from goaldrift.tables import literal as cell, markdown_table  # markdown_table escapes '|'

    rows = []
    for d in declarations:
        predicted = value_of(d.predicted, params) if not isinstance(d.predicted, Computed) else d.predicted
        tolerance = value_of(d.tolerance, params) if not isinstance(d.tolerance, Computed) else d.tolerance
        rule = COMPARISONS[d.comparison].replace("tolerance", f"tol ({describe(tolerance)})") \
            if tolerance is not None else COMPARISONS[d.comparison]
        if d.is_evidence:
            alt = _filled(d.alternative, params)
            if d.alternative_value is not None:
                alt += f" (value {describe(value_of(d.alternative_value, params) if not isinstance(d.alternative_value, Computed) else d.alternative_value)})"
            design = _filled(d.design, params) or "—"
        else:
            alt, design = "—", "—"
        statement = _filled(d.statement, params)
        if d.is_evidence:
            rule += f"; interval: {STATISTICS[d.statistic]}"
            if d.outcome is not None:
                rule += f"; a seed's outcome: its value {COMPARISONS[d.outcome[0]].split(' ')[1]} {describe(d.outcome[1])}"
        hypothesis = (f"{d.hypothesis} ({d.role})" if d.hypothesis else d.role) if d.is_evidence else (d.hypothesis or "—")
        rows.append([f"`{d.id}`", d.kind, hypothesis, cell(statement), cell(describe(predicted)),
                     cell(rule), cell(alt), cell(design)])
    return markdown_table(["claim", "kind", "hypothesis (role)", "statement", "predicted", "rule", "alternative",
                           "design"], rows)


def _filled(template: str, params: Mapping[str, Any]) -> str:
    """A template filled from the parameters; a field the chapter fills only when it records
    (its `context`) is left as `{name}`, since before measuring it has no value yet."""
    try:
        return fill(template, params)
    except ValueError:
        return template
