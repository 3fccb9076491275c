"""goaldrift.experiments.goals.external_memory (chapter protecting_goals): the store
reader's two phases, against a plain gradient-descent check of the read gain."""

import numpy as np
import pytest
import torch

from goaldrift.engine.models import build_model
from goaldrift.engine.models.store import parity_table
from goaldrift.engine.tasks.proxy import ProxyTask
from goaldrift.experiments.goals import external_memory as em
from goaldrift.experiments.goals import proxy_drift as drift


def test_store_phase2_exempt_read_is_not_decayed_and_decayed_read_follows_sgd(tmp_path):
    task = ProxyTask(n_bits=6, k=2)
    setup = drift.Setup(task, width=8, n_train=64, n_test=32, data_seed=0)
    run1 = drift.phase1(setup, [0, 1], 0.01, 0.1, 20, model=em.store_model(setup), root=tmp_path)
    lr, lam = 0.05, 1.0
    res = em.store_phase2(setup, run1, 2, lr, lam, 1, eval_every=1, root=tmp_path)
    assert [p[1] for p in res.plan] == list(em.VARIANTS) * 2
    # one SGD step by hand (engine: coupled L2, mse = mean (out - y)^2), from phase 1's end
    model = run1.model
    d2 = setup.data(2)
    out = model.predict(d2.train_x)[..., 0]
    read_value = model.read_value(d2.train_x)
    grad = (2 * (out - d2.train_y[None]) * read_value[None]).mean(1)       # d mse / d read, per seed
    r0 = model.read.detach()[:, 0]
    want_decayed = r0 - lr * (grad + lam * r0)
    want_exempt = r0 - lr * grad
    got = torch.tensor(res.read, dtype=torch.float32)
    assert torch.allclose(got[0::2], want_decayed.detach(), rtol=1e-5)
    assert torch.allclose(got[1::2], want_exempt.detach(), rtol=1e-5)
    assert np.allclose(res.read_start, r0.numpy()[[0, 0, 1, 1]])
    assert res.by_variant(res.read, em.VARIANTS[1]).shape == (2,)


def test_derived_read_gain_is_the_minimiser_of_the_regularised_loss():
    # J(a) = (1 - a)^2 + lambda/2 a^2 (decayed): a* = 2 / (2 + lambda); exempt: a* = 1
    assert em.derived_read_gain(em.VARIANTS[0], 1.0) == pytest.approx(2 / 3, rel=1e-12)
    assert em.derived_read_gain(em.VARIANTS[0], 0.5) == pytest.approx(0.8, rel=1e-12)
    assert em.derived_read_gain(em.VARIANTS[1], 1.0) == pytest.approx(1.0, rel=1e-12)


def test_store_change_is_zero_only_for_an_untouched_buffer():
    setup = drift.Setup(ProxyTask(n_bits=6, k=2), width=8, n_train=16, n_test=16, data_seed=0)
    model = build_model(em.store_model(setup), [0])
    result = type("Result", (), {"run": type("Run", (), {"model": model})()})()
    assert em.store_change(result, setup) == 0.0
    model.store[1] += 0.25
    assert em.store_change(result, setup) == 0.25
    model.store = torch.nn.Parameter(parity_table(2).float())   # a store the optimiser would train
    assert em.store_change(result, setup) == 1.0


def test_derived_read_gains_by_short_name():
    assert em.derived_read_gains(1.0) == pytest.approx({"decayed": 2 / 3, "exempt": 1.0}, rel=1e-12)


def test_summarise_against_the_hand_numbers():
    setup = drift.Setup(ProxyTask(n_bits=6, k=2), width=8, n_train=16, n_test=16, data_seed=0)
    model = build_model(em.store_model(setup), [0, 1, 2, 3])
    run = type("Run", (), {"model": model})()
    plan = [(s, v) for s in range(2) for v in em.VARIANTS]
    res = em.StoreResult(plan, agreement=np.array([0.02, 0.97, 0.06, 0.93]), read=np.array([0.6, 1.01, 0.7, 0.99]),
                         read_start=np.array([0.9, 0.9, 0.8, 0.8]), mlp_norm=np.array([0.01, 0.02, 0.03, 0.005]),
                         run=run)
    s = em.summarise(res, setup, 1.0)
    assert s.store_change == 0.0
    assert s.drifted.value == 0.06 and s.drifted.samples.tolist() == [0.02, 0.06]
    assert s.held.value == 0.93 and s.held.samples.tolist() == [0.97, 0.93]
    assert list(s.read_ratio) == ["decayed", "exempt"]
    assert s.read_ratio["decayed"].samples == pytest.approx([0.6 * 1.5, 0.7 * 1.5], rel=1e-12)
    assert s.read_ratio["decayed"].value == pytest.approx(0.975, rel=1e-12)
    assert s.read_ratio["exempt"].value == pytest.approx(1.0, rel=1e-12)
    assert s.a_star == pytest.approx({"decayed": 2 / 3, "exempt": 1.0}, rel=1e-12)
    assert s.glue == pytest.approx({"store_mlp_norm_max": 0.03, "store_read_decayed_mean": 0.65,
                                    "store_p1_read_min": 0.8})


def test_store_runs_is_phase1_then_store_phase2(tmp_path):
    setup = drift.Setup(ProxyTask(n_bits=6, k=2), width=8, n_train=32, n_test=32, data_seed=0)
    got = em.store_runs(setup, [0], (0.01, 0.1, 5), 1, 0.05, 1.0, 2, 1, root=tmp_path)
    run1 = drift.phase1(setup, [0], 0.01, 0.1, 5, model=em.store_model(setup), root=tmp_path)
    want = em.store_phase2(setup, run1, 1, 0.05, 1.0, 2, eval_every=1, root=tmp_path)
    assert np.array_equal(got.read, want.read) and np.array_equal(got.read_start, want.read_start)
    assert np.array_equal(got.agreement, want.agreement)
