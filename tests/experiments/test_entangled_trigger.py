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
