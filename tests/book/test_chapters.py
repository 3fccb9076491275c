"""Every chapter runs at the smoke profile through the CLI; an enforced failing
claim fails a run; notebooks are stored clean; the site builds with -W."""

import json
import shutil
from pathlib import Path

import jupytext
import nbformat
import pytest

from conftest import REPO
from goaldrift.book import cli
from goaldrift.book.chapter import Chapter
from goaldrift.book.chapters import CHAPTERS
from goaldrift.book.notebooks import executable_notebook, parameter_cells, read_notebook, stored_parameters_source
from goaldrift.book.params import Param

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", list(CHAPTERS))
def test_chapter_runs_at_smoke(smoke_book, name):
    _, executed, results = smoke_book
    result = results[name]
    assert result.returncode == 0, result.stderr[-3000:]
    out = executed / name
    claims = json.loads((out / "claims.json").read_text())
    assert claims, "a chapter must record at least one claim"
    ids = {c["id"] for c in claims}
    chapter = CHAPTERS[name]
    assert ids == {d.id for d in chapter.claims}, f"{name}: recorded claims differ from the declared ones"
    info = json.loads((out / "run_info.json").read_text())
    assert info["profile"] == "smoke" and info["ok"]
    nb = nbformat.read(out / f"{name}.ipynb", as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert figures, f"{name}: the executed notebook contains no figure"


def test_site_builds_with_warnings_as_errors(smoke_site):
    html = smoke_site
    for page in ["index.html", "book/generated/verdicts.html", "book/generated/build_info.html", "book/generated/library.html",
                 *(f"book/chapters/{name}.html" for name in CHAPTERS)]:
        assert (html / page).exists(), page
    verdicts = (html / "book/generated/verdicts.html").read_text()
    assert "null_space_decay_per_step" in verdicts
    assert "Run this chapter" in (html / "book/chapters/l2_equilibrium.html").read_text()


def test_chapters_are_stored_as_text_without_outputs_or_values():
    assert not list((REPO / "book" / "chapters").glob("*.ipynb")), "chapters are stored as MyST Markdown"
    for name, chapter in CHAPTERS.items():
        assert chapter.notebook.suffix == ".md" and chapter.notebook.exists(), name
        nb = read_notebook(chapter.notebook)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.get("outputs") and cell.get("execution_count") is None, name
        tagged = parameter_cells(nb)
        assert len(tagged) == 1, f"{name}: exactly one cell must be tagged 'parameters'"
        # the stored cell holds no values: the spec is the one place a default is written
        assert tagged[0].source == stored_parameters_source(name), f"{name}: the parameters cell holds values"


def test_generated_parameters_cell_assigns_every_declared_parameter():
    for name, chapter in CHAPTERS.items():
        cell = parameter_cells(executable_notebook(chapter))[0]
        namespace = {}
        exec(cell.source, namespace)
        namespace.pop("__builtins__")
        assert namespace == {"profile": "default", "output_dir": "", **chapter.defaults()}, name


def test_every_chapter_declares_its_claims():
    for name, chapter in CHAPTERS.items():
        assert chapter.claims, f"{name} declares no claims"
        ids = [d.id for d in chapter.claims]
        assert len(ids) == len(set(ids)), name
        assert {chapter.headline_claim} - {None} <= set(ids), name
        for d in chapter.claims:
            assert d.hypothesis in (None, *chapter.hypotheses), f"{name}: {d.id} names {d.hypothesis}"


FAILING_NOTEBOOK = """
from goaldrift.book.claims import ClaimBook
claims = ClaimBook("failing_demo", profile=profile, output_dir=output_dir)
claims.check("one_equals_two", "a deliberately false claim", 1.0, 2.0, tolerance=0.1, comparison="abs")
claims.finish()
"""


def _failing_chapter(tmp_path, monkeypatch) -> Chapter:
    book = tmp_path / "book"
    (book / "chapters").mkdir(parents=True)
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "default"\noutput_dir = ""\nseed = 0')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(FAILING_NOTEBOOK)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    jupytext.write(nb, book / "chapters" / "failing_demo.md", fmt="md:myst")
    monkeypatch.setattr("goaldrift.book.chapter.BOOK_DIR", book)
    chapter = Chapter("failing_demo", "A failing demo", [Param("seed", int, 0, low=0)])
    monkeypatch.setitem(CHAPTERS, "failing_demo", chapter)
    return chapter


def test_failing_claim_fails_enforced_run_but_not_smoke(tmp_path, monkeypatch, capsys):
    _failing_chapter(tmp_path, monkeypatch)
    out = tmp_path / "out"
    assert cli.main(["run", "failing_demo", "--out", str(out)]) == 1
    assert "claim failure" in capsys.readouterr().err
    nb = nbformat.read(out / "failing_demo.ipynb", as_version=4)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors and errors[0].ename == "ClaimFailure"  # the failure is visible in the notebook
    assert json.loads((out / "claims.json").read_text())[0]["passed"] is False
    # A smoke run (claims not enforced) succeeds and replaces the failed output...
    assert cli.main(["run", "failing_demo", "--profile", "smoke", "--out", str(out)]) == 0
    assert json.loads((out / "run_info.json").read_text())["ok"]
    # ...and a failed run after it keeps that good output as .previous.
    assert cli.main(["run", "failing_demo", "--out", str(out)]) == 1
    assert json.loads((tmp_path / "out.previous" / "run_info.json").read_text())["profile"] == "smoke"
    assert not json.loads((out / "run_info.json").read_text())["ok"]


def test_out_folder_with_foreign_content_is_refused(tmp_path):
    precious = tmp_path / "mine"
    precious.mkdir()
    (precious / "thesis.tex").write_text("do not move me")
    assert cli.main(["run", "l2_equilibrium", "--profile", "smoke", "--out", str(precious)]) == 2
    assert (precious / "thesis.tex").read_text() == "do not move me"
    assert not (tmp_path / "mine.previous").exists()
