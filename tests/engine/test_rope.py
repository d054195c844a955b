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
