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


def test_turn_degrees_against_known_angles():
    a = np.array([[1.0, 0.0], [1.0, 1.0], [-2.0, 0.0]])
    assert np.allclose(gh.turn_degrees(a, np.array([1.0, 0.0])), [0.0, 45.0, 180.0])


def test_adam_turns_match_torch_adamw_and_control_has_no_decay(tmp_path):
    data = gh.make_data(32, 3, seed=0)
    lam, lr, steps = 0.7, 0.05, 30
    turns = gh.adam_turns(data, 5, 1.0, lam, lr, steps, seeds=[3, 4], root=tmp_path)
    # independently, per seed and decay: torch.optim.AdamW on the loss formula (same betas, eps)
    for i, s in enumerate([3, 4]):
        g0 = gh.initial_goal(5, 1.0, seed=s)
        for wd, measured in ((lam, turns.turn_decayed[i]), (0.0, turns.turn_undecayed[i])):
            g = g0[None].clone().requires_grad_()
            opt = torch.optim.AdamW([g], lr=lr, betas=(0.9, 0.98), eps=1e-8, weight_decay=wd)
            for _ in range(steps):
                opt.zero_grad()
                gh.member_losses(g, data.h, 1.0).sum().backward()
                opt.step()
            c = float(torch.nn.functional.cosine_similarity(g.detach(), g0[None]).clamp(-1, 1))
            assert measured == pytest.approx(np.degrees(np.arccos(c)), rel=1e-9, abs=1e-9)
    assert np.all(turns.turn_decayed > 0) and np.all(turns.turn_undecayed > 0)
    assert np.allclose(turns.undecayed_share, turns.turn_undecayed / turns.turn_decayed)
    sign0 = np.sign(gh.initial_goal(5, 1.0, seed=3).numpy())
    assert turns.sign_cos_start[0] == pytest.approx(float(gh.cosine(gh.initial_goal(5, 1.0, seed=3).numpy()[None], sign0)[0]))


def test_stationarity_residual_against_finite_differences_and_the_equilibrium():
    data = gh.make_data(40, 3, seed=1)
    kappa, lams = 1.2, np.array([0.3, 0.05])
    goal = np.stack([gh.initial_goal(4, 0.9, seed=5).numpy(), gh.initial_goal(4, 2.0, seed=6).numpy()])

    def loss(g):   # the coupled loss by hand: q/2 (1 - s(r))^2, s(r) = r^2 / (r^2 + kappa^2)
        r2 = float(g @ g)
        return 0.5 * float((data.h**2).mean()) * (1 - r2 / (r2 + kappa**2)) ** 2

    eps = 1e-6
    for k in range(2):
        grad = np.array([(loss(goal[k] + eps * e) - loss(goal[k] - eps * e)) / (2 * eps) for e in np.eye(4)])
        expected = np.linalg.norm(grad + lams[k] * goal[k]) / (lams[k] * np.linalg.norm(goal[k]))
        assert gh.stationarity_residual(goal, data.h, kappa, lams)[k] == pytest.approx(expected, rel=1e-7)
    # at r* = sqrt((2 q kappa^4 / lambda)^(1/3) - kappa^2) the gradient balances the decay exactly
    r_star = np.sqrt((2 * data.q * kappa**4 / lams) ** (1 / 3) - kappa**2)
    at_rest = goal / np.linalg.norm(goal, axis=1, keepdims=True) * r_star[:, None]
    assert np.all(gh.stationarity_residual(at_rest, data.h, kappa, lams) < 1e-12)
    assert np.all(gh.stationarity_residual(goal, data.h, kappa, lams) > 1e-2)


def test_stationarity_residual_rejects_mismatched_decays():
    data = gh.make_data(8, 2, seed=0)
    with pytest.raises(ValueError, match="weight decays"):
        gh.stationarity_residual(np.ones((2, 3)), data.h, 1.0, [0.1])


# --- the chapter's measurements on one toy ---

@pytest.fixture(scope="module")
def toy():
    return gh.make_toy(32, 3, 4, kappa=1.0, lr=0.1, seed=0)


def test_make_toy_is_the_data_and_goal_of_its_seed(toy):
    assert toy.q == pytest.approx(1.0, rel=1e-14) and toy.lam_crit == pytest.approx(2.0, rel=1e-14)
    assert torch.equal(toy.goal0, gh.initial_goal(4, 1.0, seed=0)) and float(toy.goal0.norm()) == pytest.approx(1.0)
    assert torch.equal(toy.data.h, gh.make_data(32, 3, seed=0).h)


def test_sweep_steps_from_the_rates_by_hand():
    q, kappa, lr, lam_crit = 1.0, 1.0, 0.1, 2.0
    lams = np.array([0.3, 0.7, 1.3]) * lam_crit
    x = lams[:2] / lam_crit
    # r* F'(r*) = 6 lambda (1 - x^(1/3)) below lambda_crit, lambda - lambda_crit above it
    slowest = min(min(lr * 6 * lams[:2] * (1 - x ** (1 / 3))), lr * (lams[2] - lam_crit))
    expected = int(1.5 * np.ceil(np.log(1e-12) / np.log(1 - slowest))) + 200
    assert gh.sweep_steps(q, kappa, lr, lams, lam_crit, 2) == expected


def test_lambda_sweep_against_the_formulas_by_hand(toy, tmp_path):
    sweep = gh.lambda_sweep(toy, 2, 0.3, root=tmp_path)
    assert np.allclose(sweep.ratios, [0.3, 0.7, 1.3, 2.0, 3.0], rtol=1e-14) and sweep.n_below == 2
    assert sweep.lam_crit == toy.lam_crit and np.array_equal(sweep.lams, sweep.ratios * toy.lam_crit)
    assert sweep.run.norms.shape == (sweep.steps + 1, 5)
    lam, r_end = sweep.lams[:2], sweep.run.norms[-1]
    r_star = np.sqrt((2 * toy.q / lam) ** (1 / 3) - 1.0)                           # kappa = 1
    loss_star = 2 ** (1 / 3) * toy.q ** (1 / 3) * lam ** (2 / 3) / 4
    assert sweep.norm_error == pytest.approx(max(abs(r_end[:2] / r_star - 1)), rel=1e-6, abs=1e-15)
    assert sweep.loss_error == pytest.approx(max(abs(sweep.run.losses[:2] / loss_star - 1)), rel=1e-6, abs=1e-15)
    assert sweep.norm_error < 1e-6 and sweep.loss_error < 1e-6
    assert sweep.erased == max(r_end[2:]) < 1e-8                                  # start norm kappa = 1
    assert sweep.residual == max(gh.stationarity_residual(sweep.run.goal[:2], toy.data.h, 1.0, lam)) < 1e-6
    assert (sweep.price_low, sweep.price_high) == (sweep.run.losses[0], sweep.run.losses[1])
    assert sweep.closed_gate_loss == toy.q / 2 and sweep.ratio_below_max == pytest.approx(0.7)
    assert sweep.ratios_above_text == "1.3, 2, 3"


def test_controls_against_their_runs(toy, tmp_path):
    lam = 0.6
    c = gh.controls(toy, lam, exempt_steps=50, root=tmp_path)
    free = gh.train(toy.data, toy.goal0, [lam], 0.1, 1.0, 200, coupled=False, root=tmp_path)
    exempt = gh.train(toy.data, toy.goal0, [lam], 0.1, 1.0, 50, exempt=True, root=tmp_path)
    per_step = [free.norms[t + 1, 0] / free.norms[t, 0] for t in range(200)]
    assert c.uncoupled_error == pytest.approx(max(abs(f / (1 - 0.1 * lam) - 1) for f in per_step), rel=1e-6, abs=1e-16)
    assert c.uncoupled_error < 1e-12
    assert c.exempt_min_step == min(exempt.norms[t + 1, 0] - exempt.norms[t, 0] for t in range(50)) >= 0
    assert (c.exempt_norm, c.exempt_loss) == (exempt.norms[-1, 0], exempt.losses[0])
    assert c.held_norm == pytest.approx(np.sqrt((2 * toy.q / lam) ** (1 / 3) - 1), rel=1e-12)


def test_direction_test_against_its_runs(toy, tmp_path):
    lam = 0.6
    d = gh.direction_test(toy, lam, batch_size=8, adam_lr=0.05, steps=30, n_seeds=3, root=tmp_path)
    g0 = toy.goal0.numpy()
    mini = gh.train(toy.data, toy.goal0, [lam], 0.1, 1.0, 30, batch_size=8, seed=0, root=tmp_path)
    g = mini.goal[0]
    assert d.sgd_one_minus_cos == pytest.approx(1 - g @ g0 / np.sqrt((g @ g) * (g0 @ g0)), abs=1e-15)
    assert d.sgd_one_minus_cos < 1e-12                                        # SGD keeps the direction
    assert d.turns.seeds == [0, 1, 2]
    assert d.mean("sign_gain") == pytest.approx(np.mean(d.turns.sign_cos_decayed - d.turns.sign_cos_start), rel=1e-12)
    assert d.least("turn_decayed") == min(d.turns.turn_decayed)
    adam = gh.train(toy.data, toy.goal0, [lam], 0.05, 1.0, 30, kind="adamw", root=tmp_path)
    z = torch.randn(4096, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64).numpy()
    same = [(zi @ adam.goal[0] > 0) == (zi @ g0 > 0) for zi in z]
    assert d.agreement == pytest.approx(sum(same) / len(same), rel=1e-12) and 0 < d.agreement < 1


def test_the_sweep_figure_draws(toy, tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    gh.plot_sweep(gh.lambda_sweep(toy, 2, 0.3, root=tmp_path))
    assert len(shown) == 1 and shown[0].data[:4] == b"\x89PNG"
