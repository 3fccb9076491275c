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


def hand_memory():
    plan = list(xmem.VARIANTS) * 2
    kept = np.array([0.4, 0.97, 0.99, 0.5, 0.93, 0.98])
    agreement = np.array([0.0, 0.05, 0.96, 0.02, 0.01, 0.92])
    steps = np.array([0, 10, 20])
    metrics = {"step": steps, "conflict_agreement": np.tile(agreement, (3, 1)),
               "complex_norm": np.tile(kept, (3, 1)), "simple_norm": np.ones((3, 6))}
    return xmem.MemoryResult(plan, kept, agreement, run=type("Run", (), {"metrics": metrics})())


def test_summary_picks_each_variant_and_its_worst_seed():
    s = hand_memory().summary()
    assert s.kept.value == 0.93 and s.kept.samples.tolist() == [0.97, 0.93]
    assert s.drifted.value == 0.05 and s.drifted.samples.tolist() == [0.05, 0.01]
    assert s.held.value == 0.92 and s.held.samples.tolist() == [0.96, 0.92]
    assert s.kept_baseline == 0.5


def test_plot_memory_draws_seed_zero_per_variant():
    fig = xmem.plot_memory(hand_memory(), 0.01, 2.0, drift_point=0.35)
    ax1, ax2 = fig.axes
    assert len(ax1.lines) == 3 + 1 and len(ax2.lines) == 2 * 3
    x, y = ax1.lines[2].get_data()
    assert np.allclose(x, [0, 0.2, 0.4]) and y.tolist() == [0.96] * 3
    assert ax1.lines[3].get_data()[0] == [0.35, 0.35]
    __import__("matplotlib.pyplot").pyplot.close(fig)
