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
