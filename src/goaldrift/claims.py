"""Predicted-vs-measured claims: recorded, glued into the prose, and enforced.

A chapter states each prediction before it measures, then records the
comparison here. Every record goes to `claims.json` beside the executed
notebook; the numbers are also glued (myst-nb) so the prose quotes what was
measured, never a typed-in value. Under enforced profiles a failing claim
fails the chapter (after the verdict table has been shown).

Two sorts of claim:
- enforced (the default): a derivation checked by measurement. If it fails,
  either the code or the theory is wrong, and the chapter must fail.
- `enforce=False`: a hypothesis from the literature under test, where either
  outcome is a result. It is shown as "holds" or "refuted", never hidden, and
  does not fail the chapter. Its tolerance is still stated in advance.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

CLAIMS_FILE = "claims.json"

# How `measured` is compared with `predicted`.
COMPARISONS = {
    "rel": "|measured - predicted| <= tolerance * |predicted|",
    "abs": "|measured - predicted| <= tolerance",
    "at_most": "measured <= predicted",
    "at_least": "measured >= predicted",
    "equal": "measured == predicted",
}


class ClaimFailure(AssertionError):
    """An enforced claim failed: the chapter's measurement contradicts its prediction."""


@dataclass
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

    def verdict(self) -> str:
        if self.enforced:
            return "pass" if self.passed else "FAIL"
        return "holds" if self.passed else "refuted"


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
    """The claims of one executed chapter."""

    def __init__(self, chapter: str, profile: str = "default", output_dir: str | os.PathLike = ""):
        from goaldrift.profiles import ENFORCED  # late: profiles imports the chapter registry

        self.chapter = chapter
        self.profile = profile
        self.enforcing = ENFORCED.get(profile, True)
        self.output_dir = Path(output_dir) if output_dir else None
        self.claims: list[Claim] = []

    def check(
        self,
        id: str,
        statement: str,
        predicted: Any,
        measured: Any,
        tolerance: float | None = None,
        comparison: str = "rel",
        enforce: bool = True,
    ) -> Claim:
        if any(c.id == id for c in self.claims):
            raise ValueError(f"claim {id!r} recorded twice")
        predicted, measured = _plain(predicted), _plain(measured)
        claim = Claim(
            id=id,
            chapter=self.chapter,
            statement=statement,
            predicted=predicted,
            measured=measured,
            tolerance=tolerance,
            comparison=comparison,
            passed=bool(compare(predicted, measured, comparison, tolerance)),
            enforced=enforce,
        )
        self.claims.append(claim)
        glue_value(f"{id}_predicted", predicted)
        glue_value(f"{id}_measured", measured)
        glue_value(f"{id}_verdict", claim.verdict())
        return claim

    def failures(self) -> list[Claim]:
        return [c for c in self.claims if c.enforced and not c.passed]

    def table(self):
        """The chapter's verdict table, as a displayable Markdown object."""
        from IPython.display import Markdown

        return Markdown(verdict_markdown(self.claims, with_chapter=False))

    def save(self) -> Path | None:
        if self.output_dir is None:
            return None
        self.output_dir.mkdir(parents=True, exist_ok=True)
        path = self.output_dir / CLAIMS_FILE
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps([asdict(c) for c in self.claims], indent=2, default=str))
        os.replace(tmp, path)
        return path

    def finish(self) -> None:
        """Write claims.json; under an enforced profile, fail on any failed claim."""
        self.save()
        failed = self.failures()
        if failed and self.enforcing:
            lines = "; ".join(
                f"{c.id}: predicted {format_value(c.predicted)}, measured {format_value(c.measured)}"
                for c in failed
            )
            raise ClaimFailure(f"{len(failed)} enforced claim(s) failed: {lines}")


def glue_value(name: str, value: Any) -> None:
    """Glue a number for the prose ({glue:text}`name`); silent outside a notebook."""
    try:
        from myst_nb import glue
    except ImportError:  # the library is usable without the book toolchain
        return
    glue(name, _plain(value), display=False)


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
    "verdict": (lambda v: v is None or v in ("pass", "FAIL", "supported", "refuted", "inconclusive"),
                "pass or FAIL (a check), supported, refuted or inconclusive (evidence)"),
    "interval_low": (lambda v: v is None or _number(v) or isinstance(v, str), "a number or a string"),
    "interval_high": (lambda v: v is None or _number(v) or isinstance(v, str), "a number or a string"),
    "alternative": (lambda v: v is None or _number(v) or isinstance(v, str), "a number or a string"),
    "rule": (lambda v: v is None or _number(v) or isinstance(v, str), "a number or a string"),
}


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
    numeric = record["comparison"] != "equal" and _number(record["predicted"]) and _number(record["measured"])
    if numeric:
        try:
            recomputed = compare(record["predicted"], record["measured"], record["comparison"], record["tolerance"])
        except ValueError as err:
            raise ClaimSchemaError(f"{label}: {err}") from None
        if recomputed != record["passed"]:
            raise ClaimSchemaError(f"{label}: 'passed' is {record['passed']} but its predicted and measured "
                                   f"values say {recomputed}")
    return record


def load_claims(path: str | os.PathLike) -> list[Claim]:
    """The claims in a claims.json, validated; ClaimSchemaError (one line) otherwise."""
    path = Path(path)
    try:
        records = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ClaimSchemaError(f"cannot read {path}: {str(err).splitlines()[0]}") from None
    if not isinstance(records, list):
        raise ClaimSchemaError(f"{path}: must hold a list of claims, not {type(records).__name__}")
    seen = set()
    fields = {f.name for f in dataclasses.fields(Claim)}
    claims = []
    for i, record in enumerate(records):
        validate_record(record, f"{path}, claim {i + 1}")
        if record["id"] in seen:
            raise ClaimSchemaError(f"{path}: claim {record['id']!r} appears twice")
        seen.add(record["id"])
        claims.append(Claim(**{k: v for k, v in record.items() if k in fields}))
    return claims


def verdict_markdown(claims: list[Claim], with_chapter: bool = True) -> str:
    head = ["claim", "statement", "predicted", "measured", "rule", "verdict"]
    if with_chapter:
        head.insert(0, "chapter")
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in claims:
        rule = COMPARISONS[c.comparison].replace("|", "\\|")
        if c.tolerance is not None and c.comparison in ("rel", "abs"):
            rule = rule.replace("tolerance", format_value(c.tolerance))
        cells = [
            f"`{c.id}`",
            c.statement.replace("|", "\\|"),
            format_value(c.predicted),
            format_value(c.measured),
            rule,
            f"**{c.verdict()}**",
        ]
        if with_chapter:
            cells.insert(0, c.chapter)
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)
