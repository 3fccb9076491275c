"""What every derivation returns (a sympy result and the steps that got there) and
how it becomes a numpy function; shared by all theory modules, so by every chapter."""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp


@dataclass(frozen=True)
class Derivation:
    """A derived expression and the equations that got there, for display."""

    result: sp.Expr
    steps: tuple[sp.Basic, ...]

    def latex(self) -> str:
        return r" \\ ".join(sp.latex(step) for step in self.steps)


def numeric(expr: sp.Expr, *symbols: sp.Symbol):
    """A numpy function of the given symbols, for plots and claims."""
    return sp.lambdify(symbols, expr, modules="numpy")
