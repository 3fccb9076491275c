"""Small statistics without scipy (not in the pinned set): the Student-t quantile that
the seed intervals of claims (goaldrift.book.claims) and of fitted exponents
(goaldrift.theory.cleanup; cleanup_scaling, ungrokking) are built on, the exact
(Clopper-Pearson) binomial interval of a 0/1 outcome, and the worst case of a
measured law (farthest_from; l2_equilibrium, rotational_equilibrium)."""

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


def binomial_tail_at_least(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed exactly."""
    return float(sum(math.comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(k, n + 1)))


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact two-sided binomial interval of a proportion from k successes in n trials.

    The lower end solves P(X >= k | p) = (1 - level)/2, the upper end P(X <= k | p) =
    (1 - level)/2 (each tail at most half the error rate, so coverage is at least
    ``level`` for every p). 0/n has lower end 0 and n/n upper end 1. Solved by bisection
    on the exact binomial sums (no beta quantile without scipy).
    """
    if n < 1 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n >= 1, got k={k}, n={n}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    tail = (1 - level) / 2

    def solve(f, target: float) -> float:  # f increasing in p: the p in [0, 1] with f(p) = target
        lo, hi = 0.0, 1.0
        for _ in range(80):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if f(mid) < target else (lo, mid)
        return 0.5 * (lo + hi)

    low = 0.0 if k == 0 else solve(lambda p: binomial_tail_at_least(k, n, p), tail)
    # P(X <= k | p) = tail  <=>  P(X >= k + 1 | p) = 1 - tail
    high = 1.0 if k == n else solve(lambda p: binomial_tail_at_least(k + 1, n, p), 1 - tail)
    return (low, high)


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


def median_order_rank(n: int, level: float = 0.95) -> int:
    """The rank k of the distribution-free interval [x_(k), x_(n+1-k)] for the median of n
    independent samples: the largest k with P(Binomial(n, 1/2) <= k - 1) <= (1 - level)/2, so that
    the interval covers the median with probability at least ``level``. ValueError when n is too
    small for that level (n < 6 at 95%)."""
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    tail = (1 - level) / 2
    below = lambda k: 1.0 - binomial_tail_at_least(k, n, 0.5)  # P(X <= k - 1)
    if n < 1 or below(1) > tail:
        raise ValueError(f"{n} samples cannot give a {level:.0%} interval for a median")
    k = 1
    while k + 1 <= (n + 1) // 2 and below(k + 1) <= tail:
        k += 1
    return k


def censored_median_interval(low, high, level: float = 0.95) -> tuple[float, float]:
    """Distribution-free interval for the median of samples known only to lie in [low_i, high_i]
    (equal ends: an exact value; an infinite end: censored on that side).

    With exact samples the interval is [x_(k), x_(n+1-k)] (``median_order_rank``). Each order
    statistic of the true values lies between the same order statistics of the lower and of the
    upper ends, so [low_(k), high_(n+1-k)] covers at least as often: censoring widens the
    interval, never narrows it, and an end is infinite only when more than k - 1 samples are
    censored on that side."""
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    if low.shape != high.shape or low.ndim != 1:
        raise ValueError("low and high must be 1-d arrays of one length")
    if np.isnan(low).any() or np.isnan(high).any() or (low > high).any():
        raise ValueError("every sample needs low <= high (infinite ends for censored sides, never nan)")
    k = median_order_rank(len(low), level)
    return float(np.sort(low)[k - 1]), float(np.sort(high)[len(high) - k])
