"""Results snapshots: executed chapters kept in the repository, for results too
expensive for CI (the `paper` profile; grokking_replication, cleanup_scaling,
ungrokking).

`goaldrift run CHAPTER --profile paper --snapshot` copies the executed
notebook, `claims.json` and `run_info.json` into `results/PROFILE/CHAPTER/`,
with `sources.json`: a SHA-256 of every goaldrift module the chapter imports
(directly or through other modules; of the chapter specs, only its own), and of the
chapter's own code cells. The book renders each snapshot as a page
of its own, labelled with profile, commit, device and date; if a module the
chapter imports has changed since, or is gone, the page says so in a banner.
Hashing the sources rather than comparing commits keeps that check exact for
a snapshot computed on a machine that received a copy of the tree without
its git history (the lent GPU machine).

A snapshot is taken only of a run that just finished well (the CLI decides), and
says so if its parameters are not the profile's: `sources.json` records them
under "overrides" and the page's banner names them. A snapshot folder is owned
as an output folder is (the `.goaldrift-output` marker of goaldrift.book.execute):
one holding a file goaldrift did not write is refused, never replaced. The new
snapshot is written in a marked work folder beside it and swapped in only when
complete; the old one is moved aside until then, so a failure keeps it.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from goaldrift.book.chapter import Chapter
from goaldrift.book.claims import format_value
from goaldrift.book.execute import OWNER_FILE, RUN_INFO_FILE, WORK_MARKER, _files, clean_stale_work, foreign_files
from goaldrift.paths import REPO_ROOT

RESULTS_DIR = REPO_ROOT / "results"


def results_dir() -> Path:
    """Where snapshots live: results/ in the repository, or $GOALDRIFT_RESULTS_DIR."""
    return Path(os.environ["GOALDRIFT_RESULTS_DIR"]) if os.environ.get("GOALDRIFT_RESULTS_DIR") else RESULTS_DIR
SOURCES_FILE = "sources.json"
SNAPSHOT_FILES = ("claims.json", "run_info.json")
MAX_SNAPSHOT_BYTES = 5_000_000  # a snapshot is committed: keep each chapter's under 5 MB
PACKAGE = "goaldrift"


def _module_file(name: str, src_root: Path) -> Path | None:
    """The source file of module `name` under src_root, or None if it is not a module there."""
    base = src_root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_names(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Names of goaldrift modules an AST may import (some may be attributes, filtered later)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing module's package
                parts = module.split(".")
                base_parts = parts if is_package else parts[:-1]
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)
    return {n for n in names if n == PACKAGE or n.startswith(PACKAGE + ".")}


def _with_parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


REGISTRY = "goaldrift.book.chapters"


def spec_module(chapter_name: str, src_root: Path | None = None) -> str | None:
    """The module under goaldrift/book/chapters/ that declares the chapter's spec."""
    folder = (src_root or REPO_ROOT / "src").joinpath(*REGISTRY.split("."))
    for path in sorted(folder.glob("ch*.py")):
        if f'name="{chapter_name}"' in path.read_text():
            return f"{REGISTRY}.{path.stem}"
    return None


def library_sources(code: str, src_root: Path | None = None, chapter: str | None = None) -> dict[str, str]:
    """{module: sha256 of its file} for every goaldrift module that `code` imports,
    transitively (parent packages included, since importing a module runs them).

    With ``chapter`` given, the chapter registry and the other chapters' specs are left
    out and the chapter's own spec is put in: importing the framework loads every spec,
    but a chapter runs on its own spec only, so adding or editing another chapter does
    not make this chapter's snapshot stale.
    """
    src_root = src_root or REPO_ROOT / "src"
    own = spec_module(chapter, src_root) if chapter else None
    seen: dict[str, str] = {}
    todo = list(_imported_names(ast.parse(code), "__main__", False)) + ([own] if own else [])
    while todo:
        for name in _with_parents(todo.pop()):
            if name in seen or (chapter and _is_other_spec(name, own)):
                continue
            path = _module_file(name, src_root)
            if path is None:
                continue
            text = path.read_bytes()
            seen[name] = hashlib.sha256(text).hexdigest()
            todo.extend(_imported_names(ast.parse(text), name, path.name == "__init__.py"))
    return dict(sorted(seen.items()))


def _is_other_spec(name: str, own: str | None) -> bool:
    return name == REGISTRY or (name.startswith(REGISTRY + ".") and name != own)


def current_sources(chapter: Chapter, src_root: Path | None = None) -> dict[str, str]:
    """What a snapshot of `chapter` depends on: the chapter's own code cells (under the
    key "notebook:CHAPTER"), every goaldrift module they import, and the chapter's spec."""
    code = notebook_code(chapter.notebook)
    return {f"notebook:{chapter.name}": hashlib.sha256(code.encode()).hexdigest(),
            **library_sources(code, src_root, chapter.name)}


def notebook_code(path: Path) -> str:
    from goaldrift.book.notebooks import read_notebook

    nb = read_notebook(path)
    lines = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            # IPython magics and shell escapes are not Python: drop them before parsing
            lines += [ln for ln in cell.source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    return "\n".join(lines)


def snapshot_dir(profile: str, chapter: str, root: Path | None = None) -> Path:
    return (root or results_dir()) / profile / chapter


class SnapshotError(ValueError):
    """A snapshot that may not be written, said in one line."""


def snapshot_problem(target: Path) -> str | None:
    """Why a snapshot may not replace `target`, or None. goaldrift replaces only
    a folder holding nothing but what it wrote there."""
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        return f"snapshot folder {str(target)!r} exists and is not a folder goaldrift made"
    legacy = not (target / OWNER_FILE).exists()  # snapshots from before the marker: their four files
    foreign = [f for f in foreign_files(target) if not (legacy and f == SOURCES_FILE)]
    if foreign:
        return (f"snapshot folder {str(target)!r} holds {foreign[0]!r}"
                f"{f' and {len(foreign) - 1} more file(s)' if len(foreign) > 1 else ''}, which goaldrift "
                f"did not write; move it away to take a new snapshot")
    return None


def check_snapshot_target(chapter_name: str, profile: str, root: Path | None = None) -> None:
    """Refuse, before any work, a snapshot folder this run could not replace."""
    problem = snapshot_problem(snapshot_dir(profile, chapter_name, root))
    if problem:
        raise SnapshotError(problem)


def profile_overrides(chapter: Chapter, profile: str, parameters) -> dict:
    """{name: value} of the parameters a run set to other values than its profile's."""
    if not isinstance(parameters, dict):
        raise SnapshotError(f"{RUN_INFO_FILE} records no parameters")
    # run_info.json went through JSON: compare with the profile's values as JSON reads them back
    at_profile = json.loads(json.dumps({**chapter.defaults(), **chapter.profiles.get(profile, {})}))
    return {name: value for name, value in parameters.items()
            if name not in at_profile or at_profile[name] != value}


def write_snapshot(chapter: Chapter, executed_dir: Path, profile: str, root: Path | None = None) -> Path:
    """Copy a chapter's executed output into results/PROFILE/CHAPTER/ (replacing an
    older snapshot only once the new one is complete) and record its sources and
    the parameters that differ from the profile's."""
    notebook = executed_dir / f"{chapter.name}.ipynb"
    missing = [p.name for p in [notebook, *(executed_dir / f for f in SNAPSHOT_FILES)] if not p.exists()]
    if missing:
        raise FileNotFoundError(f"cannot snapshot {executed_dir}: missing {', '.join(missing)}")
    size = notebook.stat().st_size + sum((executed_dir / f).stat().st_size for f in SNAPSHOT_FILES)
    if size > MAX_SNAPSHOT_BYTES:
        raise ValueError(f"snapshot of {chapter.name} would be {size / 1e6:.1f} MB (limit {MAX_SNAPSHOT_BYTES / 1e6:.0f} MB)")
    info = json.loads((executed_dir / RUN_INFO_FILE).read_text())
    if not (isinstance(info, dict) and info.get("chapter") == chapter.name and info.get("profile") == profile
            and info.get("ok") is True):
        raise SnapshotError(f"{executed_dir} is not a successful {profile} run of {chapter.name}")
    overrides = profile_overrides(chapter, profile, info.get("parameters"))
    target = snapshot_dir(profile, chapter.name, root)
    check_snapshot_target(chapter.name, profile, root)
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_work(target)  # work folders of interrupted snapshots; look-alikes are left alone
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        (work / WORK_MARKER).write_text(str(os.getpid()))
        for path in (notebook, *(executed_dir / f for f in SNAPSHOT_FILES)):
            shutil.copy2(path, work / path.name)
        (work / SOURCES_FILE).write_text(
            json.dumps({"modules": current_sources(chapter), "overrides": overrides}, indent=2) + "\n")
        (work / WORK_MARKER).unlink()
        (work / OWNER_FILE).write_text(json.dumps({"files": _files(work)}, indent=1))
        _swap_in(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)  # only the new, incomplete snapshot: nothing else is in it
        raise
    return target


def _swap_in(new: Path, target: Path) -> None:
    """Put the complete snapshot `new` in `target`'s place. The old snapshot is moved
    aside, into an empty folder made for it, and deleted only once the new one is in
    place; if the process dies between the two renames, the old one is in that folder
    (which the next run reports and leaves alone)."""
    problem = snapshot_problem(target)  # a file may have appeared there while the snapshot was written
    if problem:
        raise SnapshotError(problem)
    if not target.exists():
        os.replace(new, target)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    os.replace(target, aside)  # a folder may replace an empty folder
    try:
        os.replace(new, target)
    except BaseException:
        os.replace(aside, target)
        raise
    shutil.rmtree(aside, ignore_errors=True)  # the old snapshot's own files; a leftover is reported later


@dataclass
class Snapshot:
    """One committed snapshot and what changed in the library since it was made."""

    profile: str
    chapter: str
    path: Path
    run_info: dict
    changed: list[str]  # modules (or the chapter's code cells) that differ now, are gone, or are new
    overrides: dict = field(default_factory=dict)  # parameters the run set to other values than the profile's

    @property
    def notebook(self) -> Path:
        return self.path / f"{self.chapter}.ipynb"

    @property
    def stale(self) -> bool:
        return bool(self.changed)


def changed_modules(recorded: dict[str, str], current: dict[str, str]) -> list[str]:
    return sorted(m for m in set(recorded) | set(current) if recorded.get(m) != current.get(m))


def find_snapshots(chapters: dict[str, Chapter], root: Path | None = None,
                   src_root: Path | None = None) -> list[Snapshot]:
    """Every snapshot under results/, in profile then reading order of the chapters."""
    root = root or results_dir()
    found = []
    for profile_dir in sorted(p for p in root.glob("*") if p.is_dir()) if root.is_dir() else []:
        for name, chapter in chapters.items():
            path = profile_dir / name
            if not (path / f"{name}.ipynb").exists():
                continue
            sources = json.loads((path / SOURCES_FILE).read_text())
            current = current_sources(chapter, src_root)
            info = json.loads((path / "run_info.json").read_text())
            found.append(Snapshot(profile_dir.name, name, path, info, changed_modules(sources["modules"], current),
                                  dict(sources.get("overrides") or {})))
    return found


def snapshot_banner(snap: Snapshot) -> str:
    """The Markdown box a snapshot page opens with: where it came from, and whether it is stale."""
    info = snap.run_info
    measured = f"`{snap.profile}` profile"
    if snap.overrides:  # not the profile's result: say which values made it
        measured += " with " + ", ".join(f"{name} = {format_value(value)}"
                                         for name, value in sorted(snap.overrides.items())) + " set"
    label = (
        f"**Results snapshot**, not re-executed by this build: profile **{snap.profile}**, "
        f"commit `{str(info.get('git_commit', 'unknown'))[:12]}`, device {info.get('device', 'unknown')}, "
        f"finished {info.get('finished', 'unknown')} (UTC), execution time {info.get('wall_time_s', float('nan')):.0f} s. "
        f"The chapter's default-profile page is re-executed on every build; this page is what the "
        f"{measured} measured when the snapshot was taken."
    )
    box = ["```{note}", label, "```"]
    if snap.stale:
        box += ["", "```{warning}",
                "**Stale snapshot.** The chapter's code, or library code it imports, has changed since "
                "the snapshot was taken: " + ", ".join(f"`{m}`" for m in snap.changed) + ". Its numbers may no "
                f"longer be what the current code gives; re-run `goaldrift run {snap.chapter} "
                f"--profile {snap.profile} --snapshot`.",
                "```"]
    return "\n".join(box)


def snapshot_page(snap: Snapshot) -> nbformat.NotebookNode:
    """The snapshot's notebook with its title marked and the banner after it."""
    nb = nbformat.read(snap.notebook, as_version=4)
    first = nb.cells[0]
    if first.cell_type == "markdown" and first.source.startswith("# "):
        title, _, rest = first.source.partition("\n")
        changed = ", parameters changed" if snap.overrides else ""
        first.source = f"{title} ({snap.profile} profile{changed})\n{rest}"
    nb.cells.insert(1, nbformat.v4.new_markdown_cell(snapshot_banner(snap)))
    return nb
