"""How long a chapter takes, from the run records this checkout holds: nothing is estimated by hand.

For a profile, the time of the chapter's last run here at that profile
(_build/executed/CHAPTER/run_info.json), else the reference build's
(results/default/reference.json, for the default profile), else a
committed snapshot's (results/PROFILE/CHAPTER/run_info.json).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from goaldrift.book.execute import read_run_info
from goaldrift.book.snapshots import results_dir
from goaldrift.jsonfiles import read_json
from goaldrift.paths import EXECUTED_DIR


@dataclass(frozen=True)
class Timing:
    seconds: float
    source: str  # where the number comes from, in words

    def text(self) -> str:
        return f"{_duration(self.seconds)} ({self.source})"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def _seconds(info: dict | None, profile: str) -> float | None:
    if not info or info.get("profile") != profile or not info.get("ok"):
        return None
    value = info.get("wall_time_s")
    return float(value) if isinstance(value, (int, float)) and value >= 0 else None


def expected_time(chapter: str, profile: str, last_output: Path | None = None) -> Timing | None:
    """The chapter's last recorded time at ``profile`` (first from ``last_output``, the folder its
    last run wrote, default _build/executed/CHAPTER), or None if no record holds one."""
    seconds = _seconds(read_run_info(last_output or EXECUTED_DIR / chapter), profile)
    if seconds is not None:
        return Timing(seconds, "its last run here")
    try:
        reference = read_json(results_dir() / profile / "reference.json", "reference.json")
        seconds = float(reference["wall_time_s"][chapter])
        return Timing(seconds, "the reference build")
    except (OSError, ValueError, KeyError, TypeError):
        pass
    seconds = _seconds(read_run_info(results_dir() / profile / chapter), profile)
    if seconds is not None:
        return Timing(seconds, "its committed snapshot")
    return None
