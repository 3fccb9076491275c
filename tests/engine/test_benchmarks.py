"""The benchmark scripts still run (numbers are theirs to print, not ours to
check: timing targets never live in tests). Tiny sizes, CPU."""

import subprocess
import sys

import pytest
import torch

from conftest import REPO

BENCH = REPO / "benchmarks" / "bench_engine.py"


def test_engine_benchmark_runs_and_prints_its_rows():
    out = subprocess.run([sys.executable, str(BENCH), "--device", "cpu", "--threads", "1", "--trials", "1",
                          "--plain-steps", "1", "--engine-steps", "2", "--ensembles", "1,2"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    for row in ("plain published-style step", "engine train step (K=1)", "speed-up", "K=2"):
        assert row in out.stdout, row


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
