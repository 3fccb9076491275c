"""The task registry: a task's name in a run configuration -> the function that builds
its data.

Used by the engine (goaldrift.engine.train) for every chapter that trains
through it; each task module registers itself here.
"""

from __future__ import annotations

from typing import Callable

TASKS: dict[str, Callable] = {}


def register_task(name: str):
    """Register ``fn(data_seed, **task_kwargs) -> data`` under ``name``.

    ``data`` is any object with tensors ``train_x, train_y, test_x, test_y``
    (``x`` ``[N, ...]`` shared by all members; ``y`` int64 class labels or
    float regression targets).
    """
    def deco(fn):
        TASKS[name] = fn
        return fn
    return deco
