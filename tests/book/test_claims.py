import json

import numpy as np
import pytest

from goaldrift.book.claims import (ClaimBook, ClaimFailure, bonferroni, compare, decide, load_claims, paired_difference,
                                   sidak, t_interval, verdict_markdown)


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
    assert set(records[0]) == {"id", "chapter", "statement", "predicted", "measured", "tolerance", "comparison",
                               "passed", "enforced", "kind", "verdict", "interval_low", "interval_high",
                               "alternative", "rule", "hypothesis", "margin", "role", "statistic", "note", "trials",
                               "alternative_value", "member_intervals"}
    assert records[0]["kind"] == "check" and records[0]["verdict"] == "pass" and records[1]["verdict"] == "FAIL"


def test_smoke_records_but_does_not_enforce(tmp_path):
    book = ClaimBook("demo", profile="smoke", output_dir=tmp_path)
    book.check("bad", "fails", 1.0, 2.0, tolerance=0.1, comparison="abs")
    book.finish()
    assert load_claims(tmp_path / "claims.json")[0].passed is False


def test_evidence_is_reported_not_enforced(tmp_path):
    book = ClaimBook("demo", profile="paper", output_dir=tmp_path)
    claim = book.evidence("h", "a literature hypothesis", -1.0, -0.5, alternative="exponent 0",
                          tolerance=0.1, comparison="abs")
    book.finish()
    assert claim.kind == "evidence" and claim.verdict == "refuted"
    assert "refuted" in verdict_markdown(book.claims)
    record = json.loads((tmp_path / "claims.json").read_text())[0]
    assert record["kind"] == "evidence" and record["alternative"] == "exponent 0" and record["rule"]
    assert record["interval_low"] == record["interval_high"] == -0.5
    one_seed = book.evidence("h1", "one seed", 0.9, 0.95, alternative="below", comparison="at_least", samples=[0.95])
    assert one_seed.verdict == "inconclusive" and one_seed.interval_low is None and one_seed.interval_high is None
    assert "unbounded" in repr(one_seed)


def test_t_interval_matches_hand_computation():
    # mean 2, sd 1, n = 4: half-width t_{0.975, 3} * 1/2 = 3.182446 / 2
    lo, hi = t_interval([1.0, 2.0, 3.0, 2.0 + 0.0], 0.95)
    x = np.array([1.0, 2.0, 3.0, 2.0])
    half = 3.182446305284263 * x.std(ddof=1) / 2
    assert abs(lo - (2 - half)) < 1e-6 and abs(hi - (2 + half)) < 1e-6
    assert t_interval([1.0]) == (-np.inf, np.inf)
    assert t_interval([1.0, np.nan, 2.0]) == (-np.inf, np.inf)
    lo, hi = paired_difference([3.0, 4.0, 5.0], [1.0, 2.0, 3.0])
    assert lo == hi == 2.0  # no spread in the differences
    with pytest.raises(ValueError):
        paired_difference([1.0, 2.0], [1.0])


def test_by_seed_reduces_members_of_one_seed():
    from goaldrift.book.claims import by_seed
    assert by_seed([1.0, 3.0, 10.0, 20.0], [0, 0, 1, 1]).tolist() == [2.0, 15.0]
    assert by_seed([1.0, 3.0, 10.0], [1, 1, 0], np.min).tolist() == [10.0, 1.0]


def test_corrections():
    assert bonferroni(0.05, 5) == pytest.approx(0.01)
    assert sidak(0.05, 1) == pytest.approx(0.05)
    assert bonferroni(0.05, 5) < sidak(0.05, 5) < 0.05
    with pytest.raises(ValueError):
        bonferroni(0.05, 0)


def test_three_state_decision():
    region = (-1.25, -0.75)
    assert decide((-3.5, 2.0), region, -0.5) == "inconclusive"  # the ungrokking case of issue 18
    assert decide((-1.1, -0.9), region, -0.5) == "supported"
    assert decide((-0.6, -0.1), region, -0.5) == "refuted"
    assert decide((-1.3, -0.9), region) == "inconclusive"  # complement alternative: must lie inside
    assert decide((0.95, 1.2), (0.9, np.inf)) == "supported"
    assert decide((0.85, 1.2), (0.9, np.inf)) == "inconclusive"
    assert decide((0.1, 0.5), (0.9, np.inf)) == "refuted"


def test_worst_of_members_is_corrected():
    book = ClaimBook("demo")
    rng = np.random.default_rng(0)
    samples = 1.0 + 0.01 * rng.standard_normal((5, 4))  # 5 seeds, 4 members, all near 1
    one = book.evidence("one", "x", 0.9, samples[:, 0].mean(), alternative="below 0.9",
                        comparison="at_least", samples=samples[:, 0])
    many = book.evidence("many", "x", 0.9, samples.min(), alternative="below 0.9",
                         comparison="at_least", samples=samples)
    assert one.verdict == many.verdict == "supported"
    assert "Bonferroni" in many.rule and "worst of 4" in many.rule
    # the corrected interval of the worst member is wider than one member's 95% interval
    assert many.interval_low < one.interval_low
    two_sided = book.evidence("abs", "x", 1.0, 1.0, alternative="not 1", tolerance=0.5, comparison="abs",
                              samples=np.column_stack([samples[:, 0], samples[:, 1] - 3]))
    assert two_sided.verdict == "refuted"
    with pytest.raises(ValueError, match="alternative"):
        book.evidence("none", "x", 1.0, 1.0, alternative="", comparison="at_least")


def test_claims_show_as_a_line_not_a_repr():
    claim = ClaimBook("demo").check("a", "x", 1, 1, comparison="equal")
    assert "Claim(" not in repr(claim) and "pass" in repr(claim)
    assert "gd-badge" in claim._repr_html_()


def test_duplicate_claim_ids_are_refused():
    book = ClaimBook("demo")
    book.check("a", "x", 1, 1, comparison="equal")
    with pytest.raises(ValueError, match="twice"):
        book.check("a", "x", 1, 1, comparison="equal")
