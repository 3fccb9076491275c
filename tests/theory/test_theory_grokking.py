"""The circuit identities against direct evaluation on Z_p."""

import numpy as np
import sympy as sp

from goaldrift.theory import grokking as th


def test_expansion_equals_the_circuit_logit_numerically():
    d = th.circuit_logit_expansion()
    f_expanded = sp.lambdify((th.a, th.b, th.c, th.w), d.result)
    f_direct = sp.lambdify((th.a, th.b, th.c, th.w), d.steps[0].rhs)
    p = 23
    a, b, c = np.meshgrid(np.arange(p), np.arange(p), np.arange(p), indexing="ij")
    for k in (1, 5, 11):
        w = 2 * np.pi * k / p
        assert np.allclose(f_expanded(a, b, c, w), f_direct(a, b, c, w), atol=1e-12)


def test_correct_answer_has_the_largest_logit():
    assert th.correct_answer_is_the_maximum().result == 1
    p, keys = 29, [3, 7, 12]
    a, b, c = np.meshgrid(np.arange(p), np.arange(p), np.arange(p), indexing="ij")
    logits = sum(np.cos(2 * np.pi * k * (a + b - c) / p) for k in keys)
    assert np.array_equal(logits.argmax(-1), (a[..., 0] + b[..., 0]) % p)
    assert np.allclose(logits.max(-1), len(keys))
