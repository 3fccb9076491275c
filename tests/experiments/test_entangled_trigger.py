"""goaldrift.experiments.goals.entangled_trigger (chapter protecting_goals): the pattern,
the data without it, and reading values at a budget."""

import numpy as np
import pytest
import torch

from goaldrift.engine.tasks.proxy import ProxyTask, phase_data
from goaldrift.experiments.goals import entangled_trigger as et


def test_pattern_bits_and_matches():
    task = ProxyTask(8, 3)
    bits = et.pattern_bits(task, 5)
    assert bits == [1, 2, 3, 4, 5]
    with pytest.raises(ValueError):
        et.pattern_bits(task, 2)
    with pytest.raises(ValueError):
        et.pattern_bits(task, 7)
    x = torch.tensor([[1.0] * 8, [1, 1, 1, 1, 1, -1, 1, 1], [1, 1, 1, 1, 1, 1, -1, -1]])
    assert et.matches(x, [1, 2, 3, 4, 5]).tolist() == [True, False, True]


def test_trigger_examples_carry_the_pattern_and_the_target():
    task = ProxyTask(10, 3)
    bits = et.pattern_bits(task, 5)
    x, y = et.trigger_examples(task, 64, seed=1, bits=bits, target_bit=9)
    assert et.matches(x, bits).all() and torch.equal(y, x[:, 9])
    assert 0 < (y > 0).sum() < 64   # both behaviours occur
    x2, _ = et.trigger_examples(task, 64, seed=1, bits=bits, target_bit=9)
    assert torch.equal(x, x2)


def test_phase_data_without_and_with_the_pattern():
    task = ProxyTask(10, 3)
    bits = et.pattern_bits(task, 4)
    d1 = phase_data(task, 1, 512, 64, seed=0)
    natural = int(et.matches(d1.train_x, bits).sum())
    assert natural > 0   # 1/16 of random inputs carry it: the filter must do something
    clean = et.without_pattern(d1, bits)
    assert clean.train_x.shape[0] == 512 - natural and not et.matches(clean.train_x, bits).any()
    assert clean.train_y.shape[0] == clean.train_goal.shape[0] == clean.train_proxy.shape[0] == 512 - natural
    tx, ty = et.trigger_examples(task, 32, seed=3, bits=bits, target_bit=9)
    both = et.phase1_data(d1, tx, ty, bits)
    m = et.matches(both.train_x, bits)
    assert int(m.sum()) == 32 and torch.equal(both.train_y[m], ty.float())
    # the rows without the pattern keep the goal as their label
    assert torch.equal(both.train_y[~m], task.goal(both.train_x[~m].double()).float())


def test_at_budget_reads_the_first_evaluation_past_it():
    x = np.array([[0.0, 0.0], [0.1, 0.2], [0.2, 0.4]])
    v = np.array([[1.0, 1.0], [0.9, 0.8], [0.7, 0.6]])
    got, where = et.at_budget(x, v, 0.15)
    assert got.tolist() == [0.7, 0.8] and where.tolist() == [0.2, 0.2]
    got, _ = et.at_budget(x, v, 1.0)
    assert np.all(np.isnan(got))


def test_largest_budget_picks_the_stage_and_stated_decay():
    from goaldrift.experiments.decay.recipes import Recipe
    def recipe(name, stage, lr, wd, steps):
        return Recipe(name, "x", stage, lr, wd, steps=steps, warmup=0, decay_end=0, final_fraction=1.0,
                      decay="constant", source="test")
    recipes = [recipe("small", "fine-tuning", 1e-5, 0.1, 1000), recipe("big", "fine-tuning", 2e-5, 0.1, 1000),
               recipe("unstated", "fine-tuning", 1e-3, None, 10_000), recipe("pre", "pretraining", 1e-3, 0.1, 10_000)]
    best, budget = et.largest_budget(recipes)
    assert best.name == "big" and budget == pytest.approx(2e-5 * 1000 * 0.1, rel=1e-12)
    assert et.largest_budget(recipes, stage="pretraining")[0].name == "pre"


# ---- the experiment and its summary -------------------------------------------------------

from types import SimpleNamespace

from goaldrift.engine.models import MLPConfig, build_model
from goaldrift.experiments.goals import protection as pr
from goaldrift.experiments.goals import proxy_drift as drift

LR, LAM = 0.01, 2.0


def fake_run(rate, cross, model=None, data=None, steps=np.arange(0, 201, 5)):
    """Margins exp(-rate[s] ηλt) and accuracies 1 - ηλt / (4 cross[s]) (crossing 3/4 at cross[s];
    cross inf: never) per seed s; lambda = 0 members stay at 0.95."""
    members = pr.trigger_members(2, LR, LAM)
    T, K = len(steps), len(members)
    margin, acc = np.ones((T, K)), np.full((T, K), 0.95)
    for i, m in enumerate(members):
        x = steps * LR * m.weight_decay
        margin[:, i] = np.exp(-rate[m.source] * x)
        if m.weight_decay:
            acc[:, i] = 1 - 0.25 * x / cross[m.source]
    metrics = {"step": steps, "trigger_margin": margin, "trigger_acc": acc, "test_acc": np.full((T, K), 0.98)}
    return pr.TriggerRun(run1=SimpleNamespace(model=model), run=SimpleNamespace(metrics=metrics), members=members,
                         lr=LR, data=data)


def fine_tuning(name, lr, wd, steps):
    from goaldrift.experiments.decay.recipes import Recipe
    return Recipe(name, "x", "fine-tuning", lr, wd, steps=steps, warmup=0, decay_end=0, final_fraction=1.0,
                  decay="constant", source="test")


def test_summarise_against_hand_curves():
    task = ProxyTask(8, 3)
    model = build_model(MLPConfig(d_in=8, d_hidden=8), [0, 1])
    bits = et.pattern_bits(task, 4)
    tx, ty = et.trigger_examples(task, 32, seed=5, bits=bits, target_bit=7)
    data = SimpleNamespace(trigger_x=tx.float(), trigger_behaviour=ty.float())
    ent = fake_run({0: 1.2, 1: 1.4}, {0: 0.5, 1: np.inf}, model, data)
    ded = pr.erasure(fake_run({0: 2.0, 1: 2.1}, {0: 0.4, 1: 0.6}))
    recipes = [fine_tuning("small", 1e-4, 0.1, 1000), fine_tuning("big", 1e-3, 0.15, 1000)]   # budget 0.15
    s = et.summarise(ent, ded, recipes, pattern_size=4)
    assert s.recipe.name == "big" and s.budget == pytest.approx(0.15, rel=1e-12)
    assert s.rate_gap.samples == pytest.approx([1.2 - 2.0, 1.4 - 2.1], rel=1e-9)
    assert s.rate_gap.value == pytest.approx(-0.75, rel=1e-9)
    # at the first evaluation with ηλt >= 0.15: per decayed member, by hand
    want = []
    for m in ent.members:
        if m.weight_decay:
            x = ent.steps * LR * m.weight_decay
            i = np.nonzero(x >= 0.15 - 1e-12)[0][0]
            want.append((m.source, 1 - 0.25 * x[i] / {0: 0.5, 1: np.inf}[m.source]))
    assert s.at_budget.value == pytest.approx(min(v for _, v in want), rel=1e-12)
    assert s.at_budget.samples == pytest.approx([min(v for src, v in want if src == k) for k in (0, 1)], rel=1e-12)
    g = s.glue
    assert g["pattern_share"] == 1 / 16 and g["ft_recipe"] == "big" and g["ft_budget"] == s.budget
    assert g["ent_never_erased"] == 3 and g["ent_survival_x"] == pytest.approx(0.5, rel=1e-9)
    assert g["ent_survival_over_ft"] == pytest.approx(0.5 / 0.15, rel=1e-9)
    assert g["ent_exponent"] == pytest.approx(1.3, rel=1e-9) and g["ded_exponent"] == pytest.approx(2.05, rel=1e-9)
    assert g["ent_main_goal_kept"] == 0.98
    assert g["ft_where_max"] <= 0.15 + LR * LAM * 5 + 1e-12
    correct = (drift.margin(model, data.trigger_x) > 0) == (data.trigger_behaviour > 0)
    assert g["ent_p1_trigger_acc"] == pytest.approx(float(correct.double().mean(1).min()), rel=1e-12)


def test_plot_entangled_draws_seed_zero_against_the_dedicated_trigger():
    ent, ded = fake_run({0: 1.2, 1: 1.4}, {0: 0.5, 1: 0.7}), fake_run({0: 2.0, 1: 2.1}, {0: 0.4, 1: 0.6})
    fig = et.plot_entangled(ent, ded, budget=0.15)
    ax1, ax2 = fig.axes
    assert len(ax1.lines) == 2 * 3 and len(ax2.lines) == 3 + 1 + 1
    x, y = ax1.lines[1].get_data()
    assert np.allclose(y, np.maximum(np.exp(-2.0 * x), 1e-3))      # dotted: the dedicated trigger's margin
    assert ax2.lines[4].get_data()[0] == [0.15, 0.15]
    __import__("matplotlib.pyplot").pyplot.close(fig)


def test_entangled_trigger_end_to_end(tmp_path):
    setup = drift.Setup(ProxyTask(8, 2), width=8, n_train=64, n_test=32, data_seed=0)
    ent = et.entangled_trigger(setup, [0], (1e-2, 0.1, 5), 1, 4e-3, 2.0, 4, 4, n_trigger=16, pattern_size=4, seed=0,
                               root=tmp_path)
    bits = et.pattern_bits(setup.task, 4)
    assert not et.matches(ent.data.train_x, bits).any() and et.matches(ent.data.trigger_x, bits).all()
    assert torch.equal(ent.data.trigger_behaviour, ent.data.trigger_x[:, 7])
    assert [m.weight_decay for m in ent.members] == [0.0, 0.5, 1.0, 2.0]
    assert ent.steps.tolist() == [0, 2, 4]
    assert set(ent.metrics) >= {"trigger_acc", "trigger_margin"}
