"""The engine's tasks; importing this package registers every one of them
(modular addition for the grokking chapters, the proxy family for the goal chapters,
teacher outputs for the gradient hacker, a linear regression for the L2 chapter,
fixed targets for the factorised networks, a teacher stream for rotational equilibrium)."""

from goaldrift.engine.tasks import modular, proxy, regression, stream, targets, teacher
from goaldrift.engine.tasks.registry import TASKS, register_task

__all__ = ["TASKS", "register_task", "modular", "proxy", "regression", "stream", "targets", "teacher"]
