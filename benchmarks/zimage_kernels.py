"""The Z-Image engine's kernel choices at the DiT's real shapes, each against the alternative in the same run.
Prints numbers; asserts nothing.

    python benchmarks/zimage_kernels.py [--device cuda] [--size 1024] [--preset full] [--json]

* RoPE on q (B, L, heads, head_dim) in the model dtype: the complex multiply (CPU default), the real form in
  eager mode, and the fused compiled region: ms per call and each against complex. Then q and k through
  RMSNorm and RoPE eagerly against the one fused region that eager CUDA runs (``rope.norm_rotate_qk``).
* Attention: SDPA restricted to one kernel at a time (cuDNN, flash, memory-efficient, math; "n/a" where the
  kernel does not exist here) and the engine's order for this device: ms per call, TFLOP/s.
* Images out: decoded images (B, 3, H, W) fp32 to the host as fp32 against quantised to uint8 on the device
  first (what the engine hands out): ms and MB per batch.

L = image tokens + a 128-token caption (the 512-token worst case is in ``zpipe bench --plan``).
"""

from __future__ import annotations

import argparse
import json
import time


def timed(fn, device: str, repeat: int, warmup: int = 2) -> float:
    """Best seconds of ``repeat`` calls, after ``warmup`` calls (compiles, caches)."""
    from zpipe.engine.zimage.bench import sync

    for _ in range(warmup):
        fn()
    sync(device)
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        sync(device)
        best = min(best, time.perf_counter() - t)
    return best


def rope_times(cfg, tokens: int, batch: int, dtype, device: str, repeat: int) -> dict:
    import torch
    import torch.nn.functional as F

    from zpipe.engine.zimage.rope import apply_rope, fused, make_rope, norm_rotate_qk, rope_cos_sin

    g = torch.Generator().manual_seed(0)
    pos = torch.randint(0, 64, (batch, tokens, 3), generator=g).to(device)
    cos, sin = rope_cos_sin(pos, cfg.axes_dims, cfg.rope_theta)
    x = torch.randn(batch, tokens, cfg.n_heads, cfg.head_dim, generator=g).to(device, dtype)
    out = {}
    for mode in ("complex", "real", "fused"):
        rope = make_rope(cos, sin, mode)
        out[mode] = timed(lambda rope=rope: apply_rope(x, rope), device, repeat)
    # q and k: RMSNorm then RoPE, eagerly (norm kernel + complex RoPE, each tensor) vs the one fused region
    w, rope = torch.ones(cfg.head_dim, device=device, dtype=dtype), make_rope(cos, sin, "complex")

    def eager():
        return [apply_rope(F.rms_norm(t, (cfg.head_dim,), w, eps=1e-5), rope) for t in (x, x)]

    out["qk_norm_rope_eager"] = timed(eager, device, repeat)
    out["qk_norm_rope_fused"] = timed(lambda: fused(norm_rotate_qk)(x, x, w, w, 1e-5, cos, sin), device, repeat)
    return out


def attention_times(cfg, tokens: int, batch: int, dtype, device: str, repeat: int) -> dict:
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from zpipe.engine.zimage.attention import sdpa_context

    q, k, v = (torch.randn(batch, cfg.n_heads, tokens, cfg.head_dim, device=device, dtype=dtype) for _ in range(3))
    kernels = {"cudnn": SDPBackend.CUDNN_ATTENTION, "flash": SDPBackend.FLASH_ATTENTION,
               "efficient": SDPBackend.EFFICIENT_ATTENTION, "math": SDPBackend.MATH}
    out: dict = {}
    for name, backend in kernels.items():
        try:
            with sdpa_kernel([backend]):
                out[name] = timed(lambda: F.scaled_dot_product_attention(q, k, v), device, repeat)
        except RuntimeError:  # "No available kernel": not on this device, dtype or build
            out[name] = None
    with sdpa_context(device):
        out["engine"] = timed(lambda: F.scaled_dot_product_attention(q, k, v), device, repeat)
    out["default"] = timed(lambda: F.scaled_dot_product_attention(q, k, v), device, repeat)  # PyTorch's own order
    return out


def image_out_times(size: int, batch: int, device: str, repeat: int) -> dict:
    import torch

    from zpipe.engine.zimage.pipeline import to_uint8

    img = torch.rand(batch, 3, size, size, device=device)
    return {"fp32": timed(lambda: img.permute(0, 2, 3, 1).contiguous().cpu(), device, repeat),
            "uint8": timed(lambda: to_uint8(img).cpu(), device, repeat),
            "fp32_mb": img.numel() * 4 / 1e6, "uint8_mb": img.numel() / 1e6}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default=None)
    ap.add_argument("--preset", default="full", choices=["full", "medium", "tiny"])
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--dtype", default=None, choices=["bf16", "fp32"])
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    import torch

    from zpipe.engine.zimage.attention import backend_order
    from zpipe.engine.zimage.bench import presets
    from zpipe.engine.zimage.engine import pick_device, pick_dtype
    from zpipe.engine.zimage.rope import default_mode

    device = pick_device(args.device)
    dtype = pick_dtype(args.dtype, device)
    cfg = presets()[args.preset][0]
    tokens = (args.size // 16) ** 2 + 128
    dev = torch.device(device)
    capability = torch.cuda.get_device_capability(dev) if dev.type == "cuda" else None
    result = {"device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else device,
              "dtype": str(dtype).removeprefix("torch."), "tokens": tokens, "heads": cfg.n_heads,
              "head_dim": cfg.head_dim, "batch": args.batch, "rope_default": default_mode(dev.type),
              "attention_order": backend_order(dev.type, capability),
              "rope_s": rope_times(cfg, tokens, args.batch, dtype, device, args.repeat),
              "attention_s": attention_times(cfg, tokens, args.batch, dtype, device, args.repeat),
              "image_out": image_out_times(args.size, 4, device, args.repeat)}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['device']} {result['dtype']}: batch {args.batch}, {tokens} tokens, {cfg.n_heads} heads x "
          f"{cfg.head_dim}")
    rope = result["rope_s"]
    print(f"  RoPE (default here: {result['rope_default']}), ms per call, and complex / this:")
    for mode in ("complex", "real", "fused"):
        print(f"    {mode:<10}{1000 * rope[mode]:9.3f} ms  {rope['complex'] / rope[mode]:6.2f}x")
    print(f"  q and k, RMSNorm + RoPE: eager (norm, complex RoPE) {1000 * rope['qk_norm_rope_eager']:.3f} ms, one "
          f"fused region {1000 * rope['qk_norm_rope_fused']:.3f} ms "
          f"({rope['qk_norm_rope_eager'] / rope['qk_norm_rope_fused']:.2f}x)")
    flops = 4 * args.batch * cfg.n_heads * tokens * tokens * cfg.head_dim
    att = result["attention_s"]
    print(f"  attention (engine order: {', '.join(result['attention_order'] or ['PyTorch default'])}), ms per call:")
    for name, s in att.items():
        print(f"    {name:<10}" + ("      n/a" if s is None else
                                   f"{1000 * s:9.3f} ms  {flops / s / 1e12:8.2f} TFLOP/s  default / this "
                                   f"{att['default'] / s:5.2f}x"))
    out = result["image_out"]
    print(f"  4 images of {args.size}² to the host: fp32 {1000 * out['fp32']:.2f} ms ({out['fp32_mb']:.1f} MB), "
          f"uint8 {1000 * out['uint8']:.2f} ms ({out['uint8_mb']:.1f} MB)")


if __name__ == "__main__":
    main()
