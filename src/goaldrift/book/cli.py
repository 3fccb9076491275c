"""The `goaldrift` command: list, run, book, claims.

Exit codes: 0 all enforced claims passed; 1 a claim failed or a chapter
raised (the executed notebook is still written, with the failure visible),
or a chapter wrote no valid claims.json or would have ignored a parameter;
2 bad input (one line on stderr, nothing written, run cache included).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from goaldrift import numerics
from goaldrift.__main__ import EXIT_INTERRUPTED, INTERRUPTED
from goaldrift.book.chapters import CHAPTERS, get_chapter
from goaldrift.book.claims import CLAIMS_FILE, claim_counts, format_value, interval_text, load_claims
from goaldrift.book.execute import check_out_dir, check_writable_folder, read_run_info, resolved_folder, run_chapter
from goaldrift.book.params import ParamError
from goaldrift.book.profiles import ENFORCED, PROFILES, resolve
from goaldrift.paths import EXECUTED_DIR, MATHJAX_DIR, REPO_ROOT

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader left


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad input as one line, as the rest of the CLI does,
    and reads -inf, -1e-3 and -.5 as values (stock argparse took them for options)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(
            r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-(inf|infinity|nan)$", re.IGNORECASE)

    def error(self, message: str):
        raise ParamError(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="goaldrift", description="Build and run the goaldrift research book.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    listing = sub.add_parser("list", help="the chapters and their parameters with defaults")
    listing.add_argument("chapter", nargs="?", default=None, help="one chapter, with each profile's expected time")

    run = sub.add_parser("run", help="execute one chapter with papermill")
    run.add_argument("chapter")
    run.add_argument("--profile", default="default", choices=PROFILES)
    run.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    run.add_argument("--out", default=None, help="output folder (default _build/executed/CHAPTER)")
    run.add_argument("--snapshot", action="store_true",
                     help="also keep the result as a committed snapshot in results/PROFILE/CHAPTER/")

    book = sub.add_parser("book", help="execute every chapter, then build the site")
    book.add_argument("--profile", default="default", choices=PROFILES)

    sweep = sub.add_parser("sweep", help="train a grid of runs into the run cache, locally or on Ray")
    sweep.add_argument("target", help="a chapter that declares its runs, or a sweep specification "
                       "(JSON: name, base, grid, members_per_run)")
    sweep.add_argument("--profile", default="default", choices=PROFILES, help="for a chapter")
    sweep.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    sweep.add_argument("--backend", default="local", choices=("local", "ray"))
    sweep.add_argument("--address", default=None, help="Ray cluster address HOST:PORT (ray backend)")
    sweep.add_argument("--runs-dir", type=Path, default=None, help="run cache (default runs/ or $GOALDRIFT_RUNS_DIR)")
    sweep.add_argument("--report", default=None,
                       help="folder for the sweep's table (sweep.csv) and plot (sweep.png); default _build/sweeps/NAME")

    claims = sub.add_parser("claims", help="print the claims of executed chapters")
    claims.add_argument("dir", nargs="?", type=Path, default=None)

    compare = sub.add_parser("compare", help="compare a build's claims with the committed reference build "
                             "(exit 1 on any verdict difference)")
    compare.add_argument("build", nargs="?", type=Path, default=None, help="executed chapters (default _build/executed)")
    compare.add_argument("reference", nargs="?", type=Path, default=None, help="default results/default")
    compare.add_argument("--update", action="store_true",
                         help="make BUILD the reference instead (every chapter, default profile, finished ok)")
    return parser


def cmd_list(args) -> int:
    from goaldrift.book.timings import expected_time

    chapters = [get_chapter(args.chapter)] if args.chapter else list(CHAPTERS.values())
    for chapter in chapters:
        print(f"{chapter.name}: {chapter.title}")
        if args.chapter:
            for profile in PROFILES:
                timing = expected_time(chapter.name, profile)
                print(f"  time at {profile}: {timing.text() if timing else 'not recorded in this checkout'}")
        for p in chapter.params:
            per_profile = "".join(
                f", {profile}={format_value(values[p.name])}"
                for profile, values in chapter.profiles.items()
                if p.name in values
            )
            rng = f" in {p.range_text()}" if p.range_text() else ""
            print(f"  {p.name} ({p.type.__name__}{rng}) = {format_value(p.default)}{per_profile}  {p.help}")
    return EXIT_OK


def _overrides(pairs: list[list[str]]) -> dict[str, str]:
    overrides: dict[str, str] = {}
    for name, value in pairs:
        if name in overrides:
            raise ParamError(f"parameter {name!r} given twice")
        overrides[name] = value
    return overrides


def check_environment(runs_dir: Path | None = None) -> Path:
    """The environment variables the training code reads, checked before any
    work: a bad value is one line here, not a traceback in a kernel later.
    Returns the run cache folder, resolved; a relative $GOALDRIFT_RUNS_DIR is made
    absolute here, so that kernels (which run in their own work folder) and this
    process mean the same folder."""
    from goaldrift.settings import cpu_threads_setting, worker_setting  # torch-free: checked before its import

    for setting in (numerics.mode, cpu_threads_setting, worker_setting):
        try:
            setting()
        except ValueError as err:
            raise ParamError(str(err)) from None
    if runs_dir is not None:
        where = f"--runs-dir {str(runs_dir)!r}"
    elif os.environ.get(RUNS_VAR):
        runs_dir, where = Path(os.environ[RUNS_VAR]), f"{RUNS_VAR}={os.environ[RUNS_VAR]!r}"
    else:
        return REPO_ROOT / "runs"
    runs_dir = resolved_folder(runs_dir, where)
    if where.startswith(RUNS_VAR):
        os.environ[RUNS_VAR] = str(runs_dir)
    check_writable_folder(runs_dir, where, "the run cache")
    return runs_dir


RUNS_VAR = "GOALDRIFT_RUNS_DIR"  # goaldrift.engine.runs.ENV_VAR, without importing torch here
RESULTS_VAR = "GOALDRIFT_RESULTS_DIR"  # goaldrift.book.snapshots.results_dir


def results_folder() -> Path:
    """Where --snapshot writes, resolved and checked before the chapter runs (not after)."""
    if os.environ.get(RESULTS_VAR):
        where = f"{RESULTS_VAR}={os.environ[RESULTS_VAR]!r}"
        folder = resolved_folder(os.environ[RESULTS_VAR], where)
        os.environ[RESULTS_VAR] = str(folder)
    else:
        where, folder = "results/", REPO_ROOT / "results"
    check_writable_folder(folder, where, "the snapshots")
    return folder


def cmd_run(args) -> int:
    others = {"the run cache": check_environment()}
    if args.snapshot:
        others["the snapshots folder"] = results_folder()
    chapter = get_chapter(args.chapter)
    values = resolve(chapter, args.profile, _overrides(args.param))
    # resolved once: every check below and every write of the run use this path
    out_dir = resolved_folder(args.out, "--out") if args.out is not None else EXECUTED_DIR / chapter.name
    check_out_dir(out_dir, others)
    if args.snapshot:  # a snapshot folder we may not replace is refused before the run, not after
        from goaldrift.book.snapshots import SnapshotError, check_snapshot_target

        try:
            check_snapshot_target(chapter.name, args.profile)
        except (OSError, SnapshotError) as err:
            raise ParamError(str(err)) from None
    result = run_chapter(chapter, args.profile, values, out_dir)
    _report(result)
    if args.snapshot:
        return _snapshot(chapter, result, args.profile)
    return EXIT_OK if result.ok else EXIT_FAILED


def _snapshot(chapter, result, profile: str) -> int:
    """Snapshot this very run's output, and only a run that executed and passed:
    a refused or failed run leaves the earlier snapshot (and its output) as they were."""
    from goaldrift.book.snapshots import write_snapshot

    if not (result.ok and result.written):
        print("goaldrift: snapshot not written: this run did not finish with its claims passed; "
              "the earlier snapshot, if any, is kept", file=sys.stderr)
        return EXIT_FAILED
    try:
        print(f"{chapter.name}: snapshot -> {write_snapshot(chapter, result.out_dir, profile)}")
    except (OSError, ValueError) as err:
        print(f"goaldrift: snapshot not written: {err}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _report(result) -> None:
    stream = sys.stdout if result.ok else sys.stderr
    print(
        f"{result.chapter}: {result.message} ({result.wall_time_s:.1f} s) -> {result.notebook}",
        file=stream,
    )


def cmd_book(args) -> int:
    others = {"the run cache": check_environment()}
    plans = [(c, resolve(c, args.profile)) for c in CHAPTERS.values()]
    for chapter, _ in plans:  # refused before hours of execution, not after
        check_out_dir(EXECUTED_DIR / chapter.name, others)
    if not (MATHJAX_DIR / "tex-mml-chtml.js").exists():  # checked before hours of execution, not after
        raise ParamError(f"{MATHJAX_DIR} is missing: run `npm ci` (make book does) to install MathJax")
    ok = True
    for chapter, values in plans:
        result = run_chapter(chapter, args.profile, values, EXECUTED_DIR / chapter.name)
        _report(result)
        ok &= result.ok
    try:
        from goaldrift.book.site import build_site  # nbformat and jsonschema take seconds to import

        site = build_site(EXECUTED_DIR)
    except FileNotFoundError as err:
        print(f"goaldrift: {err}", file=sys.stderr)
        return EXIT_FAILED
    if site != 0:
        print(f"goaldrift: jupyter-book build failed (exit {site})", file=sys.stderr)
    return EXIT_OK if ok and site == 0 else EXIT_FAILED


def cmd_claims(args) -> int:
    root = args.dir if args.dir is not None else EXECUTED_DIR
    if not root.is_dir():
        raise ParamError(f"{str(root)!r} is not a folder of executed chapters")
    if (root / CLAIMS_FILE).exists():
        files = [root / CLAIMS_FILE]
    else:  # one folder per chapter; never the .previous copies or work folders beside them
        files = [root / name / CLAIMS_FILE for name in CHAPTERS if (root / name / CLAIMS_FILE).exists()]
    if not files:
        raise ParamError(f"no {CLAIMS_FILE} under {str(root)!r}: run a chapter first")
    try:
        sources = [(f, c) for f in files for c in load_claims(f)]
        claims = [c for _, c in sources]
    except (ValueError, OSError) as err:
        raise ParamError(f"unreadable {CLAIMS_FILE} under {str(root)!r}: {str(err).splitlines()[0]}") from None
    width = max((len(c.id) for c in claims), default=0)
    for c in claims:
        line = (f"{c.verdict:12s} {c.kind:8s} {c.chapter:18s} {c.id:{width}s}  "
                f"predicted {format_value(c.predicted):>12s}  measured {format_value(c.measured):>12s}")
        if c.is_evidence:
            line += f"  interval {interval_text(c)}"
            if c.verdict == "inconclusive" and c.note:
                line += f"  [{c.note}]"
        print(line)
    failed = [c for c in claims if not c.is_evidence and not c.passed]
    print(claim_counts(claims) + (f"; {len(failed)} check(s) FAIL" if failed else ""))
    # The exit code `run` gave: a chapter run at a profile that does not enforce
    # its claims (smoke) does not fail on them, here either.
    unenforced = {str(f) for f in files if not _enforced_profile(f.parent)}
    counted = [c for f, c in sources if c.enforced and not c.passed and str(f) not in unenforced]
    if failed and not counted:
        print("(the failed checks come from runs at a profile that records claims without enforcing them)")
    return EXIT_FAILED if counted else EXIT_OK


def cmd_compare(args) -> int:
    from goaldrift.book.reference import compare_builds, reference_dir, update_reference

    build = args.build if args.build is not None else EXECUTED_DIR
    reference = args.reference if args.reference is not None else reference_dir()
    try:
        if args.update:
            print(f"reference updated: {update_reference(build, reference)}")
            return EXIT_OK
        diffs = compare_builds(build, reference)
    except (OSError, ValueError) as err:
        raise ParamError(str(err).splitlines()[0]) from None
    for d in diffs:
        print(f"{d.what:16s} {d.chapter:22s} {d.claim or '-':44s} reference: {d.reference}  |  build: {d.build}")
    decisive = [d for d in diffs if d.decisive]
    print(f"compared {build} with {reference}: {len(decisive)} verdict difference(s), "
          f"{len(diffs) - len(decisive)} measured value(s) beyond tolerance")
    return EXIT_FAILED if decisive else EXIT_OK


def _enforced_profile(out_dir: Path) -> bool:
    info = read_run_info(out_dir)
    return not (info and ENFORCED.get(info.get("profile"), True) is False)


def cmd_sweep(args) -> int:
    # The engine (torch) loads only for a sweep: listing and running chapters never need it here.
    from goaldrift.book.sweep_report import SWEEPS_DIR, sweep_rows, table_text, write_report
    from goaldrift.engine.sweeps import is_finished, load_spec, run_configs
    from goaldrift.engine.train import ConfigError

    if args.address and args.backend != "ray":
        raise ParamError("--address needs --backend ray")
    resolved_runs = check_environment(args.runs_dir)
    runs_dir = resolved_runs if args.runs_dir is not None else None  # else the engine's own default
    report_dir = resolved_folder(args.report, "--report") if args.report is not None else None
    try:
        if args.target in CHAPTERS:
            name = args.target
            chapter = CHAPTERS[args.target]
            if chapter.sweep is None:
                raise ParamError(f"chapter {chapter.name!r} declares no sweep "
                                 f"(chapters that do: {', '.join(c for c, ch in CHAPTERS.items() if ch.sweep)})")
            configs = chapter.sweep(resolve(chapter, args.profile, _overrides(args.param)))
        elif Path(args.target).suffix == ".json" or Path(args.target).exists():
            if args.param:
                raise ParamError("-p applies to chapters, not to sweep specifications")
            spec = load_spec(args.target)
            name, configs = spec.name, spec.runs()
        else:
            raise ParamError(f"{args.target!r} is neither a chapter nor a sweep specification file")
        cached = [is_finished(c, runs_dir) for c in configs]
        paths = run_configs(configs, backend=args.backend, address=args.address, root=runs_dir)
    except ConfigError as err:
        raise ParamError(str(err)) from None
    except OSError as err:
        raise ParamError(f"cannot use the run cache: {err}") from None
    except RuntimeError as err:
        print(f"goaldrift: {err}", file=sys.stderr)
        return EXIT_FAILED
    status = {p.name: "reused" if was else "trained" for p, was in zip(paths, cached)}
    columns, rows = sweep_rows(configs, paths, status)
    print(table_text(columns, rows))
    try:
        folder = write_report(name, columns, rows, report_dir or SWEEPS_DIR / name)
    except OSError as err:
        print(f"goaldrift: the sweep finished, but its report was not written: {err}", file=sys.stderr)
        return EXIT_FAILED
    print(f"{args.target}: {len(rows)} grid point(s) in {len(paths)} run(s) in "
          f"{paths[0].parent if paths else runs_dir}; table {folder / 'sweep.csv'}, plot {folder / 'sweep.png'}")
    return EXIT_OK


COMMANDS = {"list": cmd_list, "run": cmd_run, "book": cmd_book, "sweep": cmd_sweep,
            "compare": cmd_compare, "claims": cmd_claims}


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        code = COMMANDS[args.command](args)
        sys.stdout.flush()  # here, not at exit, where a reader that left (`| head -1`) would be a traceback
        return code
    except ParamError as err:
        print(f"goaldrift: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        import logging

        logging.disable(logging.CRITICAL)  # no shutdown tracebacks from the kernel's client after the line
        print(INTERRUPTED, file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `goaldrift list | head -1`: the reader left; say nothing more
        try:  # so that the interpreter's own flush at exit cannot fail again
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):  # stdout is not a file (a test's buffer)
            pass
        return EXIT_BROKEN_PIPE
