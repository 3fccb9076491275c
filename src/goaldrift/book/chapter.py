"""What a chapter of the book is: its notebook, declared parameters, profiles and
checks (the specification each module in goaldrift.book.chapters fills in).

A chapter is a notebook in book/chapters/ with one cell tagged `parameters`
whose values are the `default` profile. Its declared parameters (with valid
ranges and cross-parameter rules) are checked before papermill starts, so a
bad value never reaches a half-written run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from goaldrift.book.params import Constraint, Param
from goaldrift.paths import BOOK_DIR


@dataclass(frozen=True)
class Chapter:
    name: str
    title: str
    params: list[Param]
    # Values that differ from the defaults, per profile ("default" uses the defaults).
    profiles: dict[str, dict] = field(default_factory=dict)
    constraints: list[Constraint] = field(default_factory=list)
    # Which hypotheses of the book (goaldrift.book.hypotheses) this chapter tests, and the
    # claim whose measured value the front page quotes for them.
    hypotheses: tuple[str, ...] = ()
    headline_claim: str | None = None
    # For a chapter that tests several hypotheses: which claims bear on which
    # (hypothesis -> claim ids; the first id is that hypothesis's headline).
    claims_by_hypothesis: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # The chapter's training runs as a function of its parameters, for chapters
    # whose runs `goaldrift sweep CHAPTER` can train ahead (locally or on Ray)
    # into the cache the chapter then reads.
    sweep: Callable[[dict], list] | None = None

    @property
    def notebook(self) -> Path:
        return BOOK_DIR / "chapters" / f"{self.name}.ipynb"

    def defaults(self) -> dict:
        return {p.name: p.default for p in self.params}


def seed_param() -> Param:
    return Param("seed", int, 0, "seed of the data and of every initialisation", low=0)
