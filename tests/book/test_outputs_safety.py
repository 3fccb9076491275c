"""A run owns its output folder and nothing else (issue 14, cases 1, 2, 7, 14)."""

import os
import signal
import subprocess
import sys
import time

import pytest

from chapter_stub import stub_chapter
from conftest import GOALDRIFT, REPO, call_cli, run_cli
from goaldrift.book.execute import check_out_dir, run_chapter
from goaldrift.book.params import ParamError


def _run(chapter, out, x=1):
    check_out_dir(out)
    return run_chapter(chapter, "default", {"x": x}, out)


@pytest.mark.slow  # executes a notebook in a kernel
def test_a_users_file_in_the_output_folder_is_never_moved_or_deleted(tmp_path):
    """Case 1: notes.txt must survive re-runs; the re-run is refused instead."""
    chapter = stub_chapter(tmp_path)
    out = tmp_path / "X"
    assert _run(chapter, out).ok
    (out / "notes.txt").write_text("n")
    with pytest.raises(ParamError, match="notes.txt"):
        check_out_dir(out)
    # even a caller that skips the check cannot lose the file
    result = run_chapter(chapter, "default", {"x": 1}, out)
    assert not result.ok
    assert (out / "notes.txt").read_text() == "n"
    assert not (tmp_path / "X.previous").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".X.")]  # nothing stranded


@pytest.mark.slow  # executes a notebook in a kernel
def test_a_failed_output_with_a_users_file_is_kept(tmp_path):
    """Case 1, second half: a failed run's folder is not deleted on the re-run if it holds a user's file."""
    chapter = stub_chapter(tmp_path)
    out = tmp_path / "X"
    assert not _run(chapter, out, x=2).ok  # the claim fails
    (out / "notes.txt").write_text("n")
    with pytest.raises(ParamError, match="notes.txt"):
        check_out_dir(out)
    run_chapter(chapter, "default", {"x": 1}, out)
    assert (out / "notes.txt").read_text() == "n"


@pytest.mark.slow  # executes a notebook in a kernel
def test_rerun_keeps_its_own_previous_and_replaces_it(tmp_path):
    chapter = stub_chapter(tmp_path)
    out = tmp_path / "X"
    for _ in range(3):
        assert _run(chapter, out).ok
    assert (tmp_path / "X.previous" / "claims.json").exists()
    assert (out / "claims.json").exists()


def test_an_unrelated_previous_folder_is_never_touched(tmp_path):
    """Case 2: R.previous that goaldrift did not create survives two runs."""
    chapter = stub_chapter(tmp_path)
    out = tmp_path / "R"
    (tmp_path / "R.previous").mkdir()
    (tmp_path / "R.previous" / "important.txt").write_text("d")
    with pytest.raises(ParamError, match="R.previous"):
        check_out_dir(out)
    for _ in range(2):
        run_chapter(chapter, "default", {"x": 1}, out)
    assert (tmp_path / "R.previous" / "important.txt").read_text() == "d"


@pytest.mark.slow  # executes a notebook in a kernel
def test_a_users_file_added_to_our_previous_is_never_deleted(tmp_path):
    chapter = stub_chapter(tmp_path)
    out = tmp_path / "R"
    assert _run(chapter, out).ok and _run(chapter, out).ok
    (tmp_path / "R.previous" / "mine.txt").write_text("m")
    with pytest.raises(ParamError, match="mine.txt"):
        check_out_dir(out)
    run_chapter(chapter, "default", {"x": 1}, out)
    assert (tmp_path / "R.previous" / "mine.txt").read_text() == "m"


def test_garbage_run_info_is_refused_before_any_work(tmp_path):
    """Case 7: a garbage run_info.json in --out: exit 2 up front, no traceback, nothing stranded."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "run_info.json").write_text("{garbage")
    result = run_cli("run", "l2_equilibrium", "--profile", "smoke", "--out", out, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert (out / "run_info.json").read_text() == "{garbage"


@pytest.mark.slow  # executes a notebook in a kernel
def test_garbage_run_info_in_our_own_output_does_not_strand_the_result(tmp_path):
    """Case 7, at replace time: run_info.json damaged during the run."""
    chapter = stub_chapter(tmp_path)
    out = tmp_path / "X"
    assert _run(chapter, out).ok
    (out / "run_info.json").write_text("{garbage")
    result = run_chapter(chapter, "default", {"x": 1}, out)
    assert result.ok, result.message
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".X.")]


@pytest.mark.slow  # executes a notebook in a kernel
def test_stale_temporary_folders_of_an_interrupted_run_are_cleaned_up(tmp_path, capsys):
    """Case 14: a hidden work folder left by a killed run is removed (and said so) on the next run;
    one that goaldrift did not make is left alone and reported."""
    chapter = stub_chapter(tmp_path)
    out = tmp_path / "X"
    stale = tmp_path / ".X.abcd1234"
    stale.mkdir()
    (stale / "stub.ipynb").write_text("{}")
    (stale / ".goaldrift-work").write_text("999999999")  # a pid that is not running
    foreign = tmp_path / ".X.userdata"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("k")
    assert _run(chapter, out).ok
    err = capsys.readouterr().err
    assert not stale.exists() and ".X.abcd1234" in err
    assert (foreign / "keep.txt").read_text() == "k" and ".X.userdata" in err


@pytest.mark.slow  # starts the l2_equilibrium chapter in a process
def test_sigint_prints_one_line_and_leaves_nothing(tmp_path):
    """Case 14: Ctrl-C during a run: one line on stderr, no ZMQ traceback, no hidden folder left."""
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    proc = subprocess.Popen(GOALDRIFT + ["run", "l2_equilibrium", "--profile", "smoke", "--out", str(out)],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)
    deadline = time.time() + 60
    while not any(p.name.startswith(".out.") for p in tmp_path.iterdir()):
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.05)
    time.sleep(3)  # the kernel is up and executing
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C does: the whole process group
    _, stderr = proc.communicate(timeout=60)
    lines = [line for line in stderr.splitlines() if "Kernel is running over TCP" not in line]
    assert proc.returncode == 130, stderr
    assert len(lines) == 1 and "interrupted" in lines[0], stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_out_path_too_long_is_refused(tmp_path):
    result = run_cli("run", "l2_equilibrium", "--profile", "smoke", "--out", tmp_path / ("a" * 250), cwd=tmp_path)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr and list(tmp_path.iterdir()) == []


@pytest.mark.slow  # executes the l2_equilibrium chapter
def test_cli_refuses_to_rerun_into_a_folder_with_a_users_file(tmp_path):
    """Case 1 as the user met it: `goaldrift run ... --out X`, then notes.txt, then two re-runs."""
    out = tmp_path / "X"
    assert run_cli("run", "l2_equilibrium", "--profile", "smoke", "--out", out, cwd=tmp_path).returncode == 0
    (out / "notes.txt").write_text("n")
    for _ in range(2):
        result = run_cli("run", "l2_equilibrium", "--profile", "smoke", "--out", out, cwd=tmp_path)
        assert result.returncode == 2 and "notes.txt" in result.stderr, result.stderr
    assert (out / "notes.txt").read_text() == "n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["X"]


def test_cli_refuses_an_unrelated_previous_folder(tmp_path):
    """Case 2 as the user met it: an unrelated R.previous survives `--out R` twice."""
    (tmp_path / "R.previous").mkdir()
    (tmp_path / "R.previous" / "important.txt").write_text("d")
    for _ in range(2):
        result = run_cli("run", "l2_equilibrium", "--profile", "smoke", "--out", tmp_path / "R", cwd=tmp_path)
        assert result.returncode == 2 and "R.previous" in result.stderr, result.stderr
    assert (tmp_path / "R.previous" / "important.txt").read_text() == "d"


# ---- one resolved output path (issue 30, item 1) ---------------------------------

def _refused_in_one_line(result):
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("goaldrift: error:") and "Traceback" not in result.stderr, \
        result.stderr


@pytest.mark.parametrize("out", ["/", ".", "", "..", "loop"])
def test_out_that_is_root_here_empty_or_a_loop_is_one_line(tmp_path, out):
    """`--out /`, `.` and `''` gave 20-line tracebacks ("has an empty name"), a symlink loop 28 lines."""
    here = tmp_path / "here"
    here.mkdir()
    (here / "loop").symlink_to("loop")
    result = call_cli("run", "l2_equilibrium", "--profile", "smoke", "--out", out, cwd=here)
    _refused_in_one_line(result)
    assert sorted(p.name for p in here.iterdir()) == ["loop"] and sorted(tmp_path.iterdir()) == [here]


def test_a_dangling_link_is_checked_where_it_points(tmp_path):
    """The check ran on the link, the run on its target: exit 1, printed as a chapter result."""
    (tmp_path / "afile").write_text("x")
    (tmp_path / "out").symlink_to(tmp_path / "afile" / "missing")
    _refused_in_one_line(call_cli("run", "l2_equilibrium", "--profile", "smoke", "--out", tmp_path / "out",
                                  cwd=tmp_path))


def test_a_link_to_a_folder_with_a_foreign_previous_is_refused_up_front(tmp_path):
    real = tmp_path / "real"
    (real / "target.previous").mkdir(parents=True)
    (real / "target.previous" / "mine.txt").write_text("keep")
    (tmp_path / "link").symlink_to(real / "target")
    result = call_cli("run", "l2_equilibrium", "--profile", "smoke", "--out", tmp_path / "link", cwd=tmp_path)
    _refused_in_one_line(result)
    assert "target.previous" in result.stderr
    assert (real / "target.previous" / "mine.txt").read_text() == "keep"


@pytest.mark.parametrize("where", ["equal", "inside"])
def test_a_runs_dir_inside_the_output_is_refused_before_training(tmp_path, monkeypatch, where):
    """The run trained for 7 s, was then refused, and its result was stranded in a work folder."""
    out = tmp_path / "out"
    monkeypatch.setenv("GOALDRIFT_RUNS_DIR", str(out if where == "equal" else out / "cache"))
    result = call_cli("run", "grokking_replication", "--profile", "smoke", "--out", out, cwd=tmp_path)
    _refused_in_one_line(result)
    assert "run cache" in result.stderr and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("inside", ["book/chapters/mine", "src/goaldrift/mine"])
def test_out_inside_the_sources_is_refused(tmp_path, inside):
    result = call_cli("run", "l2_equilibrium", "--profile", "smoke", "--out", REPO / inside, cwd=tmp_path)
    _refused_in_one_line(result)
    assert not (REPO / inside).exists()


def test_a_relative_runs_dir_means_the_callers_folder_for_the_kernel_too(tmp_path, monkeypatch):
    """A relative GOALDRIFT_RUNS_DIR resolved inside the kernel's work folder: the cache landed
    inside --out and every run retrained."""
    from goaldrift.book.cli import check_environment

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GOALDRIFT_RUNS_DIR", "cache")
    assert check_environment() == tmp_path.resolve() / "cache"
    assert os.environ["GOALDRIFT_RUNS_DIR"] == str(tmp_path.resolve() / "cache")  # what kernels inherit


def test_an_unwritable_results_dir_is_refused_before_the_chapter_runs(tmp_path, monkeypatch):
    """A read-only GOALDRIFT_RESULTS_DIR was discovered only after the chapter ran."""
    (tmp_path / "afile").write_text("x")
    monkeypatch.setenv("GOALDRIFT_RESULTS_DIR", str(tmp_path / "afile" / "results"))
    result = call_cli("run", "l2_equilibrium", "--profile", "smoke", "--out", tmp_path / "out", "--snapshot",
                      cwd=tmp_path)
    _refused_in_one_line(result)
    assert "GOALDRIFT_RESULTS_DIR" in result.stderr and not (tmp_path / "out").exists()


def test_a_long_multibyte_name_is_counted_in_bytes(tmp_path):
    """A 246-byte, 123-character name was refused with a message that counted bytes but said characters."""
    result = call_cli("run", "l2_equilibrium", "--profile", "smoke", "--out", tmp_path / ("é" * 123), cwd=tmp_path)
    _refused_in_one_line(result)
    assert "246 bytes (123 characters)" in result.stderr, result.stderr


def test_a_damaged_marker_is_called_damaged(tmp_path):
    """A damaged .goaldrift-output was reported as files "goaldrift did not write"."""
    out = tmp_path / "out"
    out.mkdir()
    (out / ".goaldrift-output").write_text("{not json")
    (out / "claims.json").write_text("[]")
    result = call_cli("run", "l2_equilibrium", "--profile", "smoke", "--out", out, cwd=tmp_path)
    _refused_in_one_line(result)
    assert "damaged" in result.stderr and "did not write" not in result.stderr, result.stderr


def test_a_run_info_whose_profile_is_a_list_is_not_a_traceback(tmp_path):
    """A run_info.json whose profile is a list: a TypeError traceback in `goaldrift claims`."""
    out = tmp_path / "l2_equilibrium"
    out.mkdir()
    (out / "claims.json").write_text("[]")
    (out / "run_info.json").write_text('{"chapter": "l2_equilibrium", "profile": ["smoke"], "ok": true}')
    result = call_cli("claims", tmp_path)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    from goaldrift.book.execute import read_run_info

    assert read_run_info(out) is None


def test_the_output_of_a_refused_run_is_recognised_as_goaldrifts(tmp_path, capsys):
    """A run refused at the end stranded its output in a work folder, which the next run called
    "not made by goaldrift" forever."""
    import json

    from goaldrift.book.execute import clean_stale_work

    work = tmp_path / ".out.abcd1234"
    work.mkdir()
    (work / "run_info.json").write_text(json.dumps({"chapter": "stub", "profile": "default", "ok": True}))
    (work / ".goaldrift-output").write_text(json.dumps({"files": ["run_info.json"]}))
    clean_stale_work(tmp_path / "out")
    err = capsys.readouterr().err
    assert "could not replace out" in err and "did not mark" not in err, err
    assert work.is_dir()  # the user's result: kept


@pytest.mark.slow  # executes the grokking_replication chapter twice
def test_a_run_says_how_many_runs_it_trained_and_reused(tmp_path):
    """A re-run took 6.5 s instead of 28.6 s and said nothing about why; it starts with the expected time."""
    env_runs = tmp_path / "cache"
    args = ("run", "grokking_replication", "--profile", "smoke", "--out", tmp_path / "out")
    import os

    os.environ["GOALDRIFT_RUNS_DIR"], before = str(env_runs), os.environ["GOALDRIFT_RUNS_DIR"]
    try:
        first, second = run_cli(*args, cwd=tmp_path), run_cli(*args, cwd=tmp_path)
    finally:
        os.environ["GOALDRIFT_RUNS_DIR"] = before
    import re

    trained = re.search(r"(\d+) run\(s\) trained, 0 reused from the cache", first.stdout)
    assert trained and int(trained.group(1)) > 0, first.stdout
    assert f"0 run(s) trained, {trained.group(1)} reused from the cache" in second.stdout, second.stdout
    assert "expected about" in second.stdout and "its last run here" in second.stdout
    import json

    info = json.loads((tmp_path / "out" / "run_info.json").read_text())
    assert (info["runs_trained"], info["runs_reused"]) == (0, int(trained.group(1)))
    assert ".runs-used.log" not in json.loads((tmp_path / "out" / ".goaldrift-output").read_text())["files"]


@pytest.mark.slow  # executes a notebook in a kernel
def test_a_users_empty_folder_inside_a_failed_output_is_kept(tmp_path):
    """A replaced failed output removed a user's (empty) folder inside it: ownership listed files only."""
    chapter = stub_chapter(tmp_path)
    out = tmp_path / "out"
    result = _run(chapter, out, x=2)  # a failed check: a failed output, which the next run replaces
    assert not result.ok and out.is_dir()
    (out / "my-notes").mkdir()
    with pytest.raises(ParamError, match="my-notes"):
        check_out_dir(out)
    assert (out / "my-notes").is_dir()
