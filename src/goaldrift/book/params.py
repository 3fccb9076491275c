"""Declared chapter parameters and their validation.

Every chapter declares its parameters (name, type, range) before any work
starts, so bad input is refused with one clear line and nothing is written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np


class ParamError(ValueError):
    """Bad input: the message is one line, meant for the user."""


@dataclass(frozen=True)
class Param:
    """One chapter parameter.

    `low`/`high` are inclusive bounds unless `low_open`/`high_open` say the
    bound itself is excluded (a learning rate must be > 0, not >= 0).
    `choices` restricts a string parameter to a set of values.
    """

    name: str
    type: type
    default: Any
    help: str = ""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] | None = None

    def range_text(self) -> str:
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.low is None and self.high is None:
            return ""
        lo = "(" if self.low_open else "["
        hi = ")" if self.high_open else "]"
        number = (lambda v: f"{int(v)}") if self.type is int else (lambda v: f"{v:g}")
        low = "-inf" if self.low is None else number(self.low)
        high = "inf" if self.high is None else number(self.high)
        return f"{lo}{low}, {high}{hi}"

    def parse(self, text: str) -> Any:
        """Turn a command-line string into a value of this parameter's type."""
        return self.check(self._convert(text))

    def _convert(self, text: str) -> Any:
        invalid = ParamError(f"parameter {self.name!r}: {text!r} is not a valid {self.type.__name__}")
        try:
            if self.type is bool:
                lowered = text.strip().lower()
                if lowered in ("true", "1", "yes"):
                    return True
                if lowered in ("false", "0", "no"):
                    return False
                raise invalid
            if self.type is int:
                try:
                    return int(text)
                except ValueError:  # "1e3" is a fine step count; 2.5 is not
                    value = float(text)
                    if not value.is_integer():
                        raise invalid from None
                    return int(value)
            if self.type is float:
                return float(text)
            return str(text)
        except (ValueError, OverflowError):
            raise invalid from None

    def check(self, value: Any) -> Any:
        """Validate an already-typed value (from a profile or from the CLI)."""
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, self.type) or (self.type is int and isinstance(value, bool)):
            raise ParamError(
                f"parameter {self.name!r}: {value!r} is not a valid {self.type.__name__}"
            )
        if self.type is int and abs(value) > MAX_INT:  # what the kernels' 64-bit integers hold
            raise ParamError(f"parameter {self.name!r}: {value!r} is beyond a 64-bit integer")
        if self.type is float and not math.isfinite(value):
            raise ParamError(f"parameter {self.name!r}: {value!r} is not finite")
        if self.choices is not None and value not in self.choices:
            raise ParamError(
                f"parameter {self.name!r}: {value!r} is not {self.range_text()}"
            )
        too_low = self.low is not None and (
            value <= self.low if self.low_open else value < self.low
        )
        too_high = self.high is not None and (
            value >= self.high if self.high_open else value > self.high
        )
        if too_low or too_high:
            raise ParamError(
                f"parameter {self.name!r}: {value!r} is outside the valid range {self.range_text()}"
            )
        return value


MAX_INT = 2**63 - 1

# A cross-parameter rule: returns an error message, or None when the values are fine.
Constraint = Callable[[dict], "str | None"]


def validate(params: list[Param], constraints: list[Constraint], values: dict, changed=()) -> dict:
    """Check every value against its declaration, then the cross-parameter rules. When a rule
    fails and the user set some parameters (``changed``), the message says what would lift it:
    the range of the first changed parameter that passes with the others as they are, and the
    bound another parameter would need to keep the user's value."""
    declared = {p.name: p for p in params}
    unknown = sorted(set(values) - set(declared))
    if unknown:
        raise ParamError(
            f"unknown parameter {unknown[0]!r} (known: {', '.join(sorted(declared))})"
        )
    checked = {name: declared[name].check(value) for name, value in values.items()}
    for rule in constraints:
        message = rule(checked)
        if message:
            raise ParamError(message + _remedy(params, constraints, checked, [n for n in changed if n in declared]))
    return checked


def _passes(params: list[Param], constraints: list[Constraint], values: dict) -> bool:
    try:
        checked = {p.name: p.check(values[p.name]) for p in params if p.name in values}
    except ParamError:
        return False
    return not any(rule(checked) for rule in constraints)


def feasible_range(params: list[Param], constraints: list[Constraint], values: dict, name: str):
    """The smallest and largest value of one numeric parameter that pass every declaration and
    rule with the other values fixed (None if none does): a grid over its declared range, each
    end refined by bisection. The rules of a chapter are monotone in each parameter, so the
    passing values form one interval; the ends are what a message can quote."""
    param = next(p for p in params if p.name == name)
    if param.type not in (int, float) or param.type is bool:
        return None
    value = values[name]
    low = param.low if param.low is not None else -abs(value) * 1e3 - 1
    high = param.high if param.high is not None else abs(value) * 1e3 + 1
    if param.low_open:
        low = low + (1 if param.type is int else max(abs(low), 1.0) * 1e-9)
    positive = low > 0
    grid = (np.geomspace(low, high, 600) if positive and high / low > 100 else np.linspace(low, high, 600)).tolist()
    if param.type is int:
        grid = sorted({int(round(g)) for g in grid} | {int(math.ceil(low)), int(math.floor(high))})
    ok = [g for g in grid if _passes(params, constraints, {**values, name: g})]
    if not ok:
        return None

    def edge(inside, outside):
        for _ in range(60):
            mid = (inside + outside) / 2
            if param.type is int:
                mid = int(round(mid))
                if mid in (inside, outside):
                    break
            if _passes(params, constraints, {**values, name: mid}):
                inside = mid
            else:
                outside = mid
        return inside

    lo, hi = ok[0], ok[-1]
    below = [g for g in grid if g < lo]
    above = [g for g in grid if g > hi]
    return (edge(lo, below[-1]) if below else lo, edge(hi, above[0]) if above else hi)


def _bound_text(param: Param, bounds, value) -> str:
    fmt = (lambda v: f"{int(v):,}") if param.type is int else (lambda v: f"{v:.3g}")
    lo, hi = bounds
    at_low = param.low is not None and lo <= param.low + 1e-9 * max(1.0, abs(param.low))
    at_high = param.high is not None and hi >= param.high - 1e-9 * max(1.0, abs(param.high))
    if at_low and not at_high:
        return f"{param.name} <= {fmt(hi)}"
    if at_high and not at_low:
        return f"{param.name} >= {fmt(lo)}"
    return f"{fmt(lo)} <= {param.name} <= {fmt(hi)}"


def _remedy(params: list[Param], constraints: list[Constraint], values: dict, changed: list[str]) -> str:
    """'; with the other values as set, this needs 3.47 <= weight_decay <= 4.81 (or, keeping
    weight_decay 2: phase2_steps >= 2,600)', or '' when nothing the user set can be moved."""
    by_name = {p.name: p for p in params}
    for name in changed:
        own = feasible_range(params, constraints, values, name)
        if own is None:
            continue
        others = []
        for p in params:
            if p.name == name or p.name in changed or p.type not in (int, float) or p.type is bool:
                continue
            r = feasible_range(params, constraints, values, p.name)
            if r is not None:
                others.append(_bound_text(p, r, values[p.name]))
            if len(others) == 2:
                break
        text = f"; with the other values as set, this needs {_bound_text(by_name[name], own, values[name])}"
        if others:
            text += f" (or, keeping {name} = {values[name]!r}: {' or '.join(others)})"
        return text
    return ""
