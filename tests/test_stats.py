"""goaldrift.stats: small statistics against hand-computed values."""

import numpy as np
import pytest

from goaldrift.stats import farthest_from, student_t_quantile


def test_farthest_from_picks_the_worst_case_with_its_sign():
    assert farthest_from(np.array([0.99, 1.02, 0.975]), 1.0) == 0.975
    assert farthest_from([np.array([0.99, 1.02]), np.array([[1.0], [1.03]])], 1.0) == 1.03
    assert farthest_from([3.0, -1.0], 1.0) == 3.0 and farthest_from(np.array([[2.0, -5.0]]), 0.0) == -5.0


def test_student_t_quantile_against_tabulated_values():
    assert student_t_quantile(0.975, 1) == pytest.approx(12.7062, rel=1e-4)
    assert student_t_quantile(0.975, 10) == pytest.approx(2.2281, rel=1e-4)


def test_median_order_rank_against_the_binomial_table():
    from goaldrift.stats import median_order_rank
    # P(X <= k-1) for X ~ Bin(n, 1/2): n=6: 1/64; n=10: 11/1024 (k=2), 56/1024 too big; n=12: 79/4096 (k=3)
    assert [median_order_rank(n) for n in (6, 8, 10, 12, 20)] == [1, 1, 2, 3, 6]
    with pytest.raises(ValueError, match="cannot give"):
        median_order_rank(5)


def test_censored_median_interval_covers_and_widens_with_censoring():
    from goaldrift.stats import censored_median_interval
    x = np.array([5.0, 1.0, 4.0, 2.0, 3.0, 9.0, 7.0, 6.0, 8.0, 10.0])
    assert censored_median_interval(x, x) == (2.0, 9.0)  # [x_(2), x_(9)] of ten
    hi = x.copy(); hi[[5, 9]] = np.inf                    # 9 and 10 right-censored at their values
    assert censored_median_interval(x, hi) == (2.0, np.inf)
    hi[9] = 10.0
    assert censored_median_interval(x, hi) == (2.0, 10.0)
    with pytest.raises(ValueError, match="low <= high"):
        censored_median_interval(x, x - 1)
    # coverage, by simulation, of the median of a skewed law with a third of the samples right-censored
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(2000):
        s = rng.exponential(1.0, 10)
        cut = rng.exponential(2.0, 10)
        low = np.minimum(s, cut)
        high = np.where(s <= cut, s, np.inf)
        lo, up = censored_median_interval(low, high)
        covered += lo <= np.log(2) <= up
    assert covered / 2000 >= 0.95
