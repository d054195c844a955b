"""Checks that need a CUDA device (skipped elsewhere): no host syncs in the denoise loop, bf16 sanity, the
fused RoPE kernel's bound, the attention kernel order."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from zimage_kit import module_bytes

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
    with torch.no_grad():  # compiles the fused RoPE kernel (once per process; compiling may sync)
        dit(x.to(dit.dtype), torch.full((2,), 0.5, device="cuda"), cond)
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


def test_phased_mode_never_holds_both_networks_on_the_device(diffusers_ckpt):
    eng = ZImageEngine.from_options({"model": str(diffusers_ckpt), "device": "cuda", "memory": "phased"})
    pipe = eng.pipeline
    te, dit, vae = module_bytes(pipe.text_encoder), module_bytes(pipe.dit), module_bytes(pipe.vae)
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


def test_fused_rope_kernel_is_within_one_bf16_ulp():
    from zimage_kit import within_one_bf16_ulp

    from zpipe.engine.zimage.rope import apply_rope, make_rope, rope_cos_sin

    pos = torch.stack(torch.meshgrid(torch.arange(3), torch.arange(40), torch.arange(50), indexing="ij"), -1)
    cos, sin = rope_cos_sin(pos.reshape(1, -1, 3).cuda(), (32, 48, 48), 256.0)
    x = (3 * torch.randn(1, cos.shape[1], 30, 128, device="cuda")).to(torch.bfloat16)
    ref = apply_rope(x.float(), make_rope(cos, sin, "complex"))
    within_one_bf16_ulp(apply_rope(x, make_rope(cos, sin, "fused")), ref, ref.to(torch.bfloat16))


def test_attention_order_runs_on_this_gpu():
    import torch.nn.functional as F

    from zpipe.engine.zimage.attention import sdpa_context

    q, k, v = (torch.randn(1, 30, 4224, 128, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    want = F.scaled_dot_product_attention(q.float(), k.float(), v.float())
    for choice in ("auto", "cudnn", "flash", "efficient", "math"):
        with sdpa_context("cuda", choice):
            got = F.scaled_dot_product_attention(q, k, v)
        assert (got.float() - want).abs().max() <= 0.02, choice


def test_fused_norm_and_rope_region_is_no_further_from_fp32_than_eager_bf16():
    import torch.nn.functional as F

    from zpipe.engine.zimage.rope import apply_rope, fused, make_rope, norm_rotate_qk, rope_cos_sin

    pos = torch.stack(torch.meshgrid(torch.arange(3), torch.arange(40), torch.arange(50), indexing="ij"), -1)
    cos, sin = rope_cos_sin(pos.reshape(1, -1, 3).cuda(), (32, 48, 48), 256.0)
    q, k = ((3 * torch.randn(1, cos.shape[1], 30, 128, device="cuda")).to(torch.bfloat16) for _ in range(2))
    wq, wk = ((1 + 0.2 * torch.randn(128, device="cuda")).to(torch.bfloat16) for _ in range(2))
    got = fused(norm_rotate_qk)(q, k, wq, wk, 1e-6, cos, sin)
    eager = norm_rotate_qk(q, k, wq, wk, 1e-6, cos, sin)
    rope = make_rope(cos, sin, "complex")
    for t, w, g, e in zip((q, k), (wq, wk), got, eager):
        ref = apply_rope(F.rms_norm(t.float(), (128,), w.float(), eps=1e-6), rope)
        err, eager_err = (g.float() - ref).abs(), (e.float() - ref).abs()
        assert err.max() <= eager_err.max() and err.mean() <= 1.05 * eager_err.mean()
