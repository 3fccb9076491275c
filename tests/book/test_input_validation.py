"""Every input validated before any work or any write (issue 14, cases 9, 12, 13, 15)."""

import os
import subprocess
import sys

import pytest

from conftest import call_cli, run_cli


def _cli(*args, env_extra=None, cwd):
    env = dict(os.environ, PYTHONWARNINGS="ignore", **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "goaldrift", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env=env)


def _one_line_exit_2(result):
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("goaldrift: error:") and "Traceback" not in result.stderr, \
        result.stderr


# the variable is read at import, so each case needs its own process: one in make test-fast, all in make test
@pytest.mark.parametrize("value", ["abc", *(pytest.param(v, marks=pytest.mark.slow) for v in ("", "0", "-1", "2.5"))])
def test_bad_thread_count_is_one_line_and_writes_nothing(tmp_path, value):
    """Case 9: GOALDRIFT_NUM_THREADS=abc / empty gave a traceback at import; 0 and -1 were ignored."""
    result = _cli("run", "l2_equilibrium", "--profile", "smoke", "--out", tmp_path / "out",
                  env_extra={"GOALDRIFT_NUM_THREADS": value}, cwd=tmp_path)
    _one_line_exit_2(result)
    assert "GOALDRIFT_NUM_THREADS" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_bad_worker_count_is_one_line_and_writes_nothing(tmp_path):
    """GOALDRIFT_WORKERS is checked with the other variables, before any work."""
    result = _cli("run", "cleanup_scaling", "--profile", "smoke", "--out", tmp_path / "out",
                  env_extra={"GOALDRIFT_WORKERS": "two"}, cwd=tmp_path)
    _one_line_exit_2(result)
    assert "GOALDRIFT_WORKERS" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_bad_thread_count_does_not_break_import():
    code = "import goaldrift.engine.device, goaldrift.engine.runs; print('ok')"
    env = dict(os.environ, GOALDRIFT_NUM_THREADS="abc")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr


def test_runs_dir_that_is_a_file_is_refused_at_once(tmp_path):
    """Case 13: run failed only after 9 s, inside the kernel."""
    blocker = tmp_path / "runs"
    blocker.write_text("x")
    result = _cli("run", "grokking_replication", "--profile", "smoke", "--out", tmp_path / "out",
                  env_extra={"GOALDRIFT_RUNS_DIR": blocker}, cwd=tmp_path)
    _one_line_exit_2(result)
    assert "GOALDRIFT_RUNS_DIR" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]


@pytest.mark.parametrize("value", ["-inf", "-1e-3", "-.5"])
def test_a_negative_or_infinite_value_is_a_value_not_an_option(tmp_path, value):
    """Case 15: `-p weight_decay -inf` gave "expected 2 arguments"."""
    cli = run_cli if value == "-inf" else call_cli  # one case as a real process, the rest in-process
    result = cli("run", "l2_equilibrium", "-p", "weight_decay", value, "--out", tmp_path / "o", cwd=tmp_path)
    _one_line_exit_2(result)
    assert "expected 2 arguments" not in result.stderr and "weight_decay" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_previous_sibling_name_too_long_is_refused(tmp_path):
    name = "a" * 250  # fits, but name.previous (259) and the hidden work folder do not
    result = run_cli("run", "l2_equilibrium", "--profile", "smoke", "--out", tmp_path / name, cwd=tmp_path)
    _one_line_exit_2(result)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [("-p", "wd_low", "1.0"), ("-p", "wd_high", "0.8"),
                                  ("-p", "wd_high_steps", "100")])
def test_a_lambda_scan_that_does_not_bracket_the_main_run_is_refused(tmp_path, args):
    """grokking_replication's lambda scan must bracket lambda and hold ten evaluations a run."""
    result = call_cli("run", "grokking_replication", *args, "--out", tmp_path / "o", cwd=tmp_path)
    _one_line_exit_2(result)
    assert ("wd_low" in result.stderr) and list(tmp_path.iterdir()) == []


def test_a_thread_count_beyond_the_machine_is_one_line(tmp_path):
    """GOALDRIFT_NUM_THREADS=100000: the process died with a segmentation fault (exit 139)."""
    result = _cli("run", "l2_equilibrium", "--profile", "smoke", "--out", tmp_path / "out",
                  env_extra={"GOALDRIFT_NUM_THREADS": "100000"}, cwd=tmp_path)
    _one_line_exit_2(result)
    assert "at most" in result.stderr and list(tmp_path.iterdir()) == []


def test_a_bad_thread_count_is_one_line_even_with_warnings_on(tmp_path):
    """GOALDRIFT_NUM_THREADS=abc gave three lines: an import-time UserWarning, its source line, the error."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    result = subprocess.run([sys.executable, "-m", "goaldrift", "run", "l2_equilibrium", "--profile", "smoke",
                             "--out", str(tmp_path / "out")], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300, env=dict(env, GOALDRIFT_NUM_THREADS="abc"))
    _one_line_exit_2(result)
