"""Sweeps: packing a grid into ensemble runs, the cache, and the Ray backend
surviving a killed worker with the same results as a local sweep."""

import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import REPO, call_cli, run_cli
from goaldrift.engine.sweeps import Progress, Sweep, load_spec, run_sweep
from goaldrift.engine.train import ConfigError


def tiny_sweep(steps=300, members_per_run=2, checkpoint_every=100) -> Sweep:
    sweep = load_spec(REPO / "sweeps" / "grokking_p23_lambda.json")
    sweep.base.task = {"name": "modular_addition", "p": 11, "train_frac": 0.5}
    sweep.base.model.d_vocab = sweep.base.model.d_vocab_out = 12
    sweep.base.model.d_model, sweep.base.model.d_mlp = 16, 32
    sweep.base.model.n_heads, sweep.base.model.d_head = 2, 8
    sweep.base.steps, sweep.base.checkpoint_every, sweep.base.eval_every = steps, checkpoint_every, 50
    sweep.base.device = "cpu"
    sweep.grid = {"weight_decay": [0.0, 1.0], "seed": [0, 1]}
    sweep.members_per_run = members_per_run
    return sweep


def quiet(_progress):
    pass


def test_grid_is_packed_into_ensembles():
    sweep = tiny_sweep(members_per_run=3)
    runs = sweep.runs()
    assert [r.K for r in runs] == [3, 1]
    members = [(lr, wd, s) for r in runs for lr, wd, s in zip(r.optim.lr, r.optim.weight_decay, r.seeds)]
    assert sorted(members) == sorted((p["lr"], p["weight_decay"], p["seed"]) for p in sweep.points())


def test_local_sweep_is_cached(tmp_path):
    sweep = tiny_sweep()
    seen = []
    paths = run_sweep(sweep, root=tmp_path, report=lambda p: seen.append(p.line()))
    assert all((p / "provenance.json").exists() for p in paths) and len(paths) == 2
    second: list[Progress] = []
    run_sweep(sweep, root=tmp_path, report=second.append)
    assert second[-1].cached == second[-1].total == 2  # nothing trained the second time
    assert "2/2 finished" in seen[-1]


def test_bad_specs_are_refused(tmp_path):
    sweep = tiny_sweep()
    sweep.grid = {"momentum": [0.1]}
    with pytest.raises(ConfigError, match="unknown grid axis"):
        sweep.validate()
    sweep.grid = {"weight_decay": [-1.0]}
    with pytest.raises(ConfigError, match="weight_decay"):
        sweep.validate()
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = run_cli("sweep", bad, "--runs-dir", tmp_path / "runs")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()
    spec = json.loads((REPO / "sweeps" / "grokking_p23_lambda.json").read_text())
    spec["base"]["steps"] = 0
    bad.write_text(json.dumps(spec))
    result = call_cli("sweep", bad, "--runs-dir", tmp_path / "runs")  # in-process: the process path is seen above
    assert result.returncode == 2 and "steps" in result.stderr


@pytest.mark.parametrize("task_change,msg", [
    ({"q": 3}, "unexpected keyword argument 'q'"),
    ({"p": 50}, "token ids run to 50 but model.d_vocab is 24"),
    ({"train_frac": 1.5}, "train_frac must be in"),
    ({"op": "pow"}, "unknown modular operation"),
], ids=["unknown-kwarg", "vocab-too-small", "bad-fraction", "bad-op"])
def test_bad_task_arguments_fail_before_any_run_starts(tmp_path, task_change, msg):
    spec = json.loads((REPO / "sweeps" / "grokking_p23_lambda.json").read_text())
    spec["base"]["task"].update(task_change)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(spec))
    cli = run_cli if "q" in task_change else call_cli  # one case as a real process, the rest in-process
    result = cli("sweep", bad, "--runs-dir", tmp_path / "runs")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert msg in result.stderr
    assert not (tmp_path / "runs").exists()  # no run folder was made


def _same_results(a: Path, b: Path) -> None:
    with np.load(a / "metrics.npz") as fa, np.load(b / "metrics.npz") as fb:
        assert sorted(fa.files) == sorted(fb.files)
        for key in fa.files:
            assert np.array_equal(fa[key], fb[key]), key
    wa = torch.load(a / "weights.pt", weights_only=True)
    wb = torch.load(b / "weights.pt", weights_only=True)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.mark.slow
def test_ray_sweep_survives_a_killed_worker(tmp_path):
    ray = pytest.importorskip("ray", reason="make test installs requirements-ray.txt")
    sweep = tiny_sweep(steps=1500, members_per_run=1, checkpoint_every=50)
    ray_root, local_root = tmp_path / "ray", tmp_path / "local"
    import tempfile

    ray_tmp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths are length-limited
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=ray_tmp)
    try:
        errors = []
        thread = threading.Thread(
            target=lambda: errors.append(None) if run_sweep(sweep, backend="ray", root=ray_root, report=quiet)
            else None, daemon=True)
        thread.start()
        killed = None
        deadline = time.time() + 240
        while killed is None and time.time() < deadline and thread.is_alive():
            for pid_file in ray_root.glob("*/worker.pid"):
                run_dir = pid_file.parent
                if (run_dir / "checkpoint.pt").exists() and not (run_dir / "provenance.json").exists():
                    os.kill(int(pid_file.read_text()), signal.SIGKILL)
                    killed = run_dir
                    break
            time.sleep(0.05)
        assert killed is not None, "no run was caught mid-way to kill its worker"
        thread.join(timeout=600)
        assert not thread.is_alive() and errors == [None]
    finally:
        ray.shutdown()
    provenance = json.loads((killed / "provenance.json").read_text())
    assert provenance["resumed_from_step"] is not None  # the retry resumed from the checkpoint
    local_paths = run_sweep(sweep, root=local_root, report=quiet)
    ray_dirs = sorted(p for p in ray_root.iterdir() if p.is_dir())
    assert [p.name for p in ray_dirs] == sorted(p.name for p in local_paths)  # every run exactly once
    for path in local_paths:
        _same_results(path, ray_root / path.name)


def _glued(notebook: Path, name: str) -> str:
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("metadata", {}).get("scrapbook", {}).get("name") == name:
                return out["data"]["application/papermill.record/text/plain"]
    raise KeyError(name)


@pytest.mark.slow
def test_chapter_sweep_fills_the_cache_the_chapter_reads(tmp_path):
    runs_dir = tmp_path / "runs"
    result = run_cli("sweep", "cleanup_scaling", "--profile", "smoke", "--runs-dir", runs_dir)
    assert result.returncode == 0, result.stderr
    finished = sorted(p.parent.name for p in runs_dir.glob("*/provenance.json"))
    assert finished
    provenance = {name: (runs_dir / name / "provenance.json").read_bytes() for name in finished}
    import os
    import subprocess
    import sys

    env = dict(os.environ, GOALDRIFT_RUNS_DIR=str(runs_dir))
    chapter = subprocess.run([sys.executable, "-m", "goaldrift", "run", "cleanup_scaling", "--profile", "smoke",
                              "--out", str(tmp_path / "out")], capture_output=True, text=True, env=env, cwd=REPO)
    assert chapter.returncode == 0, chapter.stderr[-2000:]
    assert _glued(tmp_path / "out" / "cleanup_scaling.ipynb", "trained_now") == "0"
    # The sweep's runs are read, not retrained. (The chapter also trains its rescaling
    # continuations, which start from weights of a run and so are not part of the sweep.)
    assert {name: (runs_dir / name / "provenance.json").read_bytes() for name in finished} == provenance


def test_sweep_command_refuses_what_it_cannot_sweep(tmp_path):
    for args in (["l2_equilibrium"], ["no_such_thing"], ["cleanup_scaling", "-p", "nope", "1"],
                 ["cleanup_scaling", "--address", "1.2.3.4:6379"]):
        cli = run_cli if args == ["l2_equilibrium"] else call_cli  # one case as a real process, the rest in-process
        result = cli("sweep", *args, "--runs-dir", tmp_path / "runs")
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, args
    assert not (tmp_path / "runs").exists()
