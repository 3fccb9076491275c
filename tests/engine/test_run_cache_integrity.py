"""The run cache verifies what it loads (issue 14, cases 4, 6, 12).

Every corruption is quarantined (renamed aside, with one line naming it)
and the run is retrained to the same numbers as a clean run."""

import json
import shutil

import numpy as np
import pytest
import torch

from goaldrift.engine import runs
from test_train_runs import mlp_config


def _same(a: runs.Run, b: runs.Run) -> None:
    for k in a.metrics:
        assert np.array_equal(a.metrics[k], b.metrics[k]), k
    for (n, p), q in zip(a.model.named_parameters(), b.model.parameters()):
        assert torch.equal(p, q), n


def _flip_bit(path, offset_from_end=200):
    data = bytearray(path.read_bytes())
    data[len(data) - offset_from_end] ^= 0x01
    path.write_bytes(bytes(data))


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


CORRUPTIONS = {
    "truncated weights.pt": ("weights.pt", _truncate),
    "flipped bit in weights.pt": ("weights.pt", _flip_bit),
    "garbage config.json": ("config.json", lambda p: p.write_text("{garbage")),
    "garbage metrics.npz": ("metrics.npz", lambda p: p.write_bytes(b"garbage")),
    "flipped bit in metrics.npz": ("metrics.npz", _flip_bit),
    "garbage provenance.json": ("provenance.json", lambda p: p.write_text("{garbage")),
}


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    return runs.run(mlp_config(), root=tmp_path_factory.mktemp("clean"))


@pytest.mark.parametrize("label", CORRUPTIONS)
def test_a_corrupt_finished_run_is_quarantined_and_retrained(tmp_path, clean, capsys, label):
    name, corrupt = CORRUPTIONS[label]
    path = tmp_path / clean.path.name
    shutil.copytree(clean.path, path)
    corrupt(path / name)
    again = runs.run(mlp_config(), root=tmp_path)
    assert again.trained, f"{label}: the corrupt entry was used"
    _same(again, clean)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and clean.path.name in err[0] and "quarantined" in err[0], err
    aside = [p for p in tmp_path.iterdir() if p.name != path.name]
    assert len(aside) == 1 and (aside[0] / name).exists()  # kept for inspection, never deleted
    assert not runs.run(mlp_config(), root=tmp_path).trained  # the retrained entry verifies


def test_files_copied_from_another_run_are_not_used(tmp_path, clean):
    """Case 4: another run's weights and metrics copied into this run's folder."""
    other = runs.run(mlp_config(optim=runs.RunConfig().optim.__class__(kind="adamw", lr=[1e-3, 1e-3],
                                                                         weight_decay=[0.5, 0.5])),
                     root=tmp_path / "other")
    path = tmp_path / clean.path.name
    shutil.copytree(clean.path, path)
    for name in ("weights.pt", "metrics.npz"):
        shutil.copy(other.path / name, path / name)
    again = runs.run(mlp_config(), root=tmp_path)
    assert again.trained
    _same(again, clean)


def test_a_whole_folder_under_another_hash_is_not_used(tmp_path, clean):
    """Case 4: config.json must match the hash in the folder's name."""
    other = runs.run(mlp_config(steps=40), root=tmp_path / "other")
    shutil.copytree(other.path, tmp_path / clean.path.name)
    again = runs.run(mlp_config(), root=tmp_path)
    assert again.trained
    _same(again, clean)


def test_load_run_refuses_a_flipped_bit_with_a_message_naming_the_folder(tmp_path, clean):
    path = tmp_path / clean.path.name
    shutil.copytree(clean.path, path)
    _flip_bit(path / "weights.pt")
    with pytest.raises(runs.CorruptRun, match=path.name):
        runs.load_run(path)


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_a_corrupt_checkpoint_is_quarantined_and_the_run_retrained(tmp_path, clean, capsys, damage):
    """Case 6: a truncated checkpoint.pt of an interrupted run."""
    path = tmp_path / clean.path.name
    path.mkdir()
    shutil.copy(clean.path / "config.json", path / "config.json")
    state = runs.Trainer(mlp_config()).run(None, progress=False)
    runs.write_torch(path / "checkpoint.pt", runs._checkpoint_dict(state, 0.0))
    if damage == "truncate":
        _truncate(path / "checkpoint.pt")
    else:
        (path / "checkpoint.pt").write_bytes(b"garbage")
    again = runs.run(mlp_config(), root=tmp_path)
    assert again.trained
    _same(again, clean)
    err = capsys.readouterr().err
    assert "quarantined" in err and path.name in err


def test_exit_2_leaves_no_run_folder_for_cuda_on_a_cpu_machine(tmp_path):
    """Case 12: a configuration that cannot run here writes nothing to the cache."""
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    from goaldrift.engine.sweeps import run_configs
    from goaldrift.engine.train import ConfigError

    with pytest.raises(ConfigError, match="cuda"):
        run_configs([mlp_config(device="cuda")], root=tmp_path, report=lambda p: None)
    assert list(tmp_path.iterdir()) == []


def test_exit_2_for_an_absurd_step_count_is_a_config_error_before_any_write(tmp_path):
    """Case 12: steps = 10^12 is refused with one line, not a raw allocator message."""
    from goaldrift.engine.sweeps import run_configs
    from goaldrift.engine.train import ConfigError

    with pytest.raises(ConfigError, match="steps"):
        run_configs([mlp_config(steps=10**12)], root=tmp_path, report=lambda p: None)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_first_write_leaves_no_run_folder(tmp_path, monkeypatch):
    """Case 12: a full disk when the run folder is first written."""
    def full(path, obj):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(runs, "write_json", full)
    with pytest.raises(OSError):
        runs.run(mlp_config(), root=tmp_path)
    assert list(tmp_path.iterdir()) == []


# ---- a cache keyed by code (issue 30, item 4) -------------------------------------

CODE_RUN = """
import json
from goaldrift.engine import runs
from goaldrift.engine.models import MLPConfig
from goaldrift.engine.train import OptimConfig, RunConfig
from goaldrift.experiments.decay.unused_weights import _weights
config = RunConfig(task={"name": "linear_regression", "n_samples": 6, "n_features": 4, "n_zero": 2},
                   model=MLPConfig(d_in=6, d_hidden=[], d_out=1, bias=False),
                   optim=OptimConfig(kind="sgd", lr=0.1, weight_decay=0.1), steps=3, seeds=[0],
                   loss="half_mse", eval_every=1, checkpoint_every=None, dtype="float64", device="cpu")
r = runs.run(config, metric_fns={"weights": _weights}, progress=False)
print(json.dumps({"trained": r.trained, "folder": r.path.name, "package": runs.__file__,
                  "weights": r.metrics["weights"].tolist(), "loss": r.metrics["step_loss"].tolist()}))
"""


@pytest.mark.slow  # four processes that import torch
def test_a_changed_metric_or_data_generator_never_reuses_old_entries(tmp_path):
    """Edit a metric function, then a task's data generator, in a copy of the package:
    each edit trains again into a new entry (the old ones stay); unchanged code reuses."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    src = tmp_path / "src"
    shutil.copytree(Path(runs.__file__).parents[1], src / "goaldrift",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(os.environ, PYTHONPATH=str(src), GOALDRIFT_RUNS_DIR=str(tmp_path / "runs"),
               PYTHONWARNINGS="ignore", PYTHONDONTWRITEBYTECODE="1")

    def train():
        out = subprocess.run([sys.executable, "-c", CODE_RUN], capture_output=True, text=True, env=env,
                             cwd=tmp_path, timeout=300)
        assert out.returncode == 0, out.stderr
        result = json.loads(out.stdout.splitlines()[-1])
        assert result["package"].startswith(str(src))  # the copy, not the checkout, computed it
        return result

    def edit(relative, old, new):
        path = src / "goaldrift" / relative
        text = path.read_text()
        assert text.count(old) == 1, (relative, old)
        path.write_text(text.replace(old, new))

    first = train()
    assert first["trained"]
    again = train()
    assert not again["trained"] and again["folder"] == first["folder"]

    edit("experiments/decay/unused_weights.py", 'return {"weights": model.W_0.detach()[:, :, 0]}',
         'return {"weights": 2 * model.W_0.detach()[:, :, 0]}')
    metric_edited = train()
    assert metric_edited["trained"] and metric_edited["folder"] != first["folder"]
    assert np.array_equal(np.array(metric_edited["weights"]), 2 * np.array(first["weights"]))

    edit("engine/tasks/regression.py", "y = X @ w_true + 0.1 * rng", "y = X @ w_true + 0.5 * rng")
    data_edited = train()
    assert data_edited["trained"] and data_edited["folder"] not in (first["folder"], metric_edited["folder"])
    assert data_edited["loss"] != metric_edited["loss"]
    kept = {p.name for p in (tmp_path / "runs").iterdir()}
    assert kept == {first["folder"], metric_edited["folder"], data_edited["folder"]}


def test_the_code_digest_is_the_same_on_every_machine(tmp_path):
    """A file's digest depends on its text only: not its path, nor CRLF line endings."""
    text = runs.Path(runs.__file__).read_bytes()
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "runs.py").write_bytes(text)
    (tmp_path / "crlf.py").write_bytes(text.replace(b"\n", b"\r\n"))
    digest = runs.source_digest(runs.__file__)
    assert runs.source_digest(str(tmp_path / "a" / "runs.py")) == digest
    assert runs.source_digest(str(tmp_path / "crlf.py")) == digest
    (tmp_path / "edited.py").write_bytes(text + b"# an edit\n")
    assert runs.source_digest(str(tmp_path / "edited.py")) != digest


def test_a_function_without_source_cannot_key_a_run():
    with pytest.raises(TypeError, match="source"):
        runs.run_key(mlp_config(), metric_fns={"length": len})


@pytest.mark.parametrize("entry", ["file", "dangling link"])
def test_an_entry_that_is_not_a_folder_is_quarantined_and_retrained(tmp_path, clean, capsys, entry):
    """Issue 30, item 6: a file (or a dangling link) in place of a run's folder."""
    path = tmp_path / clean.path.name
    if entry == "file":
        path.write_text("not a run")
    else:
        path.symlink_to(tmp_path / "gone")
    again = runs.run(mlp_config(), root=tmp_path)
    assert again.trained and again.path == path and path.is_dir()
    _same(again, clean)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and path.name in err[0] and "quarantined" in err[0], err
    aside = [p for p in tmp_path.iterdir() if p.name != path.name]
    assert len(aside) == 1 and aside[0].is_symlink() == (entry != "file")  # kept, never deleted
    assert not runs.run(mlp_config(), root=tmp_path).trained


def test_a_sweep_quarantines_an_entry_that_is_not_a_folder(tmp_path, clean, capsys):
    from goaldrift.engine.sweeps import run_configs

    (tmp_path / clean.path.name).write_text("not a run")
    [path] = run_configs([mlp_config()], root=tmp_path, report=lambda p: None)
    assert path.is_dir() and runs.load_run(path).config == mlp_config()
    assert "quarantined" in capsys.readouterr().err


# ---- quarantine notices reach the user (issue 30, item 6) ---------------------------

LOAD_RUN = """
import json, sys
from goaldrift.engine import runs
from goaldrift.engine.train import RunConfig
r = runs.run(RunConfig.from_dict(json.loads(sys.argv[1])), progress=False)
print(r.trained)
"""


def _damaged_entry(root, clean):
    path = root / clean.path.name
    shutil.copytree(clean.path, path)
    _flip_bit(path / "weights.pt")
    return path


def test_the_quarantine_notice_is_one_line_on_the_loading_process_stderr(tmp_path, clean):
    import os
    import subprocess
    import sys

    path = _damaged_entry(tmp_path, clean)
    out = subprocess.run([sys.executable, "-c", LOAD_RUN, json.dumps(mlp_config().to_dict())],
                         capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, GOALDRIFT_RUNS_DIR=str(tmp_path), PYTHONWARNINGS="ignore"))
    assert out.returncode == 0 and out.stdout.split() == ["True"], out.stderr
    [line] = out.stderr.strip().splitlines()
    assert line.startswith(f"goaldrift: run cache entry {path} has a weights.pt that does not match")
    assert "quarantined as" in line


@pytest.mark.slow  # executes a notebook in a kernel
def test_a_quarantine_inside_a_chapter_reaches_the_commands_stderr(tmp_path, clean, capsys, monkeypatch):
    """In a papermill kernel the notice lands in the notebook; the command repeats it."""
    from chapter_stub import BODY, stub_chapter
    from goaldrift.book.execute import run_chapter

    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    path = _damaged_entry(runs_dir, clean)
    monkeypatch.setenv("GOALDRIFT_RUNS_DIR", str(runs_dir))
    body = ("import json\nfrom goaldrift.engine import runs\nfrom goaldrift.engine.train import RunConfig\n"
            f"runs.run(RunConfig.from_dict(json.loads({json.dumps(json.dumps(mlp_config().to_dict()))})), "
            "progress=False)\n" + BODY)
    result = run_chapter(stub_chapter(tmp_path, body=body), "default", {"x": 1}, tmp_path / "out")
    assert result.ok, result.message
    err = [line for line in capsys.readouterr().err.splitlines() if "quarantined" in line]
    assert len(err) == 1 and err[0].startswith(f"goaldrift: run cache entry {path} has a weights.pt"), err
