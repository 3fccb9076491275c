"""A stream of fresh Gaussian batches labelled by a scale-invariant teacher plus label
noise, a new batch every step from a seeded stream (online learning).

The teacher is a K = 1 scale-invariant MLP (``goaldrift.engine.models.invariant_mlp``)
initialised from ``teacher_seed + 10000``, its output scaled so that the
labels have unit variance before noise. Step t's batch is the t-th draw of
one torch generator seeded from ``data_seed``: inputs x [batch, d_in], then
the label noise. A trainer that asks for a step out of order (a resumed run)
gets the same batch: the stream is replayed from its seed. The test set
(noise-free teacher labels, its own seed) measures the distance to the teacher.
"""

from __future__ import annotations

import numpy as np
import torch

from goaldrift.engine.models.invariant_mlp import init_weights, network_outputs
from goaldrift.engine.tasks.registry import register_task


class Teacher:
    """A K = 1 scale-invariant MLP, scaled to unit output variance on 8192 inputs."""

    def __init__(self, d_in: int, d_hidden: int, seed: int):
        self.d_in, self.d_hidden, self.seed = d_in, d_hidden, seed
        self.weights = {k: v[None] for k, v in init_weights(d_in, d_hidden, seed + 10_000).items()}
        x = torch.randn(8192, d_in, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        self.scale = float(1 / network_outputs(self.weights, x)[0].std())

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * network_outputs(self.weights, x)[0]


def stream_seed(data_seed: int) -> int:
    return int(np.random.default_rng([data_seed, 31]).integers(2**31))


class TeacherStream:
    """Engine data whose training batches come from ``stream_batch(step)``; ``train_x`` is
    empty (there is no fixed training set), ``test_x``/``test_y`` a noise-free sample."""

    def __init__(self, teacher: Teacher, batch_size: int, label_noise: float, seed: int, n_test: int):
        self.teacher, self.batch_size, self.label_noise, self.seed = teacher, batch_size, label_noise, seed
        d = teacher.d_in
        self.train_x = torch.zeros(0, d, dtype=torch.float64)
        self.train_y = torch.zeros(0, dtype=torch.float64)
        g = torch.Generator().manual_seed(int(np.random.default_rng([seed, 32]).integers(2**31)))
        self.test_x = torch.randn(n_test, d, generator=g, dtype=torch.float64)
        with torch.no_grad():
            self.test_y = teacher(self.test_x)
        self._generator, self._next = None, 0

    def _draw(self, label: bool):
        x = torch.randn(self.batch_size, self.teacher.d_in, generator=self._generator, dtype=torch.float64)
        with torch.no_grad():
            clean = self.teacher(x) if label else None
        noise = torch.randn(self.batch_size, generator=self._generator, dtype=torch.float64)
        self._next += 1
        return x, (clean + self.label_noise * noise if label else None)

    def stream_batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs [batch, d_in] and noisy labels [batch] of step ``step``."""
        if self._generator is None or step != self._next:
            self._generator, self._next = torch.Generator().manual_seed(stream_seed(self.seed)), 0
            while self._next < step:
                self._draw(label=False)
        return self._draw(label=True)


@register_task("teacher_stream")
def _teacher_stream_task(data_seed: int, d_in: int = 16, d_hidden: int = 32, teacher_seed: int = 0,
                         batch_size: int = 32, label_noise: float = 0.5, n_test: int = 1024) -> TeacherStream:
    if min(d_in, d_hidden, batch_size) < 1 or n_test < 0 or not label_noise >= 0:
        raise ValueError(f"need d_in, d_hidden, batch_size >= 1, n_test >= 0 and label_noise >= 0, "
                         f"got {d_in}, {d_hidden}, {batch_size}, {n_test}, {label_noise}")
    return TeacherStream(Teacher(d_in, d_hidden, teacher_seed), batch_size, label_noise, data_seed, n_test)
