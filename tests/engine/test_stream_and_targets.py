"""The tasks "teacher_stream", "coordinate_targets" and "matrix_targets" (chapters
rotational_equilibrium, factorised_simplicity): the stream reproducible from its seed
and replayed on resume, batches equal to the documented draws, targets as given."""

import numpy as np
import pytest
import torch

from goaldrift.engine.models import ScaleInvariantMLPConfig
from goaldrift.engine.tasks import TASKS
from goaldrift.engine.tasks.stream import Teacher, stream_seed
from goaldrift.engine.tasks.targets import coordinate_targets, matrix_targets
from goaldrift.engine.train import ConfigError, OptimConfig, RunConfig, Trainer

STREAM = {"name": "teacher_stream", "d_in": 4, "d_hidden": 6, "teacher_seed": 2, "batch_size": 5,
          "label_noise": 0.5, "n_test": 16}


def stream(data_seed: int):
    return TASKS["teacher_stream"](data_seed, **{k: v for k, v in STREAM.items() if k != "name"})


def test_stream_batches_are_the_documented_draws():
    s = stream(3)
    teacher = Teacher(4, 6, 2)
    g = torch.Generator().manual_seed(int(np.random.default_rng([3, 31]).integers(2**31)))
    for step in range(3):
        x, y = s.stream_batch(step)
        x_ref = torch.randn(5, 4, generator=g, dtype=torch.float64)
        noise = torch.randn(5, generator=g, dtype=torch.float64)
        assert torch.equal(x, x_ref) and torch.equal(y, teacher(x_ref) + 0.5 * noise)
    assert stream_seed(3) == int(np.random.default_rng([3, 31]).integers(2**31))


def test_stream_reproducible_from_its_seed_and_replayed_out_of_order():
    a, b, other = stream(1), stream(1), stream(2)
    seq = [a.stream_batch(t) for t in range(6)]
    assert not torch.equal(seq[0][0], seq[1][0])
    assert not torch.equal(seq[0][0], other.stream_batch(0)[0])
    for t in (4, 1, 5, 5, 0):  # any order, repeats included: the same batch for the same step
        x, y = b.stream_batch(t)
        assert torch.equal(x, seq[t][0]) and torch.equal(y, seq[t][1])


def test_teacher_has_unit_output_variance_and_test_set_is_noise_free():
    s = stream(0)
    assert s.train_x.shape == (0, 4)
    assert torch.equal(s.test_y, s.teacher(s.test_x))
    x = torch.randn(20000, 4, generator=torch.Generator().manual_seed(99), dtype=torch.float64)
    assert float(s.teacher(x).std()) == pytest.approx(1.0, abs=0.05)


def stream_config(**kw):
    base = dict(task=STREAM, model=ScaleInvariantMLPConfig(d_in=4, d_hidden=6),
                optim=OptimConfig(kind="sgd", lr=0.1, weight_decay=[0.01, 0.1]), steps=12, seeds=[0, 1],
                loss="half_mse", eval_every=6, checkpoint_every=None, dtype="float64", device="cpu")
    base.update(kw)
    return RunConfig(**base)


def test_a_resumed_stream_run_ends_with_the_same_bits():
    full = Trainer(stream_config()).run(progress=False)
    states = []
    Trainer(stream_config(checkpoint_every=5)).run(on_checkpoint=states.append, progress=False)
    resumed = Trainer(stream_config(checkpoint_every=5)).run(states[0], progress=False)  # a fresh stream, from step 5
    assert states[0].step == 5
    for name in full.model:
        assert torch.equal(full.model[name], resumed.model[name]), name
    assert torch.equal(full.step_loss, resumed.step_loss)


def test_stream_needs_no_batch_size_and_bad_arguments_are_one_line_errors():
    with pytest.raises(ConfigError, match="stream task draws its own batches"):
        Trainer(stream_config(batch_size=4))
    with pytest.raises(ConfigError, match="teacher_stream"):
        Trainer(stream_config(task={**STREAM, "batch_size": 0}))


def test_coordinate_and_matrix_targets():
    d = coordinate_targets([1.5, -2.0, 0.25])
    assert torch.equal(d.train_x, torch.ones(1, 3, dtype=torch.float64))
    assert d.train_y.tolist() == [[1.5, -2.0, 0.25]] and d.test_x.shape == (0, 3)
    M = np.arange(9.0).reshape(3, 3)
    m = matrix_targets(M.tolist())
    assert torch.equal(m.train_x, torch.eye(3, dtype=torch.float64)) and np.array_equal(m.train_y.numpy(), M)
    for bad, fn in (([[1.0, 2.0]], coordinate_targets), ([], coordinate_targets), ([1.0, float("nan")], coordinate_targets),
                    ([[1.0, 2.0]], matrix_targets), ([1.0, 2.0], matrix_targets)):
        with pytest.raises(ValueError):
            fn(bad)
