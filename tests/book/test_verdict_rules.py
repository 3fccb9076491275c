"""The verdict rules of issue 27: a table of decision cases, an interval fit to each kind
of statistic (checked against independent computations), measured values inside their
own intervals, roles declared with the claim, and hypotheses decided by their core claims."""

import math

import numpy as np
import pytest

from goaldrift.book.claims import Claim, ClaimBook, decide, verdict_note
from goaldrift.book.declarations import evidence
from goaldrift.book.site_pages import hypothesis_verdict
from goaldrift.stats import clopper_pearson

INF = math.inf

# (interval, region, alternative value, verdict): the rule written on the Verdicts page.
DECISION_CASES = [
    ((-1.1, -0.9), (-1.25, -0.75), -0.5, "supported"),       # inside the band, alternative excluded
    ((-1.506, -0.955), (-1.25, -0.75), -0.5, "inconclusive"),  # alternative excluded, band not reached
    ((-1.2, -0.4), (-1.25, -0.75), -0.5, "inconclusive"),    # alternative inside the interval
    ((-0.6, -0.1), (-1.25, -0.75), -0.5, "refuted"),         # wholly outside the band
    ((-1.0, -0.8), (-1.25, -0.75), -0.9, "inconclusive"),    # inside, but so is the alternative
    ((0.95, 1.2), (0.9, INF), None, "supported"),
    ((0.85, 1.2), (0.9, INF), None, "inconclusive"),
    ((0.1, 0.5), (0.9, INF), None, "refuted"),
    ((0.292, 1.0), (0.5, INF), None, "inconclusive"),        # 3 of 3 seeds: cannot reach "at least half"
    ((0.541, 1.0), (0.5, INF), None, "supported"),           # 6 of 6
    ((-INF, INF), (0.5, INF), None, "inconclusive"),         # unbounded
    ((math.nan, math.nan), (0.5, INF), None, "inconclusive"),
    ((0.3, 0.3), (0.0, 0.5), None, "supported"),             # a point inside
    ((0.7, 0.7), (0.0, 0.5), None, "refuted"),               # a point outside
]


@pytest.mark.parametrize("interval, region, alternative, verdict", DECISION_CASES)
def test_decision_rule_table(interval, region, alternative, verdict):
    assert decide(interval, region, alternative) == verdict
    note = verdict_note(interval, region, alternative)
    assert (note is None) == (verdict != "inconclusive")


def test_the_note_says_which_way_the_data_lean():
    assert "alternative is excluded" in verdict_note((-1.506, -0.955), (-1.25, -0.75), -0.5)
    assert "not excluded" in verdict_note((-1.0, -0.8), (-1.25, -0.75), -0.9)
    assert "unbounded" in verdict_note((-INF, INF), (0.5, INF))


def _binomial_tail(k, n, p):  # independent of goaldrift.stats: a simulation-free check by brute force
    return sum(math.comb(n, j) * p ** j * (1 - p) ** (n - j) for j in range(k, n + 1))


@pytest.mark.parametrize("k, n", [(3, 3), (0, 3), (2, 5), (1, 10), (6, 6), (7, 20)])
def test_clopper_pearson_solves_its_defining_equations(k, n):
    lo, hi = clopper_pearson(k, n, 0.95)
    if k > 0:
        assert _binomial_tail(k, n, lo) == pytest.approx(0.025, abs=1e-9)
    else:
        assert lo == 0
    if k < n:
        assert 1 - _binomial_tail(k + 1, n, hi) == pytest.approx(0.025, abs=1e-9)
    else:
        assert hi == 1
    assert lo <= k / n <= hi


def test_clopper_pearson_published_values():
    # Clopper-Pearson 95%: 3/3 -> lower 0.025^(1/3); 2/5 -> [0.0527, 0.8534] (standard tables)
    assert clopper_pearson(3, 3)[0] == pytest.approx(0.025 ** (1 / 3), rel=1e-9)
    assert clopper_pearson(2, 5) == pytest.approx((0.05274, 0.85337), abs=1e-5)
    with pytest.raises(ValueError):
        clopper_pearson(4, 3)


def _book():
    return ClaimBook("demo")


def test_a_binomial_claim_has_an_exact_interval_and_its_fraction_as_measured():
    c = _book().evidence("b", "share", 0.5, 123.0, alternative="no", comparison="at_least",
                         samples=[1, 1, 1], statistic="binomial")
    assert c.measured == 1.0 and c.interval_high == 1.0
    assert c.interval_low == pytest.approx(0.025 ** (1 / 3))
    assert c.verdict == "inconclusive" and c.statistic == "binomial" and c.margin is None
    with pytest.raises(ValueError, match="0/1 outcome"):
        _book().evidence("b", "share", 0.5, 1.0, alternative="no", comparison="at_least",
                         samples=[1, 0.5, 1], statistic="binomial")


def test_a_log_scale_claim_is_a_geometric_mean_with_positive_bounds():
    samples = [0.5, 2.0, 8.0, 40.0]
    c = _book().evidence("r", "ratio", 1.0, 0.0, alternative="no", comparison="at_least",
                         samples=samples, statistic="log_mean")
    logs = np.log(samples)
    assert c.measured == pytest.approx(math.exp(logs.mean()))
    assert 0 < c.interval_low < c.measured < c.interval_high
    # the t-interval on the log, exponentiated, by hand: t(0.975, 3) = 3.182446
    half = 3.182446 * logs.std(ddof=1) / 2
    assert (c.interval_low, c.interval_high) == pytest.approx((math.exp(logs.mean() - half),
                                                               math.exp(logs.mean() + half)), rel=1e-5)
    with pytest.raises(ValueError, match="positive"):
        _book().evidence("r", "ratio", 1.0, 1.0, alternative="no", comparison="at_least",
                         samples=[1.0, -1.0, 2.0], statistic="log_mean")


@pytest.mark.parametrize("comparison", ["at_least", "at_most", "abs"])
def test_the_measured_value_lies_inside_its_own_interval(comparison):
    rng = np.random.default_rng(0)
    for trial in range(20):
        samples = rng.normal(1.0, 0.3, size=(5, 3))  # seeds x members: a worst-of rule
        c = _book().evidence(f"m{trial}", "worst member", 1.0, -99.0, alternative="no", comparison=comparison,
                             tolerance=0.2 if comparison == "abs" else None, samples=samples)
        assert c.interval_low <= c.measured <= c.interval_high


def test_a_stated_interval_must_hold_its_measured_value():
    with pytest.raises(ValueError, match="outside its own interval"):
        _book().evidence("s", "fit", -1.0, -1.3, alternative="no", comparison="abs", tolerance=0.25,
                         interval=(-1.2, -0.8))


def test_the_statistic_must_match_what_is_recorded():
    with pytest.raises(ValueError, match="recorded with samples"):
        _book().evidence("x", "s", 1.0, 1.0, alternative="no", comparison="at_least", statistic="binomial")


def test_roles_are_declared_with_the_claim():
    with pytest.raises(ValueError, match="role"):
        evidence("e", "s", predicted=1.0, alternative="no", hypothesis="H4")
    with pytest.raises(ValueError, match="needs a hypothesis"):
        evidence("e", "s", predicted=1.0, alternative="no", role="core")
    with pytest.raises(ValueError, match="bears on no hypothesis"):
        evidence("e", "s", predicted=1.0, alternative="no", role="aside", hypothesis="H4")
    with pytest.raises(ValueError, match="at_least or at_most"):
        evidence("e", "s", predicted=1.0, alternative="no", role="core", hypothesis="H4", statistic="binomial",
                 comparison="equal")


def _ev(verdict, role):
    return Claim("x", "c", "s", 1, 1, None, "equal", True, False, kind="evidence", verdict=verdict, role=role)


def test_a_hypothesis_is_decided_by_its_core_claims_alone():
    assert hypothesis_verdict([_ev("supported", "core"), _ev("refuted", "law")]) == "supported"
    assert hypothesis_verdict([_ev("supported", "core"), _ev("refuted", "core")]) == "refuted"
    assert hypothesis_verdict([_ev("supported", "core"), _ev("inconclusive", "core")]) == "inconclusive"
    assert hypothesis_verdict([_ev("refuted", "law")]) == "inconclusive"  # laws only: undecided


def test_every_declared_evidence_claim_names_role_and_statistic():
    from goaldrift.book.chapters import CHAPTERS
    from goaldrift.book.declarations import ROLES, STATISTICS

    for chapter in CHAPTERS.values():
        for d in chapter.claims:
            if d.is_evidence:
                assert d.role in ROLES and d.statistic in STATISTICS, d.id


def test_a_reading_follows_the_verdict_and_needs_every_verdict():
    book = _book()
    book.evidence("e", "s", 0.9, 0.5, alternative="no", comparison="at_least", samples=[0.4, 0.5, 0.6])
    text = book.reading("e", supported="it holds", refuted="it fails", inconclusive="undecided")
    assert text == {"supported": "it holds", "refuted": "it fails", "inconclusive": "undecided"}[book.claims[0].verdict]
    with pytest.raises(ValueError, match="each of"):
        book.reading("e", supported="it holds", refuted="it fails")
    with pytest.raises(ValueError, match="record the claim first"):
        book.reading("unknown", supported="a", refuted="b", inconclusive="c")


def test_no_chapter_hand_writes_a_verdict_conditional():
    """Sentences like 'Where the verdict is refuted, ...' or 'so a supported verdict says ...'
    read as conclusions whatever the verdict was; chapters use ClaimBook.reading instead."""
    import re

    from goaldrift.paths import BOOK_DIR

    pattern = re.compile(r"(where|if|when) the verdict is|an? \*?(supported|refuted|inconclusive)\*? verdict (says|means)",
                         re.IGNORECASE)
    offenders = [(p.name, m.group(0)) for p in sorted((BOOK_DIR / "chapters").glob("*.md"))
                 for m in pattern.finditer(p.read_text())]
    assert offenders == []


def test_an_interval_never_leaves_the_values_its_statistic_can_take():
    c = _book().evidence("f", "a fraction", 0.1, 0.2, alternative="no", comparison="at_most",
                         samples=[0.0, 0.0, 0.6], support=(0.0, 1.0))
    plain = _book().evidence("f", "a fraction", 0.1, 0.2, alternative="no", comparison="at_most",
                             samples=[0.0, 0.0, 0.6])
    assert plain.interval_low < 0 and plain.interval_high > 1
    assert (c.interval_low, c.interval_high) == (0.0, 1.0)
    assert c.interval_low <= c.measured <= c.interval_high


def test_a_log_scale_margin_is_measured_on_the_log_scale():
    from goaldrift.book.claims import _log_margin, margin

    # [0.728, 2.53] against "at most 0.5": on the log scale the lower end is 0.376 from ln 0.5,
    # in half-widths of 0.623
    got = _log_margin((0.728, 2.53), (-INF, 0.5))
    assert got == pytest.approx((math.log(0.728) - math.log(0.5)) / ((math.log(2.53) - math.log(0.728)) / 2),
                                rel=1e-6)
    assert got == pytest.approx(margin((math.log(0.728), math.log(2.53)), (-INF, math.log(0.5))), rel=1e-9)
    assert _log_margin((0.0, 2.0), (-INF, 0.5)) is None
