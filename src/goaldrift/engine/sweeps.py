"""Sweeps: a grid of run configurations, trained locally or on a Ray cluster.

A sweep is either a chapter's runs (a chapter that declares `sweep` in its
registry entry: `goaldrift sweep cleanup_scaling --profile paper`), or a base
`RunConfig` and a grid over learning rate, weight decay and
model-init seed. Grid points that share every other setting are packed into
ensemble runs of at most `members_per_run` members, so a sweep of 48 points is
a handful of batched runs. Every run lands in the ordinary run cache
(`goaldrift.engine.runs`), keyed by its configuration and code: a chapter executed
afterwards finds the results and trains nothing, and a sweep started twice
recomputes nothing already finished.

Backends:
- `local` (default): the runs one after another in this process.
- `ray`: each run a Ray task (`ray` is an optional extra, imported only here,
  only when asked for). A task whose worker dies is retried by Ray; the retry
  resumes from the run's last checkpoint, so a killed worker costs at most the
  steps since that checkpoint, and the finished sweep has every run exactly
  once with the same numbers as a local sweep.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from goaldrift.engine.device import pick_device
from goaldrift.engine.runs import NOT_A_FOLDER, CorruptRun, config_hash, load_run, not_a_folder, quarantine
from goaldrift.engine.runs import run, run_key, runs_root
from goaldrift.engine.runs import is_finished as finished_folder
from goaldrift.engine.models import MODEL_KINDS
from goaldrift.jsonfiles import read_json
from goaldrift.engine.train import (SEED_RANGE_TEXT, ConfigError, OptimConfig, RunConfig, StopRule, check_data,
                                    make_data, valid_seed)

GRID_AXES = ("lr", "weight_decay", "seed")
SPEC_KEYS = ("name", "base", "grid", "members_per_run")
# A grid larger than this is refused before it is expanded (a 1000x1000x100
# grid grew to 3 GB in memory before anything was said).
MAX_GRID_POINTS = 10_000


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@dataclass
class Sweep:
    """A base configuration and a grid over (lr, weight_decay, seed)."""

    name: str
    base: RunConfig
    grid: dict[str, list] = field(default_factory=dict)
    members_per_run: int = 16

    def validate(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"sweep name must be a non-empty string, not {self.name!r}")
        if not isinstance(self.grid, dict):
            raise ConfigError(f"sweep {self.name!r}: grid must be an object of axes, not {type(self.grid).__name__}")
        unknown = sorted(set(self.grid) - set(GRID_AXES))
        if unknown:
            raise ConfigError(f"sweep {self.name!r}: unknown grid axis {unknown[0]!r} "
                              f"({_hint(unknown[0], GRID_AXES)})")
        for axis, values in self.grid.items():
            if not isinstance(values, list) or not values:  # an empty axis: a sweep of nothing, "0/0 finished"
                raise ConfigError(f"sweep {self.name!r}: grid axis {axis!r} must be a non-empty list, "
                                  f"not {values!r:.60}")
        for axis, values in self.grid.items():  # JSON true is not a seed, "0.01" not a learning rate
            ok = _is_int if axis == "seed" else _is_number
            bad = [v for v in values if not ok(v)]
            if bad:
                raise ConfigError(f"sweep {self.name!r}: grid axis {axis!r} holds {bad[0]!r}, "
                                  f"not {'an int' if axis == 'seed' else 'a number'}")
        bad = [v for v in self.grid.get("seed", []) if not valid_seed(v)]
        if bad:  # checked here, not in a run: 2**64 failed inside the first run's model init
            raise ConfigError(f"sweep {self.name!r}: grid axis 'seed' holds {bad[0]}; seeds must be ints {SEED_RANGE_TEXT}")
        if not _is_int(self.members_per_run) or self.members_per_run < 1:
            raise ConfigError(f"sweep {self.name!r}: members_per_run must be a positive int, "
                              f"not {self.members_per_run!r}")
        if not isinstance(self.base.seeds, (list, tuple)):
            raise ConfigError(f"sweep {self.name!r}: base.seeds must be a list of ints, "
                              f"not {type(self.base.seeds).__name__}")
        if "seed" not in self.grid and not self.base.seeds:
            # the base's seeds are then the seed axis: without one the sweep would train nothing ("0/0 finished")
            raise ConfigError(f"sweep {self.name!r} has no seeds: base.seeds must be a non-empty list of ints "
                              f"when the grid has no 'seed' axis")
        size = math.prod(len(v) for v in self.grid.values())
        if "seed" not in self.grid:
            size *= len(self.base.seeds)  # the base's seeds are an axis too
        if size > MAX_GRID_POINTS:
            raise ConfigError(f"sweep {self.name!r}: the grid has {size:,} points, more than the "
                              f"{MAX_GRID_POINTS:,} one sweep may hold; split it into several sweeps")
        for config in self.runs():
            config.validate()

    def points(self) -> list[dict]:
        """Every grid point, as {"lr": .., "weight_decay": .., "seed": ..}."""
        axes = {
            "lr": self.grid.get("lr", [_single(self.base.optim.lr, "lr")]),
            "weight_decay": self.grid.get("weight_decay", [_single(self.base.optim.weight_decay, "weight_decay")]),
            "seed": self.grid["seed"] if "seed" in self.grid else list(self.base.seeds),
        }
        return [dict(zip(axes, values)) for values in itertools.product(*axes.values())]

    def runs(self) -> list[RunConfig]:
        """The grid packed into ensemble runs, in a fixed order."""
        points = self.points()
        configs = []
        for start in range(0, len(points), self.members_per_run):
            chunk = points[start:start + self.members_per_run]
            optim = dataclasses.replace(
                self.base.optim,
                lr=[p["lr"] for p in chunk],
                weight_decay=[p["weight_decay"] for p in chunk],
            )
            configs.append(dataclasses.replace(self.base, seeds=[p["seed"] for p in chunk], optim=optim))
        return configs

    def to_dict(self) -> dict:
        return {"name": self.name, "base": self.base.to_dict(), "grid": self.grid,
                "members_per_run": self.members_per_run}

    @classmethod
    def from_dict(cls, d: dict) -> "Sweep":
        check_spec_keys(d)
        try:
            grid = d.get("grid", {})
            return cls(d["name"], RunConfig.from_dict(d["base"]), dict(grid) if isinstance(grid, dict) else grid,
                       d.get("members_per_run", 16))
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigError(f"not a sweep specification: {str(err).splitlines()[0]}") from None


def _field_names(cls) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _hint(name, known) -> str:
    close = difflib.get_close_matches(str(name), list(known), n=1)
    return f"did you mean {close[0]!r}?" if close else f"known: {', '.join(known)}"


def _check_keys(d, allowed: list[str], where: str, required: tuple[str, ...] = ()) -> None:
    """An object with only the keys `allowed` (a typo is said, with the key it was likely meant to be)."""
    if not isinstance(d, dict):
        raise ConfigError(f"{where} must be a JSON object, not {type(d).__name__}")
    for key in d:
        if key not in allowed:
            raise ConfigError(f"unknown key {key!r} in {where} ({_hint(key, allowed)})")
    for key in required:
        if key not in d:
            raise ConfigError(f"{where} lacks {key!r}")


def check_spec_keys(d) -> None:
    """Every object of a sweep specification holds only keys it may hold: a misspelt
    "grdi" or "memebers_per_run" would otherwise be ignored, and the sweep silently
    run without it."""
    _check_keys(d, list(SPEC_KEYS), "the sweep spec", required=("name", "base"))
    base = d["base"]
    _check_keys(base, _field_names(RunConfig), "the sweep spec's base", required=("model", "optim"))
    model = base["model"]
    if not isinstance(model, dict):
        raise ConfigError(f"base.model must be a JSON object, not {type(model).__name__}")
    kind = model.get("kind")
    if not isinstance(kind, str) or kind not in MODEL_KINDS:
        raise ConfigError(f"unknown base.model kind {kind!r} ({_hint(kind, MODEL_KINDS)})")
    _check_keys(model, ["kind", *_field_names(MODEL_KINDS[kind][0])], f"base.model ({kind})")
    _check_keys(base["optim"], _field_names(OptimConfig), "base.optim")
    if base.get("stop") is not None:
        _check_keys(base["stop"], _field_names(StopRule), "base.stop")


def _single(value, name):
    if isinstance(value, (list, tuple)):
        if not value:
            raise ConfigError(f"the base config's optim.{name} is an empty list")
        if any(v != value[0] for v in value):  # not set(value): a value may be a list itself
            raise ConfigError(f"the base config's optim.{name} has several values; put them in the grid")
        return value[0]
    return value


MAX_SPEC_BYTES = 1_000_000  # the largest grid (MAX_GRID_POINTS) is far smaller


def load_spec(path: str | os.PathLike) -> Sweep:
    path = Path(path)
    where = f"sweep specification {str(path)[:200]!r}"
    try:  # a regular file of bounded size and depth, looked at before it is opened (a FIFO would hang)
        spec = read_json(path, where, max_bytes=MAX_SPEC_BYTES)
    except OSError as err:
        raise ConfigError(f"cannot read {where}: {err.strerror or err}") from None
    except ValueError as err:
        raise ConfigError(f"cannot read {(str(err).splitlines() or [''])[0]}") from None
    sweep = Sweep.from_dict(spec)
    sweep.validate()
    return sweep


# ---- progress ---------------------------------------------------------------

@dataclass
class Progress:
    """Counts of a sweep's runs, printed as one status line."""

    total: int
    finished: int = 0
    running: int = 0
    failed: int = 0
    cached: int = 0
    started: float = field(default_factory=time.time)
    stream: object = sys.stderr

    def line(self) -> str:
        done_now = self.finished - self.cached
        elapsed = time.time() - self.started
        left = self.total - self.finished - self.failed
        eta = f"{elapsed / done_now * left:.0f} s" if done_now and left else ("0 s" if not left else "?")
        return (f"sweep: {self.finished}/{self.total} finished ({self.cached} cached), "
                f"{self.running} in flight, {self.failed} failed, ETA {eta}")

    def show(self) -> None:
        print(self.line(), file=self.stream, flush=True)


# ---- backends -----------------------------------------------------------------

def is_finished(config: RunConfig, root) -> bool:
    """A finished run that verifies; a corrupt one is left for `run` to quarantine and retrain."""
    path = runs_root(root) / config_hash(config)
    if not finished_folder(path):
        return False
    try:
        load_run(path, expected_key=run_key(config))
    except CorruptRun:
        return False
    return True


def _train_one(config_dict: dict, root: str) -> str:
    """Train (or load) one run; the unit of work of every backend."""
    config = RunConfig.from_dict(config_dict)
    path = runs_root(root) / config_hash(config)
    if not_a_folder(path):  # moved aside as `run` would, before this folder is made
        quarantine(path, NOT_A_FOLDER)
    created = not path.exists()
    path.mkdir(parents=True, exist_ok=True)
    try:
        # Which process holds the run, for progress reports and for fault tests.
        (path / "worker.pid").write_text(str(os.getpid()))
        return str(run(config, root=root, progress=False).path)
    except BaseException:
        if created and not (path / "checkpoint.pt").exists():  # nothing to resume: leave no folder
            shutil.rmtree(path, ignore_errors=True)
        raise


def run_sweep(sweep: Sweep, **kwargs) -> list[Path]:
    """Train every run of a grid sweep that is not in the cache; return their folders."""
    sweep.validate()
    return run_configs(sweep.runs(), **kwargs)


def preflight(configs: list[RunConfig], backend: str = "local") -> None:
    """Validate every configuration and build each distinct task's data once,
    so that a bad spec fails with one line before the first run trains (and
    before any run folder is made)."""

    seen = set()
    for config in configs:
        config.validate()
        if backend == "local":  # a Ray worker may have the GPU this machine lacks
            try:
                pick_device(config.device)
            except ValueError as err:
                raise ConfigError(f"{err} (on this machine, which trains a local sweep)") from None
        key = json.dumps([config.task, config.data_seed, config.to_dict()["model"], config.loss,
                          config.batch_size], sort_keys=True)
        if key not in seen:
            seen.add(key)
            check_data(config, make_data(config))


def run_configs(configs: list[RunConfig], *, backend: str = "local", address: str | None = None,
                root=None, max_retries: int = 3, report: Callable[[Progress], None] | None = None,
                ray_init_kwargs: dict | None = None) -> list[Path]:
    """Train every configuration that is not in the cache (a grid sweep's runs, or
    a chapter's); return the run folders in the order given."""
    if backend == "ray":
        _check_ray(address)
    preflight(configs, backend)
    if backend == "ray":
        _connect_ray(address, ray_init_kwargs or {})  # before the first progress line: a failure is one line
    root = str(runs_root(root))
    progress = Progress(total=len(configs))
    report = report or (lambda p: p.show())
    todo = []
    for config in configs:
        if is_finished(config, root):
            progress.finished += 1
            progress.cached += 1
        else:
            todo.append(config)
    report(progress)
    if backend == "local":
        for config in todo:
            progress.running = 1
            report(progress)
            _train_one(config.to_dict(), root)
            progress.running = 0
            progress.finished += 1
            report(progress)
    elif backend == "ray":
        _run_on_ray(todo, root, address, max_retries, progress, report, ray_init_kwargs or {})
    else:
        raise ConfigError(f"unknown backend {backend!r} (use local or ray)")
    return [runs_root(root) / config_hash(c) for c in configs]


RAY_CONNECT_TIMEOUT_S = 15  # ray.init alone: with start-up and checks (8 s on a loaded 2-core machine)
# the command stays within 30 s


def _check_ray(address: str | None) -> None:
    """Ray importable and, for HOST:PORT, something listening there: checked
    before any work (ray.init itself waited for minutes on a closed port)."""
    import importlib.util

    if address and address not in ("auto", "local"):
        _check_reachable(address)
    if importlib.util.find_spec("ray") is None:
        raise ConfigError("the ray backend needs Ray: pip install -r requirements-ray.txt")


def _check_reachable(address: str) -> None:
    import socket

    host_port = address.split("://", 1)[-1]
    host, _, port = host_port.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--address {address!r} is not HOST:PORT")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=10):
            pass
    except OSError as err:
        raise ConfigError(f"cannot reach the Ray cluster at {address}: {err.strerror or err}") from None


def _ray_init(ray, address, init_kwargs) -> None:
    """ray.init with a deadline: a one-line error naming the address, not a hang."""
    import threading

    outcome = {}

    def connect():
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, **init_kwargs)
            outcome["ok"] = True
        except Exception as err:  # reported below, in the caller's thread
            outcome["error"] = err

    # Ray's C++ client writes its retry warnings straight to file descriptor 2
    # (several per attempt, naming an address Ray rewrote); while connecting,
    # they go to /dev/null and the user gets the one line below.
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        worker = threading.Thread(target=connect, daemon=True)
        worker.start()
        worker.join(RAY_CONNECT_TIMEOUT_S)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    where = address or "a new local Ray instance"
    if worker.is_alive():
        raise ConfigError(f"could not connect to the Ray cluster at {where} within {RAY_CONNECT_TIMEOUT_S} s")
    if "error" in outcome:
        err = outcome["error"]
        raise ConfigError(f"could not connect to the Ray cluster at {where}: "
                          f"{(str(err).strip().splitlines() or [type(err).__name__])[0]}")


def _connect_ray(address, init_kwargs) -> None:
    try:
        import ray
    except ImportError:
        raise ConfigError("the ray backend needs Ray: pip install -r requirements-ray.txt") from None
    if not ray.is_initialized():
        import logging

        _ray_init(ray, address, {"logging_level": logging.ERROR, **init_kwargs})


def _run_on_ray(todo, root, address, max_retries, progress, report, init_kwargs) -> None:
    import ray

    if not ray.is_initialized():
        _connect_ray(address, init_kwargs)
    remote = ray.remote(max_retries=max_retries, retry_exceptions=False)(_train_one)
    pending = {}
    for config in todo:
        gpus = 1 if config.device.startswith("cuda") else 0
        ref = remote.options(num_gpus=gpus).remote(config.to_dict(), root)
        pending[ref] = config
    progress.running = len(pending)
    report(progress)
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1, timeout=5.0)
        for ref in done:
            pending.pop(ref)
            try:
                ray.get(ref)
                progress.finished += 1
            except Exception as err:  # a run that failed after every retry
                progress.failed += 1
                print(f"sweep: a run failed: {str(err).splitlines()[0]}", file=sys.stderr)
        progress.running = len(pending)
        report(progress)
    if progress.failed:
        raise RuntimeError(f"{progress.failed} run(s) of the sweep failed (a run that raises is not retried; "
                           f"a run whose worker died was retried up to {max_retries} times)")
