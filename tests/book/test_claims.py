import json

import numpy as np
import pytest

from goaldrift.book.claims import ClaimBook, ClaimFailure, compare, load_claims, verdict_markdown


def test_compare_rules():
    assert compare(1.0, 1.0 + 1e-7, "rel", 1e-6)
    assert not compare(1.0, 1.0 + 1e-5, "rel", 1e-6)
    assert compare(0.0, 1e-9, "abs", 1e-8)
    assert not compare(0.0, -1e-7, "abs", 1e-8)
    assert compare(0.1, 0.5, "at_least", None) and not compare(0.1, 0.05, "at_least", None)
    assert compare(0.1, 0.05, "at_most", None)
    assert compare(True, True, "equal", None) and not compare(True, False, "equal", None)
    assert not compare(1.0, float("nan"), "abs", 1.0)
    with pytest.raises(ValueError):
        compare(1.0, 1.0, "rel", None)
    with pytest.raises(ValueError):
        compare(1.0, 1.0, "roughly", 0.1)


def test_enforced_failure_raises_after_writing(tmp_path):
    book = ClaimBook("demo", profile="default", output_dir=tmp_path)
    book.check("ok", "holds", 1.0, np.float64(1.0), tolerance=0.0, comparison="abs")
    book.check("bad", "fails", 1.0, 2.0, tolerance=0.1, comparison="abs")
    with pytest.raises(ClaimFailure, match="bad"):
        book.finish()
    records = json.loads((tmp_path / "claims.json").read_text())
    assert [r["id"] for r in records] == ["ok", "bad"]
    assert records[1]["passed"] is False and records[0]["measured"] == 1.0
    assert set(records[0]) == {"id", "chapter", "statement", "predicted", "measured",
                               "tolerance", "comparison", "passed", "enforced"}


def test_smoke_records_but_does_not_enforce(tmp_path):
    book = ClaimBook("demo", profile="smoke", output_dir=tmp_path)
    book.check("bad", "fails", 1.0, 2.0, tolerance=0.1, comparison="abs")
    book.finish()
    assert load_claims(tmp_path / "claims.json")[0].passed is False


def test_hypothesis_claims_are_reported_not_enforced(tmp_path):
    book = ClaimBook("demo", profile="paper", output_dir=tmp_path)
    claim = book.check("h", "a literature hypothesis", -1.0, -0.5, tolerance=0.1, comparison="abs", enforce=False)
    book.finish()
    assert claim.verdict() == "refuted"
    assert "refuted" in verdict_markdown(book.claims)


def test_duplicate_claim_ids_are_refused():
    book = ClaimBook("demo")
    book.check("a", "x", 1, 1, comparison="equal")
    with pytest.raises(ValueError, match="twice"):
        book.check("a", "x", 1, 1, comparison="equal")
