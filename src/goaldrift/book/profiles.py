"""Parameter profiles: smoke (proves a chapter runs), default (the published
site, a 2-core CPU), paper (the published scale, meant for a GPU); used by every chapter."""

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
    return validate(chapter.params, chapter.constraints, values)


PROFILE_ENV = "GOALDRIFT_PROFILE"
INTERACTIVE_ENV = "GOALDRIFT_INTERACTIVE_DIR"


def interactive_defaults(name: str, namespace: dict) -> None:
    """For a chapter opened in JupyterLab and run top to bottom (no papermill, so
    `output_dir` is still ""): take the profile from $GOALDRIFT_PROFILE (default
    "default"), set every parameter to that profile's value, and send claims.json
    to _build/interactive/CHAPTER (or $GOALDRIFT_INTERACTIVE_DIR/CHAPTER), so the
    stored notebooks in book/ stay clean. Under papermill (output_dir set) it does nothing."""
    if namespace.get("output_dir"):
        return
    profile = os.environ.get(PROFILE_ENV, "default")
    values = resolve(get_chapter(name), profile)
    root = Path(os.environ.get(INTERACTIVE_ENV) or REPO_ROOT / "_build" / "interactive")
    namespace.update(values)
    namespace["profile"] = profile
    namespace["output_dir"] = str(root / name)
    print(f"interactive run: profile {profile!r}, claims go to {namespace['output_dir']}")
