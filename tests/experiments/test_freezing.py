"""goaldrift.experiments.goals.freezing (chapter protecting_goals): the freezing experiment's
plans, and the whole measurement against a phase 2 whose drift stops at a known frozen fraction."""

import math

import numpy as np
import pytest
import torch

from goaldrift.engine.models import MLPConfig, build_model
from goaldrift.engine.tasks.proxy import ProxyTask
from goaldrift.experiments.goals import freezing as fz
from goaldrift.experiments.goals import protection as pr
from goaldrift.experiments.goals import proxy_drift as drift

THRESHOLD = 0.05   # the fake phase 2 stops the drift when at least this share of the weights is frozen


def tiny(n_seeds=2):
    task = ProxyTask(8, 3)
    setup = drift.Setup(task, width=16, n_train=32, n_test=32, data_seed=0)
    model = build_model(MLPConfig(d_in=task.d_in, d_hidden=16), list(range(n_seeds)))
    run1 = type("Run1", (), {"model": model})()
    rankings = {fz.ATTRIBUTION: pr.magnitude_scores(model), "construction": pr.construction_scores(model, task)}
    return task, setup, run1, rankings


def test_coarse_plan_freezes_what_each_plan_says():
    task, _, run1, rankings = tiny()
    shapes = pr.member_shapes(run1.model)
    P = sum(math.prod(s[1:]) for s in shapes.values())
    fractions = np.array([0.01, 0.1, 1.0])
    columns, plans, masks = fz.coarse_plan(rankings, fractions, 2, shapes, task)
    assert columns == [(r, s) for r in rankings for s in range(2)]
    assert len(plans) == len(masks) == len(columns) * 3 + 2 * 3
    for (kind, s, f), m in zip(plans, masks):
        marked = int(pr.fraction(m).item() * P + 0.5)
        if kind in rankings:
            assert marked == math.ceil(f * P)
            top = pr.top_fraction_masks({n: v[s:s + 1] for n, v in rankings[kind].items()}, f)
            assert all(torch.equal(m[n], top[n]) for n in m)
        elif kind == fz.NOTHING:
            assert marked == 0
        else:
            want = pr.pathway_masks(shapes, task, read_path=kind == fz.WITH_READ_PATH)
            assert all(torch.equal(m[n], want[n]) for n in m)


def test_random_plan_caps_at_all_weights_and_streams_differ():
    plan = fz.random_plan(np.array([0.05, 0.2]), [1, 10], 2)
    assert plan == [(1, 0, 0.05), (1, 1, 0.2), (10, 0, 0.5), (10, 1, 1.0)]
    seeds = {fz.random_mask_seed(seed, s, m) for seed in (0, 1) for s in range(3) for m in (1, 2, 3, 10)}
    assert len(seeds) == 2 * 3 * 4


def fake_phase2(setup, start, members, steps, eval_every=50, masks=None, root=None, **kw):
    """Final agreement 1 where a member has at least THRESHOLD of its weights frozen, else 0;
    every element that is not frozen moves by 1."""
    frozen = masks["frozen"]
    init = drift.tile_state(start.model.state_dict(), [m.source for m in members])
    stopped = (pr.fraction(frozen) >= THRESHOLD).numpy().astype(float)
    agreement = np.stack([np.ones(len(members)), stopped])
    end = {n: init[n] + (~frozen[n]).to(init[n].dtype) for n in init}
    model = type("Model", (), {"state_dict": lambda self: end})()
    return type("Run", (), {"metrics": {"conflict_agreement": agreement}, "model": model})()


def test_freezing_experiment_brackets_a_known_sufficient_fraction(monkeypatch):
    monkeypatch.setattr(drift, "phase2", fake_phase2)
    task, setup, run1, rankings = tiny()
    P = sum(math.prod(s[1:]) for s in pr.member_shapes(run1.model).values())
    fractions = np.geomspace(0.003, 1.0, 6)
    res = fz.freezing_experiment(setup, run1, rankings, task, 2, fractions, 4e-3, 1.0, 10, 5,
                                 factor=1.3, max_rounds=8, seed=0)
    assert res.largest_frozen_change == 0.0
    assert 1 <= res.rounds_used < 8
    for r in rankings:
        hi, lo = res.sufficient(r), res.lower_end(r)
        # hi freezes enough elements, lo does not, and the bracket is within the factor
        assert np.all(np.ceil(hi * P - 1e-9) / P >= THRESHOLD) and np.all(np.ceil(lo * P - 1e-9) / P < THRESHOLD)
        assert np.all(hi / lo <= 1.3)
    assert res.widest_bracket() <= 1.3
    # the grid: stopped exactly at the grid fractions whose top set reaches the threshold
    want_curve = (np.ceil(fractions * P - 1e-9) / P >= THRESHOLD).astype(float)
    assert np.array_equal(res.curve, np.repeat(want_curve[:, None], len(res.columns), axis=1))
    assert res.agreement(fz.NOTHING).tolist() == [0.0, 0.0]
    assert res.fraction_of(fz.WITH_READ_PATH) > res.fraction_of(fz.WITHOUT_READ_PATH) > 0
    assert res.agreement(fz.WITH_READ_PATH).tolist() == [1.0, 1.0]   # the pathway is far above 5% here
    # random sets of 1, 2, 3, 10 times the attribution's sufficient fraction, each judged by its own size
    attr = res.sufficient(fz.ATTRIBUTION)
    for m in (1, 2, 3, 10):
        sizes = np.minimum(1.0, m * attr)
        assert [p[2] for p in res.random_plans if p[0] == m] == pytest.approx(sizes.tolist())
        assert np.array_equal(res.random_at(m), (np.ceil(sizes * P - 1e-9) / P >= THRESHOLD).astype(float))
        assert res.random_capped(m) == int((m * attr >= 1.0).sum())
    # every bisection round evaluated only unresolved brackets at their geometric midpoints
    assert all(len(rnd) <= len(res.columns) for rnd in res.bisection_rounds)


def test_freezing_experiment_end_to_end_frozen_weights_stay(tmp_path):
    """A few real phase-2 steps: frozen elements end exactly where phase 1 left them."""
    task = ProxyTask(6, 2)
    setup = drift.Setup(task, width=8, n_train=32, n_test=32, data_seed=0)
    run1 = drift.phase1(setup, [0], 1e-2, 0.1, 5, root=tmp_path)
    rankings = {fz.ATTRIBUTION: pr.magnitude_scores(run1.model)}
    res = fz.freezing_experiment(setup, run1, rankings, task, 1, [0.1, 1.0], 4e-3, 1.0, 3, 3,
                                 factor=2.0, max_rounds=1, seed=0, multiples=[1], root=tmp_path)
    assert res.largest_frozen_change == 0.0
    assert len(res.final) == len(res.plans) == 2 + 3 and len(res.random_final) == 1


def test_rankings_are_the_three_scores_in_order():
    task, setup, run1, _ = tiny()
    d1 = setup.data(1)
    got = fz.rankings(run1.model, d1, task)
    assert list(got) == [fz.ATTRIBUTION, fz.MAGNITUDE, fz.CONSTRUCTION]
    want = {fz.ATTRIBUTION: pr.attribution_scores(run1.model, d1.train_x, d1.train_goal),
            fz.MAGNITUDE: pr.magnitude_scores(run1.model), fz.CONSTRUCTION: pr.construction_scores(run1.model, task)}
    assert all(torch.equal(got[r][n], want[r][n]) for r in want for n in want[r])


def hand_result():
    """Two seeds, three rankings, random sets of 1 and 10 times; every number chosen by hand."""
    rankings = [fz.ATTRIBUTION, fz.MAGNITUDE, fz.CONSTRUCTION]
    columns = [(r, s) for r in rankings for s in range(2)]
    plans = [(fz.WITHOUT_READ_PATH, 0, None), (fz.WITH_READ_PATH, 0, None), (fz.NOTHING, 0, 0.0),
             (fz.WITHOUT_READ_PATH, 1, None), (fz.WITH_READ_PATH, 1, None), (fz.NOTHING, 1, 0.0)]
    final = np.array([0.05, 0.95, 0.02, 0.08, 0.91, 0.04])
    frozen_fraction = np.array([0.1, 0.2, 0.0, 0.1, 0.2, 0.0])
    lo = np.array([0.02, 0.04, 0.1, 0.2, 0.15, 0.16])
    hi = np.array([0.025, 0.05, 0.12, 0.25, 0.18, 0.2])
    random_plans = [(1, 0, 0.025), (1, 1, 0.05), (10, 0, 0.25), (10, 1, 0.5)]
    return fz.FreezingResult(fractions=np.array([0.01, 0.1, 1.0]), columns=columns, plans=plans, final=final,
                             frozen_fraction=frozen_fraction, largest_frozen_change=0.0,
                             curve=np.zeros((3, 6)), lo=lo, hi=hi, rounds_used=3,
                             bisection_rounds=[[((fz.ATTRIBUTION, 0), 0.03, 0.95)]], multiples=[1, 10],
                             random_plans=random_plans, random_final=np.array([0.01, 0.07, 0.03, 0.2]),
                             rankings=rankings)


def test_summary_against_the_hand_numbers():
    s = hand_result().summary()
    # gradient x weight's sufficient fractions 0.025, 0.05 over the pathway's 0.2
    assert s.attribution_over_construction.samples.tolist() == [0.125, 0.25]
    assert s.attribution_over_construction.value == pytest.approx(0.1875, rel=1e-15)
    assert s.magnitude_over_attribution.samples == pytest.approx([0.12 / 0.025, 0.25 / 0.05], rel=1e-15)
    assert s.magnitude_over_attribution.value == pytest.approx((4.8 + 5.0) / 2, rel=1e-14)
    assert list(s.random) == [1, 10]
    assert s.random[1].value == 0.07 and s.random[10].value == 0.2
    assert s.random[10].samples.tolist() == [0.03, 0.2]
    assert s.with_read_path.value == 0.91 and s.with_read_path.samples.tolist() == [0.95, 0.91]
    assert s.without_read_path.value == 0.08 and s.without_read_path.samples.tolist() == [0.05, 0.08]
    g = s.glue
    assert g["sufficient_attr"] == pytest.approx(0.0375) and g["sufficient_attr_max"] == 0.05
    assert g["sufficient_mag"] == pytest.approx(0.185) and g["sufficient_mag_max"] == 0.25
    assert g["sufficient_constr"] == pytest.approx(0.19) and g["sufficient_constr_max"] == 0.2
    assert g["bracket_worst"] == pytest.approx(1.25) and g["rounds_used"] == 3
    assert g["construction_fraction"] == 0.2 and g["construction_in_fraction"] == 0.1
    assert g["baseline_agreement"] == 0.04
    assert g["random_capped_10x"] == 0 and g["random_10x_fraction_min"] == 0.25


def test_tables_markdown_lists_every_bracket_and_random_set():
    text = hand_result().tables_markdown()
    assert "| gradient x weight | (0.02, 0.025], (0.04, 0.05] |" in text
    assert "| construction | (0.15, 0.18], (0.16, 0.2] |" in text
    assert "| 10x | [0.25, 0.5] | [0.03, 0.2] |" in text


def test_plot_freezing_draws_every_ranking_and_seed():
    res = hand_result()
    fig = fz.plot_freezing(res)
    ax, ax2 = fig.axes
    labels = [line.get_label() for line in ax.lines]
    assert [l for l in labels if not l.startswith("_")] == [*res.rankings, fz.WITHOUT_READ_PATH, fz.WITH_READ_PATH]
    assert len(ax2.lines) == 2
    assert ax2.lines[1].get_data()[0].tolist() == [0.05, 0.5]
    assert "1, 10 times" in ax2.get_title()
    plt = __import__("matplotlib.pyplot").pyplot
    plt.close(fig)
