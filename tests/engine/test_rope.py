"""RoPE's three forms against the fp32 reference: the complex multiply (CPU), the real form (compiled blocks,
MPS) and the fused one (a compiled region of its own, eager CUDA).

The bound for bf16: every element of the fused result is within one bf16 ulp of the fp32 rotation (the
reference arithmetic), and at least 99.9% of them equal it rounded once to bf16, which is what the unfused
bf16 path returns. (Inductor may contract a multiply-add into an FMA; the fp32 result then differs in its
last bit and can round to the neighbouring bf16 value.)
"""

from __future__ import annotations

import pytest
import torch
from zimage_kit import within_one_bf16_ulp as within_bound

from zpipe.engine.zimage.rope import apply_rope, default_mode, fused_rotate, make_rope, rope_cos_sin

DIMS = (32, 48, 48)  # the released model's axes: head dim 128


def tables(batch: int = 2, cap: int = 40, rows: int = 16, cols: int = 20):
    pos = torch.zeros(batch, cap + rows * cols, 3, dtype=torch.int64)
    pos[:, :cap, 0] = torch.arange(1, cap + 1)
    rr, cc = torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij")
    pos[:, cap:, 0] = cap + 1
    pos[:, cap:, 1], pos[:, cap:, 2] = rr.flatten(), cc.flatten()
    return rope_cos_sin(pos, DIMS, 256.0)


@pytest.fixture(scope="module")
def case():
    cos, sin = tables()
    g = torch.Generator().manual_seed(0)
    x = (3 * torch.randn(2, cos.shape[1], 4, sum(DIMS), generator=g)).to(torch.bfloat16)  # (B, L, H, D)
    ref = apply_rope(x.float(), make_rope(cos, sin, "complex"))  # the fp32 rotation
    return x, cos, sin, ref, ref.to(torch.bfloat16)


@pytest.mark.parametrize("mode", ["complex", "real"])
def test_eager_forms_round_the_fp32_rotation_once(case, mode):
    x, cos, sin, ref, once = case
    got = apply_rope(x, make_rope(cos, sin, mode))
    within_bound(got, ref, once)
    if mode == "real":  # in fp32: the complex multiply's rotation up to fp32 rounding
        assert (apply_rope(x.float(), make_rope(cos, sin, "real")) - ref).abs().max() <= 1e-6 * ref.abs().max()


def test_fused_rope_is_one_compiled_region_within_one_bf16_ulp(case):
    """Compiled here by Inductor's C++ backend (about 20 s on two cores); on CUDA the same graph becomes one
    Triton kernel (tests/engine/test_zimage_gpu.py checks the same bound there)."""
    x, cos, sin, ref, once = case
    fused = fused_rotate()
    assert fused is not None
    got = apply_rope(x, make_rope(cos, sin, "fused"))
    within_bound(got, ref, once)
    # a shorter sequence (another image size or caption) reuses the dynamic-shape kernel
    n = 100
    within_bound(apply_rope(x[:, :n].contiguous(), make_rope(cos[:, :n], sin[:, :n], "fused")), ref[:, :n],
                 once[:, :n])


def test_each_device_gets_its_form():
    assert default_mode("cuda") == "fused" and default_mode("cpu") == "complex" and default_mode("mps") == "real"
    with pytest.raises(ValueError, match="rope mode 'fast'"):
        make_rope(torch.zeros(1, 1, 2), torch.zeros(1, 1, 2), "fast")


def test_fused_norm_and_rope_is_no_further_from_fp32_than_eager_bf16(case):
    """q/k RMSNorm and RoPE as one compiled region (eager CUDA's default): compared with the fp32 norm and
    rotation, its error is at most the eager bf16 path's (norm rounded to bf16, then the rotation rounded),
    in the worst element and on average (it rounds once where eager rounds twice)."""
    import torch.nn.functional as F

    from zpipe.engine.zimage.rope import fused, norm_rotate_qk

    x, cos, sin, _, _ = case
    g = torch.Generator().manual_seed(1)
    q, k = x, (3 * torch.randn(x.shape, generator=g)).to(torch.bfloat16)
    wq, wk = ((1 + 0.2 * torch.randn(x.shape[-1], generator=g)).to(torch.bfloat16) for _ in range(2))
    got = fused(norm_rotate_qk)(q, k, wq, wk, 1e-6, cos, sin)
    eager = norm_rotate_qk(q, k, wq, wk, 1e-6, cos, sin)
    rope = make_rope(cos, sin, "complex")
    for t, w, g_, e in zip((q, k), (wq, wk), got, eager, strict=True):
        ref = apply_rope(F.rms_norm(t.float(), (t.shape[-1],), w.float(), eps=1e-6), rope)  # all fp32
        assert g_.dtype == torch.bfloat16
        err, eager_err = (g_.float() - ref).abs(), (e.float() - ref).abs()
        assert err.max() <= eager_err.max() and err.mean() <= 1.05 * eager_err.mean(), (err.max(), eager_err.max())


def test_a_bf16_dit_with_fused_rope_is_no_further_from_fp32_than_eager_bf16():
    """The DiT's attention takes the fused region where rope_mode is 'fused' (eager CUDA's default): a bf16
    forward is as close to the same weights' fp32 forward as the eager bf16 forward is (measured: 1.2% vs
    1.5% relative error; bound: 1.1x)."""
    import copy

    from zimage_kit import rel_err

    from zpipe.engine.zimage import rope as rope_module
    from zpipe.engine.zimage.bench import random_models

    dit = random_models("tiny", "cpu", torch.bfloat16)[0]
    ref_dit = copy.deepcopy(dit).float()
    g = torch.Generator().manual_seed(0)
    caps = [torch.randn(n, dit.cfg.cap_feat_dim, generator=g).to(torch.bfloat16) for n in (7, 9)]
    x = torch.randn(2, 16, 8, 8, generator=g).to(torch.bfloat16)
    t = torch.tensor([0.3, 0.7])
    out = {}
    with torch.no_grad():
        ref = ref_dit(x.float(), t, ref_dit.prepare([c.float() for c in caps], (4, 4)))
        for mode in ("complex", "fused"):
            dit.rope_mode = mode
            out[mode] = dit(x, t, dit.prepare(caps, (4, 4))).float()
    assert "norm_rotate_qk" in rope_module._compiled  # the attention went through the region
    assert not torch.equal(out["fused"], out["complex"])
    assert rel_err(out["fused"], ref) <= 1.1 * rel_err(out["complex"], ref)
