"""The model kinds "diagonal", "factorised_matrix" and "scale_invariant_mlp" (chapters
factorised_simplicity, rotational_equilibrium): outputs and gradients against numpy by
hand, seeded inits, scale invariance, config round trips."""

import math

import numpy as np
import pytest
import torch

from goaldrift.engine.models import (DiagonalConfig, FactorisedMatrixConfig, ScaleInvariantMLPConfig, build_model,
                                     model_kind)
from goaldrift.engine.models.invariant_mlp import init_weights, network_outputs
from goaldrift.engine.train import OptimConfig, RunConfig

RNG = np.random.default_rng(11)


def test_diagonal_outputs_products_and_hand_gradient():
    n = 7
    model = build_model(DiagonalConfig(n=n, depth=2), [0], dtype=torch.float64)
    u, v = RNG.standard_normal(n), RNG.standard_normal(n)
    c = RNG.standard_normal(n)
    model.load_state_dict({"U": torch.tensor(np.stack([u, v]))[None]})
    out = model.predict(torch.ones(1, n, dtype=torch.float64))
    assert out.shape == (1, 1, n) and np.allclose(out[0, 0].detach().numpy(), u * v, rtol=1e-15)
    (0.5 * (out[0, 0] - torch.tensor(c)).square().sum()).backward()
    r = u * v - c
    grad = model.U.grad[0].numpy()
    assert np.allclose(grad[0], r * v, rtol=1e-13) and np.allclose(grad[1], r * u, rtol=1e-13)
    x = torch.tensor(RNG.standard_normal((3, n)))
    assert np.allclose(model.predict(x)[0].detach().numpy(), x.numpy() * u * v, rtol=1e-14)


def test_diagonal_init_is_the_seeded_numpy_stream():
    model = build_model(DiagonalConfig(n=5, depth=3, init_scale=0.2), [4, 9], dtype=torch.float64)
    for k, seed in enumerate([4, 9]):
        expected = 0.2 * np.random.default_rng([seed, 11]).standard_normal((3, 5))
        assert np.array_equal(model.U.detach()[k].numpy(), expected)


def test_factorised_matrix_product_and_hand_gradient():
    d, w = 4, 3
    model = build_model(FactorisedMatrixConfig(d=d, width=w), [1], dtype=torch.float64)
    A, B, M = model.A.detach()[0].numpy(), model.B.detach()[0].numpy(), RNG.standard_normal((d, d))
    out = model.predict(torch.eye(d, dtype=torch.float64))
    assert out.shape == (1, d, d) and np.allclose(out[0].detach().numpy(), A @ B.T, rtol=1e-14)
    (0.5 * (out[0] - torch.tensor(M)).square().sum()).backward()
    R = A @ B.T - M
    assert np.allclose(model.A.grad[0].numpy(), R @ B, rtol=1e-12)
    assert np.allclose(model.B.grad[0].numpy(), R.T @ A, rtol=1e-12)


def test_factorised_matrix_init_is_the_seeded_torch_stream():
    model = build_model(FactorisedMatrixConfig(d=3, width=2, init_scale=0.5), [6], dtype=torch.float64)
    g = torch.Generator().manual_seed(int(np.random.default_rng([6, 13]).integers(2**31)))
    A = 0.5 * torch.randn(3, 2, generator=g, dtype=torch.float64)
    B = 0.5 * torch.randn(3, 2, generator=g, dtype=torch.float64)
    assert torch.equal(model.A.detach()[0], A) and torch.equal(model.B.detach()[0], B)


def test_scale_invariant_mlp_init_output_and_invariance():
    cfg = ScaleInvariantMLPConfig(d_in=5, d_hidden=8, init_scale=0.3)
    model = build_model(cfg, [2, 3], dtype=torch.float64)
    for k, seed in enumerate([2, 3]):
        w = init_weights(5, 8, seed)
        for name in ("W_0", "W_1"):
            assert torch.equal(getattr(model, name).detach()[k], w[name] * 0.3)
        for name in ("W_2", "b_2"):
            assert torch.equal(getattr(model, name).detach()[k], w[name])
        # init_weights: N(0, 1/fan_in); check the scale on the 8x8 matrix loosely
        assert 0.3 < float(w["W_1"].std()) * math.sqrt(8) < 2.0
    x = torch.tensor(RNG.standard_normal((6, 5)))
    out = model.predict(x)
    assert out.shape == (2, 6, 1)
    with torch.no_grad():
        scaled = {**model.weights(), "W_0": model.W_0 * 7.0, "W_1": model.W_1 * 0.01}
        assert torch.allclose(network_outputs(scaled, x)[..., None], out, rtol=1e-12, atol=1e-13)
        unscaled = {**model.weights(), "W_0": model.W_0 / 0.3, "W_1": model.W_1 / 0.3}
        assert torch.allclose(network_outputs(unscaled, x)[..., None], out, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("cfg,kind", [(DiagonalConfig(n=4, depth=3), "diagonal"),
                                      (FactorisedMatrixConfig(d=3, width=2), "factorised_matrix"),
                                      (ScaleInvariantMLPConfig(d_in=4, d_hidden=6), "scale_invariant_mlp")])
def test_new_kinds_round_trip_through_the_run_config(cfg, kind):
    assert model_kind(cfg) == kind
    config = RunConfig(task={"name": "coordinate_targets", "targets": [1.0]}, model=cfg,
                       optim=OptimConfig(kind="sgd_torch", lr=0.1, weight_decay=0.1), device="cpu")
    d = config.to_dict()
    assert d["model"]["kind"] == kind and RunConfig.from_dict(d) == config


@pytest.mark.parametrize("cfg", [DiagonalConfig(n=0), DiagonalConfig(n=3, depth=0), DiagonalConfig(n=3, init_scale=0.0),
                                 FactorisedMatrixConfig(d=3, width=0), ScaleInvariantMLPConfig(d_in=0),
                                 ScaleInvariantMLPConfig(d_in=3, d_out=2)])
def test_bad_model_configs_are_refused(cfg):
    with pytest.raises(ValueError, match="model|output"):
        cfg.validate()
