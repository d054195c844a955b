"""Recipe keys, their types, defaults and docs: the single declaration that validation and the README
reference are written from."""

from __future__ import annotations

from zpipe.engine.registry import ENGINE_NAMES  # names only: the registry imports no engine
from zpipe.params import Param

KINDS = ("textures", "posters")
TILE_MODES = ("none", "x", "y", "xy")

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
    "lang": Param(str, "auto", "zh, en or auto.", choices=("auto", "zh", "en")),
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
ENGINE_OPTIONS: dict[str, Param] = {
    "name": Param(str, "auto", "auto, procedural or z-image-turbo.", choices=ENGINE_NAMES),
    "batch_size": Param(int, 4, "Requests per engine call (grouped by size).", min=1, max=64),
    "model": Param(str, None, "Z-Image: checkpoint folder (diffusers layout or ComfyUI models/ folder)."),
    "dtype": Param(str, None, "Z-Image: bf16, fp16 or fp32 (default bf16 on GPU, fp32 on CPU).",
                   choices=("bf16", "fp16", "fp32")),
    "vae_dtype": Param(str, "fp32", "Z-Image: the VAE's dtype.", choices=("bf16", "fp16", "fp32")),
    "device": Param(str, None, "Z-Image: cuda, cuda:N, mps or cpu (default: the first available)."),
    "loras": Param(list, None, "Z-Image: [{path, scale}] LoRA files merged into the DiT."),
    "compile": Param(object, False, "Z-Image: torch.compile the transformer blocks (opt-in); a mode name "
                     "such as reduce-overhead (CUDA graphs) picks that mode.",
                     choices=(False, True, "default", "reduce-overhead", "max-autotune")),
    "offload_text_encoder": Param(bool, False, "Z-Image: keep the text encoder on the CPU between batches."),
    "vae_batch": Param(int, 1, "Z-Image: images per VAE decode call.", min=1, max=64),
    "vae_tile": Param(int, 128, "Z-Image: decode latents larger than this (latent px per side) in tiles.",
                      min=16, max=1024),
    "max_batch": Param(int, 4, "Z-Image: images per DiT forward.", min=1, max=64),
    "seam_jitter": Param(bool, False, "Z-Image: roll the latent between steps when tiling."),
    "shading": Param(float, 1.0, "Procedural: strength of the baked relief light (0 = flat albedo).",
                     min=0.0, max=2.0),
    "scale": Param(float, 1.0, "Procedural: feature size multiplier.", min=0.25, max=4.0),
}
# Which engine reads each option ("*": the executor). An engine is only handed its own options, so
# `engine: auto` may carry Z-Image settings and still fall back to the procedural engine.
ENGINE_OPTION_OWNER: dict[str, str] = {
    "batch_size": "*", "shading": "procedural", "scale": "procedural",
    **{k: "z-image-turbo" for k in ("model", "dtype", "vae_dtype", "device", "loras", "compile",
                                     "offload_text_encoder", "vae_batch", "vae_tile", "max_batch", "seam_jitter")},
}


def options_for(engine: str, options: dict) -> dict:
    """The subset of recipe engine options that ``engine`` itself reads."""
    return {k: v for k, v in options.items() if ENGINE_OPTION_OWNER.get(k) == engine}
