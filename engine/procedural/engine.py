"""The engine class behind ``engine: procedural``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from zpipe.engine.base import Capability, EngineError, Generated, Request
from zpipe.params import Param

# Bump whenever any output byte can change (it enters the content key through the fingerprint).
VERSION = "1.11.1"  # 1.11.1: posters take their look from the request's style, not the prompt's wording

# The recipe's `engine` options this engine reads (recipe validation checks them against these).
OPTIONS: dict[str, Param] = {
    "shading": Param(float, 1.0, "Procedural: strength of the baked relief light (0 = flat albedo).",
                     min=0.0, max=2.0),
    "scale": Param(float, 1.0, "Procedural: feature size multiplier (2 = features twice as large).",
                   min=0.25, max=4.0),
}


class ProceduralEngine:
    """Material textures and poster backgrounds from periodic noise; see the package docstring."""

    name = "procedural"
    version = VERSION
    capabilities = frozenset({Capability.TEXT2IMG, Capability.TILE})
    options = OPTIONS

    def __init__(self, shading: float = 1.0, scale: float = 1.0):
        self.shading = float(shading)
        self.scale = float(scale)

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> ProceduralEngine:
        options = dict(options or {})
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise EngineError(
                f"procedural engine: unknown option{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(repr(u) for u in unknown)}; known options: {', '.join(sorted(OPTIONS))}"
            )
        values: dict[str, float] = {}
        for key, decl in OPTIONS.items():
            values[key], err = decl.check(options.get(key, decl.default))
            if err:
                raise EngineError(f"procedural engine: option {key!r}: {err}")
        return cls(**values)

    def fingerprint(self) -> str:
        extra = "".join(
            f";{k}={getattr(self, k):g}" for k, decl in sorted(OPTIONS.items()) if getattr(self, k) != decl.default
        )
        return f"procedural-{self.version}{extra}"

    def generate(self, requests: list[Request]) -> list[Generated]:
        return [self._one(r) for r in requests]

    def _one(self, req: Request) -> Generated:
        from zpipe.engine.procedural import families, materials, poster

        if req.init_image is not None or req.mask is not None:
            raise EngineError("the procedural engine makes images from prompts only (no img2img or inpainting)")
        if req.kind == "poster":
            img, info = poster.generate(req.prompt if req.style is None else req.style, req.height, req.width,
                                        req.seed)
            return Generated(img, info)
        parsed = families.parse(req.prompt)
        if self.scale != 1.0:
            parsed.scale = parsed.scale * self.scale
        ctx = materials.Ctx(req.height, req.width, req.seed, parsed, shading=self.shading)
        img = materials.render(ctx)
        assert img.shape == (req.height, req.width, 3) and img.dtype == np.float32
        info = parsed.info()
        info["tileable"] = True
        return Generated(img, info)
