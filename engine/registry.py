"""Engines by name, imported only when asked for (torch stays unloaded for the procedural engine).

An engine class is built with ``cls.from_options(options)`` where ``options`` is the recipe's engine
mapping without ``name``. ``auto`` resolves to ``z-image-turbo`` when its weights are configured and
loadable, and to ``procedural`` otherwise.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from zpipe.engine.base import Engine, EngineError

# name -> "module:Class"; kept as strings so that listing engines imports nothing.
ENGINES: dict[str, str] = {
    "procedural": "zpipe.engine.procedural:ProceduralEngine",
    "z-image-turbo": "zpipe.engine.zimage.engine:ZImageEngine",
}
ENGINE_NAMES = ("auto", *ENGINES)


def engine_class(name: str) -> type:
    if name == "auto":
        raise EngineError("engine 'auto' must be resolved first (registry.resolve_name)")
    try:
        target = ENGINES[name]
    except KeyError:
        raise EngineError(f"unknown engine {name!r}; choose one of {', '.join(ENGINE_NAMES)}") from None
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def resolve_name(name: str, options: Mapping[str, Any]) -> tuple[str, str | None]:
    """Return (engine name, reason) where reason explains a fallback from ``auto``, else None."""
    if name != "auto":
        return name, None
    try:
        probe = getattr(engine_class("z-image-turbo"), "available", None)
        reason = probe(options) if probe else "z-image-turbo engine not installed"
    except ImportError as exc:  # torch or safetensors missing
        reason = f"z-image-turbo unavailable ({exc})"
    if reason is None:
        return "z-image-turbo", None
    return "procedural", reason


def create(name: str, options: Mapping[str, Any] | None = None) -> Engine:
    """Build a concrete engine (resolve ``auto`` first with :func:`resolve_name`)."""
    return engine_class(name).from_options(dict(options or {}))


def describe(name: str, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What goes into cache keys, without loading weights: name, version, fingerprint of a concrete engine.

    Engines may offer ``classmethod fingerprint_for(options)`` so that planning never loads a model;
    otherwise the engine is built (cheap for the procedural engine) and asked.
    """
    options = dict(options or {})
    cls = engine_class(name)
    if hasattr(cls, "fingerprint_for"):
        fingerprint = cls.fingerprint_for(options)
    else:
        fingerprint = cls.from_options(options).fingerprint()
    return {"name": name, "version": str(cls.version), "fingerprint": fingerprint}
