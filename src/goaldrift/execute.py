"""Execute one chapter with papermill, atomically.

The notebook runs in a fresh temporary folder beside the output folder. Only
when papermill has finished (all claims passed, or a claim failed and the
failure is visible in the notebook) does that folder take the output's
place; the output it replaces is kept as `<out>.previous`, so no earlier
result is lost. A crash or an interrupt leaves the old output untouched.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from goaldrift.chapters import Chapter
from goaldrift.claims import CLAIMS_FILE, load_claims
from goaldrift.provenance import provenance

RUN_INFO_FILE = "run_info.json"


@dataclass
class ChapterResult:
    chapter: str
    out_dir: Path
    ok: bool
    message: str
    wall_time_s: float

    @property
    def notebook(self) -> Path:
        return self.out_dir / f"{self.chapter}.ipynb"


def check_out_dir(out_dir: Path) -> None:
    """Refuse an output folder we could not write, before any work starts."""
    from goaldrift.params import ParamError

    if out_dir.exists() and not out_dir.is_dir():
        raise ParamError(f"--out {str(out_dir)!r} exists and is not a folder")
    parent = out_dir.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise ParamError(f"--out {str(out_dir)!r}: {str(parent)!r} is not a writable folder")


def run_chapter(chapter: Chapter, profile: str, values: dict, out_dir: Path) -> ChapterResult:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    out_dir = out_dir.resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    parameters = dict(values, profile=profile, output_dir=str(work))
    started = time.time()
    ok, message = True, "all enforced claims passed"
    try:
        papermill.execute_notebook(
            str(chapter.notebook),
            str(work / f"{chapter.name}.ipynb"),
            parameters=parameters,
            kernel_name="python3",
            cwd=str(work),
            progress_bar=False,
        )
    except PapermillExecutionError as err:
        ok = False
        if err.ename == "ClaimFailure":
            message = f"claim failure: {err.evalue}"
        else:
            message = f"the chapter raised {err.ename}: {err.evalue}".splitlines()[0]
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    wall = time.time() - started
    info = {
        "chapter": chapter.name,
        "title": chapter.title,
        "profile": profile,
        "parameters": values,
        "ok": ok,
        "message": message,
        "wall_time_s": round(wall, 2),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **provenance(),
    }
    (work / RUN_INFO_FILE).write_text(json.dumps(info, indent=2))
    _replace_dir(work, out_dir)
    return ChapterResult(chapter.name, out_dir, ok, message, wall)


def _replace_dir(new: Path, target: Path) -> None:
    previous = target.with_name(target.name + ".previous")
    if target.exists():
        if previous.exists():
            shutil.rmtree(previous)
        os.replace(target, previous)
    os.replace(new, target)


def read_run_info(out_dir: Path) -> dict | None:
    path = out_dir / RUN_INFO_FILE
    return json.loads(path.read_text()) if path.exists() else None


def read_chapter_claims(out_dir: Path):
    path = out_dir / CLAIMS_FILE
    return load_claims(path) if path.exists() else []
