"""Recipe keys, their types, defaults and docs: the single declaration that validation and the README
reference are written from."""

from __future__ import annotations

from zpipe.params import Param

KINDS = ("textures", "posters")
TILE_MODES = ("none", "x", "y", "xy")
ENGINE_NAMES = ("auto", "procedural", "z-image-turbo")

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
# size, engine, matrix, assets, stages, output and the text roles have their own checks.
SPECIAL = ("size", "engine", "matrix", "assets", "stages", "output", *TEXT_ROLES)
ASSET_ONLY: dict[str, Param] = {
    "id": Param(str, None, "Asset id: its folder name.", required=True),
    "vars": Param(dict, None, "Values for the prompt's {placeholders}."),
}
ENGINE_OPTIONS: dict[str, Param] = {
    "name": Param(str, "auto", "auto, procedural or z-image-turbo.", choices=ENGINE_NAMES),
    "model": Param(str, None, "Z-Image: path to the model folder or ComfyUI file."),
    "text_encoder": Param(str, None, "Z-Image: ComfyUI text encoder file (qwen_3_4b*.safetensors)."),
    "vae": Param(str, None, "Z-Image: ComfyUI VAE file (ae.safetensors)."),
    "dtype": Param(str, None, "Z-Image: bf16, fp16 or fp32 (default bf16 on GPU, fp32 on CPU).",
                   choices=("bf16", "fp16", "fp32")),
    "device": Param(str, None, "cuda, cuda:N, mps or cpu (default: best available)."),
    "loras": Param(list, None, "Z-Image: [{path, scale}] LoRA files merged into the DiT."),
    "compile": Param(bool, False, "Z-Image: torch.compile the DiT (opt-in)."),
    "batch_size": Param(int, 4, "Images per engine call.", min=1, max=64),
    "phased": Param(bool, False, "Z-Image: free the text encoder before the DiT (16 GB cards)."),
    "detail": Param(float, 1.0, "Procedural: amount of fine detail.", min=0.0, max=4.0),
}
