"""Parameter profiles: smoke (proves a chapter runs), default (the published
site, a 2-core CPU), paper (the published scale, meant for a GPU); used by every chapter."""

from __future__ import annotations

from goaldrift.book.chapter import Chapter
from goaldrift.book.params import ParamError, validate

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
