"""Weight-only fp8 (e4m3) for the DiT's block projections, one fp32 scale per output row.

``W ≈ scale[:, None] * W8`` with ``scale = max|W_row| / 448``. Only the four projections of each block (qkv,
out, w13, w2: 98% of the parameters) are stored in fp8; the embedders, adaLN, norms and the final layer
stay in the compute dtype (FP8 DiTs are known to go noisy when those are quantised too).

Two ways to multiply (:attr:`Fp8Linear.method`):

* ``dequant`` (everywhere): the layer's weight is expanded to the compute dtype just before its GEMM. Only
  the weights are rounded; one layer's bf16 copy is alive at a time.
* ``scaled_mm`` (CUDA compute capability 8.9 and newer: Ada, Hopper, Blackwell): activations are rounded to
  fp8 per token too (dynamic row-wise scales) and ``torch._scaled_mm`` runs the fp8 tensor-core GEMM with
  both scale vectors, accumulating in fp32.

The quantised weights can be cached in a safetensors file that zpipe writes once, atomically (a
temporary name, fsync, rename), so later loads skip reading and converting the 12-24 GB original.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
from torch import nn

from zpipe.engine.zimage.layers import linear

log = logging.getLogger(__name__)

FP8 = torch.float8_e4m3fn
FP8_MAX = 448.0
# The projections quantised in each block (after fuse_projections; the unfused names for unfused models).
PROJECTIONS = ("attention.qkv", "attention.to_q", "attention.to_k", "attention.to_v", "attention.to_out.0",
               "feed_forward.w13", "feed_forward.w1", "feed_forward.w3", "feed_forward.w2")


def quantize_rows(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(out, in) float -> fp8 weight (out, in) and fp32 scales (out,), rounding to nearest."""
    wf = w.float()
    scale = (wf.abs().amax(dim=1) / FP8_MAX).clamp_min(1e-12)
    return (wf / scale[:, None]).clamp(-FP8_MAX, FP8_MAX).to(FP8), scale


def scaled_mm_supported(device: torch.device) -> bool:
    if device.type != "cuda" or not hasattr(torch, "_scaled_mm"):
        return False
    return torch.cuda.get_device_capability(device) >= (8, 9)


class Fp8Linear(nn.Module):
    """A bias-free or biased Linear whose weight is fp8 with per-output-row scales."""

    def __init__(self, weight8: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None,
                 method: str = "dequant") -> None:
        super().__init__()
        self.in_features, self.out_features = weight8.shape[1], weight8.shape[0]
        self.register_buffer("weight", weight8)
        self.register_buffer("scale", scale)
        self.bias = None if bias is None else nn.Parameter(bias, requires_grad=False)
        self.method = method

    @classmethod
    def from_linear(cls, layer: nn.Linear, method: str = "dequant") -> Fp8Linear:
        w8, scale = quantize_rows(layer.weight.detach())
        return cls(w8, scale, None if layer.bias is None else layer.bias.detach(), method)

    def dequantized(self, dtype: torch.dtype) -> torch.Tensor:
        return self.weight.to(dtype) * self.scale.to(dtype)[:, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.method == "scaled_mm" and self.in_features % 16 == 0 and self.out_features % 16 == 0:
            return self._scaled_mm(x)
        return linear(x, self.dequantized(x.dtype), self.bias)

    def _scaled_mm(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, self.in_features)
        sx = (rows.abs().amax(dim=1, keepdim=True).float() / FP8_MAX).clamp_min(1e-12)  # (M, 1)
        x8 = (rows.float() / sx).clamp(-FP8_MAX, FP8_MAX).to(FP8)
        out = torch._scaled_mm(x8, self.weight.t(), scale_a=sx, scale_b=self.scale[None, :], out_dtype=x.dtype)
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, fp8 e4m3, method={self.method}"


def _blocks(dit: nn.Module):
    return [*dit.noise_refiner, *dit.context_refiner, *dit.layers]


@torch.no_grad()
def quantize_dit(dit: nn.Module, method: str = "dequant") -> int:
    """Replace every block projection by an :class:`Fp8Linear`, one layer at a time (no spike: each
    original weight is freed as its fp8 copy is made). Returns the number of layers replaced."""
    n = 0
    for block in _blocks(dit):
        for name in PROJECTIONS:
            parent_name, _, leaf = name.rpartition(".")
            parent = block.get_submodule(parent_name)
            layer = getattr(parent, leaf, None) if not leaf.isdigit() else parent[int(leaf)]
            if isinstance(layer, nn.Linear):
                q = Fp8Linear.from_linear(layer, method)
                if leaf.isdigit():
                    parent[int(leaf)] = q
                else:
                    setattr(parent, leaf, q)
                n += 1
    return n


def set_method(dit: nn.Module, method: str) -> None:
    for m in dit.modules():
        if isinstance(m, Fp8Linear):
            m.method = method


def pick_method(device: str | torch.device) -> str:
    return "scaled_mm" if scaled_mm_supported(torch.device(device)) else "dequant"


# ---- the cache file ----


def cache_dir() -> Path:
    """``$ZPIPE_CACHE``, else the user's cache folder (``%LOCALAPPDATA%`` on Windows, XDG elsewhere)."""
    if os.environ.get("ZPIPE_CACHE"):
        return Path(os.environ["ZPIPE_CACHE"])
    base = os.environ.get("LOCALAPPDATA") if os.name == "nt" else os.environ.get("XDG_CACHE_HOME")
    return Path(base or Path.home() / ".cache") / "zpipe"


def cache_path(weights_fingerprint: str) -> Path:
    safe = "".join(c if c.isalnum() else "-" for c in weights_fingerprint)[:80]
    return cache_dir() / "fp8" / f"dit-{safe}.safetensors"


def save_cache(dit: nn.Module, path: Path) -> None:
    """The whole quantised DiT state (fp8 projections, scales, the rest in its dtype), written atomically."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        save_file({k: v.detach().contiguous().cpu() for k, v in dit.state_dict().items()}, str(tmp),
                  metadata={"format": "pt", "zpipe": "fp8-e4m3-rowwise"})
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_cache(dit: nn.Module, path: Path, dtype: torch.dtype, method: str) -> nn.Module:
    """Fill a fused, quantised meta-device DiT from the cache file (strict: every key, every shape)."""
    from zpipe.engine.zimage.weights import load_into

    module = load_into(dit, [path], what="cached fp8 transformer", dtype=None)
    for p in list(module.parameters()):
        if p.is_floating_point() and p.dtype != dtype:
            p.data = p.data.to(dtype)
    set_method(module, method)
    return module


def meta_fp8_dit(cfg) -> nn.Module:
    """A fused DiT on the meta device with the fp8 layer structure, ready for :func:`load_cache`."""
    from zpipe.engine.zimage.dit import ZImageDiT

    with torch.device("meta"):
        dit = ZImageDiT(cfg)
        dit.fuse_projections()
        for block in _blocks(dit):
            for parent, leaf in ((block.attention, "qkv"), (block.feed_forward, "w13"), (block.feed_forward, "w2")):
                old = getattr(parent, leaf)
                setattr(parent, leaf, _meta_fp8(old))
            block.attention.to_out[0] = _meta_fp8(block.attention.to_out[0])
    return dit


def _meta_fp8(layer: nn.Linear) -> Fp8Linear:
    out, inp = layer.weight.shape
    bias = None if layer.bias is None else torch.empty(out, device="meta")
    return Fp8Linear(torch.empty(out, inp, dtype=FP8, device="meta"), torch.empty(out, device="meta"), bias)
