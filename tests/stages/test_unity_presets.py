"""Unity presets: HDRP's mask map and URP's metallic/smoothness map, packed from the pbr stage's maps, with
Unity's normal convention; read back from the written PNG files."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import NO_ENGINE, make_asset, periodic_noise, stage_params

from zpipe.stages.base import apply
from zpipe.stages.export import ExportStage
from zpipe.stages.pbr import PbrStage
from zpipe.texture.readback import decode


def _built(preset: str, metallic: float = 0.0, normal_y: str = "directx"):
    asset = make_asset({"albedo": periodic_noise(64, seed=3)})
    apply(asset, PbrStage().run(asset, stage_params(PbrStage, metallic=metallic, normal_y=normal_y), NO_ENGINE),
          "pbr")
    apply(asset, ExportStage().run(asset, stage_params(ExportStage, preset=preset), NO_ENGINE), "export")
    return asset


def test_hdrp_mask_map_channels():
    asset = _built("unity-hdrp", metallic=0.25)
    mask = decode(asset.files["stone_a_MaskMap.png"], "x.png")
    assert mask.shape == (64, 64, 4)
    tol = 1.0 / 255 + 1e-6
    assert np.allclose(mask[..., 0], 0.25, atol=tol)                                  # R metallic
    assert np.allclose(mask[..., 1], asset.images["ao"][..., 0], atol=tol)             # G AO
    assert np.allclose(mask[..., 2], 1.0)                                              # B detail mask
    assert np.allclose(mask[..., 3], 1.0 - asset.images["roughness"][..., 0], atol=tol)  # A smoothness
    meta = asset.metrics["export"]["mask"]
    assert meta["colour_space"] == "linear" and max(meta["seam"].values()) < 2.0
    # the other maps are still written, and the normal map is flipped to Unity's OpenGL (Y+)
    assert {"stone_a_Albedo.png", "stone_a_Normal.png", "stone_a_Roughness.png", "stone_a_Occlusion.png",
            "stone_a_Height.png"} <= set(asset.files)
    assert asset.metrics["export"]["normal"]["normal_y"] == "opengl"
    made = asset.images["normal"]
    written = decode(asset.files["stone_a_Normal.png"], "x.png")
    assert np.allclose(written[..., 1], 1.0 - made[..., 1], atol=tol)


def test_urp_metallic_smoothness_map():
    asset = _built("unity-urp", metallic=0.5, normal_y="opengl")
    packed = decode(asset.files["stone_a_MetallicSmoothness.png"], "x.png")
    tol = 1.0 / 255 + 1e-6
    assert packed.shape == (64, 64, 4)
    assert np.allclose(packed[..., :3], 0.5, atol=tol)
    assert np.allclose(packed[..., 3], 1.0 - asset.images["roughness"][..., 0], atol=tol)
    assert "stone_a_MaskMap.png" not in asset.files
    written = decode(asset.files["stone_a_Normal.png"], "x.png")
    assert np.allclose(written[..., 1], asset.images["normal"][..., 1], atol=tol)  # made OpenGL: unchanged


def test_a_metallic_map_wins_over_the_constant():
    rough = periodic_noise(32, seed=1, c=1)
    metal = periodic_noise(32, seed=2, c=1)
    asset = make_asset({"albedo": periodic_noise(32), "roughness": rough, "metallic": metal})
    apply(asset, ExportStage().run(asset, stage_params(ExportStage, preset="unity-hdrp", roles=["mask"]),
                                   NO_ENGINE), "export")
    mask = decode(asset.files["stone_a_MaskMap.png"], "x.png")
    assert list(asset.files) == ["stone_a_MaskMap.png"]
    assert np.allclose(mask[..., 0], metal[..., 0], atol=1 / 255 + 1e-6)
    assert np.allclose(mask[..., 1], 1.0)  # no AO made: unoccluded


def test_without_roughness_there_is_nothing_to_pack():
    asset = make_asset({"albedo": periodic_noise(32)})
    apply(asset, ExportStage().run(asset, stage_params(ExportStage, preset="unity-hdrp"), NO_ENGINE), "export")
    assert list(asset.files) == ["stone_a_Albedo.png"]
    with pytest.raises(Exception, match="role 'mask' is not made"):
        ExportStage().run(asset, stage_params(ExportStage, preset="unity-hdrp", roles=["mask"]), NO_ENGINE)
