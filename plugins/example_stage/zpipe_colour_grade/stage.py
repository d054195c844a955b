"""The ``colour_grade`` stage: exposure, contrast, saturation and tint of the colour roles.

Registered in the ``zpipe.stages`` entry-point group by this package's pyproject.toml. Images are float32
(H, W, C) in [0, 1]; the grade is done in linear light (sRGB decoded, graded, encoded again), so exposure
behaves like a camera's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zpipe.params import Param
from zpipe.stages.base import Asset, Stage, StageContext, StageFailure, StageResult

COLOUR_ROLES = ("albedo", "poster")
LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(np.maximum(x, 0.0), 1 / 2.4) - 0.055)


def grade(rgb: np.ndarray, exposure: float, contrast: float, saturation: float, tint: list[float]) -> np.ndarray:
    """Grade an sRGB image (H, W, 3) in [0, 1]; returns it unclipped (the caller counts and clips)."""
    lin = srgb_to_linear(rgb.astype(np.float32)) * (2.0 ** exposure) * np.asarray(tint, np.float32)
    luma = lin @ LUMA
    lin = luma[..., None] + (lin - luma[..., None]) * saturation
    mid = 0.18
    lin = np.where(lin > 0, mid * (np.maximum(lin, 1e-8) / mid) ** contrast, 0.0)
    return linear_to_srgb(lin).astype(np.float32)


class ColourGradeStage(Stage):
    name = "colour_grade"
    doc = "Exposure, contrast, saturation and tint of the colour roles (albedo, poster), in linear light."
    kinds = ("textures", "posters")
    params = {
        "exposure": Param(float, 0.0, "exposure change in stops (+1 = twice as bright)", min=-4.0, max=4.0),
        "contrast": Param(float, 1.0, "contrast around mid grey (1 = unchanged)", min=0.25, max=4.0),
        "saturation": Param(float, 1.0, "colour saturation (0 = grey, 1 = unchanged)", min=0.0, max=2.0),
        "tint": Param(list, [1.0, 1.0, 1.0], "RGB multipliers in linear light", item=float),
        "max_clipped": Param(float, 0.01, "fraction of clipped pixels above which a warning is recorded",
                             min=0.0, max=1.0),
    }

    def run(self, asset: Asset, params: dict[str, Any], ctx: StageContext) -> StageResult:
        p = self.resolve(params)
        tint = [float(v) for v in p["tint"]]
        if len(tint) != 3 or min(tint) < 0:
            raise StageFailure(f"colour_grade: tint must be three non-negative numbers, got {p['tint']!r}")
        roles = [r for r in COLOUR_ROLES if r in asset.images]
        if not roles:
            raise StageFailure(f"colour_grade: no colour role to grade; roles are {', '.join(asset.images)}")
        images, metrics, warnings = {}, {}, []
        for role in roles:
            img = np.asarray(asset.images[role], np.float32)
            rgb, alpha = img[..., :3], img[..., 3:]
            out = grade(rgb, p["exposure"], p["contrast"], p["saturation"], tint)
            clipped = float(np.mean(np.any((out > 1.0) | (out < 0.0), axis=-1)))
            images[role] = np.concatenate([np.clip(out, 0.0, 1.0), alpha], axis=-1) if alpha.size else \
                np.clip(out, 0.0, 1.0)
            metrics[role] = {"mean_before": round(float(rgb.mean()), 4), "mean_after": round(float(images[role].mean()), 4),
                             "clipped": round(clipped, 4)}
            if clipped > p["max_clipped"]:
                warnings.append(f"{role}: {clipped:.1%} of the pixels clipped (max_clipped {p['max_clipped']:.1%})")
        if warnings:
            metrics["warnings"] = warnings
        return StageResult(images=images, metrics=metrics)
