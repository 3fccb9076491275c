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
