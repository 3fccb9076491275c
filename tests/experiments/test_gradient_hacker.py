"""goaldrift.experiments.goals.gradient_hacker (chapter price_of_persistence): data,
losses and training against autograd and the theory."""

import numpy as np
import pytest
import torch

from goaldrift.experiments.goals import gradient_hacker as gh
from goaldrift.theory import persistence as th
from goaldrift.theory.derivation import numeric


def test_radial_force_matches_autograd():
    data = gh.make_data(64, 4, seed=2)
    g = gh.initial_goal(5, 0.7, seed=2)[None].clone().requires_grad_()
    gh.member_losses(g, data.h, kappa=1.1).sum().backward()
    F = numeric(th.radial_force().result, th.r, th.q, th.kappa, th.lam)
    predicted = F(0.7, data.q, 1.1, 0.0) * g.detach()
    assert torch.allclose(g.grad, predicted, rtol=1e-12, atol=0)


def test_data_has_unit_power_and_uncoupled_loss_ignores_goal():
    data = gh.make_data(50, 3, seed=1)
    assert data.q == pytest.approx(1.0, rel=1e-14)
    g = torch.ones(2, 4, dtype=torch.float64, requires_grad=True)
    gh.member_losses(g, data.h, 1.0, coupled=False).sum().backward()
    assert torch.all(g.grad == 0)


def test_exempt_goal_is_not_decayed_without_coupling():
    data = gh.make_data(32, 3, seed=0)
    g0 = gh.initial_goal(4, 1.0, seed=0)
    run = gh.train(data, g0, [0.5], 0.1, 1.0, 20, coupled=False, exempt=True)
    assert np.allclose(run.norms[:, 0], 1.0, rtol=1e-14)


def test_engine_training_matches_plain_gradient_descent_and_is_cached(tmp_path):
    data = gh.make_data(32, 3, seed=0)
    g0 = gh.initial_goal(4, 1.0, seed=0)
    first = gh.train(data, g0, [0.5, 1.0], 0.1, 1.0, 40, root=tmp_path)
    # independently: SGD with L2, g <- g - eta (grad L + lambda g), by autograd on the loss formula
    g = g0.expand(2, -1).clone().requires_grad_()
    lam = torch.tensor([[0.5], [1.0]], dtype=torch.float64)
    for _ in range(40):
        (grad,) = torch.autograd.grad(gh.member_losses(g, data.h, 1.0).sum(), g)
        with torch.no_grad():
            g -= 0.1 * (grad + lam * g)
    assert np.allclose(first.goal, g.detach().numpy(), rtol=1e-12, atol=0)
    assert first.norms.shape == (41, 2) and np.allclose(first.norms[-1], np.linalg.norm(first.goal, axis=1))
    again = gh.train(data, g0, [0.5, 1.0], 0.1, 1.0, 40, root=tmp_path)
    assert len(list(tmp_path.glob("*/provenance.json"))) == 1   # the second call loaded the cached run
    assert np.array_equal(again.goal, first.goal) and np.array_equal(again.norms, first.norms)
