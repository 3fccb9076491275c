"""goaldrift.numerics: the CPU kernels every training process computes with.

Each case that depends on what torch has already computed runs in a fresh process:
the libraries read their variables once, at their first use."""

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO
from goaldrift import numerics


def fresh(code: str, **env) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in numerics.PORTABLE_ENV and k != numerics.MODE_VAR}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                          env={**environ, **env}, timeout=120)


HAS_AVX2 = "avx2" in open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else False


@pytest.mark.parametrize("raw, mode", [(None, "portable"), ("", "portable"), ("native", "native"),
                                       (" Portable ", "portable")])
def test_the_mode_is_read_from_the_environment(raw, mode):
    assert numerics.mode({} if raw is None else {numerics.MODE_VAR: raw}) == mode


def test_a_bad_mode_is_one_line():
    with pytest.raises(ValueError, match=r"GOALDRIFT_NUMERICS='fast': use one of portable, native") as err:
        numerics.mode({numerics.MODE_VAR: "fast"})
    assert "\n" not in str(err.value)


def test_pin_sets_the_portable_variables_over_stray_ones_and_native_touches_nothing():
    env = {"ATEN_CPU_CAPABILITY": "avx512", "MKL_CBWR": "AUTO"}
    assert numerics.pin(env) == "portable" and env == numerics.PORTABLE_ENV
    native = {numerics.MODE_VAR: "native", "MKL_CBWR": "AUTO"}
    assert numerics.pin(native) == "native" and native == {numerics.MODE_VAR: "native", "MKL_CBWR": "AUTO"}


@pytest.mark.skipif(not HAS_AVX2, reason="the pin is to AVX2")
def test_importing_goaldrift_pins_torch_and_records_it():
    out = fresh("import goaldrift, json, torch; from goaldrift import numerics\n"
                "print(torch.backends.cpu.get_cpu_capability()); print(json.dumps(numerics.describe()))")
    assert out.returncode == 0 and out.stderr == "", out.stderr
    capability, record = out.stdout.splitlines()
    record = json.loads(record)
    assert capability == "AVX2" and record["pinned"] and record["mode"] == "portable"
    assert record["mkl_cbwr"] == "AVX2" and record["cpu_model"]
    assert record["cpu_vendor"] == numerics.cpu_vendor()


def test_cpu_vendor_is_read_from_cpuinfo():
    # independent of the function: the raw vendor_id line, mapped by hand
    raw = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("vendor_id")),
               None)
    expected = {"GenuineIntel": "intel", "AuthenticAMD": "amd"}.get(raw, raw or "unknown")
    assert numerics.cpu_vendor() == expected


def test_torch_computing_before_goaldrift_warns_in_one_line():
    # whether the pin failed is read from torch, not assumed: on a CPU whose native
    # capability is AVX2 the kernels are the pinned ones anyway
    out = fresh("import torch; torch.ones(4).sum(); native = torch.backends.cpu.get_cpu_capability()\n"
                "import goaldrift; print(native)")
    assert out.returncode == 0
    if out.stdout.strip() == numerics.PINNED_CAPABILITY:
        assert out.stderr == ""
    else:
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and "CPU kernels are not pinned" in lines[0]


def test_native_mode_leaves_the_kernels_alone():
    out = fresh("import goaldrift, os, torch; print(os.environ.get('MKL_CBWR'))\n"
                "from goaldrift import numerics; print(numerics.describe()['pinned'])",
                GOALDRIFT_NUMERICS="native")
    assert out.returncode == 0 and out.stdout.split() == ["None", "False"] and out.stderr == ""


def test_the_run_cache_keeps_the_modes_apart():
    code = ("import goaldrift; from goaldrift.engine import runs; from goaldrift.engine.train import RunConfig\n"
            "c = RunConfig(device='cpu'); print(runs.config_hash(c)); import json; print(json.dumps(runs.run_key(c)['numerics']))")
    portable, native = fresh(code), fresh(code, GOALDRIFT_NUMERICS="native")
    assert portable.returncode == 0 and native.returncode == 0, portable.stderr + native.stderr
    (h_p, key_p), (h_n, key_n) = portable.stdout.splitlines(), native.stdout.splitlines()
    assert h_p != h_n
    assert json.loads(key_p) == {"mode": "portable", **numerics.PORTABLE_ENV,
                                 "cpu_vendor": numerics.cpu_vendor()} or not HAS_AVX2
    assert json.loads(key_n)["mode"] == "native" and json.loads(key_n)["cpu_model"] == numerics.cpu_model()


def test_the_command_refuses_a_bad_mode_before_any_work():
    bad = subprocess.run([sys.executable, "-m", "goaldrift", "run", "l2_equilibrium", "--profile", "smoke"],
                         capture_output=True, text=True, cwd=REPO,
                         env={**os.environ, "GOALDRIFT_NUMERICS": "fast", "PYTHONWARNINGS": "ignore"})
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1] == (
        "goaldrift: error: GOALDRIFT_NUMERICS='fast': use one of portable, native (default portable)")


def test_the_shell_words_for_the_makefile():
    out = fresh("import goaldrift.numerics as n; raise SystemExit(n.main())")
    assert out.stdout.split() == [f"{k}={v}" for k, v in numerics.PORTABLE_ENV.items()]
    assert fresh("import goaldrift.numerics as n; raise SystemExit(n.main())",
                 GOALDRIFT_NUMERICS="native").stdout.split() == ["GOALDRIFT_NUMERICS=native"]
