"""The ``pbr`` stage: height, normal, roughness and AO maps from the albedo, with wrap-around borders.

Definitions and conventions: :mod:`zpipe.texture.pbr`. Adds the roles ``height`` (exported 16-bit by
default), ``normal``, ``roughness``, ``ao`` and, with ``orm: true``, ``orm`` (R = AO, G = roughness,
B = metallic). Metrics: the normal convention (``normal_y``, read by export to flip for a preset), the
relief ``depth`` the height map spans (a fraction of the width: DCCs use it as displacement scale),
``metallic`` and seam scores per map.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zpipe.params import Param
from zpipe.stages.base import Asset, Stage, StageContext, StageFailure, StageResult
from zpipe.texture import pbr
from zpipe.texture.seam import seam_scores

MAPS = ("height", "normal", "roughness", "ao")


class PbrStage(Stage):
    name = "pbr"
    doc = "Derive height, normal (OpenGL/DirectX), roughness and AO from the albedo; optional ORM packing."
    kinds = ("textures",)
    params = {
        "maps": Param(list, list(MAPS), "maps to make", choices=MAPS, item=str),
        "normal_y": Param(str, "opengl", "normal-map green channel: opengl (Y+) or directx (Y-)",
                          choices=("opengl", "directx")),
        "depth": Param(float, 0.02, "relief depth for normals, as a fraction of the texture width",
                       min=0.0, max=1.0),
        "detail": Param(float, 1.0, "height: blur in pixels that removes pixel noise", min=0.0, max=16.0),
        "scale": Param(float, 0.25, "height: lighting removal, wide blur as a fraction of the size "
                       "(0 = keep all low frequencies)", min=0.0, max=1.0),
        "invert_height": Param(bool, False, "dark is high (e.g. dark mortar standing out)"),
        "roughness_base": Param(float, 0.7, "mean roughness", min=0.0, max=1.0),
        "roughness_contrast": Param(float, 0.4, "how much bright/raised areas are smoother", min=0.0, max=2.0),
        "ao_strength": Param(float, 0.8, "AO darkening of cavities", min=0.0, max=1.0),
        "ao_radius": Param(float, 0.03, "AO neighbourhood as a fraction of the size", min=0.001, max=0.25),
        "metallic": Param(float, 0.0, "constant metallic value for ORM and the Unity packed maps", min=0.0, max=1.0),
        "orm": Param(bool, False, "also pack ORM (R = AO, G = roughness, B = metallic)"),
    }

    def run(self, asset: Asset, params: dict[str, Any], ctx: StageContext) -> StageResult:
        p = self.resolve(params)
        if "albedo" not in asset.images:
            raise StageFailure(f"needs an albedo; roles are {', '.join(asset.images) or 'none'}")
        albedo = np.asarray(asset.images["albedo"], np.float32)
        maps = set(p["maps"])
        out: dict[str, np.ndarray] = {}
        relief = pbr.relief_of(albedo, p["detail"], p["scale"])  # shared by height and roughness
        height = pbr.height_from_albedo(albedo, invert=p["invert_height"], relief=relief)
        if "height" in maps:
            out["height"] = height
        if "normal" in maps:
            out["normal"] = pbr.normal_from_height(height, p["depth"], p["normal_y"])
        rough = None
        if "roughness" in maps or p["orm"]:
            rough = pbr.roughness_from_albedo(albedo, p["roughness_base"], p["roughness_contrast"],
                                              invert=p["invert_height"], relief=relief)
            if "roughness" in maps:
                out["roughness"] = rough
        ao = None
        if "ao" in maps or p["orm"]:
            ao = pbr.ao_from_height(height, p["ao_strength"], p["ao_radius"])
            if "ao" in maps:
                out["ao"] = ao
        if p["orm"]:
            out["orm"] = pbr.pack_orm(ao, rough, p["metallic"])
        seams = {r: {a: round(v, 4) for a, v in seam_scores(img, "xy").items()} for r, img in out.items()}
        metrics = {"normal_y": p["normal_y"], "metallic": p["metallic"], "depth": p["depth"], "maps": sorted(out),
                   "seam": seams}
        return StageResult(images=out, metrics=metrics)
