"""Where tensors live: CUDA when present, else CPU, through one code path.

Chapters never branch on the device; they ask for "auto" and get the
fastest machine this process can see, so the same notebook runs on a laptop
and on a GPU box.
"""

from __future__ import annotations

import os
import threading

import torch

from goaldrift.settings import THREADS_VAR, count_setting, cpu_threads_setting  # noqa: F401 (re-exported)

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


# ---- subnormal floats --------------------------------------------------------
#
# Once the softmax saturates, the backward pass fills with subnormal floats
# (below ~1.2e-38 in float32), and x86 CPUs compute on them ~4x slower: a
# p=113 step from a memorised state took 0.51 s instead of 0.11 s. FTZ/DAZ
# (flush-to-zero, denormals-are-zero) treats them as 0. It is a per-thread
# CPU mode (MXCSR): torch.set_flush_denormal sets the calling thread only,
# and torch's intra-op workers (one OpenMP pool per calling thread, shared by
# MKL) keep the mode they were created with. A new thread inherits its
# creator's mode, so a pool created after FTZ is set flushes in every worker,
# while a pool that already existed never learns of it (measured: setting it
# late, or torch.set_num_threads, leaves the workers' chunks unflushed).
# Hence the engine trains on CPU in a fresh thread of its own that sets FTZ
# first: its pool is new and inherits it, whatever ran in the process before.

SUBNORMAL_BITS = 0x00100000  # a float32 subnormal, ~1.47e-39, as int32 bits


def flush_denormals() -> bool:
    """FTZ/DAZ on the calling thread (and on the workers of a pool it creates
    later); False where the CPU does not support it."""
    return bool(torch.set_flush_denormal(True))


def workers_flush_denormals() -> bool:
    """Do this thread and all its intra-op workers flush subnormals?

    Reads the effect directly, not a timing: a float32 tensor of subnormals,
    long enough to be split across every intra-op thread, times 1 must come
    out exactly zero in every chunk (DAZ reads the inputs as 0). The bits are
    compared as integers, which no float mode touches.
    """
    n = max(2, torch.get_num_threads()) * (1 << 16)
    x = torch.full((n,), SUBNORMAL_BITS, dtype=torch.int32).view(torch.float32)
    return not bool((x * 1.0).view(torch.int32).ne(0).any())


def call_with_flushed_denormals(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` in a fresh thread with FTZ/DAZ set before its
    first parallel op, so that the intra-op pool it creates inherits the mode.

    Returns (fn's result, provenance record). An exception in fn is raised
    here; Ctrl-C here sets ``stop`` (passed to fn as ``stop=``, a
    threading.Event it should poll) and waits for fn to return.
    """
    stop = threading.Event()
    box: dict = {}

    def work():
        try:
            box["ftz"] = flush_denormals()
            box["workers_flush"] = workers_flush_denormals()
            box["result"] = fn(*args, stop=stop, **kwargs)
        except BaseException as e:  # re-raised in the caller's thread
            box["error"] = e

    t = threading.Thread(target=work, name="goaldrift-ftz")
    t.start()
    while True:
        try:
            t.join()
            break
        except KeyboardInterrupt:
            stop.set()
            box.setdefault("error", KeyboardInterrupt())
    if "error" in box:
        raise box["error"]
    record = {"flush_denormals": box["ftz"], "workers_flush_denormals": box["workers_flush"],
              "how": "fresh training thread (intra-op pool inherits FTZ/DAZ)"}
    return box["result"], record
