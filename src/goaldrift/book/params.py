"""Declared chapter parameters and their validation.

Every chapter declares its parameters (name, type, range) before any work
starts, so bad input is refused with one clear line and nothing is written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable


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
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf" if self.high is None else f"{self.high:g}"
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


# A cross-parameter rule: returns an error message, or None when the values are fine.
Constraint = Callable[[dict], "str | None"]


def validate(params: list[Param], constraints: list[Constraint], values: dict) -> dict:
    """Check every value against its declaration, then the cross-parameter rules."""
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
            raise ParamError(message)
    return checked
