"""The schedule integral (H9) against independent numeric sums, and the recipe table."""

import numpy as np
import pytest

from goaldrift.theory import schedules as th


@pytest.mark.parametrize("decay", ["cosine", "linear"])
def test_closed_form_matches_a_fine_riemann_sum(decay):
    # Integrate the continuous schedule by the midpoint rule on a grid 1000x finer than a step.
    peak, W, Td, T, a = 3e-4, 40, 700, 1000, 0.1
    t = (np.arange(T * 1000) + 0.5) / 1000
    s = np.clip((t - W) / (Td - W), 0, 1)
    shape = (1 + np.cos(np.pi * s)) / 2 if decay == "cosine" else 1 - s
    eta_t = np.where(t < W, peak * t / W, np.where(t < Td, peak * (a + (1 - a) * shape), peak * a))
    assert eta_t.sum() / 1000 == pytest.approx(th.integral_value(peak, T, W, Td, a, decay), rel=1e-6)


def test_discrete_sum_within_two_peak_steps_of_the_integral():
    for decay in ("cosine", "linear"):
        e = th.discrete_schedule(1.0, 5000, 37, 4100, 0.2, decay)
        assert abs(e.sum() - th.integral_value(1.0, 5000, 37, 4100, 0.2, decay)) <= 2.0
        assert e.max() == pytest.approx(1.0) and e[-1] == pytest.approx(0.2)


def test_efold_series():
    x = 0.01
    assert float(th.efolds().result.subs(th.sp.Symbol("x", positive=True), x)) == pytest.approx(-np.log(1 - x), rel=1e-4)


def test_unknown_decay_is_refused():
    with pytest.raises(ValueError):
        th.schedule_integral("exponential")


def test_sum_integral_gap_against_a_fine_riemann_sum():
    peak, W, Td, T, a = 3e-4, 40, 700, 1000, 0.1
    t = (np.arange(T * 1000) + 0.5) / 1000
    s = np.clip((t - W) / (Td - W), 0, 1)
    eta_t = np.where(t < W, peak * t / W, np.where(t < Td, peak * (a + (1 - a) * (1 + np.cos(np.pi * s)) / 2), peak * a))
    discrete = th.discrete_schedule(peak, T, W, Td, a, "cosine").sum()
    expected = abs(discrete - eta_t.sum() / 1000) / (2 * peak)
    assert th.sum_integral_gap(peak, T, W, Td, a, "cosine") == pytest.approx(expected, rel=1e-3)
    assert 0 < expected <= 1


def test_worst_sum_integral_gap_against_a_loop_and_the_shared_area():
    # cosine and linear decays to the same floor share one area: W/2 + (1 + a)/2 (Td - W) + a (T - Td), times peak
    peak, W, Td, T, a = 2.0, 30, 400, 500, 0.25
    area = peak * (W / 2 + (1 + a) / 2 * (Td - W) + a * (T - Td))
    gaps = []
    for decay in ("cosine", "linear"):
        total = 0.0
        for t in range(T):
            if t < W:
                total += peak * (t + 1) / W
            elif t < Td:
                s = (t - W) / (Td - W)
                total += peak * (a + (1 - a) * ((1 + np.cos(np.pi * s)) / 2 if decay == "cosine" else 1 - s))
            else:
                total += peak * a
        gaps.append(abs(total - area) / (2 * peak))
    assert th.worst_sum_integral_gap(peak, T, W, Td, a) == pytest.approx(max(gaps), rel=1e-9)
    assert th.worst_sum_integral_gap(peak, T, W, Td, a, decays=("linear",)) == pytest.approx(gaps[1], rel=1e-9)
