"""Assemble and build the site from executed chapters.

The sources in book/ stay clean (text notebooks without outputs). The site is
built from a staging copy in which each chapter notebook is replaced by the
one papermill just executed, plus two generated pages: the verdicts of every
claim, and how the book was built. Jupyter Book renders that copy with
execution off and fails on any warning.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import yaml

from goaldrift.book.chapters import CHAPTERS
from goaldrift.book.library_index import library_page
from goaldrift.book.site_pages import (bottom_line, build_info_page, headline_figure, hypotheses_page, run_box,
                                        verdicts_page)
from goaldrift.paths import BOOK_DIR, BUILD_DIR, EXECUTED_DIR, MATHJAX_DIR, REPO_ROOT
from goaldrift.book.snapshots import find_snapshots, snapshot_page



def stage(executed: Path, stage_dir: Path) -> Path:
    if stage_dir.exists():
        shutil.rmtree(stage_dir)
    stage_dir.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(REPO_ROOT / name, stage_dir / name)
    # The stored chapters (text notebooks) stay behind: the executed .ipynb takes each one's place.
    stored = {f"{name}.md" for name in CHAPTERS}
    shutil.copytree(BOOK_DIR, stage_dir / "book",
                    ignore=lambda folder, names: [n for n in names if n == ".ipynb_checkpoints"
                                                  or (Path(folder).name == "chapters" and n in stored)])
    for name, chapter in CHAPTERS.items():
        executed_nb = executed / name / f"{name}.ipynb"
        if not executed_nb.exists():
            raise FileNotFoundError(f"chapter {name!r} has not been executed ({executed_nb} is missing)")
        nb = nbformat.read(executed_nb, as_version=4)
        for text in page_notebook(nb):
            print(f"{name}: kernel output kept off the page: {text.strip()}", file=sys.stderr)
        # The "Run this chapter" box goes right after the chapter's opening cell.
        nb.cells.insert(1, nbformat.v4.new_markdown_cell(run_box(chapter)))
        nbformat.write(nb, stage_dir / "book" / "chapters" / f"{name}.ipynb")
    generated = stage_dir / "book" / "generated"
    generated.mkdir(exist_ok=True)
    (generated / "verdicts.md").write_text(verdicts_page(executed))
    (generated / "build_info.md").write_text(build_info_page(executed))
    (generated / "hypotheses.md").write_text(hypotheses_page(executed))
    (generated / "library.md").write_text(library_page())
    headline_figure(executed, generated / "headline.svg")  # intro.md shows it under the bottom line
    (generated / "bottom_line.md").write_text(bottom_line(executed))
    _stage_snapshots(stage_dir)
    _copy_mathjax(stage_dir / "_vendor" / "mathjax")
    return stage_dir


def page_notebook(nb) -> list[str]:
    """Make an executed notebook into the page (and the download) a reader gets, in place:
    one parameters cell with the values the chapter ran with and no path from the build
    machine (output_dir is left empty, the chapter's own default), and no stderr output
    (kernel warnings belong in the build log). Returns the stderr texts it removed."""
    tags = lambda c: c.metadata.get("tags", [])  # noqa: E731
    injected = next((c for c in nb.cells if "injected-parameters" in tags(c)), None)
    if injected is not None:
        nb.cells = [c for c in nb.cells if "parameters" not in tags(c)]
        lines = [line for line in injected.source.splitlines()[1:] if not line.startswith("output_dir =")]
        injected.source = "\n".join(["# Parameters: the values this page ran with (goaldrift run injected them)",
                                      *lines, 'output_dir = ""  # where a run writes its claims; empty: none'])
        injected.metadata["tags"] = ["parameters"]
    removed = []
    for c in nb.cells:
        if c.cell_type != "code":
            continue
        kept = []
        for o in c.get("outputs", []):
            if o.get("output_type") == "stream" and o.get("name") == "stderr":
                removed.append(o.get("text", ""))
            else:
                kept.append(o)
        c.outputs = kept
    return removed


SNAPSHOTS_CAPTION = "Published scale: results snapshots"


def _stage_snapshots(stage_dir: Path, results_root: Path | None = None) -> list:
    """Each committed results snapshot (results/PROFILE/CHAPTER) becomes a page of
    its own, listed in a part of the table of contents before the Results part."""
    snapshots = find_snapshots(CHAPTERS, results_root)
    if not snapshots:
        return snapshots
    files = []
    for snap in snapshots:
        page = stage_dir / "book" / "snapshots" / snap.profile / f"{snap.chapter}.ipynb"
        page.parent.mkdir(parents=True, exist_ok=True)
        nb = snapshot_page(snap)
        page_notebook(nb)
        nbformat.write(nb, page)
        files.append({"file": f"book/snapshots/{snap.profile}/{snap.chapter}"})
    toc_path = stage_dir / "_toc.yml"
    toc = yaml.safe_load(toc_path.read_text())
    parts = toc["parts"]
    at = next((i for i, part in enumerate(parts) if part.get("caption") == "Results"), len(parts))
    parts.insert(at, {"caption": SNAPSHOTS_CAPTION, "chapters": files})
    toc_path.write_text(yaml.safe_dump(toc, sort_keys=False))
    return snapshots




def _copy_mathjax(target: Path) -> None:
    """Serve MathJax from the site itself: the theme's default is a CDN, and the
    book must render its math offline. Only the component we load and the
    files it loads lazily (fonts, TeX extensions, menu) are copied."""
    if not (MATHJAX_DIR / "tex-mml-chtml.js").exists():
        raise FileNotFoundError(
            f"{MATHJAX_DIR} is missing: run `npm ci` (make book and make test do) to install MathJax"
        )
    keep = {"tex-mml-chtml.js", "input", "output", "ui", "a11y", "adaptors"}
    target.mkdir(parents=True, exist_ok=True)
    for entry in MATHJAX_DIR.iterdir():
        if entry.name in keep:
            dest = target / entry.name
            if entry.is_dir():
                shutil.copytree(entry, dest)
            else:
                shutil.copy2(entry, dest)


def build_site(executed: Path = EXECUTED_DIR, build_root: Path = BUILD_DIR) -> int:
    """Stage the executed chapters under build_root and run Jupyter Book; on
    success the new site replaces build_root/html, on failure the old site
    stays (the failed build is left in build_root/site-build for inspection).
    Returns Jupyter Book's exit code."""
    src = stage(executed, build_root / "site-src")
    attempt = build_root / "site-build"
    if attempt.exists():
        shutil.rmtree(attempt)
    cmd = [
        str(Path(sys.executable).with_name("jupyter-book")), "build", str(src),
        "--path-output", str(attempt), "-W", "-n", "--keep-going",
    ]
    code = subprocess.run(cmd, cwd=REPO_ROOT).returncode
    if code == 0:
        html = build_root / "html"
        if html.exists():
            shutil.rmtree(html)
        os.replace(attempt / "_build" / "html", html)
    return code
