"""Claims that cannot lie (issue 14, cases 3, 5, 8): claims.json is validated
when read, and a chapter run that wrote no claims or ignored its parameters fails."""

import json

import pytest

from chapter_stub import stub_chapter
from conftest import call_cli, run_cli
from goaldrift.book import claims as claims_module
from goaldrift.book.claims import load_claims
from goaldrift.book.execute import check_out_dir, run_chapter

RECORD = {"id": "x", "chapter": "l2_equilibrium", "statement": "s", "predicted": 1.0, "measured": 1.05,
          "tolerance": 0.1, "comparison": "abs", "passed": True, "enforced": True}


def _claims_dir(tmp_path, records):
    (tmp_path / "l2_equilibrium").mkdir(exist_ok=True)
    (tmp_path / "l2_equilibrium" / "claims.json").write_text(json.dumps(records))
    return tmp_path


BAD_RECORDS = {
    "passed is a string": dict(RECORD, passed="false"),
    "enforced is a string": dict(RECORD, enforced="true"),
    "id is null": dict(RECORD, id=None),
    "statement missing": {k: v for k, v in RECORD.items() if k != "statement"},
    "unknown comparison": dict(RECORD, comparison="roughly"),
    "tolerance is a bool": dict(RECORD, tolerance=True),
    "unknown field": dict(RECORD, colour="red"),
    "kind not known": dict(RECORD, kind="guess"),
    "verdict not known": dict(RECORD, verdict="maybe"),
    "interval_low a list": dict(RECORD, interval_low=[1]),
    "passed contradicts the numbers": dict(RECORD, measured=3.0),
    "verdict contradicts passed": dict(RECORD, kind="check", verdict="FAIL"),
    "evidence with a check's verdict": dict(RECORD, kind="evidence", verdict="pass", enforced=False),
}


@pytest.mark.parametrize("label", BAD_RECORDS)
def test_a_malformed_claim_is_an_error_not_a_pass(tmp_path, label):
    """Case 5 ("passed": "false" showed as pass) and case 8 ("id": null gave a traceback)."""
    root = _claims_dir(tmp_path, [BAD_RECORDS[label]])
    with pytest.raises(claims_module.ClaimSchemaError):
        load_claims(root / "l2_equilibrium" / "claims.json")
    cli = run_cli if label == next(iter(BAD_RECORDS)) else call_cli  # one case as a real process, the rest in-process
    result = cli("claims", root)
    assert result.returncode == 2, (label, result.stdout, result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


@pytest.mark.parametrize("bad", ["{}", "3", "[1]", "[]x"])
def test_claims_json_that_is_not_a_list_of_objects_is_an_error(tmp_path, bad):
    (tmp_path / "claims.json").write_text(bad)
    with pytest.raises(claims_module.ClaimSchemaError):
        load_claims(tmp_path / "claims.json")


def test_optional_fields_of_evidence_claims_are_accepted(tmp_path):
    record = dict(RECORD, kind="evidence", verdict="inconclusive", interval_low=0.9, interval_high=1.2,
                  alternative="two-sided", rule="bootstrap 95%", enforced=False)
    unbounded = dict(record, id="z", interval_low=None, interval_high=None, verdict="inconclusive")
    root = _claims_dir(tmp_path, [record, dict(RECORD, id="y", kind="check", verdict="pass"), unbounded])
    assert [c.id for c in load_claims(root / "l2_equilibrium" / "claims.json")] == ["x", "y", "z"]
    assert call_cli("claims", root).returncode == 0


def test_claims_json_that_is_a_folder_is_one_line(tmp_path):
    """Case 8: claims.json that is a folder."""
    (tmp_path / "l2_equilibrium" / "claims.json").mkdir(parents=True)
    result = call_cli("claims", tmp_path)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_a_notebook_without_a_parameters_tag_fails(tmp_path):
    """Case 3: the parameters would be ignored; the run must fail, not pass."""
    chapter = stub_chapter(tmp_path, tagged=False)
    out = tmp_path / "out"
    check_out_dir(out)
    result = run_chapter(chapter, "default", {"x": 1}, out)
    assert not result.ok and "parameters" in result.message


def test_a_parameter_the_notebook_does_not_declare_fails(tmp_path):
    """Case 3: papermill's "Passed unknown parameter" is a failure."""
    chapter = stub_chapter(tmp_path, params_cell='profile = "default"\noutput_dir = ""\ny = 1\nx = 1')
    result = run_chapter(chapter, "default", {"x": 1, "z": 2}, tmp_path / "out")
    assert not result.ok and "'z'" in result.message


@pytest.mark.slow  # executes a notebook in a kernel
def test_a_chapter_that_writes_no_claims_fails(tmp_path):
    chapter = stub_chapter(tmp_path, body="print(x)")
    result = run_chapter(chapter, "default", {"x": 1}, tmp_path / "out")
    assert not result.ok and "claims.json" in result.message


@pytest.mark.slow  # executes a notebook in a kernel
def test_run_and_claims_agree_when_a_claim_fails_without_raising(tmp_path):
    """A notebook that records a failing enforced claim but never calls finish():
    `run` must not say "all enforced claims passed" while `claims` says FAIL."""
    body = ("from goaldrift.book.claims import ClaimBook\nbook = ClaimBook('stub', profile, output_dir)\n"
            "book.check('x_is_one', 'x is one', 1, x, comparison='equal')\nbook.save()")
    chapter = stub_chapter(tmp_path, body=body)
    result = run_chapter(chapter, "default", {"x": 2}, tmp_path / "out")
    assert not result.ok and "x_is_one" in result.message
    assert run_cli("claims", tmp_path / "out").returncode == 1


@pytest.mark.slow  # executes a notebook in a kernel
def test_claims_agrees_with_run_on_a_smoke_output(tmp_path):
    """At smoke, `run` records but does not enforce claims (exit 0); `claims` on that folder agrees."""
    chapter = stub_chapter(tmp_path)
    out = tmp_path / "out"
    result = run_chapter(chapter, "smoke", {"x": 2}, out)
    assert result.ok and "would FAIL" in result.message
    table = run_cli("claims", out)
    assert table.returncode == 0 and "FAIL" in table.stdout, table.stdout


# ---- every record decided again on read (issue 30, item 3) ------------------------

EVIDENCE = dict(RECORD, kind="evidence", enforced=False, verdict="supported", interval_low=0.95, interval_high=1.08,
                alternative="no effect", alternative_value=0.0, rule="t-interval")

LIES = {
    # 'equal' records were never recomputed: predicted 1, measured 2, passed true was shown as a pass
    "an equal check that does not hold": dict(RECORD, comparison="equal", predicted=1, measured=2, tolerance=None),
    "an equal check of strings that does not hold": dict(RECORD, comparison="equal", predicted="a", measured="b",
                                                         tolerance=None),
    # non-numeric predicted values skipped the recheck
    "a non-numeric prediction under a numeric rule": dict(RECORD, predicted="1.0x"),
    # an evidence verdict was never recomputed from its interval
    "supported, with an interval far outside its region": dict(EVIDENCE, interval_low=100.0, interval_high=200.0),
    "supported, with an interval that holds the alternative": dict(EVIDENCE, alternative_value=1.0),
    "refuted, with an interval inside its region": dict(EVIDENCE, verdict="refuted"),
    "supported, with an unbounded interval": dict(EVIDENCE, interval_low=None, interval_high=None),
    "supported, one member outside": dict(EVIDENCE, member_intervals=[[0.95, 1.05], [1.2, 1.3]]),
    "supported, an older record with its interval outside": {k: v for k, v in EVIDENCE.items()
                                                              if k != "alternative_value"} | {"interval_low": 3.0,
                                                                                               "interval_high": 4.0},
    # the exit code followed hand-edited flags, the summary the claim
    "evidence marked enforced": dict(EVIDENCE, enforced=True),
    "a check marked not enforced": dict(RECORD, kind="check", enforced=False),
}


@pytest.mark.parametrize("label", LIES)
def test_a_record_whose_own_numbers_say_otherwise_is_refused(tmp_path, label):
    root = _claims_dir(tmp_path, [LIES[label]])
    with pytest.raises(claims_module.ClaimSchemaError):
        load_claims(root / "l2_equilibrium" / "claims.json")
    result = call_cli("claims", root)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize("record", [
    EVIDENCE, dict(EVIDENCE, alternative_value=None), dict(EVIDENCE, verdict="inconclusive", alternative_value=1.0),
    dict(EVIDENCE, verdict="refuted", interval_low=1.2, interval_high=1.3),
    dict(EVIDENCE, verdict="refuted", member_intervals=[[0.95, 1.05], [1.2, 1.3]], interval_high=1.3),
    dict(RECORD, comparison="equal", predicted=[1, "a"], measured=[1, "a"], tolerance=None),
], ids=["supported", "no alternative", "alternative inside", "refuted", "a member refuted", "equal lists"])
def test_a_record_that_tells_the_truth_is_read(tmp_path, record):
    root = _claims_dir(tmp_path, [record])
    assert len(load_claims(root / "l2_equilibrium" / "claims.json")) == 1


def test_every_recorded_claim_reads_back_as_recorded(tmp_path):
    """The recheck uses the code that decided: what a ClaimBook writes, load_claims accepts, verdict for verdict."""
    book = claims_module.ClaimBook("t", output_dir=tmp_path)
    rng = __import__("numpy").random.default_rng(0)
    book.evidence("a", "s", 1.0, 0, "none", tolerance=0.2, comparison="abs", samples=1 + 0.05 * rng.standard_normal(5),
                  alternative_value=0.0)
    book.evidence("b", "s", 1.0, 0, "none", tolerance=0.2, comparison="abs",
                  samples=1 + 0.3 * rng.standard_normal((4, 3)))
    book.evidence("c", "s", 0.5, 0, "none", comparison="at_least", samples=[1, 1, 0, 1], statistic="binomial")
    book.evidence("d", "s", 2.0, 0, "none", tolerance=0.5, comparison="rel", samples=[3.0], statistic="log_mean")
    book.check("e", "s", (1, 2), [1, 2], comparison="equal")
    book.save()
    read = load_claims(tmp_path / "claims.json")
    assert [(c.id, c.verdict) for c in read] == [(c.id, c.verdict) for c in book.claims]


@pytest.mark.parametrize("kind", ["nested", "fifo", "device", "huge"])
def test_a_claims_file_that_is_not_a_small_regular_file_is_one_line(tmp_path, kind):
    """200,000 nested brackets: a RecursionError traceback; a FIFO: a hang; /dev/zero: unbounded memory."""
    import os

    from goaldrift import jsonfiles

    path = tmp_path / "l2_equilibrium" / "claims.json"
    path.parent.mkdir()
    if kind == "nested":
        path.write_text("[" * 200_000 + "]" * 200_000)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        path.symlink_to("/dev/zero")
    else:
        path.write_bytes(b" " * (jsonfiles.MAX_JSON_BYTES + 1))
    result = call_cli("claims", tmp_path)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr


# ---- an edited notebook cannot pass as the chapter (issue 30, item 3) ---------------

def _edited_l2(tmp_path, edit):
    from dataclasses import dataclass
    from pathlib import Path

    from goaldrift.book.chapters import get_chapter

    spec = get_chapter("l2_equilibrium")
    copy = tmp_path / "l2_equilibrium.md"
    copy.write_text(edit(spec.notebook.read_text()))

    @dataclass(frozen=True)
    class Edited(type(spec)):
        path: Path = copy

        @property
        def notebook(self):
            return self.path

    import dataclasses

    return Edited(**{f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)})


EDITS = {
    # a user cell set a parameter after the parameters cell: run_info said 0.1, the chapter computed with 0.5
    "a parameter changed": (lambda t: t.replace('claims = ClaimBook.open(', 'learning_rate = 0.123\nclaims = ClaimBook.open('),
                            "parameter 'learning_rate'"),
    "a parameter changed after the book opened": (
        lambda t: t.replace("claims.finish()", "weight_decay = 2 * weight_decay\nclaims.finish()"),
        "parameter 'weight_decay'"),
    # a deleted claim cell: 7 claims instead of 8, no warning
    "a claim not recorded": (lambda t: t.replace('claims.record("adam_l2_first_step_is_eta"', '("adam_l2_first_step_is_eta"'),
                             "adam_l2_first_step_is_eta"),
    # a last cell that writes [] to claims.json: "all enforced claims passed", 0 claims
    "claims.json emptied": (lambda t: t.replace(
        "claims.finish()", 'claims.finish()\nimport pathlib\npathlib.Path(output_dir, "claims.json").write_text("[]")'),
        "declared but not recorded"),
}


@pytest.mark.slow  # each executes the l2_equilibrium chapter (seconds)
@pytest.mark.parametrize("label", EDITS)
def test_an_edited_chapter_fails(tmp_path, label):
    edit, said = EDITS[label]
    chapter = _edited_l2(tmp_path, edit)
    from goaldrift.book.chapters import get_chapter
    from goaldrift.book.profiles import resolve

    assert chapter.notebook.read_text() != get_chapter("l2_equilibrium").notebook.read_text()
    out = tmp_path / "out"
    check_out_dir(out)
    result = run_chapter(chapter, "smoke", resolve(chapter, "smoke"), out)
    assert not result.ok and said in result.message, result.message
