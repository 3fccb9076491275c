"""Where a result came from: code version, library versions, device, CPU kernels."""

from __future__ import annotations

import os
import platform
import subprocess
from functools import lru_cache

from goaldrift.engine.device import describe, pick_device
from goaldrift.numerics import describe as numerics_record
from goaldrift.paths import REPO_ROOT


@lru_cache(maxsize=1)
def git_commit() -> str:
    """The checked-out commit, with '+dirty' when tracked files differ from it.

    A copy of the tree without its git history (as sent to a lent GPU machine)
    names its commit in GOALDRIFT_COMMIT."""
    if os.environ.get("GOALDRIFT_COMMIT"):
        return os.environ["GOALDRIFT_COMMIT"]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT, capture_output=True, text=True, check=True,
        ).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def versions() -> dict[str, str]:
    import matplotlib
    import numpy
    import sympy
    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "sympy": sympy.__version__,
        "matplotlib": matplotlib.__version__,
    }


def device_description() -> str:
    return describe(pick_device("auto"))


def provenance() -> dict:
    return {"git_commit": git_commit(), "versions": versions(), "device": device_description(),
            "numerics": numerics_record()}
