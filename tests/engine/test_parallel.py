"""Runs trained ahead in worker processes: the same cache entries, bit for bit,
as runs the calling process trains itself; and the worker count's rules."""

import numpy as np
import pytest
import torch

from goaldrift.engine import parallel, runs
from goaldrift.engine.train import ConfigError
from goaldrift.experiments.grokking import grokking_runs as gr
from goaldrift.experiments.grokking.grokking_measures import weight_snapshot


def tiny(seed: int, steps: int = 120, K: int = 2):
    cfg = gr.config(11, 0.5, 16, [0.01] * K, [1.0] * K, steps, seeds=[seed] * K, data_seed=seed, eval_every=20)
    cfg.device = "cpu"
    return cfg


def jobs(tmp_path):
    """A plain run, one with a metric function (by reference) and one from given weights."""
    start = runs.run(tiny(7, steps=40), root=tmp_path / "start", progress=False).model.state_dict()
    return [parallel.Job(tiny(0)),
            parallel.Job(tiny(1), {"metric_fns": {"weight_snapshot": weight_snapshot}}),
            parallel.Job(tiny(2), {"init_state": start})]


@pytest.fixture
def two_workers(monkeypatch):
    monkeypatch.setenv(parallel.WORKERS_VAR, "2")


def assert_same_run(a: runs.Run, b: runs.Run):
    assert sorted(a.metrics) == sorted(b.metrics)
    for key in a.metrics:
        np.testing.assert_array_equal(a.metrics[key], b.metrics[key], err_msg=key)
    for (name, x), (_, y) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
        assert torch.equal(x, y), name


@pytest.mark.slow  # starts worker processes
def test_worker_runs_equal_the_kernels_runs_bit_for_bit(two_workers, tmp_path):
    todo = jobs(tmp_path)
    ahead = parallel.run_all(todo, root=tmp_path / "ahead")
    assert [r.trained for r in ahead] == [True, True, True]  # by this call, in its workers
    assert not runs.run(todo[0].config, root=tmp_path / "ahead").trained  # the workers' runs are in the cache
    for job, r in zip(todo, ahead):
        here = runs.run(job.config, root=tmp_path / "here", progress=False, **job.kwargs)
        assert here.trained
        assert r.path.name == here.path.name  # the same cache key
        assert_same_run(r, here)
    assert parallel.train_ahead(todo, root=tmp_path / "ahead") == [False] * 3  # all cached now


def test_worker_count_rules(monkeypatch):
    monkeypatch.delenv(parallel.WORKERS_VAR, raising=False)
    small = [parallel.Job(tiny(s)) for s in range(3)]
    assert parallel.worker_count(small) == 1  # too little work to pay for starting processes
    big = [parallel.Job(tiny(s, steps=20_000)) for s in range(5)]
    assert parallel.worker_count(big) == min(5, parallel.usable_cores())
    monkeypatch.setenv(parallel.WORKERS_VAR, "4")
    assert parallel.worker_count(small[:2]) == 2  # never more workers than jobs
    assert parallel.worker_count([]) == 1


@pytest.mark.parametrize("value", ["two", "0", "-1", ""])
def test_bad_worker_setting_is_one_line(monkeypatch, value):
    monkeypatch.setenv(parallel.WORKERS_VAR, value)
    with pytest.raises(ConfigError) as err:
        parallel.worker_count([parallel.Job(tiny(0))])
    assert "GOALDRIFT_WORKERS" in str(err.value) and "\n" not in str(err.value)
