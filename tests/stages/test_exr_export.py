"""EXR export: 32-bit float height, half-float colour (converted to linear) and data maps, read back with
OpenImageIO (the ASWF image library: a reader independent of the OpenEXR Python binding that writes them)."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest
from helpers import NO_ENGINE, make_asset, periodic_noise, stage_params

from zpipe.stages.base import apply
from zpipe.stages.export import ExportStage
from zpipe.stages.pbr import PbrStage
from zpipe.texture.readback import decode

oiio = pytest.importorskip("OpenImageIO", reason="OpenImageIO is a test dependency (pip install '.[test]')")


def _channels(data: bytes) -> dict[str, np.ndarray]:
    """Channel name -> pixels in the file's own pixel type (half stays float16, float stays float32)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "read.exr")
        with open(path, "wb") as f:
            f.write(data)
        image = oiio.ImageInput.open(path)
        assert image is not None, oiio.geterror()
        try:
            spec = image.spec()
            pixels = image.read_image(oiio.UNKNOWN)  # UNKNOWN: keep the stored type
        finally:
            image.close()
    return {name: pixels[..., i] for i, name in enumerate(spec.channelnames)}


def _linear(srgb: np.ndarray) -> np.ndarray:  # IEC 61966-2-1, written out here rather than imported
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def test_every_role_round_trips_through_an_independent_reader():
    asset = make_asset({"albedo": periodic_noise(64, seed=5)})
    apply(asset, PbrStage().run(asset, stage_params(PbrStage), NO_ENGINE), "pbr")
    apply(asset, ExportStage().run(asset, stage_params(ExportStage, formats=["exr", "png"], preset="unity-hdrp",
                                                       naming="{role}_map"), NO_ENGINE), "export")
    files = asset.files
    assert {"albedo_map.exr", "height_map.exr", "normal_map.exr", "roughness_map.exr", "ao_map.exr", "mask_map.exr"} <= set(files)

    height = _channels(files["height_map.exr"])
    assert list(height) == ["Y"] and height["Y"].dtype == np.float32
    assert np.array_equal(height["Y"], asset.images["height"][..., 0])  # 32-bit float: exact

    albedo = _channels(files["albedo_map.exr"])
    assert sorted(albedo) == ["B", "G", "R"] and albedo["R"].dtype == np.float16
    got = np.stack([albedo[c] for c in "RGB"], axis=2).astype(np.float32)
    want = _linear(asset.images["albedo"].astype(np.float64))
    assert np.allclose(got, want, rtol=1e-3, atol=1e-4)  # half float: 11-bit mantissa

    normal = _channels(files["normal_map.exr"])
    got = np.stack([normal[c] for c in "RGB"], axis=2).astype(np.float32)
    assert np.allclose(got, asset.images["normal"], rtol=1e-3, atol=1e-4)  # data: as stored

    mask = _channels(files["mask_map.exr"])
    assert sorted(mask) == ["A", "B", "G", "R"]
    assert np.allclose(mask["A"].astype(np.float32), 1.0 - asset.images["roughness"][..., 0], rtol=1e-3, atol=1e-4)

    meta = asset.metrics["export"]
    assert meta["height"]["files"]["height_map.exr"] | {"bits": 32, "pixel_type": "float"} == \
        meta["height"]["files"]["height_map.exr"]
    assert meta["albedo"]["files"]["albedo_map.exr"]["converted_from"] == "srgb"
    assert meta["albedo"]["files"]["albedo_map.exr"]["colour_space"] == "linear"
    # zpipe's own reader (contact sheet, checks) agrees with the independent one
    assert np.array_equal(decode(files["height_map.exr"], "height_map.exr"), asset.images["height"])


def test_exr_is_a_recipe_format(write_recipe, tmp_path):
    from click.testing import CliRunner

    from zpipe.cli import main

    recipe = write_recipe("name: e\nengine: procedural\nsize: 64\nprompt: stone\nassets: [{id: a}]\n"
                          "stages: [pbr]\noutput: {formats: [exr]}\n")
    r = CliRunner().invoke(main, ["run", str(recipe), "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    height = _channels((tmp_path / "e" / "v0001" / "a" / "height.exr").read_bytes())
    assert height["Y"].shape == (64, 64) and height["Y"].dtype == np.float32
