"""Checks that need a CUDA device (skipped elsewhere): no host syncs in the denoise loop, bf16 sanity."""

from __future__ import annotations

import pytest
import torch

from zpipe.engine.base import Request
from zpipe.engine.zimage.engine import ZImageEngine
from zpipe.engine.zimage.sampler import sample_euler, zimage_schedule

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.mark.parametrize("caption_lengths", [(7, 9), (7, 70)])  # no mask / mask
def test_denoise_loop_never_syncs(diffusers_ckpt, caption_lengths):
    eng = ZImageEngine.from_options({"model": str(diffusers_ckpt), "device": "cuda", "dtype": "bf16"})
    dit = eng.pipeline.dit
    caps = [torch.randn(n, dit.cfg.cap_feat_dim, device="cuda", dtype=dit.dtype) for n in caption_lengths]
    cond = dit.prepare(caps, (4, 4))
    x = torch.randn(2, 16, 8, 8, device="cuda")
    schedule = zimage_schedule(8).to("cuda")
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        with torch.no_grad():
            out = sample_euler(lambda x, t: dit(x.to(dit.dtype), t, cond), x, schedule)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert torch.isfinite(out).all()


def test_bf16_images_are_finite_and_in_range(diffusers_ckpt):
    eng = ZImageEngine.from_options({"model": str(diffusers_ckpt), "device": "cuda"})
    img = eng.generate([Request("stone", 64, 64, 1), Request("a much longer prompt about moss", 64, 64, 2)])
    for g in img:
        assert g.image.min() >= 0 and g.image.max() <= 1 and g.image.std() > 0.01
