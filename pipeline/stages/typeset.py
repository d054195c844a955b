"""Typeset stage: draw the poster's text lines with real fonts onto the poster image.

The primary text path for ``text: typeset`` posters (then ``glyph_check`` verifies the result), and
the renderer behind ``glyph_check``'s ``fallback: typeset``. See :mod:`zpipe.text.typeset`.
"""

from __future__ import annotations

from typing import Any

from zpipe.stages.base import Asset, Stage, StageContext, StageResult
from zpipe.text.poster import TYPESET_PARAMS, check_typeset_params, font_key, typeset_poster


class TypesetStage(Stage):
    name = "typeset"
    doc = "Draw the poster text with real fonts (line breaking, auto-fit, colour, stroke, shadow)."
    kinds = ("posters",)
    params = TYPESET_PARAMS

    @classmethod
    def key_inputs(cls, params: dict[str, Any]) -> dict[str, Any]:
        return font_key(params)

    @classmethod
    def check(cls, params: dict[str, Any]) -> dict[str, str]:
        return check_typeset_params(params)

    def run(self, asset: Asset, params: dict[str, Any], ctx: StageContext) -> StageResult:
        image, metrics = typeset_poster(asset, params, ctx)
        return StageResult(images={"poster": image}, metrics=metrics)
