"""The clock analysis against synthetic delays with known exponents and norms."""

import math

import numpy as np
import pytest
import torch

from goaldrift.experiments.grokking import clock


def grid(seeds=(0, 1, 2)):
    eta, lam, seed = [], [], []
    for s in seeds:
        for e in (0.005, 0.01):
            for l in (0.1, 0.3, 1.0, 3.0):
                eta.append(e), lam.append(l), seed.append(s)
    return np.array(eta), np.array(lam), np.array(seed)


def test_seed_exponents_recover_separate_slopes():
    eta, lam, seed = grid()
    noise = np.random.default_rng(0).normal(0, 0.01, eta.size)
    delay = 7.0 * lam ** -1.3 * eta ** -0.6 * np.exp(noise)
    e = clock.seed_exponents(delay, eta, lam, seed)
    assert list(e.seeds) == [0, 1, 2]
    assert np.allclose(e.in_lambda, -1.3, atol=0.05)
    assert np.allclose(e.in_eta, -0.6, atol=0.1)
    assert np.allclose(e.difference, -0.7, atol=0.12)
    # in eta*lambda alone the slope is in between
    assert np.all((e.eta_lambda < -0.6) & (e.eta_lambda > -1.3))


def test_seed_exponents_of_a_pure_clock_are_equal_and_skip_bad_runs():
    eta, lam, seed = grid()
    delay = 3.0 / (eta * lam)
    delay[0] = np.nan  # a run that never generalised
    delay[1] = -5.0
    e = clock.seed_exponents(np.append(delay, 10.0), np.append(eta, 0.01), np.append(lam, 0.0),
                             np.append(seed, 0))  # a lambda = 0 control is ignored
    assert np.allclose(e.eta_lambda, -1.0) and np.allclose(e.difference, 0.0, atol=1e-9)


def test_seed_exponents_unidentified_slope_is_nan():
    delay = np.array([100.0, 50.0])
    e = clock.seed_exponents(delay, [0.01, 0.01], [1.0, 2.0], [0, 0])
    assert e.eta_lambda[0] == pytest.approx(-1.0)
    assert math.isnan(e.in_eta[0]) and math.isnan(e.in_lambda[0])


def test_share_generalised_by():
    assert clock.share_generalised_by([100, 400, 450, np.nan], 400) == pytest.approx(0.5)
    assert clock.share_generalised_by([100.0], 100) == 1.0
    with pytest.raises(ValueError):
        clock.share_generalised_by([], 10)


def test_clock_rms_zero_for_exact_law_and_by_hand():
    x = np.array([1e-3, 3e-3, 1e-2])
    assert clock.clock_rms(2.0 / x, x) == pytest.approx(0.0, abs=1e-12)
    d = np.array([2.0 / 1e-3, 2.0 * math.e / 3e-3, 2.0 / 1e-2])  # one run e times late
    r = np.log(d * x)
    assert clock.clock_rms(d, x) == pytest.approx(np.std(r))


def test_critical_norm_delays_and_fit_recover_the_level():
    steps = np.arange(0, 1001, 1.0)
    rates = np.array([1e-3, 3e-3, 1e-2])
    norms = 30.0 * np.exp(-np.outer(steps, rates))
    t_mem = np.array([0.0, 0.0, 0.0])
    d = clock.critical_norm_delays(steps, norms, t_mem, 25.0)
    # first grid step at or past ln(30/25)/rate
    expect = np.ceil(np.log(30 / 25) / rates)
    assert np.allclose(d, expect)
    assert math.isnan(clock.critical_norm_delays(steps, norms, t_mem, 1.0)[0])
    n_c, rms = clock.critical_norm_rms(steps, norms, t_mem, expect)
    assert rms < 0.05 and n_c == pytest.approx(25.0, rel=0.02)


def test_critical_norm_fit_is_poor_when_norms_do_not_decide():
    # identical norm trajectories but very different delays: no single level fits
    steps = np.arange(0, 1001, 10.0)
    norms = np.tile(30.0 * np.exp(-1e-3 * steps)[:, None], (1, 3))
    _, rms = clock.critical_norm_rms(steps, norms, np.zeros(3), np.array([50.0, 200.0, 800.0]))
    assert rms > 0.5


def test_rescaled_scales_the_norm():
    state = {"a": torch.randn(1, 4, 3), "b": torch.randn(1, 5)}
    out = clock.rescaled(state, 1.25)
    total = lambda s: math.sqrt(sum(float((v ** 2).sum()) for v in s.values()))
    assert total(out) == pytest.approx(1.25 * total(state))
    assert state["a"] is not out["a"]


def test_norm_decay_check_against_hand_computed_ratios():
    delay = np.array([100.0, 200.0, 50.0, np.nan])
    eta, lam = np.array([0.01, 0.01, 0.02, 0.01]), np.array([0.5, 0.5, 1.0, 0.0])
    n_mem = np.array([10.0, 10.0, 8.0, 9.0])
    # Runs 0 and 2 follow pure decay exactly; run 1's norm fell to half the predicted value.
    n_gen = n_mem * np.exp(-eta * lam * np.nan_to_num(delay)) * np.array([1.0, 0.5, 1.0, 1.0])
    ok = np.array([True, True, True, False])
    seed_of = np.array([0, 0, 1, 2])
    check = clock.norm_decay_check(delay, eta, lam, n_mem, n_gen, ok, seed_of)
    assert check.predicted[:3] == pytest.approx([math.exp(-0.5), math.exp(-1.0), math.exp(-1.0)])
    assert check.measured[1] == pytest.approx(0.5 * math.exp(-1.0))
    assert check.median == pytest.approx(1.0)             # median of (1, 0.5, 1)
    assert check.per_seed[:2] == pytest.approx([0.75, 1.0])
    assert math.isnan(check.per_seed[2])                  # seed 2 has no run checked
    assert math.isnan(clock.norm_decay_check(delay, eta, lam, n_mem, n_gen, ok & False, seed_of).median)


def test_law_fits_by_seed_select_each_seeds_checked_decayed_members():
    grid = [(0.01, 0.0), (0.01, 0.5), (0.01, 1.0), (0.02, 1.0)]
    steps = np.arange(0, 2001, 10, dtype=float)
    t_mem = 100.0
    el = np.array([lr * wd for lr, wd in grid])
    runs, delay, seed_of, mem = [], [], [], []
    for s, c in ((0, 3.0), (1, 5.0)):
        # Norm decays as exp(-eta*lambda*(t - t_mem)) after memorisation; the delays follow the clock c/(eta*lambda).
        norms = np.exp(-np.outer(np.maximum(steps - t_mem, 0), el))
        runs.append(type("FakeRun", (), {"metrics": {"step": steps, "weight_norm_sq": norms ** 2}})())
        delay += [np.nan if e == 0 else c / e for e in el]
        seed_of += [s] * len(grid)
        mem += [t_mem] * len(grid)
    delay, seed_of, mem = np.array(delay), np.array(seed_of), np.array(mem)
    eta, lam = np.tile([g[0] for g in grid], 2), np.tile([g[1] for g in grid], 2)
    ok = (lam > 0) & np.isfinite(delay)
    fits = clock.law_fits_by_seed(runs, [0, 1], grid, ok, seed_of, mem, delay, eta, lam)
    assert fits.clock == pytest.approx([0.0, 0.0], abs=1e-12)   # the clock law is exact here
    # Under pure decay the critical-norm law is the clock law too: N_c = exp(-c), found on a grid of 400 levels.
    assert fits.critical_norms == pytest.approx([math.exp(-3.0), math.exp(-5.0)], rel=0.05)
    assert np.all(fits.critical_norm < 0.1)
    # Dropping a member from the check changes only its own seed's fit.
    ok2 = ok.copy()
    ok2[1] = False
    fits2 = clock.law_fits_by_seed(runs, [0, 1], grid, ok2, seed_of, mem, delay, eta, lam)
    assert fits2.clock[1] == fits.clock[1] and fits2.critical_norms[1] == fits.critical_norms[1]


def test_exponent_by_seed_recovers_a_known_slope_and_refuses_censored_seeds():
    lam = np.array([0.3, 1.0, 3.0])
    delay = np.array([5000.0 * lam ** -1.0, 800.0 * lam ** -0.5, [np.nan, 900.0, 300.0]])
    e = clock.exponent_by_seed(delay, lam)
    assert e[0] == pytest.approx(-1.0, abs=1e-12)
    assert e[1] == pytest.approx(-0.5, abs=1e-12)
    assert math.isnan(e[2])  # a run that never generalised leaves its seed without a slope
    # two points: the slope is ln(d2/d1)/ln(l2/l1), by hand
    two = clock.exponent_by_seed([[400.0, 100.0]], [1.0, 4.0])
    assert two[0] == pytest.approx(math.log(100 / 400) / math.log(4.0))
    with pytest.raises(ValueError):
        clock.exponent_by_seed([[1.0, 2.0]], [1.0, 1.0])


def test_lambda_scan_stacks_milestones_and_counts_runs_within_budget():
    from goaldrift.experiments.grokking.grokking_runs import Milestones

    def ms(mem, gen, norm):
        return Milestones(np.array([mem]), np.array([gen]), np.array([1.0]), np.array([norm]))

    by_lambda = {3.0: [ms(200, 1400, 30.0), ms(200, 2200, 31.0)],
                 0.3: [ms(200, 20200, 28.0), ms(200, np.nan, np.nan)],
                 1.0: [ms(200, 4200, 29.0), ms(200, 7000, 30.0)]}
    scan = clock.lambda_scan(by_lambda, {0.3: 30000, 1.0: 18000, 3.0: 6000})
    assert list(scan.lambdas) == [0.3, 1.0, 3.0]
    assert scan.delay[0].tolist() == [20000, 4000, 1200]
    # by hand: seed 0 fits ln(delay) on ln(lambda) through (0.3, 20000), (1, 4000), (3, 1200)
    x, y = np.log([0.3, 1.0, 3.0]), np.log([20000.0, 4000.0, 1200.0])
    slope = ((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum()
    assert scan.exponents()[0] == pytest.approx(slope)
    assert math.isnan(scan.exponents()[1])
    # within 80% of budget: 20200 <= 24000 yes, 4200 <= 14400, 1400 <= 4800, nan no, 7000 yes, 2200 yes
    assert scan.share_within(0.8) == pytest.approx(5 / 6)
    # within 40%: 0.3 -> 12000 (none), 1.0 -> 7200 (4200, 7000), 3.0 -> 2400 (1400, 2200)
    assert scan.share_within(0.4) == pytest.approx(4 / 6)
    with pytest.raises(ValueError):
        clock.lambda_scan({1.0: [ms(1, 2, 3)], 3.0: []}, {1.0: 10, 3.0: 10})


def test_seed_means_and_their_names_for_the_prose():
    from goaldrift.book.claims import t_interval

    samples = {"a": np.array([1.0, 2.0, 3.0]), "b": np.array([0.5, np.nan])}
    m = clock.seed_means(samples, t_interval)
    assert m["a"].mean == 2.0 and m["a"].interval == pytest.approx((2 - 4.302652729911275 / math.sqrt(3),
                                                                    2 + 4.302652729911275 / math.sqrt(3)))
    assert np.isnan(m["b"].mean) and m["b"].interval == (-math.inf, math.inf)   # a seed without a value
    named = clock.named_numbers(m, "x_")
    assert set(named) == {"x_a", "x_a_low", "x_a_high", "x_b", "x_b_low", "x_b_high"}
    assert named["x_a"] == 2.0 and named["x_a_low"] == m["a"].interval[0] and named["x_b_high"] == math.inf


def test_seed_exponents_by_name_and_law_fit_differences():
    e = clock.SeedExponents(np.array([0, 1]), np.array([-1.0, -0.9]), np.array([-1.2, -1.0]), np.array([-0.8, -0.7]))
    named = e.named()
    assert list(named) == ["eta_lambda", "lambda", "eta", "difference"]
    assert named["difference"] == pytest.approx([-0.4, -0.3]) and named["eta"] is e.in_eta
    fits = clock.LawFits(np.array([0.1, 0.3]), np.array([0.25, 0.2]), [4.0, 2.0, 3.0])
    assert fits.difference == pytest.approx([0.15, -0.1]) and fits.critical_norm_median == 3.0
