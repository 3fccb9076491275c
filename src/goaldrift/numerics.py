"""Which CPU kernels compute the numbers: pinned to one instruction set, or native.

A float32 sum depends on the order of its terms, and the order depends on the
width of the vector instructions a kernel was built for. torch picks its
elementwise and reduction kernels (ATen) and MKL picks its matrix-product
kernels by the CPU they find, so the same configuration gave different bits on
an AVX-512 and an AVX2 machine, and grokking-type runs amplify a last-bit
difference into a different verdict (issue 26). In the default *portable* mode
every process that trains pins all three libraries to AVX2, which every x86-64
CPU of the last decade has:

    ATEN_CPU_CAPABILITY=avx2   ATen's elementwise and reduction kernels
    MKL_CBWR=AVX2              MKL's conditional numerical reproducibility branch
    ONEDNN_MAX_CPU_ISA=AVX2    oneDNN (no chapter model reaches it today)

Each library reads its variable at its first use, not at ``import torch``
(measured: set after ``import torch`` and before the first operation, the bits
are the pinned ones), so ``import goaldrift`` pins the process and every child
it starts (papermill kernels, ``engine.parallel`` workers); a Ray worker pins
itself when it imports goaldrift to run its first task. A process in which a CPU kernel ran
before goaldrift was imported cannot be pinned any more: ``import goaldrift``
then warns, in one line, and ``describe()`` records it.

What the pin costs is the speed of AVX-512 (``make bench`` prints the ratio).
``GOALDRIFT_NUMERICS=native`` keeps it; a native run's bits then belong to its
CPU, which is why the run cache keys native runs by CPU model and capability
(and portable runs by vendor).

What is guaranteed and what is not: the same bits on every CPU of one vendor,
not across vendors. MKL honours ``MKL_CBWR=AVX2`` on Intel CPUs; on other
vendors' CPUs Intel documents only the ``COMPATIBLE`` branch as reproducible,
and measured on an AMD EPYC every branch tried, COMPATIBLE included (four times
the step time), gives bits other than an Intel Xeon's. So the golden-bits test
and the run cache know the vendor (``cpu_vendor``), and agreement across vendors
is asked of verdicts (``goaldrift compare``), not of bits.

Imports nothing from goaldrift and nothing heavy: the CLI and the Makefile ask
it for the environment before torch is loaded.
"""

from __future__ import annotations

import os
import platform
import sys
import warnings
from functools import lru_cache

MODE_VAR = "GOALDRIFT_NUMERICS"
MODES = ("portable", "native")
DEFAULT_MODE = "portable"

# The one place the pinned settings are written; the Makefile and Ray read them from here.
PORTABLE_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
PINNED_CAPABILITY = "AVX2"  # what torch.backends.cpu.get_cpu_capability() reports when the pin took


class NumericsWarning(UserWarning):
    """The process computes with kernels other than the ones its mode asks for."""


def mode(environ=None) -> str:
    """GOALDRIFT_NUMERICS (default portable); ValueError, one line, for anything else."""
    raw = (os.environ if environ is None else environ).get(MODE_VAR)
    if raw is None or raw.strip() == "":
        return DEFAULT_MODE
    value = raw.strip().lower()
    if value not in MODES:
        raise ValueError(f"{MODE_VAR}={raw!r}: use one of {', '.join(MODES)} (default {DEFAULT_MODE})")
    return value


def environment(mode_name: str | None = None) -> dict[str, str]:
    """The variables a process of this mode runs with (empty for native)."""
    return dict(PORTABLE_ENV) if (mode_name or mode()) == "portable" else {}


def pin(environ=None) -> str:
    """Set this mode's variables in ``environ`` (os.environ by default) and return the mode.

    In portable mode they overwrite whatever was there: the mode is the one
    switch, so that a stray variable in a user's shell cannot make a
    "portable" run compute with other kernels. Native mode touches nothing.
    """
    environ = os.environ if environ is None else environ
    name = mode(environ)
    environ.update(environment(name))
    return name


def _cpuinfo(field: str) -> str | None:
    """The first value of ``field`` in /proc/cpuinfo (Linux), or None."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(field):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


@lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's marketing name (/proc/cpuinfo on Linux), else what platform knows."""
    return _cpuinfo("model name") or platform.processor() or platform.machine() or "unknown"


# /proc/cpuinfo's vendor_id, in the words the golden bits and the run cache use
VENDORS = {"GenuineIntel": "intel", "AuthenticAMD": "amd"}


@lru_cache(maxsize=1)
def cpu_vendor() -> str:
    """'intel', 'amd', or the raw vendor id ('unknown' where none is known).

    The pinned kernels give the same bits on CPUs of one vendor, not across
    vendors (measured 2026-12-03/04: every golden family differs between an
    Intel Xeon and an AMD EPYC, with every MKL_CBWR branch but COMPATIBLE giving
    the same AMD bits), so portable runs are keyed, and checked, per vendor.
    """
    raw = _cpuinfo("vendor_id")
    return VENDORS.get(raw, raw) if raw else "unknown"


def describe() -> dict:
    """What computed this process's numbers: the provenance of every run.

    Loads torch (so call it only where torch is in use): the capability ATen
    dispatches to, MKL's branch and version, and whether the pin took.
    """
    name = mode()
    capability, mkl_version = _torch_facts()
    record = {
        "mode": name,
        "cpu_model": cpu_model(),
        "cpu_vendor": cpu_vendor(),
        "aten_capability": capability,
        "mkl_cbwr": os.environ.get("MKL_CBWR", "unset (native dispatch)"),
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", "unset (native dispatch)"),
        "mkl_version": mkl_version,
    }
    record["pinned"] = name == "portable" and capability == PINNED_CAPABILITY and all(
        os.environ.get(k) == v for k, v in PORTABLE_ENV.items())
    return record


def cache_identity() -> dict:
    """The part of a CPU run's cache key that says which kernels computed it.

    Portable runs share one identity on every CPU of a vendor (that is what the
    golden-bits test checks; across vendors the bits differ, so the vendor is
    part of it); native runs are keyed by the CPU model and the capability as
    well, so a cache never hands a native run from one CPU to another, nor
    either mode's runs to the other.
    """
    record = describe()
    if record["mode"] == "portable" and record["pinned"]:
        return {"mode": "portable", **PORTABLE_ENV, "cpu_vendor": record["cpu_vendor"]}
    return {key: record[key] for key in ("mode", "cpu_model", "aten_capability", "mkl_cbwr")}


def warn_if_unpinned() -> bool:
    """One warning when a portable-mode process computes with other kernels. True if pinned."""
    record = describe()
    if record["mode"] == "portable" and not record["pinned"]:
        _warn(f"CPU kernels are not pinned (ATen {record['aten_capability']}, want {PINNED_CAPABILITY}): "
              f"torch computed before goaldrift was imported, or this CPU lacks AVX2; numbers may differ "
              f"from other machines (import goaldrift first, or set {MODE_VAR}=native)")
        return False
    return True


def pin_at_import() -> None:
    """What ``import goaldrift`` does: pin, and warn if torch already computed unpinned.

    Importing must not fail: a bad GOALDRIFT_NUMERICS warns here and falls back
    to portable; the CLI refuses it, in one line, before any work.
    """
    try:
        pin()
    except ValueError as err:
        _warn(f"{err}; using {DEFAULT_MODE}")
        os.environ.update(PORTABLE_ENV)
    # Asking torch for its capability fixes it, so ask only when torch is already loaded:
    # otherwise the first operation, after the variables above, reads them.
    if "torch" in sys.modules:
        warn_if_unpinned()


def _warn(message: str) -> None:
    # warn_explicit with a file name that has no source: one line on stderr, and still
    # a warning that -W / filterwarnings can silence or turn into an error
    warnings.warn_explicit(message, NumericsWarning, "goaldrift.numerics", 0, module="goaldrift.numerics")


@lru_cache(maxsize=1)
def _torch_facts() -> tuple[str, str]:
    """ATen's dispatch capability (fixed at its first use, so asking once is enough) and
    MKL's version as torch's build report names it ("none" for a build without MKL)."""
    import torch

    mkl = "none"
    for line in torch.__config__.show().splitlines():
        if "Math Kernel Library Version" in line:
            mkl = line.split("Version", 1)[1].split(" for ", 1)[0].strip()
    return torch.backends.cpu.get_cpu_capability(), mkl


def main() -> int:
    """This mode's variables as VAR=value words, for a shell (the Makefile's `lab`)."""
    try:
        name = mode()
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(" ".join(f"{k}={v}" for k, v in environment(name).items()) or f"{MODE_VAR}=native")
    return 0
