"""The replication's reductions over seeds against hand-built curves and phases, and the
whole pipeline against its parts on a tiny cached run."""

from types import SimpleNamespace

import numpy as np
import pytest

from goaldrift.experiments.grokking import clock
from goaldrift.experiments.grokking import grokking_measures as gm
from goaldrift.experiments.grokking import grokking_runs as gr
from goaldrift.experiments.grokking import phases as ph
from goaldrift.experiments.grokking import replication as rp

STEPS = np.arange(0, 101, 10, dtype=float)


def fake_measures(log_norm, gini_embed, gini_unembed, excluded=None, test=None, key_freqs=(3, 5)):
    """ProgressMeasures-like curves of one member on STEPS."""
    col = lambda v: np.asarray(v, dtype=float)[:, None]
    ones = np.ones(len(STEPS))
    return SimpleNamespace(steps=STEPS, sum_sq={"total": col(np.exp(log_norm))}, gini_embed=col(gini_embed),
                           gini_unembed=col(gini_unembed), excluded_loss=col(ones if excluded is None else excluded),
                           test_loss=col(ones if test is None else test), train_loss=col(ones),
                           key_freqs=[list(key_freqs)], decomposition_error=0.0)


def piecewise(before: float, during: float, t0=20.0, t1=60.0, t2=90.0):
    """A curve with slope 0 up to t0, ``before`` from t0 to t1 and ``during`` from t1 to t2."""
    return np.array([before * (min(s, t1) - t0) * (s > t0) + during * (min(s, t2) - t1) * (s > t1) for s in STEPS])


PHASES = ph.Phases(memorisation_end=20.0, cleanup_start=60.0, cleanup_end=90.0, generalisation=80.0)


def fake_replication(measures, phases, seeds=(7, 8)):
    setting = rp.Setting(23, 0.5, 8, 0.01, 1.0, 100, 2, 10)
    return rp.Replication(setting, list(seeds), [SimpleNamespace(trained=True)] * len(measures), measures, phases)


def test_generalisation_delays_are_the_ratio_per_seed_and_the_smallest_over_seeds():
    budget = SimpleNamespace(steps=STEPS)  # the run's last step is 100
    rep = fake_replication([budget, budget], [ph.Phases(10.0, None, None, 50.0), ph.Phases(20.0, None, None, 40.0)])
    d = rep.generalisation_delays()
    assert d.samples == [5.0, 2.0] and d.measured == 2.0 and rep.censored_seeds == []
    # a seed that memorised and never generalised enters at its lower bound, budget / memorisation step
    rep.phases[1] = ph.Phases(20.0, None, None, None)
    assert rep.generalisation_delays().samples == [5.0, 100.0 / 20.0] and rep.censored_seeds == [8]
    # a seed that never memorised has no delay at all, and counts against the claim
    rep.phases[1] = ph.Phases(None, None, None, None)
    assert np.isnan(rep.generalisation_delays().measured) and rep.censored_seeds == []


def test_circuit_formation_margins_read_the_losses_at_the_boundaries():
    excluded = np.linspace(1.0, 3.0, len(STEPS))     # 1.4 at step 20, 2.2 at step 60
    test = np.linspace(2.0, 1.0, len(STEPS))         # 1.8 at step 20, 1.4 at step 60
    rep = fake_replication([fake_measures(STEPS * 0, STEPS * 0, STEPS * 0, excluded, test)] * 2,
                           [PHASES, ph.Phases(20.0, None, None, None)])
    m = rep.circuit_formation_margins()
    want = min(2.2 / 1.4 - 1, 1 - 1.4 / 1.8)
    assert m.samples[0] == pytest.approx(want) and np.isnan(m.samples[1]) and np.isnan(m.measured)
    rep.phases[1] = PHASES
    assert rep.circuit_formation_margins().measured == pytest.approx(want)


def test_cleanup_sharpness_is_the_rate_before_over_the_rate_during_cleanup():
    a = fake_measures(piecewise(-0.01, -0.05), piecewise(0.001, 0.004), piecewise(0.002, 0.004))
    b = fake_measures(piecewise(-0.03, -0.05), piecewise(0.001, 0.002), piecewise(0.001, -0.004))  # W_L falls
    s = fake_replication([a, b], [PHASES, PHASES]).cleanup_sharpness()
    assert s.norm == pytest.approx([0.2, 0.6]) and s.norm_worst == pytest.approx(0.6)
    assert s.norm_best == pytest.approx(0.2)
    assert s.gini_embed == pytest.approx([0.25, 0.5]) and s.gini_unembed[0] == pytest.approx(0.5)
    assert np.isnan(s.gini_unembed[1]) and np.isnan(s.gini_worst)  # moved the wrong way: counts against
    assert s.gini_samples.shape == (2, 2) and s.gini_samples[0] == pytest.approx([0.25, 0.5])
    assert "| 7 | 0.20 | 0.25 | 0.50 |" in s.table() and "| 8 | 0.60 | 0.50 | nan |" in s.table()
    s2 = rp.CleanupSharpness([0], [np.nan], [0.1], [0.2])
    assert np.isnan(s2.norm_best) and s2.gini_worst == pytest.approx(0.2)


def test_prose_numbers_of_the_first_seed():
    log_norm = piecewise(-0.01, -0.05) + 2.0
    gini = piecewise(0.001, 0.004) + 0.1
    m = fake_measures(log_norm, gini, gini, key_freqs=(4, 9))
    rep = fake_replication([m], [PHASES], seeds=(0,))
    n = rep.prose_numbers()
    assert n["key_freqs_main"] == "4, 9" and n["trained_now"] == 1
    assert n["norm_mem_end"] == pytest.approx(np.exp(2.0 / 2))                 # sqrt of the sum of squares at step 20
    assert n["norm_final"] == pytest.approx(np.exp((2.0 - 0.4 - 1.5) / 2))
    assert n["gini_embed_start"] == pytest.approx(0.1) and n["gini_embed_final"] == pytest.approx(0.1 + 0.04 + 0.12)
    assert n["norm_ratio_best"] == pytest.approx(0.2)
    assert n["excluded_ratio_main"] == 1.0 and n["test_ratio_main"] == 1.0
    m.key_freqs = [[]]
    assert rep.prose_numbers()["key_freqs_main"] == "none"


def test_checks_are_the_worst_seed():
    a, b = fake_measures(STEPS * 0, STEPS * 0, STEPS * 0), fake_measures(STEPS * 0, STEPS * 0, STEPS * 0)
    a.decomposition_error, b.decomposition_error = 1e-14, 3e-13
    rep = fake_replication([a, b], [PHASES, PHASES])
    trainer = [np.ones((len(STEPS), 1)), np.ones((len(STEPS), 1))]
    trainer[1][4] = 0.8                                                        # ours is 1: gap 0.2 / 0.8
    rep.runs = [SimpleNamespace(trained=False, metrics={"train_loss": t}) for t in trainer]
    assert rep.loss_gap == pytest.approx(0.25) and rep.decomposition_error == 3e-13 and rep.trained_now == 0


def hand_scan():
    lambdas = np.array([0.5, 1.0, 3.0])
    mem = np.array([[10.0, 10.0, 10.0], [20.0, 20.0, 20.0]])
    gen = np.array([[410.0, 210.0, 80.0], [620.0, np.nan, 120.0]])
    norm = np.array([[5.0, 4.0, 3.0], [6.0, np.nan, 2.5]])
    scan = clock.LambdaScan(lambdas, np.array([1000.0, 500.0, 100.0]), mem, gen, norm)
    phases = {lam: [ph.Phases(10.0, 20.0, c, None), ph.Phases(20.0, None, None, None)]
              for lam, c in zip(lambdas, (300.0, 150.0, 70.0))}
    return rp.ClockInLambda(0.01, [0, 1], scan, {lam: [] for lam in lambdas}, phases, trained_now=4)


def test_clock_in_lambda_units_slopes_and_counts_by_hand():
    c = hand_scan()
    for i in range(2):
        for j, lam in enumerate((0.5, 1.0, 3.0)):
            want = 0.01 * lam * (c.scan.generalisation[i, j] - c.scan.memorisation[i, j])
            assert c.clock_units[i, j] == pytest.approx(want, nan_ok=True)
    slope0 = np.polyfit(np.log([0.5, 1.0, 3.0]), np.log([400.0, 200.0, 70.0]), 1)[0]
    assert c.exponents[0] == pytest.approx(slope0) and np.isnan(c.exponents[1])   # seed 1 did not generalise once
    assert c.exponent_mean == pytest.approx(slope0)
    n = c.prose_numbers()
    assert (n["scan_runs_total"], n["scan_generalised"], n["trained_now_scan"]) == (6, 5, 4)
    # within the first 80% of the budgets (800, 400, 80): all but the run that never generalised and 120 > 80
    assert n["scan_within_budget"] == 4
    units = [0.01 * l * d for l, d in ((0.5, 400), (1.0, 200), (3.0, 70), (0.5, 600), (3.0, 100))]
    assert n["clock_units_min"] == pytest.approx(min(units)) and n["clock_units_max"] == pytest.approx(max(units))
    assert (n["norm_gen_min"], n["norm_gen_max"]) == (2.5, 6.0)
    assert n["scan_exponents_by_seed"] == f"{slope0:.3g}, —" and n["scan_seeds_with_slope"] == 1
    table = c.table()
    assert "| 0.5 | 0 | 1000 | 10 | 410 | 300 | 2 | 5 |" in table
    assert "| 1 | 1 | 500 | 20 | — | — | — | — |" in table
    none = rp.ClockInLambda(0.01, [0], clock.LambdaScan(np.array([1.0, 2.0]), np.array([10.0, 10.0]),
                                                        np.array([[1.0, 1.0]]), np.array([[np.nan, np.nan]]),
                                                        np.array([[np.nan, np.nan]])), {}, {}, 0)
    assert np.isnan(none.exponent_mean) and np.isnan(none.prose_numbers()["clock_units_min"])


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    import os

    old = os.environ.get("GOALDRIFT_RUNS_DIR")
    os.environ["GOALDRIFT_RUNS_DIR"] = str(tmp_path_factory.mktemp("runs"))
    try:
        setting = rp.Setting(5, 0.6, 8, 0.01, 1.0, 20, 2, 2)
        rep = rp.replicate(setting, [0, 1], key_share_factor=1.5)
        scan = rep.lambda_scan({0.5: 24, 2.0: 16})
        yield setting, rep, scan
    finally:
        if old is None:
            os.environ.pop("GOALDRIFT_RUNS_DIR")
        else:
            os.environ["GOALDRIFT_RUNS_DIR"] = old


def test_replicate_is_its_parts_on_a_tiny_run(tiny):
    setting, rep, _ = tiny
    assert setting.n_train == 15 and rep.trained_now == 2
    for s, run, m, q in zip(rep.seeds, rep.runs, rep.measures, rep.phases):
        cfg = gr.config(5, 0.6, 8, 0.01, 1.0, 20, seeds=[s], data_seed=s, warmup_steps=2, eval_every=2,
                        warmup_rule="published")
        assert run.config == cfg
        want = gm.progress_measures(run, gr.data_for(cfg), share_factor=1.5)
        assert np.array_equal(m.train_loss, want.train_loss) and m.key_freqs == want.key_freqs
        assert q == ph.detect_phases(want.steps, want.train_acc[:, 0], want.test_loss[:, 0], want.test_acc[:, 0])
    gaps = [np.max(np.abs(m.train_loss[:, 0] - r.metrics["train_loss"][:, 0])
                   / np.maximum(r.metrics["train_loss"][:, 0], 1e-12)) for m, r in zip(rep.measures, rep.runs)]
    assert rep.loss_gap == max(gaps) and rep.decomposition_error < 1e-12


def test_lambda_scan_reuses_the_main_runs_and_trains_the_others(tiny):
    _, rep, scan = tiny
    assert scan.trained_now == 4 and list(scan.scan.lambdas) == [0.5, 1.0, 2.0]
    assert list(scan.scan.budgets) == [24.0, 20.0, 16.0]
    assert scan.runs[1.0] is rep.runs
    for lam, budget in ((0.5, 24), (2.0, 16)):
        for s, r in zip(rep.seeds, scan.runs[lam]):
            assert r.config.optim.weight_decay == lam and r.config.steps == budget and r.config.seeds == [s]
    for j, lam in enumerate(scan.scan.lambdas):
        for i, r in enumerate(scan.runs[lam]):
            m = gr.milestones(r.metrics)
            assert np.array_equal(scan.scan.generalisation[i, j], m.generalisation[0], equal_nan=True)
            assert scan.phases[lam][i] == rp.curve_phases(r.metrics)


def test_figures_show_one_png_each(tiny, monkeypatch):
    _, rep, scan = tiny
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    rp.plot_losses_and_accuracy(rep)
    rp.plot_norm_and_sparsity(rep)
    rp.plot_lambda_scan(scan)
    gm.plot_embedding_spectrum(rep.main, rep.phases[0], rep.seeds[0])
    assert len(shown) == 4 and all(s.data[:4] == b"\x89PNG" for s in shown)
