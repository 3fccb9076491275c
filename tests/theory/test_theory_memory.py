"""goaldrift.theory.memory: the store reader's equilibrium against a numeric minimiser
and a gradient-descent iteration."""

import numpy as np
import pytest

from goaldrift.theory import memory as th
from goaldrift.theory.derivation import numeric


@pytest.mark.parametrize("decayed", [True, False])
@pytest.mark.parametrize("lam_val", [0.1, 1.0, 3.0])
def test_equilibrium_is_the_numeric_minimiser(decayed, lam_val):
    def J(p):
        a_, s_ = p
        return (1 - a_ - s_) ** 2 + (lam_val / 2 * a_**2 if decayed else 0) + lam_val * np.abs(s_)
    # brute force, coarse to fine, over a in [-1, 2] and s in [-1, 2]
    centre, half = np.array([0.5, 0.5]), 1.5
    for _ in range(12):
        g = np.linspace(-half, half, 61)
        A, S = np.meshgrid(centre[0] + g, centre[1] + g, indexing="ij")
        vals = J((A, S))
        i = np.unravel_index(np.argmin(vals), vals.shape)
        centre, half = np.array([A[i], S[i]]), half / 5
    a_star = float(numeric(th.read_gain_equilibrium(decayed).result, th.lam)(lam_val))
    assert centre[0] == pytest.approx(a_star, abs=1e-6) and abs(centre[1]) < 1e-6
    assert a_star == pytest.approx(2 / (2 + lam_val) if decayed else 1.0)
    assert float(numeric(th.mlp_share_slope(decayed).result, th.lam)(lam_val)) > 0
    assert th.objective(decayed).subs({th.a: 0.5, th.s: 0.25, th.lam: lam_val}) == pytest.approx(
        J([0.5, 0.25]))


@pytest.mark.parametrize("decayed", [True, False])
def test_gradient_descent_contracts_at_the_derived_factor(decayed):
    lam_val, eta_val = 1.0, 0.05
    a_star = 2 / (2 + lam_val) if decayed else 1.0
    a_ = 1.0 if decayed else 0.2
    grad = lambda v: -2 * (1 - v) + (lam_val * v if decayed else 0.0)
    ratios = []
    for _ in range(5):
        nxt = a_ - eta_val * grad(a_)
        ratios.append((nxt - a_star) / (a_ - a_star))
        a_ = nxt
    factor = float(numeric(th.read_gain_contraction(decayed).result, th.eta, th.lam)(eta_val, lam_val))
    assert np.allclose(ratios, factor, rtol=1e-9)


def test_store_derivations_in_the_chapter_order():
    """a* and the MLP's slope decayed, then exempt, then the contraction: checked at values by hand."""
    got = th.store_derivations()
    assert len(got) == 5
    at = {th.lam: 0.5, th.eta: 0.1}
    a_dec, slope_dec, a_ex, slope_ex, contraction = (float(d.result.subs(at)) for d in got)
    assert a_dec == pytest.approx(2 / 2.5) and a_ex == pytest.approx(1.0)
    assert slope_dec > 0 and slope_ex > 0
    assert contraction == pytest.approx(1 - 0.1 * 2.5)
