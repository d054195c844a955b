"""Stages by name: the built-ins plus third-party stages from the ``zpipe.stages`` entry-point group.

Built-ins are listed as "module:Class" strings, so listing names imports nothing heavy.
"""

from __future__ import annotations

import difflib
import importlib
from functools import cache
from importlib.metadata import entry_points

from zpipe.stages.base import Stage

BUILTIN: dict[str, str] = {
    "resize": "zpipe.stages.resize:ResizeStage",
    "tile": "zpipe.stages.tile:TileStage",
    "upscale": "zpipe.stages.upscale:UpscaleStage",
    "pbr": "zpipe.stages.pbr:PbrStage",
    "glyph_check": "zpipe.stages.glyph_check:GlyphCheckStage",
    "typeset": "zpipe.stages.typeset:TypesetStage",
    # `export` always runs last, configured by the recipe's `output:` section.
    "export": "zpipe.stages.export:ExportStage",
}


def _load(target: str) -> type[Stage]:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


@cache
def _plugins() -> dict[str, object]:
    return {ep.name: ep for ep in entry_points(group="zpipe.stages")}


def names() -> list[str]:
    return sorted(set(BUILTIN) | set(_plugins()))


@cache
def get(name: str) -> type[Stage]:
    """The stage class for ``name``; KeyError when no built-in or plugin has that name."""
    if name in BUILTIN:
        return _load(BUILTIN[name])
    ep = _plugins().get(name)
    if ep is None:
        raise KeyError(name)
    cls = ep.load()
    if not (isinstance(cls, type) and issubclass(cls, Stage)):
        raise TypeError(f"entry point zpipe.stages:{name} does not name a zpipe.stages.base.Stage subclass")
    return cls


def version(name: str) -> str:
    """The version that keys a stage's output: its own ``version``, and for plugins their package's too."""
    cls = get(name)
    ep = None if name in BUILTIN else _plugins().get(name)
    dist = getattr(getattr(ep, "dist", None), "version", None)
    return f"{cls.version}+{dist}" if dist else cls.version


def unknown_stage_fix(name: str) -> str:
    """The fix for a stage name that no built-in or installed plugin has: a close name, else the plugin hint."""
    close = difflib.get_close_matches(name, [n for n in names() if n != "export"], n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    return ("if it comes from a plugin, the plugin is not installed in this environment (pip install it); "
            "`zpipe stages` lists the installed stages")
