"""The chapter registry: every chapter specification (one module per chapter,
ch01_... to ch13_..., numbered in the order they were written), by name, in reading order."""

from __future__ import annotations

from goaldrift.book.chapter import Chapter
from goaldrift.book.chapters.ch01_l2_equilibrium import L2_EQUILIBRIUM
from goaldrift.book.chapters.ch02_factorised_simplicity import FACTORISED_SIMPLICITY
from goaldrift.book.chapters.ch03_rotational_equilibrium import ROTATIONAL_EQUILIBRIUM
from goaldrift.book.chapters.ch04_grokking_replication import GROKKING_REPLICATION
from goaldrift.book.chapters.ch05_cleanup_scaling import CLEANUP_SCALING
from goaldrift.book.chapters.ch06_ungrokking import UNGROKKING
from goaldrift.book.chapters.ch07_proxy_drift import PROXY_DRIFT
from goaldrift.book.chapters.ch08_drift_beyond_the_toy import DRIFT_BEYOND_THE_TOY
from goaldrift.book.chapters.ch09_protecting_goals import PROTECTING_GOALS
from goaldrift.book.chapters.ch10_price_of_persistence import PRICE_OF_PERSISTENCE
from goaldrift.book.chapters.ch11_real_runs_decay import REAL_RUNS_DECAY
from goaldrift.book.chapters.ch12_which_simplicity import WHICH_SIMPLICITY
from goaldrift.book.chapters.ch13_transformer_drift import TRANSFORMER_DRIFT
from goaldrift.book.params import ParamError

# In reading order (the order of _toc.yml, of the verdicts page and of `goaldrift book`).
CHAPTERS: dict[str, Chapter] = {
    c.name: c
    for c in [
        L2_EQUILIBRIUM, FACTORISED_SIMPLICITY, ROTATIONAL_EQUILIBRIUM,
        GROKKING_REPLICATION, CLEANUP_SCALING, UNGROKKING,
        PROXY_DRIFT, DRIFT_BEYOND_THE_TOY, WHICH_SIMPLICITY, TRANSFORMER_DRIFT, PROTECTING_GOALS, PRICE_OF_PERSISTENCE,
        REAL_RUNS_DECAY,
    ]
}


def get_chapter(name: str) -> Chapter:
    if name not in CHAPTERS:
        raise ParamError(f"unknown chapter {name!r} (known: {', '.join(CHAPTERS)})")
    return CHAPTERS[name]
