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
        ok, value = _coerce(self.type, value)
        if ok and self.type is list and self.item is not None:
            items = [_coerce(self.item, v) for v in value]
            ok = all(i[0] for i in items)
            value = [i[1] for i in items]
        if not ok:
            return value, f"expected {self.describe()}, got {_show(value)}"
        if self.choices and self.type is list:
            bad = [v for v in value if v not in self.choices]
            if bad:
                return value, f"expected {self.describe()}, got {_show(bad[0])}"
        elif self.choices and value not in self.choices:
            return value, f"expected {self.describe()}, got {_show(value)}"
        if any(isinstance(v, float) and not math.isfinite(v) for v in (value if isinstance(value, list) else [value])):
            return value, f"expected {self.describe()}, got {_show(value)} (not a finite number)"
        if self.type in (int, float):
            if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
                return value, f"expected {self.describe()}, got {_show(value)}"
        return value, None


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
