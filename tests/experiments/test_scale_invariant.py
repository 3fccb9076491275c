"""goaldrift.experiments.decay.scale_invariant (chapter rotational_equilibrium): the
LayerNorm nets, their training and measurements against independent checks."""

import math

import numpy as np
import pytest
import torch

from goaldrift.experiments.decay import scale_invariant as si


def test_layer_norm_net_is_scale_invariant_by_finite_differences():
    teacher = si.make_teacher(6, 10, seed=1)
    w = {k: v[None].clone() for k, v in si.init_weights(6, 10, seed=2).items()}
    x = torch.randn(32, 6, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    y = teacher(x)

    def loss(W0):
        return float(0.5 * (si.forward({**w, "W_0": W0}, x)[0] - y).pow(2).mean())

    W0 = w["W_0"]
    h = 1e-6
    radial = (loss(W0 * (1 + h)) - loss(W0 * (1 - h))) / (2 * h)   # derivative along w itself
    shift = torch.zeros_like(W0) + torch.randn(1, 6, 1, dtype=torch.float64)  # same vector in every column
    along_shift = (loss(W0 + h * shift) - loss(W0 - h * shift)) / (2 * h)
    other = torch.randn_like(W0)
    along_other = (loss(W0 + h * other) - loss(W0 - h * other)) / (2 * h)
    assert abs(radial) < 1e-9 and abs(along_shift) < 1e-9 and abs(along_other) > 1e-4
    assert max(si.scaled_gradient_error(teacher, seed=4, scale=5.0).values()) < 1e-12


def test_training_records_exact_identities():
    teacher = si.make_teacher(6, 12, seed=0)
    run = si.train("sgd", 0.1, [0.02, 0.05], [0, 1], teacher, steps=60, batch_size=8, label_noise=0.5,
                   data_seed=0, init_scale=0.2)
    assert si.sgd_step_identity_error(run) < 1e-12
    for tr in run.traces.values():
        assert np.abs(tr.cos_wg).max() < 1e-12
        ratio = np.sqrt(tr.shift_sq[-1] / tr.shift_sq[0])
        assert np.allclose(ratio, (1 - 0.1 * np.array([0.02, 0.05])) ** 60, rtol=1e-9)
    again = si.train("sgd", 0.1, [0.02, 0.05], [0, 1], teacher, steps=60, batch_size=8, label_noise=0.5,
                     data_seed=0, init_scale=0.2)
    assert np.array_equal(run.traces["W_0"].norm_sq, again.traces["W_0"].norm_sq)


def test_adamw_moves_the_zero_gradient_shift():
    teacher = si.make_teacher(6, 12, seed=0)
    run = si.train("adamw", 0.01, [1.0], [0], teacher, steps=100, batch_size=8, label_noise=0.5, data_seed=0)
    tr = run.traces["W_0"]
    ratio = np.sqrt(tr.shift_sq[-1, 0] / tr.shift_sq[0, 0])
    assert abs(ratio / (1 - 0.01) ** 100 - 1) > 0.01      # not the zero-gradient law


def test_block_standard_error_matches_iid_formula():
    x = np.random.default_rng(5).standard_normal((100_000, 1)) + 10.0
    se = si.relative_standard_error(x, n_blocks=20)[0]
    assert se == pytest.approx(1 / math.sqrt(100_000) / 10.0, rel=0.5)
