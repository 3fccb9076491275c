"""The run cache: a configuration's hash names the directory of its results.

A chapter asks for a run by configuration; if that run has finished before
(in this or any earlier execution of the book) it is loaded, not retrained.
If it was interrupted, it resumes from its last checkpoint and ends with the
same bits as an uninterrupted run. Every file is written to a temporary name
and moved into place with ``os.replace``, so a crash mid-write leaves the
previous version readable, never half a file.

Layout of ``<root>/<hash>/``: config.json (the hashed key), checkpoint.pt
(while training), then weights.pt, metrics.npz, and provenance.json last:
its presence marks the run as finished.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .device import describe, pick_device
from .provenance import git_commit, versions
from .models import build_model
from .train import DTYPES, RunConfig, Trainer, TrainState, stack_metrics

ENV_VAR = "GOALDRIFT_RUNS_DIR"
_REPO = Path(__file__).resolve().parents[2]


def runs_root(root: str | os.PathLike | None = None) -> Path:
    """Argument, else $GOALDRIFT_RUNS_DIR, else ``runs/`` at the repo root."""
    if root is not None:
        return Path(root)
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    base = _REPO if (_REPO / "pyproject.toml").exists() else Path.cwd()
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


def run_key(config: RunConfig, *, data=None, init_state=None, masks=None, metric_fns=None) -> dict:
    """The JSON object whose hash names the run: the config plus digests of
    whatever tensors were passed in beside it."""
    extras = {}
    if data is not None:
        extras["data"] = tensor_digest(data)
    if init_state is not None:
        extras["init_state"] = tensor_digest(init_state)
    if masks:
        extras["masks"] = tensor_digest(masks)
    if metric_fns:
        extras["metric_fns"] = sorted(metric_fns)
    key = {"config": config.to_dict()}
    if extras:
        key["extras"] = extras
    return key


def canonical_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def config_hash(config: RunConfig, **extras) -> str:
    return hashlib.sha256(canonical_json(run_key(config, **extras)).encode()).hexdigest()[:16]


def run_dir(config: RunConfig, root=None, **extras) -> Path:
    return runs_root(root) / config_hash(config, **extras)


# ---- atomic files -----------------------------------------------------------

def atomic_write(path: Path, write: Callable[[io.BufferedWriter], None]) -> None:
    """Write via a temporary file in the same directory, then os.replace."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
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
        metric_fns: dict | None = None, progress: bool | None = None) -> Run:
    """Load the finished run for ``config``, or train it (resuming a checkpoint).

    ``data``, ``init_state`` (a model state_dict, e.g. a phase-1 run's
    ``model.state_dict()``), ``masks`` ({"frozen"/"exempt": {name: bool
    tensor}}) and ``metric_fns`` ({name: fn}) join the hash by content
    (tensors) or by name (functions).
    """
    config.validate()
    extras = dict(data=data, init_state=init_state, masks=masks, metric_fns=metric_fns)
    key = run_key(config, **extras)
    path = runs_root(root) / config_hash(config, **extras)
    if (path / "provenance.json").exists():
        return load_run(path)

    trainer = Trainer(config, data=data, init_state=init_state, masks=masks, metric_fns=metric_fns)
    path.mkdir(parents=True, exist_ok=True)
    write_json(path / "config.json", key)

    state, elapsed, resumed_from = None, 0.0, None
    ckpt = path / "checkpoint.pt"
    if ckpt.exists():
        state, elapsed = _load_checkpoint(ckpt, trainer)
        resumed_from = state.step

    t0 = time.time()

    def save_checkpoint(s: TrainState) -> None:
        write_torch(ckpt, _checkpoint_dict(s, elapsed + time.time() - t0))

    final = trainer.run(state, on_checkpoint=save_checkpoint, progress=progress)
    wall = elapsed + time.time() - t0

    metrics = stack_metrics(final)
    write_torch(path / "weights.pt", final.model)
    write_npz(path / "metrics.npz", metrics)
    provenance = _provenance(trainer, wall, resumed_from)
    write_json(path / "provenance.json", provenance)
    ckpt.unlink(missing_ok=True)
    return Run(config, path, trainer.model, metrics, provenance, trained=True)


def load_run(path: str | os.PathLike) -> Run:
    """A finished run from its directory (weights on the config's device if
    present here, else CPU)."""
    path = Path(path)
    key = json.loads((path / "config.json").read_text())
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
    # The same shape as a chapter's run_info (goaldrift.provenance), plus
    # what only a run knows.
    return {
        "git_commit": git_commit(),
        "versions": versions(),
        "platform": platform.platform(),
        "device": describe(trainer.device),
        "float_mode": trainer.float_mode,
        "wall_time_s": round(wall, 3),
        "resumed_from_step": resumed_from,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
