"""The table of look-alike characters (``lookalikes.txt``, shipped with the package).

``group(ch)`` is the set of characters that look like ``ch`` (itself included), ``to_verify(text)``
the positions of ``text`` whose reading is worth a second look from a single-character crop, and
``read_as(ch)`` the look-alikes of ``ch`` that the recogniser reads as ``ch`` even alone
(``lookalikes_read_as.txt``, measured by ``benchmarks/lookalike_separation.py``): 曰 for 日; those
pairs are decided by the ink (:mod:`zpipe.text.ink`).
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def groups() -> dict[str, frozenset[str]]:
    """Character -> its look-alike group (overlapping lines of the table are merged)."""
    out: dict[str, frozenset[str]] = {}
    for raw in files("zpipe.text").joinpath("lookalikes.txt").read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if len(line) < 2:
            continue
        members = frozenset(line).union(*(out.get(c, frozenset()) for c in line))
        for c in members:
            out[c] = members
    return out


def group(ch: str) -> frozenset[str]:
    return groups().get(ch, frozenset())


def to_verify(text: str) -> list[int]:
    """Indices of ``text`` holding a look-alike worth re-reading alone."""
    table = groups()
    return [i for i, ch in enumerate(text) if ch in table]


@cache
def _read_as() -> dict[str, str]:
    """Character read -> the look-alikes the recogniser reads as it, in table order."""
    out: dict[str, str] = {}
    for raw in files("zpipe.text").joinpath("lookalikes_read_as.txt").read_text(encoding="utf-8").splitlines():
        fields = raw.split("#", 1)[0].split()
        if len(fields) >= 2:
            out[fields[1]] = out.get(fields[1], "") + fields[0]
    return out


def read_as(ch: str) -> str:
    """The look-alikes that the recogniser reads as ``ch`` even from a crop of them alone ("曰" for "日")."""
    return _read_as().get(ch, "")
