"""All texture stages in a row on a procedural texture, as a recipe runs them: tile, upscale, pbr, resize, export."""

from __future__ import annotations

import numpy as np
from helpers import make_asset

from zpipe.engine import registry
from zpipe.engine.base import Request
from zpipe.stages import registry as stages
from zpipe.stages.base import StageContext, apply
from zpipe.texture import dds
from zpipe.texture.readback import decode
from zpipe.texture.seam import seam_scores


def test_stone_through_every_texture_stage():
    engine = registry.create("procedural")
    base = Request(prompt="mossy cobblestone", width=128, height=128, seed=11, tile="xy")
    ctx = StageContext(generate=engine.generate, capabilities=frozenset(engine.capabilities), request=base,
                       engine_name=engine.name)
    asset = make_asset({"albedo": engine.generate([base])[0].image}, asset_id="cobble_mossy", seed=base.seed,
                       prompt=base.prompt)
    chain = [("tile", {"max_seam": 2.0}), ("upscale", {"factor": 2}), ("pbr", {"normal_y": "opengl", "orm": True}),
             ("resize", {"width": 192}),
             ("export", {"formats": ["png", "dds"], "preset": "unity", "power_of_two": "resize"})]
    for name, given in chain:
        cls = stages.get(name)
        params = {}
        for key, decl in cls.params.items():
            value, err = decl.check(given.get(key, decl.default))
            assert err is None, (name, key, err)
            params[key] = value
        apply(asset, cls().run(asset, params, ctx), name)
    m = asset.metrics
    assert m["tile"]["passed"] and m["upscale"]["size"] == [256, 256]
    assert set(asset.images) == {"albedo", "height", "normal", "roughness", "ao", "orm"}
    assert all(img.shape[:2] == (192, 192) for img in asset.images.values())
    # every exported map is 256 (power of two), tileable, and reopens
    for role, meta in m["export"].items():
        assert (meta["width"], meta["height"]) == (256, 256) and max(meta["seam"].values()) < 2.0, role
    png = decode(asset.files["cobble_mossy_Normal.png"], "x.png")
    assert png.shape == (256, 256, 3) and max(seam_scores(png).values()) < 2.0
    assert decode(asset.files["cobble_mossy_Height.png"], "x.png").shape == (256, 256, 1)
    info = dds.read_header(asset.files["cobble_mossy_Albedo.dds"])
    assert (info.width, info.height, info.mip_count) == (256, 256, 9)
    assert m["export"]["normal"]["normal_y"] == "opengl"
    assert np.isfinite(asset.images["normal"]).all()
