"""PBR maps: normals match analytic normals (wrap included); maps of a tileable albedo tile."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import NO_ENGINE, make_asset, periodic_noise, stage_params

from zpipe.stages.pbr import PbrStage
from zpipe.texture import pbr, wrap
from zpipe.texture.seam import seam_scores


def analytic_normal(dh_dx: np.ndarray, dh_drow: np.ndarray, k: float, convention: str) -> np.ndarray:
    ny = k * dh_drow if convention == "opengl" else -k * dh_drow
    n = np.stack([-k * dh_dx, ny, np.ones_like(dh_dx)], axis=2)
    return n / np.linalg.norm(n, axis=2, keepdims=True)


def mean_cos(encoded: np.ndarray, ref: np.ndarray, region=(slice(None), slice(None))) -> float:
    got = pbr.decode_normal(encoded)
    return float((got * ref).sum(axis=2)[region].mean())


@pytest.mark.parametrize("convention", ["opengl", "directx"])
@pytest.mark.parametrize("kx,ky,size", [(1, 0, 64), (3, 2, 96), (5, 7, 128)])
def test_sinusoid_normals_match_analytic(convention, kx, ky, size):
    h, w = size, size + 32
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    phase = 2 * np.pi * (kx * x / w + ky * y / h)
    height = 0.5 + 0.4 * np.sin(phase)
    dh_dx = 0.4 * np.cos(phase) * 2 * np.pi * kx / w
    dh_drow = 0.4 * np.cos(phase) * 2 * np.pi * ky / h
    depth = 0.05
    n = pbr.normal_from_height(height.astype(np.float32)[..., None], depth, convention)
    ref = analytic_normal(dh_dx, dh_drow, depth * w, convention)
    cos = (pbr.decode_normal(n) * ref).sum(axis=2)
    assert cos.mean() >= 0.999 and cos.min() >= 0.99
    # the wrap border is as good as the middle
    assert cos[:, :2].min() >= 0.99 and cos[:, -2:].min() >= 0.99 and cos[:2].min() >= 0.99


def test_paraboloid_normals_match_analytic_everywhere():
    n_px = 128
    y, x = np.mgrid[0:n_px, 0:n_px].astype(np.float64)
    c = (n_px - 1) / 2
    a = 1.0 / (2 * c * c)
    height = a * ((x - c) ** 2 + (y - c) ** 2)  # 0 at the centre, 1 at the corners
    dh_dx, dh_drow = 2 * a * (x - c), 2 * a * (y - c)
    depth = 0.03
    for convention in ("opengl", "directx"):
        n = pbr.normal_from_height(height.astype(np.float32), depth, convention)
        ref = analytic_normal(dh_dx, dh_drow, depth * n_px, convention)
        cos = (pbr.decode_normal(n) * ref).sum(axis=2)
        assert cos.mean() >= 0.99  # all pixels, wrap included (the periodic extension has a crease there)
        assert cos[3:-3, 3:-3].min() >= 0.9999
    # a bump: on its upper side (smaller row index) an OpenGL normal points up (+Y, green > 0.5)
    gl = pbr.normal_from_height((1 - height).astype(np.float32), depth, "opengl")
    assert gl[20, 64, 1] > 0.51 and gl[108, 64, 1] < 0.49
    dx = pbr.normal_from_height((1 - height).astype(np.float32), depth, "directx")
    assert dx[20, 64, 1] < 0.49


def test_normals_do_not_depend_on_resolution():
    rng = np.random.default_rng(0)
    hgt = wrap.resize(rng.random((8, 8)).astype(np.float32), 64, 64, "cubic")
    big = wrap.resize(hgt, 256, 256, "cubic")
    n_small = pbr.normal_from_height(hgt, 0.05)
    n_big = wrap.resize(pbr.normal_from_height(big, 0.05), 64, 64, "area")
    assert mean_cos(n_big, pbr.decode_normal(n_small)) > 0.995


def test_pbr_stage_keeps_seamless_input_seamless():
    albedo = periodic_noise(256, 1)
    res = PbrStage().run(make_asset({"albedo": albedo}), stage_params(PbrStage, orm=True), NO_ENGINE)
    assert set(res.images) == {"height", "normal", "roughness", "ao", "orm"}
    assert res.images["height"].shape == (256, 256, 1) and res.images["normal"].shape == (256, 256, 3)
    assert res.images["orm"].shape == (256, 256, 3)
    before = max(seam_scores(albedo).values())
    for role, img in res.images.items():
        assert img.dtype == np.float32 and img.min() >= 0 and img.max() <= 1
        after = max(seam_scores(img).values())
        assert after < max(1.6, before + 0.35), (role, before, after)
        assert res.metrics["seam"][role]["x"] == pytest.approx(seam_scores(img)["x"], abs=1e-3)
    assert res.metrics["normal_y"] == "opengl"
    assert res.images["height"].std() > 0.1 and 0.3 < res.images["roughness"].mean() < 0.9
    assert res.images["ao"].min() < 0.9 and res.images["ao"].max() == pytest.approx(1.0)
    # ORM channels are the AO and roughness maps
    assert np.array_equal(res.images["orm"][..., 0], res.images["ao"][..., 0])
    assert np.array_equal(res.images["orm"][..., 1], res.images["roughness"][..., 0])


def test_pbr_of_a_seamed_albedo_shows_the_seam():
    big = periodic_noise(512, 2)
    albedo = np.ascontiguousarray(big[100:356, 37:293])
    assert min(seam_scores(albedo).values()) > 3
    n = pbr.normal_from_height(pbr.height_from_albedo(albedo), 0.02)
    assert max(seam_scores(n).values()) > 2  # the metric sees seams in derived maps too
