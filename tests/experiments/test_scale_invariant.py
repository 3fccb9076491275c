"""goaldrift.experiments.decay.scale_invariant (chapter rotational_equilibrium): the
LayerNorm nets, their training and measurements against independent checks."""

import math

import numpy as np
import pytest
import torch

from goaldrift.engine.tasks import stream
from goaldrift.engine.train import StepView
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


def test_training_records_exact_identities(tmp_path):
    teacher = si.make_teacher(6, 12, seed=0)
    run = si.train("sgd", 0.1, [0.02, 0.05], [0, 1], teacher, steps=60, batch_size=8, label_noise=0.5,
                   data_seed=0, init_scale=0.2, root=tmp_path / "a")
    assert si.sgd_step_identity_error(run) < 1e-12
    for tr in run.traces.values():
        assert np.abs(tr.cos_wg).max() < 1e-12
        ratio = np.sqrt(tr.shift_sq[-1] / tr.shift_sq[0])
        assert np.allclose(ratio, (1 - 0.1 * np.array([0.02, 0.05])) ** 60, rtol=1e-9)
    # trained again (another run cache), not loaded: the same bits
    again = si.train("sgd", 0.1, [0.02, 0.05], [0, 1], teacher, steps=60, batch_size=8, label_noise=0.5,
                     data_seed=0, init_scale=0.2, root=tmp_path / "b")
    assert np.array_equal(run.traces["W_0"].norm_sq, again.traces["W_0"].norm_sq)
    assert np.array_equal(run.loss, again.loss)
    cached = si.train("sgd", 0.1, [0.02, 0.05], [0, 1], teacher, steps=60, batch_size=8, label_noise=0.5,
                      data_seed=0, init_scale=0.2, root=tmp_path / "b")
    assert np.array_equal(cached.traces["W_1"].angle, again.traces["W_1"].angle)
    assert len(list((tmp_path / "b").glob("*/manifest.json"))) == 1   # one run, trained once, then loaded


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


def test_rotation_records_against_numpy():
    rng = np.random.default_rng(0)
    before = {n: torch.tensor(rng.standard_normal((2, 3, 4))) for n in si.SCALE_INVARIANT}
    grad = {n: torch.tensor(rng.standard_normal((2, 3, 4))) for n in si.SCALE_INVARIANT}
    after = {n: before[n] - 0.1 * grad[n] for n in si.SCALE_INVARIANT}
    view = StepView(0, before, grad, after, torch.zeros(2), None)
    rec = si.rotation_records(view)
    for n in si.SCALE_INVARIANT:
        w, g, a = (t[n].numpy().reshape(2, -1) for t in (before, grad, after))
        assert np.allclose(rec[f"{n}.norm_sq"], (w**2).sum(1)) and np.allclose(rec[f"{n}.grad_sq"], (g**2).sum(1))
        assert np.allclose(rec[f"{n}.w_dot_g"], (w * g).sum(1))
        shift = before[n].numpy().mean(-1, keepdims=True) * np.ones((1, 1, 4))
        assert np.allclose(rec[f"{n}.shift_sq"], (shift.reshape(2, -1) ** 2).sum(1))
        cos = (w * a).sum(1) / np.linalg.norm(w, axis=1) / np.linalg.norm(a, axis=1)
        assert np.allclose(rec[f"{n}.angle"], np.arccos(cos), rtol=1e-10)


def test_the_stream_is_what_the_students_trained_on(tmp_path):
    """The per-step losses are the students' half squared errors on the stream's batches."""
    teacher = si.make_teacher(5, 8, seed=1)
    run = si.train("sgd", 0.05, 0.01, [3], teacher, steps=3, batch_size=4, label_noise=0.2, data_seed=7,
                   root=tmp_path)
    s = stream.TeacherStream(teacher, 4, 0.2, 7, n_test=0)
    w = {k: v[None] for k, v in si.init_weights(5, 8, 3).items()}
    x, y = s.stream_batch(0)
    assert run.loss[0, 0] == pytest.approx(float(0.5 * ((si.forward(w, x)[0] - y) ** 2).mean()), rel=1e-14)
