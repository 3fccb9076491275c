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
from goaldrift.book.execute import OWNER_FILE, ChapterResult
from goaldrift.book.snapshots import (
    MAX_SNAPSHOT_BYTES, REGISTRY, SOURCES_FILE, SnapshotError, changed_modules, current_sources, find_snapshots,
    library_sources, notebook_code, snapshot_page, spec_module, write_snapshot,
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


def _paper_values(chapter=CHAPTER, profile="paper"):
    return {**chapter.defaults(), **chapter.profiles.get(profile, {})}


def _fake_executed(tmp_path, chapter=CHAPTER, profile="paper", name="executed", **changed):
    """An output folder as a successful run of `chapter` at `profile` leaves it, with `changed` parameters."""
    executed = tmp_path / name
    executed.mkdir(parents=True)
    nbformat.write(executable_notebook(chapter), executed / f"{chapter.name}.ipynb")
    (executed / "claims.json").write_text("[]")
    (executed / "run_info.json").write_text(json.dumps(
        {"chapter": chapter.name, "ok": True, "parameters": {**_paper_values(chapter, profile), **changed},
         "git_commit": "abc123", "device": "cuda:Test GPU", "finished": "2026-11-27T00:00:00Z",
         "wall_time_s": 12.0, "profile": profile}))
    return executed


def test_write_snapshot_records_sources_and_replaces_atomically(tmp_path):
    executed = _fake_executed(tmp_path)
    target = write_snapshot(CHAPTER, executed, "paper", root=tmp_path / "results")
    assert target == tmp_path / "results" / "paper" / CHAPTER.name
    assert sorted(p.name for p in target.iterdir()) == sorted(
        [f"{CHAPTER.name}.ipynb", "claims.json", "run_info.json", SOURCES_FILE, OWNER_FILE])
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


# ---- issue 30, item 5: snapshots that own their folder -------------------------------

L2 = CHAPTERS["l2_equilibrium"]


def test_a_refused_run_writes_no_snapshot(tmp_path, monkeypatch):
    """Case 1: --out a link whose target holds an older output and a foreign .previous:
    the run is refused, and the older output must not become a snapshot."""
    from conftest import call_cli

    monkeypatch.setenv("GOALDRIFT_RESULTS_DIR", str(tmp_path / "results"))
    target = _fake_executed(tmp_path, L2, "smoke", name="real")
    (tmp_path / "real.previous").mkdir()
    (tmp_path / "real.previous" / "mine.txt").write_text("m")
    (tmp_path / "link").symlink_to(target)
    result = call_cli("run", L2.name, "--profile", "smoke", "--out", tmp_path / "link", "--snapshot")
    assert result.returncode != 0, result.stdout
    assert not (tmp_path / "results" / "smoke" / L2.name).exists()
    assert (tmp_path / "real.previous" / "mine.txt").read_text() == "m"


def _fake_run(outcomes):
    """A stand-in for run_chapter: each call writes a fake output and returns the next outcome (ok or not)."""
    def run_chapter(chapter, profile, values, out_dir):
        ok = outcomes.pop(0)
        shutil.rmtree(out_dir, ignore_errors=True)
        _fake_executed(out_dir.parent, chapter, profile, name=out_dir.name, weight_decay=values["weight_decay"])
        info = json.loads((out_dir / "run_info.json").read_text())
        (out_dir / "run_info.json").write_text(json.dumps({**info, "ok": ok}))
        return ChapterResult(chapter.name, out_dir, ok, "ok" if ok else "claim failure: x", 1.0)
    return run_chapter


def test_a_failed_second_snapshot_run_keeps_the_good_snapshot(tmp_path, monkeypatch):
    """Cases 1 and 3: a run that executed but failed writes no snapshot; the good one stays as it was."""
    from conftest import call_cli
    import goaldrift.book.cli as cli

    monkeypatch.setenv("GOALDRIFT_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setattr(cli, "run_chapter", _fake_run([True, False]))
    out = tmp_path / "out"
    assert call_cli("run", L2.name, "--out", out, "--snapshot").returncode == 0
    snap = tmp_path / "results" / "default" / L2.name
    good = {p.name: p.read_bytes() for p in snap.iterdir()}
    result = call_cli("run", L2.name, "--out", out, "-p", "weight_decay", "0.5", "--snapshot")
    assert result.returncode == 1 and "snapshot not written" in result.stderr
    assert {p.name: p.read_bytes() for p in snap.iterdir()} == good


def test_a_snapshot_with_overrides_says_so(tmp_path):
    """Case 2: a paper run with a parameter changed is labelled with it, not as the paper profile's result."""
    results = tmp_path / "results"
    wd = _paper_values()["weight_decay"] * 2
    write_snapshot(CHAPTER, _fake_executed(tmp_path, weight_decay=wd), "paper", root=results)
    snap = find_snapshots({CHAPTER.name: CHAPTER}, results)[0]
    assert json.loads((snap.path / SOURCES_FILE).read_text())["overrides"] == {"weight_decay": wd}
    page = snapshot_page(snap)
    assert "the `paper` profile measured" not in page.cells[1].source
    assert f"`paper` profile with weight_decay = {wd:g} set measured" in page.cells[1].source
    assert "(paper profile, parameters changed)" in page.cells[0].source.splitlines()[0]
    # the profile's own values (given on the command line or not) are no override
    write_snapshot(CHAPTER, _fake_executed(tmp_path, name="plain", weight_decay=wd / 2), "paper", root=results)
    snap = find_snapshots({CHAPTER.name: CHAPTER}, results)[0]
    assert snap.overrides == {} and "the `paper` profile measured" in snapshot_page(snap).cells[1].source


def test_the_old_snapshot_stays_until_the_new_one_is_complete(tmp_path, monkeypatch):
    """Case 3: while the new snapshot is written the old one is in place; a failure midway keeps it
    and leaves no work folder."""
    import goaldrift.book.snapshots as snapshots

    results = tmp_path / "results"
    target = write_snapshot(CHAPTER, _fake_executed(tmp_path), "paper", root=results)
    old = {p.name: p.read_bytes() for p in target.iterdir()}

    def failing_sources(chapter, src_root=None):
        assert {p.name: p.read_bytes() for p in target.iterdir()} == old  # still there, untouched
        raise OSError("disk full")

    monkeypatch.setattr(snapshots, "current_sources", failing_sources)
    with pytest.raises(OSError, match="disk full"):
        write_snapshot(CHAPTER, _fake_executed(tmp_path, name="second"), "paper", root=results)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == old
    assert [p.name for p in target.parent.iterdir()] == [CHAPTER.name]


def test_a_snapshot_folder_holding_a_users_file_is_refused(tmp_path, monkeypatch):
    """Case 4: NOTES.md in the snapshot folder is never deleted: write_snapshot refuses, and the
    CLI refuses before running (exit 2, one line)."""
    from conftest import run_cli

    results = tmp_path / "results"
    target = write_snapshot(CHAPTER, _fake_executed(tmp_path), "paper", root=results)
    (target / "NOTES.md").write_text("mine")
    with pytest.raises(SnapshotError, match="NOTES.md"):
        write_snapshot(CHAPTER, _fake_executed(tmp_path, name="second"), "paper", root=results)
    assert (target / "NOTES.md").read_text() == "mine"
    mine = results / "smoke" / L2.name
    mine.mkdir(parents=True)
    (mine / "NOTES.md").write_text("mine")
    monkeypatch.setenv("GOALDRIFT_RESULTS_DIR", str(results))
    result = run_cli("run", L2.name, "--profile", "smoke", "--out", tmp_path / "out", "--snapshot")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "NOTES.md" in result.stderr and not (tmp_path / "out").exists()
    assert (mine / "NOTES.md").read_text() == "mine"


def test_a_users_incoming_folder_is_left_alone(tmp_path):
    """Case 4: a folder named .CHAPTER.incoming (the old staging name) that goaldrift did not make survives."""
    results = tmp_path / "results"
    incoming = results / "paper" / f".{CHAPTER.name}.incoming"
    incoming.mkdir(parents=True)
    (incoming / "draft.txt").write_text("d")
    for name in ("first", "second"):
        write_snapshot(CHAPTER, _fake_executed(tmp_path, name=name), "paper", root=results)
    assert (incoming / "draft.txt").read_text() == "d"
    assert sorted(p.name for p in incoming.parent.iterdir()) == sorted([CHAPTER.name, incoming.name])


def test_a_snapshot_from_before_the_marker_is_replaced(tmp_path):
    """The committed snapshots have no marker: their four files are goaldrift's own."""
    results = tmp_path / "results"
    target = write_snapshot(CHAPTER, _fake_executed(tmp_path), "paper", root=results)
    (target / OWNER_FILE).unlink()
    write_snapshot(CHAPTER, _fake_executed(tmp_path, name="second"), "paper", root=results)
    assert (target / OWNER_FILE).exists()
