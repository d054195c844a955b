"""The procedural engine: determinism, seamless tiling, prompt reading, colours, variants, posters."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from zpipe.engine.base import Capability, Engine, EngineError, Request
from zpipe.engine.procedural import ProceduralEngine
from zpipe.engine.procedural.families import FAMILIES, parse
from zpipe.texture.seam import seam_score

ENGINE = ProceduralEngine()


def make(prompt: str, w: int = 64, h: int = 64, seed: int = 7, kind: str = "texture", engine=ENGINE):
    return engine.generate([Request(prompt=prompt, width=w, height=h, seed=seed, kind=kind)])[0]


def test_contract():
    assert ProceduralEngine.name == "procedural"
    assert ProceduralEngine.capabilities == frozenset({Capability.TEXT2IMG, Capability.TILE})
    assert isinstance(ENGINE, Engine)
    assert ENGINE.fingerprint() == f"procedural-{ENGINE.version}"
    assert ENGINE.fingerprint() == ProceduralEngine.from_options({}).fingerprint()


def test_options_are_validated():
    with pytest.raises(EngineError, match="'colour'"):
        ProceduralEngine.from_options({"colour": 1})
    with pytest.raises(EngineError, match="'shading'"):
        ProceduralEngine.from_options({"shading": "lots"})
    with pytest.raises(EngineError, match="'scale'"):
        ProceduralEngine.from_options({"scale": 100})
    eng = ProceduralEngine.from_options({"shading": 0.5, "scale": 2})
    assert eng.fingerprint() != ENGINE.fingerprint()
    a, b = make("stone", engine=eng).image, make("stone").image
    assert not np.array_equal(a, b)


def test_registry_builds_it():
    from zpipe.engine import registry

    eng = registry.create("procedural", {})
    assert isinstance(eng, ProceduralEngine)


def test_output_format():
    g = make("stone", w=80, h=48)
    assert g.image.shape == (48, 80, 3)
    assert g.image.dtype == np.float32
    assert g.image.min() >= 0.0 and g.image.max() <= 1.0
    assert g.info["family"] == "stone" and g.info["understood"] is True


def test_deterministic_per_seed():
    a = make("mossy cracked cobblestone", seed=123).image
    b = make("mossy cracked cobblestone", seed=123).image
    assert a.tobytes() == b.tobytes()
    # a request's image never depends on its batch mates
    reqs = [Request(prompt=p, width=64, height=64, seed=123) for p in ("lava", "mossy cracked cobblestone")]
    assert ENGINE.generate(reqs)[1].image.tobytes() == a.tobytes()


@pytest.mark.parametrize("family", ["stone", "brick", "wood", "grass"])
def test_seeds_differ(family):
    a, b = make(family, seed=1).image, make(family, seed=2).image
    assert np.abs(a - b).mean() > 0.01


@pytest.mark.parametrize("size", [(256, 256), (192, 320)], ids=["256x256", "192x320"])
@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_is_seamless(family, size):
    h, w = size
    img = make(family, w=w, h=h, seed=11).image
    assert img.std() > 0.02, "texture is flat"
    assert seam_score(img, "x") <= 1.5
    assert seam_score(img, "y") <= 1.5


def test_seam_metric_sees_a_broken_texture():
    # sanity of the check itself: cutting the texture off-period makes a seam the metric detects
    img = make("stone", w=256, h=256, seed=3).image
    cut = img[:, :200]
    assert seam_score(cut, "x") > 1.5 or seam_score(img[:, 37:], "x") > 1.5


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_is_recognised(family):
    p = parse(f"{family} texture, seamless, 4k")
    assert p.family == family and p.understood
    assert make(family, w=32, h=32).info["family"] == family


@pytest.mark.parametrize(
    "prompt, family, variants",
    [
        ("mossy cobblestone", "cobblestone", ["mossy"]),
        ("moss on old stone bricks", "brick", ["mossy", "weathered"]),
        ("rusty metal", "rust", []),
        ("wet cracked concrete", "concrete", ["wet", "cracked"]),
        ("polished white marble tiles", "tiles", ["polished"]),
        ("Oak floorboards", "plank", []),
        ("icy", "ice", []),
        ("stone brick wall", "brick", []),
        ("marble tiles", "tiles", []),
        ("snowy", "snow", []),
        ("snowy cobblestone", "cobblestone", ["snowy"]),
        ("pea gravel", "dirt", []),
    ],
)
def test_prompt_parsing(prompt, family, variants):
    p = parse(prompt)
    assert p.family == family
    assert p.variants == variants


def _chroma(img):
    m = img.reshape(-1, 3).mean(axis=0)
    return m, m.mean()


@pytest.mark.parametrize("family", ["stone", "concrete", "marble", "tiles"])
def test_colour_words_shift_the_mean(family):
    base, base_l = _chroma(make(family).image)
    red, _ = _chroma(make(f"red {family}").image)
    green, _ = _chroma(make(f"green {family}").image)
    blue, _ = _chroma(make(f"blue {family}").image)
    assert red[0] - red[1:].mean() > base[0] - base[1:].mean() + 0.05
    assert green[1] - green[[0, 2]].mean() > base[1] - base[[0, 2]].mean() + 0.03
    assert blue[2] - blue[:2].mean() > base[2] - base[:2].mean() + 0.05
    assert _chroma(make(f"dark {family}").image)[1] < base_l - 0.05
    assert _chroma(make(f"black {family}").image)[1] < base_l - 0.1
    if base_l < 0.7:
        assert _chroma(make(f"light {family}").image)[1] > base_l + 0.05
        assert _chroma(make(f"white {family}").image)[1] > base_l + 0.1


def test_grey_desaturates():
    img = make("grey brick").image.reshape(-1, 3)
    base = make("brick").image.reshape(-1, 3)
    assert np.abs(img - img.mean(axis=1, keepdims=True)).mean() < 0.5 * np.abs(base - base.mean(axis=1, keepdims=True)).mean()


@pytest.mark.parametrize("variant", ["mossy", "cracked", "wet", "weathered", "polished", "dirty", "snowy"])
def test_variants_change_the_result(variant):
    base = make("stone", w=96, h=96).image
    img = make(f"{variant} stone", w=96, h=96).image
    assert (np.abs(img - base).max(axis=2) > 0.04).mean() > 0.05  # a visible change, not a tweak
    m, b = img.reshape(-1, 3).mean(0), base.reshape(-1, 3).mean(0)
    if variant == "mossy":
        assert m[1] - m[[0, 2]].mean() > b[1] - b[[0, 2]].mean() + 0.02
    if variant == "wet":
        assert m.mean() < b.mean() - 0.03
    if variant == "polished":  # less fine detail
        assert np.abs(np.diff(img, axis=1)).mean() < np.abs(np.diff(base, axis=1)).mean()
    if variant == "snowy":
        assert m.mean() > b.mean() + 0.05


def test_unknown_prompt_still_gives_a_texture():
    g = make("a quixotic flurble of the zeitgeist")
    assert g.info["understood"] is False
    assert "fallback" in g.info
    assert g.image.std() > 0.03
    assert g.image.reshape(-1, 3).std(axis=0).max() > 0.03


def test_tile_none_is_fine_and_sizes_are_respected():
    g = ENGINE.generate([Request(prompt="sand", width=48, height=112, seed=1, tile="none")])[0]
    assert g.image.shape == (112, 48, 3)


def test_img2img_is_refused():
    with pytest.raises(EngineError):
        ENGINE.generate([Request(prompt="stone", width=32, height=32, seed=1, init_image=np.zeros((32, 32, 3), np.float32))])


@pytest.mark.parametrize(
    "prompt",
    ["sunset festival poster", "neon city skyline", "minimal waves", "red geometric", "ink mountains", "ocean bokeh", "blurp"],
)
def test_poster_backgrounds(prompt):
    g = make(prompt, w=96, h=144, kind="poster", seed=5)
    img = g.image
    assert img.shape == (144, 96, 3) and img.dtype == np.float32
    assert 0.0 <= img.min() and img.max() <= 1.0
    assert img.std() > 0.02
    assert g.info["kind"] == "poster" and g.info["text_colour"] in ("#111111", "#ffffff")
    assert make(prompt, w=96, h=144, kind="poster", seed=5).image.tobytes() == img.tobytes()
    assert np.abs(make(prompt, w=96, h=144, kind="poster", seed=6).image - img).mean() > 0.005
    # calm enough for text: neighbouring pixels differ little on average
    assert np.abs(np.diff(img, axis=1)).mean() < 0.05


def test_poster_reads_moods():
    assert make("sunset poster", kind="poster").info["palette"] == "sunset"
    assert make("a poster", kind="poster").info["understood"] is False


def test_torch_is_not_imported():
    code = (
        "import sys\n"
        "from zpipe.engine import registry\n"
        "from zpipe.engine.base import Request\n"
        "e = registry.create('procedural')\n"
        "e.generate([Request(prompt='brick', width=32, height=32, seed=1)])\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ----------------------------------------------------------------- exact periodicity of the primitives


def test_bspline_noise_wraps_exactly():
    # shifting the lattice by one cell shifts the image by exactly one cell's pixels: the surface is
    # the same periodic function, so the wrap is an interior point like any other
    from zpipe.engine.procedural import noise as nz

    lat = np.random.default_rng(0).uniform(-1, 1, (6, 10)).astype(np.float32)
    h, w = 96, 160  # 16 px per cell on both axes
    a = nz.upsample(lat, h, w)
    b = nz.upsample(np.roll(lat, (1, 1), (0, 1)), h, w)
    np.testing.assert_allclose(np.roll(a, (16, 16), (0, 1)), b, atol=1e-6)


def test_cellular_wraps_exactly():
    from zpipe.engine.procedural import noise as nz

    h, w, cell = 96, 160, 16.0
    c = nz.cellular(np.random.default_rng(1), h, w, cell, jitter=1.0)
    # brute force: distances to every feature point, wrapped around the torus
    r = np.random.default_rng(1)
    gy, gx = c.shape
    jy = 0.5 + (r.random((gy, gx), dtype=np.float32) - 0.5)
    jx = 0.5 + (r.random((gy, gx), dtype=np.float32) - 0.5)
    py = ((np.arange(gy)[:, None] + jy - 0.5) * (h / gy)).ravel()
    px = ((np.arange(gx)[None, :] + jx - 0.5) * (w / gx)).ravel()
    y = np.arange(h)[:, None, None] + 0.5
    x = np.arange(w)[None, :, None] + 0.5
    dy = (y - py) - h * np.round((y - py) / h)
    dx = (x - px) - w * np.round((x - px) / w)
    d = np.sort(np.sqrt(dy**2 + dx**2) / cell, axis=2)
    np.testing.assert_allclose(c.f1, d[..., 0], atol=1e-4)
    np.testing.assert_allclose(c.f2, d[..., 1], atol=1e-4)


def test_warp_and_blur_wrap():
    from zpipe.engine.procedural import noise as nz

    f = np.random.default_rng(2).random((32, 48)).astype(np.float32)
    # an integer displacement is a pure roll, across the edges included
    np.testing.assert_allclose(nz.warp(f, np.full_like(f, 5.0), np.full_like(f, -7.0)), np.roll(f, (-5, 7), (0, 1)), atol=1e-6)
    # blurring commutes with rolling
    np.testing.assert_allclose(nz.blur(np.roll(f, 9, 1), 3), np.roll(nz.blur(f, 3), 9, 1), atol=1e-5)


def test_seam_test_has_teeth():
    # a texture generated off-period (crop of a larger one) does show a seam
    big = make("cobblestone", w=320, h=256, seed=4).image
    assert max(seam_score(big[:, :256], "x"), seam_score(big[:, 40:296], "x")) > 1.5


STOCK_TEMPLATE = (
    "seamless tileable {material} texture, {variant}, top-down orthographic view, "
    "flat even lighting, PBR albedo, highly detailed"
)


@pytest.mark.parametrize(
    "material, family",
    [("granite", "stone"), ("cobblestone", "cobblestone"), ("brick wall", "brick"), ("slate", "stone"),
     ("marble", "marble"), ("sandstone", "stone")],
)
def test_stock_recipe_prompts(material, family):
    # recipes/stone_textures.yaml: every material x variant is understood and passes its seam gate (2.0)
    for variant in ("clean", "mossy", "cracked", "wet"):
        g = make(STOCK_TEMPLATE.format(material=material, variant=variant), w=128, h=128, seed=1000)
        assert g.info["family"] == family and g.info["understood"] is True
        assert g.info.get("variants", []) == ([] if variant == "clean" else [variant])
        assert g.info["lighting"] == "flat"
        assert max(seam_score(g.image, "x"), seam_score(g.image, "y")) <= 2.0


def test_flat_lighting_keeps_less_baked_light():
    lit = make("cobblestone", w=96, h=96).image
    flat = make("cobblestone, albedo", w=96, h=96).image
    # the directional light brightens one side of every stone and darkens the other: less of it in albedo mode
    assert np.abs(np.diff(flat.mean(axis=2), axis=1)).mean() < np.abs(np.diff(lit.mean(axis=2), axis=1)).mean()


def test_same_bytes_in_a_fresh_process():
    # no hidden global state: another process (with other thread settings) makes the same bytes
    import hashlib
    import os

    prompts = ["wet mossy cobblestone", "granite", "marble", "poster:neon waves"]

    def digest(prompt):
        kind = "poster" if prompt.startswith("poster:") else "texture"
        img = make(prompt.removeprefix("poster:"), w=64, h=48, seed=99, kind=kind).image
        return hashlib.sha256(img.tobytes()).hexdigest()

    code = (
        "import hashlib\n"
        "from zpipe.engine.procedural import ProceduralEngine\n"
        "from zpipe.engine.base import Request\n"
        "e = ProceduralEngine()\n"
        f"for p in {prompts!r}:\n"
        "    kind = 'poster' if p.startswith('poster:') else 'texture'\n"
        "    r = Request(prompt=p.removeprefix('poster:'), width=64, height=48, seed=99, kind=kind)\n"
        "    print(hashlib.sha256(e.generate([r])[0].image.tobytes()).hexdigest())\n"
    )
    env = dict(os.environ, OMP_NUM_THREADS="2", OPENBLAS_NUM_THREADS="2", PYTHONHASHSEED="123")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env)
    assert out.stdout.split() == [digest(p) for p in prompts]


def test_poster_styles_follow_the_prompt():
    assert make("neon city skyline at night", kind="poster").info["style"] == "skyline"
    info = make("minimalist ink-wash poster of misty mountains", kind="poster").info
    assert info["style"] == "mountains" and info["palette"] == "ink"
    # the sky above the ridges is calm (room for a title), the ridges below are not
    img = make("misty mountains", w=96, h=160, kind="poster", seed=3).image
    top, bottom = img[:40], img[100:]
    assert np.abs(np.diff(top, axis=0)).mean() < np.abs(np.diff(bottom, axis=0)).mean()


@pytest.mark.parametrize(
    "prompt",
    ["hexagonal tiles", "subway tiles", "checkered tiles", "riveted metal panels", "diamond tread metal",
     "granite", "slate", "sandstone", "cracked dry mud", "mossy wet cracked weathered brick", "stone bricks",
     "marble tiles", "gravel"],
)
def test_styles_are_seamless(prompt):
    img = make(prompt, w=320, h=192, seed=11).image
    assert img.std() > 0.02
    assert seam_score(img, "x") <= 1.5 and seam_score(img, "y") <= 1.5


def test_materials_inside_structures():
    # "stone bricks" are grey blocks, not red bricks; "marble tiles" have veins in every tile
    red = make("brick", w=96, h=96).image.reshape(-1, 3).mean(0)
    grey = make("stone bricks", w=96, h=96).image.reshape(-1, 3).mean(0)
    assert red[0] - red[2] > 0.15 and abs(grey[0] - grey[2]) < 0.1
    plain = make("tiles", w=96, h=96).image
    marble = make("marble tiles", w=96, h=96).image
    assert np.abs(marble - plain).mean() > 0.01


def test_scale_words_and_option_change_feature_size():
    def edges(img):
        return np.abs(np.diff(img.mean(axis=2), axis=1)).mean()

    small = make("small cobblestone", w=128, h=128).image
    large = make("large cobblestone", w=128, h=128).image
    assert edges(large) < edges(small)  # fewer, larger stones: fewer borders per pixel
    big = make("cobblestone", w=128, h=128, engine=ProceduralEngine.from_options({"scale": 2.0})).image
    assert edges(big) < edges(make("cobblestone", w=128, h=128).image)
