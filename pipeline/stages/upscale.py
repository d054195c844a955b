"""The ``upscale`` stage: x2 or x4, keeping the wrap.

- ``lanczos``: wrap-aware Lanczos (pad by wrap, resize, crop) for every role; normal maps are
  renormalised.
- ``refine``: Lanczos, then img2img at low ``strength`` on the albedo, in engine-sized tiles laid on
  the torus with wrap-around overlaps (:mod:`zpipe.texture.refine`), so no seam appears at tile
  boundaries or at the texture's border. Needs ``Capability.IMG2IMG``.
- ``auto`` (default): ``refine`` when the engine can do img2img, else ``lanczos``.

Metrics: factor, size, the method used (and why), tiles, and seam scores before/after per role.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zpipe.engine.base import Capability, Request
from zpipe.params import Param
from zpipe.stages.base import Asset, Stage, StageContext, StageResult
from zpipe.texture import wrap
from zpipe.texture.export import renormalise
from zpipe.texture.refine import refine_tiled
from zpipe.texture.seam import seam_scores


def _scores(img: np.ndarray) -> dict[str, float]:
    return {a: round(v, 4) for a, v in seam_scores(img, "xy").items()}


class UpscaleStage(Stage):
    name = "upscale"
    doc = "Upscale x2/x4 with wrap-aware Lanczos, optionally refined by tiled img2img on the torus."
    params = {
        "factor": Param(int, 2, "scale factor", choices=(2, 4)),
        "mode": Param(str, "auto", "lanczos, refine (Lanczos + tiled img2img), or auto (refine when the "
                      "engine can do img2img)", choices=("auto", "lanczos", "refine")),
        "strength": Param(float, 0.3, "img2img strength for refine (low keeps the composition)",
                          min=0.05, max=0.9),
        "tile": Param(int, 1024, "refine tile size in pixels (a multiple of 16)", min=64, max=4096),
        "overlap": Param(float, 0.25, "refine tile overlap, as a fraction of the tile", min=0.1, max=0.5),
        "wrap": Param(str, "auto", "treat images as periodic: auto (textures yes, posters no), yes, no",
                      choices=("auto", "yes", "no")),
    }

    @classmethod
    def output_size(cls, params: dict[str, Any], size: tuple[int, int]) -> tuple[int, int] | None:
        f = int(params.get("factor", 2))
        return size[0] * f, size[1] * f

    def run(self, asset: Asset, params: dict[str, Any], ctx: StageContext) -> StageResult:
        p = self.resolve(params)
        f = int(p["factor"])
        periodic = p["wrap"] == "yes" or (p["wrap"] == "auto" and asset.kind == "textures")
        can_refine = Capability.IMG2IMG in ctx.capabilities
        mode = p["mode"]
        metrics: dict[str, Any] = {"factor": f, "wrap": periodic}
        if mode == "auto":
            mode = "refine" if can_refine else "lanczos"
        elif mode == "refine" and not can_refine:
            metrics["note"] = f"engine {ctx.engine_name or ''} cannot do img2img; used lanczos".replace("  ", " ")
            mode = "lanczos"
        out: dict[str, np.ndarray] = {}
        before: dict[str, dict[str, float]] = {}
        after: dict[str, dict[str, float]] = {}
        for role, img in asset.images.items():
            h, w = img.shape[:2]
            up = wrap.resize(img, w * f, h * f, "lanczos", wrap=periodic)
            if role == "normal" and up.ndim == 3 and up.shape[2] >= 3:
                up = renormalise(up)
            out[role] = up
            if periodic:
                before[role] = _scores(img)
        color_role = "albedo" if "albedo" in out else ("poster" if "poster" in out else None)
        if mode == "refine" and color_role is not None:
            out[color_role], tiles = self._refine(out[color_role], asset, p, ctx, periodic)
            metrics["tiles"] = tiles
        metrics["method"] = mode
        first = next(iter(out.values()), None)
        if first is not None:
            metrics["size"] = [int(first.shape[1]), int(first.shape[0])]
        if periodic:
            after = {r: _scores(img) for r, img in out.items()}
            metrics["seam_before"], metrics["seam_after"] = before, after
        return StageResult(images=out, metrics=metrics)

    def _refine(self, image: np.ndarray, asset: Asset, p: dict[str, Any], ctx: StageContext,
                periodic: bool) -> tuple[np.ndarray, int]:
        base = ctx.request
        prompt = getattr(base, "prompt", asset.prompt)
        seed = getattr(base, "seed", asset.seed)
        steps = getattr(base, "steps", 8)
        kind = getattr(base, "kind", "texture")

        def run_tiles(tiles: list[np.ndarray]) -> list[np.ndarray]:
            reqs = [Request(prompt=prompt, width=t.shape[1], height=t.shape[0], seed=seed + i, steps=steps,
                            kind=kind, init_image=t, strength=float(p["strength"]))
                    for i, t in enumerate(tiles)]
            return [np.asarray(g.image, np.float32) for g in ctx.generate(reqs)]

        if periodic:
            return refine_tiled(image, run_tiles, tile=int(p["tile"]), overlap=float(p["overlap"]))
        # posters: no wrap; the same machinery on a clamped canvas would blend the opposite border in,
        # so refine the whole image at once when it fits in one request.
        h, w = image.shape[:2]
        if h % 16 or w % 16:
            return image, 0
        (done,) = run_tiles([np.ascontiguousarray(image[..., :3])])
        res = image.copy()
        res[..., :3] = np.clip(done, 0, 1)
        return res, 1
