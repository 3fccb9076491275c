"""goaldrift.experiments.goals.exempt_memory (chapter protecting_goals): the memory's
masks per variant, and one AdamW step by hand: exempt elements skip exactly the decay term."""

import numpy as np
import torch

from goaldrift.engine.tasks.proxy import ProxyTask
from goaldrift.experiments.goals import exempt_memory as xmem
from goaldrift.experiments.goals import protection as pr
from goaldrift.experiments.goals import proxy_drift as drift


def test_memory_masks_per_variant():
    task = ProxyTask(6, 2)
    shapes = {"W_0": torch.Size([1, 6, 4]), "b_0": torch.Size([1, 4]), "W_1": torch.Size([1, 4, 1]),
              "b_1": torch.Size([1, 1])}
    none, memory, both = (xmem.memory_masks(shapes, task, v) for v in xmem.VARIANTS)
    assert not any(m.any() for m in none.values())
    assert memory["W_0"][0, [1, 2]].all() and not memory["W_0"][0, [0, 3, 4, 5]].any()
    assert memory["b_0"].all() and not memory["W_1"].any() and not memory["b_1"].any()
    assert both["W_1"].all() and torch.equal(both["W_0"], memory["W_0"])


def test_memory_phase2_exempt_elements_skip_the_decay(tmp_path):
    task = ProxyTask(6, 2)
    setup = drift.Setup(task, width=8, n_train=32, n_test=32, data_seed=0)
    run1 = drift.phase1(setup, [0, 1], 1e-2, 0.1, 5, root=tmp_path)
    lr, lam = 1e-2, 2.0
    res = xmem.memory_phase2(setup, run1, 2, lr, lam, 1, eval_every=1, root=tmp_path)
    assert res.plan == list(xmem.VARIANTS) * 2
    start, end = run1.model.state_dict(), res.run.model.state_dict()
    rows = drift.complex_inputs(task)
    for s in range(2):
        none, memory, both = 3 * s, 3 * s + 1, 3 * s + 2
        # same start and gradient in every member of a seed: they differ only by the decay lr * lam * theta_0
        w0 = start["W_0"][s, rows]
        assert torch.allclose(end["W_0"][memory, rows] - end["W_0"][none, rows], lr * lam * w0, atol=1e-6)
        assert torch.allclose(end["W_1"][both] - end["W_1"][memory], lr * lam * start["W_1"][s], atol=1e-6)
        assert torch.equal(end["W_1"][memory], end["W_1"][none])
    kept = res.run.metrics["complex_norm"][-1] / res.run.metrics["complex_norm"][0]
    assert np.array_equal(res.by_variant(res.kept, xmem.VARIANTS[1]), kept[[1, 4]])
    assert res.by_variant(res.agreement, xmem.VARIANTS[2]).shape == (2,)
