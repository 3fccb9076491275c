"""Assemble and build the site from executed chapters.

The sources in book/ stay clean (notebooks without outputs). The site is
built from a staging copy in which each chapter notebook is replaced by the
one papermill just executed, plus two generated pages: the verdicts of every
claim, and how the book was built. Jupyter Book renders that copy with
execution off and fails on any warning.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from goaldrift.chapters import BOOK_DIR, CHAPTERS, REPO_ROOT
from goaldrift.claims import format_value, verdict_markdown
from goaldrift.execute import read_chapter_claims, read_run_info

BUILD_DIR = REPO_ROOT / "_build"
EXECUTED_DIR = BUILD_DIR / "executed"


def verdicts_page(executed: Path) -> str:
    claims = [c for name in CHAPTERS for c in read_chapter_claims(executed / name)]
    enforced = [c for c in claims if c.enforced]
    hypotheses = [c for c in claims if not c.enforced]
    lines = [
        "# Verdicts",
        "",
        "Every claim of the book, as measured by the run that built this site. "
        "*Enforced* claims check a derivation against a measurement: a failure "
        "fails the chapter. *Hypotheses* from the literature are tested without "
        "enforcement: either outcome is a finding, reported as **holds** or **refuted**.",
        "",
        f"Enforced claims: {sum(c.passed for c in enforced)} of {len(enforced)} pass. "
        f"Hypotheses: {sum(c.passed for c in hypotheses)} of {len(hypotheses)} hold.",
        "",
    ]
    if not claims:
        lines.append("No executed chapter was found.")
    else:
        lines.append(verdict_markdown(claims))
    return "\n".join(lines) + "\n"


def build_info_page(executed: Path) -> str:
    infos = [info for name in CHAPTERS if (info := read_run_info(executed / name))]
    lines = ["# How this book was built", ""]
    if not infos:
        return "\n".join(lines + ["No executed chapter was found."]) + "\n"
    first = infos[0]
    versions = ", ".join(f"{k} {v}" for k, v in first["versions"].items())
    total = sum(i["wall_time_s"] for i in infos)
    lines += [
        "Each chapter was executed by papermill with the parameters below, then "
        "rendered by Jupyter Book with execution off: what you read is what ran.",
        "",
        f"- Profile: **{first['profile']}**",
        f"- Git commit: `{first['git_commit']}`",
        f"- Versions: {versions}",
        f"- Device: {first['device']}",
        f"- Total execution time: {total:.1f} s",
        "",
        "| chapter | profile | wall time (s) | status | finished (UTC) |",
        "|---|---|---|---|---|",
    ]
    for i in infos:
        status = "ok" if i["ok"] else i["message"].replace("|", "\\|")
        lines.append(
            f"| {i['title']} | {i['profile']} | {i['wall_time_s']:.1f} | {status} | {i['finished']} |"
        )
    lines += ["", "## Parameters", ""]
    for i in infos:
        params = ", ".join(f"`{k}={format_value(v)}`" for k, v in i["parameters"].items())
        lines.append(f"- **{i['chapter']}**: {params}")
    return "\n".join(lines) + "\n"


def stage(executed: Path, stage_dir: Path) -> Path:
    if stage_dir.exists():
        shutil.rmtree(stage_dir)
    stage_dir.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(REPO_ROOT / name, stage_dir / name)
    shutil.copytree(BOOK_DIR, stage_dir / "book", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    for name in CHAPTERS:
        executed_nb = executed / name / f"{name}.ipynb"
        if not executed_nb.exists():
            raise FileNotFoundError(f"chapter {name!r} has not been executed ({executed_nb} is missing)")
        shutil.copy2(executed_nb, stage_dir / "book" / "chapters" / f"{name}.ipynb")
    generated = stage_dir / "book" / "generated"
    generated.mkdir(exist_ok=True)
    (generated / "verdicts.md").write_text(verdicts_page(executed))
    (generated / "build_info.md").write_text(build_info_page(executed))
    return stage_dir


def build_site(executed: Path = EXECUTED_DIR, build_root: Path = BUILD_DIR) -> int:
    """Stage the executed chapters under build_root and run Jupyter Book, which
    writes build_root/html; returns its exit code."""
    if build_root.name != "_build":  # Jupyter Book always writes <path-output>/_build/html
        raise ValueError(f"build_root must be a folder named _build, not {build_root}")
    src = stage(executed, build_root / "site-src")
    html = build_root / "html"
    if html.exists():
        shutil.rmtree(html)
    cmd = [
        str(Path(sys.executable).with_name("jupyter-book")), "build", str(src),
        "--path-output", str(build_root.parent), "-W", "-n", "--keep-going",
    ]
    return subprocess.run(cmd, cwd=REPO_ROOT).returncode
