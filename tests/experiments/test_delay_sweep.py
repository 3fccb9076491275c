"""The delay sweep's selections and reductions against hand-built runs, and the sweep and the
rescaling intervention against their parts on tiny cached runs."""

import math
from types import SimpleNamespace

import numpy as np
import pytest

from goaldrift.experiments.grokking import clock
from goaldrift.experiments.grokking import delay_sweep as ds
from goaldrift.experiments.grokking import grokking_runs as gr
from goaldrift.experiments.grokking import ungrokking as ug

GRID = [(0.01, 0.1), (0.01, 0.8), (0.02, 0.4), (0.01, 0.0), (0.02, 0.0)]


def test_design_numbers_and_the_third_eta_clause():
    n = ds.design_numbers(GRID, steps=4000, lr_low=0.01, wd_min=0.1, lr_slow=0.005, slow_steps=16000)
    assert (n["n_members"], n["n_decayed_members"], n["n_lr"]) == (5, 3, 2)
    assert (n["etalam_min"], n["etalam_max"]) == (0.01 * 0.1, 0.01 * 0.8)
    assert n["etalam_decades"] == pytest.approx(math.log10(8))
    assert n["budget_decay"] == pytest.approx(4.0) and n["budget_decay_slow"] == pytest.approx(8.0)
    assert ds.third_eta_text(0.0, 500) == ""
    text = ds.third_eta_text(0.005, 16000)
    assert text.startswith("; and,") and "16000 steps" in text and "η = 0.005" in text


def hand_sweep():
    """Two seeds of GRID on 5 evaluations (steps 0..400); milestones chosen by hand."""
    steps = np.arange(0, 401, 100.0)
    acc = lambda *cols: np.column_stack(cols)
    runs = [SimpleNamespace(trained=True, metrics={
                "step": steps, "weight_norm_sq": np.ones((5, 5)),
                "test_acc": acc([0] * 5, [0] * 5, [0] * 5, [0.1, 0.2, 0.3, 0.2, 0.1], [0.5, 0.6, np.nan, np.nan, np.nan])}),
            SimpleNamespace(trained=False, metrics={
                "step": steps, "weight_norm_sq": np.ones((5, 5)),
                "test_acc": acc([0] * 5, [0] * 5, [0] * 5, [0.4, 0.2, 0.3, 0.2, 0.1], [0.3, 0.2, np.nan, np.nan, np.nan])})]
    budgets = [400, 400, 400, 400, 200]
    points = [gr.SweepPoint(s, lr, wd, b) for s in (0, 1) for (lr, wd), b in zip(GRID, budgets)]
    mem = np.full(10, 100.0)
    gen = np.array([300.0, 200.0, 400.0, np.nan, np.nan, np.nan, 200.0, 100.0, np.nan, np.nan])
    n_mem = np.full(10, 10.0)
    n_gen = np.array([8.0, 9.0, 7.0, np.nan, np.nan, np.nan, 5.0, 6.0, np.nan, np.nan])
    return ds.DelaySweep(GRID, [0, 1], runs, points, gr.Milestones(mem, gen, n_mem, n_gen))


def test_selections_budget_rule_and_controls_by_hand():
    sw = hand_sweep()
    assert sw.eta.tolist() == [g[0] for g in GRID] * 2 and sw.seed_of.tolist() == [0] * 5 + [1] * 5
    assert sw.decayed.tolist() == [True, True, True, False, False] * 2
    # delay: 200, 100, 300, -, -, -, 100, 0 (generalised at memorisation), -, -
    assert sw.checked.tolist() == [True, True, True, False, False, False, True, False, False, False]
    # within 80% of 400 = 320: 300 and 200 yes, 400 no; seed 1: never, 200 and 100 yes
    assert sw.share_in_time == pytest.approx(4 / 6) and sw.n_late == 2 and sw.trained_now == 1
    zero = sw.zero_controls()
    assert zero.samples == [0.6, 0.4] and zero.measured == 0.6
    lines = sw.table().splitlines()
    assert lines[2] == "| 0 | 0.01 | 0.1 | 1.00e-03 | 400 | 100 | 300 | 200 | 10 | 8 |"
    assert lines[6] == "| 0 | 0.02 | 0 | 0.00e+00 | 200 | 100 | — | — | 10 | nan |"


def test_exponents_collapse_and_norm_numbers_by_hand():
    sw = hand_sweep()
    e = sw.exponents()
    want = clock.seed_exponents(sw.milestones.delay, sw.eta, sw.lam, sw.seed_of)
    assert np.array_equal(e.eta_lambda, want.eta_lambda, equal_nan=True)
    gen = np.array([300.0, 200.0, 400.0, 200.0, 100.0])
    rescaled = np.array([0.001 * 300, 0.008 * 200, 0.008 * 400, 0.008 * 200, 0.008 * 100])
    c = sw.collapse_numbers()
    assert c["spread_steps"] == pytest.approx(np.std(np.log(gen)))
    assert c["spread_rescaled"] == pytest.approx(np.std(np.log(rescaled)))
    assert c["etalam_tgen_median"] == pytest.approx(np.median(rescaled))
    n = sw.norm_numbers()
    etalam_delay = np.array([0.001 * 200, 0.008 * 100, 0.008 * 300, 0.008 * 100])   # the checked runs
    measured = np.array([0.8, 0.9, 0.7, 0.5])
    assert n["median_measured_norm_ratio"] == pytest.approx(np.median(measured))
    assert n["median_predicted_norm_ratio"] == pytest.approx(np.median(np.exp(-etalam_delay)))
    assert n["median_log_norm_ratio"] == pytest.approx(np.median(-np.log(measured)))
    assert n["median_etalam_delay"] == pytest.approx(np.median(etalam_delay))
    assert sw.norm_decay().median == pytest.approx(np.median(measured / np.exp(-etalam_delay)))
    sw.milestones.generalisation[:] = np.nan
    assert all(np.isnan(v) for v in sw.norm_numbers().values())
    assert np.isnan(sw.collapse_numbers()["spread_steps"])


def test_tables_of_exponents_and_law_fits():
    ex = clock.SeedExponents(np.array([3]), np.array([-1.0]), np.array([-1.23456]), np.array([-0.5]))
    assert ds.exponent_table(ex).splitlines()[2] == "| 3 | -1 | -1.23 | -0.5 | -0.735 |"
    fits = clock.LawFits(np.array([0.12345]), np.array([0.5]), [12.345])
    assert ds.law_fit_table([3], fits).splitlines()[2] == "| 3 | 0.123 | 0.500 | 12.3 |"


def test_intervention_shifts_are_paired_per_seed():
    iv = ds.Intervention([0, 1], (1.0, 0.8, 1.25), [1.0, 0.98],
                         np.array([[500.0, 450.0, 600.0], [400.0, np.nan, 380.0]]))
    assert iv.shift(1.25).tolist() == [100.0, -20.0]
    assert iv.shift(0.8)[0] == -50.0 and np.isnan(iv.shift(0.8)[1])
    assert iv.undefined_pairs(0.8) == [1] and iv.undefined_pairs(1.25) == []
    m = iv.memorised()
    assert m.measured == 0.98 and m.samples == [1.0, 0.98]
    lines = iv.table().splitlines()
    assert lines[2] == "| seed | t_gen (c=1) | c=0.8 | c=1.25 |" and lines[5] == "| 1 | 400 | — | 380 |"


@pytest.fixture()
def runs_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GOALDRIFT_RUNS_DIR", str(tmp_path))


def test_rescaling_intervention_reads_rescaled_switches(runs_dir):
    args = (5, 0.6, 8, 0.01, 1.0, [0, 1], 6, 8, (1.0, 0.5, 2.0), 2, 2, 2)
    iv = ds.rescaling_intervention(*args)
    switched = ug.rescaled_switches(*args)
    assert iv.train_at_switch == [r.train_acc_at_switch for r in switched]
    assert np.array_equal(iv.generalisation, np.array([r.generalisation for r in switched]), equal_nan=True)
    with pytest.raises(ValueError):
        ds.rescaling_intervention(*args[:8], (0.5, 1.0), *args[9:])


def test_delay_sweep_on_a_tiny_sweep_and_its_figures(runs_dir, monkeypatch):
    grid, seeds, configs = gr.cleanup_sweep(0, 2, 5, 0.6, 8, 0.01, 0.02, 0.5, 1.0, 2, 0.05, 2, 10, 2, 0.005, 14)
    sw = ds.delay_sweep(grid, seeds, configs)
    runs = gr.sweep_runs(configs, seeds)
    points, ms = gr.sweep_milestones(runs, grid, seeds)
    assert sw.points == points and sw.trained_now == 2 and not any(r.trained for r in runs)
    assert np.array_equal(sw.milestones.generalisation, ms.generalisation, equal_nan=True)
    assert sw.budget.tolist() == [q.budget for q in points] and set(sw.budget.tolist()) == {10, 14}
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    sw.plot_delays()
    sw.plot_collapse(1.0)
    sw.plot_norms(1.0)
    assert len(shown) == 3 and all(s.data[:4] == b"\x89PNG" for s in shown)


def test_a_censored_pair_never_counts_inside_the_band():
    iv = ds.Intervention([0, 1, 2, 3], (1.0, 0.8, 1.25), [1.0] * 4,
                         np.array([[500.0, 450.0, 600.0], [400.0, np.nan, 380.0],
                                   [np.nan, 300.0, np.nan], [300.0, 310.0, 900.0]]))
    # c = 0.8: shifts -50 (in), censored copy (out), censored control (out), +10 (in)
    assert iv.within(0.8, 60.0).tolist() == [1.0, 0.0, 0.0, 1.0]
    # c = 1.25: +100 (out at 60), -20 (in), both censored (out), +600 (out)
    assert iv.within(1.25, 60.0).tolist() == [0.0, 1.0, 0.0, 0.0]
    assert iv.within(1.25, 100.0).tolist() == [1.0, 1.0, 0.0, 0.0]  # the band's edge is inside


def test_matched_pairs_are_equal_products_at_different_eta():
    assert clock.matched_pairs(GRID) == [(2, 1)]  # (0.02, 0.4) against (0.01, 0.8); controls never pair
    assert clock.matched_pairs([(0.01, 0.2), (0.02, 0.1), (0.02, 0.2), (0.01, 0.4), (0.01, 0.0), (0.02, 0.0)]) == [(1, 0), (2, 3)]
    assert clock.matched_pairs([(0.01, 0.1), (0.02, 0.1)]) == []


def test_delay_bounds_exact_censored_and_unknown():
    low, high = ds.delay_bounds([100.0, 100.0, 100.0, np.nan], [300.0, 100.0, np.nan, np.nan], [400, 400, 400, 400], 20)
    assert low.tolist() == [200.0, 10.0, 300.0, 0.0]          # exact; floored at half an evaluation; budget - t_mem; nothing
    assert high.tolist() == [200.0, 10.0, np.inf, np.inf]


def test_matched_pair_ratios_by_hand():
    pairs = hand_sweep().matched_pairs(eval_every=100)
    assert pairs.pairs == [((0.02, 0.4), (0.01, 0.8))]
    # seed 0: delays 300 (fast) and 100 (slow); seed 1: fast generalised at memorisation (0, floored at
    # half an evaluation, 50) and slow 100
    assert pairs.low[:, 0] == pytest.approx([math.log(3), math.log(0.5)])
    assert pairs.high[:, 0] == pytest.approx(pairs.low[:, 0])
    assert pairs.n_censored == 0 and pairs.interval == (-np.inf, np.inf)  # two seeds: no 95% interval
    assert pairs.median == pytest.approx((math.log(3) + math.log(0.5)) / 2)
    sw = hand_sweep()
    sw.milestones.generalisation[7] = np.nan           # now censored: > 400 - 100
    censored = sw.matched_pairs(eval_every=100)
    assert censored.low[1, 0] == pytest.approx(math.log(3)) and censored.high[1, 0] == np.inf
    assert censored.n_censored == 1 and "[1.1, inf]" in censored.table()


def test_matched_pair_interval_over_ten_seeds_uses_the_second_order_statistics():
    values = np.arange(10.0) / 10
    low, high = values.copy()[:, None], values.copy()[:, None]
    high[9] = np.inf                                    # one seed censored above: the upper end is x_(9) still
    pairs = clock.MatchedPairs(list(range(10)), [((0.02, 0.4), (0.01, 0.8))], low, high)
    assert pairs.interval == (0.1, 0.8) and pairs.n_censored == 1
    assert pairs.seeds_to_reach(0.35) == 10 and pairs.seeds_to_reach(0.175) == 40  # half-width 0.35
    high[8] = np.inf
    assert pairs.interval == (0.1, np.inf)


def test_a_grid_without_pairs_is_refused():
    sw = hand_sweep()
    sw.grid = [(0.01, 0.1), (0.01, 0.8), (0.02, 0.3), (0.01, 0.0), (0.02, 0.0)]
    with pytest.raises(ValueError, match="equal eta\\*lambda"):
        sw.matched_pairs(100)


def test_step_matched_rescaling_runs_each_copy_at_eta_c_and_lambda_over_c(runs_dir):
    args = (5, 0.6, 8, 0.01, 1.0, [0], 6, 8, (1.0, 0.5, 2.0), 2, 2, 2)
    plain, = ug.rescaled_switches(*args)
    matched, = ug.rescaled_switches(*args, step_matched=True)
    assert plain.after.config.optim.lr == [0.01] * 3 and plain.after.config.optim.weight_decay == [1.0] * 3
    assert matched.after.config.optim.lr == pytest.approx([0.01, 0.005, 0.02])
    assert matched.after.config.optim.weight_decay == pytest.approx([1.0, 2.0, 0.5])
    eta_lambda = np.multiply(matched.after.config.optim.lr, matched.after.config.optim.weight_decay)
    assert eta_lambda == pytest.approx([0.01] * 3)  # the decay rate is the control's
    iv = ds.rescaling_intervention(*args, step_matched=True)
    assert np.array_equal(iv.generalisation[0], matched.generalisation, equal_nan=True)


def test_intervention_move_numbers_by_hand():
    iv = ds.Intervention([0, 1, 2, 3], (1.0, 0.8, 1.25), [1.0] * 4,
                         np.array([[100.0, 50.0, 300.0], [200.0, 260.0, 150.0], [np.nan, 10.0, 20.0], [80.0, 60.0, 90.0]]))
    up = iv.move_numbers(1.25)   # shifts +200, -50, (undefined), +10
    assert up["median_abs_shift"] == 50.0 and up["share_critical_sign"] == pytest.approx(2 / 3)
    down = iv.move_numbers(0.8)  # shifts -50, +60, (undefined), -20: earlier is the critical norm's sign
    assert down["median_abs_shift"] == 50.0 and down["share_critical_sign"] == pytest.approx(2 / 3)
