"""Results snapshots: what `--snapshot` writes, the sources it records, and the
staleness banner of the pages the book renders from them."""

import json
import shutil
import subprocess
import sys

import nbformat

from goaldrift.book.notebooks import executable_notebook, read_notebook
import pytest
import yaml

from goaldrift.book.site import SNAPSHOTS_CAPTION, _stage_snapshots
from goaldrift.book.chapters import CHAPTERS
from goaldrift.paths import REPO_ROOT
from goaldrift.book.snapshots import (
    MAX_SNAPSHOT_BYTES, REGISTRY, SOURCES_FILE, changed_modules, current_sources, find_snapshots, library_sources, notebook_code,
    snapshot_page, spec_module, write_snapshot,
)

CHAPTER = CHAPTERS["grokking_replication"]


def _imports_at_runtime(code: str) -> set[str]:
    """The goaldrift modules Python actually loads for the import lines of `code`."""
    lines = [ln for ln in code.splitlines() if ln.startswith(("import ", "from "))]
    probe = "\n".join(lines) + "\nimport sys\nprint(sorted(m for m in sys.modules if m.split('.')[0] == 'goaldrift'))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         cwd=REPO_ROOT).stdout
    return set(eval(out))


def test_library_sources_cover_what_python_imports():
    code = notebook_code(CHAPTER.notebook)
    static = library_sources(code)
    loaded = _imports_at_runtime(code)
    assert loaded, "the probe should load goaldrift modules"
    assert loaded <= set(static), f"modules loaded but not recorded: {sorted(loaded - set(static))}"
    assert all(len(h) == 64 for h in static.values())


def test_chapter_sources_are_its_own_spec_not_its_siblings():
    code = notebook_code(CHAPTER.notebook)
    loaded = _imports_at_runtime(code)
    recorded = set(library_sources(code, chapter=CHAPTER.name))
    own = spec_module(CHAPTER.name)
    assert own == "goaldrift.book.chapters.ch04_grokking_replication"
    assert own in recorded
    siblings = {m for m in loaded if m.startswith(REGISTRY + ".") and m != own} | {REGISTRY}
    assert siblings & loaded, "importing the framework should load the other specs"
    assert not siblings & recorded
    assert loaded - siblings <= recorded


@pytest.mark.parametrize("edit, stale", [("ch02_factorised_simplicity", False), ("ch04_grokking_replication", True),
                                         ("__init__", False)])
def test_only_the_chapters_own_spec_can_make_it_stale(tmp_path, edit, stale):
    src = tmp_path / "src"
    shutil.copytree(REPO_ROOT / "src" / "goaldrift", src / "goaldrift", ignore=shutil.ignore_patterns("__pycache__"))
    recorded = current_sources(CHAPTER, src)
    path = src / "goaldrift" / "book" / "chapters" / f"{edit}.py"
    path.write_text(path.read_text() + "\n# changed\n")
    assert bool(changed_modules(recorded, current_sources(CHAPTER, src))) is stale


def test_changed_modules():
    assert changed_modules({"a": "1", "b": "2"}, {"a": "1", "b": "3", "c": "4"}) == ["b", "c"]
    assert changed_modules({"a": "1"}, {"a": "1"}) == []


def _fake_executed(tmp_path):
    executed = tmp_path / "executed"
    executed.mkdir()
    nbformat.write(executable_notebook(CHAPTER), executed / f"{CHAPTER.name}.ipynb")
    (executed / "claims.json").write_text("[]")
    (executed / "run_info.json").write_text(json.dumps(
        {"git_commit": "abc123", "device": "cuda:Test GPU", "finished": "2026-11-27T00:00:00Z",
         "wall_time_s": 12.0, "profile": "paper"}))
    return executed


def test_write_snapshot_records_sources_and_replaces_atomically(tmp_path):
    executed = _fake_executed(tmp_path)
    target = write_snapshot(CHAPTER, executed, "paper", root=tmp_path / "results")
    assert target == tmp_path / "results" / "paper" / CHAPTER.name
    assert sorted(p.name for p in target.iterdir()) == sorted(
        [f"{CHAPTER.name}.ipynb", "claims.json", "run_info.json", SOURCES_FILE])
    recorded = json.loads((target / SOURCES_FILE).read_text())["modules"]
    assert recorded == current_sources(CHAPTER)
    assert f"notebook:{CHAPTER.name}" in recorded
    assert set(recorded) - {f"notebook:{CHAPTER.name}"} == set(
        library_sources(notebook_code(CHAPTER.notebook), chapter=CHAPTER.name))
    (executed / "claims.json").unlink()
    with pytest.raises(FileNotFoundError, match="claims.json"):
        write_snapshot(CHAPTER, executed, "paper", root=tmp_path / "results")
    assert (target / "claims.json").exists(), "a failed snapshot must leave the earlier one intact"


def test_write_snapshot_refuses_oversize(tmp_path):
    executed = _fake_executed(tmp_path)
    (executed / "run_info.json").write_text(json.dumps({"pad": "x" * (MAX_SNAPSHOT_BYTES + 1)}))
    with pytest.raises(ValueError, match="MB"):
        write_snapshot(CHAPTER, executed, "paper", root=tmp_path / "results")


def test_a_changed_module_makes_the_page_stale(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(REPO_ROOT / "src" / "goaldrift", src / "goaldrift",
                    ignore=shutil.ignore_patterns("__pycache__"))
    results = tmp_path / "results"
    write_snapshot(CHAPTER, _fake_executed(tmp_path), "paper", root=results)
    # record the copy's sources, as if the snapshot had been made from it
    (results / "paper" / CHAPTER.name / SOURCES_FILE).write_text(json.dumps(
        {"modules": current_sources(CHAPTER, src)}))
    fresh = find_snapshots({CHAPTER.name: CHAPTER}, results, src)
    assert len(fresh) == 1 and not fresh[0].stale
    assert "Stale" not in snapshot_page(fresh[0]).cells[1].source
    module = next(m for m in library_sources(notebook_code(CHAPTER.notebook), src) if m.count(".") >= 1)
    path = src.joinpath(*module.split("."))
    path = path.with_suffix(".py") if path.with_suffix(".py").exists() else path / "__init__.py"
    path.write_text(path.read_text() + "\n# changed\n")
    stale = find_snapshots({CHAPTER.name: CHAPTER}, results, src)[0]
    assert stale.changed == [module]
    page = snapshot_page(stale)
    assert "Stale snapshot" in page.cells[1].source and f"`{module}`" in page.cells[1].source
    assert page.cells[0].source.startswith("# ") and "(paper profile)" in page.cells[0].source.splitlines()[0]
    assert "cuda:Test GPU" in page.cells[1].source and "abc123" in page.cells[1].source


def test_snapshots_get_pages_and_a_toc_part(tmp_path):
    results = tmp_path / "results"
    write_snapshot(CHAPTER, _fake_executed(tmp_path), "paper", root=results)
    stage = tmp_path / "stage"
    (stage / "book").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "_toc.yml", stage / "_toc.yml")
    _stage_snapshots(stage, results)
    toc = yaml.safe_load((stage / "_toc.yml").read_text())
    captions = [p["caption"] for p in toc["parts"]]
    assert captions.index(SNAPSHOTS_CAPTION) == captions.index("Results") - 1
    part = toc["parts"][captions.index(SNAPSHOTS_CAPTION)]
    assert part["chapters"] == [{"file": f"book/snapshots/paper/{CHAPTER.name}"}]
    nbformat.validate(nbformat.read(stage / "book" / "snapshots" / "paper" / f"{CHAPTER.name}.ipynb", as_version=4))


def test_committed_snapshots_show_a_banner_exactly_when_stale():
    """The staleness check of every snapshot committed under results/: the page
    it renders warns if and only if a module the chapter imports changed."""
    for snap in find_snapshots(CHAPTERS):
        banner = snapshot_page(snap).cells[1].source
        assert ("Stale snapshot" in banner) == snap.stale, snap.path
        info = snap.run_info
        for key in ("profile", "git_commit", "device", "finished"):
            assert key in info, f"{snap.path}/run_info.json lacks {key}"
        assert info["profile"] == snap.profile
        if snap.stale:
            print(f"stale snapshot {snap.path}: {', '.join(snap.changed)}")


@pytest.mark.slow  # executes the l2_equilibrium chapter
def test_run_with_snapshot_writes_results(tmp_path, monkeypatch):
    from conftest import run_cli

    monkeypatch.setenv("GOALDRIFT_RESULTS_DIR", str(tmp_path / "results"))
    result = run_cli("run", "l2_equilibrium", "--profile", "smoke", "--out", tmp_path / "out", "--snapshot")
    assert result.returncode == 0, result.stderr
    target = tmp_path / "results" / "smoke" / "l2_equilibrium"
    assert (target / "l2_equilibrium.ipynb").exists() and (target / SOURCES_FILE).exists()
    assert json.loads((target / "claims.json").read_text()) == json.loads((tmp_path / "out" / "claims.json").read_text())


def test_a_changed_code_cell_makes_the_page_stale(tmp_path, monkeypatch):
    results = tmp_path / "results"
    write_snapshot(CHAPTER, _fake_executed(tmp_path), "paper", root=results)
    assert not find_snapshots({CHAPTER.name: CHAPTER}, results)[0].stale
    nb = read_notebook(CHAPTER.notebook)
    code = next(c for c in nb.cells if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", []))
    code.source += "\nx_changed = 1"
    edited = tmp_path / "edited" / f"{CHAPTER.name}.ipynb"
    edited.parent.mkdir()
    nbformat.write(nb, edited)
    monkeypatch.setattr(type(CHAPTER), "notebook", property(lambda self: edited))
    assert find_snapshots({CHAPTER.name: CHAPTER}, results)[0].changed == [f"notebook:{CHAPTER.name}"]
