"""The engine's task registry: every task registers when the engine is imported
(no chapter or experiment module needed), and `goaldrift sweep` trains each one."""

import json
import subprocess
import sys

import pytest

from conftest import REPO, call_cli, run_cli
from goaldrift.engine.models import (DiagonalConfig, FactorisedMatrixConfig, GatedGoalConfig, MLPConfig,
                                     ScaleInvariantMLPConfig, TransformerConfig)
from goaldrift.engine.tasks import TASKS
from goaldrift.engine.train import OptimConfig, RunConfig

ALL_TASKS = ["coordinate_targets", "linear_regression", "matrix_targets", "modular_addition", "proxy", "proxy_tokens",
             "proxy_tokens_placed",
             "teacher_outputs", "teacher_stream"]


def test_every_task_registers_with_the_engine_alone():
    # A fresh interpreter that imports only the engine's sweeps (what `goaldrift sweep` loads).
    code = ("import sys; from goaldrift.engine.sweeps import load_spec; from goaldrift.engine.tasks import TASKS; "
            "print(sorted(TASKS)); print(any(m.startswith('goaldrift.experiments') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.split("\n")[:2] == [str(ALL_TASKS), "False"]
    assert sorted(TASKS) == ALL_TASKS


def proxy_spec() -> dict:
    base = RunConfig(
        task={"name": "proxy", "phase": 1, "n_train": 64, "n_test": 32, "labels": False, "n_bits": 6, "k": 2},
        model=MLPConfig(d_in=6, d_hidden=8, d_out=1), optim=OptimConfig(kind="adamw", lr=0.01, weight_decay=0.1),
        steps=20, seeds=[0], loss="mse", eval_every=10, checkpoint_every=None, device="cpu")
    return {"name": "proxy_tiny", "members_per_run": 2, "grid": {"weight_decay": [0.0, 0.5]},
            "base": base.to_dict()}


def proxy_tokens_spec() -> dict:
    base = RunConfig(
        task={"name": "proxy_tokens", "phase": 1, "n_train": 64, "n_test": 32, "n_bits": 5, "k": 2},
        model=TransformerConfig(d_vocab=3, d_vocab_out=1, n_ctx=6, d_model=8, n_heads=1, d_head=8, d_mlp=8),
        optim=OptimConfig(kind="adamw", lr=0.01, weight_decay=0.1),
        steps=20, seeds=[0], loss="mse", eval_every=10, checkpoint_every=None, device="cpu")
    return {"name": "proxy_tokens_tiny", "members_per_run": 2, "grid": {"weight_decay": [0.0, 0.5]},
            "base": base.to_dict()}


def teacher_spec() -> dict:
    base = RunConfig(task={"name": "teacher_outputs", "n_samples": 32, "d_in": 3}, model=GatedGoalConfig(goal_dim=4),
                     optim=OptimConfig(kind="sgd", lr=0.1, weight_decay=0.1), steps=20, seeds=[0], loss="half_mse",
                     eval_every=10, checkpoint_every=None, dtype="float64", device="cpu")
    return {"name": "teacher_tiny", "members_per_run": 2, "grid": {"weight_decay": [0.0, 0.5]}, "base": base.to_dict()}


def regression_spec() -> dict:
    base = RunConfig(task={"name": "linear_regression", "n_samples": 10, "n_features": 20, "n_zero": 2},
                     model=MLPConfig(d_in=22, d_hidden=[], d_out=1, bias=False),
                     optim=OptimConfig(kind="adamw", lr=0.01, weight_decay=0.1), steps=20, seeds=[0], loss="half_mse",
                     eval_every=10, checkpoint_every=None, dtype="float64", device="cpu")
    return {"name": "regression_tiny", "members_per_run": 2, "grid": {"weight_decay": [0.0, 0.5]}, "base": base.to_dict()}


def small_spec(name: str, task: dict, model, kind: str, loss: str) -> dict:
    base = RunConfig(task=task, model=model, optim=OptimConfig(kind=kind, lr=0.05, weight_decay=0.1), steps=20,
                     seeds=[0], loss=loss, eval_every=10, checkpoint_every=None, dtype="float64", device="cpu")
    return {"name": name, "members_per_run": 2, "grid": {"weight_decay": [0.0, 0.5]}, "base": base.to_dict()}


SMALL_SPECS = {
    "coordinate_targets": lambda: small_spec("coordinates_tiny", {"name": "coordinate_targets", "targets": [1.0, -0.2]},
                                             DiagonalConfig(n=2), "sgd_torch", "half_sse"),
    "matrix_targets": lambda: small_spec("matrix_tiny", {"name": "matrix_targets", "matrix": [[1.0, 0.0], [0.5, 0.2]]},
                                         FactorisedMatrixConfig(d=2, width=2), "sgd_torch", "half_sse"),
    "teacher_stream": lambda: small_spec("stream_tiny", {"name": "teacher_stream", "d_in": 3, "d_hidden": 4, "n_test": 8},
                                         ScaleInvariantMLPConfig(d_in=3, d_hidden=4), "sgd", "half_mse"),
}


@pytest.mark.parametrize("task", ALL_TASKS)
def test_sweep_accepts_every_registered_task(tmp_path, task):
    if task in SMALL_SPECS:
        spec = SMALL_SPECS[task]()
    elif task == "proxy":
        spec = proxy_spec()
    elif task == "proxy_tokens":
        spec = proxy_tokens_spec()
    elif task == "teacher_outputs":
        spec = teacher_spec()
    elif task == "linear_regression":
        spec = regression_spec()
    else:
        spec = json.loads((REPO / "sweeps" / "grokking_p23_lambda.json").read_text())
        spec["base"].update(steps=20, eval_every=10, checkpoint_every=None, device="cpu")
        spec["grid"] = {"weight_decay": [0.0, 1.0]}
        spec["base"]["task"]["p"] = 11
    path = tmp_path / f"{task}.json"
    path.write_text(json.dumps(spec))
    cli = run_cli if task == "modular_addition" else call_cli  # one task as a real process, the rest in-process
    result = cli("sweep", path, "--runs-dir", tmp_path / "runs")
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "runs").glob("*/provenance.json"))) == 1  # one ensemble run of 2 members


def test_sweep_names_an_unknown_task(tmp_path):
    spec = proxy_spec()
    spec["base"]["task"]["name"] = "no_such_task"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(spec))
    result = run_cli("sweep", path, "--runs-dir", tmp_path / "runs")
    assert result.returncode == 2 and "unknown task 'no_such_task'" in result.stderr
    assert "modular_addition" in result.stderr and "proxy" in result.stderr
