"""A sweep ends in a result: a table of the grid (one row per point), its CSV and a plot (issue 31, item 9)."""

import csv
import json
import sys

import numpy as np

from conftest import REPO, call_cli

sys.path.insert(0, str(REPO / "tests" / "engine"))
from test_sweeps import tiny_sweep  # noqa: E402

from goaldrift.book.sweep_report import sweep_rows  # noqa: E402


def _spec(tmp_path):
    sweep = tiny_sweep(steps=60)
    sweep.grid = {"weight_decay": [0.0, 1.0], "seed": [0, 1, 2]}
    sweep.members_per_run = 4  # 6 points in runs of 4 and 2: rows must cross run folders in order
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(sweep.to_dict()))
    return sweep, path


def test_a_sweep_ends_with_its_table_csv_and_plot(tmp_path):
    sweep, spec = _spec(tmp_path)
    runs, report = tmp_path / "runs", tmp_path / "report"
    first = call_cli("sweep", spec, "--runs-dir", runs, "--report", report)
    assert first.returncode == 0, first.stderr
    with open(report / "sweep.csv") as f:
        rows = list(csv.DictReader(f))
    # one row per grid point, in the grid's order, with its own settings
    assert [(float(r["weight_decay"]), int(r["seed"])) for r in rows] == \
        [(p["weight_decay"], p["seed"]) for p in sweep.points()]
    assert {r["status"] for r in rows} == {"trained"}
    assert (report / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    assert "final test_acc" in first.stdout.splitlines()[0] and "6 grid point(s) in 2 run(s)" in first.stdout
    # each final metric is the last evaluation of that member, read independently from its run folder
    for r in rows:
        metrics = np.load(runs / r["run"] / "metrics.npz")
        assert float(r["final test_loss"]) == float(metrics["test_loss"][-1, int(r["member"])])
    again = call_cli("sweep", spec, "--runs-dir", runs, "--report", report)
    with open(report / "sweep.csv") as f:
        assert {r["status"] for r in csv.DictReader(f)} == {"reused"}
    assert again.returncode == 0


def test_only_the_settings_that_vary_are_columns(tmp_path):
    sweep, _ = _spec(tmp_path)
    configs = sweep.runs()
    folders = []
    for i, config in enumerate(configs):
        folder = tmp_path / f"run{i}"
        folder.mkdir()
        k = len(config.seeds)
        np.savez(folder / "metrics.npz", step=np.array([0, 10]), test_acc=np.arange(2 * k, dtype=float).reshape(2, k))
        folders.append(folder)
    columns, rows = sweep_rows(configs, folders)
    assert columns == ["weight_decay", "seed", "final test_acc", "status", "run", "member"]
    assert [r["final test_acc"] for r in rows] == [4.0, 5.0, 6.0, 7.0, 2.0, 3.0]
