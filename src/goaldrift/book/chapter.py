"""What a chapter of the book is: its notebook, declared parameters, profiles and
claims (the specification each module in goaldrift.book.chapters fills in).

A chapter is a MyST Markdown notebook in book/chapters/ (read with jupytext)
with one cell tagged `parameters`. That cell holds no values: `goaldrift run`
writes the spec's defaults into it (goaldrift.book.notebooks) and papermill
injects the profile's values after it. The declared parameters (with valid
ranges and cross-parameter rules) are checked before papermill starts, so a
bad value never reaches a half-written run. The declared claims
(goaldrift.book.declarations) fix every prediction and decision rule before
the notebook measures anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from goaldrift.book.declarations import Declared
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
    # The chapter's training runs as a function of its parameters, for chapters
    # whose runs `goaldrift sweep CHAPTER` can train ahead (locally or on Ray)
    # into the cache the chapter then reads.
    sweep: Callable[[dict], list] | None = None
    # Every claim the notebook records, declared before it measures (in the order of the page).
    claims: tuple[Declared, ...] = ()

    @property
    def notebook(self) -> Path:
        """The stored chapter: a MyST Markdown notebook."""
        return BOOK_DIR / "chapters" / f"{self.name}.md"

    @property
    def claims_by_hypothesis(self) -> dict[str, tuple[str, ...]]:
        """hypothesis -> the ids of the declared claims that bear on it."""
        out: dict[str, tuple[str, ...]] = {}
        for d in self.claims:
            if d.hypothesis is not None:
                out[d.hypothesis] = out.get(d.hypothesis, ()) + (d.id,)
        return out

    def defaults(self) -> dict:
        return {p.name: p.default for p in self.params}


MAX_SEED = 2**31 - 1


def seed_param() -> Param:
    # below 2^31: a chapter derives a seed per run (seed * 1000 + i and the like), and numpy's and torch's
    # generators take at most 64 bits; 2^64 was accepted here and failed in the kernel
    return Param("seed", int, 0, "seed of the data and of every initialisation", low=0, high=MAX_SEED)


def proxy_network_params() -> list[Param]:
    """The parity-with-proxy task and its phase-1 network, as the proxy-drift chapters declare them."""
    return [
        Param("n_bits", int, 12, "input bits; bit 0 is the proxy", low=3, high=64),
        Param("k", int, 3, "parity order of the aligned goal (bits 1..k)", low=2, high=16),
        Param("width", int, 64, "hidden units of the one-hidden-layer ReLU network", low=8, high=4096),
        Param("n_train", int, 1024, "training examples per phase", low=64, high=1_000_000),
        Param("phase1_steps", int, 800, "full-batch AdamW steps of phase 1", low=10, high=1_000_000),
        Param("phase1_lr", float, 0.003, "phase-1 learning rate", low=1e-5, high=0.03),
        Param("phase1_weight_decay", float, 0.1, "phase-1 weight decay", low=0.0, high=1.0),
    ]
