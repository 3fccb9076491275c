"""Two-phase drift machinery: drift-step rule, pathway norms, ensembles, protection masks."""

import math

import numpy as np
import pytest
import torch

from goaldrift.experiments.goals import proxy_drift as drift
from goaldrift.experiments.goals import protection as pr
from goaldrift.engine.models import MLPConfig, build_model
from goaldrift.engine.tasks.proxy import ProxyTask


def test_drift_step_rule():
    steps = np.array([0, 10, 20, 30])
    agreement = np.array([[1.0, 1.0, 0.2], [1.0, 0.9, 0.1], [0.6, 0.9, 0.0], [0.2, 0.8, 0.0]])
    t_d = drift.drift_step(steps, agreement)
    assert t_d[0] == pytest.approx(20 + (0.6 - 0.5) / (0.6 - 0.2) * 10)  # linear interpolation
    assert t_d[1] == np.inf                                            # never below 1/2
    assert t_d[2] == 0.0                                               # already drifted
    assert drift.value_at(steps, np.tile(steps[:, None], (1, 3)).astype(float), t_d)[0] == pytest.approx(t_d[0])


def test_collapse_and_slope_helpers():
    x = np.array([1e-4, 2e-4, 4e-4])
    assert drift.loglog_slope(x, 0.35 / x) == pytest.approx(-1.0)
    assert drift.collapse_spread(np.array([0.35, 0.35, np.inf])) == 0.0
    assert math.isnan(drift.loglog_slope(np.array([1.0]), np.array([1.0])))


def test_pathway_norms_add_up():
    task = ProxyTask(8, 3)
    model = build_model(MLPConfig(d_in=8, d_hidden=16), [0, 1])
    n = drift.pathway_norms(model, task)
    total = n["simple_norm"] ** 2 + n["complex_norm"] ** 2 + n["other_norm"] ** 2
    assert torch.allclose(total, n["total_norm"] ** 2, rtol=1e-10)
    assert torch.allclose(n["simple_norm"], model.W_0[:, 0].double().norm(dim=1))


def test_tile_state_picks_members():
    state = {"W": torch.arange(6.0).view(3, 2)}
    out = drift.tile_state(state, [2, 0, 2])
    assert out["W"].tolist() == [[4, 5], [0, 1], [4, 5]]


def test_grid_is_seed_major():
    g = drift.grid(2, [1e-3], [0.0, 0.5])
    assert [(m.source, m.weight_decay) for m in g] == [(0, 0.0), (0, 0.5), (1, 0.0), (1, 0.5)]
    assert drift.eta_lambda(g).tolist() == [0.0, 5e-4, 0.0, 5e-4]


def test_masks_choose_what_they_say():
    task = ProxyTask(8, 3)
    model = build_model(MLPConfig(d_in=8, d_hidden=16), [0, 1])
    shapes = pr.member_shapes(model)
    P = sum(math.prod(s[1:]) for s in shapes.values())
    rnd = pr.random_masks(shapes, 0.1, seed=3)
    assert pr.fraction(rnd).item() == pytest.approx(math.ceil(0.1 * P) / P)
    assert all(torch.equal(a, b) for a, b in zip(rnd.values(), pr.random_masks(shapes, 0.1, seed=3).values()))
    scores = {n: p.detach()[:1].abs() for n, p in model.named_parameters()}
    top = pr.top_fraction_masks(scores, 0.05)
    chosen = torch.cat([scores[n][top[n]] for n in scores])
    rest = torch.cat([scores[n][~top[n]] for n in scores])
    assert chosen.min() >= rest.max()
    path = pr.pathway_masks(shapes, task, read_path=False)
    assert path["W_0"][0, 1:4].all() and not path["W_0"][0, 0].any() and not path["W_1"].any()
    assert pr.pathway_masks(shapes, task, read_path=True)["W_1"].all()
    both = pr.stack_members([rnd_one for rnd_one in (pr.no_masks(shapes), path)])
    assert both["W_0"].shape[0] == 2


def test_attribution_is_weight_times_gradient():
    task = ProxyTask(6, 2)
    model = build_model(MLPConfig(d_in=6, d_hidden=8, init_scale=1.0), [0])
    x = torch.randint(0, 2, (32, 6)).float() * 2 - 1
    goal = task.goal(x).float()
    s = pr.attribution_scores(model, x, goal)
    eps, name, idx = 1e-3, "W_0", (0, 1, 2)
    with torch.no_grad():
        w = getattr(model, name)
        base = w[idx].item()
        vals = []
        for d in (eps, -eps):
            w[idx] = base + d
            vals.append((drift.margin(model, x) * goal).mean().item())
        w[idx] = base
    fd = (vals[0] - vals[1]) / (2 * eps)
    assert s[name][idx].item() == pytest.approx(abs(base * fd), rel=1e-3, abs=1e-6)


def test_two_phases_end_to_end(tmp_path):
    """A tiny parity network: decay makes it drift to the proxy, lambda = 0 does not."""
    setup = drift.Setup(ProxyTask(8, 2), width=32, n_train=256, n_test=256)
    r1 = drift.phase1(setup, [0], lr=1e-2, weight_decay=0.1, steps=300, root=tmp_path)
    assert r1.metrics["test_acc"][-1].min() == 1.0
    members = [drift.Member(0, 4e-3, 0.0), drift.Member(0, 4e-3, 2.0)]
    r2 = drift.phase2(setup, r1, members, 250, eval_every=10, root=tmp_path)
    agree = r2.metrics["conflict_agreement"]
    assert agree[-1, 0] > 0.9 and agree[-1, 1] < 0.1
    frozen = pr.stack_members([pr.pathway_masks(pr.member_shapes(r1.model), setup.task, True)] * 2)
    r3 = drift.phase2(setup, r1, members, 250, eval_every=10, root=tmp_path, masks={"frozen": frozen})
    assert r3.metrics["conflict_agreement"][-1].min() > 0.9
    assert torch.equal(r3.model.W_1, r1.model.W_1.expand(2, -1, -1))


def fake_phase2(members, final_agreement, final_train_acc):
    """A phase-2 run's metrics: agreement falls linearly from 1 to its final value over 3 evaluations."""
    final_agreement = np.asarray(final_agreement, dtype=float)
    agree = np.stack([np.ones_like(final_agreement), (1 + final_agreement) / 2, final_agreement])
    train_acc = np.stack([np.full_like(final_agreement, 0.5), np.asarray(final_train_acc, dtype=float)] * 2)[1:]
    metrics = {"step": np.array([0, 10, 20]), "conflict_agreement": agree, "train_acc": train_acc}
    return type("FakeRun", (), {"metrics": metrics})(), members


def test_group_outcome_reads_the_selected_members():
    run, _ = fake_phase2(None, [0.9, 0.2, 0.4], [1.0, 0.8, 0.95])
    g = drift.group_outcome(run.metrics, np.array([False, True, True]), lr=0.1)
    assert g.drift == pytest.approx(1 - (0.2 + 0.4) / 2)
    assert g.finals.tolist() == pytest.approx([0.8, 0.6])
    assert g.train_acc == 0.8
    assert g.curve.tolist() == pytest.approx([1.0, 0.65, 0.3])
    assert g.lr == 0.1 and g.steps.tolist() == [0, 10, 20]


def test_loss_optimiser_groups_select_each_setting_from_runs_already_trained():
    # One ensemble with two learning rates (as the chapter's main sweep): only the setting's eta is read.
    main = drift.grid(2, [0.1, 0.2], [0.0, 1.0])   # seed-major: (s, 0.1, 0), (s, 0.1, 1), (s, 0.2, 0), (s, 0.2, 1)
    finals = [0.99, 0.5, 0.98, 0.3, 0.97, 0.4, 0.96, 0.1]
    sgd = drift.grid(2, [0.5], [0.0, 0.01])
    done = {("mse", "adamw"): fake_phase2(main, finals, [1.0] * 8),
            ("mse", "sgd"): fake_phase2(sgd, [1.0, 0.9, 0.8, 0.7], [1.0, 0.9, 0.8, 0.7])}
    groups = drift.loss_optimiser_groups({"mse": (None, None)}, {"adamw": (0.2, 1.0), "sgd": (0.5, 0.01)},
                                         n_seeds=2, steps=20, eval_every=10, done=done)
    assert sorted(groups) == [("mse", "adamw", 0.0), ("mse", "adamw", 1.0), ("mse", "sgd", 0.0), ("mse", "sgd", 0.01)]
    assert groups[("mse", "adamw", 0.0)].finals.tolist() == pytest.approx([1 - 0.98, 1 - 0.96])
    assert groups[("mse", "adamw", 1.0)].drift == pytest.approx(1 - (0.3 + 0.1) / 2)
    assert groups[("mse", "sgd", 0.01)].finals.tolist() == pytest.approx([0.1, 0.3])
    assert groups[("mse", "sgd", 0.0)].train_acc == 0.8 and groups[("mse", "sgd", 0.0)].lr == 0.5


def test_worst_relative_deviation_is_per_seed_over_settings():
    x = [np.array([1.0, 2.0, np.inf]), np.array([1.5, 1.9, 2.0])]
    assert drift.worst_relative_deviation(x, 2.0).tolist() == pytest.approx([0.5, 0.05, np.inf])


def test_drift_point_brackets_the_crossing_of_one_half(tmp_path):
    """A tiny parity network that drifts: eta*lambda*t_d lies between the evaluations around the crossing."""
    setup = drift.Setup(ProxyTask(8, 2), width=32, n_train=256, n_test=256)
    point = drift.drift_point(setup, [0], 1e-2, 0.1, 300, lr=4e-3, weight_decay=2.0, steps=250, eval_every=10,
                              root=tmp_path)
    assert point.phase1_test_acc == 1.0 and point.phase1_train_loss < 0.1
    r1 = drift.phase1(setup, [0], 1e-2, 0.1, 300, root=tmp_path)
    r2 = drift.phase2(setup, r1, [drift.Member(0, 4e-3, 2.0)], 250, eval_every=10, root=tmp_path)
    agree, steps = r2.metrics["conflict_agreement"][:, 0], r2.metrics["step"]
    first_below = int(np.argmax(agree < 0.5))
    assert agree[first_below] < 0.5 <= agree[first_below - 1]
    t_d = point.x[0] / (4e-3 * 2.0)
    assert steps[first_below - 1] <= t_d <= steps[first_below]


def test_loglog_slope_by_source_fits_each_network_apart():
    el = np.array([0.1, 0.2, 0.4, 0.1, 0.2, 0.4])
    t = np.concatenate([3 / el[:3], 5 / np.sqrt(el[3:])])   # source 7: slope -1; source 2: slope -1/2
    slopes = drift.loglog_slope_by_source(el, t, [7, 7, 7, 2, 2, 2])
    assert slopes == pytest.approx([-0.5, -1.0])              # sorted by source
    assert np.isnan(drift.loglog_slope_by_source([0.1, 0.2], [1.0, np.inf], [0, 0])[0])


def test_largest_frozen_change_reads_only_frozen_elements():
    start = {"w": torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float32), "b": torch.zeros(1, 2, dtype=torch.float32)}
    end = {"w": torch.tensor([[1.0, 2.5, 0.0]], dtype=torch.float64), "b": torch.tensor([[7.0, 7.0]], dtype=torch.float64)}
    frozen = {"w": torch.tensor([[True, True, False]]), "b": torch.zeros(1, 2, dtype=torch.bool)}
    assert pr.largest_frozen_change(start, end, frozen) == 0.5
    frozen["w"] = torch.tensor([[True, False, False]])
    assert pr.largest_frozen_change(start, end, frozen) == 0.0
    frozen["b"] = torch.tensor([[False, True]])
    assert pr.largest_frozen_change(start, end, frozen) == 7.0


# ---- the chapters' readings (proxy_drift, drift_beyond_the_toy) ---------------------

from types import SimpleNamespace


def test_per_seed_reduces_each_seeds_members_in_seed_order():
    values, sources = [1.0, 2.0, 3.0, 4.0], [1, 0, 1, 0]
    assert drift.per_seed(values, sources).tolist() == [3.0, 2.0]          # seed 0: (2 + 4) / 2
    assert drift.per_seed(values, sources, np.min).tolist() == [2.0, 1.0]
    assert drift.per_seed([True, False, True, True], sources).tolist() == [0.5, 1.0]


def test_design_reads_the_parameters_and_builds_the_setups():
    params = dict(seed=2, n_seeds=3, n_bits=8, width=16, n_train=64, phase1_lr=0.01, phase1_weight_decay=0.1,
                  phase1_steps=50, slab_lr=0.02, slab_phase1_steps=70, k=3, learning_rate=1.0)  # extras are ignored
    d = drift.Design.from_parameters(params)
    assert d.seeds == [2000, 2001, 2002]
    assert d.schedule("parity") == (0.01, 0.1, 50) and d.schedule("slab") == (0.02, 0.1, 70)
    s = d.setup(2, "slab", reverse=True, proxy_scale=0.5, loss="cross_entropy", layer_norm=True)
    assert s == drift.Setup(ProxyTask(n_bits=8, k=2, family="slab", reverse=True, proxy_scale=0.5), width=16,
                            n_train=64, data_seed=2, loss="cross_entropy", layer_norm=True)
    assert d.setup(3) == drift.Setup(ProxyTask(n_bits=8, k=3), width=16, n_train=64, data_seed=2)


def test_set_checks_against_the_rules_computed_by_hand():
    from goaldrift.engine.tasks.proxy import sample_set

    task, n, seed = ProxyTask(n_bits=6, k=3), 128, 5
    checks = drift.set_checks(task, n, seed)
    x1, x2, xc = (sample_set(task, w, n, seed).numpy() for w in ("phase1", "phase2", "conflict"))
    parity = lambda x: np.prod(x[:, 1:4], axis=1)  # noqa: E731  goal: parity of bits 1..3; proxy: sign of bit 0
    assert checks.phase1_correlation == pytest.approx(np.mean(parity(x1) * np.sign(x1[:, 0])), abs=1e-15)
    assert checks.phase2_agreement == np.mean(parity(x2) == np.sign(x2[:, 0])) == 1.0
    assert checks.conflict_opposition == np.mean(parity(xc) == -np.sign(xc[:, 0])) == 1.0


def test_phase1_fit_reads_the_last_evaluation():
    run = SimpleNamespace(metrics={"test_acc": np.array([[0.5, 0.6], [0.9, 1.0]]),
                                   "train_loss": np.array([[1.0, 2.0], [0.01, 0.03]])})
    fit = drift.phase1_fit(run)
    assert fit.test_acc_min == 0.9 and fit.train_loss_max == 0.03
    assert fit.markdown().startswith("phase-1 test accuracy per seed: [0.9, 1.0]; final training loss: [0.01 0.03]")


def _hand_drift(last_t_d=np.inf):
    """Two seeds x eta in {0.1, 0.2} x lambda in {0, 1}, with drift steps and curves set by hand."""
    members = drift.grid(2, [0.1, 0.2], [0.0, 1.0])  # per seed: (.1, 0), (.1, 1), (.2, 0), (.2, 1)
    steps = np.array([0.0, 10.0, 20.0, 30.0])
    t_d = np.array([np.inf, 4.0, np.inf, 2.0, np.inf, 5.0, np.inf, last_t_d])
    agreement = np.full((4, 8), 0.3)  # the decayed members (their lowest is 0.3)
    agreement[:, [0, 2, 4, 6]] = np.array([[1, 1, 1, 1], [0.95, 1, 0.8, 1], [0.9, 0.97, 0.99, 1], [0.92, 0.97, 1, 0.93]])
    norm = np.tile((2 - 0.02 * steps)[:, None], (1, 8))  # the norm falls linearly: 2 - 0.02 t
    return drift.DecayDrift(members, steps, agreement, t_d, {"total_norm": norm})


def test_decay_drift_reductions_against_hand_computed_values():
    d = _hand_drift()
    assert d.eta_lambda.tolist() == [0, 0.1, 0, 0.2, 0, 0.1, 0, 0.2]
    assert d.sources.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert d.x_d == pytest.approx([0.4, 0.4, 0.5, np.inf])
    assert np.isnan(d.x[0]) and d.x[1] == pytest.approx(0.4)  # a control that never drifts has no drift point
    # the controls' lowest agreement: 0.8 (seed 1, member 4); per seed 0.9 and 0.8
    assert d.control_min == 0.8 and d.control_min_by_seed.tolist() == [0.9, 0.8]
    assert d.lowest == 0.3 and d.lowest_by_seed.tolist() == [0.3, 0.3]
    assert d.drifted_fraction == 0.75 and d.drifted_by_seed.tolist() == [1.0, 0.5]
    assert (d.n_decayed, d.n_drifted) == (4, 3)
    assert (d.x_min, d.x_max) == (pytest.approx(0.4), np.inf)
    assert d.mean_x == np.inf and d.mean_x_by_seed == pytest.approx([0.4, np.inf])
    assert d.earliest_drift == pytest.approx(0.4)
    # spreads: std of log over the finite drift points
    assert d.spread == pytest.approx(np.std(np.log([0.4, 0.4, 0.5])))
    assert d.spread_by_seed[0] == pytest.approx(0.0) and np.isnan(d.spread_by_seed[1])  # one finite point
    assert d.raw_spread == pytest.approx(np.std(np.log([4.0, 2.0, 5.0])))
    assert d.sqrt_clock_spread == pytest.approx(np.std(np.log([0.1**0.5 * 4, 0.2**0.5 * 2, 0.1**0.5 * 5])))
    # slope of log t_d on log eta*lambda: least squares by hand over (0.1, 4), (0.2, 2), (0.1, 5)
    lx, ly = np.log([0.1, 0.2, 0.1]), np.log([4.0, 2.0, 5.0])
    assert d.slope == pytest.approx(np.sum((lx - lx.mean()) * (ly - ly.mean())) / np.sum((lx - lx.mean()) ** 2))
    assert d.slope_by_seed[0] == pytest.approx(-1.0) and np.isnan(d.slope_by_seed[1])
    # norm at t_d over its start: (2 - 0.02 t_d) / 2
    assert d.norm_ratio_d[:3] == pytest.approx([0.96, 0.98, 0.95]) and np.isnan(d.norm_ratio_d[3])
    assert d.norm_ratio == pytest.approx(np.mean([0.96, 0.98, 0.95]))
    assert d.norm_ratio_by_seed == pytest.approx([0.97, 0.95])
    assert d.slowest_budget(100) == pytest.approx(10.0)
    assert d.member(1, 0.2, 1.0) == 7


def test_decay_drift_means_and_slopes_when_every_member_drifts():
    d = _hand_drift(last_t_d=3.0)
    assert d.mean_x == pytest.approx(np.mean([0.4, 0.4, 0.5, 0.6]))
    assert d.mean_x_by_seed == pytest.approx([0.4, 0.55])
    assert d.slope_by_seed == pytest.approx([-1.0, np.log(3 / 5) / np.log(2)])
    assert d.mean_seed_slope == pytest.approx((-1.0 + np.log(3 / 5) / np.log(2)) / 2)
    assert d.drifted_fraction == 1.0


def test_decay_drift_reads_a_run_with_the_drift_step_rule():
    members = drift.grid(1, [0.1], [0.0, 1.0])
    steps = np.array([0, 10, 20])
    agree = np.array([[1.0, 1.0], [1.0, 0.7], [0.9, 0.3]])
    d = drift.decay_drift(SimpleNamespace(metrics={"step": steps, "conflict_agreement": agree}), members)
    assert d.t_d[0] == np.inf and d.t_d[1] == pytest.approx(10 + (0.7 - 0.5) / (0.7 - 0.3) * 10)
    assert d.x_d == pytest.approx([0.1 * 15.0])


def test_groups_table_and_loss_share():
    g = drift.GroupOutcome(lr=0.1, drift=0.25, finals=np.array([0.2, 0.3]), train_acc=1.0, curve=np.ones(2),
                           steps=np.arange(2))
    table = drift.groups_table({("squared error", "sgd", 0.05): g, ("cross-entropy", "adamw", 0.0): g})
    lines = table.splitlines()
    assert lines[2] == "| cross-entropy | adamw | 0.1 | 0 | 0.25 | 1.00 |"  # sorted by (loss, optimiser, lambda)
    assert lines[3] == "| squared error | sgd | 0.1 | 0.05 | 0.25 | 1.00 |"
    assert drift.loss_share(0.3, 0.6) == 0.5 and drift.loss_share(0.3, 0.0) == 0.3 / 1e-12


def test_complexity_sweep_reductions():
    pts = {("parity", 1): drift.DriftPoint(np.array([np.inf, np.inf, 0.2]), 1.0, 1e-4),
           ("parity", 2): drift.DriftPoint(np.array([0.5, 0.3, 0.35]), 1.0, 1e-4),
           ("parity", 3): drift.DriftPoint(np.array([0.35, 0.4, 0.7]), 0.99, 2e-4)}
    cx = drift.ComplexitySweep(pts, 3)
    assert cx.drifted(("parity", 1)).tolist() == [False, False, True]
    assert cx.drifted_fraction(("parity", 1)) == pytest.approx(1 / 3)
    assert cx.mean_x(("parity", 1)) == np.inf and cx.mean_x(("parity", 2)) == pytest.approx(np.mean([0.5, 0.3, 0.35]))
    keys, p = [("parity", 2), ("parity", 3)], 0.35
    by_hand = [max(abs(0.5 / p - 1), abs(0.35 / p - 1)), max(abs(0.3 / p - 1), abs(0.4 / p - 1)),
               max(abs(0.35 / p - 1), abs(0.7 / p - 1))]
    assert cx.deviation_by_seed(keys, p) == pytest.approx(by_hand)
    assert cx.worst_deviation(keys, p) == pytest.approx(1.0)
    assert cx.table().splitlines()[2] == "| parity | 1 | 1.000 | 0.0001 | inf | 1/3 |"


def test_optimiser_drift_pairs_by_seed():
    ce = drift.OptimiserDrift({"Adam": np.array([0.9, 0.1, 0.8]), "Adam, large epsilon": np.array([0.0, 0.2, 0.0])})
    assert ce.difference("Adam", "Adam, large epsilon") == pytest.approx([0.9, -0.1, 0.8])
    assert ce.mean_difference("Adam", "Adam, large epsilon") == pytest.approx(1.6 / 3)
    assert ce.mean("Adam") == pytest.approx(0.6)
    assert ce.table().splitlines()[2] == "| Adam | [0.9, 0.1, 0.8] | 0.60 |"


def test_sweeps_compose_the_two_phases_as_the_chapters_did(tmp_path, monkeypatch):
    monkeypatch.setenv("GOALDRIFT_RUNS_DIR", str(tmp_path))
    design = drift.Design(seed=0, n_seeds=2, n_bits=6, width=8, n_train=64, phase1_lr=0.01, phase1_weight_decay=0.1,
                          phase1_steps=20, slab_lr=0.02, slab_phase1_steps=30)
    cx = drift.complexity_sweep(design, {"parity": range(1, 3), "slab": range(2, 3)}, 0.01, 4.0, 20, 5)
    assert list(cx.points) == [("parity", 1), ("parity", 2), ("slab", 2)]
    for (family, kk), point in cx.points.items():
        lr1, steps1 = (0.02, 30) if family == "slab" else (0.01, 20)
        s = drift.Setup(ProxyTask(n_bits=6, k=kk, family=family), width=8, n_train=64, data_seed=0)
        direct = drift.drift_point(s, [0, 1], lr1, 0.1, steps1, 0.01, 4.0, 20, 5)
        np.testing.assert_array_equal(point.x, direct.x)
    setup = design.setup(2, loss="cross_entropy")
    run1 = design.phase1(setup)
    assert run1.config == drift.phase1(setup, [0, 1], 0.01, 0.1, 20).config
    ce = drift.optimiser_drift(setup, run1, 2, {"Adam": ("adamw", 0.01, 1e-8), "SGD": ("sgd", 0.1, 1e-8)}, 10, 5)
    r = drift.phase2(setup, run1, drift.grid(2, [0.1], [0.0]), 10, kind="sgd", eval_every=5)
    np.testing.assert_array_equal(ce.finals["SGD"], 1 - r.metrics["conflict_agreement"][-1])
    members = drift.grid(2, [0.01], [0.0, 4.0])
    d = drift.phase2_drift(setup, run1, members, 10, eval_every=5)
    r = drift.phase2(setup, run1, members, 10, eval_every=5)
    np.testing.assert_array_equal(d.agreement, r.metrics["conflict_agreement"])
    np.testing.assert_array_equal(d.t_d, drift.drift_step(r.metrics["step"], r.metrics["conflict_agreement"]))
