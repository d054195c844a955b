"""The optional parts of zpipe and the pip extra that installs each (pyproject's optional-dependencies).

The base install (procedural engine, stages, store, CLI) needs none of them. Modules that cannot work
without an extra call :func:`require` first, so that using them without it is one line naming the extra.
"""

from __future__ import annotations

import sys
from importlib.util import find_spec

EXTRAS: dict[str, tuple[str, ...]] = {
    "zimage": ("torch", "safetensors", "tokenizers"),
    "ray": ("ray",),
    "hub": ("huggingface_hub",),
}


class MissingExtra(ImportError):
    """An optional part of zpipe was used without its extra installed; the message says which to install."""


def _missing(module: str) -> bool:
    if module in sys.modules:
        return sys.modules[module] is None
    try:
        spec = find_spec(module)
    except (ImportError, ValueError):
        return True
    # a bare folder named like the module (e.g. ./ray in the working directory) is a namespace package,
    # not the library: it has no origin
    return spec is None or spec.origin is None


def missing(extra: str) -> list[str]:
    """The modules of ``extra`` that are not installed."""
    return [m for m in EXTRAS[extra] if _missing(m)]


def require(extra: str, what: str) -> None:
    """Raise :class:`MissingExtra` when a module of ``extra`` is not installed (imports nothing)."""
    absent = missing(extra)
    if absent:
        verb = "is" if len(absent) == 1 else "are"
        raise MissingExtra(f"{what} needs {', '.join(absent)}, which {verb} not installed: "
                           f"pip install 'zpipe[{extra}]'")
