"""Upscaling keeps a seamless texture seamless: Lanczos with wrap, and tiled img2img refine on the torus."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import NO_ENGINE, make_asset, periodic_noise, stage_params

from zpipe.engine.base import Capability, Generated
from zpipe.stages.base import StageContext
from zpipe.stages.upscale import UpscaleStage
from zpipe.texture import refine, wrap
from zpipe.texture.seam import seam_scores


@pytest.mark.parametrize("factor", [2, 4])
def test_lanczos_keeps_seamless_input_seamless(factor):
    img = periodic_noise(64 if factor == 4 else 128)
    normal = np.concatenate([periodic_noise(img.shape[0], 1, 2), np.ones(img.shape[:2] + (1,), np.float32)], 2)
    res = UpscaleStage().run(make_asset({"albedo": img, "normal": normal}), stage_params(UpscaleStage, factor=factor), NO_ENGINE)
    out = res.images["albedo"]
    assert out.shape == (img.shape[0] * factor, img.shape[1] * factor, 3)
    before, after = seam_scores(img), seam_scores(out)
    for a in "xy":
        assert after[a] < 1.6 and after[a] == pytest.approx(before[a], abs=0.35), (before, after)
    assert res.metrics["method"] == "lanczos" and res.metrics["seam_after"]["albedo"]["x"] < 1.6
    n = res.images["normal"] * 2 - 1
    assert np.allclose(np.linalg.norm(n, axis=2), 1.0, atol=1e-3)
    # the upscaled image, downsampled back, is the input
    back = wrap.resize(out, img.shape[1], img.shape[0], "area")
    assert np.abs(back - img).mean() < 0.01


def test_a_seam_stays_visible():
    big = periodic_noise(256, 3)
    img = np.ascontiguousarray(big[40:168, 70:198])
    res = UpscaleStage().run(make_asset({"albedo": img}), stage_params(UpscaleStage), NO_ENGINE)
    assert min(seam_scores(res.images["albedo"]).values()) > 3


def fake_img2img(tiles_seen):
    """A test double for an engine's img2img: contrast boost plus a brightness ramp across each tile,
    i.e. an output that is NOT continuous from one tile to the next, like a real img2img."""

    def generate(reqs):
        out = []
        for r in reqs:
            assert r.init_image is not None and r.mask is None and 0 < r.strength < 1
            tiles_seen.append((r.width, r.height))
            x = np.linspace(0, 1, r.width, dtype=np.float32)[None, :, None]
            img = np.clip((r.init_image - 0.5) * 1.1 + 0.5 + 0.08 * (x - 0.5), 0, 1)
            out.append(Generated(img))
        return out

    return generate


def test_refine_is_tiled_on_the_torus_without_seams():
    img = periodic_noise(128, 4)
    seen = []
    ctx = StageContext(generate=fake_img2img(seen), capabilities=frozenset({Capability.IMG2IMG}), request=None)
    res = UpscaleStage().run(make_asset({"albedo": img}), stage_params(UpscaleStage, tile=128, overlap=0.25), ctx)
    out = res.images["albedo"]
    assert out.shape == (256, 256, 3)
    assert res.metrics["method"] == "refine" and res.metrics["tiles"] == len(seen) >= 4
    assert all(s == (128, 128) for s in seen)
    assert max(seam_scores(out).values()) < 1.6, seam_scores(out)
    # the same double applied to the whole image at once makes a seam: the test can tell
    whole = fake_img2img([])([type("R", (), {"init_image": wrap.resize(img, 256, 256), "width": 256,
                                               "height": 256, "mask": None, "strength": 0.3})()])[0].image
    assert seam_scores(whole)["x"] > 2.0
    # no tile boundary shows: column steps in the result are no larger than in the plain upscale
    plain = wrap.resize(img, 256, 256, "lanczos")
    steps_out = np.abs(np.diff(out.mean(2), axis=1, append=out.mean(2)[:, :1])).mean(0)
    steps_plain = np.abs(np.diff(plain.mean(2), axis=1, append=plain.mean(2)[:, :1])).mean(0)
    assert steps_out.max() < 2.0 * steps_plain.max()


def test_refine_falls_back_without_img2img():
    res = UpscaleStage().run(make_asset({"albedo": periodic_noise(64)}), stage_params(UpscaleStage, mode="refine"), NO_ENGINE)
    assert res.metrics["method"] == "lanczos" and "img2img" in res.metrics["note"]


def test_grid_covers_the_torus():
    t, offs = refine.grid(256, 128, 0.25)
    assert t == 128 and len(offs) >= 3
    t, offs = refine.grid(64, 1024, 0.25)
    assert t == 64 and len(offs) == 2  # two tiles even when one would fit, so the border is inside a tile
    cover = np.zeros(256)
    t, offs = refine.grid(256, 96, 0.3)
    for o in offs:
        cover[(np.arange(t) + o) % 256] += 1
    assert cover.min() >= 1


def test_posters_are_not_wrapped():
    img = periodic_noise(64)
    res = UpscaleStage().run(make_asset({"poster": img}, kind="posters"), stage_params(UpscaleStage), NO_ENGINE)
    assert res.images["poster"].shape == (128, 128, 3) and res.metrics["wrap"] is False
