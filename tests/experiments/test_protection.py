"""goaldrift.experiments.goals.protection (chapter protecting_goals): what a claim records
(a value with its per-seed samples), and the dedicated trigger's run and erasure measures,
against hand-built curves whose answers are computed another way."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from goaldrift.engine.tasks.proxy import ProxyTask
from goaldrift.experiments.goals import protection as pr
from goaldrift.experiments.goals import proxy_drift as drift


def test_lowest_highest_and_mean_keep_their_samples():
    x = np.array([0.3, -1.5, 2.25])
    assert pr.lowest(x).value == -1.5 and pr.highest(x).value == 2.25
    assert pr.mean_of(x).value == pytest.approx((0.3 - 1.5 + 2.25) / 3, rel=1e-15)
    for m in (pr.lowest(x), pr.highest(x), pr.mean_of(x)):
        assert isinstance(m.value, float) and m.samples is x


def test_per_seed_reduces_each_network_in_sorted_order():
    values = [1.0, 2.0, 10.0, 4.0, 20.0, 6.0]
    sources = [1, 1, 0, 1, 0, 2]
    assert pr.per_seed(values, sources).tolist() == [15.0, 7.0 / 3, 6.0]
    assert pr.per_seed(values, sources, np.min).tolist() == [10.0, 1.0, 6.0]
    # the same as the book's own reduction over seeds
    from goaldrift.book.claims import by_seed
    assert np.array_equal(pr.per_seed(values, sources, np.max), by_seed(values, sources, np.max))


def test_trigger_members_cover_every_seed_and_decay():
    assert pr.trigger_lambdas(2.0) == [0.0, 0.5, 1.0, 2.0]
    members = pr.trigger_members(2, 4e-3, 2.0)
    assert [(m.source, m.weight_decay) for m in members] == [(s, wd) for s in (0, 1) for wd in (0.0, 0.5, 1.0, 2.0)]
    assert {m.lr for m in members} == {4e-3}
    assert pr.trigger_eval_every(25) == 12 and pr.trigger_eval_every(1) == 1
    assert pr.trigger_target_bit(ProxyTask(12, 3)) == 11


LR, LAM = 0.01, 2.0
RATE = {0: 1.5, 1: 2.5}      # the margin's exponent p per seed
CROSS = {0: 0.4, 1: 0.6}     # the eta*lambda*t at which the trigger accuracy crosses 3/4, per seed


def fake_trigger_run(steps=np.arange(0, 201, 5)):
    """Margins exactly exp(-p ηλt), accuracies linear in ηλt crossing 3/4 at CROSS, row norms
    exactly (1 - ηλ)^t: every measure has an answer known in closed form."""
    members = pr.trigger_members(2, LR, LAM)
    T, K = len(steps), len(members)
    margin, acc, row = np.ones((T, K)), np.ones((T, K)), np.ones((T, K))
    for i, m in enumerate(members):
        x = steps * LR * m.weight_decay
        margin[:, i] = 0.7 * np.exp(-RATE[m.source] * x)
        acc[:, i] = 1 - 0.25 * x / CROSS[m.source] if m.weight_decay else 0.96 - 0.01 * m.source
        row[:, i] = 2.0 * (1 - LR * m.weight_decay) ** steps
    metrics = {"step": steps, "trigger_margin": margin, "trigger_acc": acc, "trigger_row_norm": row,
               "test_acc": np.full((T, K), 0.99) - 0.001 * np.arange(K)}
    run = SimpleNamespace(metrics=metrics)
    return pr.TriggerRun(run1=None, run=run, members=members, lr=LR, data=None)


def test_trigger_run_properties():
    trig = fake_trigger_run()
    assert trig.weight_decays.tolist() == [0.0, 0.5, 1.0, 2.0] * 2
    assert trig.decays.tolist() == [False, True, True, True] * 2
    assert trig.sources.tolist() == [0, 0, 0, 1, 1, 1]


def test_erasure_against_the_closed_forms():
    trig = fake_trigger_run()
    er = pr.erasure(trig)
    # the fitted exponents are the constructed rates (the fit window is x <= 1)
    assert er.exponents == pytest.approx([1.5] * 3 + [2.5] * 3, rel=1e-9)
    assert er.exponent.value == pytest.approx(2.0, rel=1e-9)
    assert er.exponent.samples == pytest.approx([1.5, 2.5], rel=1e-9)
    # erasure points: where 1 - x / (4 c) = 3/4, i.e. x = c; linear curves are interpolated exactly
    assert er.survival == pytest.approx([0.4] * 3 + [0.6] * 3, rel=1e-9)
    assert er.survival_mean == pytest.approx(0.5, rel=1e-9)
    assert er.spread.value == pytest.approx(np.log(0.6 / 0.4) / 2, rel=1e-6)   # std of {log .4, log .6} x3
    assert er.spread.samples == pytest.approx([0.0, 0.0], abs=1e-9)
    assert er.without_decay.value == 0.95 and er.without_decay.samples.tolist() == [0.96, 0.95]
    assert er.main_goal_kept == pytest.approx(0.99 - 0.007, rel=1e-12)


def test_trigger_row_checks():
    trig = fake_trigger_run()
    assert pr.trigger_row_error(trig) == pytest.approx(0.0, abs=1e-12)
    assert pr.trigger_row_change_without_decay(trig) == 0.0
    trig.metrics["trigger_row_norm"][7, 4] += 0.125        # a lambda = 0 member (seed 1) moved
    assert pr.trigger_row_change_without_decay(trig) == 0.125
    trig.metrics["trigger_row_norm"][3, 2] *= 1.02         # a decayed member off its law
    assert pr.trigger_row_error(trig) == pytest.approx(0.02, rel=1e-9)


def test_plot_trigger_draws_seed_zero_against_both_rates():
    trig = fake_trigger_run()
    fig = pr.plot_trigger(trig)
    ax1, ax2 = fig.axes
    assert len(ax1.lines) == 2 * 3 + 2 and len(ax2.lines) == 3      # margin and row per decayed member, 2 laws
    x, y = ax2.lines[2].get_data()
    assert np.allclose(x, trig.steps * LR * LAM) and np.allclose(y, trig.metrics["trigger_acc"][:, 3])
    pr.plots.plt.close(fig)


def test_dedicated_trigger_end_to_end(tmp_path):
    """A few real steps: the trigger's input weights get exactly no gradient in phase 2, so at
    lambda = 0 they do not move and with decay they follow (1 - eta*lambda)^t."""
    setup = drift.Setup(ProxyTask(6, 2), width=8, n_train=32, n_test=32, data_seed=0)
    trig = pr.dedicated_trigger(setup, [0], (1e-2, 0.1, 5), 1, 4e-3, 2.0, 6, 4, n_trigger=16, seed=0, root=tmp_path)
    assert trig.run1.model.W_0.shape[1] == 7                      # the trigger is one more input
    assert torch.all(trig.data.train_x[:, 6] == 0) and torch.all(trig.data.trigger_x[:, 6] == 1)
    assert trig.steps.tolist() == [0, 2, 4, 6]                     # evaluated at half of eval_every
    assert pr.trigger_row_change_without_decay(trig) == 0.0
    assert pr.trigger_row_error(trig) < 4 * 6 * 2.0**-24
    start = trig.run1.model.W_0.detach()[0, 6]
    end = trig.run.model.W_0.detach()
    for i, m in enumerate(trig.members):
        assert torch.allclose(end[i, 6], start * (1 - 4e-3 * m.weight_decay) ** 6, rtol=1e-5)
    assert math.isfinite(pr.erasure(trig).main_goal_kept)
