"""The engine class behind ``engine: procedural``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from zpipe.engine.base import Capability, EngineError, Generated, Request

# Bump whenever any output byte can change (it enters the content key through the fingerprint).
VERSION = "1.11.0"

# option -> (default, lowest, highest)
OPTIONS: dict[str, tuple[float, float, float]] = {
    "shading": (1.0, 0.0, 2.0),  # strength of the baked relief light; 0 gives a flat albedo
    "scale": (1.0, 0.25, 4.0),  # feature size multiplier (2 = features twice as large)
}


class ProceduralEngine:
    """Material textures and poster backgrounds from periodic noise; see the package docstring."""

    name = "procedural"
    version = VERSION
    capabilities = frozenset({Capability.TEXT2IMG, Capability.TILE})

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
        for key, (default, lo, hi) in OPTIONS.items():
            v = options.get(key, default)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise EngineError(f"procedural engine: option {key!r} must be a number, got {v!r}")
            if not lo <= float(v) <= hi:
                raise EngineError(f"procedural engine: option {key!r} must be between {lo} and {hi}, got {v!r}")
            values[key] = float(v)
        return cls(**values)

    def fingerprint(self) -> str:
        extra = "".join(
            f";{k}={getattr(self, k):g}" for k, (default, _, _) in sorted(OPTIONS.items()) if getattr(self, k) != default
        )
        return f"procedural-{self.version}{extra}"

    def generate(self, requests: list[Request]) -> list[Generated]:
        return [self._one(r) for r in requests]

    def _one(self, req: Request) -> Generated:
        from zpipe.engine.procedural import families, materials, poster

        if req.init_image is not None or req.mask is not None:
            raise EngineError("the procedural engine makes images from prompts only (no img2img or inpainting)")
        if req.kind == "poster":
            img, info = poster.generate(req.prompt, req.height, req.width, req.seed)
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
