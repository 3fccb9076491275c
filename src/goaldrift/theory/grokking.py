"""Why the restricted loss measures the grokking circuit (Nanda et al. 2023).

The generalising circuit computes logits proportional to
cos(w_k(a + b - c)) for a few key frequencies w_k = 2πk/p. For a fixed answer
c, that is a combination of cos(w_k(a+b)) and sin(w_k(a+b)) alone: so the
circuit's logits lie entirely in the span that the restricted loss keeps and
the excluded loss removes. The correct answer c = (a+b) mod p gets the
largest logit because cos is maximal at a multiple of 2π.
"""

from __future__ import annotations

import sympy as sp

from goaldrift.theory.derivation import Derivation

a, b, c = sp.symbols("a b c", integer=True)
w = sp.Symbol("omega_k", positive=True)
p = sp.Symbol("p", positive=True, integer=True)
k = sp.Symbol("k", positive=True, integer=True)


def circuit_logit_expansion() -> Derivation:
    """cos(w(a+b-c)) = cos(wc) cos(w(a+b)) + sin(wc) sin(w(a+b))."""
    logit = sp.cos(w * (a + b - c))
    X, Y = sp.symbols("X Y")  # X = w(a+b), Y = wc
    expanded = sp.expand_trig(sp.cos(X - Y)).subs({X: w * (a + b), Y: w * c})
    assert sp.simplify(sp.expand_trig(sp.expand(expanded - logit))) == 0
    ell = sp.Symbol(r"\ell_{c}(a,b)")
    return Derivation(expanded, (sp.Eq(ell, logit), sp.Eq(ell, expanded)))


def correct_answer_is_the_maximum() -> Derivation:
    """At c = a + b - m p the logit is cos(2πkm) = 1, its maximum."""
    m = sp.Symbol("m", integer=True)
    phase = sp.expand(2 * sp.pi * k / p * (a + b - (a + b - m * p)))
    value = sp.simplify(sp.cos(phase))
    ell = sp.Symbol(r"\ell_{(a+b) \bmod p}")
    return Derivation(value, (sp.Eq(sp.Symbol(r"\omega_{k}\,(a+b-c)"), phase), sp.Eq(ell, value)))
