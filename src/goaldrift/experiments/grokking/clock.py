"""Grokking's clock: per-seed exponents of the delay, the clock and critical-norm fits,
the budget rule and the weight-rescaling intervention.

Members of one seed share their data split and initialisation, so every
statistic here is computed per seed first; intervals are then taken over seeds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from goaldrift.stats import censored_median_interval
from goaldrift.tables import markdown_table


@dataclass
class SeedExponents:
    """Per seed: the log-log slope of the delay in eta*lambda, and the two partial
    slopes (in lambda and in eta) from one regression ln tau = a + a_lam ln lambda + a_eta ln eta."""

    seeds: np.ndarray
    eta_lambda: np.ndarray
    in_lambda: np.ndarray
    in_eta: np.ndarray

    @property
    def difference(self) -> np.ndarray:
        """in_lambda - in_eta per seed: zero if eta*lambda alone sets the clock."""
        return self.in_lambda - self.in_eta

    def named(self, *names: str) -> dict:
        """The per-seed exponents by name (eta_lambda, lambda, eta, difference = lambda - eta): those
        named, in that order, or all four."""
        every = {"eta_lambda": self.eta_lambda, "lambda": self.in_lambda, "eta": self.in_eta,
                 "difference": self.difference}
        return {n: every[n] for n in names} if names else every


def seed_exponents(delay, eta, lam, seeds) -> SeedExponents:
    """Fit the exponents seed by seed on the runs with a finite positive delay and
    lambda > 0. A seed whose runs cannot identify a slope (fewer than two distinct
    values of the variable) gets nan there."""
    delay, eta, lam, seeds = (np.asarray(v) for v in (delay, eta, lam, seeds))
    ok = np.isfinite(delay) & (delay > 0) & (lam > 0) & (eta > 0)
    out = {k: [] for k in ("seeds", "eta_lambda", "in_lambda", "in_eta")}
    for s in np.unique(seeds):
        sel = ok & (seeds == s)
        y, le, ll = np.log(delay[sel].astype(float)), np.log(eta[sel].astype(float)), np.log(lam[sel].astype(float))
        out["seeds"].append(s)
        prod = le + ll
        out["eta_lambda"].append(np.polyfit(prod, y, 1)[0] if len(np.unique(prod)) >= 2 else np.nan)
        if len(np.unique(le)) >= 2 and len(np.unique(ll)) >= 2 and sel.sum() >= 4:
            X = np.column_stack([np.ones_like(y), ll, le])
            coef = np.linalg.lstsq(X, y, rcond=None)[0]
            out["in_lambda"].append(coef[1])
            out["in_eta"].append(coef[2])
        else:
            out["in_lambda"].append(np.nan)
            out["in_eta"].append(np.nan)
    return SeedExponents(*(np.asarray(out[k], dtype=float if k != "seeds" else None)
                           for k in ("seeds", "eta_lambda", "in_lambda", "in_eta")))


def share_generalised_by(generalisation, step) -> float:
    """Share of runs that generalised at or before ``step`` (one step for all, or one
    per run; a run that never generalised, nan, counts as not)."""
    g = np.asarray(generalisation, dtype=float)
    if g.size == 0:
        raise ValueError("no runs to check")
    return float(np.mean(np.isfinite(g) & (g <= step)))


def clock_rms(delay, eta_lambda) -> float:
    """RMS error in ln(delay) of the clock law tau = C/(eta*lambda) with C fitted
    (least squares in the log) to these runs (one seed's)."""
    r = np.log(np.asarray(delay, dtype=float) * np.asarray(eta_lambda, dtype=float))
    return float(np.sqrt(np.mean((r - r.mean()) ** 2)))


def critical_norm_delays(steps, norms, t_mem, n_c: float) -> np.ndarray:
    """Per run (columns of ``norms`` [T, K]): steps from memorisation until the
    measured norm first falls to ``n_c`` or below; nan if it never does."""
    steps, norms = np.asarray(steps, dtype=float), np.asarray(norms, dtype=float)
    t_mem = np.asarray(t_mem, dtype=float)
    out = np.full(norms.shape[1], np.nan)
    for k in range(norms.shape[1]):
        hit = np.nonzero((steps >= t_mem[k]) & (norms[:, k] <= n_c))[0]
        if hit.size:
            out[k] = steps[hit[0]] - t_mem[k]
    return out


def critical_norm_rms(steps, norms, t_mem, delay, n_grid: int = 400) -> tuple[float, float]:
    """(N_c, RMS error in ln(delay)) of the critical-norm law fitted to these runs
    (one seed's): generalise when the measured norm first reaches one level N_c,
    the level chosen on a grid to minimise the error. A run whose norm never
    reaches N_c is predicted to wait to the end of its budget (a lower bound, the
    most favourable reading for the law); a run's budget ends at its last finite norm
    (runs joined from ensembles of different budgets are nan after their own)."""
    steps, norms = np.asarray(steps, dtype=float), np.asarray(norms, dtype=float)
    t_mem, delay = np.asarray(t_mem, dtype=float), np.asarray(delay, dtype=float)
    after = norms[steps >= np.nanmin(t_mem)]
    candidates = np.geomspace(np.nanmin(after), np.nanmax(after), n_grid)
    ends = np.array([steps[np.isfinite(norms[:, k])][-1] for k in range(norms.shape[1])])
    best = (np.nan, np.inf)
    for n_c in candidates:
        pred = critical_norm_delays(steps, norms, t_mem, n_c)
        pred = np.where(np.isfinite(pred), pred, ends - t_mem)
        pred = np.maximum(pred, steps[1] - steps[0])  # generalising at memorisation: one evaluation later
        rms = float(np.sqrt(np.mean(np.log(pred / delay) ** 2)))
        if rms < best[1]:
            best = (float(n_c), rms)
    return best


def rescaled(state: dict, c: float) -> dict:
    """Every parameter of a state_dict multiplied by c (the norm becomes c times larger)."""
    return {name: v.detach().clone() * c for name, v in state.items()}


@dataclass(frozen=True)
class NormDecayCheck:
    """Does the norm fall from memorisation to generalisation as weight decay alone predicts?"""

    predicted: np.ndarray   # exp(-eta*lambda*delay) per run
    measured: np.ndarray    # N_gen / N_mem per run
    median: float           # median of measured / predicted over the runs checked (nan: none)
    per_seed: list          # that median per seed (nan for a seed with no run checked)


def norm_decay_check(delay, eta, lam, norm_at_memorisation, norm_at_generalisation, ok, seed_of) -> NormDecayCheck:
    """Measured over predicted norm ratio, compared on the runs ``ok`` (a finite positive delay, lambda > 0)."""
    predicted = np.exp(-eta * lam * delay)
    measured = norm_at_generalisation / norm_at_memorisation
    agreement = measured[ok] / predicted[ok]
    median = float(np.median(agreement)) if ok.any() else float("nan")
    per_seed = [float(np.median(agreement[seed_of[ok] == s])) if np.any(seed_of[ok] == s) else float("nan")
                for s in np.unique(seed_of)]
    return NormDecayCheck(predicted, measured, median, per_seed)


@dataclass(frozen=True)
class LawFits:
    """How well each law predicts the delays, per seed: RMS error in ln(delay), and the fitted N_c."""

    clock: np.ndarray
    critical_norm: np.ndarray
    critical_norms: list

    @property
    def difference(self) -> np.ndarray:
        """Per seed, paired: the critical-norm law's RMS error minus the clock law's (>= 0: the clock fits as well)."""
        return self.critical_norm - self.clock

    @property
    def critical_norm_median(self) -> float:
        return float(np.median(self.critical_norms))


def law_fits_by_seed(runs, seeds, grid, ok, seed_of, memorisation, delay, eta, lam) -> LawFits:
    """Clock law and critical-norm law fitted seed by seed on the runs ``ok``. ``runs[i]`` is seed
    ``seeds[i]``'s ensemble, member k at ``grid[k]`` = (eta, lambda); the other arrays are over all
    (seed, member) points, seed-major, as ``grokking_runs.sweep_milestones`` returns them."""
    rms_clock, rms_crit, n_crit = [], [], []
    for s, run in zip(seeds, runs):
        sel = ok & (seed_of == s)
        cols = np.array([k for k, (lr, wd) in enumerate(grid) if wd > 0])
        cols = cols[sel[seed_of == s][cols]]  # this seed's decayed members that are checked
        steps_axis, norms = run.metrics["step"], np.sqrt(run.metrics["weight_norm_sq"])[:, cols]
        rms_clock.append(clock_rms(delay[sel], (eta * lam)[sel]))
        n_c, rms = critical_norm_rms(steps_axis, norms, memorisation[sel], delay[sel])
        rms_crit.append(rms)
        n_crit.append(n_c)
    return LawFits(np.array(rms_clock), np.array(rms_crit), n_crit)


def exponent_by_seed(delay, values) -> np.ndarray:
    """Per seed (a row of ``delay``, shape [seeds, members]): the log-log slope of the
    delay in ``values`` (one per member). A seed with a member that never generalised
    (nan) or did so at once (delay <= 0) gets nan: a censored delay is no evidence
    for a slope, so the seed interval becomes unbounded rather than resting on the rest."""
    d = np.asarray(delay, dtype=float)
    x = np.log(np.asarray(values, dtype=float))
    if d.ndim != 2 or d.shape[1] != x.size or len(np.unique(x)) < 2:
        raise ValueError("need delays [seeds, members] and at least two distinct values, one per member")
    out = np.full(d.shape[0], np.nan)
    for i, row in enumerate(d):
        if np.all(np.isfinite(row) & (row > 0)):
            out[i] = np.polyfit(x, np.log(row), 1)[0]
    return out


@dataclass(frozen=True)
class LambdaScan:
    """The same seeds (same split and init) trained at several lambda, eta fixed, each
    lambda with its own step budget. Arrays are [seeds, lambdas], lambdas ascending."""

    lambdas: np.ndarray
    budgets: np.ndarray
    memorisation: np.ndarray
    generalisation: np.ndarray
    norm_at_generalisation: np.ndarray

    @property
    def delay(self) -> np.ndarray:
        return self.generalisation - self.memorisation

    def exponents(self) -> np.ndarray:
        """Per seed: the slope of ln(delay) in ln(lambda); the clock predicts -1."""
        return exponent_by_seed(self.delay, self.lambdas)

    def share_within(self, fraction: float = 0.8) -> float:
        """Share of the runs that generalised within the first ``fraction`` of their own budget."""
        return share_generalised_by(self.generalisation, fraction * self.budgets)


def lambda_scan(milestones_by_lambda: dict, budgets: dict) -> LambdaScan:
    """Stack per-seed milestones (``grokking_runs.Milestones`` of one member each, the
    seeds in the same order at every lambda) into a ``LambdaScan``."""
    lams = sorted(milestones_by_lambda)
    if len({len(milestones_by_lambda[l]) for l in lams}) != 1 or set(budgets) != set(lams):
        raise ValueError("every lambda needs the same seeds and a budget")

    def stack(field):
        return np.column_stack([np.concatenate([getattr(m, field) for m in milestones_by_lambda[l]]) for l in lams])

    return LambdaScan(np.array(lams, dtype=float), np.array([budgets[l] for l in lams], dtype=float),
                      stack("memorisation"), stack("generalisation"), stack("norm_at_generalisation"))


@dataclass(frozen=True)
class OverSeeds:
    """A per-seed quantity (``samples``) and the value a claim reads off it (``measured``: e.g. the worst seed)."""

    measured: float
    samples: list


@dataclass(frozen=True)
class SeedMean:
    """The mean of per-seed samples and their seed interval."""

    samples: np.ndarray
    mean: float
    interval: tuple


def seed_means(samples: dict, interval) -> dict:
    """``{name: SeedMean}`` for each named set of per-seed samples; ``interval`` is the book's seed
    interval (``goaldrift.book.claims.t_interval``), passed in: the library does not import the book."""
    return {name: SeedMean(v, float(np.mean(v)), interval(v)) for name, v in samples.items()}


def named_numbers(means: dict, prefix: str = "") -> dict:
    """``seed_means`` flattened for the prose: ``{prefix}{name}`` (the mean), ``..._low`` and ``..._high``."""
    out = {}
    for name, m in means.items():
        out[f"{prefix}{name}"] = m.mean
        out[f"{prefix}{name}_low"], out[f"{prefix}{name}_high"] = m.interval
    return out


# ---- product-matched pairs: equal eta*lambda at different eta -------------------------


def matched_pairs(grid) -> list[tuple[int, int]]:
    """Index pairs (k_fast, k_slow) of decayed grid members with equal eta*lambda and different eta:
    ``k_fast`` has the larger eta (so the smaller lambda). If eta*lambda alone sets the clock, the two
    wait equally long."""
    pairs = []
    for i, (lr_i, wd_i) in enumerate(grid):
        for j, (lr_j, wd_j) in enumerate(grid):
            if wd_i > 0 and wd_j > 0 and lr_i > lr_j and abs(lr_i * wd_i - lr_j * wd_j) <= 1e-9 * lr_i * wd_i:
                pairs.append((i, j))
    return pairs


@dataclass
class MatchedPairs:
    """Per seed and matched pair: the interval of ln(tau_fast / tau_slow) (``low``, ``high`` [seed, pair];
    equal ends where both delays were measured), the per-seed mean over pairs, and the distribution-free
    95% interval of its median over seeds (``stats.censored_median_interval``)."""

    seeds: list
    pairs: list            # (eta, lambda) of the fast and the slow member
    low: np.ndarray
    high: np.ndarray

    @property
    def seed_low(self) -> np.ndarray:
        return self.low.mean(axis=1)

    @property
    def seed_high(self) -> np.ndarray:
        return self.high.mean(axis=1)

    @property
    def n_censored(self) -> int:
        """Seeds whose mean log ratio is known only as an interval (a censored or unmemorised member)."""
        return int(np.sum(self.seed_low < self.seed_high))

    @property
    def interval(self) -> tuple[float, float]:
        """The 95% interval of the median; unbounded with fewer than six seeds (no order statistics
        give 95% then)."""
        if len(self.seeds) < 6:
            return (-np.inf, np.inf)
        return censored_median_interval(self.seed_low, self.seed_high)

    @property
    def median(self) -> float:
        """The median over seeds of each seed's value, a censored seed entering at its finite end (the
        decision uses ``interval``, which accounts for censoring; this is the point shown with it)."""
        lo, hi = self.seed_low, self.seed_high
        value = np.where(np.isfinite(lo), np.where(np.isfinite(hi), (lo + hi) / 2, lo), hi)
        value = value[np.isfinite(value)]
        return float(np.median(value)) if value.size else 0.0

    def seeds_to_reach(self, half_width: float) -> int:
        """About how many seeds an interval of this half-width would take at the spread measured here (the
        half-width shrinks as one over the square root of the number of seeds); 0 when the interval is
        unbounded (no spread to scale from)."""
        lo, hi = self.interval
        if not (np.isfinite(lo) and np.isfinite(hi)):
            return 0
        return int(np.ceil(len(self.seeds) * ((hi - lo) / 2 / half_width) ** 2 - 1e-9))

    def table(self) -> str:
        head = [f"ln τ({a[0]:g}, {a[1]:.3g}) / τ({b[0]:g}, {b[1]:.3g})" for a, b in self.pairs]
        def cell(lo, hi):
            return f"{lo:.3g}" if lo == hi else f"[{lo:.3g}, {hi:.3g}]"
        return markdown_table(["seed", *head, "mean"],
                              [[s, *(cell(lo, hi) for lo, hi in zip(self.low[i], self.high[i])),
                                cell(self.seed_low[i], self.seed_high[i])] for i, s in enumerate(self.seeds)])




def censored_bounds(t, limit, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """The interval a time read on an evaluation grid is known to lie in: the measured value where it was
    reached (nan: not reached), floored at ``floor`` (half an evaluation interval: a time of 0 is one
    too short to resolve); [limit, inf) where it was not reached within ``limit`` (right-censored)."""
    t = np.asarray(t, dtype=float)
    limit = np.broadcast_to(np.asarray(limit, dtype=float), t.shape)
    seen = np.isfinite(t)
    low = np.where(seen, np.maximum(np.where(seen, t, 0.0), floor), np.maximum(limit, floor))
    return low, np.where(seen, low, np.inf)


def matched_pair_ratios(seeds, grid, low, high) -> MatchedPairs:
    """ln(t_fast / t_slow) of every product-matched pair of ``grid`` (``matched_pairs``), seed by seed,
    from the interval each member's time is known to lie in (``low``, ``high`` [seed, member]; equal
    where measured, an infinite ``high`` where censored by the budget, a zero ``low`` where nothing is
    known), so a censored time makes its pair's ratio an interval."""
    pairs = matched_pairs(grid)
    if not pairs:
        raise ValueError("the grid has no two members with equal eta*lambda and different eta")
    with np.errstate(divide="ignore"):  # log 0 = -inf: an open lower end
        low, high = np.log(np.asarray(low, dtype=float)), np.log(np.asarray(high, dtype=float))
    fast, slow = [a for a, _ in pairs], [b for _, b in pairs]
    lo, hi = low[:, fast] - high[:, slow], high[:, fast] - low[:, slow]  # never inf - inf: low < inf
    return MatchedPairs(list(seeds), [(tuple(grid[a]), tuple(grid[b])) for a, b in pairs], lo, hi)
