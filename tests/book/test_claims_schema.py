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
    record = dict(RECORD, kind="evidence", verdict="inconclusive", interval_low=0.9, interval_high="1.2",
                  alternative="two-sided", rule="bootstrap 95%", enforced=False)
    unbounded = dict(record, id="z", interval_low=None, interval_high=None, verdict="supported")
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
