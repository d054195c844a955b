"""Checks that need a CUDA device (skipped elsewhere): no host syncs in the denoise loop, bf16 sanity."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from zpipe.engine.base import Request, float_image
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
        assert g.image.dtype == np.uint8 and float_image(g.image).std() > 0.01


def _bytes(module) -> int:
    return sum(t.numel() * t.element_size() for t in [*module.parameters(), *module.buffers()])


def test_phased_mode_never_holds_both_networks_on_the_device(diffusers_ckpt):
    eng = ZImageEngine.from_options({"model": str(diffusers_ckpt), "device": "cuda", "memory": "phased"})
    pipe = eng.pipeline
    te, dit, vae = _bytes(pipe.text_encoder), _bytes(pipe.dit), _bytes(pipe.vae)
    seen = []
    for name, m in (("text_encoder", pipe.text_encoder), ("dit", pipe.dit)):
        m.register_forward_pre_hook(lambda mod, a, name=name: seen.append((name, torch.cuda.memory_allocated())))
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated() - vae  # caption features and other small tensors
    eng.generate([Request("stone", 64, 64, 1), Request("moss on a wall", 64, 64, 2)])
    for name, allocated in seen:
        other = dit if name == "text_encoder" else te
        assert allocated - base < te + dit + vae - other + (1 << 20), (name, allocated)


def test_fp8_on_the_gpu_uses_scaled_mm_where_supported_and_stays_close(diffusers_ckpt, tmp_path, monkeypatch):
    from zpipe.engine.zimage import fp8

    monkeypatch.setenv("ZPIPE_CACHE", str(tmp_path))
    reqs = [Request("stone", 64, 64, 1)]
    base = ZImageEngine.from_options({"model": str(diffusers_ckpt), "device": "cuda"})
    q = ZImageEngine.from_options({"model": str(diffusers_ckpt), "device": "cuda", "memory": "fp8"})
    methods = {m.method for m in q.pipeline.dit.modules() if isinstance(m, fp8.Fp8Linear)}
    assert methods == {fp8.pick_method("cuda")}
    a, b = (float_image(e.generate(reqs)[0].image) for e in (base, q))
    assert abs(a - b).mean() <= 0.02 and abs(a - b).max() <= 0.25
