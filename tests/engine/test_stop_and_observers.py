"""The engine's stopping rule, step observers and half_sse loss (chapters
factorised_simplicity, rotational_equilibrium), against closed forms and hand gradients."""

import math

import numpy as np
import pytest
import torch

from goaldrift.engine import runs
from goaldrift.engine.models import DiagonalConfig
from goaldrift.engine.train import ConfigError, OptimConfig, RunConfig, StopRule, per_member_loss, train

C = [1.0, -0.5, 0.25]


def linear_config(lr=0.2, wd=0.5, steps=1000, stop=None, **kw):
    """A depth-1 'diagonal network' u fitted to c: grad = (1 + wd) u - c shrinks by 1 - lr (1 + wd) per step."""
    return RunConfig(task={"name": "coordinate_targets", "targets": C}, model=DiagonalConfig(n=3, depth=1),
                     optim=OptimConfig(kind="sgd_torch", lr=lr, weight_decay=wd), steps=steps, seeds=[0],
                     loss="half_sse", eval_every=steps, checkpoint_every=None, dtype="float64", device="cpu",
                     stop=stop, **kw)


ZERO = {"U": torch.zeros(1, 1, 3, dtype=torch.float64)}


def test_stop_rule_stops_at_the_first_check_below_tolerance():
    # |grad_t| = 0.7^t from u = 0 (max |c| = 1): below 1e-6 from t = 38.7, so the check at 40 stops it
    model, m = train(linear_config(stop=StopRule(1e-6, check_every=5)), init_state=ZERO, progress=False)
    assert m["step"][-1] == 40 and m["step_loss"].shape == (40, 1)
    assert m["grad_check_step"].tolist() == list(range(0, 45, 5))
    assert np.allclose(m["grad_max"][:, 0], 0.7 ** m["grad_check_step"], rtol=1e-12)
    u_40 = (np.array(C) / 1.5) * (1 - 0.7**40)   # the closed form of 40 steps
    assert np.allclose(model.U.detach()[0, 0].numpy(), u_40, rtol=1e-12)


def test_stop_rule_min_steps_and_cap():
    _, m = train(linear_config(stop=StopRule(1e-6, check_every=5, min_steps=50)), init_state=ZERO, progress=False)
    assert m["step"][-1] == 50
    _, m = train(linear_config(steps=32, stop=StopRule(1e-6, check_every=5)), init_state=ZERO, progress=False)
    assert m["step"][-1] == 32 and m["grad_check_step"][-1] == 32   # the cap, tested at the final weights
    assert m["grad_max"][-1, 0] == pytest.approx(0.7**32, rel=1e-12)


def test_stop_rule_ends_a_diverging_run():
    # 1 - lr (1 + wd) = -9: the gradient overflows after ~323 steps
    _, m = train(linear_config(lr=10 / 1.5, steps=5000, stop=StopRule(1e-6, check_every=5)), init_state=ZERO,
                 progress=False)
    assert 300 < m["step"][-1] < 400 and not math.isfinite(m["grad_max"][-1, 0])


def test_without_a_stop_rule_the_key_is_unchanged_and_the_rule_round_trips():
    plain = linear_config()
    assert "stop" not in plain.to_dict()
    ruled = linear_config(stop=StopRule(1e-9, check_every=7, min_steps=3))
    assert ruled.to_dict()["stop"] == {"grad_tol": 1e-9, "check_every": 7, "min_steps": 3}
    assert RunConfig.from_dict(ruled.to_dict()) == ruled
    assert runs.config_hash(plain) != runs.config_hash(ruled)


@pytest.mark.parametrize("stop,match", [(StopRule(-1.0), "grad_tol"), (StopRule(float("nan")), "grad_tol"),
                                        (StopRule(1e-6, check_every=0), "check_every"),
                                        (StopRule(1e-6, min_steps=-1), "min_steps")])
def test_bad_stop_rules_are_config_errors(stop, match):
    with pytest.raises(ConfigError, match=match):
        linear_config(stop=stop).validate()


def test_half_sse_is_half_the_summed_square():
    out = torch.tensor(np.random.default_rng(0).standard_normal((2, 3, 4)))
    y = torch.tensor(np.random.default_rng(1).standard_normal((3, 4)))
    expected = 0.5 * ((out.numpy() - y.numpy()[None]) ** 2).sum(axis=(1, 2))
    assert np.allclose(per_member_loss("half_sse", out, y).numpy(), expected, rtol=1e-15)


def test_observer_sees_before_grad_after_of_every_step():
    lr, wds = 0.1, [0.3, 0.0]
    rng = np.random.default_rng(5)
    U0 = rng.standard_normal((2, 2, 4))
    c = rng.standard_normal(4)
    config = RunConfig(task={"name": "coordinate_targets", "targets": c.tolist()}, model=DiagonalConfig(n=4, depth=2),
                       optim=OptimConfig(kind="sgd_torch", lr=lr, weight_decay=wds), steps=6, seeds=[0, 1],
                       loss="half_sse", eval_every=6, checkpoint_every=None, dtype="float64", device="cpu")

    def observe(view):
        return {"before": view.before["U"], "grad": view.grad["U"], "after": view.after["U"].clone(),
                "loss": view.loss, "step_seen": torch.full((2,), float(view.step))}

    model, m = train(config, init_state={"U": torch.tensor(U0)}, observers={"all": observe}, progress=False)
    before, grad, after = m["before"], m["grad"], m["after"]
    assert before.shape == (6, 2, 2, 4) and m["step_seen"][:, 0].tolist() == list(range(6))
    assert np.array_equal(before[0], U0)
    assert np.array_equal(before[1:], after[:-1])              # the next step starts where this one ended
    assert np.array_equal(after[-1], model.U.detach().numpy())
    u, v = before[:, :, 0], before[:, :, 1]
    r = u * v - c
    assert np.allclose(grad[:, :, 0], r * v, rtol=1e-13) and np.allclose(grad[:, :, 1], r * u, rtol=1e-13)
    wd = np.array(wds)[None, :, None, None]
    assert np.allclose(after, before - lr * (grad + wd * before), rtol=1e-14, atol=1e-16)
    assert np.allclose(m["loss"], 0.5 * (r**2).sum(-1), rtol=1e-14)
    assert np.array_equal(m["loss"], m["step_loss"])
    fn = {"all": observe}
    assert runs.config_hash(config, observers=fn) != runs.config_hash(config)
