"""Independent runs trained side by side, one worker process each.

A chapter executes in one kernel, which trains one run at a time on one core:
on the 2-core machine that builds the book, the other core idles. Threads do
not help these small models (see ``device.set_cpu_threads``), processes do:
each worker trains one run with one thread, as the kernel would.

``run_all(jobs)`` trains, in worker processes, the jobs that are not yet in
the run cache, then loads every job's run in order. A worker trains through
``runs.run`` with the same arguments, so a run trained here is the same cache
entry, bit for bit, as one the kernel would have trained itself
(tests/engine/test_parallel.py checks this on the bits).
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from goaldrift.engine import runs
from goaldrift.engine.device import pick_device
from goaldrift.engine.train import ConfigError, RunConfig
from goaldrift.settings import WORKERS_VAR, worker_setting  # noqa: F401 (WORKERS_VAR: the tests' import)

# A worker process costs about 3 s to start (it imports torch). The book's models take
# 1.5 to 15 ms a member-step here, so below this much work (member-steps of the runs
# still to train: 8 to 75 s) the kernel trains them itself about as soon.
MIN_MEMBER_STEPS = 5_000


@dataclass
class Job:
    """One ``runs.run`` call: the configuration and its keyword arguments
    (``init_state``, ``data``, ``masks``, ``metric_fns``, ``observers``: functions by
    reference, so they must be importable module-level functions)."""

    config: RunConfig
    kwargs: dict = field(default_factory=dict)

    @property
    def member_steps(self) -> int:
        return self.config.steps * self.config.K

    def is_cached(self, root=None) -> bool:
        return runs.is_finished(runs.run_dir(self.config, root, **self.kwargs))


def usable_cores() -> int:
    """The cores this process may run on (a container's share, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def worker_count(jobs: list[Job]) -> int:
    """How many workers to start for ``jobs``: GOALDRIFT_WORKERS if set, else one
    per usable core on a CPU and one on a GPU (processes sharing a GPU each step
    slower), never more than there are jobs; 1 (no workers) for too little work."""
    if not jobs:
        return 1
    try:
        setting = worker_setting()
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if setting is None:
        on_gpu = any(pick_device(j.config.device).type == "cuda" for j in jobs)
        if on_gpu or sum(j.member_steps for j in jobs) < MIN_MEMBER_STEPS:
            return 1
        setting = usable_cores()
    return max(1, min(setting, len(jobs)))


def _train(job: Job, root) -> bool:
    """The worker's unit of work: train (or load) one run; whether it trained."""
    return runs.run(job.config, root=root, progress=False, **job.kwargs).trained


def train_ahead(jobs: list[Job], root=None) -> list[bool]:
    """Train, in worker processes (the longest first), the jobs that are not in
    the run cache; return which jobs were trained. With one worker nothing is
    started and nothing trained: the caller's own ``runs.run`` calls train them."""
    todo = sorted((k for k, j in enumerate(jobs) if not j.is_cached(root)), key=lambda k: -jobs[k].member_steps)
    trained = [False] * len(jobs)
    workers = worker_count([jobs[k] for k in todo])
    if workers <= 1:
        return trained
    # spawn, not fork: a forked child inherits torch's thread pools mid-state.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {k: pool.submit(_train, jobs[k], root) for k in todo}
        for k, future in futures.items():
            trained[k] = future.result()
    return trained


def run_all(jobs: list[Job], root=None) -> list[runs.Run]:
    """Every job's run, in order: those not in the cache are trained side by side
    first, then all are loaded. ``Run.trained`` says whether this call trained it,
    here or in a worker."""
    ahead = train_ahead(jobs, root)
    out = []
    for job, was_trained in zip(jobs, ahead):
        r = runs.run(job.config, root=root, progress=False, **job.kwargs)
        r.trained = r.trained or was_trained
        out.append(r)
    return out
