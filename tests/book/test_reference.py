"""The reference build and `goaldrift compare` (goaldrift.book.reference)."""

import json
from dataclasses import asdict

import pytest

from conftest import call_cli
from goaldrift.book.chapters import CHAPTERS
from goaldrift.book.claims import Claim, compare
from goaldrift.book.reference import (REFERENCE_INFO, agreement_markdown, beyond_tolerance, compare_builds,
                                      update_reference)

NAME = next(iter(CHAPTERS))


def claim(id, verdict="supported", measured=1.0, predicted=1.0, tolerance=0.1, comparison="rel", kind="evidence"):
    """A record that tells the truth (load_claims decides it again): its interval is one that gives
    `verdict` against the predicted region [0.9, 1.1], wherever `measured` lies."""
    interval = {"supported": (0.99, 1.01), "inconclusive": (0.85, 0.95), "refuted": (2.0, 2.1)}[verdict]
    return Claim(id=id, chapter=NAME, statement="s", predicted=predicted, measured=measured, tolerance=tolerance,
                 comparison=comparison, passed=compare(predicted, measured, comparison, tolerance),
                 enforced=kind == "check", kind=kind, verdict=verdict if kind == "evidence" else None,
                 interval_low=interval[0], interval_high=interval[1])


def write(folder, claims, chapter=NAME, profile="default", ok=True):
    (folder / chapter).mkdir(parents=True, exist_ok=True)
    (folder / chapter / "claims.json").write_text(json.dumps([asdict(c) for c in claims]))
    (folder / chapter / "run_info.json").write_text(json.dumps({"chapter": chapter, "profile": profile, "ok": ok, "git_commit": "abc",
                                                                  "numerics": {"mode": "portable", "pinned": True}}))


def test_identical_builds_have_no_differences(tmp_path):
    write(tmp_path / "ref", [claim("a"), claim("b")])
    write(tmp_path / "new", [claim("a"), claim("b")])
    assert compare_builds(tmp_path / "new", tmp_path / "ref") == []


def test_a_verdict_difference_is_decisive_and_a_small_measured_one_is_not_listed(tmp_path):
    write(tmp_path / "ref", [claim("a"), claim("b", measured=1.0)])
    write(tmp_path / "new", [claim("a", verdict="inconclusive"), claim("b", measured=1.05)])
    diffs = compare_builds(tmp_path / "new", tmp_path / "ref")
    assert [(d.claim, d.what, d.decisive) for d in diffs] == [("a", "verdict", True)]


def test_a_measured_value_beyond_its_tolerance_is_listed_but_not_decisive(tmp_path):
    write(tmp_path / "ref", [claim("b", measured=1.0)])
    write(tmp_path / "new", [claim("b", measured=1.09)])  # moved 0.09, within the tolerance 0.1 x 1.0
    assert compare_builds(tmp_path / "new", tmp_path / "ref") == []
    write(tmp_path / "new", [claim("b", measured=1.2, verdict="supported")])
    (d,) = compare_builds(tmp_path / "new", tmp_path / "ref")
    assert d.what == "measured" and not d.decisive


@pytest.mark.parametrize("a, b, comparison, tolerance, differs", [
    (float("nan"), float("nan"), "rel", 0.1, False), (float("nan"), 1.0, "rel", 0.1, True),
    (3.0, 3.0, "at_least", None, False), (3.0, 3.0000001, "at_least", None, True),
    (2.0, 2.4, "abs", 0.5, False), (2.0, 2.6, "abs", 0.5, True), ([1, 2], [1, 2], "equal", None, False),
])
def test_beyond_tolerance(a, b, comparison, tolerance, differs):
    ref = claim("x", measured=0.0, tolerance=tolerance, comparison=comparison)
    ref.measured, ref.predicted = a, 2.0
    new = claim("x", measured=0.0, tolerance=tolerance, comparison=comparison)
    new.measured = b
    assert beyond_tolerance(ref, new) is differs


def test_missing_and_added_claims_and_a_missing_chapter_are_decisive(tmp_path):
    other = list(CHAPTERS)[1]
    write(tmp_path / "ref", [claim("a"), claim("gone")])
    write(tmp_path / "ref", [claim("a")], chapter=other)
    write(tmp_path / "new", [claim("a"), claim("new")])
    diffs = compare_builds(tmp_path / "new", tmp_path / "ref")
    assert {(d.chapter, d.claim, d.what) for d in diffs} == {
        (NAME, "gone", "missing"), (NAME, "new", "added"), (other, "", "chapter missing")}
    assert all(d.decisive for d in diffs)


def test_the_command_exits_1_on_a_verdict_difference_and_0_otherwise(tmp_path):
    write(tmp_path / "ref", [claim("a")])
    write(tmp_path / "new", [claim("a")])
    r = call_cli("compare", tmp_path / "new", tmp_path / "ref")
    assert r.returncode == 0 and "0 verdict difference(s)" in r.stdout
    write(tmp_path / "new", [claim("a", verdict="refuted")])
    r = call_cli("compare", tmp_path / "new", tmp_path / "ref")
    assert r.returncode == 1 and "supported" in r.stdout and "refuted" in r.stdout


def test_the_command_refuses_a_missing_folder_in_one_line(tmp_path):
    r = call_cli("compare", tmp_path / "nowhere", tmp_path)
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "does not exist" in r.stderr


def test_update_refuses_a_partial_build_and_keeps_the_old_reference(tmp_path):
    write(tmp_path / "ref", [claim("old")])
    (tmp_path / "ref" / REFERENCE_INFO).write_text("{}")
    write(tmp_path / "new", [claim("a")])  # one chapter only
    r = call_cli("compare", tmp_path / "new", tmp_path / "ref", "--update")
    assert r.returncode == 2 and "needs every chapter" in r.stderr
    assert json.loads((tmp_path / "ref" / NAME / "claims.json").read_text())[0]["id"] == "old"


def test_update_refuses_another_profile_and_takes_a_complete_default_build(tmp_path):
    for name in CHAPTERS:
        write(tmp_path / "new", [claim("a", )], chapter=name, profile="smoke")
    with pytest.raises(ValueError, match="not a finished default-profile run"):
        update_reference(tmp_path / "new", tmp_path / "ref")
    assert not (tmp_path / "ref").exists()
    for name in CHAPTERS:
        write(tmp_path / "new", [claim("a")], chapter=name)
    update_reference(tmp_path / "new", tmp_path / "ref")
    assert compare_builds(tmp_path / "new", tmp_path / "ref") == []
    info = json.loads((tmp_path / "ref" / REFERENCE_INFO).read_text())
    assert info["git_commit"] == "abc" and info["numerics"] == "portable (pinned)"
    assert "**agrees**" in agreement_markdown(tmp_path / "new", tmp_path / "ref")
