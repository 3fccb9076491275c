"""The optimiser crossover's machinery: arms at one eta*lambda, per-seed readings of a crossover
(checked on hand-made curves), the derivation checks against closed forms, and one tiny run."""

import math

import numpy as np
import pytest

from goaldrift.experiments.goals import proxy_drift as drift
from goaldrift.experiments.goals import which_simplicity as ws


def test_arms_share_eta_lambda_and_large_eps_adam_has_sgds_rate():
    arms = ws.arms(sgd_lr=0.05, adam_lr=0.004, eta_lambda=0.002, large_eps=100.0)
    assert list(arms) == ["sgd", "adamw", "large_eps_adam", "sign_descent"]
    for a in arms.values():
        assert a.lr * a.weight_decay == pytest.approx(0.002)
    big = arms["large_eps_adam"]
    assert big.lr / big.eps == pytest.approx(0.05) and big.kind == "adamw"
    assert arms["sign_descent"].betas == (0.0, 0.0) and arms["sgd"].kind == "sgd"
    assert arms["sgd"].law and arms["adamw"].law and not arms["sign_descent"].law


def test_members_are_seed_major_with_control_and_law_member():
    a = ws.Arm("x", "adamw", 0.004, 0.5, law=True)
    m = a.members(2, 2.0)
    assert [(x.source, x.lr, x.weight_decay) for x in m] == [
        (0, 0.004, 0.5), (0, 0.004, 0.0), (0, 0.002, 1.0), (1, 0.004, 0.5), (1, 0.004, 0.0), (1, 0.002, 1.0)]
    assert len(ws.Arm("y", "sgd", 0.05, 0.04).members(3, 2.0)) == 6


def _fake_run(arm, agreement_by_member):
    """A DecayDrift whose members are ``arm.members(2, 2)`` with the given conflict curves."""
    members = arm.members(2, 2.0)
    steps = np.array([0.0, 100.0, 200.0])
    agreement = np.array(agreement_by_member, dtype=float).T  # [T, K]
    return drift.DecayDrift(members=members, steps=steps, agreement=agreement,
                            t_d=drift.drift_step(steps, agreement), metrics={})


def _crossover():
    arms = {"sgd": ws.Arm("sgd", "sgd", 0.05, 0.04, law=True), "adamw": ws.Arm("adamw", "adamw", 0.004, 0.5, law=True)}
    keep, fall, fall_late = [1, 1, 1], [1, 0.4, 0.0], [1, 0.8, 0.2]
    # per seed: (eta, lambda), control, law member
    runs = {
        ("sgd", 1.0): _fake_run(arms["sgd"], [fall, keep, fall, fall, keep, fall]),
        ("sgd", 0.1): _fake_run(arms["sgd"], [keep, keep, keep, keep, keep, fall]),  # seed 1's law member drifts
        ("adamw", 1.0): _fake_run(arms["adamw"], [fall, keep, fall, fall, keep, fall]),
        ("adamw", 0.1): _fake_run(arms["adamw"], [fall, keep, fall_late, fall, fall, keep]),  # seed 1: control drifts, law censored
    }
    return ws.Crossover(arms=arms, scales=(1.0, 0.1), lr_ratio=2.0, steps=200, n_seeds=2, runs=runs)


def test_crossover_readings_per_seed():
    cx = _crossover()
    t_fall = 100 * (1 - 0.5) / (1 - 0.4)  # linear interpolation of the crossing of 1/2
    t_late = 100 + 100 * (0.8 - 0.5) / (0.8 - 0.2)
    assert cx.drifted("sgd", 0.1).tolist() == [0.0, 0.0]       # never drifting is a 0, not dropped
    assert cx.drifted("adamw", 0.1).tolist() == [1.0, 1.0]
    assert cx.x_d("adamw", 0.1)[0] == pytest.approx(0.002 * t_fall)
    assert cx.all_arms_drift(1.0).tolist() == [1.0, 1.0]
    assert cx.controls_kept().tolist() == [1.0, 0.0]          # seed 1's AdamW control drifted
    assert cx.controls_lowest() == 0.0
    ratio = cx.law_ratio("adamw", 0.1)
    assert ratio[0] == pytest.approx(t_late / t_fall) and math.isnan(ratio[1])  # censored: undefined
    assert cx.law_ratio("sgd", 1.0).tolist() == [1.0, 1.0]
    # interaction of final drift (1 - final agreement), per seed, from the curves by hand
    final = {("sgd", 1.0): [1, 1], ("sgd", 0.1): [0, 0], ("adamw", 1.0): [1, 1], ("adamw", 0.1): [1, 1]}
    expected = (np.array(final[("adamw", 0.1)]) - final[("adamw", 1.0)]) - (np.array(final[("sgd", 0.1)]) - final[("sgd", 1.0)])
    assert cx.interaction("adamw", "sgd").tolist() == pytest.approx(expected.tolist())
    assert cx.budget_x() == pytest.approx(0.05 * 0.04 * 200)
    assert "1/2" not in cx.table() and cx.table().count("\n") == 5


def test_half_life_steps_against_the_exact_count():
    for k, eta_lam in ((1, 0.01), (2, 0.002), (3, 0.02)):
        exact = -math.log(2) / (k * math.log(1 - eta_lam))  # (1 - eta lambda)^{k t} = 1/2
        assert ws.half_life_steps(k, eta_lam) == pytest.approx(exact, rel=1e-6)


def test_sign_step_per_eta_is_g_over_g_plus_eps():
    grads = [1e-6, 1e-3, 1.0]
    measured = ws.sign_step_per_eta(0.01, grads, betas=(0.9, 0.98))
    assert measured == pytest.approx([g / (g + 1e-8) for g in grads], rel=1e-9)
    assert ws.sign_step_per_eta(0.01, grads, betas=(0.0, 0.0)) == pytest.approx(measured, rel=1e-9)


def test_linf_fixed_point_and_large_eps_deviation():
    # the fixed point of theta(1 - eta lambda) - eta g/(|g| + eps): (1/lambda) |g|/(|g| + eps)
    assert ws.linf_fixed_point(0.01, 4.0) == pytest.approx(0.25 * 0.3 / (0.3 + 1e-8), rel=1e-9)
    # the first step is eta g/(|g| + eps): the largest deviation from eta g/eps is at |g| = 1
    assert ws.large_eps_deviation(5.0, 100.0) == pytest.approx(1 / 101, rel=1e-9)


def test_laws_table_predicts_from_the_box_and_the_l2_cost():
    arms = ws.arms(0.05, 0.004, 0.002, 100.0)
    table = ws.laws_table(arms, width=64, dear_scale=0.1)
    assert table.count("drift predicted") == 2 and table.count("no drift toward it") == 2
    tight = ws.arms(0.05, 0.001, 0.004, 100.0)  # AdamW lambda = 4: 64 * 0.1 / 16 < 1
    assert ws.laws_table(tight, width=64, dear_scale=0.1).count("drift excluded") == 2


def test_a_tiny_crossover_runs_every_arm_on_every_scale():
    design = drift.Design(seed=0, n_seeds=1, n_bits=6, width=8, n_train=64, phase1_lr=0.01,
                          phase1_weight_decay=0.1, phase1_steps=5)
    start = design.phase1(design.setup(2))
    arms = ws.arms(0.05, 0.004, 0.01, 100.0)
    cx = ws.crossover(design, 2, start, arms, (1.0, 0.5), steps=4, eval_every=2, lr_ratio=2.0)
    assert set(cx.runs) == {(a, s) for a in arms for s in (1.0, 0.5)}
    assert cx.drifted("sign_descent", 0.5).shape == (1,) and cx.law_ratio("adamw", 1.0).shape == (1,)
    assert cx.runs[("sgd", 1.0)].agreement.shape == (3, 3)  # evaluations at 0, 2, 4; three members
    fig = cx.figure()
    assert len(fig.axes) == 2
    box = ws.box_drifted(design, 2, start, 0.004, 4.0, (1.0, 0.5), steps=4, eval_every=2)
    assert set(box) == {1.0, 0.5} and set(box[0.5].tolist()) <= {0.0, 1.0} and box[1.0].shape == (1,)


def test_the_spec_refuses_a_box_lambda_that_cannot_separate_the_geometries():
    from goaldrift.book.chapters import CHAPTERS
    from goaldrift.book.params import ParamError
    from goaldrift.book.profiles import resolve

    chapter = CHAPTERS["which_simplicity"]
    assert resolve(chapter, "default")["box_weight_decay"] == 4.0
    for profile in ("smoke", "default", "paper"):
        v = resolve(chapter, profile)  # every profile's box holds the cheap proxy and not the dear one
        assert v["width"] * v["dear_scale"] / v["box_weight_decay"] ** 2 < 1 <= v["width"] / v["box_weight_decay"] ** 2
    for bad in ("1.0", "9.0"):  # the box holds both proxies / neither
        with pytest.raises(ParamError, match="box_weight_decay"):
            resolve(chapter, "default", {"box_weight_decay": bad})
    with pytest.raises(ParamError, match="phase2_steps"):
        resolve(chapter, "default", {"phase2_steps": "500"})  # eta*lambda*t = 1 < six drift points
