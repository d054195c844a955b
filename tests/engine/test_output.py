"""Z-Image hands out uint8 images (a quarter of float32's bytes through Ray's object store), rounded exactly as
the exporters round 8-bit files; stages still see float32, and a stage-free asset's files keep their bytes."""

from __future__ import annotations

import numpy as np
import torch

from zpipe.engine.base import Generated, float_image
from zpipe.engine.zimage.pipeline import to_uint8
from zpipe.executors.job import run_stages
from zpipe.recipe.model import Job, StageSpec
from zpipe.texture.formats import to_uint


def _edges() -> torch.Tensor:
    """Values on and next to every rounding edge (k + 0.5) / 255, the ends, and a little outside them."""
    k = torch.arange(256, dtype=torch.float32)
    edge = (k + 0.5) / 255
    near = torch.cat([edge, torch.nextafter(edge, edge + 1), torch.nextafter(edge, edge - 1), k / 255])
    return torch.cat([near, torch.tensor([0.0, 1.0, -0.01, 1.01, 1e-8])])


def test_to_uint8_rounds_like_the_exporters():
    g = torch.Generator().manual_seed(0)
    values = torch.cat([_edges(), torch.rand(60_000, generator=g)])
    n = values.numel() // 3 * 3
    img = values[:n].reshape(1, 3, 1, -1)  # (B, 3, H, W)
    got = to_uint8(img)  # (B, H, W, 3)
    assert got.dtype == torch.uint8 and got.shape == (1, 1, n // 3, 3)
    want = to_uint(img[0].permute(1, 2, 0).numpy(), 8)
    assert np.array_equal(got[0].numpy(), want)


def test_every_level_survives_the_trip_through_float32():
    levels = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
    f = float_image(levels)
    assert f.dtype == np.float32 and f.min() == 0 and f.max() == 1
    assert np.array_equal(to_uint(f, 8), levels)  # what an 8-bit export writes
    view = np.zeros((4, 4, 3), np.float32)
    assert float_image(view) is view and float_image(view, copy=True) is not view


def _job(stages=()) -> Job:
    return Job(id="a", kind="textures", prompt="stone", seed=1, width=64, height=64, steps=8, tile="none",
               stages=tuple(stages), output={"formats": ["png"]})


def test_a_stage_free_asset_has_the_same_files_from_uint8_and_stages_see_float32(monkeypatch):
    rng = np.random.default_rng(0)
    decoded = torch.from_numpy(rng.random((1, 3, 64, 64), dtype=np.float32))  # what the VAE hands over
    as_float = decoded[0].permute(1, 2, 0).numpy()
    as_uint8 = to_uint8(decoded)[0].numpy()

    def unused(requests):
        raise AssertionError("no stage here regenerates")

    a = run_stages(_job(), Generated(as_float), unused, frozenset(), "z-image-turbo")
    b = run_stages(_job(), Generated(as_uint8), unused, frozenset(), "z-image-turbo")
    assert a.status == b.status == "built" and a.files == b.files

    seen = []

    class Probe:
        """A stage that records what it is given and what a regeneration returns."""

        def run(self, asset, params, ctx):
            seen.append(asset.images["albedo"].dtype)
            seen.append(ctx.generate([ctx.request])[0].image.dtype)
            from zpipe.stages.base import StageResult

            return StageResult()

    from zpipe.stages import registry

    real = registry.get
    monkeypatch.setattr(registry, "get", lambda name: Probe if name == "probe" else real(name))
    out = run_stages(_job([StageSpec("probe", {})]), Generated(as_uint8), lambda reqs: [Generated(as_uint8)],
                     frozenset(), "z-image-turbo")
    assert out.status == "built", out.error
    assert seen == [np.float32, np.float32]
