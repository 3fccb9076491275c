"""Sweeps: a grid of run configurations, trained locally or on a Ray cluster; used by
chapters cleanup_scaling, and any sweep specification.

A sweep is either a chapter's runs (a chapter that declares `sweep` in its
registry entry: `goaldrift sweep cleanup_scaling --profile paper`), or a base
`RunConfig` and a grid over learning rate, weight decay and
model-init seed. Grid points that share every other setting are packed into
ensemble runs of at most `members_per_run` members, so a sweep of 48 points is
a handful of batched runs. Every run lands in the ordinary run cache
(`goaldrift.engine.runs`), keyed by its configuration's hash: a chapter executed
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
import itertools
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from goaldrift.engine.runs import config_hash, run, runs_root
from goaldrift.engine.train import ConfigError, RunConfig, check_data, make_data

GRID_AXES = ("lr", "weight_decay", "seed")


@dataclass
class Sweep:
    """A base configuration and a grid over (lr, weight_decay, seed)."""

    name: str
    base: RunConfig
    grid: dict[str, list] = field(default_factory=dict)
    members_per_run: int = 16

    def validate(self) -> None:
        unknown = sorted(set(self.grid) - set(GRID_AXES))
        if unknown:
            raise ConfigError(f"sweep {self.name!r}: unknown grid axis {unknown[0]!r} (axes: {', '.join(GRID_AXES)})")
        if any(not isinstance(v, list) or not v for v in self.grid.values()):
            raise ConfigError(f"sweep {self.name!r}: every grid axis must be a non-empty list")
        if not isinstance(self.members_per_run, int) or self.members_per_run < 1:
            raise ConfigError(f"sweep {self.name!r}: members_per_run must be a positive int")
        for config in self.runs():
            config.validate()

    def points(self) -> list[dict]:
        """Every grid point, as {"lr": .., "weight_decay": .., "seed": ..}."""
        axes = {
            "lr": self.grid.get("lr", [_single(self.base.optim.lr, "lr")]),
            "weight_decay": self.grid.get("weight_decay", [_single(self.base.optim.weight_decay, "weight_decay")]),
            "seed": self.grid.get("seed", list(self.base.seeds)),
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
        try:
            return cls(d["name"], RunConfig.from_dict(d["base"]), dict(d.get("grid", {})),
                       d.get("members_per_run", 16))
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigError(f"not a sweep specification: {str(err).splitlines()[0]}") from None


def _single(value, name):
    if isinstance(value, (list, tuple)):
        if len(set(value)) != 1:
            raise ConfigError(f"the base config's optim.{name} has several values; put them in the grid")
        return value[0]
    return value


def load_spec(path: str | os.PathLike) -> Sweep:
    path = Path(path)
    try:
        spec = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"cannot read sweep specification {str(path)!r}: {str(err).splitlines()[0]}") from None
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
    return (runs_root(root) / config_hash(config) / "provenance.json").exists()


def _train_one(config_dict: dict, root: str) -> str:
    """Train (or load) one run; the unit of work of every backend."""
    config = RunConfig.from_dict(config_dict)
    path = runs_root(root) / config_hash(config)
    path.mkdir(parents=True, exist_ok=True)
    # Which process holds the run, for progress reports and for fault tests.
    (path / "worker.pid").write_text(str(os.getpid()))
    return str(run(config, root=root, progress=False).path)


def run_sweep(sweep: Sweep, **kwargs) -> list[Path]:
    """Train every run of a grid sweep that is not in the cache; return their folders."""
    sweep.validate()
    return run_configs(sweep.runs(), **kwargs)


def preflight(configs: list[RunConfig]) -> None:
    """Validate every configuration and build each distinct task's data once,
    so that a bad spec fails with one line before the first run trains (and
    before any run folder is made)."""
    seen = set()
    for config in configs:
        config.validate()
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
    preflight(configs)
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


def _run_on_ray(todo, root, address, max_retries, progress, report, init_kwargs) -> None:
    try:
        import ray
    except ImportError:
        raise ConfigError("the ray backend needs Ray: pip install -r requirements-ray.txt") from None
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, **init_kwargs)
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
