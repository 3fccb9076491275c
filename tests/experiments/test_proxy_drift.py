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
