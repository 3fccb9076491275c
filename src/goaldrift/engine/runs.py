"""The run cache: the hash of a run's key names the directory of its results.

A run's key is its configuration, digests of the tensors passed beside it, and
the sha256 of the source of the code that computes it (``code_digests``): the
engine's training loop, optimiser, models and tasks, and the modules of the
metric functions and observers it is given. A chapter asks for a run by
configuration; if that run has finished before with the same code (in this or
any earlier execution of the book) it is loaded, not retrained.
If it was interrupted, it resumes from its last checkpoint and ends with the
same bits as an uninterrupted run. Every file is written to a temporary name
and moved into place with ``os.replace``, so a crash mid-write leaves the
previous version readable, never half a file.

Layout of ``<root>/<hash>/``: config.json (the hashed key), checkpoint.pt
and checkpoint.sha256.json (while training), then weights.pt, metrics.npz,
provenance.json, and manifest.json last: the sha256 of every file, whose
presence marks the run as finished.

Nothing is trusted on load: config.json must be this run's key and hash to
the folder's name, and every file must match its recorded checksum. An
entry that fails (damaged, truncated, copied from another run) is renamed
aside as ``<hash>.quarantined-<time>`` with a one-line notice on stderr, and
the run is trained again.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import io
import json
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from goaldrift.engine.device import describe, pick_device
from goaldrift.engine.provenance import git_commit, versions
from goaldrift.engine.models import build_model
from goaldrift.engine.tasks import TASKS
from goaldrift.engine.train import DTYPES, METRICS, RunConfig, Trainer, TrainState, stack_metrics
from goaldrift.numerics import cache_identity
from goaldrift.numerics import describe as numerics_record
from goaldrift.paths import REPO_ROOT

ENV_VAR = "GOALDRIFT_RUNS_DIR"


def runs_root(root: str | os.PathLike | None = None) -> Path:
    """Argument, else $GOALDRIFT_RUNS_DIR, else ``runs/`` at the repo root."""
    if root is not None:
        return Path(root)
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    base = REPO_ROOT if (REPO_ROOT / "pyproject.toml").exists() else Path.cwd()
    return base / "runs"


# ---- keys and hashes ------------------------------------------------------

def tensor_digest(obj) -> str:
    """sha256 of everything in ``obj`` that could change a run: tensors by
    dtype, shape and bytes; scalars and strings by value; dicts, lists,
    tuples and data objects (dataclasses, plain objects) field by field.
    Order-independent for dict keys, order-dependent for sequences.

    A type it cannot hash faithfully (a function, an open file) is an error,
    not a silent omission: two runs must never share a cache entry because
    part of their input was skipped.
    """
    h = hashlib.sha256()
    flat = _flatten(obj)
    for name in sorted(flat):
        v = flat[name]
        if isinstance(v, torch.Tensor):
            t = v.detach().cpu().contiguous()
            h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
            h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        else:
            h.update(f"{name}|{type(v).__name__}|{v!r}|".encode())
    return h.hexdigest()


_SCALARS = (bool, int, float, str, type(None))


def _flatten(obj, prefix=""):
    if isinstance(obj, torch.Tensor):
        return {prefix: obj}
    if isinstance(obj, np.ndarray):
        return {prefix: torch.from_numpy(np.ascontiguousarray(obj))}
    if isinstance(obj, (np.generic, *_SCALARS)):
        return {prefix: obj.item() if isinstance(obj, np.generic) else obj}
    if isinstance(obj, (dict, list, tuple)) and not obj:
        return {prefix: f"empty {type(obj).__name__}"}
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, (list, tuple)):
        items = enumerate(obj)
    elif hasattr(obj, "__dict__") and not callable(obj):
        items = vars(obj).items()
    else:
        raise TypeError(f"cannot hash a {type(obj).__name__} at {prefix or '/'} into a run key")
    out = {}
    for k, v in items:
        out.update(_flatten(v, f"{prefix}/{k}"))
    return out


# ---- the code that computes a run -----------------------------------------------

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # src/goaldrift
# What computes every run, whatever its configuration: the training loop, the
# optimiser, the device settings (denormals, determinism), every model and
# every task's data generator. Whole files, listed by folder so that a new
# model or task joins without being named here.
ENGINE_CODE = ("engine/train.py", "engine/optim.py", "engine/device.py", "engine/models", "engine/tasks")


@functools.lru_cache(maxsize=None)
def source_digest(path: str) -> str:
    """sha256 of a source file's bytes with CRLF newlines read as LF: the same on
    every machine and checkout, whatever its path or modification time.
    Read once per process: the code a process runs does not change under it."""
    return hashlib.sha256(Path(path).read_bytes().replace(b"\r\n", b"\n")).hexdigest()[:16]


@functools.lru_cache(maxsize=None)
def engine_code_digests() -> dict[str, str]:
    """{module name: source digest} of ENGINE_CODE."""
    files = []
    for entry in ENGINE_CODE:
        path = PACKAGE_DIR / entry
        files += sorted(path.glob("*.py")) if path.is_dir() else [path]
    return {_module_name(f): source_digest(str(f)) for f in files}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def function_code_digest(fn) -> tuple[str, str]:
    """(name, digest) of the source of a function a run calls: the whole file of
    the module that defines it (a helper beside it counts too), or, for a
    function with no file (defined in a notebook cell), its own source.
    A function whose source cannot be read is an error, as in tensor_digest:
    its edits would go unnoticed."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    target = fn if inspect.isroutine(fn) or inspect.isclass(fn) else type(fn)
    module = inspect.getmodule(target)
    file = getattr(module, "__file__", None)
    if file and os.path.isfile(file):
        return module.__name__, source_digest(file)
    try:
        text = inspect.getsource(target)
    except (OSError, TypeError):
        raise TypeError(f"cannot key a run by the source of {fn!r}: no source file or text found") from None
    name = f"{getattr(module, '__name__', '?')}.{target.__qualname__}"
    return name, hashlib.sha256(text.encode()).hexdigest()[:16]


def code_digests(config: RunConfig, metric_fns=None, observers=None) -> dict[str, str]:
    """{module name: source digest} of everything that computes this run: the
    engine, the registered task and metrics it names (wherever they were
    registered), and the metric functions and observers passed to ``run``."""
    digests = dict(engine_code_digests())
    task = config.task.get("name") if isinstance(config.task, dict) else None
    fns = [TASKS[task]] if isinstance(task, str) and task in TASKS else []
    fns += [METRICS[name] for name in config.metrics or [] if isinstance(name, str) and name in METRICS]
    fns += list((metric_fns or {}).values()) + list((observers or {}).values())
    for fn in fns:
        name, digest = function_code_digest(fn)
        digests[name] = digest
    return digests


def run_key(config: RunConfig, *, data=None, init_state=None, masks=None, metric_fns=None, observers=None) -> dict:
    """The JSON object whose hash names the run: the config plus digests of
    whatever tensors were passed in beside it, and of the code that computes it.

    The code is part of the key, not a field checked on load: an entry made by
    other code is never reused nor quarantined, only left beside the new one
    (so that going back to the old code finds its runs again)."""
    extras = {}
    if data is not None:
        extras["data"] = tensor_digest(data)
    if init_state is not None:
        extras["init_state"] = tensor_digest(init_state)
    if masks:
        extras["masks"] = tensor_digest(masks)
    if metric_fns:
        extras["metric_fns"] = sorted(metric_fns)
    if observers:
        extras["observers"] = sorted(observers)
    key = {"config": config.to_dict()}
    if pick_device(config.device).type == "cpu":
        # which kernels computed it: a cache never mixes portable and native runs,
        # nor native runs of two CPUs (goaldrift.numerics)
        key["numerics"] = cache_identity()
    if extras:
        key["extras"] = extras
    key["code"] = code_digests(config, metric_fns, observers)
    return key


def canonical_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def config_hash(config: RunConfig, **extras) -> str:
    return hashlib.sha256(canonical_json(run_key(config, **extras)).encode()).hexdigest()[:16]


def run_dir(config: RunConfig, root=None, **extras) -> Path:
    return runs_root(root) / config_hash(config, **extras)


# ---- atomic files -----------------------------------------------------------

def atomic_write(path: Path, write: Callable[[io.BufferedWriter], None],
                 before_replace: Callable[[Path], None] | None = None) -> None:
    """Write via a temporary file in the same directory, then os.replace
    (``before_replace(tmp)`` runs in between, e.g. to record a checksum)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if before_replace is not None:
            before_replace(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json(path: Path, obj) -> None:
    atomic_write(path, lambda f: f.write((json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()))


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    atomic_write(path, lambda f: np.savez(f, **arrays))


def write_torch(path: Path, obj) -> None:
    atomic_write(path, lambda f: torch.save(obj, f))


# ---- runs -------------------------------------------------------------------

MANIFEST = "manifest.json"  # written last: the checksum of every file; marks a finished run
CHECKPOINT = "checkpoint.pt"
CHECKPOINT_SUMS = "checkpoint.sha256.json"  # the checksums the checkpoint may have (new, previous)
FINISHED_FILES = ("config.json", "weights.pt", "metrics.npz", "provenance.json")


class CorruptRun(RuntimeError):
    """A run cache entry that cannot be trusted: damaged, truncated, or another run's."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"run cache entry {path}: {reason}")
        self.path, self.reason = Path(path), reason


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def is_finished(path: Path) -> bool:
    """Whether a run folder claims to hold a finished run (load_run verifies it).
    A folder without a manifest (killed before it, or written before
    checksums existed) is trained again, resuming its checkpoint if any."""
    return (path / MANIFEST).exists()


NOT_A_FOLDER = "is not a folder"


def not_a_folder(path: Path) -> bool:
    """Whether a file, or a link to nothing, stands where a run's folder should be
    (every write into it would fail, on every re-run, until it is moved aside)."""
    return os.path.lexists(path) and not path.is_dir()


def quarantine(path: Path, reason: str) -> Path | None:
    """Rename an untrustworthy entry aside (never delete it) and say so in one line."""
    aside = path.with_name(f"{path.name}.quarantined-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:  # another process moved it first
        return None
    print(f"goaldrift: run cache entry {path} {reason}; quarantined as {aside.name}, training it again",
          file=sys.stderr, flush=True)
    return aside


@dataclass
class Run:
    """A finished run. ``trained`` says whether this call did any training
    (False: everything was loaded from the cache)."""

    config: RunConfig
    path: Path
    model: torch.nn.Module
    metrics: dict[str, np.ndarray]
    provenance: dict
    trained: bool


def run(config: RunConfig, *, root=None, data=None, init_state=None, masks=None,
        metric_fns: dict | None = None, observers: dict | None = None, progress: bool | None = None) -> Run:
    """Load the finished run for ``config``, or train it (resuming a checkpoint).

    ``data``, ``init_state`` (a model state_dict, e.g. a phase-1 run's
    ``model.state_dict()``), ``masks`` ({"frozen"/"exempt": {name: bool
    tensor}}), ``metric_fns`` and ``observers`` ({name: fn}, see ``Trainer``) join
    the hash by content (tensors) or by name (functions). A cache entry that fails
    verification is quarantined and trained again.
    """
    config.validate()
    extras = dict(data=data, init_state=init_state, masks=masks, metric_fns=metric_fns, observers=observers)
    key = run_key(config, **extras)
    path = runs_root(root) / config_hash(config, **extras)
    if is_finished(path):
        try:
            loaded = load_run(path, expected_key=key)
            log_use("reused", path)
            return loaded
        except CorruptRun as err:
            quarantine(path, err.reason)

    trainer = Trainer(config, data=data, init_state=init_state, masks=masks, metric_fns=metric_fns,
                      observers=observers)
    try:
        state, elapsed = _prepare(path, key, trainer)
    except CorruptRun as err:
        quarantine(path, err.reason)
        state, elapsed = _prepare(path, key, trainer)
    resumed_from = state.step if state is not None else None

    t0 = time.time()
    ckpt = path / CHECKPOINT

    def save_checkpoint(s: TrainState) -> None:
        _write_checkpoint(path, _checkpoint_dict(s, elapsed + time.time() - t0))

    final = trainer.run(state, on_checkpoint=save_checkpoint, progress=progress)
    wall = elapsed + time.time() - t0

    metrics = stack_metrics(final)
    write_torch(path / "weights.pt", final.model)
    write_npz(path / "metrics.npz", metrics)
    provenance = _provenance(trainer, wall, resumed_from)
    write_json(path / "provenance.json", provenance)
    write_json(path / MANIFEST, {"sha256": {name: sha256_file(path / name) for name in FINISHED_FILES}})
    ckpt.unlink(missing_ok=True)
    (path / CHECKPOINT_SUMS).unlink(missing_ok=True)
    log_use("trained", path)
    return Run(config, path, trainer.model, metrics, provenance, trained=True)


USE_LOG_VAR = "GOALDRIFT_RUN_LOG"  # a file `goaldrift run` reads back: how many runs trained, how many reused


def log_use(what: str, path: Path) -> None:
    """One line per run a process trained or reused, appended to $GOALDRIFT_RUN_LOG when it is set
    (worker processes inherit it). The reader counts each run folder once: a worker trains a run,
    then its parent loads the same folder."""
    log = os.environ.get(USE_LOG_VAR)
    if not log:
        return
    try:
        with open(log, "a") as f:  # one short write in append mode: lines of concurrent workers do not mix
            f.write(f"{what} {path.name}\n")
    except OSError:
        pass  # a report, never a reason to fail a run


def run_uses(log: str | os.PathLike) -> dict[str, str]:
    """{run folder name: "trained" or "reused"} from a run log written by log_use; a run a worker
    trained and its parent then loaded counts as trained."""
    uses: dict[str, str] = {}
    try:
        lines = Path(log).read_text().splitlines()
    except OSError:
        return uses
    for line in lines:
        what, _, name = line.partition(" ")
        if what == "trained" or (what == "reused" and name not in uses):
            uses[name] = what
    return uses


def count_uses(log: str | os.PathLike) -> tuple[int, int]:
    """(runs trained, runs reused from the cache) in a run log written by log_use."""
    uses = list(run_uses(log).values())
    return uses.count("trained"), uses.count("reused")


def _prepare(path: Path, key: dict, trainer: Trainer) -> tuple[TrainState | None, float]:
    """Make the run folder (removed again if its first write fails) or check the
    one there; return the verified checkpoint to resume from, if any."""
    config_file = path / "config.json"
    if not_a_folder(path):
        raise CorruptRun(path, NOT_A_FOLDER)
    if not path.exists():
        path.mkdir(parents=True)
        try:
            write_json(config_file, key)
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)  # a failed first write leaves no run folder
            raise
        return None, 0.0
    if config_file.exists():
        try:
            stored = json.loads(config_file.read_text())
        except (OSError, UnicodeDecodeError, ValueError):
            raise CorruptRun(path, "has an unreadable config.json") from None
        if canonical_json(stored) != canonical_json(key):
            raise CorruptRun(path, "holds another run's config.json")
    else:
        write_json(config_file, key)
    ckpt = path / CHECKPOINT
    if not ckpt.exists():
        return None, 0.0
    try:
        sums = json.loads((path / CHECKPOINT_SUMS).read_text())["sha256"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        raise CorruptRun(path, "has a checkpoint without a readable checksum") from None
    if sha256_file(ckpt) not in sums:
        raise CorruptRun(path, "has a checkpoint.pt that does not match its checksum")
    try:
        return _load_checkpoint(ckpt, trainer)
    except Exception as err:
        raise CorruptRun(path, f"has an unreadable checkpoint.pt ({type(err).__name__})") from None


def _write_checkpoint(path: Path, obj: dict) -> None:
    """Write checkpoint.pt atomically; its checksum is recorded before the file
    is moved into place, beside the previous one, so that a kill at any point
    leaves a checkpoint whose checksum is on record."""
    sums_file = path / CHECKPOINT_SUMS

    def record(tmp: Path) -> None:
        try:
            old = json.loads(sums_file.read_text())["sha256"][:1]
        except (OSError, ValueError, KeyError, TypeError):
            old = []
        write_json(sums_file, {"sha256": [sha256_file(tmp)] + old})

    atomic_write(path / CHECKPOINT, lambda f: torch.save(obj, f), before_replace=record)


def load_run(path: str | os.PathLike, expected_key: dict | None = None) -> Run:
    """A finished run from its directory (weights on the config's device if
    present here, else CPU), verified: ``CorruptRun`` if config.json is not
    the key its folder is named by (or not ``expected_key``), or any file
    differs from its recorded checksum or cannot be read."""
    path = Path(path)
    try:
        return _load_verified(path, expected_key)
    except CorruptRun:
        raise
    except Exception as err:  # a file that matched its checksum yet cannot be read
        raise CorruptRun(path, f"cannot be read ({type(err).__name__}: {str(err).splitlines()[0][:120]})") from None


def _load_verified(path: Path, expected_key: dict | None) -> Run:
    try:
        sums = json.loads((path / MANIFEST).read_text())["sha256"]
        assert isinstance(sums, dict)
    except FileNotFoundError:
        raise CorruptRun(path, "has no manifest.json (written before checksums, or never finished)") from None
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AssertionError):
        raise CorruptRun(path, "has an unreadable manifest.json") from None
    for name in FINISHED_FILES:
        if not (path / name).is_file():
            raise CorruptRun(path, f"is missing {name}")
        if sums.get(name) != sha256_file(path / name):
            raise CorruptRun(path, f"has a {name} that does not match its checksum")
    key = json.loads((path / "config.json").read_text())
    if hashlib.sha256(canonical_json(key).encode()).hexdigest()[:16] != path.name:
        raise CorruptRun(path, "holds a config.json whose hash is not the folder's name")
    if expected_key is not None and canonical_json(key) != canonical_json(expected_key):
        raise CorruptRun(path, "holds another run's config.json")
    config = RunConfig.from_dict(key["config"])
    try:
        device = pick_device(config.device)
    except ValueError:
        device = torch.device("cpu")
    weights = torch.load(path / "weights.pt", map_location=device, weights_only=True)
    model = build_model(config.model, config.seeds, dtype=DTYPES[config.dtype], device=device)
    model.load_state_dict(weights)
    with np.load(path / "metrics.npz") as f:
        metrics = {k: f[k] for k in f.files}
    provenance = json.loads((path / "provenance.json").read_text())
    return Run(config, path, model, metrics, provenance, trained=False)


def _checkpoint_dict(s: TrainState, elapsed: float) -> dict:
    return {
        "step": s.step,
        "model": s.model,
        "optimizer": s.optimizer,
        "metrics": {k: torch.from_numpy(np.stack(v)) for k, v in s.metrics.items()},
        "step_loss": s.step_loss,
        "rng": s.rng,
        "config": s.config,
        "elapsed": elapsed,
    }


def _load_checkpoint(path: Path, trainer: Trainer) -> tuple[TrainState, float]:
    d = torch.load(path, map_location="cpu", weights_only=True)
    if d["config"] != trainer.config.to_dict():
        raise RuntimeError(f"checkpoint {path} belongs to another configuration")
    model = {k: v.to(trainer.device) for k, v in d["model"].items()}
    metrics = {k: list(v.numpy()) for k, v in d["metrics"].items()}
    state = TrainState(d["step"], model, d["optimizer"], metrics, d["step_loss"], d["rng"], d["config"])
    return state, float(d["elapsed"])


def _provenance(trainer: Trainer, wall: float, resumed_from: int | None) -> dict[str, Any]:
    # The same shape as a chapter's run_info (goaldrift.engine.provenance), plus
    # what only a run knows.
    return {
        "git_commit": git_commit(),
        "versions": versions(),
        "platform": platform.platform(),
        "device": describe(trainer.device),
        "numerics": numerics_record(),
        "float_mode": trainer.float_mode,
        "wall_time_s": round(wall, 3),
        "resumed_from_step": resumed_from,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
