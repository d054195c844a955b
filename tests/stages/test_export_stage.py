"""Export and resize stages: files per role, formats that reopen with the right size/channels/bits."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from helpers import NO_ENGINE, make_asset, stage_params
from PIL import Image

from zpipe.stages.base import StageContext, StageFailure, apply
from zpipe.stages.export import ExportStage
from zpipe.stages.resize import ResizeStage
from zpipe.texture import dds, wrap
from zpipe.texture.seam import seam_score, seam_scores


def _periodic(h: int = 64, w: int = 64, c: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    chans = []
    for _ in range(c):
        f = np.zeros((h, w), np.float32)
        for _ in range(4):
            kx, ky = rng.integers(1, 5, size=2)
            f += np.sin(2 * np.pi * (kx * x / w + ky * y / h) + rng.uniform(0, 6.28)).astype(np.float32)
        chans.append(0.5 + 0.12 * f)
    return np.clip(np.stack(chans, axis=2), 0, 1).astype(np.float32)


def test_png_files_per_role_with_metrics():
    stage = ExportStage()
    asset = make_asset({"albedo": _periodic(), "height": _periodic(c=1)[..., :1]})
    res = stage.run(asset, stage_params(stage), NO_ENGINE)
    assert set(res.files) == {"albedo.png", "height.png"}
    albedo = cv2.imdecode(np.frombuffer(res.files["albedo.png"], np.uint8), cv2.IMREAD_UNCHANGED)
    height = cv2.imdecode(np.frombuffer(res.files["height.png"], np.uint8), cv2.IMREAD_UNCHANGED)
    assert albedo.shape == (64, 64, 3) and albedo.dtype == np.uint8
    assert height.shape == (64, 64) and height.dtype == np.uint16  # height is 16-bit by default
    m = res.metrics
    assert m["albedo"]["width"] == 64 and m["albedo"]["channels"] == 3 and m["albedo"]["bits"] == 8
    assert m["albedo"]["colour_space"] == "srgb" and m["height"]["colour_space"] == "linear"
    assert m["height"]["bits"] == 16 and m["height"]["channels"] == 1
    # values survive: red channel stays red (no BGR swap)
    src = asset.images["albedo"]
    assert np.abs(albedo[..., ::-1] / 255.0 - src).max() < 1 / 255 + 1e-6
    # colour space is tagged in the PNG: sRGB chunk for albedo; data maps stay untagged (no gamma games)
    assert b"sRGB" in res.files["albedo.png"][:64]
    assert b"sRGB" not in res.files["height.png"][:64] and b"gAMA" not in res.files["height.png"][:64]
    assert Image.open(io.BytesIO(res.files["albedo.png"])).info.get("srgb") is not None


def test_png16_reopens_with_16_bits_and_exact_values():
    stage = ExportStage()
    img = _periodic(c=3)
    res = stage.run(make_asset({"albedo": img}), stage_params(stage, formats=["png16"]), NO_ENGINE)
    arr = cv2.imdecode(np.frombuffer(res.files["albedo.png"], np.uint8), cv2.IMREAD_UNCHANGED)
    assert arr.dtype == np.uint16 and arr.shape == (64, 64, 3)
    assert np.abs(arr[..., ::-1] / 65535.0 - img).max() < 1e-4
    assert res.metrics["albedo"]["bits"] == 16


@pytest.mark.parametrize("fmt,ext,mode", [("jpeg", ".jpg", "RGB"), ("webp", ".webp", "RGB"), ("tga", ".tga", "RGB")])
def test_other_formats_reopen(fmt, ext, mode):
    stage = ExportStage()
    img = _periodic(48, 80)
    res = stage.run(make_asset({"albedo": img}), stage_params(stage, formats=[fmt]), NO_ENGINE)
    (name, data), = res.files.items()
    assert name == "albedo" + ext
    with Image.open(io.BytesIO(data)) as im:
        assert im.size == (80, 48) and im.mode == mode
        back = np.asarray(im.convert("RGB"), np.float32) / 255
    assert np.abs(back - img).mean() < 0.03


def test_dds_uncompressed_reopens():
    stage = ExportStage()
    asset = make_asset({"albedo": _periodic(), "height": _periodic(c=1)})
    res = stage.run(asset, stage_params(stage, formats=["dds"], dds_format="uncompressed"), NO_ENGINE)
    info = dds.read_header(res.files["albedo.dds"])
    assert (info.width, info.height, info.mip_count, info.format) == (64, 64, 7, "rgba8_srgb")
    lvl0 = dds.decode_uncompressed(res.files["albedo.dds"])
    assert lvl0.shape == (64, 64, 4) and np.abs(lvl0[..., :3] / 255 - asset.images["albedo"]).max() < 0.003
    h = dds.read_header(res.files["height.dds"])
    assert h.format == "r16" and h.bits == 16 and h.channels == 1
    with Image.open(io.BytesIO(res.files["albedo.dds"])) as im:  # a third-party reader agrees
        assert im.size == (64, 64)


def test_naming_template_and_presets():
    stage = ExportStage()
    imgs = {"albedo": _periodic(), "normal": _periodic(seed=3)}
    res = stage.run(make_asset(imgs), stage_params(stage, naming="{asset}_{role}", formats=["png", "png16"]), NO_ENGINE)
    assert set(res.files) == {"stone_a_albedo.png", "stone_a_albedo_16.png", "stone_a_normal.png",
                              "stone_a_normal_16.png"}
    res = stage.run(make_asset(imgs), stage_params(stage, preset="unreal"), NO_ENGINE)
    assert set(res.files) == {"T_stone_a_D.png", "T_stone_a_N.png"}
    assert res.metrics["normal"]["normal_y"] == "directx"
    n = cv2.imdecode(np.frombuffer(res.files["T_stone_a_N.png"], np.uint8), cv2.IMREAD_UNCHANGED)[..., ::-1]
    assert np.abs(n[..., 1] / 255 - (1 - imgs["normal"][..., 1])).max() < 0.003  # green flipped
    res = stage.run(make_asset(imgs), stage_params(stage, preset="godot"), NO_ENGINE)
    assert set(res.files) == {"stone_a_albedo.png", "stone_a_normal.png"}
    assert res.metrics["normal"]["normal_y"] == "opengl"


@pytest.mark.parametrize("naming", ["../{role}", "/abs/{role}", "{role}/x", "..", ".hidden", "con", "{nope}",
                                    "a\\{role}", "{role"])
def test_bad_names_rejected(naming):
    stage = ExportStage()
    with pytest.raises(StageFailure):
        stage.run(make_asset({"albedo": _periodic()}), stage_params(stage, naming=naming), NO_ENGINE)


def test_asset_id_cannot_escape():
    stage = ExportStage()
    with pytest.raises(StageFailure):
        stage.run(make_asset({"albedo": _periodic()}, asset_id="../evil"), stage_params(stage, naming="{asset}"), NO_ENGINE)


def test_duplicate_names_and_missing_roles_fail():
    stage = ExportStage()
    asset = make_asset({"albedo": _periodic(), "height": _periodic(c=1)})
    with pytest.raises(StageFailure, match="two files"):
        stage.run(asset, stage_params(stage, naming="{asset}"), NO_ENGINE)
    with pytest.raises(StageFailure, match="normal"):
        stage.run(asset, stage_params(stage, roles=["normal"]), NO_ENGINE)


def test_power_of_two_check_and_resize():
    stage = ExportStage()
    asset = make_asset({"albedo": _periodic(48, 80)})
    with pytest.raises(StageFailure, match="power of two"):
        stage.run(asset, stage_params(stage, power_of_two="check"), NO_ENGINE)
    res = stage.run(asset, stage_params(stage, power_of_two="resize"), NO_ENGINE)
    assert res.metrics["albedo"]["width"] == 64 and res.metrics["albedo"]["height"] == 64
    assert res.metrics["albedo"]["resized_from"] == [80, 48]


def test_params_validate():
    p = ExportStage.params
    assert p["formats"].check(["png", "bmp"])[1] is not None
    assert p["formats"].check(["png", "jpeg"])[1] is None
    assert p["jpeg_quality"].check(0)[1] is not None


def test_resize_is_wrap_aware_and_keeps_seams_away():
    stage = ResizeStage()
    img = _periodic(64, 64)
    asset = make_asset({"albedo": img})
    res = stage.run(asset, stage_params(stage, width=48), NO_ENGINE)
    out = res.images["albedo"]
    assert out.shape == (48, 48, 3)
    assert seam_score(out, "x") < 1.5 and seam_score(out, "y") < 1.5
    # a clamped resize of the same image visibly differs at the borders; the wrap one matches
    # the analytic periodic function
    up = ResizeStage().run(asset, stage_params(stage, scale=2.0), NO_ENGINE).images["albedo"]
    assert up.shape == (128, 128, 3)
    assert seam_score(up, "x") < 1.5
    apply(asset, res, "resize")
    assert asset.images["albedo"].shape == (48, 48, 3) and asset.metrics["resize"]["albedo"]["to"] == [48, 48]


def test_resize_needs_a_size():
    stage = ResizeStage()
    with pytest.raises(StageFailure):
        stage.run(make_asset({"albedo": _periodic()}), stage_params(stage), NO_ENGINE)


@pytest.mark.parametrize("choice,role,expect,channels", [
    ("auto", "albedo", "bc7_srgb", 4), ("auto", "normal", "bc5", 2), ("auto", "roughness", "bc4", 1),
    ("auto", "height", "r16", 1), ("bc1", "albedo", "bc1_srgb", 4), ("bc3", "orm", "bc3", 4),
    ("bc7", "normal", "bc7", 4)])
def test_dds_block_compressed_reopens(choice, role, expect, channels):
    pytest.importorskip("etcpak")
    stage = ExportStage()
    c = 1 if role in ("roughness", "height") else 3
    img = _periodic(64, 128, c=c)
    res = stage.run(make_asset({role: img}), stage_params(stage, formats=["dds"], dds_format=choice), NO_ENGINE)
    data = res.files[f"{role}.dds"]
    info = dds.read_header(data)  # also checks the data size of every mip level
    assert (info.width, info.height, info.format, info.channels) == (128, 64, expect, channels)
    assert info.mip_count == 8 and info.bits == (16 if expect == "r16" else 8)
    meta = res.metrics[role]["files"][f"{role}.dds"]
    assert meta["dxgi"] == expect and meta["mips"] == 8
    assert meta["mip_seam_max"] < 1.6  # wrap-filtered mips stay seamless
    if expect in ("bc7_srgb", "bc5", "bc4", "bc3", "bc7"):
        assert max(meta["seam_compressed"].values()) < 1.6  # and so does the decoded BCn level 0
    if expect in ("bc1_srgb", "r16"):
        return  # Pillow decodes neither
    with Image.open(io.BytesIO(data)) as im:
        assert im.size == (128, 64)
        got = np.asarray(im, np.float32) / 255
    got = got[..., None] if got.ndim == 2 else got
    k = min(c, got.shape[2], 2 if expect == "bc5" else 3)
    # channel order and values survive compression (BC1/BC3 fit colours on a line: looser)
    assert np.abs(got[..., :k] - img[..., :k]).mean() < (0.05 if expect.startswith("bc3") else 0.02)


def test_mips_of_a_seamless_texture_stay_seamless_and_clamped_ones_do_not():
    img = _periodic(128, 128, seed=5)
    wrapped = wrap.mip_chain(img)
    assert max(max(seam_scores(lv).values()) for lv in wrapped[1:4]) < 1.6
    # a clamped 5-tap filter would pull border pixels towards themselves; the wrap chain matches
    # the downsample of the tiled image exactly
    tiled = wrap.mip_chain(np.tile(img, (3, 3, 1)))
    assert np.abs(tiled[1][64:128, 64:128] - wrapped[1]).max() < 1e-4


def test_export_records_seam_scores_for_textures_only():
    stage = ExportStage()
    res = stage.run(make_asset({"albedo": _periodic()}), stage_params(stage), NO_ENGINE)
    assert res.metrics["albedo"]["seam"]["x"] < 1.6
    res = stage.run(make_asset({"poster": _periodic()}, kind="posters"), stage_params(stage), NO_ENGINE)
    assert "seam" not in res.metrics["poster"]


def test_pngs_carry_their_provenance(tmp_path):
    import io
    import json

    import numpy as np
    from PIL import Image

    from zpipe.stages.export import ExportStage

    asset = make_asset({"albedo": np.full((64, 64, 3), 0.5, np.float32)}, asset_id="granite", seed=7,
                       prompt="granite 花岗岩")
    ctx = StageContext(generate=lambda r: [], capabilities=frozenset(), request=None, engine_name="procedural")
    params = ExportStage.resolve({})
    files = ExportStage().run(asset, params, ctx).files
    img = Image.open(io.BytesIO(files["albedo.png"]))
    img.load()
    assert json.loads(img.text["zpipe"]) == {"asset": "granite", "engine": "procedural", "prompt": "granite 花岗岩",
                                             "seed": 7, "size": [64, 64]}
    assert np.asarray(img.convert("RGB"))[0, 0].tolist() == [128, 128, 128]
