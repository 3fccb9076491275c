from types import SimpleNamespace

import numpy as np
import pytest
import torch

from goaldrift.experiments.grokking import grokking_runs as gr
from goaldrift.experiments.grokking import ungrokking as ug
from goaldrift.engine.tasks.modular import modular_data
from goaldrift.engine.train import Trainer


def tiny_config(steps=20, train_frac=0.5, seed=0):
    return gr.config(5, train_frac, 8, 0.01, 1.0, steps, seeds=[seed], data_seed=seed, eval_every=2)


def test_stacked_state_repeats_one_member_and_rejects_ensembles():
    state = {"w": torch.arange(6.0).reshape(1, 2, 3)}
    stacked = ug.stacked_state(state, 4)
    assert stacked["w"].shape == (4, 2, 3)
    assert all(torch.equal(stacked["w"][k], state["w"][0]) for k in range(4))
    stacked["w"][0, 0, 0] = 99.0  # a copy, not a view of the input
    assert state["w"][0, 0, 0] == 0.0
    with pytest.raises(ValueError, match="one member"):
        ug.stacked_state({"w": torch.zeros(2, 3)}, 4)


def test_member_and_concat_round_trip():
    state = {"a": torch.randn(3, 4), "b": torch.randn(3, 2, 2)}
    parts = [ug.member_state(state, k) for k in range(3)]
    joined = ug.concat_states(*parts)
    assert all(torch.equal(joined[n], state[n]) for n in state)


def test_fresh_state_is_the_trainers_init_for_that_seed():
    cfg = tiny_config(seed=3)
    fresh = ug.fresh_state(cfg, 3)
    trainer = Trainer(cfg)
    for name, value in trainer.model.state_dict().items():
        assert torch.equal(fresh[name], value.cpu()), name


def test_nested_split_matches_the_data_builder():
    p, seed = 11, 2
    small, big = modular_data(p, 0.2, seed), modular_data(p, 0.6, seed)
    as_set = lambda t: {tuple(r) for r in t.tolist()}
    assert as_set(small.train_pairs) <= as_set(big.train_pairs)
    assert ug.is_nested_split(p, 0.2, 0.6, seed)
    # the held-out set of the small split is everything else: it contains big's extra pairs
    assert as_set(big.train_pairs) - as_set(small.train_pairs) <= as_set(small.test_pairs)


def test_first_step_below_against_a_loop():
    rng = np.random.default_rng(0)
    steps = np.arange(0, 200, 10)
    acc = rng.uniform(0.3, 1.0, size=(len(steps), 5))
    acc[:, 4] = 0.9  # never below
    got = ug.first_step_below(steps, acc, 0.5)
    for k in range(5):
        expected = next((s for s, a in zip(steps, acc[:, k]) if a < 0.5), np.nan)
        assert got[k] == expected or (np.isnan(got[k]) and np.isnan(expected))


def test_final_accuracy_averages_the_tail():
    acc = np.linspace(0, 1, 20)[:, None] * np.array([1.0, 0.5])
    np.testing.assert_allclose(ug.final_accuracy(acc, tail=0.1), acc[-2:].mean(axis=0))
    np.testing.assert_allclose(ug.final_accuracy(acc[:3], tail=0.1), acc[2])  # at least one evaluation


def test_critical_fraction_and_hysteresis():
    fracs = [0.4, 0.1, 0.3, 0.2]  # order does not matter
    assert ug.critical_fraction(fracs, [1.0, 0.2, 0.99, 0.5], 0.95) == 0.3
    assert ug.critical_fraction(fracs, [0.5, 1.0, 1.0, 1.0], 0.95) is None  # largest fails
    assert ug.critical_fraction([0.1, 0.2, 0.3], [1.0, 0.5, 1.0], 0.95) == 0.3  # a dip breaks the run
    th = ug.thresholds([0.1, 0.2, 0.3], scratch_acc=[0.0, 0.1, 1.0], grokked_acc=[0.3, 1.0, 1.0])
    assert (th.grok, th.keep, th.hysteresis) == (0.3, 0.2, True)
    assert ug.thresholds([0.1, 0.2], [0.0, 0.0], [0.0, 1.0]).hysteresis is True  # nothing grokked from scratch
    assert ug.thresholds([0.1, 0.2], [0.0, 1.0], [0.0, 1.0]).hysteresis is False
    assert ug.thresholds([0.1, 0.2], [0.0, 1.0], [0.0, 0.0]).hysteresis is None


def test_continuation_starts_from_the_given_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("GOALDRIFT_RUNS_DIR", str(tmp_path))
    base_cfg = tiny_config()
    base = gr.run_plain(base_cfg)
    cfg = ug.continuation_config(base_cfg, 0.3, [0.01, 0.02], [1.0, 2.0], 10, 2)
    assert cfg.task["train_frac"] == 0.3 and cfg.optim.warmup_steps == 0 and cfg.K == 2
    run = ug.continue_from(ug.stacked_state(base.model.state_dict(), 2), cfg)
    np.testing.assert_allclose(run.metrics["weight_norm_sq"][0], base.metrics["weight_norm_sq"][-1, 0], rtol=1e-6)
    # the two members then move apart (different eta, lambda)
    assert run.metrics["weight_norm_sq"][-1, 0] != run.metrics["weight_norm_sq"][-1, 1]
    assert not ug.continue_from(ug.stacked_state(base.model.state_dict(), 2), cfg).trained  # cached


def test_continuation_passes_its_warm_up_to_the_optimiser():
    base_cfg = tiny_config()
    cfg = ug.continuation_config(base_cfg, 0.3, [0.01], [1.0], 10, 2, warmup_steps=5)
    assert cfg.optim.warmup_steps == 5 and cfg.task["train_frac"] == 0.3
    assert ug.continuation_config(base_cfg, 0.3, [0.01], [1.0], 10, 2).optim.warmup_steps == 0


def fake_run(weight_norm_sq):
    return type("FakeRun", (), {"metrics": {"weight_norm_sq": np.asarray(weight_norm_sq, dtype=float)}})()


def test_start_gap_is_the_worst_member_against_the_grokked_end():
    base = fake_run([[9.0], [4.0]])                         # grokked run ends at 4
    assert ug.start_gap(fake_run([[4.0, 4.0], [1.0, 2.0]]), base) == 0.0
    assert ug.start_gap(fake_run([[4.0, 5.0], [1.0, 2.0]]), base) == pytest.approx(0.25)
    assert ug.start_gap(fake_run([[3.0, 4.2], [1.0, 2.0]]), base) == pytest.approx(0.25)


def test_complete_seed_exponents_drop_seeds_with_a_member_that_never_ungrokked():
    grid = [(0.01, 0.5), (0.01, 2.0), (0.04, 0.5), (0.04, 2.0)]
    el = np.array([lr * wd for lr, wd in grid])
    # seed 0: t = 3/(eta lambda) exactly; seed 1: t = 5 eta^-1 lambda^-0.5; seed 2 misses a member.
    t_half = np.stack([3 / el, 5 / (np.array([g[0] for g in grid]) * np.sqrt([g[1] for g in grid])),
                       np.where(np.arange(4) == 1, np.nan, 1 / el)])
    ex = ug.complete_seed_exponents(t_half, grid, seeds=[10, 11, 12])
    assert ex.seeds.tolist() == [10, 11]
    assert ex.in_eta == pytest.approx([-1.0, -1.0])
    assert ex.in_lambda == pytest.approx([-1.0, -0.5])
    assert ex.difference == pytest.approx([0.0, 0.5])


def test_hysteresis_window_counts_kept_but_not_reached_fractions():
    assert ug.hysteresis_window([1.0, 0.97, 0.96, 0.5], [1.0, 0.9, 0.2, 0.1]) == 2
    assert ug.hysteresis_window([0.94, 0.2], [0.1, 0.1]) == 0


def test_hysteresis_scan_reads_each_member_of_each_fraction(tmp_path, monkeypatch):
    monkeypatch.setenv("GOALDRIFT_RUNS_DIR", str(tmp_path))
    base_cfg = tiny_config(steps=10)
    base = gr.run_plain(base_cfg)
    scan = ug.hysteresis_scan(base_cfg, 0, base.model.state_dict(), [0.3, 0.4], 0.01, 1.0,
                              grok_steps=10, ungrok_steps=6, eval_every=2)
    for i, f in enumerate([0.3, 0.4]):
        # The same ensemble, trained here by hand: member 0 from the seed's fresh init, member 1 from the base.
        cfg = ug.continuation_config(base_cfg, f, [0.01] * 2, [1.0] * 2, 16, 2)
        run = ug.continue_from(ug.concat_states(ug.fresh_state(cfg, 0), base.model.state_dict()), cfg)
        acc, steps = run.metrics["test_acc"], run.metrics["step"]
        early = steps <= 6
        assert not run.trained  # the scan trained and cached exactly this run
        assert scan.scratch[i] == pytest.approx(acc[-1:, 0].mean())      # last 10% of 9 evaluations: one
        assert scan.scratch_short[i] == pytest.approx(acc[early][-1, 0])
        assert scan.grokked[i] == pytest.approx(acc[early][-1, 1])


def test_rescaled_switch_continues_each_copy_from_the_rescaled_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("GOALDRIFT_RUNS_DIR", str(tmp_path))
    r = ug.rescaled_switch(5, 0.5, 8, 0.01, 1.0, seed=0, switch_step=6, after_steps=4, scales=(1.0, 0.5, 2.0),
                           warmup_steps=2, eval_every=2, after_eval_every=2)
    before = gr.run_plain(gr.config(5, 0.5, 8, [0.01], [1.0], 6, seeds=[0], data_seed=0, warmup_steps=2, eval_every=2))
    assert not before.trained and r.train_acc_at_switch == float(before.metrics["train_acc"][-1, 0])
    start = r.after.metrics["weight_norm_sq"][0]
    np.testing.assert_allclose(start, before.metrics["weight_norm_sq"][-1, 0] * np.array([1.0, 0.25, 4.0]), rtol=1e-5)
    assert r.after.config.K == 3 and r.after.config.optim.warmup_steps == 0
    assert r.generalisation.shape == (3,)


def test_timing_runs_continue_each_grokked_network_at_every_member(tmp_path, monkeypatch):
    monkeypatch.setenv("GOALDRIFT_RUNS_DIR", str(tmp_path))
    grid = [(0.01, 1.0), (0.02, 2.0)]
    tr = ug.timing_runs(5, 0.5, 8, [0, 1], 0.01, 1.0, grid, grok_steps=6, ungrok_frac=0.3, ungrok_steps=4,
                        eval_every=2, warmup_control_steps=3)
    assert tr.trained_now == 6 and tr.eta_lam.tolist() == [0.01, 0.04]
    for s, (cfg, base, run, warm) in enumerate(zip(tr.base_cfgs, tr.bases, tr.timing, tr.warm)):
        assert cfg.seeds == [s] and cfg.data_seed == s and cfg.optim.warmup_steps == 10
        assert list(zip(run.config.optim.lr, run.config.optim.weight_decay)) == grid + [(0.01, 0.0)]
        assert run.config.task["train_frac"] == 0.3 and warm.config.optim.warmup_steps == 3
        assert ug.start_gap(run, base) < 1e-6 and ug.start_gap(warm, base) < 1e-6
        # t_1/2 by a plain loop over the evaluations
        for k in range(len(grid) + 1):
            below = [st for st, a in zip(run.metrics["step"], run.metrics["test_acc"][:, k]) if a < 0.5]
            want = below[0] if below else np.nan
            got = tr.t_half[s, k] if k < len(grid) else tr.t_zero[s]
            assert got == want or (np.isnan(got) and np.isnan(want))
        assert tr.zero_min_acc[s] == run.metrics["test_acc"][:, len(grid)].min()
        assert tr.base_test_acc[s] == ug.final_accuracy(base.metrics["test_acc"])[0]
    again = ug.timing_runs(5, 0.5, 8, [0, 1], 0.01, 1.0, grid, 6, 0.3, 4, 2, 3)
    assert again.trained_now == 0 and np.array_equal(again.t_warm, tr.t_warm, equal_nan=True)


def test_time_exponent_recovers_a_known_power_law_and_is_nan_when_it_cannot_fit():
    grid = [(0.01, 0.5), (0.01, 2.0), (0.04, 0.5), (0.04, 2.0)]
    el = np.array([lr * wd for lr, wd in grid])
    t_half = np.stack([3 / el, 7 * el ** -1.2, 5 * el ** -0.8])     # per-seed slopes -1, -1.2, -0.8
    law = ug.time_exponent(t_half, grid, seeds=[0, 1, 2])
    assert law.exponent == pytest.approx(-1.0) and law.fit.per_seed == pytest.approx([-1.0, -1.2, -0.8])
    half = 4.302652729911275 * 0.2 / np.sqrt(3)                     # t(0.975, 2) * sd / sqrt(n)
    assert law.ci == pytest.approx((-1.0 - half, -1.0 + half))
    t_half[1, 1:] = np.nan                                          # seed 1 ungrokked at one setting only
    none = ug.time_exponent(t_half, grid, seeds=[0, 1, 2])
    assert none.fit is None and np.isnan(none.exponent) and all(np.isnan(none.ci))


def test_timing_grid_scan_fractions_and_nesting():
    assert ug.timing_grid(0.003, 0.006, 1.0, 2.0) == [(0.003, 1.0), (0.003, 2.0), (0.006, 1.0), (0.006, 2.0)]
    assert ug.scan_fractions(0.1, 0.5, 5) == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert ug.scan_fractions(0.1, 0.2, 4) == [0.1, 0.1333, 0.1667, 0.2]
    loop = all(ug.is_nested_split(7, f, 0.5, s) for s in (0, 1) for f in (0.1, 0.3))
    assert ug.all_nested(7, [0.1, 0.3], 0.5, [0, 1]) is loop is True
    assert ug.all_nested(7, [0.1, 0.6], 0.5, [0]) is False      # a larger set is not inside the grokked one


def hand_timing():
    """Two seeds, a 2-member grid plus the λ = 0 member, on 10 evaluations; t_1/2 chosen by hand."""
    grid = [(0.01, 1.0), (0.02, 1.0)]
    steps = np.arange(10) * 10.0
    def run(test, train, norm0=4.0, trained=False):
        return SimpleNamespace(trained=trained, config=SimpleNamespace(task={"train_frac": 0.1}),
                               metrics={"step": steps, "test_acc": np.asarray(test, dtype=float),
                                        "train_acc": np.asarray(train, dtype=float),
                                        "weight_norm_sq": np.full((10, 3), norm0)})
    test0 = np.column_stack([np.linspace(1, 0.2, 10), np.linspace(1, 0.6, 10), np.linspace(1, 0.9, 10)])
    test1 = np.column_stack([np.linspace(1, 0.3, 10), np.linspace(1, 0.1, 10), np.linspace(1, 0.4, 10)])
    timing = [run(test0, np.ones((10, 3))), run(test1, np.full((10, 3), 0.99), trained=True)]
    bases = [SimpleNamespace(trained=False, metrics={"weight_norm_sq": np.full((10, 1), 4.0)}),
             SimpleNamespace(trained=False, metrics={"weight_norm_sq": np.full((10, 1), 4.0 / 1.001)})]
    warm = [run(test0[:, :1], np.ones((10, 1))), run(test1[:, 2:], np.ones((10, 1)))]
    for w in warm:
        w.metrics["weight_norm_sq"] = np.full((10, 1), 4.0)
    t_half = np.array([[60.0, np.nan], [60.0, 50.0]])
    return ug.TimingRuns(grid=grid, base_cfgs=[SimpleNamespace(data_seed=3), SimpleNamespace(data_seed=4)],
                         bases=bases, timing=timing, warm=warm, base_test_acc=np.array([0.99, 0.97]),
                         t_half=t_half, t_zero=np.array([np.nan, 60.0]), t_warm=np.array([80.0, np.nan]),
                         control=(0.01, 1.0))


def test_timing_runs_reductions_by_hand():
    tr = hand_timing()
    assert tr.seeds == [3, 4] and tr.n_complete == 1 and tr.trained_now == 1
    assert tr.start_gap == pytest.approx(0.001)                      # seed 4's base ended 0.1% lower
    g = tr.grokked()
    assert g.measured == 0.97 and list(g.samples) == [0.99, 0.97]
    u = tr.ungrokked()
    assert u.measured == 0.75 and list(u.samples) == [0.5, 1.0]
    z = tr.zero_control()
    assert z.measured == pytest.approx(0.4) and z.samples == pytest.approx([0.9, 0.4])
    w = tr.warm_control()
    assert w.measured == 0.5 and list(w.samples) == [1.0, 0.0]
    after = tr.final_accuracies()                                    # the last evaluation (10% of 10)
    assert after == pytest.approx(np.array([[0.2, 0.6], [0.3, 0.1]]))
    n = tr.prose_numbers()
    assert n["test_acc_after_median"] == pytest.approx(0.25) and n["test_acc_after_max"] == pytest.approx(0.6)
    assert n["train_acc_after_min"] == 0.99 and n["base_test_acc_min"] == 0.97 and n["ungrokked_share"] == 0.75
    assert n["zero_min_acc"] == pytest.approx(0.4) and n["warm_ungrokked_share"] == 0.5
    assert n["warm_delay_ratio"] == pytest.approx(80 / 60)            # seed 4's warm-up control never fell
    assert (n["rescaled_min"], n["rescaled_max"]) == (pytest.approx(0.6), pytest.approx(1.0))
    lines = tr.t_half_table().splitlines()
    assert lines[2] == "| seed | η=0.01, λ=1 | η=0.02, λ=1 |"
    assert lines[4] == "| 3 | 60 (ηλt = 0.60) | — |" and lines[5] == "| 4 | 60 (ηλt = 0.60) | 50 (ηλt = 1.00) |"
    law = tr.time_exponent()
    assert law.fit is None and np.isnan(law.exponent)                # seed 3 has one finite t_1/2
    ex = tr.complete_exponents()
    assert list(ex.seeds) == [4]


def test_hysteresis_scan_reading_by_hand():
    scan = ug.HysteresisScan(np.array([0.1, 0.5, 0.97, 1.0]), np.array([0.1, 0.2, 0.3, 0.96]),
                             np.array([0.3, 0.96, 0.99, 1.0]), [0.1, 0.2, 0.3, 0.4])
    assert (scan.thresholds().grok, scan.thresholds().keep) == (0.3, 0.2)
    assert scan.thresholds(short=True).grok == 0.4
    assert scan.window == 1 and scan.window_short == 2
    n = scan.prose_numbers(frac_max=0.4)
    assert n == dict(grok_threshold="0.3", grok_threshold_short="0.4", keep_threshold="0.2", window=1, window_short=2)
    none = ug.HysteresisScan(np.zeros(2), np.zeros(2), np.zeros(2), [0.1, 0.5])
    assert none.prose_numbers(0.5)["keep_threshold"] == "above 0.5"


def test_timing_figures_on_tiny_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("GOALDRIFT_RUNS_DIR", str(tmp_path))
    grid = [(0.01, 1.0), (0.02, 2.0)]
    tr = ug.timing_runs(5, 0.5, 8, [0, 1], 0.01, 1.0, grid, grok_steps=6, ungrok_frac=0.3, ungrok_steps=4,
                        eval_every=2, warmup_control_steps=3)
    assert tr.control == (0.01, 1.0) and tr.seeds == [0, 1]
    scan = ug.hysteresis_scan(tr.base_cfgs[0], 0, tr.bases[0].model.state_dict(), [0.3, 0.4], 0.01, 1.0,
                              grok_steps=6, ungrok_steps=4, eval_every=2)
    assert scan.fracs == [0.3, 0.4]
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    tr.plot_after_switch()
    tr.plot_time_law(tr.time_exponent())
    scan.plot()
    assert len(shown) == 3 and all(s.data[:4] == b"\x89PNG" for s in shown)
