"""Cost measurement and scoring of the cost-ratio law (experiments.goals.drift_law)."""

import math

import numpy as np
import pytest
import torch

from goaldrift.engine.models import MLPConfig, build_model
from goaldrift.engine.tasks.proxy import ProxyTask, sample_set
from goaldrift.experiments.goals import drift_law as law


def _net(W0, b0, W1):
    m = build_model(MLPConfig(d_in=W0.shape[0], d_hidden=W0.shape[1], d_out=1), [0])
    with torch.no_grad():
        m.W_0.copy_(W0[None]); m.b_0.copy_(b0[None]); m.W_1.copy_(W1[None, :, None]); m.b_1.zero_()
    return m


def test_balanced_cost_is_the_min_norm_after_rebalancing():
    g = torch.Generator().manual_seed(1)
    W0, b0, W1 = torch.randn(4, 5, generator=g), torch.randn(5, generator=g), torch.randn(5, generator=g)
    W0[0] = 0  # input 0 unused
    cost = law.balanced_cost(_net(W0, b0, W1), [1, 2, 3])[0]
    # independent: minimise sum over units of a^2 |w_j|^2 + |v_j|^2 / a^2 per unit numerically
    direct = 0.0
    for j in range(5):
        wn2 = float(W0[1:, j].square().sum() + b0[j] ** 2)
        a = np.geomspace(1e-3, 1e3, 200001)
        direct += float(np.min(a**2 * wn2 + float(W1[j]) ** 2 / a**2))
    assert cost == pytest.approx(direct, rel=1e-6)


def test_proxy_alone_cost_of_a_hand_built_net():
    # output = relu(x0) - relu(-x0) = x0 with readout 1: balanced cost 2 * 2 * 1 * 1 = 4 at margin 1
    W0 = torch.zeros(3, 2); W0[0, 0], W0[0, 1] = 1.0, -1.0
    net = _net(W0, torch.zeros(2), torch.tensor([1.0, -1.0]))
    assert law.balanced_cost(net, [0])[0] == pytest.approx(4.0)
    task = ProxyTask(n_bits=3, k=1)
    x = sample_set(task, "phase2", 64, 0)
    assert law.training_margin(net, x.float(), task.proxy(x))[0] == pytest.approx(1.0)
    scaled = ProxyTask(n_bits=3, k=1, proxy_scale=0.5)
    xs = sample_set(scaled, "phase2", 64, 0)
    assert law.training_margin(net, xs.float(), scaled.proxy(xs))[0] == pytest.approx(0.5)


def test_law_prediction_and_hit_rule():
    pred = law.law_prediction(np.array([1e9, 0.5]), np.array([1 - 1e-12, 0.99]))
    assert pred[0] == pytest.approx(math.log(2) / 2, rel=1e-3) and pred[1] == math.inf
    hit = law.law_hit(np.array([0.35, 0.35, np.inf, np.inf, 0.9]), np.array([0.4, 0.9, 5.0, 0.5, 0.5]), budget=2.0)
    assert hit.tolist() == [True, False, True, False, False]


def test_proxy_cost_needs_the_reversed_task():
    from goaldrift.experiments.goals.proxy_drift import Setup
    with pytest.raises(ValueError, match="reversed"):
        law.proxy_cost(None, Setup(ProxyTask()))


def test_start_share_and_goal_cost_of_hand_built_nets():
    from types import SimpleNamespace
    from goaldrift.experiments.goals.proxy_drift import Setup
    setup = Setup(ProxyTask(n_bits=3, k=1), n_train=64, n_test=64)
    # a net that reads only the goal (bit 1): A_0 = 1, clipped to 1 - 1/n
    W0 = torch.zeros(3, 2); W0[1, 0], W0[1, 1] = 2.0, -2.0
    goal_net = SimpleNamespace(model=_net(W0, torch.zeros(2), torch.tensor([0.5, -0.5])))
    assert law.start_share(goal_net, setup)[0] == pytest.approx(1 - 1 / 64)
    assert law.goal_cost(goal_net, setup)[0] == pytest.approx(4.0)  # 2 * (0.5*2 + 0.5*2) at margin 1
    # a net that reads only the proxy (bit 0): A_0 = 0, clipped to 1/2
    W0 = torch.zeros(3, 2); W0[0, 0], W0[0, 1] = 1.0, -1.0
    proxy_net = SimpleNamespace(model=_net(W0, torch.zeros(2), torch.tensor([1.0, -1.0])))
    assert law.start_share(proxy_net, setup)[0] == 0.5
    rev = Setup(ProxyTask(n_bits=3, k=1, reverse=True), n_train=64, n_test=64)
    assert law.proxy_cost(proxy_net, rev)[0] == pytest.approx(4.0)


def test_token_setup_trains_through_the_engine_and_costs(tmp_path):
    from goaldrift.experiments.goals import proxy_drift as drift
    from goaldrift.experiments.goals import token_drift as tok
    setup = tok.TokenSetup(ProxyTask(n_bits=4, k=2), d_model=8, n_heads=1, d_head=8, d_mlp=8, n_train=64, n_test=64)
    run = drift.phase1(setup, [0, 1], 0.01, 0.1, 5, eval_every=5, root=tmp_path)
    assert run.metrics["conflict_agreement"].shape == (2, 2)
    sq = tok.squared_norm(run.model)
    direct = [sum(float(p[k].detach().double().square().sum()) for p in run.model.parameters()) for k in range(2)]
    assert sq == pytest.approx(direct, rel=1e-12)
    data = setup.data(1)
    m = law.training_margin(run.model, data.train_x, data.train_goal)
    assert tok.network_cost(run, setup) == pytest.approx(sq / m, rel=1e-12)
    with pytest.raises(ValueError, match="extra"):
        setup.data(1, extra_x=1)


def test_recipe_decay_budget_and_regimes():
    from goaldrift.experiments.decay.recipes import RECIPES, Recipe
    const = Recipe("c", "x", "pretraining", 1e-3, 0.1, steps=1000, warmup=0, decay_end=0, final_fraction=1.0,
                   decay="constant", source="test")
    assert law.recipe_decay_budget(const) == pytest.approx(-1000 * math.log1p(-1e-4), rel=1e-12)
    assert law.recipe_decay_budget(const) == pytest.approx(0.1, rel=1e-3)  # ≈ eta * lambda * t
    unstated = [r for r in RECIPES if r.weight_decay is None][0]
    assert math.isnan(law.recipe_decay_budget(unstated))
    from goaldrift.experiments.decay.recipes import decay_totals   # one formula: the recipes' own total
    assert [law.recipe_decay_budget(r) for r in RECIPES if r.weight_decay is not None] == \
        [decay_totals(r).exact for r in RECIPES if r.weight_decay is not None]
    assert law.regimes_reaching({"a": 0.5, "b": 0.1, "c": float("nan")}, 0.35) == ["a"]
    assert law.regimes_reaching({"a": 0.5}, float("inf")) == []


def test_law_case_predicts_from_phase_one_and_scores_phase_two(tmp_path, monkeypatch):
    from goaldrift.experiments.goals import proxy_drift as drift

    monkeypatch.setenv("GOALDRIFT_RUNS_DIR", str(tmp_path))
    goal = drift.Setup(ProxyTask(8, 2), width=32, n_train=256, n_test=256)
    proxy = drift.Setup(ProxyTask(8, 2, reverse=True), width=32, n_train=256, n_test=256)
    case = law.law_case(goal, proxy, [0, 1], (1e-2, 0.1, 300), (1e-2, 0.1, 300), 4e-3, 2.0, 250, 10, budget_x=2.0)
    # The prediction comes from the two phase-1 networks alone (read back from the cache).
    r1, rp = drift.phase1(goal, [0, 1], 1e-2, 0.1, 300), drift.phase1(proxy, [0, 1], 1e-2, 0.1, 300)
    assert not r1.trained and not rp.trained
    assert case.rho == pytest.approx(law.goal_cost(r1, goal) / law.proxy_cost(rp, proxy))
    assert case.pred == pytest.approx(law.law_prediction(case.rho, case.a0))
    assert case.acc == float(r1.metrics["test_acc"][-1].min())
    # Measured: the first crossing of 1/2 by the aligned agreement, between the evaluations around it.
    r2 = drift.phase2(goal, r1, drift.grid(2, [4e-3], [2.0]), 250, eval_every=10)
    for k in range(2):
        agree, steps = r2.metrics["conflict_agreement"][:, k], r2.metrics["step"]
        i = int(np.argmax(agree < 0.5))
        assert agree[i] < 0.5 and steps[i - 1] <= case.x_d[k] / 8e-3 <= steps[i]
        within = abs(math.log(case.x_d[k] / case.pred[k])) <= math.log(1.5)
        assert case.hit[k] == within
        assert case.hit_const[k] == (abs(math.log(case.x_d[k] / (math.log(2) / 2))) <= math.log(1.5))


# ---- the chapter's sweep, its score and the stakes -------------------------------------

def _case(rho, x_d, pred, budget=2.0, a0=0.99, acc=1.0):
    rho, x_d, pred = (np.asarray(v, float) for v in (rho, x_d, pred))
    return law.LawCase(rho=rho, a0=np.full(len(rho), a0), pred=pred, x_d=x_d, hit=law.law_hit(x_d, pred, budget),
                       hit_const=law.law_hit(x_d, np.full(len(rho), math.log(2) / 2), budget), acc=acc)


def test_sweep_cases_are_the_chapters_tasks():
    assert law.sweep_cases(4) == [("parity", 1, 1.0), ("parity", 2, 1.0), ("parity", 3, 1.0), ("parity", 4, 1.0),
                                  ("parity", 3, 0.5), ("parity", 3, 0.1), ("slab", 2, 1.0), ("slab", 3, 1.0)]
    assert law.sweep_cases(2)[2:4] == [("parity", 2, 0.5), ("parity", 2, 0.1)]


def test_law_sweep_reductions_against_hand_computed_values():
    cases = [("parity", 1, 1.0), ("parity", 3, 1.0), ("slab", 2, 1.0)]
    results = [_case([1.0, 0.9], [np.inf, np.inf], [np.inf, np.inf]),      # equal cost: no drift, both hits
               _case([4.0, 8.0], [0.4, 0.3], [0.5, 0.6]),                  # hit (0.4/0.5), miss (0.3/0.6)
               _case([0.5, 2.0], [0.1, 3.0], [np.inf, 0.2])]               # a dear proxy that drifts; beyond budget
    sweep = law.LawSweep(cases, results, budget_x=2.0)
    hits = np.array([[True, True], [True, False], [False, False]])
    assert (sweep.hits == hits).all()
    assert sweep.hit_fraction == pytest.approx(3 / 6) and sweep.hit_fraction_by_seed == pytest.approx([2 / 3, 1 / 3])
    const = np.array([law.law_hit(np.asarray(c.x_d), np.full(2, math.log(2) / 2), 2.0) for c in results])
    assert sweep.hit_const_fraction == pytest.approx(const.mean())
    # drifted within the budget: (3, seed 0), (3, seed 1), (slab, seed 0); rho > 1 among them: the parity-3 pair
    assert sweep.drifted.tolist() == [False, False, True, True, True, False]
    assert sweep.slope_x_vs_rho == pytest.approx(math.log(0.3 / 0.4) / math.log(8 / 4))
    assert sweep.median_measured_over_predicted == pytest.approx(np.median([0.4 / 0.5, 0.3 / 0.6]))
    assert sweep.n_dear_drift == 1
    assert sweep.earliest_drift == pytest.approx(0.1)
    assert sweep.mean_x("parity", 3) == pytest.approx(0.35) and sweep.case("slab", 2) is results[2]
    assert sweep.table().splitlines()[3] == "| parity | 3 | 1 | 1.000 | 6.00 | 0.990 | 0.550 | 0.350 | 1/2 |"


def test_law_sweep_runs_law_case_with_each_familys_schedule(monkeypatch):
    from goaldrift.experiments.goals import proxy_drift as drift

    calls = []
    monkeypatch.setattr(law, "law_case", lambda *args: calls.append(args) or "case")
    design = drift.Design(seed=1, n_seeds=2, n_bits=8, width=16, n_train=64, phase1_lr=0.01, phase1_weight_decay=0.1,
                          phase1_steps=50, slab_lr=0.02, slab_phase1_steps=70)
    sweep = law.law_sweep(design, [("parity", 3, 0.5), ("slab", 2, 1.0)], 4e-3, 1.0, 600, 10, 2.4)
    assert sweep.results == ["case", "case"] and sweep.budget_x == 2.4
    goal, proxy, seeds, goal_p1, proxy_p1, *rest = calls[0]
    assert goal.task == ProxyTask(8, 3, proxy_scale=0.5) and proxy.task == ProxyTask(8, 3, reverse=True, proxy_scale=0.5)
    assert seeds == [1000, 1001] and goal_p1 == proxy_p1 == (0.01, 0.1, 50) and rest == [4e-3, 1.0, 600, 10, 2.4]
    goal, proxy, _, goal_p1, proxy_p1, *_ = calls[1]
    assert goal.task == ProxyTask(8, 2, family="slab") and goal_p1 == (0.02, 0.1, 70) and proxy_p1 == (0.01, 0.1, 50)


def test_recipe_stakes_counts_what_each_drift_point_reaches():
    from goaldrift.experiments.decay.recipes import Recipe

    stakes = law.RecipeStakes({"toy": 0.35, "none": float("inf")},
                              {"a": 17.6, "b": 0.28, "c": float("nan"), "d": 0.5},
                              {"a": "pretraining", "b": "fine-tuning", "c": "fine-tuning", "d": "fine-tuning"})
    assert stakes.reaching("toy") == ["a", "d"] and stakes.reaching("none") == []
    assert stakes.fine_tuning_reaching("toy") == 1
    assert stakes.n_stated == 3 and stakes.n_fine_tuning == 2 and stakes.max_fine_tuning_budget == 0.5
    lines = stakes.table().splitlines()
    assert lines[0] == "| recipe | stage | $\\eta\\lambda t$ supplied | reaches toy? | reaches none? |"
    assert lines[4] == "| c | fine-tuning | not stated | not stated | not stated |"
    assert lines[-1] == "| *drift point* |  |  | 0.35 | none in budget |"
    const = Recipe("c", "x", "fine-tuning", 1e-3, 0.1, steps=1000, warmup=0, decay_end=0, final_fraction=1.0,
                   decay="constant", source="test")
    real = law.recipe_stakes({"toy": 0.05}, [const])
    assert real.budgets == {"c": law.recipe_decay_budget(const)} and real.stages == {"c": "fine-tuning"}
    assert real.reaching("toy") == ["c"]
