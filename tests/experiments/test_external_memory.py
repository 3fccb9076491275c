"""goaldrift.experiments.goals.external_memory (chapter protecting_goals): the store
reader's two phases, against a plain gradient-descent check of the read gain."""

import numpy as np
import torch

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
