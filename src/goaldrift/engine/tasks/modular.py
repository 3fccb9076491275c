"""Modular arithmetic data, split into train and test the way the grokking paper's code
does it, so that seed 0 gives the published training set.

The published code shuffles the list of (a, b, '=') triples with Python's
``random.seed(seed); random.shuffle(pairs)`` and takes the first
``int(frac * p²)`` as training data. We reproduce exactly that (Python's
``random`` is stable across platforms), because "the main run" of the paper
is defined by its split.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from goaldrift.engine.tasks.registry import register_task

OPERATIONS = {
    "add": lambda a, b, p: (a + b) % p,
    "subtract": lambda a, b, p: (a - b) % p,
    "multiply": lambda a, b, p: (a * b) % p,
}


@dataclass
class ModularData:
    """Train/test tensors. ``x`` is tokens ``[N, 3]`` (``a b =``, '=' is the
    token ``p``) or, for MLPs, the concatenated one-hot codes ``[N, 2p]``;
    ``y`` is the answer ``[N]`` (int64). ``train_pairs``/``test_pairs`` keep the
    raw (a, b) so progress measures can index the full p×p table."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    train_pairs: torch.Tensor
    test_pairs: torch.Tensor
    p: int


def split_pairs(p: int, train_frac: float, seed: int) -> tuple[list, list]:
    """The published split: shuffle all p² pairs with Python's RNG."""
    pairs = [(i, j, p) for i in range(p) for j in range(p)]
    random.Random(seed).shuffle(pairs)  # same stream as random.seed(seed); random.shuffle
    cut = int(train_frac * len(pairs))
    return pairs[:cut], pairs[cut:]


def modular_data(p: int = 113, train_frac: float = 0.3, seed: int = 0,
                 op: str = "add", encoding: str = "tokens") -> ModularData:
    """Build the split; labels are computed once here, never per step."""
    if op not in OPERATIONS:
        raise ValueError(f"unknown modular operation {op!r}; use one of {sorted(OPERATIONS)}")
    if encoding not in ("tokens", "onehot"):
        raise ValueError(f"unknown encoding {encoding!r}; use 'tokens' or 'onehot'")
    if not 0.0 < train_frac < 1.0:
        raise ValueError(f"train_frac must be in (0, 1), got {train_frac}")
    train, test = split_pairs(p, train_frac, seed)
    fn = OPERATIONS[op]

    def tensors(triples):
        t = torch.tensor(triples, dtype=torch.long).reshape(-1, 3)
        y = fn(t[:, 0], t[:, 1], p)
        if encoding == "tokens":
            x = t
        else:
            x = torch.cat([torch.nn.functional.one_hot(t[:, 0], p),
                           torch.nn.functional.one_hot(t[:, 1], p)], dim=1).float()
        return x, y, t[:, :2].clone()

    train_x, train_y, train_pairs = tensors(train)
    test_x, test_y, test_pairs = tensors(test)
    return ModularData(train_x, train_y, test_x, test_y, train_pairs, test_pairs, p)


@register_task("modular_addition")
def _modular_task(data_seed: int, p: int = 113, train_frac: float = 0.3, op: str = "add",
                  encoding: str = "tokens"):
    return modular_data(p=p, train_frac=train_frac, seed=data_seed, op=op, encoding=encoding)
