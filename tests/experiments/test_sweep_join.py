"""A sweep of ensembles with different budgets, joined per seed: cleanup_scaling's third eta."""

from types import SimpleNamespace

import numpy as np
import pytest

from goaldrift.experiments.grokking import clock
from goaldrift.experiments.grokking import grokking_runs as gr


def fake_run(steps_axis, K, budget, offset=0.0, trained=False):
    T = len(steps_axis)
    acc = np.linspace(0, 1, T)[:, None] * np.ones(K) + offset
    return SimpleNamespace(
        metrics={"step": np.asarray(steps_axis), "test_acc": acc, "train_acc": np.ones((T, K)),
                 "weight_norm_sq": np.full((T, K), 4.0), "step_loss": np.zeros((budget, K))},
        config=SimpleNamespace(steps=budget, K=K), trained=trained)


def test_join_pads_the_shorter_ensemble_with_nan_and_keeps_budgets():
    short = fake_run([0, 50, 100], K=2, budget=100)
    long = fake_run([0, 50, 100, 150, 200], K=1, budget=200, trained=True)
    j = gr.join_ensembles([short, long])
    assert j.metrics["step"].tolist() == [0, 50, 100, 150, 200]
    assert j.metrics["test_acc"].shape == (5, 3) and j.metrics["step_loss"].shape == (200, 3)
    np.testing.assert_array_equal(j.metrics["test_acc"][:3, :2], short.metrics["test_acc"])
    assert np.isnan(j.metrics["test_acc"][3:, :2]).all() and np.isnan(j.metrics["step_loss"][100:, :2]).all()
    np.testing.assert_array_equal(j.metrics["test_acc"][:, 2], long.metrics["test_acc"][:, 0])
    assert j.budgets.tolist() == [100, 100, 200] and j.trained
    ms = gr.milestones(j.metrics)  # nan after a budget never counts as reaching a level
    assert ms.generalisation.tolist() == [100.0, 100.0, 200.0]


def test_join_refuses_different_evaluation_steps():
    with pytest.raises(ValueError, match="same steps"):
        gr.join_ensembles([fake_run([0, 40, 80], 1, 80), fake_run([0, 50, 100, 150], 1, 150)])


def test_cleanup_sweep_adds_the_slow_ensemble_after_the_unchanged_first_one():
    args = dict(seed=3, n_seeds=2, p=23, train_frac=0.8, d_model=32, lr_low=0.01, lr_high=0.02, wd_min=0.1, wd_max=0.8,
                n_wd=3, max_eta_lambda=0.016, warmup_steps=10, steps=4000, eval_every=50)
    grid2, seeds, two = gr.cleanup_sweep(**args)
    grid3, seeds3, three = gr.cleanup_sweep(**args, lr_slow=0.005, slow_steps=16000)
    assert seeds == seeds3 == [3, 4] and len(two) == 2 and len(three) == 4
    assert [c.to_dict() for c in three[0::2]] == [c.to_dict() for c in two]  # the same runs, so the cache holds them
    slow = three[1]
    assert slow.steps == 16000 and slow.data_seed == 3 and slow.seeds == [3] * 4
    assert grid3[:len(grid2)] == grid2
    assert grid3[len(grid2):] == [(0.005, pytest.approx(w)) for w in np.geomspace(0.1, 0.8, 3)] + [(0.005, 0.0)]
    assert list(slow.optim.lr) == [g[0] for g in grid3[len(grid2):]]


def test_critical_norm_fit_on_a_padded_run_equals_the_fit_on_its_own_steps():
    steps = np.arange(0, 500, 50, dtype=float)
    own = np.column_stack([30 * np.exp(-0.004 * steps[:6]), 30 * np.exp(-0.002 * steps[:6])])
    padded = np.vstack([own, np.full((4, 2), np.nan)])
    t_mem, delay = np.array([50.0, 50.0]), np.array([150.0, 400.0])  # the second never reaches a low N_c in its budget
    assert clock.critical_norm_rms(steps, padded, t_mem, delay) == clock.critical_norm_rms(steps[:6], own, t_mem, delay)
