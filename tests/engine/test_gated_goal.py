"""The gated-goal model, the teacher_outputs task and the half_mse loss (what the
gradient hacker of price_of_persistence trains through the engine), against
finite differences and their definitions."""

import numpy as np
import pytest
import torch

from goaldrift.engine.models import GatedGoal, GatedGoalConfig, build_model
from goaldrift.engine.tasks.teacher import teacher_outputs
from goaldrift.engine.train import OptimConfig, RunConfig, per_member_loss, train


def test_teacher_outputs_have_unit_power_and_are_seeded():
    d = teacher_outputs(50, 3, seed=1)
    assert d.train_x.shape == (50, 1) and d.train_y.shape == (50,) and d.test_x.shape == (0, 1)
    assert torch.equal(d.train_x[:, 0], d.train_y)
    assert d.q == pytest.approx(1.0, rel=1e-14)
    assert torch.equal(teacher_outputs(50, 3, seed=1).h, d.h)
    assert not torch.equal(teacher_outputs(50, 3, seed=2).h, d.h)


def test_members_start_from_their_seed_with_the_given_norm():
    model = GatedGoal(GatedGoalConfig(goal_dim=6, init_norm=0.7), [3, 3, 4], dtype=torch.float64)
    norms = model.goal.detach().norm(dim=1)
    assert torch.allclose(norms, torch.full((3,), 0.7, dtype=torch.float64), rtol=1e-14)
    assert torch.equal(model.goal[0], model.goal[1]) and not torch.equal(model.goal[0], model.goal[2])


def test_output_is_the_gate_times_h_and_uncoupled_ignores_the_goal():
    cfg = GatedGoalConfig(goal_dim=4, kappa=0.8)
    model = build_model(cfg, [0, 1], dtype=torch.float64)
    h = torch.linspace(-2, 2, 7, dtype=torch.float64)[:, None]
    r = model.goal.detach().norm(dim=1)
    s = r**2 / (r**2 + 0.8**2)
    assert torch.allclose(model.predict(h), s[:, None, None] * h[None], rtol=1e-15)
    free = build_model(GatedGoalConfig(goal_dim=4, coupled=False), [0, 1], dtype=torch.float64)
    out = free.predict(h)
    assert torch.equal(out, h[None].expand(2, -1, -1))
    per_member_loss("half_mse", out, h[:, 0]).sum().backward()
    assert torch.equal(free.goal.grad, torch.zeros_like(free.goal))  # zero, not None: decay still acts


def test_half_mse_gradient_by_finite_differences():
    d = teacher_outputs(40, 3, seed=0)
    model = build_model(GatedGoalConfig(goal_dim=5, kappa=1.1), [2], dtype=torch.float64)
    loss = lambda: per_member_loss("half_mse", model.predict(d.train_x), d.train_y).sum()
    loss().backward()
    grad = model.goal.grad.clone()
    eps = 1e-6
    with torch.no_grad():
        for i in range(5):
            model.goal[0, i] += eps
            up = float(loss())
            model.goal[0, i] -= 2 * eps
            down = float(loss())
            model.goal[0, i] += eps
            assert grad[0, i].item() == pytest.approx((up - down) / (2 * eps), rel=1e-7, abs=1e-12)


def test_half_mse_is_half_of_mse():
    out = torch.randn(3, 10, 1, dtype=torch.float64)
    y = torch.randn(10, dtype=torch.float64)
    assert torch.equal(per_member_loss("half_mse", out, y), 0.5 * per_member_loss("mse", out, y))


def test_uncoupled_goal_decays_at_exactly_one_minus_eta_lambda_through_the_engine():
    config = RunConfig(task={"name": "teacher_outputs", "n_samples": 16, "d_in": 2},
                       model=GatedGoalConfig(goal_dim=3, coupled=False),
                       optim=OptimConfig(kind="sgd", lr=0.1, weight_decay=[0.5, 2.0]), steps=30, seeds=[0, 0],
                       loss="half_mse", eval_every=1, checkpoint_every=None, dtype="float64", device="cpu")
    model, metrics = train(config)
    ratio = np.sqrt(metrics["weight_norm_sq"][1:] / metrics["weight_norm_sq"][:-1])
    assert np.allclose(ratio, [1 - 0.05, 1 - 0.2], rtol=1e-13, atol=0)
