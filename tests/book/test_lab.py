"""A chapter opened in JupyterLab and run top to bottom, with no papermill
parameters: it takes its profile from $GOALDRIFT_PROFILE (default: the default
profile), writes its claims outside book/, and leaves book/ as it was."""

import json
import os

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import REPO
from goaldrift.book.notebooks import read_notebook

pytestmark = pytest.mark.slow


def _snapshot(folder):
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


def test_chapter_runs_top_to_bottom_without_papermill(tmp_path, monkeypatch):
    name = "real_runs_decay"  # the cheapest chapter
    monkeypatch.setenv("GOALDRIFT_PROFILE", "smoke")  # the default profile, at smoke size, for the test's time
    monkeypatch.setenv("GOALDRIFT_INTERACTIVE_DIR", str(tmp_path / "interactive"))
    book = REPO / "book"
    before = _snapshot(book)
    nb = read_notebook(book / "chapters" / f"{name}.md")
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(book / "chapters")}}).execute()
    claims = json.loads((tmp_path / "interactive" / name / "claims.json").read_text())
    assert claims and all(c["kind"] in ("check", "evidence") for c in claims)
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "interactive run: profile 'smoke'" in printed
    assert _snapshot(book) == before, "running a chapter interactively changed book/"


def test_default_profile_without_the_variable(monkeypatch):
    from goaldrift.book.chapters import CHAPTERS
    from goaldrift.book.profiles import interactive_parameters

    monkeypatch.delenv("GOALDRIFT_PROFILE", raising=False)
    values = interactive_parameters("proxy_drift")
    assert values["profile"] == "default"
    assert values["n_seeds"] == CHAPTERS["proxy_drift"].defaults()["n_seeds"]
    assert "book" not in os.path.relpath(values["output_dir"], REPO).split(os.sep)


def test_profile_fills_only_the_parameters_the_reader_did_not_set(monkeypatch, capsys):
    from goaldrift.book.chapters import CHAPTERS
    from goaldrift.book.params import ParamError
    from goaldrift.book.profiles import interactive_parameters, resolve

    monkeypatch.setenv("GOALDRIFT_PROFILE", "default")
    profile = resolve(CHAPTERS["proxy_drift"], "default")
    values = interactive_parameters("proxy_drift", {"weight_decay": 0.9, "seed": profile["seed"], "other": 1})
    assert values["weight_decay"] == 0.9 and values["n_seeds"] == profile["n_seeds"]
    out = capsys.readouterr().out
    assert f"weight_decay = 0.9 ({profile['weight_decay']!r})" in out and "seed =" not in out
    with pytest.raises(ParamError, match="parameter 'weight_decay': -1.0 is outside the valid range"):
        interactive_parameters("proxy_drift", {"weight_decay": -1.0})  # the CLI's message


def test_empty_profile_variable_means_the_default(monkeypatch):
    from goaldrift.book.profiles import interactive_parameters

    monkeypatch.setenv("GOALDRIFT_PROFILE", "")
    assert interactive_parameters("real_runs_decay")["profile"] == "default"


def test_an_edited_parameters_cell_keeps_the_readers_value(tmp_path, monkeypatch):
    # as JupyterLab runs it: the reader types a value above the call, then runs every cell
    name = "real_runs_decay"
    monkeypatch.setenv("GOALDRIFT_PROFILE", "smoke")
    monkeypatch.setenv("GOALDRIFT_INTERACTIVE_DIR", str(tmp_path / "interactive"))
    nb = read_notebook(REPO / "book" / "chapters" / f"{name}.md")
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    cell.source = "check_steps = 4000\n" + cell.source
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(REPO / "book" / "chapters")}}).execute()
    printed = "".join(o.get("text", "") for o in cell.outputs)
    assert "check_steps = 4000 (" in printed, printed
