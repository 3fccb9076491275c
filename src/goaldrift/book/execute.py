"""Execute one chapter with papermill, atomically, in a folder it owns.

The notebook runs in a fresh temporary folder beside the output folder. Only
when papermill has finished (all claims passed, or a cell failed and the
failure is visible in the notebook) does that folder take the output's
place. A successful output that is replaced is kept as `<out>.previous`, so
a failed run never costs the last good result. A crash of the kernel, an
interrupt or any other error leaves the old output untouched.

A run owns only what it wrote: every output folder carries a marker
(`.goaldrift-output`) listing its files. A folder, or a `.previous`, holding
anything goaldrift did not write is never moved or deleted: the run is
refused up front (exit 2). Work folders of interrupted runs are marked with
their process id and removed by the next run once that process is gone.

A chapter passes only if its notebook consumed every injected parameter (a
`parameters` cell declaring each), wrote a valid `claims.json`, and no
enforced claim in it failed: the same reading `goaldrift claims` makes.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from goaldrift.book.chapter import Chapter
from goaldrift.book.claims import CLAIMS_FILE, ClaimSchemaError, load_claims
from goaldrift.book.params import ParamError
from goaldrift.book.profiles import ENFORCED

RUN_INFO_FILE = "run_info.json"
OWNER_FILE = ".goaldrift-output"  # in every output folder: the files this tool wrote there
WORK_MARKER = ".goaldrift-work"  # in a work folder while a run is in progress: its process id
WORK_SUFFIX_LEN = 8  # tempfile.mkdtemp's random part
KERNEL_LOG = "kernel-stderr.log"


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


# ---- what a folder holds that this tool did not write -----------------------

def _files(folder: Path) -> list[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            out.append(os.path.relpath(os.path.join(dirpath, name), folder))
    return sorted(out)


def _owned(folder: Path) -> set[str]:
    """The files goaldrift wrote into an output folder, by its marker; for an
    output written before markers existed, the three files a run writes."""
    try:
        return set(json.loads((folder / OWNER_FILE).read_text())["files"]) | {OWNER_FILE}
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, TypeError):
        return set()
    info = read_run_info(folder)
    if not isinstance(info, dict) or not isinstance(info.get("chapter"), str):
        return set()
    return {RUN_INFO_FILE, CLAIMS_FILE, f"{info['chapter']}.ipynb"}


def foreign_files(folder: Path) -> list[str]:
    """Files in `folder` that goaldrift did not write (none if it does not exist)."""
    if not folder.is_dir():
        return []
    owned = _owned(folder)
    return [f for f in _files(folder) if f not in owned]


def _ownership_problem(out_dir: Path) -> str | None:
    """Why this run may not replace `out_dir` or its `.previous`, or None."""
    for folder, what in ((out_dir, "--out"), (_previous(out_dir), "the replaced-output folder")):
        if folder.exists() and not folder.is_dir():
            return f"{what} {str(folder)!r} exists and is not a folder"
        foreign = foreign_files(folder)
        if foreign:
            return (f"{what} {str(folder)!r} holds {foreign[0]!r}"
                    f"{f' and {len(foreign) - 1} more file(s)' if len(foreign) > 1 else ''}, which goaldrift "
                    f"did not write; move it away or choose another --out")
    return None


def check_out_dir(out_dir: Path) -> None:
    """Refuse an output folder we could not write, or must not replace, before any work starts."""
    try:
        _check_out_dir(out_dir)
    except OSError as err:
        raise ParamError(f"--out {str(out_dir)[:80]!r}: {err.strerror or err}") from None


def _check_out_dir(out_dir: Path) -> None:
    parent = out_dir.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise ParamError(f"--out {str(out_dir)!r}: {str(parent)!r} is not a writable folder")
    try:
        name_max = os.pathconf(parent, "PC_NAME_MAX")
        path_max = os.pathconf(parent, "PC_PATH_MAX")
    except (OSError, ValueError):
        name_max, path_max = 255, 4096
    # the longest names this run makes: <out>.previous and the hidden work folder .<out>.xxxxxxxx
    longest = max(len(_previous(out_dir).name), len(out_dir.name) + 2 + WORK_SUFFIX_LEN)
    if len(os.fsencode(out_dir.name)) + (longest - len(out_dir.name)) > name_max:
        raise ParamError(f"--out name is too long: {out_dir.name[:20]}... has {len(out_dir.name)} characters; "
                         f"at most {name_max - (longest - len(out_dir.name))} (room for .previous)")
    if len(os.fsencode(str(out_dir.absolute()))) + 200 > path_max:  # 200: room for the files inside
        raise ParamError(f"--out path is too long ({len(str(out_dir.absolute()))} characters)")
    problem = _ownership_problem(out_dir)
    if problem:
        raise ParamError(problem)


# ---- work folders of interrupted runs ---------------------------------------------

def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def clean_stale_work(out_dir: Path) -> None:
    """Remove the work folders that interrupted runs left beside `out_dir` (their
    process is gone); report, never touch, look-alikes goaldrift did not make."""
    if not out_dir.parent.is_dir():
        return
    for p in sorted(out_dir.parent.glob(f".{out_dir.name}.*")):
        if not p.is_dir() or p.is_symlink() or len(p.name) != len(out_dir.name) + 2 + WORK_SUFFIX_LEN:
            continue
        try:
            pid = int((p / WORK_MARKER).read_text())
        except (OSError, ValueError):
            print(f"goaldrift: note: {p} looks like a left-over work folder but goaldrift did not mark it; "
                  f"left as it is", file=sys.stderr)
            continue
        if not _alive(pid):
            shutil.rmtree(p, ignore_errors=True)
            print(f"goaldrift: removed {p}, left by an interrupted run", file=sys.stderr)


# ---- the notebook's parameters ---------------------------------------------------

def unconsumed_parameters(nb, parameters: dict) -> str | None:
    """Why papermill would not apply every parameter, or None: with a name the
    notebook's parameters cell does not assign, the notebook would silently run
    with its own values."""
    from papermill.inspection import inspect_notebook

    declared = set(inspect_notebook(nb))
    missing = sorted(set(parameters) - declared)
    if missing:
        return (f"the parameters cell does not declare {missing[0]!r}"
                f"{f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''}: it would be ignored")
    return None


def executable(chapter: Chapter, parameters: dict):
    """The chapter as papermill runs it, and why it cannot run (or None)."""
    from goaldrift.book.notebooks import executable_notebook

    try:
        nb = executable_notebook(chapter)
    except ValueError as err:
        return None, str(err)
    except Exception as err:  # missing, unreadable or not a notebook
        return None, (f"cannot read {chapter.notebook}: {type(err).__name__}: "
                      f"{(str(err).strip().splitlines() or [''])[0]}")
    return nb, unconsumed_parameters(nb, parameters)


def _quiet_interrupt(signum, frame):
    # Ctrl-C: papermill and the kernel's client log tracebacks while they shut
    # down; the user gets the one line the command prints.
    logging.disable(logging.CRITICAL)
    raise KeyboardInterrupt


def _kernel_manager_class(log: Path):
    from jupyter_client import AsyncKernelManager

    class QuietKernelManager(AsyncKernelManager):
        """A kernel whose stderr goes to a log in the run's folder, not to the
        terminal: on Ctrl-C it printed an 18-line ZMQ traceback there."""

        async def _async_launch_kernel(self, kernel_cmd, **kw):
            if "stderr" in kw:
                return await super()._async_launch_kernel(kernel_cmd, **kw)
            with open(log, "ab") as stderr:  # the kernel keeps its own copy of the descriptor
                return await super()._async_launch_kernel(kernel_cmd, stderr=stderr, **kw)

    return QuietKernelManager


def run_chapter(chapter: Chapter, profile: str, values: dict, out_dir: Path) -> ChapterResult:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    # The kernel's libraries and device, recorded from this process: the only
    # place the framework loads the engine (and torch), after the notebook ran.
    from goaldrift.engine.provenance import provenance

    out_dir = out_dir.resolve()
    started = time.time()
    try:
        clean_stale_work(out_dir)
        problem = _ownership_problem(out_dir)
    except OSError as err:
        problem = f"cannot use {out_dir}: {err}"
    if problem:  # refused: out_dir holds an earlier run's output, not this one's
        return ChapterResult(chapter.name, out_dir, False, problem, 0.0, written=False)
    ok, message = True, "all enforced claims passed"
    parameters = dict(values, profile=profile, output_dir="")
    source, problem = executable(chapter, parameters)
    if problem:
        return ChapterResult(chapter.name, out_dir, False, f"not run: {problem}", 0.0, written=False)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
        (work / WORK_MARKER).write_text(str(os.getpid()))
    except OSError as err:
        return ChapterResult(chapter.name, out_dir, False, f"cannot write beside {out_dir}: {err}", 0.0, written=False)
    parameters["output_dir"] = str(work)
    in_main = _in_main_thread()
    previous_handler = signal.signal(signal.SIGINT, _quiet_interrupt) if in_main else None
    try:
        papermill.execute_notebook(
            source,
            str(work / f"{chapter.name}.ipynb"),
            parameters=parameters,
            kernel_name="python3",
            cwd=str(work),
            progress_bar=False,
            kernel_manager_class=_kernel_manager_class(work / KERNEL_LOG),
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
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous_handler)
    if ok:
        ok, message = _verdict_from_claims(work, profile, chapter)
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
    (work / WORK_MARKER).unlink()
    (work / OWNER_FILE).write_text(json.dumps({"files": _files(work)}, indent=1))
    problem = _ownership_problem(out_dir)  # a file may have appeared there while the chapter ran
    if problem:
        return ChapterResult(chapter.name, work, False, f"{problem}; this run's output is in {work}", wall)
    _replace_dir(work, out_dir)
    return ChapterResult(chapter.name, out_dir, ok, message, wall)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _verdict_from_claims(work: Path, profile: str, chapter: Chapter | None = None) -> tuple[bool, str]:
    """The run's verdict read back from claims.json, as `goaldrift claims` reads it; a
    chapter that declares its claims must have recorded exactly those."""
    path = work / CLAIMS_FILE
    if not path.is_file():
        return False, f"the chapter wrote no {CLAIMS_FILE}: its claims were never recorded"
    try:
        claims = load_claims(path)
    except ClaimSchemaError as err:
        return False, f"the chapter wrote an invalid {CLAIMS_FILE}: {err}"
    if chapter is not None and chapter.claims:
        declared, recorded = [d.id for d in chapter.claims], [c.id for c in claims]
        if sorted(declared) != sorted(recorded):
            missing = [i for i in declared if i not in recorded]
            extra = [i for i in recorded if i not in declared]
            return False, ("claims differ from the chapter spec: "
                           + "; ".join(part for part in (
                               f"declared but not recorded: {', '.join(missing)}" if missing else "",
                               f"recorded but not declared: {', '.join(extra)}" if extra else "") if part))
    failed = [c for c in claims if c.enforced and not c.passed]
    if not failed:
        return True, "all enforced claims passed"
    if not ENFORCED.get(profile, True):
        return True, (f"{profile} profile, claims recorded but not enforced: "
                      f"{len(failed)} enforced claim(s) would FAIL ({failed[0].id})")
    return False, f"claim failure: {len(failed)} enforced claim(s) failed: {', '.join(c.id for c in failed)}"


def _previous(target: Path) -> Path:
    return target.with_name(target.name + ".previous")


def _replace_dir(new: Path, target: Path) -> None:
    """Move `new` into `target`'s place; a successful output it replaces becomes
    `<target>.previous`, a failed one is dropped. Both hold only files this
    tool wrote (the caller checked)."""
    previous = _previous(target)
    if target.exists():
        info = read_run_info(target)
        if isinstance(info, dict) and info.get("ok") is True:
            if previous.exists():
                shutil.rmtree(previous)
            os.replace(target, previous)
        else:
            shutil.rmtree(target)
    os.replace(new, target)


def read_run_info(out_dir: Path) -> dict | None:
    """The run_info.json of an output folder; None if absent or unreadable."""
    try:
        info = json.loads((out_dir / RUN_INFO_FILE).read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def read_chapter_claims(out_dir: Path):
    path = out_dir / CLAIMS_FILE
    return load_claims(path) if path.exists() else []
