"""Parameter profiles: smoke (proves a chapter runs), default (the published
site, a 2-core CPU), paper (the published scale, meant for a GPU)."""

from __future__ import annotations

import os
from pathlib import Path

from goaldrift.book.chapter import Chapter
from goaldrift.book.chapters import get_chapter
from goaldrift.book.params import ParamError, validate
from goaldrift.paths import REPO_ROOT

PROFILES = ("smoke", "default", "paper")
# Under smoke, claims are recorded but not enforced: the small sizes only prove
# that the notebook runs end to end.
ENFORCED = {"smoke": False, "default": True, "paper": True}


def resolve(chapter: Chapter, profile: str, overrides: dict[str, str] | None = None) -> dict:
    """The chapter's parameter values for a profile, with command-line overrides
    (strings, parsed by the declared type), validated as a whole."""
    if profile not in PROFILES:
        raise ParamError(f"unknown profile {profile!r} (known: {', '.join(PROFILES)})")
    values = chapter.defaults()
    values.update(chapter.profiles.get(profile, {}))
    declared = {p.name: p for p in chapter.params}
    for name, text in (overrides or {}).items():
        if name not in declared:
            raise ParamError(
                f"unknown parameter {name!r} for chapter {chapter.name!r} "
                f"(known: {', '.join(declared)})"
            )
        values[name] = declared[name].parse(text)
    return validate(chapter.params, chapter.constraints, values, changed=list(overrides or {}))


PROFILE_ENV = "GOALDRIFT_PROFILE"
INTERACTIVE_ENV = "GOALDRIFT_INTERACTIVE_DIR"


def interactive_parameters(name: str, namespace: dict | None = None) -> dict:
    """The parameters of a chapter opened in JupyterLab and run top to bottom (no
    papermill): the values of the profile named by $GOALDRIFT_PROFILE (default
    "default"), with claims.json sent to _build/interactive/CHAPTER (or
    $GOALDRIFT_INTERACTIVE_DIR/CHAPTER), so the stored chapters in book/ stay clean.

    A parameter the reader already set in ``namespace`` (the notebook's globals, e.g. a line
    `weight_decay = 4.5` above the call) keeps its value: the profile fills only the others,
    the values are validated together with the CLI's rules and messages, and the ones that
    differ from the profile are printed. Under `goaldrift run` this call is replaced by the
    spec's defaults and papermill's values."""
    profile = os.environ.get(PROFILE_ENV) or "default"
    chapter = get_chapter(name)
    from_profile = resolve(chapter, profile)
    namespace = namespace or {}
    mine = {p.name: namespace[p.name] for p in chapter.params
            if p.name in namespace and namespace[p.name] != from_profile[p.name]}
    values = validate(chapter.params, chapter.constraints, {**from_profile, **mine}, changed=list(mine))
    root = Path(os.environ.get(INTERACTIVE_ENV) or REPO_ROOT / "_build" / "interactive")
    values["profile"] = profile
    values["output_dir"] = str(root / name)
    print(f"interactive run: profile {profile!r}, claims go to {values['output_dir']}")
    if mine:
        print("set in this notebook (the profile's value in brackets): "
              + ", ".join(f"{k} = {values[k]!r} ({from_profile[k]!r})" for k in mine))
    return values
