"""Sweep specifications are typed and bounded; Ray connections time out (issue 14, cases 10, 11)."""

import json
import socket
import time

import pytest

from conftest import call_cli, run_cli
from goaldrift.engine.sweeps import Sweep
from goaldrift.engine.train import ConfigError
from test_sweeps import tiny_sweep


def _spec(tmp_path, **changes):
    d = tiny_sweep().to_dict()
    for key, value in changes.items():
        if key.startswith("grid_"):
            d["grid"][key[5:]] = value
        else:
            d[key] = value
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(d))
    return path


def test_a_huge_grid_is_refused_at_once(tmp_path):
    """Case 10: 100x100x100 printed nothing and grew to 1 GB."""
    spec = _spec(tmp_path, grid_lr=[1e-3 + i * 1e-6 for i in range(1000)],
                 grid_weight_decay=[i * 1e-3 for i in range(1000)], grid_seed=list(range(100)))
    runs = tmp_path / "runs"
    start = time.time()
    result = run_cli("sweep", spec, "--runs-dir", runs, cwd=tmp_path, timeout=120)
    assert time.time() - start < 60
    assert result.returncode == 2 and "grid" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not runs.exists()


BAD = {
    "boolean seed": dict(grid_seed=[True, False]),
    "boolean members_per_run": dict(members_per_run=True),
    "string lr": dict(grid_lr=["0.01"]),
    "boolean weight_decay": dict(grid_weight_decay=[False]),
    "grid not an object": dict(grid=[1, 2]),
    "name not a string": dict(name=3),
}


@pytest.mark.parametrize("label", BAD)
def test_mistyped_specs_are_refused(tmp_path, label):
    path = _spec(tmp_path, **BAD[label])
    with pytest.raises(ConfigError):
        Sweep.from_dict(json.loads(path.read_text())).validate()
    cli = run_cli if label == next(iter(BAD)) else call_cli  # one case as a real process, the rest in-process
    result = cli("sweep", path, "--runs-dir", tmp_path / "runs", cwd=tmp_path)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, (label, result.stderr)
    assert not (tmp_path / "runs").exists()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # starts Ray
def test_ray_address_on_a_closed_port_fails_within_30_s(tmp_path):
    """Case 11: hung for over 120 s, printing nothing."""
    address = f"127.0.0.1:{_closed_port()}"
    start = time.time()
    result = run_cli("sweep", _spec(tmp_path), "--backend", "ray", "--address", address,
                     "--runs-dir", tmp_path / "runs", cwd=tmp_path, timeout=120)
    assert time.time() - start < 30
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and address in lines[0], result.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow  # starts Ray
def test_ray_address_that_answers_but_is_not_ray_fails_within_30_s(tmp_path):
    """Case 11, the other half: something listens on the port but never answers as Ray."""
    pytest.importorskip("ray")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        address = f"127.0.0.1:{server.getsockname()[1]}"
        start = time.time()
        result = run_cli("sweep", _spec(tmp_path), "--backend", "ray", "--address", address,
                         "--runs-dir", tmp_path / "runs", cwd=tmp_path, timeout=120)
        took = time.time() - start
    assert took < 30, took
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.startswith("goaldrift:")]
    assert len(lines) == 1 and address in lines[0], result.stderr


# ---- issue 30, item 2: a sweep spec is checked before any work ------------------------

def _cli_refuses(tmp_path, path, message, cli=call_cli):
    result = cli("sweep", path, "--runs-dir", tmp_path / "runs", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr, result.stderr
    assert not (tmp_path / "runs").exists()


TYPOS = {  # key misspelt -> where, and what it was meant to be
    "grdi": ("the sweep spec", "grid"),
    "memebers_per_run": ("the sweep spec", "members_per_run"),
    "base.steos": ("the sweep spec's base", "steps"),
    "base.model.d_modle": ("base.model (transformer)", "d_model"),
    "base.optim.weight_decy": ("base.optim", "weight_decay"),
}


@pytest.mark.parametrize("typo", TYPOS)
def test_a_misspelt_key_is_refused_with_a_suggestion(tmp_path, typo):
    """"grdi" trained the base point only; "memebers_per_run" silently used 16."""
    d = tiny_sweep().to_dict()
    *parents, key = typo.split(".")
    where = d
    for part in parents:
        where = where[part]
    where[key] = where.pop(TYPOS[typo][1], 1)
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(d))
    cli = run_cli if typo == "grdi" else call_cli  # one case as a real process, the rest in-process
    _cli_refuses(tmp_path, path, f"unknown key {key!r} in {TYPOS[typo][0]} (did you mean {TYPOS[typo][1]!r}?)", cli)


@pytest.mark.parametrize("where", ["grid", "base"])
def test_an_empty_sweep_is_refused(tmp_path, where):
    """No seeds reported "0/0 finished" and success."""
    d = tiny_sweep().to_dict()
    if where == "grid":
        d["grid"]["seed"] = []
    else:
        del d["grid"]["seed"]
        d["base"]["seeds"] = []
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(d))
    _cli_refuses(tmp_path, path, "seed", run_cli if where == "base" else call_cli)


@pytest.mark.parametrize("where", ["grid", "base", "data_seed"])
def test_a_seed_torch_cannot_take_is_refused(tmp_path, where):
    """A grid seed of 2**64 passed the checks and failed inside the run ("Overflow when unpacking long long")."""
    d = tiny_sweep().to_dict()
    if where == "grid":
        d["grid"]["seed"] = [0, 2**64]
    elif where == "base":
        del d["grid"]["seed"]
        d["base"]["seeds"] = [2**64]
    else:
        d["base"]["data_seed"] = 2**64
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(d))
    _cli_refuses(tmp_path, path, "[0, 2**63) (torch.manual_seed takes at most 2**64 - 1",
                 run_cli if where == "grid" else call_cli)


def test_the_largest_seed_allowed_is_one_torch_takes():
    import torch

    from goaldrift.engine.train import SEED_LIMIT, valid_seed

    torch.Generator().manual_seed(SEED_LIMIT - 1)
    assert valid_seed(SEED_LIMIT - 1) and not valid_seed(SEED_LIMIT) and not valid_seed(-1)
    with pytest.raises((ValueError, RuntimeError, OverflowError)):
        torch.Generator().manual_seed(2**64)


@pytest.mark.parametrize("kind", ["fifo", "device", "huge", "deep"])
def test_a_spec_that_is_no_regular_bounded_file_is_refused(tmp_path, kind):
    """A FIFO hung, /dev/zero grew without bound; 200,000 brackets were a RecursionError traceback."""
    import os

    path = tmp_path / "spec.json"
    if kind == "fifo":
        os.mkfifo(path)
        message = "is not a regular file"
    elif kind == "device":
        path = "/dev/null"  # as /dev/zero, without the unbounded read should this regress
        message = "is not a regular file"
    elif kind == "huge":
        path.write_text(json.dumps(tiny_sweep().to_dict()) + " " * 1_000_000)  # valid JSON, too large
        message = "bytes; at most 1,000,000"
    else:
        path.write_text("[" * 200_000 + "]" * 200_000)
        message = "levels deep; at most"
    in_a_process = lambda *args, **kw: run_cli(*args, timeout=120, **kw)  # a hang fails, not waits
    _cli_refuses(tmp_path, path, message, in_a_process if kind == "fifo" else call_cli)


@pytest.mark.parametrize("key, value", [("seeds", 5), ("optim.groups", []), ("optim.lr", [[0.01]])])
def test_a_mistyped_base_value_is_one_line_not_a_traceback(tmp_path, key, value):
    d = tiny_sweep().to_dict()
    *parents, name = ["base", *key.split(".")]
    where = d
    for part in parents:
        where = where[part]
    where[name] = value
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(d))
    _cli_refuses(tmp_path, path, name)
