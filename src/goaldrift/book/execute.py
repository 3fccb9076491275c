"""Execute one chapter with papermill, atomically; used by every chapter.

The notebook runs in a fresh temporary folder beside the output folder. Only
when papermill has finished (all claims passed, or a cell failed and the
failure is visible in the notebook) does that folder take the output's
place. A successful output that is replaced is kept as `<out>.previous`, so
a failed run never costs the last good result. A crash of the kernel, an
interrupt or any other error leaves the old output untouched. `--out` must be
a new folder or one that holds an earlier chapter output (run_info.json).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from goaldrift.book.chapter import Chapter
from goaldrift.book.claims import CLAIMS_FILE, load_claims
from goaldrift.book.params import ParamError

RUN_INFO_FILE = "run_info.json"


@dataclass
class ChapterResult:
    chapter: str
    out_dir: Path
    ok: bool
    message: str
    wall_time_s: float
    written: bool = True  # False: nothing was written, out_dir holds the earlier output (if any)

    @property
    def notebook(self) -> Path:
        return self.out_dir / f"{self.chapter}.ipynb"


def check_out_dir(out_dir: Path) -> None:
    """Refuse an output folder we could not write, before any work starts."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ParamError(f"--out {str(out_dir)!r} exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / RUN_INFO_FILE).exists():
        raise ParamError(f"--out {str(out_dir)!r} is a folder that holds something other than a chapter output")
    previous = _previous(out_dir)
    if previous.exists() and not previous.is_dir():
        raise ParamError(f"{str(previous)!r} exists and is not a folder (it would hold the replaced output)")
    parent = out_dir.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise ParamError(f"--out {str(out_dir)!r}: {str(parent)!r} is not a writable folder")


def run_chapter(chapter: Chapter, profile: str, values: dict, out_dir: Path) -> ChapterResult:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    # The kernel's libraries and device, recorded from this process: the only
    # place the framework loads the engine (and torch), after the notebook ran.
    from goaldrift.engine.provenance import provenance

    out_dir = out_dir.resolve()
    started = time.time()
    ok, message = True, "all enforced claims passed"
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    except OSError as err:
        return ChapterResult(chapter.name, out_dir, False, f"cannot write beside {out_dir}: {err}", 0.0, written=False)
    parameters = dict(values, profile=profile, output_dir=str(work))
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
    except Exception as err:  # the kernel died, a cell timed out, no kernel: nothing usable was written
        shutil.rmtree(work, ignore_errors=True)
        first_line = (str(err).strip().splitlines() or [""])[0]
        return ChapterResult(chapter.name, out_dir, False,
                             f"execution failed ({type(err).__name__}: {first_line}); earlier output kept",
                             time.time() - started, written=False)
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


def _previous(target: Path) -> Path:
    return target.with_name(target.name + ".previous")


def _replace_dir(new: Path, target: Path) -> None:
    """Move `new` into `target`'s place; a successful output it replaces becomes
    `<target>.previous`, a failed one is dropped."""
    previous = _previous(target)
    if target.exists():
        info = read_run_info(target)
        if info and info.get("ok"):
            if previous.exists():
                shutil.rmtree(previous)
            os.replace(target, previous)
        else:
            shutil.rmtree(target)
    os.replace(new, target)


def read_run_info(out_dir: Path) -> dict | None:
    path = out_dir / RUN_INFO_FILE
    return json.loads(path.read_text()) if path.exists() else None


def read_chapter_claims(out_dir: Path):
    path = out_dir / CLAIMS_FILE
    return load_claims(path) if path.exists() else []
