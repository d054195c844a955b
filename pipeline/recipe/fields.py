"""Recipe keys, their types, defaults and docs: the single declaration that validation reads and the
recipe reference (docs/recipes.md, checked by tests/test_docs.py) follows."""

from __future__ import annotations

from zpipe.engine.base import TILE_MODES
from zpipe.engine.registry import ENGINE_NAMES, ENGINES, engine_class
from zpipe.params import Param

KINDS = ("textures", "posters")

# Poster size presets, all multiples of 16 (A-series keeps the 1:√2 ratio to within a few pixels).
SIZE_PRESETS: dict[str, tuple[int, int]] = {
    "square": (1024, 1024),
    "a4-portrait": (848, 1200),
    "a4-landscape": (1200, 848),
    "a3-portrait": (1024, 1456),
    "a3-landscape": (1456, 1024),
    "16:9": (1344, 768),
    "9:16": (768, 1344),
}

# Keys valid at the top level and, unless noted, per asset as overrides.
COMMON: dict[str, Param] = {
    "prompt": Param(str, None, "Prompt template; {placeholders} come from `matrix` or an asset's `vars`."),
    "seed": Param(int, 0, "Base seed. Each asset's seed is derived from it and the asset id.", min=0, max=2**32 - 1),
    "seeds": Param(int, 1, "Variations per asset; ids get _s1, _s2, … when > 1.", min=1, max=1000),
    "steps": Param(int, 8, "Sampling steps (8 = 8 DiT forwards for Z-Image-Turbo).", min=1, max=100),
    "tile": Param(str, None, "Seamless axes: none, x, y or xy (default xy for textures, none for posters).",
                  choices=TILE_MODES),
    "style": Param(str, "", "Posters: the style prompt (the background and look)."),
    "text": Param(str, "render", "Posters: `render` (the engine draws the text) or `typeset`.",
                  choices=("render", "typeset")),
    "fallback": Param(str, "typeset", "Posters: what to do when no candidate passes the glyph check.",
                      choices=("typeset", "none")),
    "candidates": Param(int, 4, "Posters: how many seeds to try before the fallback.", min=1, max=64),
}
TEXT_ROLES = ("title", "subtitle", "body")
TEXT_LINE: dict[str, Param] = {
    "text": Param(str, None, "The exact text to show.", required=True),
    "lang": Param(str, "auto", "zh, zh-Hans, zh-Hant (typeset in a Traditional font), en or auto.",
                  choices=("auto", "zh", "zh-Hans", "zh-Hant", "en")),
    "placement": Param(str, None, "top, center or bottom.", choices=("top", "center", "bottom")),
}
TOP_ONLY: dict[str, Param] = {
    "name": Param(str, None, "Recipe name: the output folder name.", required=True),
    "kind": Param(str, "textures", "textures or posters.", choices=KINDS),
    "id": Param(str, None, "Id template for matrix assets, e.g. '{material}_{variant}'."),
}
# Checked before anything is expanded or allocated; a recipe that means more raises them.
LIMITS: dict[str, Param] = {
    "assets": Param(int, 10_000, "Most assets a recipe makes (matrix combinations and assets, times seeds).",
                    min=1, max=10_000_000),
    "values": Param(int, 200_000, "Most values the YAML document holds once its aliases are expanded.",
                    min=1, max=100_000_000),
    "pixels": Param(int, 8192 * 8192, "Most pixels of an image after any stage (resize, upscale).",
                    min=64 * 64, max=65536 * 65536),
}
# size, engine, matrix, assets, stages, output, limits and the text roles have their own checks.
SPECIAL = ("size", "engine", "matrix", "assets", "stages", "output", "limits", *TEXT_ROLES)
ASSET_ONLY: dict[str, Param] = {
    "id": Param(str, None, "Asset id: its folder name.", required=True),
    "vars": Param(dict, None, "Values for the prompt's {placeholders}."),
}
# The engine mapping: `name`, the executor's `batch_size`, and each engine's own options, which the
# engine declares (its `options`; importing an engine's module imports no torch).
_DECLARED = {name: engine_class(name).options for name in ENGINES}
ENGINE_OPTIONS: dict[str, Param] = {
    "name": Param(str, "auto", "auto, procedural or z-image-turbo.", choices=ENGINE_NAMES),
    "batch_size": Param(int, 4, "Requests per engine call (grouped by size).", min=1, max=64),
    **{key: decl for options in _DECLARED.values() for key, decl in options.items()},
}
# Which engine reads each option ("*": the executor). An engine is only handed its own options, so
# `engine: auto` may carry Z-Image settings and still fall back to the procedural engine.
ENGINE_OPTION_OWNER: dict[str, str] = {
    "batch_size": "*", **{key: name for name, options in _DECLARED.items() for key in options},
}


def options_for(engine: str, options: dict) -> dict:
    """The subset of recipe engine options that ``engine`` itself reads."""
    return {k: v for k, v in options.items() if ENGINE_OPTION_OWNER.get(k) == engine}
