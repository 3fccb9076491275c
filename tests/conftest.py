import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GOALDRIFT = [sys.executable, "-m", "goaldrift"]


def pytest_configure(config):
    """Tests train into their own run cache, never the user's runs/."""
    import tempfile

    os.environ["GOALDRIFT_RUNS_DIR"] = tempfile.mkdtemp(prefix="goaldrift-test-runs-")


def run_cli(*args, cwd=REPO, timeout=900):
    """Run the goaldrift command in a subprocess, as a user would."""
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run(
        GOALDRIFT + [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )


def call_cli(*args, cwd=REPO):
    """The goaldrift command's main() run in this process: for the many cases of one
    bad-input family (a subprocess costs seconds of imports; one case per family still
    goes through run_cli)."""
    import contextlib
    import io
    from types import SimpleNamespace

    from goaldrift.book.cli import main

    out, err, here = io.StringIO(), io.StringIO(), os.getcwd()
    try:
        os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as exit_:  # argparse exits itself
                code = exit_.code
    finally:
        os.chdir(here)
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


@pytest.fixture(scope="session")
def smoke_book(tmp_path_factory):
    """Every chapter executed once at the smoke profile, through the CLI."""
    root = tmp_path_factory.mktemp("smoke") / "_build"
    executed = root / "executed"
    from goaldrift.book.chapters import CHAPTERS

    results = {}
    for name in CHAPTERS:
        results[name] = run_cli("run", name, "--profile", "smoke", "--out", executed / name)
    return root, executed, results


@pytest.fixture(scope="session")
def smoke_site(smoke_book):
    """The site built (with -W) from the smoke-profile chapters."""
    from goaldrift.book.site import build_site

    root, executed, results = smoke_book
    failed = [name for name, r in results.items() if r.returncode != 0]
    assert not failed, f"chapters failed at smoke: {failed}"
    assert build_site(executed, root) == 0, "jupyter-book build -W failed"
    return root / "html"
