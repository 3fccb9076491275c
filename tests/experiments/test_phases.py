"""Phase detection on synthetic grokking curves with known boundaries."""

import numpy as np
import pytest

from goaldrift.experiments.grokking.phases import Phases, detect_phases, first_step, phase_mask, rate_per_step

STEPS = np.arange(0, 4001, 10, dtype=float)


def synthetic(mem=200.0, start=1500.0, stop=2500.0, hi=1.0, lo=-3.0):
    """Train accuracy reaching 1 at ``mem``; log10 test loss rising to ``hi`` by
    ``mem``, flat, then falling linearly to ``lo`` between ``start`` and ``stop``."""
    train_acc = np.clip(STEPS / mem, 0, 1)
    h = np.where(STEPS < mem, hi - 0.5 + 0.5 * STEPS / mem, hi)
    falling = (STEPS >= start) & (STEPS <= stop)
    h = np.where(falling, hi + (lo - hi) * (STEPS - start) / (stop - start), h)
    h = np.where(STEPS > stop, lo, h)
    test_loss = 10**h
    test_acc = np.clip((hi - h) / (hi - lo), 0, 1)
    return train_acc, test_loss, test_acc


def test_boundaries_of_a_clean_grokking_curve():
    ph = detect_phases(STEPS, *synthetic())
    assert ph.memorisation_end == pytest.approx(200, abs=10)
    # 10% and 90% of a log-linear fall from 1500 to 2500.
    assert ph.cleanup_start == pytest.approx(1600, abs=10)
    assert ph.cleanup_end == pytest.approx(2400, abs=10)
    assert ph.generalisation == pytest.approx(1500 + 0.95 * 1000, abs=10)
    names = [n for n, _, _ in ph.spans(STEPS[-1])]
    assert names == ["memorisation", "circuit formation", "cleanup"]


def test_other_fractions_move_the_boundaries_as_stated():
    ph = detect_phases(STEPS, *synthetic(), start_frac=0.25, end_frac=0.5)
    assert ph.cleanup_start == pytest.approx(1750, abs=10)
    assert ph.cleanup_end == pytest.approx(2000, abs=10)


def test_noise_before_the_peak_does_not_fake_a_cleanup():
    train_acc, test_loss, test_acc = synthetic()
    wiggle = 1 + 0.3 * np.sin(STEPS / 37.0) * (STEPS < 1500)
    ph = detect_phases(STEPS, train_acc, test_loss * wiggle, test_acc)
    assert 1500 <= ph.cleanup_start <= 1620


def test_no_memorisation_and_no_fall_give_no_phases():
    train_acc, test_loss, test_acc = synthetic()
    ph = detect_phases(STEPS, 0.5 * train_acc, test_loss, test_acc)
    assert ph.memorisation_end is None and ph.cleanup_start is None
    flat = np.full_like(STEPS, 3.0)
    ph = detect_phases(STEPS, train_acc, flat, np.zeros_like(STEPS))
    assert ph.memorisation_end == pytest.approx(200, abs=10)
    assert ph.cleanup_start is None and ph.cleanup_end is None and ph.generalisation is None
    assert [n for n, _, _ in ph.spans(4000)] == ["memorisation", "circuit formation"]


def test_bad_fractions_are_refused():
    with pytest.raises(ValueError):
        detect_phases(STEPS, *synthetic(), start_frac=0.9, end_frac=0.1)


def test_helpers():
    assert first_step([0, 10, 20], [False, True, True]) == 10
    assert first_step([0, 10], [False, False]) is None
    assert phase_mask([0, 10, 20, 30], 10, 20).tolist() == [False, True, True, False]
    assert not phase_mask([0, 10], None, 10).any()
    assert rate_per_step(STEPS, 2 * STEPS + 1, 100, 300) == pytest.approx(2.0)
    assert np.isnan(rate_per_step(STEPS, STEPS, None, 300))
    assert Phases(None, None, None, None).spans(10) == []


def test_rate_ratio_of_a_quantity_that_moves_in_cleanup():
    from goaldrift.experiments.grokking.phases import rate_ratio

    ph = detect_phases(STEPS, *synthetic())
    # Flat before cleanup, falling during it: ratio 0.
    q = np.where(STEPS < 1600, 5.0, 5.0 - (np.minimum(STEPS, 2400) - 1600) / 100)
    assert rate_ratio(STEPS, q, ph) == pytest.approx(0.0, abs=1e-12)
    # Uniform change: ratio 1; rising before, falling during: negative.
    assert rate_ratio(STEPS, -STEPS, ph) == pytest.approx(1.0)
    assert rate_ratio(STEPS, -np.abs(STEPS - 1600), ph) < 0
    assert np.isnan(rate_ratio(STEPS, STEPS, Phases(200, None, None, None)))
    assert np.isnan(rate_ratio(STEPS, np.ones_like(STEPS), ph))


def test_milestones_of_an_ensemble():
    from goaldrift.experiments.grokking.grokking_runs import milestones, sweep_grid

    steps = np.array([0, 10, 20, 30])
    metrics = {
        "step": steps,
        "train_acc": np.array([[0.1, 0.1], [1.0, 0.5], [1.0, 0.995], [1.0, 1.0]]),
        "test_acc": np.array([[0.0, 0.0], [0.2, 0.0], [0.96, 0.1], [1.0, 0.2]]),
        "weight_norm_sq": np.array([[4.0, 9.0], [9.0, 16.0], [1.0, 25.0], [1.0, 36.0]]),
    }
    m = milestones(metrics)
    assert m.memorisation.tolist() == [10, 20]
    assert m.generalisation[0] == 20 and np.isnan(m.generalisation[1])
    assert m.norm_at_memorisation.tolist() == [3.0, 5.0] and m.norm_at_generalisation[0] == 1.0
    assert m.delay[0] == 10 and np.isnan(m.delay[1])
    assert sweep_grid([1e-3], [0.5, 1.0], zero_decay_lr=3e-3) == [(1e-3, 0.5), (1e-3, 1.0), (3e-3, 0.0)]


def test_sweep_grid_caps_eta_lambda_and_adds_a_control_per_lr():
    from goaldrift.experiments.grokking.grokking_runs import sweep_grid

    grid = sweep_grid([0.005, 0.016], [0.1, 1.0, 3.0], zero_decay_lr=[0.005, 0.016], max_eta_lambda=0.016)
    assert grid == [(0.005, 0.1), (0.005, 1.0), (0.005, 3.0), (0.016, 0.1), (0.016, 1.0), (0.005, 0.0), (0.016, 0.0)]
    assert max(lr * wd for lr, wd in grid) <= 0.016


def test_worst_over_seeds_counts_an_undefined_seed_against_the_claim():
    from goaldrift.experiments.grokking.phases import worst_over_seeds

    assert worst_over_seeds([0.2, 0.7, 0.4]) == 0.7
    assert worst_over_seeds([0.2, 0.7, 0.4], min) == 0.2
    assert np.isnan(worst_over_seeds([0.2, float("nan"), 0.4]))
    assert np.isnan(worst_over_seeds([float("nan"), 5.0], min))
    assert np.isnan(worst_over_seeds([1.0, float("inf")]))


def test_generalisation_delay_is_the_ratio_of_the_two_steps():
    from goaldrift.experiments.grokking.phases import generalisation_delay

    ph = detect_phases(STEPS, *synthetic())
    # Synthetic curve: memorisation ends at 200, test accuracy reaches 0.95 at 1500 + 0.95 * 1000.
    assert generalisation_delay(ph) == pytest.approx(2450 / 200, rel=0.01)
    assert np.isnan(generalisation_delay(Phases(200.0, None, None, None)))
    assert np.isnan(generalisation_delay(Phases(None, None, None, 300.0)))
    assert np.isnan(generalisation_delay(Phases(0.0, None, None, 300.0)))
    # censored at a budget: the lower bound, budget over memorisation step
    assert generalisation_delay(Phases(200.0, None, None, None), 3000.0) == 15.0
    assert generalisation_delay(Phases(200.0, None, None, 300.0), 3000.0) == 1.5
    assert np.isnan(generalisation_delay(Phases(None, None, None, None), 3000.0))


def test_circuit_formation_change_reads_the_curves_at_the_phase_boundaries():
    from goaldrift.experiments.grokking.phases import circuit_formation_change

    ph = Phases(memorisation_end=200.0, cleanup_start=1600.0, cleanup_end=2400.0, generalisation=2450.0)
    excluded = 1.0 + STEPS / 1000           # 1.2 at step 200, 2.6 at step 1600: ratio 13/6
    test = 10.0 / (1.0 + STEPS / 200)       # 5 at step 200, 10/9 at step 1600: ratio 2/9
    c = circuit_formation_change(STEPS, excluded, test, ph)
    assert c.excluded_ratio == pytest.approx(2.6 / 1.2)
    assert c.test_ratio == pytest.approx(2 / 9)
    assert c.margin == pytest.approx(min(2.6 / 1.2 - 1, 7 / 9))
    # Excluded loss falling: the margin is negative and says so.
    c = circuit_formation_change(STEPS, 1 / excluded, test, ph)
    assert c.margin == pytest.approx(1.2 / 2.6 - 1) and c.margin < 0
    missing = circuit_formation_change(STEPS, excluded, test, Phases(200.0, None, None, None))
    assert all(np.isnan(v) for v in (missing.margin, missing.excluded_ratio, missing.test_ratio))


def test_cleanup_sharpness_needs_the_expected_direction_in_cleanup():
    from goaldrift.experiments.grokking.phases import cleanup_sharpness

    ph = Phases(memorisation_end=200.0, cleanup_start=1600.0, cleanup_end=2400.0, generalisation=2450.0)
    # Falls by 1 over circuit formation (1400 steps) and by 8 over cleanup (800 steps): ratio (1/1400)/(8/800).
    falling = np.interp(STEPS, [0, 200, 1600, 2400, 4000], [10, 10, 9, 1, 1])
    assert cleanup_sharpness(STEPS, falling, ph, -1) == pytest.approx((1 / 1400) / (8 / 800))
    assert np.isnan(cleanup_sharpness(STEPS, falling, ph, +1))      # expected to rise, but fell
    assert cleanup_sharpness(STEPS, -falling, ph, +1) == pytest.approx((1 / 1400) / (8 / 800))
    assert np.isnan(cleanup_sharpness(STEPS, falling, Phases(200.0, None, None, None), -1))


def test_boundaries_over_the_published_ones():
    from goaldrift.experiments.grokking.phases import over_published

    r = over_published(Phases(memorisation_end=700.0, cleanup_start=9400.0, cleanup_end=None, generalisation=1e4))
    assert r["memorisation_end"] == pytest.approx(0.5)   # 700 / 1400
    assert r["cleanup_start"] == 1.0
    assert np.isnan(r["cleanup_end"])


def test_published_setting_is_recognised_exactly():
    from goaldrift.experiments.grokking.phases import is_published_setting

    published = dict(p=113, train_frac=0.3, d_model=128, learning_rate=0.001, weight_decay=1.0)
    assert is_published_setting(**published)
    assert not is_published_setting(**{**published, "p": 47})
    assert not is_published_setting(**{**published, "learning_rate": 0.003})


def test_step_text_dashes_what_is_missing():
    from goaldrift.experiments.grokking.phases import step_text

    assert step_text(None) == "—" and step_text(float("nan")) == "—" and step_text(np.inf) == "—"
    assert step_text(1234.4) == "1234" and step_text(0.01234, ".3g") == "0.0123"


def test_phase_table_has_a_row_per_seed():
    from goaldrift.experiments.grokking.phases import phase_table

    table = phase_table([3, 4], [[2, 7], []], [Phases(100.0, 400.0, 700.0, 650.0), Phases(None, None, None, None)])
    lines = table.splitlines()
    assert lines[2] == "| 3 | 2, 7 | 100 | 400 | 700 | 650 |"
    assert lines[3] == "| 4 | none | — | — | — | — |"


def test_published_comparison_ratios_and_readings():
    from goaldrift.experiments.grokking.phases import PUBLISHED_SETTING, published_comparison

    phases = [Phases(1400.0, 4700.0, 13300.0, None), Phases(2800.0, None, 6650.0, None)]
    at = published_comparison([0, 1], phases, 200, **PUBLISHED_SETTING)
    assert at.published_setting
    assert at.ratios["memorisation_end"] == [1.0, 2.0] and at.ratios["cleanup_start"][0] == 0.5
    assert np.isnan(at.ratios["cleanup_start"][1]) and at.ratios["cleanup_end"] == [1.0, 0.5]
    assert "memorisation ends at 1.00× to 2.00× the published step" in at.reading
    assert "cleanup starts at 0.50× to 0.50×" in at.reading and "read every 200 steps" in at.reading
    assert "| 1 | 2800 (2.00×) | — (nan×) | 6650 (0.50×) |" in at.table
    assert "published phases themselves" in at.setting_reading
    off = published_comparison([0, 1], phases, 200, **{**PUBLISHED_SETTING, "p": 47})
    assert not off.published_setting and "does not use the published setting" in off.reading
    assert "fast setting" in off.setting_reading and off.table == at.table
