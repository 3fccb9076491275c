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
