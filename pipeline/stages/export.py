"""The ``export`` stage: encode every role into files (bytes) for the store to write.

It always runs last; its parameters are the recipe's ``output:`` section. Files are named by the
``naming`` template ({asset}, {role}, {suffix}) plus the format's extension, e.g. ``albedo.png``.
Metrics, per role: width, height, channels, bits, colour space and the files written.
"""

from __future__ import annotations

import json
from typing import Any

from zpipe.params import Param
from zpipe.stages.base import Asset, Stage, StageContext, StageFailure, StageResult
from zpipe.texture import export as tex_export
from zpipe.texture.formats import FORMATS, png_add_text


class ExportStage(Stage):
    name = "export"
    doc = "Write each role as files (PNG 8/16, JPEG, WebP, TGA, DDS, KTX2, EXR) with per-role colour space."
    params = {
        "formats": Param(list, ["png"], "file formats, any of " + ", ".join(FORMATS), choices=FORMATS, item=str),
        "naming": Param(str, "{role}", "file name template without extension; placeholders {asset}, {role}, "
                        "{suffix} (the preset's suffix for the role)"),
        "preset": Param(str, "none", "engine preset: sets naming and the normal-map Y convention; unity-hdrp "
                        "adds HDRP's mask map (role mask), unity-urp URP's metallic map (role metallic_smoothness)",
                        choices=("none", *tex_export.PRESETS)),
        "normal_y": Param(str, "auto", "normal-map green channel: opengl (Y+), directx (Y-), "
                          "auto = the preset's, else as made", choices=("auto", "opengl", "directx")),
        "roles": Param(list, [], "roles to export (empty = all)", item=str),
        "bits16": Param(list, ["height"], "roles written with 16 bits per channel in PNG (png16 writes all)",
                        item=str),
        "jpeg_quality": Param(int, 92, "JPEG quality", min=1, max=100),
        "webp_quality": Param(int, 90, "WebP quality (lossy)", min=1, max=100),
        "webp_lossless": Param(bool, False, "lossless WebP"),
        "png_compression": Param(int, 1, "PNG zlib level (0 fast .. 9 small)", min=0, max=9),
        "tga_rle": Param(bool, True, "run-length encoded TGA"),
        "power_of_two": Param(str, "off", "power-of-two sizes: off, check (fail when not), resize (to the "
                              "nearest power of two, wrap-aware)", choices=("off", "check", "resize")),
        "mipmaps": Param(bool, True, "include a wrap-filtered mip chain in DDS and KTX2 files"),
        "dds_format": Param(str, "auto", "DDS pixel format: auto (BC7 colour, BC5 normal, BC4 data when "
                            "available, else uncompressed), uncompressed (R8/RG8/RGBA8, R16 for height), "
                            "bc1, bc3, bc4, bc5, bc7",
                            choices=tex_export.DDS_FORMATS),
        "ktx2": Param(dict, {}, "KTX2 options: codec (auto and bc1..bc7, uncompressed as for dds_format; etc1s "
                      "or uastc: Basis Universal, needs the basisu encoder), etc1s_quality (1-255, default 128), "
                      "uastc_level (0-4, default 2)"),
    }

    @classmethod
    def check(cls, params: dict[str, Any]) -> dict[str, str]:
        from zpipe.texture.formats import check_naming

        problems = {}
        problem = check_naming(params["naming"]) if isinstance(params.get("naming"), str) else None
        if problem:
            problems["naming"] = problem
        formats = params.get("formats") if isinstance(params.get("formats"), list) else []
        ktx2 = tex_export.ktx2_problems(params.get("ktx2", {}), formats)
        if ktx2:
            problems["ktx2"] = "; ".join(ktx2)
        return problems

    def run(self, asset: Asset, params: dict[str, Any], ctx: StageContext) -> StageResult:
        p = self.resolve(params)
        pbr = asset.metrics.get("pbr") or {}
        try:
            files, metrics = tex_export.export_images(
                asset.images, asset_id=asset.id, options=p, normal_y_made=pbr.get("normal_y", "opengl"),
                periodic=asset.kind == "textures", metallic=float(pbr.get("metallic", 0.0)))
        except ValueError as exc:
            raise StageFailure(str(exc)) from None
        # Outputs describe themselves: PNGs carry what made them (only inputs that are in the asset's key,
        # so the same key still gives the same bytes).
        provenance = json.dumps({"asset": asset.id, "prompt": asset.prompt, "seed": asset.seed,
                                 "engine": ctx.engine_name, "size": [asset.width, asset.height]},
                                ensure_ascii=False, sort_keys=True)
        files = {name: png_add_text(data, "zpipe", provenance) if name.endswith(".png") else data
                 for name, data in files.items()}
        return StageResult(files=files, metrics=metrics)

