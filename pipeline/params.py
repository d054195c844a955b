"""Typed parameter declarations shared by the recipe schema and stage parameters.

A ``Param`` knows its type, default, allowed values and a one-line doc; ``check`` returns either the
coerced value or an error string phrased as a fix ("expected an integer ≥ 1, got 'x'").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
               list: "a list", dict: "a mapping"}


@dataclass(frozen=True)
class Param:
    type: type
    default: Any = None
    doc: str = ""
    choices: tuple | None = None
    min: float | None = None
    max: float | None = None
    item: type | None = None  # element type for lists
    required: bool = False

    def describe(self) -> str:
        if self.type is list:
            if self.choices:
                return "a list of " + ", ".join(_yaml(c) for c in self.choices)
            item = {int: "integers", float: "numbers", str: "strings", dict: "mappings"}.get(self.item, "values")
            return f"a list of {item}"
        if self.choices:
            return "one of " + ", ".join(_yaml(c) for c in self.choices)
        text = _TYPE_NAMES.get(self.type, self.type.__name__)
        if self.min is not None and self.max is not None:
            text += f" in [{self.min}, {self.max}]"
        elif self.min is not None:
            text += f" ≥ {self.min}"
        elif self.max is not None:
            text += f" ≤ {self.max}"
        return text

    def check(self, value: Any) -> tuple[Any, str | None]:
        """The value (an int where a number is declared becomes a float) and None, or the error as a fix."""
        ok, value = self._coerced(value)
        shown = self._violation(value) if ok else _show(value)
        return value, None if shown is None else f"expected {self.describe()}, got {shown}"

    def _coerced(self, value: Any) -> tuple[bool, Any]:
        ok, value = _coerce(self.type, value)
        if ok and self.type is list and self.item is not None:
            items = [_coerce(self.item, v) for v in value]
            return all(i[0] for i in items), [i[1] for i in items]
        return ok, value

    def _violation(self, value: Any) -> str | None:
        """How a value of the declared type breaks the declaration, as the error shows it; None if it does not."""
        if self.choices:
            bad = [v for v in value if v not in self.choices] if self.type is list else \
                [value] if value not in self.choices else []
            if bad:
                return _show(bad[0])
        if any(isinstance(v, float) and not math.isfinite(v) for v in (value if isinstance(value, list) else [value])):
            return f"{_show(value)} (not a finite number)"
        if self.type in (int, float) and ((self.min is not None and value < self.min) or
                                          (self.max is not None and value > self.max)):
            return _show(value)
        return None


def _coerce(kind: type, value: Any) -> tuple[bool, Any]:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return True, float(value)
    if kind is int and isinstance(value, bool):
        return False, value
    if kind is float and isinstance(value, bool):
        return False, value
    return isinstance(value, kind), value


def _yaml(value: Any) -> str:
    """A choice as a recipe writes it: 'png', 3, true."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, str) else str(value)


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)
