"""The transformer chapter's library (experiments.goals.transformer_drift), each function against
a computation by hand: the placed data, the named intermediates, the readings of an arm, the
mechanism's two readings and the law's prediction; and the equal-cost derivation."""

import math

import numpy as np
import pytest
import sympy as sp
import torch

from goaldrift.book.chapters import get_chapter
from goaldrift.book.params import ParamError
from goaldrift.book.profiles import resolve
from goaldrift.engine.tasks.proxy import EQUALS_TOKEN, ProxyTask, token_data
from goaldrift.experiments.goals import transformer_drift as td
from goaldrift.theory.drift_law import equal_cost_split


def test_positions_are_a_permutation_drawn_from_the_seed():
    p = td.seed_positions(5, 8)
    assert sorted(p) == list(range(8)) and p == td.seed_positions(5, 8)
    assert len({td.seed_positions(s, 8) for s in range(10)}) > 1


@pytest.mark.parametrize("k, reverse", [(3, False), (3, True), (1, False), (1, True)])
def test_placed_data_read_back_at_their_positions(k, reverse):
    task = ProxyTask(n_bits=6, k=k, reverse=reverse)
    positions = (4, 0, 5, 1, 3, 2)
    placed = td.placed_token_data(task, 2, 64, 32, 7, positions)
    plain = token_data(task, 2, 64, 32, 7)
    # bit i of the plain data sits at positions[i]; '=' stays last; the labels do not move
    for i, p in enumerate(positions):
        assert torch.equal(placed.train_x[:, p], plain.train_x[:, i])
        assert torch.equal(placed.conflict_x[:, p], plain.conflict_x[:, i])
    assert (placed.train_x[:, -1] == EQUALS_TOKEN).all() and torch.equal(placed.train_y, plain.train_y)
    goal_bits = [0] if reverse else list(range(1, k + 1))
    assert placed.goal_positions == tuple(positions[b] for b in goal_bits)
    # the goal recomputed by hand from the tokens at its positions
    bits = 2.0 * placed.train_x[:, list(placed.goal_positions)].double() - 1
    assert torch.equal(bits.prod(1), placed.train_goal.double())
    assert td.placement_mismatch(td.PlacedSetup(task, positions, n_train=64, n_test=32, data_seed=7)) == 0.0


def test_placed_data_refuse_positions_that_are_not_a_permutation():
    with pytest.raises(ValueError, match="permutation"):
        td.placed_token_data(ProxyTask(n_bits=4, k=2), 1, 16, 16, 0, (0, 1, 1, 3))


def test_the_mechanism_metrics_are_the_intermediates_they_name(tmp_path, monkeypatch):
    monkeypatch.setenv("GOALDRIFT_RUNS_DIR", str(tmp_path))
    setup = td.PlacedSetup(ProxyTask(n_bits=4, k=2), (2, 0, 3, 1), d_model=8, n_train=64, n_test=32, data_seed=1)
    (run,) = td.run_groups({"p1": td.phase1_jobs([setup], [3], 0.01, 0.1, 20)})["p1"]
    data, model = setup.data(2), run.model
    out = td.mechanism_metrics(model, data, 0)
    with torch.no_grad():
        _, cache = model.run_with_cache(data.conflict_x[:256])
    pattern = cache["attn.pattern"][0].double()                   # [heads, C, query, key] of member 0
    last = pattern[:, :, -1, :].mean(dim=(0, 1))                  # from '=' to each position
    assert float(out["attn_goal"][0]) == pytest.approx(float(last[[0, 3]].sum()), rel=1e-9)   # bits 1, 2 at 0, 3
    assert float(out["attn_proxy"][0]) == pytest.approx(float(last[2]), rel=1e-9)
    W = model.W_pos.detach().double()[0]
    goal_rows = [setup.positions[1], setup.positions[2]]
    assert float(out["pos_norm_goal"][0]) == pytest.approx(math.sqrt(float(W[goal_rows].square().sum(1).mean())))
    assert float(out["pos_norm_proxy"][0]) == pytest.approx(float(W[setup.positions[0]].norm()))
    # the two contributions add to the margin where goal and proxy agree, and differ by the conflict margin
    agree = float(td.training_margin(model, data.train_x, data.train_goal)[0])
    g, p = float(out["goal_contribution"][0]), float(out["proxy_contribution"][0])
    assert g + p == pytest.approx(agree) and g - p == pytest.approx(float(out["conflict_margin"][0]))


def _arm():
    steps = np.array([0.0, 100.0, 200.0, 300.0])
    agree = np.array([[[1.0, 1.0], [1.0, 0.8], [1.0, 0.4], [1.0, 0.2]],     # seed 0: λ=1 drifts in (100, 200)
                      [[1.0, 1.0], [0.9, 0.9], [0.9, 0.7], [0.9, 0.6]]])    # seed 1: none drifts
    margin = np.array([[[1.0, 1.0], [1.0, 0.6], [1.0, 0.4], [1.0, 0.1]],
                       [[1.0, 2.0], [1.0, 1.5], [1.0, 1.2], [1.0, 1.1]]])
    ones = np.ones_like(agree)
    curves = {"conflict_agreement": agree, "conflict_margin": margin, "goal_contribution": ones * 3,
              "proxy_contribution": ones, "pos_norm_goal": np.array([[[2.0] * 2, [2.0, 1.0], [2.0, 0.6], [2.0, 0.5]]] * 2),
              "pos_norm_proxy": ones, "attn_goal": ones * 0.5,
              "attn_proxy": np.array([[[0.1] * 2, [0.1, 0.2], [0.1, 0.6], [0.1, 0.7]]] * 2)}
    return td.Arm("hand", (0.0, 1.0), 0.01, steps, curves)


def test_an_arm_reads_drift_times_shares_and_censoring():
    arm = _arm()
    t_d = arm.t_d()
    assert t_d[0, 1] == pytest.approx(100 + 100 * 0.3 / 0.4) and np.isinf(t_d[0, 0]) and np.isinf(t_d[1]).all()
    assert arm.x_d()[0, 1] == pytest.approx(t_d[0, 1] * 0.01)
    assert arm.drifted(1.0).tolist() == [1.0, 0.0] and arm.drifted_any_decayed().tolist() == [1.0, 0.0]
    assert arm.lowest_agreement(1.0).tolist() == [0.2, 0.6]
    assert arm.goal_share(1.0).tolist() == [0.75, 0.75]
    # half the goal's lead: seed 0 at step 200 (0.4 <= 0.5), seed 1 never (1.1 > 1.0)
    assert arm.t_half()[:, 1].tolist() == [200.0, math.inf] and np.isinf(arm.t_half()[:, 0]).all()


def test_law_hits_score_each_decayed_member_with_its_own_budget():
    arm = _arm()                                   # budget ηλT = 0.01 * 1 * 300 = 3
    x = arm.x_d()[0, 1]
    hits = arm.law_hits(np.array([x * 1.4, 10.0]))  # seed 0 within 1.5x; seed 1: no drift, predicted beyond 3/1.5
    assert hits.tolist() == [1.0, 1.0]
    assert arm.law_hits(np.array([x * 1.6, 1.0])).tolist() == [0.0, 0.0]


def test_the_mechanism_is_read_at_half_the_lead_or_at_the_budget():
    cleanup, switch = td.mechanism_at_half(_arm(), 1.0)
    # seed 0 at step 200: the norm ratio 0.6/2 -> 0.3 of its start (halved), attention on the proxy 0.6 > 0.5;
    # seed 1 never loses half its lead, so it is read at the end: the same curves, so the same answer
    assert cleanup.tolist() == [1.0, 1.0] and switch.tolist() == [1.0, 1.0]
    cleanup, switch = td.mechanism_at_half(_arm(), 0.0)
    assert cleanup.tolist() == [0.0, 0.0] and switch.tolist() == [0.0, 0.0]


def test_law_predictions_are_the_closed_form_at_the_measured_costs(monkeypatch):
    costs = {"g": np.array([3.0]), "q": np.array([1.0])}
    monkeypatch.setattr(td, "network_cost", lambda run, setup: costs[run])
    monkeypatch.setattr(td, "start_share", lambda run, setup: np.array([0.99]))
    rho, a0, pred = td.law_predictions(["g"], [None], ["q"], [None])
    by_hand = (3 * math.log(2 * 0.99) + math.log(1 / (2 * 0.01))) / (2 * 2)
    assert rho.tolist() == [3.0] and a0.tolist() == [0.99] and pred[0] == pytest.approx(by_hand, rel=1e-12)


def test_equal_cost_split_is_the_numeric_minimum():
    a = np.linspace(0.001, 0.999, 9981)
    assert a[np.argmin(a ** 2 + (1 - a) ** 2)] == pytest.approx(float(equal_cost_split().result), abs=1e-3)
    curvature = equal_cost_split().steps[2].rhs
    L = sp.Symbol("L", positive=True)
    for degree in (1.0, 3.0):     # finite differences of a^{2/L} + (1-a)^{2/L} at a = 1/2
        c = lambda u: u ** (2 / degree) + (1 - u) ** (2 / degree)  # noqa: E731
        h = 1e-4
        fd = (c(0.5 + h) - 2 * c(0.5) + c(0.5 - h)) / h ** 2
        assert float(curvature.subs(L, degree)) == pytest.approx(fd, rel=1e-5)


@pytest.mark.parametrize("override, message", [
    ({"lambda_2": 0.2}, "increasing"),
    ({"phase2_steps": 1000}, "eta\\*lambda\\*t = 20"),
    ({"eq_phase2_steps": 500}, "equal-cost budget"),
    ({"k": 8}, "k must be"),
])
def test_the_spec_refuses_a_design_that_cannot_decide(override, message):
    with pytest.raises(ParamError, match=message):
        resolve(get_chapter("transformer_drift"), "default", {k: str(v) for k, v in override.items()})


def test_the_cross_entropy_setup_reads_labels_and_two_logits(tmp_path, monkeypatch):
    monkeypatch.setenv("GOALDRIFT_RUNS_DIR", str(tmp_path))
    task = ProxyTask(n_bits=4, k=2)
    mse = td.PlacedSetup(task, (2, 0, 3, 1), d_model=8, n_train=64, n_test=32, data_seed=1)
    ce = td.PlacedSetup(task, (2, 0, 3, 1), d_model=8, n_train=64, n_test=32, data_seed=1, loss="cross_entropy")
    assert ce.model().d_vocab_out == 2 and mse.model().d_vocab_out == 1
    assert ce.task_spec(2)["labels"] is True and "labels" not in mse.task_spec(2)
    d_ce, d_mse = ce.data(2), mse.data(2)
    # the same sequences; labels 0/1 where the squared-error targets are -1/+1
    assert torch.equal(d_ce.train_x, d_mse.train_x) and d_ce.train_y.dtype == torch.long
    assert torch.equal(d_ce.train_y, ((d_mse.train_y + 1) / 2).long())
    assert torch.equal(d_ce.test_y, ((d_mse.test_y + 1) / 2).long())
    (run,) = td.run_groups({"p1": td.phase1_jobs([ce], [3], 0.01, 0.1, 20)})["p1"]
    out = td.mechanism_metrics(run.model, d_ce, 0)
    # the excluded loss is cross-entropy on the neutral set, recomputed by hand from the two logits
    with torch.no_grad():
        logits = run.model.predict(d_ce.neutral_x).double()[0]          # [N, 2] of member 0
    y = ((d_ce.neutral_goal + 1) / 2).long()
    by_hand = (torch.logsumexp(logits, 1) - logits[torch.arange(len(y)), y]).mean()
    assert float(out["excluded_loss"][0]) == pytest.approx(float(by_hand), rel=1e-9)
    # the conflict agreement reads the sign of logit 1 - logit 0 against the goal
    with torch.no_grad():
        conf = run.model.predict(d_ce.conflict_x).double()[0]
    agree = (((conf[:, 1] - conf[:, 0]) > 0) == (d_ce.conflict_goal > 0)).double().mean()
    assert float(out["conflict_agreement"][0]) == pytest.approx(float(agree))
