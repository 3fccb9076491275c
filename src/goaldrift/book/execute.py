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

import errno
import functools
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
from goaldrift.book.claims import CLAIMS_FILE, INJECTED_ENV, ClaimSchemaError, claim_counts, load_claims
from goaldrift.book.params import ParamError
from goaldrift.book.profiles import ENFORCED
from goaldrift.jsonfiles import read_json
from goaldrift.paths import BOOK_DIR, REPO_ROOT

RUN_INFO_FILE = "run_info.json"
OWNER_FILE = ".goaldrift-output"  # in every output folder: the files this tool wrote there
WORK_MARKER = ".goaldrift-work"  # in a work folder while a run is in progress: its process id
WORK_SUFFIX_LEN = 8  # tempfile.mkdtemp's random part
MAX_MARKER_BYTES = 1_000_000
KERNEL_LOG = "kernel-stderr.log"
RUN_LOG = ".runs-used.log"  # while the chapter runs: a line per run trained or reused (engine.runs.log_use)
# How goaldrift.engine.runs.quarantine's notices begin (not imported: it imports torch).
CACHE_NOTICE = "goaldrift: run cache entry "


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
    """Every file, link and empty folder under ``folder`` (an empty folder as "name/"): a user's
    empty folder inside an output is something goaldrift did not write, too."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            out.append(os.path.relpath(os.path.join(dirpath, name), folder))
        if dirpath != str(folder) and not filenames and not dirnames:
            out.append(os.path.relpath(dirpath, folder) + "/")
    return sorted(out)


class DamagedMarker(ValueError):
    """An output folder's .goaldrift-output is not what goaldrift writes: its files' owner is unknown."""


def _owned(folder: Path) -> set[str]:
    """The files goaldrift wrote into an output folder, by its marker; for an
    output written before markers existed, the three files a run writes.
    DamagedMarker for a marker that is not a list of names."""
    marker = folder / OWNER_FILE
    try:
        files = read_json(marker, OWNER_FILE, max_bytes=MAX_MARKER_BYTES)["files"]
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise DamagedMarker("its 'files' is not a list of names")
        return set(files) | {OWNER_FILE}
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as err:
        raise DamagedMarker(str(err)) from None
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
        try:
            foreign = foreign_files(folder)
        except DamagedMarker:
            return (f"{what} {str(folder)!r} has a damaged {OWNER_FILE} (the list of the files goaldrift "
                    f"wrote there), so goaldrift cannot tell its files from yours; move the folder away "
                    f"or choose another --out")
        if foreign:
            return (f"{what} {str(folder)!r} holds {foreign[0]!r}"
                    f"{f' and {len(foreign) - 1} more file(s)' if len(foreign) > 1 else ''}, which goaldrift "
                    f"did not write; move it away or choose another --out")
    return None


def resolved_folder(raw: str | os.PathLike, what: str) -> Path:
    """`raw` as the absolute path every check and every write then uses: symlinks, `..`
    and `.` resolved once, here (a check of one spelling and a write to another let a
    dangling link or `of/missing/..` through). ParamError, one line, for the empty path
    or a symlink loop."""
    text = os.fspath(raw)
    if not text.strip():
        raise ParamError(f"{what} is empty: name a folder")
    try:
        return Path(text).expanduser().resolve(strict=False)
    except RuntimeError:  # Python 3.11 reports a symlink loop so
        raise ParamError(f"{what} {text[:80]!r}: a symlink loop") from None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise ParamError(f"{what} {text[:80]!r}: a symlink loop") from None
        raise ParamError(f"{what} {text[:80]!r}: {err.strerror or err}") from None


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def out_dir_conflict(out_dir: Path, others: dict[str, Path]) -> str | None:
    """Why a resolved output folder may not be used, or None: a run replaces its output
    folder whole, so it must not be the file system's root, the current folder or one
    above it, the repository or a folder above it, inside the book's or the library's
    sources, or overlap another folder the run writes (`others`: the run cache,
    the results folder)."""
    cwd = Path.cwd().resolve()
    if out_dir == Path(out_dir.anchor):
        return "is the root of the file system"
    if _inside(cwd, out_dir):
        return "is the current folder or holds it"
    if _inside(REPO_ROOT, out_dir):
        return f"is the repository {str(REPO_ROOT)!r} or holds it"
    for source in (BOOK_DIR, REPO_ROOT / "src"):
        if _inside(out_dir, source):
            return f"lies inside the sources in {str(source)!r}"
    for what, other in others.items():
        if _inside(other, out_dir):
            return f"holds {what} {str(other)!r}, which a run must not replace"
        if _inside(out_dir, other):
            return f"lies inside {what} {str(other)!r}"
    return None


def check_out_dir(out_dir: Path, others: dict[str, Path] | None = None) -> None:
    """Refuse an output folder we could not write, or must not replace, before any work starts."""
    conflict = out_dir_conflict(out_dir, others or {})
    if conflict:
        raise ParamError(f"--out {str(out_dir)[:80]!r} {conflict}; choose another folder")
    try:
        _check_out_dir(out_dir)
    except OSError as err:
        raise ParamError(f"--out {str(out_dir)[:80]!r}: {err.strerror or err}") from None


def check_writable_folder(folder: Path, where: str, what: str) -> Path:
    """Refuse (ParamError, one line) a folder that is a file, or whose nearest existing ancestor
    (itself, if it exists) is not a writable folder; returns that ancestor."""
    if folder.exists() and not folder.is_dir():
        raise ParamError(f"{where} is not a folder ({what})")
    parent = folder.absolute()
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ParamError(f"{where}: {str(parent)!r} is not a writable folder ({what})")
    return parent


def _check_out_dir(out_dir: Path) -> None:
    # the output folder is replaced whole: what must be writable is the folder that holds it
    parent = check_writable_folder(out_dir.absolute().parent, f"--out {str(out_dir)!r}", "the output's parent")
    try:
        name_max = os.pathconf(parent, "PC_NAME_MAX")
        path_max = os.pathconf(parent, "PC_PATH_MAX")
    except (OSError, ValueError):
        name_max, path_max = 255, 4096
    # the longest names this run makes: <out>.previous and the hidden work folder .<out>.xxxxxxxx
    longest = max(len(_previous(out_dir).name), len(out_dir.name) + 2 + WORK_SUFFIX_LEN)
    # the file system counts bytes, not characters: the limit and the message both say bytes
    name_bytes = len(os.fsencode(out_dir.name))
    if name_bytes + (longest - len(out_dir.name)) > name_max:
        chars = f" ({len(out_dir.name)} characters)" if len(out_dir.name) != name_bytes else ""
        raise ParamError(f"--out name is too long: {out_dir.name[:20]}... has {name_bytes} bytes{chars}; "
                         f"at most {name_max - (longest - len(out_dir.name))} bytes (room for .previous)")
    path_bytes = len(os.fsencode(str(out_dir.absolute())))
    if path_bytes + 200 > path_max:  # 200: room for the files inside
        raise ParamError(f"--out path is too long ({path_bytes} bytes; at most {path_max - 200})")
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
            if _is_refused_output(p):  # a finished run that could not take its output's place
                print(f"goaldrift: note: {p} holds the output of an earlier run that could not replace "
                      f"{out_dir.name}; left as it is (move it where you want it, or delete it)", file=sys.stderr)
            else:
                print(f"goaldrift: note: {p} looks like a left-over work folder but goaldrift did not mark it; "
                      f"left as it is", file=sys.stderr)
            continue
        if not _alive(pid):
            shutil.rmtree(p, ignore_errors=True)
            print(f"goaldrift: removed {p}, left by an interrupted run", file=sys.stderr)


def _is_refused_output(folder: Path) -> bool:
    """A work folder that finished (its marker lists its files, its run_info names a chapter)."""
    try:
        return (folder / OWNER_FILE).is_file() and not foreign_files(folder) and read_run_info(folder) is not None
    except DamagedMarker:
        return False


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
    from goaldrift.engine.runs import USE_LOG_VAR, count_uses

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
    injected_before, log_before = os.environ.get(INJECTED_ENV), os.environ.get(USE_LOG_VAR)
    os.environ[INJECTED_ENV] = json.dumps(values, default=str)  # the kernel inherits it; ClaimBook checks it
    use_log = work / RUN_LOG
    os.environ[USE_LOG_VAR] = str(use_log)  # the kernel and its workers note each run they train or reuse
    _announce(chapter.name, profile, out_dir)
    try:
        papermill.execute_notebook(
            source,
            str(work / f"{chapter.name}.ipynb"),
            parameters=parameters,
            kernel_name="python3",
            cwd=str(work),
            progress_bar={"desc": chapter.name, "unit": "cell", "leave": False} if sys.stderr.isatty() else False,
            kernel_manager_class=_kernel_manager_class(work / KERNEL_LOG),
        )
    except PapermillExecutionError as err:
        ok = False
        if err.ename == "ClaimFailure":
            message = f"claim failure: {err.evalue}"
        else:
            message = f"the chapter raised {err.ename}: {err.evalue}".splitlines()[0]
    except Exception as err:  # the kernel died, a cell timed out, no kernel: nothing usable was written
        echo_cache_notices(work, chapter.name)
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
        for var, before in ((INJECTED_ENV, injected_before), (USE_LOG_VAR, log_before)):
            if before is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = before
    echo_cache_notices(work, chapter.name)
    if ok:
        ok, message = _verdict_from_claims(work, profile, chapter)
    trained, reused = count_uses(use_log)
    use_log.unlink(missing_ok=True)
    if trained or reused:
        message += f"; {trained} run(s) trained, {reused} reused from the cache"
    wall = time.time() - started
    info = {
        "chapter": chapter.name,
        "title": chapter.title,
        "profile": profile,
        "parameters": values,
        "ok": ok,
        "message": message,
        "wall_time_s": round(wall, 2),
        "runs_trained": trained,
        "runs_reused": reused,
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


def echo_cache_notices(work: Path, chapter: str) -> None:
    """Repeat on this process's stderr the run-cache notices the chapter's kernel
    printed: there they reach only the notebook (or the kernel's log, from its
    worker processes), and the user of the command must see that an entry was
    quarantined."""
    texts = []
    try:
        for cell in json.loads((work / f"{chapter}.ipynb").read_text()).get("cells", []):
            for out in cell.get("outputs", []):
                if out.get("output_type") == "stream" and out.get("name") == "stderr":
                    texts.append("".join(out.get("text", "")))
    except (OSError, ValueError, AttributeError, TypeError):
        pass
    try:
        texts.append((work / KERNEL_LOG).read_text(errors="replace"))
    except OSError:
        pass
    seen = set()
    for line in "\n".join(texts).splitlines():
        if line.startswith(CACHE_NOTICE) and line not in seen:
            seen.add(line)
            print(line, file=sys.stderr, flush=True)


def _announce(name: str, profile: str, out_dir: Path) -> None:
    """The line a long run starts with: what runs, and how long it took last time (a bar follows on a
    terminal; in CI the next line is its result)."""
    from goaldrift.book.timings import expected_time

    timing = expected_time(name, profile, out_dir) or expected_time(name, profile)
    estimate = f"; expected about {timing.text()}" if timing else ""
    print(f"{name}: running at the {profile} profile{estimate}", flush=True)


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
    counts = claim_counts(claims)
    if not ENFORCED.get(profile, True):  # smoke: the claims are recorded; nothing is enforced
        would = f"; {len(failed)} check(s) would FAIL ({failed[0].id})" if failed else ""
        return True, f"{profile} profile: claims recorded, not enforced ({counts}){would}"
    if not failed:
        return True, f"all enforced claims passed ({counts})"
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


# What every reader of run_info.json relies on (the rest is provenance, shown as written).
RUN_INFO_SCHEMA = {
    "type": "object",
    "required": ["chapter", "profile", "ok"],
    "properties": {
        "chapter": {"type": "string", "minLength": 1, "maxLength": 200},
        "title": {"type": "string"},
        "profile": {"type": "string", "minLength": 1, "maxLength": 200},
        "parameters": {"type": "object"},
        "ok": {"type": "boolean"},
        "message": {"type": "string"},
        "wall_time_s": {"type": "number", "minimum": 0},
        "finished": {"type": "string"},
        "overrides": {"type": "object"},
    },
}


@functools.lru_cache(maxsize=1)
def _run_info_validator():
    import jsonschema  # seconds to import: only when a run_info.json is read

    return jsonschema.Draft7Validator(RUN_INFO_SCHEMA)


def run_info_problem(info) -> str | None:
    """Why a parsed run_info.json is not what a run writes (one line), or None."""
    import jsonschema

    error = jsonschema.exceptions.best_match(_run_info_validator().iter_errors(info))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "the file"
    return f"{where}: {error.message[:200]}"


def read_run_info(out_dir: Path) -> dict | None:
    """The run_info.json of an output folder; None if absent, unreadable or not what a run writes
    (a profile that is a list made every reader fail with a TypeError)."""
    try:
        info = read_json(out_dir / RUN_INFO_FILE, RUN_INFO_FILE)
    except (OSError, ValueError):
        return None
    return info if run_info_problem(info) is None else None


def read_chapter_claims(out_dir: Path):
    path = out_dir / CLAIMS_FILE
    return load_claims(path) if path.exists() else []
