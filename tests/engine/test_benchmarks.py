"""The benchmark scripts still run (numbers are theirs to print, not ours to
check: timing targets never live in tests). Tiny sizes, CPU."""

import subprocess
import sys

import pytest
import torch

from conftest import REPO

BENCH = REPO / "benchmarks" / "bench_engine.py"


@pytest.mark.slow  # runs the whole benchmark script
def test_engine_benchmark_runs_and_prints_its_rows(tmp_path):
    # tiny: the "late" state is 2 steps old (the real one trains to loss < 1e-3), one thread
    out = subprocess.run([sys.executable, str(BENCH), "--device", "cpu", "--threads", "1", "--trials", "1",
                          "--plain-steps", "1", "--engine-steps", "2", "--ensembles", "1,2",
                          "--phase-threads", "1", "--late-max-steps", "2", "--state-cache", str(tmp_path),
                          "--no-ftz-steps", "1", "--run-steps", "2"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    for row in ("plain published-style step", "engine train step (K=1)", "speed-up", "K=2",
                "late phase: from step 2", "NOT saturated", "late/early", "WITHOUT FTZ, 1 thread(s)",
                "whole 2-step run"):
        assert row in out.stdout, row
    rows = [line.split("|")[0].strip() for line in out.stdout.splitlines() if line.count("|") == 3]
    assert rows[1:] == ["1"]  # the header, then one row per thread count
    assert list(tmp_path.glob("saturated-*.pt"))  # made once, cached


def test_bad_phase_threads_is_one_line():
    out = subprocess.run([sys.executable, str(BENCH), "--phase-threads", "1,x"], capture_output=True, text=True)
    last = out.stderr.strip().splitlines()[-1]  # argparse: the usage, then one error line
    assert out.returncode == 2 and last.startswith("bench_engine.py: error:") and "--phase-threads" in last
    assert "Traceback" not in out.stderr


@pytest.mark.slow  # runs the benchmark script with a real sweep
def test_sweep_timing_runs_a_real_sweep():
    out = subprocess.run([sys.executable, str(BENCH), "--device", "cpu", "--threads", "1", "--sweep-only",
                          "--sweep-steps", "3", "--sweep-members", "2"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "2-member λ sweep, 3 steps" in out.stdout and "scaled to 40000 steps" in out.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_device_that_is_not_there_is_one_line():
    out = subprocess.run([sys.executable, str(BENCH), "--device", "cuda"], capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr.strip().splitlines() == [
        "bench_engine: error: device 'cuda' requested but CUDA is not available"]


WORKERS_BENCH = REPO / "benchmarks" / "bench_workers.py"


@pytest.mark.slow  # trains the runs twice, once in worker processes
def test_workers_benchmark_runs_and_finds_the_same_bits():
    out = subprocess.run([sys.executable, str(WORKERS_BENCH), "--runs", "2", "--steps", "50", "--workers", "2"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    for row in ("one after another", "side by side, 2 worker", "speed-up", "same bits both ways              : True"):
        assert row in out.stdout, row


def test_workers_benchmark_bad_input_is_one_line():
    out = subprocess.run([sys.executable, str(WORKERS_BENCH), "--runs", "0"], capture_output=True, text=True)
    last = out.stderr.strip().splitlines()[-1]
    assert out.returncode == 2 and last.startswith("bench_workers.py: error:") and "Traceback" not in out.stderr


@pytest.mark.slow  # two processes per trial, one per numerics mode
def test_numerics_benchmark_prints_the_portable_native_ratio():
    out = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_numerics.py"), "--trials", "1",
                          "--steps", "1"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "portable: ATen" in out.stdout and "native  : ATen" in out.stdout
    assert out.stdout.count("portable/native") == 2
