"""Seamless generation: periodic RoPE on a torus, wrap-around VAE, and images that wrap by the seam metric."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from zimage_kit import levels

from zpipe.engine.base import Request, float_image
from zpipe.engine.zimage.rope import axis_frequencies, rope_cos_sin
from zpipe.texture.seam import seam_scores


@pytest.mark.parametrize("period", [4, 7, 32, 64])
def test_snapped_frequencies_make_whole_cycles(period):
    f = axis_frequencies(48, 256.0, period)
    cycles = f * period / (2 * math.pi)
    assert torch.allclose(cycles, cycles.round(), atol=1e-9)
    assert torch.equal(axis_frequencies(48, 256.0, None)[0], torch.tensor(1.0, dtype=torch.float64))


def test_periodic_rope_repeats_after_one_period():
    rows, cols = 6, 10
    pos = torch.tensor([[33, r, c] for r in range(rows) for c in range(cols)])
    shifted = pos + torch.tensor([0, rows, 2 * cols])
    dims = (8, 12, 12)
    a = rope_cos_sin(pos, dims, 256.0, (None, rows, cols))
    b = rope_cos_sin(shifted, dims, 256.0, (None, rows, cols))
    assert torch.allclose(a[0], b[0], atol=1e-5) and torch.allclose(a[1], b[1], atol=1e-5)
    plain = rope_cos_sin(shifted, dims, 256.0)
    assert not torch.allclose(a[0], plain[0], atol=1e-3)
    caption = torch.tensor([[5, 0, 0]])  # captions sit at spatial position 0: snapping leaves them alone
    assert torch.equal(rope_cos_sin(caption, dims, 256.0, (None, rows, cols))[0], rope_cos_sin(caption, dims, 256.0)[0])


def scores(engine, tile, seeds=range(4)):
    out = engine.generate([Request("stone wall", 64, 64, s, tile=tile) for s in seeds])
    return np.array([[seam_scores(float_image(o.image), "xy")[a] for a in "xy"] for o in out])  # (seeds, [x, y])


def test_tiled_images_wrap(engine):
    none, xy, x = scores(engine, "none"), scores(engine, "xy"), scores(engine, "x")
    assert xy.max() < 1.35  # a seam no stronger than a typical interior edge
    assert x[:, 0].max() < 1.35
    assert none.mean() > xy.mean() + 0.2  # without tiling the wrap edge is a visible seam
    assert x[:, 1].mean() > x[:, 0].mean() + 0.2  # x-only tiling leaves the y seam


def test_seam_jitter_keeps_the_wrap_and_the_batch_invariance(engine):
    engine.pipeline.seam_jitter = True
    try:
        xy = scores(engine, "xy", seeds=range(2))
        assert xy.max() < 1.35
        r = Request("stone wall", 64, 64, 5, tile="xy")
        alone = engine.generate([r])[0].image
        batched = engine.generate([Request("moss", 64, 64, 6, tile="xy"), r])[1].image
        assert levels(alone, batched) <= 1
    finally:
        engine.pipeline.seam_jitter = False
