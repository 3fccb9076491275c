"""Small statistics without scipy (not in the pinned set): the Student-t quantile that
the seed intervals of claims (goaldrift.book.claims) and of fitted exponents
(goaldrift.theory.cleanup; cleanup_scaling, ungrokking) are built on, and the worst case
of a measured law (farthest_from; l2_equilibrium, rotational_equilibrium)."""

from __future__ import annotations

import math

import numpy as np


def student_t_quantile(q: float, dof: int) -> float:
    """Quantile of Student's t distribution (no scipy in the pinned set).

    The CDF is integrated on a fine grid with Simpson's rule and inverted
    by bisection. Relative error below 1e-6 for q <= 0.995 and any dof >= 1,
    below 1e-5 up to q = 0.9999 (the worst case is the Cauchy tail, dof = 1).
    """
    if not 0.5 <= q < 1 or dof < 1:
        raise ValueError(f"need 0.5 <= q < 1 and dof >= 1, got q={q}, dof={dof}")
    logc = math.lgamma((dof + 1) / 2) - math.lgamma(dof / 2) - 0.5 * math.log(dof * math.pi)

    def cdf(u: float) -> float:
        grid = np.linspace(0.0, u, 20001)
        pdf = np.exp(logc - (dof + 1) / 2 * np.log1p(grid**2 / dof))
        h = grid[1] - grid[0]
        return 0.5 + h / 3 * (pdf[0] + pdf[-1] + 4 * pdf[1:-1:2].sum() + 2 * pdf[2:-1:2].sum())

    lo, hi = 0.0, 1.0
    while cdf(hi) < q:
        hi *= 2
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if cdf(mid) < q else (lo, mid)
    return 0.5 * (lo + hi)


def farthest_from(values, target: float) -> float:
    """The value farthest from `target` (the worst case of a law, as measured), over every
    element of `values` (an array, or a list of arrays of any shapes)."""
    if isinstance(values, (list, tuple)):
        values = np.concatenate([np.ravel(x) for x in values])
    x = np.ravel(np.asarray(values, dtype=float))
    return float(x[np.argmax(np.abs(x - target))])


def by_seed(values, seeds, reduce=np.mean) -> np.ndarray:
    """One number per seed, in the order of np.unique(seeds): ``reduce`` over that seed's
    members. Members of one seed share their data and initialisation, so they are not
    independent samples; only seeds are (the samples of every seed interval)."""
    values, seeds = np.asarray(values, dtype=float), np.asarray(seeds)
    return np.array([float(reduce(values[seeds == s])) for s in np.unique(seeds)])
