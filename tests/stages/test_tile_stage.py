"""The seam gate: pass, repair (blend / engine inpainting), re-seed, fail; all recorded in metrics."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import NO_ENGINE, make_asset, periodic_noise, seamed, stage_params

from zpipe.engine.base import Capability, Generated, Request
from zpipe.stages.base import StageContext, StageFailure, apply
from zpipe.stages.tile import RESEED_STEP, TileStage
from zpipe.texture import repair
from zpipe.texture.seam import seam_scores


def test_periodic_passes_untouched():
    a = make_asset({"albedo": periodic_noise(128)}, seed=7)
    res = TileStage().run(a, stage_params(TileStage), NO_ENGINE)
    assert res.images == {}
    assert res.metrics["passed"] and not res.metrics["repaired"]
    assert res.metrics["scores_before"]["albedo"]["x"] < 2.0
    assert [s["action"] for s in res.metrics["attempts"]] == ["check"]


def test_blend_repair_makes_a_seamed_texture_pass():
    img = seamed(256)
    before = seam_scores(img, "xy")
    assert min(before.values()) > 4  # really seamed
    a = make_asset({"albedo": img}, seed=7)
    res = TileStage().run(a, stage_params(TileStage, max_seam=1.6), NO_ENGINE)
    after = seam_scores(res.images["albedo"], "xy")
    assert max(after.values()) <= 1.6
    m = res.metrics
    assert m["passed"] and m["repaired"] and m["reseeds"] == 0
    assert m["attempts"][1]["action"] == "repair" and m["attempts"][1]["method"] == "blend"
    assert m["scores_before"]["albedo"]["x"] == pytest.approx(before["x"], abs=1e-3)
    # the centre of the texture is kept; only bands around the wrap seam change
    out = res.images["albedo"]
    assert np.abs(out[96:160, 96:160] - img[96:160, 96:160]).max() < 1e-5
    assert np.abs(out[:, :8] - img[:, :8]).mean() > 0.02
    # pixels are copied, not mixed into new colours: contrast is kept and no value leaves the input's range
    assert out[:, :16].std() > 0.6 * img[:, 100:116].std()
    for ch in range(3):
        assert img[..., ch].min() - 1e-6 <= out[..., ch].min() and out[..., ch].max() <= img[..., ch].max() + 1e-6
    apply(a, res, "tile")
    assert a.metrics["tile"]["scores"]["albedo"]["x"] <= 1.6


def test_single_axis():
    y, x = np.mgrid[0:128, 0:128].astype(np.float32)
    img = np.clip(0.6 * periodic_noise(128) + 0.4 * (x / 128)[..., None], 0, 1)  # a seam on x only
    res = TileStage().run(make_asset({"albedo": img}, seed=7), stage_params(TileStage, axes="y"), NO_ENGINE)
    assert res.metrics["passed"] and res.images == {}
    res = TileStage().run(make_asset({"albedo": img}, seed=7), stage_params(TileStage, axes="x"), NO_ENGINE)
    assert res.metrics["repaired"] and set(res.metrics["scores"]["albedo"]) == {"x"}
    # repairing x leaves the rows (y wrap) as they were
    assert seam_scores(res.images["albedo"], "y")["y"] < 1.6


def test_fails_with_metrics_when_nothing_helps():
    a = make_asset({"albedo": seamed(128)}, seed=7)
    with pytest.raises(StageFailure, match="max_seam") as info:
        TileStage().run(a, stage_params(TileStage, repair="none", retries=3), NO_ENGINE)
    m = info.value.metrics  # run_stages merges these into the failed asset's manifest entry
    assert not m["passed"] and m["attempts"][-1]["action"] == "reseed" and "skipped" in m["attempts"][-1]


class SeededEngine:
    """A test double of the engine contract: seamed images for some seeds, periodic ones for others."""

    def __init__(self, good_seeds, capabilities=frozenset({Capability.TEXT2IMG})):
        self.good = set(good_seeds)
        self.capabilities = capabilities
        self.requests: list[Request] = []

    def generate(self, requests):
        self.requests.extend(requests)
        return [Generated(periodic_noise(r.width, r.seed % 1000) if r.seed in self.good
                          else seamed(r.width, r.seed % 1000)) for r in requests]


def test_reseed_until_a_seamless_image():
    seed = 7
    good = (seed + 2 * RESEED_STEP) % 2**32
    eng = SeededEngine({good})
    base = Request(prompt="stone", width=128, height=128, seed=seed, tile="xy")
    ctx = StageContext(generate=eng.generate, capabilities=eng.capabilities, request=base)
    res = TileStage().run(make_asset({"albedo": seamed(128, seed)}, seed=seed), stage_params(TileStage, repair="none", retries=3), ctx)
    assert [r.seed for r in eng.requests] == [(seed + RESEED_STEP) % 2**32, good]
    assert all(r.prompt == "stone" and r.tile == "xy" for r in eng.requests)
    m = res.metrics
    assert m["passed"] and m["seed"] == good and m["reseeds"] == 2
    assert [a["action"] for a in m["attempts"]] == ["check", "reseed", "reseed"]
    assert np.array_equal(res.images["albedo"], periodic_noise(128, good % 1000))


def test_inpaint_request_masks_the_centre_cross():
    """The engine is asked to repaint the centre cross of the half-offset image; its answer is feathered in."""
    eng = SeededEngine(set(), capabilities=frozenset({Capability.TEXT2IMG, Capability.INPAINT}))
    seen = []

    def generate(reqs):
        seen.extend(reqs)
        # answer with the un-rolled image: continuous across the centre cross, like an inpainting would be
        return [Generated(repair.unroll(r.init_image, "xy").copy()) for r in reqs]

    base = Request(prompt="stone", width=128, height=128, seed=7, tile="xy")
    ctx = StageContext(generate=generate, capabilities=eng.capabilities, request=base)
    res = TileStage().run(make_asset({"albedo": seamed(128)}, seed=7), stage_params(TileStage, max_seam=1.8), ctx)
    (req,) = seen
    assert req.mask is not None and req.mask.shape == (128, 128) and req.init_image.shape == (128, 128, 3)
    assert req.mask[64, 64] == 1.0 and req.mask[64, 0] == 1.0 and req.mask[0, 64] == 1.0
    assert req.mask[20, 20] == 0.0
    assert res.metrics["attempts"][1]["method"] == "inpaint" and res.metrics["passed"]


def test_inpaint_with_the_procedural_engine():
    from zpipe.engine import registry

    engine = registry.create("procedural")
    base = Request(prompt="grey stone", width=128, height=128, seed=3, tile="xy")
    ctx = StageContext(generate=engine.generate, capabilities=frozenset(engine.capabilities), request=base)
    res = TileStage().run(make_asset({"albedo": seamed(128)}, seed=3), stage_params(TileStage, max_seam=1.8), ctx)
    assert res.metrics["passed"]
    method = res.metrics["attempts"][1]["method"]
    assert method == ("inpaint" if Capability.INPAINT in engine.capabilities else "blend")
    assert max(seam_scores(res.images["albedo"], "xy").values()) <= 1.8


def test_unknown_role_fails():
    with pytest.raises(StageFailure, match="normal"):
        TileStage().run(make_asset({"albedo": periodic_noise(64)}, seed=7), stage_params(TileStage, roles=["normal"]), NO_ENGINE)


def grid_tiles(n: int = 128, period: int = 32) -> np.ndarray:
    """A periodic tile grid whose grout edge lies exactly on the border (x = n-1 | 0)."""
    rng = np.random.default_rng(0)
    x = np.arange(n)
    grout = ((x % period) >= period - 4).astype(np.float32)
    img = 0.55 + 0.05 * periodic_noise(n, 9) - 0.35 * grout[None, :, None] - 0.35 * grout[:, None, None]
    return np.clip(img + 0.01 * rng.standard_normal(img.shape).astype(np.float32), 0, 1).astype(np.float32)


def test_edge_aware_gate_passes_a_grid_line_on_the_border():
    img = grid_tiles()
    scores = seam_scores(img)
    assert min(scores.values()) > 2.0  # the plain score cannot tell the grout edge from a seam
    res = TileStage().run(make_asset({"albedo": img}, seed=7), stage_params(TileStage), NO_ENGINE)
    assert res.metrics["passed"] and res.images == {}
    assert all(v <= 1.25 for v in res.metrics["attempts"][0]["peaks"]["albedo"].values())
    # without the edge-aware check the gate cannot accept it: no repair moves a periodic grid's line
    with pytest.raises(StageFailure):
        TileStage().run(make_asset({"albedo": img}, seed=7), stage_params(TileStage, edge_aware=False, retries=0), NO_ENGINE)


def test_edge_aware_gate_still_fails_real_seams():
    with pytest.raises(StageFailure) as info:
        TileStage().run(make_asset({"albedo": seamed(128)}, seed=7), stage_params(TileStage, repair="none", retries=0), NO_ENGINE)
    assert min(info.value.metrics["attempts"][0]["peaks"]["albedo"].values()) > 1.25


def test_repair_keeps_maps_aligned():
    img = seamed(128, 5)
    normal = seamed(128, 6)  # another map of the same texture
    a = make_asset({"albedo": img, "normal": normal}, asset_id="a")
    res = TileStage().run(a, stage_params(TileStage, max_seam=1.8), NO_ENGINE)
    assert set(res.images) == {"albedo", "normal"}
    changed_albedo = np.abs(res.images["albedo"] - img).max(axis=2) > 1e-6
    changed_normal = np.abs(res.images["normal"] - normal).max(axis=2) > 1e-6
    # the same cut mask was applied to both maps
    assert (changed_normal & ~changed_albedo).mean() < 0.01 and changed_albedo.mean() > 0.05
