"""Where tensors live: CUDA when present, else CPU, through one code path; used by
chapters grokking_replication, cleanup_scaling, ungrokking, proxy_drift,
protecting_goals, rotational_equilibrium, price_of_persistence.

Chapters never branch on the device; they ask for "auto" and get the
fastest machine this process can see, so the same notebook runs on a laptop
and on a GPU box.
"""

from __future__ import annotations

import os

import torch

# cuBLAS reads this when its handle is created, i.e. at the first matrix
# product on a GPU; setting it at import is harmless on a CPU.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

DEVICE_NAMES = ("auto", "cpu", "cuda")


def pick_device(name: str = "auto") -> torch.device:
    """Resolve a device name; "auto" prefers CUDA.

    Asking for "cuda" on a machine without it is an error rather than a
    silent fall-back, because a run cached as a GPU run must not quietly be
    a CPU run.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} requested but CUDA is not available")
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise ValueError(f"unknown device {name!r}; use one of {DEVICE_NAMES}")


def make_cuda_deterministic() -> None:
    """Same configuration, same numbers, also on a GPU.

    On CUDA the backward of an embedding lookup (index_put with accumulate)
    and some cuBLAS reductions sum in a thread-dependent order by default,
    so two identical runs drift apart in the last bits and a resumed run
    would not match an uninterrupted one. Deterministic kernels cost a
    little speed; an op without one raises instead of silently varying.
    Trainer calls it on construction.
    """
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False


def describe(device: torch.device) -> str:
    """A human-readable device string for provenance records."""
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return f"cpu ({torch.get_num_threads()} threads)"


THREADS_VAR = "GOALDRIFT_NUM_THREADS"


def cpu_threads_setting() -> int:
    """GOALDRIFT_NUM_THREADS as a thread count (default 1); ValueError, one
    line, for anything but a whole number >= 1 (an empty value included)."""
    raw = os.environ.get(THREADS_VAR)
    if raw is None:
        return 1
    try:
        threads = int(raw.strip())
    except ValueError:
        threads = 0
    if threads < 1:
        raise ValueError(f"{THREADS_VAR}={raw!r}: must be a whole number of CPU threads >= 1 (default 1)")
    return threads


def set_cpu_threads() -> int:
    """Use GOALDRIFT_NUM_THREADS CPU threads (default 1) for torch's kernels.

    The book's models are small: one thread per process is as fast as two on
    them, and OpenMP threads spinning on an oversubscribed machine (a kernel
    executing a chapter beside a test process, or several runs at once) made
    tiny runs 30x slower here. Set GOALDRIFT_NUM_THREADS=2 or more for large
    models on an otherwise idle machine.
    """
    threads = cpu_threads_setting()
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


try:
    set_cpu_threads()
except ValueError as _err:  # importing must not fail; the command refuses the value before any work
    import warnings

    warnings.warn(f"{_err}; using 1 thread", stacklevel=2)
    torch.set_num_threads(1)
