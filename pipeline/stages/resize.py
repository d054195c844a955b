"""The ``resize`` stage: resample every role to a new size, wrap-aware for textures.

Give ``width`` and/or ``height`` (a missing one keeps the aspect ratio), or a ``scale`` factor.
Textures are resampled as periodic images (pad by wrap, resample, crop) so they stay tileable;
posters use ordinary clamped borders. Normal maps are renormalised after resampling.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zpipe.params import Param
from zpipe.stages.base import Asset, Stage, StageContext, StageFailure, StageResult
from zpipe.texture import wrap
from zpipe.texture.export import renormalise


def target_size(w: int, h: int, width: int, height: int, scale: float) -> tuple[int, int]:
    """The output size: explicit width/height (aspect kept when one is 0), else ``scale``."""
    if width and height:
        return width, height
    if width:
        return width, max(1, round(h * width / w))
    if height:
        return max(1, round(w * height / h)), height
    if scale:
        return max(1, round(w * scale)), max(1, round(h * scale))
    raise ValueError("resize needs width, height or scale; e.g. `- resize: {width: 512}`")


class ResizeStage(Stage):
    name = "resize"
    doc = "Resample all roles to a new size (wrap-aware for textures)."
    params = {
        "width": Param(int, 0, "output width in pixels (0 = from height or scale)", min=0, max=16384),
        "height": Param(int, 0, "output height in pixels (0 = from width or scale)", min=0, max=16384),
        "scale": Param(float, 0.0, "scale factor when width and height are 0", min=0.0, max=16.0),
        "filter": Param(str, "auto", "resampling filter (auto = Lanczos up, area down)",
                        choices=("auto", *wrap.FILTERS)),
        "wrap": Param(str, "auto", "treat images as periodic: auto (textures yes, posters no), yes, no",
                      choices=("auto", "yes", "no")),
        "roles": Param(list, [], "roles to resize (empty = all)", item=str),
    }

    @classmethod
    def check(cls, params: dict[str, Any]) -> dict[str, str]:
        if not (params.get("width") or params.get("height") or params.get("scale")):
            return {"width": "resize needs width, height or scale; e.g. `- resize: {width: 512}`"}
        return {}

    @classmethod
    def output_size(cls, params: dict[str, Any], size: tuple[int, int]) -> tuple[int, int] | None:
        if params.get("roles"):  # only some roles change: their sizes differ
            return None
        try:
            return target_size(*size, params.get("width", 0), params.get("height", 0), params.get("scale", 0.0))
        except ValueError:
            return None

    def run(self, asset: Asset, params: dict[str, Any], ctx: StageContext) -> StageResult:
        p = self.resolve(params)
        periodic = p["wrap"] == "yes" or (p["wrap"] == "auto" and asset.kind == "textures")
        roles = p["roles"] or list(asset.images)
        out: dict[str, np.ndarray] = {}
        metrics: dict[str, Any] = {"wrap": periodic}
        for role in roles:
            if role not in asset.images:
                raise StageFailure(f"role {role!r} does not exist; available: {', '.join(asset.images)}")
            img = asset.images[role]
            h, w = img.shape[:2]
            try:
                nw, nh = target_size(w, h, p["width"], p["height"], p["scale"])
            except ValueError as exc:
                raise StageFailure(str(exc)) from None
            res = wrap.resize(img, nw, nh, p["filter"], wrap=periodic)
            if role == "normal" and res.ndim == 3 and res.shape[2] >= 3:
                res = renormalise(res)
            out[role] = res
            metrics[role] = {"from": [w, h], "to": [nw, nh]}
        return StageResult(images=out, metrics=metrics)
