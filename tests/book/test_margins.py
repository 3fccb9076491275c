"""Margins of evidence verdicts (goaldrift.book.claims.margin), against a brute-force
scan of shifted intervals, and the *fragile* label."""

import math

import numpy as np
import pytest

from goaldrift.book.claims import FRAGILE_MARGIN, ClaimBook, decide, margin


def scanned_margin(interval, region, alternative=None, reach=6.0, points=120_001):
    """The smallest |shift| (in half-widths) on a fine grid at which decide() changes."""
    lo, hi = interval
    half = (hi - lo) / 2
    verdict = decide(interval, region, alternative)
    shifts = np.linspace(-reach, reach, points)
    changed = [abs(s) for s in shifts if decide((lo + s * half, hi + s * half), region, alternative) != verdict]
    return min(changed) if changed else math.inf


CASES = [
    ((0.2, 0.4), (0.0, 1.0), None),            # supported inside a two-sided region
    ((0.9, 1.3), (0.0, 1.0), None),            # inconclusive across its upper end
    ((1.2, 1.5), (0.0, 1.0), None),            # refuted above
    ((1.0, 1.2), (0.5, 2.0), 0.9),             # supported, the alternative just below
    ((0.7, 1.1), (0.5, 2.0), 0.9),             # inconclusive: the alternative inside
    ((-1.854, -0.886), (-2.0, -0.5), 0.0),     # a fitted exponent against 0
    ((0.74, 0.962), (-math.inf, 0.95), None),  # at_most, inconclusive by a hair
    ((0.781, 0.894), (-math.inf, 0.95), None), # at_most, supported
    ((3.0, 5.0), (1.0, math.inf), None),       # at_least, supported
]


@pytest.mark.parametrize("interval, region, alternative", CASES)
def test_margin_is_the_smallest_shift_that_changes_the_verdict(interval, region, alternative):
    got = margin(interval, region, alternative)
    assert got == pytest.approx(scanned_margin(interval, region, alternative), abs=2e-4)


@pytest.mark.parametrize("interval", [(1.0, 1.0), (-math.inf, 2.0), (0.0, math.nan)])
def test_no_half_width_no_margin(interval):
    assert margin(interval, (0.0, 3.0)) is None


def _book():
    return ClaimBook("margins", profile="smoke", output_dir=None)


def test_a_hairline_verdict_is_fragile_and_a_clear_one_is_not():
    book = _book()
    hair = book.evidence("hair", "s", 1.0, 0.5, "above", comparison="at_most", interval=(0.2, 0.99))
    clear = book.evidence("clear", "s", 1.0, 0.5, "above", comparison="at_most", interval=(0.2, 0.6))
    open_ = book.evidence("open", "s", 1.0, 0.9, "above", comparison="at_most", interval=(0.8, 1.01))
    assert hair.verdict == "supported" and hair.margin == pytest.approx(0.01 / 0.395) and hair.fragile
    assert clear.margin == pytest.approx(2.0) and not clear.fragile and clear.margin > FRAGILE_MARGIN
    # an inconclusive verdict has a margin too (how close it is to being decided), never the label
    assert open_.verdict == "inconclusive" and open_.margin < FRAGILE_MARGIN and not open_.fragile


def test_a_point_value_has_no_margin():
    point = _book().evidence("point", "s", 1.0, 0.5, "above", comparison="at_most")
    assert point.margin is None and not point.fragile


def test_the_worst_member_sets_the_margin_of_a_two_sided_rule():
    rng = np.random.default_rng(0)
    samples = np.stack([1.0 + 0.01 * rng.standard_normal(6), 1.08 + 0.01 * rng.standard_normal(6)], axis=1)
    claim = _book().evidence("members", "s", 1.0, 1.0, "off", tolerance=0.1, samples=samples)
    assert claim.verdict == "supported"
    # the second member sits near the region's upper end 1.1: its own margin is the claim's
    from goaldrift.book.claims import ALPHA, bonferroni, t_interval

    lo, hi = t_interval(samples[:, 1], 1 - bonferroni(ALPHA, 2))
    assert claim.margin == pytest.approx(margin((lo, hi), (0.9, 1.1)))
