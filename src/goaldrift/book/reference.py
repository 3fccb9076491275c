"""The committed reference build, and how a regeneration is compared with it.

`results/default/CHAPTER/claims.json` holds what the default profile measured
when the reference was last refreshed (with `reference.json` beside the
chapters: commit, numerics, date). `goaldrift compare BUILD [REFERENCE]` lists
every claim whose verdict differs, and every measured value that differs
beyond its claim's tolerance; a verdict difference is the one that fails
(exit 1), because the book's answer is its verdicts. `.ci/run` runs it after
`make book`; the *How this book was built* page states the same comparison.

A deliberate change refreshes the reference in the same commit
(`goaldrift compare _build/executed --update`), and the commit message says why.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from goaldrift.book.chapters import CHAPTERS
from goaldrift.book.claims import CLAIMS_FILE, Claim, format_value, interval_text, load_claims
from goaldrift.book.execute import read_run_info
from goaldrift.book.snapshots import results_dir
from goaldrift.tables import markdown_table

REFERENCE_PROFILE = "default"
REFERENCE_INFO = "reference.json"


def reference_dir() -> Path:
    return results_dir() / REFERENCE_PROFILE


@dataclass(frozen=True)
class Difference:
    chapter: str
    claim: str  # "" for a difference of the whole chapter
    what: str  # "verdict", "measured", "missing", "added", "chapter missing"
    reference: str
    build: str

    @property
    def decisive(self) -> bool:
        """Does it change the book's answer? (A verdict, or a claim or chapter gone or new.)"""
        return self.what != "measured"


def _numeric(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def beyond_tolerance(reference: Claim, build: Claim) -> bool:
    """Do two measurements of one claim differ by more than the claim's tolerance?

    `rel` and `abs` claims carry their tolerance; a claim without one (at_least,
    at_most, equal) counts any change. NaN equals NaN: both builds found no value.
    """
    a, b = reference.measured, build.measured
    if not (_numeric(a) and _numeric(b)):
        return a != b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) != math.isnan(b)
    if reference.tolerance is None or reference.comparison not in ("rel", "abs"):
        return a != b
    allowed = reference.tolerance * (abs(float(reference.predicted)) if reference.comparison == "rel" else 1.0)
    return abs(a - b) > allowed


def chapter_differences(name: str, reference: list[Claim], build: list[Claim]) -> list[Difference]:
    ref = {c.id: c for c in reference}
    new = {c.id: c for c in build}
    out = []
    for cid, r in ref.items():
        b = new.get(cid)
        if b is None:
            out.append(Difference(name, cid, "missing", r.verdict, "not recorded"))
        elif b.verdict != r.verdict:
            out.append(Difference(name, cid, "verdict", _said(r), _said(b)))
        elif beyond_tolerance(r, b):
            out.append(Difference(name, cid, "measured", format_value(r.measured), format_value(b.measured)))
    out += [Difference(name, cid, "added", "not in the reference", b.verdict) for cid, b in new.items() if cid not in ref]
    return out


def _said(c: Claim) -> str:
    text = f"{c.verdict}, {format_value(c.measured)}"
    return text + f" {interval_text(c)}" if c.is_evidence and c.interval_low != c.interval_high else text


def compare_builds(build: Path, reference: Path | None = None) -> list[Difference]:
    """Every difference between an executed build (one folder per chapter) and the reference.

    A chapter the reference has and the build lacks is a difference; a build of
    only some chapters (a re-run of one) is compared on what it has only when the
    reference lacks the rest too, so that `compare` never passes a partial build.
    """
    reference = reference or reference_dir()
    for folder, what in ((build, "build"), (reference, "reference")):
        if not Path(folder).is_dir():
            raise FileNotFoundError(f"{what} folder {str(folder)!r} does not exist")
    out = []
    for name in CHAPTERS:
        ref_file, new_file = reference / name / CLAIMS_FILE, build / name / CLAIMS_FILE
        if not ref_file.exists() and not new_file.exists():
            continue
        if not new_file.exists():
            out.append(Difference(name, "", "chapter missing", "in the reference", "not in this build"))
            continue
        if not ref_file.exists():
            out.append(Difference(name, "", "added", "not in the reference", "in this build"))
            continue
        out += chapter_differences(name, load_claims(ref_file), load_claims(new_file))
    return out


def reference_info(reference: Path | None = None) -> dict | None:
    try:
        info = json.loads(((reference or reference_dir()) / REFERENCE_INFO).read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def differences_table(diffs: list[Difference]) -> str:
    return markdown_table(["chapter", "claim", "what differs", "reference", "this build"],
                          [[d.chapter, f"`{d.claim}`" if d.claim else "—", d.what, d.reference, d.build]
                           for d in diffs])


def agreement_markdown(build: Path, reference: Path | None = None) -> str:
    """The *How this book was built* page's paragraph on the reference build."""
    reference = reference or reference_dir()
    info = reference_info(reference)
    if info is None:
        return "No reference build is committed (`results/default/`): this build was not compared."
    where = (f"the committed reference build (`results/{REFERENCE_PROFILE}/`, commit "
             f"`{str(info.get('git_commit', 'unknown'))[:12]}`, numerics {info.get('numerics', 'unknown')})")
    try:
        diffs = compare_builds(build, reference)
    except (OSError, ValueError) as err:
        return f"This build could not be compared with {where}: {str(err).splitlines()[0]}."
    decisive = [d for d in diffs if d.decisive]
    if not diffs:
        return f"This build **agrees** with {where}: every verdict, and every measured value within its tolerance."
    head = (f"This build **agrees** with {where} in every verdict; {len(diffs)} measured value(s) differ "
            f"beyond their claim's tolerance:" if not decisive else
            f"This build **differs** from {where}: {len(decisive)} verdict(s) or claim(s) differ, and "
            f"{len(diffs) - len(decisive)} measured value(s) beyond tolerance:")
    return head + "\n\n" + differences_table(diffs)


def update_reference(build: Path, reference: Path | None = None) -> Path:
    """Make `build` the reference: each chapter's claims.json and a reference.json.

    Refused (ValueError, one line) unless every chapter was executed at the
    reference profile and finished ok; the old reference is replaced only once
    the new one is complete, so a refused or failed update loses nothing.
    """
    reference = reference or reference_dir()
    infos = {name: read_run_info(build / name) for name in CHAPTERS}
    for name, info in infos.items():
        if info is None or not (build / name / CLAIMS_FILE).exists():
            raise ValueError(f"{name} was not executed in {str(build)!r}: the reference needs every chapter")
        if info.get("profile") != REFERENCE_PROFILE or not info.get("ok"):
            raise ValueError(f"{name} in {str(build)!r} is not a finished {REFERENCE_PROFILE}-profile run "
                             f"(profile {info.get('profile')!r}, ok {info.get('ok')!r})")
    first = next(iter(infos.values()))
    staging = reference.with_name(reference.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    for name in CHAPTERS:
        (staging / name).mkdir(parents=True)
        shutil.copyfile(build / name / CLAIMS_FILE, staging / name / CLAIMS_FILE)
    numerics = first.get("numerics") or {}
    (staging / REFERENCE_INFO).write_text(json.dumps({
        "profile": REFERENCE_PROFILE,
        "git_commit": first.get("git_commit"),
        "numerics": numerics.get("mode", "unknown") + (" (pinned)" if numerics.get("pinned") else ""),
        "cpu_model": numerics.get("cpu_model"),
        "device": first.get("device"),
        "updated": time.strftime("%Y-%m-%d"),
        # how long each chapter took: `goaldrift list CHAPTER` and `run` quote it as the expected time
        "wall_time_s": {name: info.get("wall_time_s") for name, info in infos.items()},
        # the bits differ between CPU vendors (goaldrift.numerics), so each chapter's machine is named
        "cpu_model_by_chapter": {name: (info.get("numerics") or {}).get("cpu_model") for name, info in infos.items()},
    }, indent=1) + "\n")
    old = reference.with_name(reference.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if reference.exists():
        os.replace(reference, old)
    os.replace(staging, reference)
    shutil.rmtree(old, ignore_errors=True)
    return reference
