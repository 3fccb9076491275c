"""The environment variables that size the training processes, read without importing torch.

The command checks them before any work (and before torch's import-time
setup could warn about them), and the engine reads them through the same
functions, so both agree on what a good value is.
"""

from __future__ import annotations

import os

THREADS_VAR = "GOALDRIFT_NUM_THREADS"
WORKERS_VAR = "GOALDRIFT_WORKERS"
OVERSUBSCRIPTION = 4  # at most this many threads (or workers) per core: more only thrashes, and 10^5 crashed OpenMP


def max_count() -> int:
    return OVERSUBSCRIPTION * (os.cpu_count() or 1)


def count_setting(var: str, noun: str, default_note: str) -> int | None:
    """Environment variable ``var`` as a count (None when unset); ValueError, one
    line, for anything but a whole number from 1 to ``max_count()`` (an empty value included)."""
    raw = os.environ.get(var)
    if raw is None:
        return None
    try:
        count = int(raw.strip())
    except ValueError:
        count = 0
    if count < 1:
        raise ValueError(f"{var}={raw!r}: must be a whole number of {noun} >= 1 ({default_note})")
    if count > max_count():
        raise ValueError(f"{var}={raw!r}: at most {max_count()} {noun} ({OVERSUBSCRIPTION} per core of this "
                         f"machine's {os.cpu_count() or 1})")
    return count


def cpu_threads_setting() -> int:
    """GOALDRIFT_NUM_THREADS as a thread count (default 1); ValueError, one line, if bad."""
    return count_setting(THREADS_VAR, "CPU threads", "default 1") or 1


def worker_setting() -> int | None:
    """GOALDRIFT_WORKERS as a count (None when unset); ValueError, one line, if bad."""
    return count_setting(WORKERS_VAR, "worker processes", "default: one per usable core on a CPU, 1 on a GPU")
