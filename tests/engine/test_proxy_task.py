"""The proxy task family: the three data sets do what their names say, every split is seeded."""

import pytest
import torch

from goaldrift.engine.tasks.proxy import ProxyTask, phase_data, sample_set, trigger_set


@pytest.mark.parametrize("task", [ProxyTask(12, 3), ProxyTask(10, 5), ProxyTask(8, 3, family="slab"),
                                  ProxyTask(12, 3, reverse=True), ProxyTask(9, 2, trigger=True)])
def test_sets_relate_goal_and_proxy_as_named(task):
    p1 = sample_set(task, "phase1", 512, seed=4)
    p2 = sample_set(task, "phase2", 512, seed=4)
    cf = sample_set(task, "conflict", 512, seed=4)
    # phase 1: exactly independent (the sample correlation of the two ±1 rules is 0)
    assert float((task.goal(p1) * task.proxy(p1)).sum()) == 0.0
    assert torch.equal(task.goal(p2), task.proxy(p2))
    assert torch.equal(task.goal(cf), -task.proxy(cf))
    for x in (p1, p2, cf):
        bits = x[:, [i for i in range(task.n_bits) if not (task.family == "slab" and i == 1)]]
        assert set(bits.unique().tolist()) <= {-1.0, 1.0}


def test_rules_by_hand():
    x = torch.tensor([[1.0, -1, -1, 1, 1], [-1.0, 1, -1, 1, -1]])
    t = ProxyTask(5, 3)
    assert t.goal(x).tolist() == [1.0, -1.0]        # parity of bits 1..3
    assert t.proxy(x).tolist() == [1.0, -1.0]       # bit 0
    r = ProxyTask(5, 3, reverse=True)
    assert torch.equal(r.goal(x), t.proxy(x)) and torch.equal(r.proxy(x), t.goal(x))
    s = ProxyTask(3, 3, family="slab")
    u = torch.tensor([[1.0, -0.9, 1], [1.0, 0.0, 1], [1.0, 0.9, 1]])
    assert s.goal(u).tolist() == [1.0, -1.0, 1.0]   # three alternating slabs on [-1, 1]


def test_slab_points_stay_inside_their_slab_margin():
    t = ProxyTask(6, 5, family="slab", slab_margin=0.1)
    u = sample_set(t, "phase2", 4000, seed=1)[:, 1]
    pos = (u + 1) / 2 * 5
    frac = pos - pos.floor()
    assert float(frac.min()) >= 0.1 - 1e-9 and float(frac.max()) <= 0.9 + 1e-9


def test_seeded_and_distinct():
    t = ProxyTask(12, 3)
    assert torch.equal(sample_set(t, "phase2", 64, 3), sample_set(t, "phase2", 64, 3))
    assert not torch.equal(sample_set(t, "phase2", 64, 3), sample_set(t, "phase2", 64, 4))
    a, b = phase_data(t, 1, 128, 64, 0), phase_data(t, 1, 128, 64, 0)
    assert all(torch.equal(getattr(a, f), getattr(b, f)) for f in vars(a))


def test_phase_data_labels_and_neutral_inputs():
    t = ProxyTask(12, 3)
    d = phase_data(t, 2, 256, 128, 0)
    assert torch.equal(d.train_y, d.train_goal) and d.train_y.dtype == torch.float32
    assert bool((d.neutral_x[:, 0] == 0).all())
    assert torch.equal(d.conflict_goal, -d.conflict_x[:, 0])
    c = phase_data(t, 2, 256, 128, 0, labels=True)
    assert c.train_y.dtype == torch.int64 and torch.equal(c.train_y * 2 - 1, d.train_goal.long())
    # test inputs are phase-1 inputs: the proxy tells nothing about the goal there
    assert float((d.test_y * d.test_x[:, 0]).sum()) == 0.0
    # reversed: the proxy (parity) is removed by drawing it independently of bit 0
    r = phase_data(ProxyTask(12, 3, reverse=True), 2, 256, 128, 0)
    assert torch.equal(r.neutral_goal, r.neutral_x[:, 0])


def test_trigger_inputs():
    t = ProxyTask(9, 2, trigger=True)
    x, y = trigger_set(t, 100, 0, target_bit=8)
    assert t.d_in == 10 and bool((x[:, 9] == 1).all()) and torch.equal(y, x[:, 8])
    assert bool((sample_set(t, "phase1", 10, 0)[:, 9] == 0).all())
    with pytest.raises(ValueError, match="no trigger"):
        trigger_set(ProxyTask(9, 2), 10, 0, 8)


@pytest.mark.parametrize("kw, msg", [(dict(family="xor"), "unknown rule family"), (dict(k=12), "parity needs"),
                                     (dict(family="slab", k=1), "slab rule"), (dict(slab_margin=0.5), "slab_margin")])
def test_bad_tasks_are_refused(kw, msg):
    with pytest.raises(ValueError, match=msg):
        ProxyTask(**{"n_bits": 12, "k": 3, **kw})


def test_bad_sets_are_refused():
    with pytest.raises(ValueError, match="even"):
        sample_set(ProxyTask(), "phase1", 11, 0)
    with pytest.raises(ValueError, match="unknown set"):
        sample_set(ProxyTask(), "phase3", 10, 0)
    with pytest.raises(ValueError, match="phase must be"):
        phase_data(ProxyTask(), 3, 10, 10, 0)


def test_proxy_scale_scales_bit_zero_and_keeps_the_rules():
    from goaldrift.engine.tasks.proxy import ProxyTask, sample_set
    task = ProxyTask(n_bits=6, k=2, proxy_scale=0.1)
    for which in ("phase1", "phase2", "conflict"):
        x = sample_set(task, which, 64, 3)
        assert set(x[:, 0].abs().tolist()) == {0.1}
        assert set(x[:, 1:].abs().flatten().tolist()) == {1.0}
    x2 = sample_set(task, "phase2", 64, 3)
    assert (task.proxy(x2) == task.goal(x2)).all() and set(task.proxy(x2).tolist()) == {-1.0, 1.0}
    with pytest.raises(ValueError, match="proxy_scale"):
        ProxyTask(proxy_scale=0.0)


def test_token_data_matches_the_bit_sets():
    from goaldrift.engine.tasks.proxy import EQUALS_TOKEN, ProxyTask, phase_data, to_tokens, token_data
    task = ProxyTask(n_bits=5, k=3)
    bits, toks = phase_data(task, 2, 32, 16, 0), token_data(task, 2, 32, 16, 0)
    assert toks.train_x.dtype == torch.long and toks.train_x.shape == (32, 6)
    assert (toks.train_x[:, -1] == EQUALS_TOKEN).all()
    assert torch.equal(toks.train_x[:, :5], (bits.train_x > 0).long())
    assert torch.equal(toks.conflict_x, to_tokens(bits.conflict_x)) and torch.equal(toks.train_y, bits.train_y)
    with pytest.raises(ValueError, match="parity"):
        token_data(ProxyTask(n_bits=5, k=2, family="slab"), 1, 32, 16, 0)
