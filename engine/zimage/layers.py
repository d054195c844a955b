"""Small building blocks shared by the DiT and the text encoder."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# Below this many multiply-adds (rows x in x out) a GEMM is too small for oneDNN's setup to pay off.
ONEDNN_MIN_MACS = 1 << 21
# Set by register_compiled_ops(): compiled graphs call oneDNN through an opaque op (Inductor's own lowering
# of the oneDNN linear only accepts frozen, constant weights).
_compiled_op_registered = False
# Whether this torch build has oneDNN's linear op (a private op: a future torch may rename it, and then
# every GEMM simply stays on F.linear). Resolved on first use, and before any compile.
_onednn_ok: bool | None = None


def onednn_available() -> bool:
    global _onednn_ok
    if _onednn_ok is None:
        try:
            _onednn_ok = bool(torch._C._has_mkldnn) and torch.ops.mkldnn._linear_pointwise is not None
        except (AttributeError, RuntimeError):
            _onednn_ok = False
    return _onednn_ok


def register_compiled_ops() -> None:
    """Register ``zpipe::onednn_linear`` so that torch.compile'd code keeps :func:`linear`'s oneDNN GEMMs.

    Called before compiling (never at import); idempotent. Without it, compiled code uses ``F.linear``.
    """
    global _compiled_op_registered
    if _compiled_op_registered or not onednn_available():
        return

    @torch.library.custom_op("zpipe::onednn_linear", mutates_args=())
    def onednn_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")

    @onednn_linear.register_fake
    def _(x, weight, bias):
        return x.new_empty((*x.shape[:-1], weight.shape[0]))

    _compiled_op_registered = True


def _use_onednn(x: torch.Tensor, weight: torch.Tensor) -> bool:
    return (
        x.device.type == "cpu"
        and x.dtype == torch.float32
        and weight.dtype == torch.float32
        and not torch.is_grad_enabled()
        and torch.backends.mkldnn.enabled
        and (_onednn_ok if _onednn_ok is not None else onednn_available())
        and x.numel() * weight.shape[0] >= ONEDNN_MIN_MACS
    )


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``F.linear``; on the CPU, inference-only fp32 GEMMs of some size go to oneDNN instead of the BLAS.

    Same fp32 math (oneDNN's default fpmath mode is strict: no bf16/tf32 down-conversion), only another
    kernel: aten's fp32 ``mm`` calls MKL's sgemm, which on an AMD EPYC core (AVX-512) measured ~105 GFLOP/s
    against oneDNN's ~220 GFLOP/s for the DiT's GEMM shapes (MKL does not pick its AVX-512 code on AMD).
    Honours ``torch.backends.mkldnn.flags(enabled=False)``; with autograd on it stays on ``F.linear``.
    """
    if _use_onednn(x, weight):
        if not torch.compiler.is_compiling():
            return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")
        if _compiled_op_registered:
            return torch.ops.zpipe.onednn_linear(x, weight, bias)
    return F.linear(x, weight, bias)


class Linear(nn.Linear):
    """``nn.Linear`` (same parameters and state-dict names) whose forward is :func:`linear`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight, self.bias)


class RMSNorm(nn.Module):
    """x * rsqrt(mean(x^2) + eps) * w, normalised in fp32.

    Rounding follows diffusers' RMSNorm (``half_out=False``): the fp32 result is cast to the weight dtype
    when that is half precision, then scaled. Qwen3 rounds the same way when input and weight share a dtype.
    """

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.rms_norm(x.float(), (x.shape[-1],), eps=self.eps)
        return y.to(self.weight.dtype) * self.weight


def sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None, causal: bool = False):
    """q, k, v (B, H, L, D) -> (B, H, L, D). ``mask`` is a boolean key mask (B, 1, 1, L), True = attend.

    Kept as one function so that a different kernel (varlen flash) can be swapped in at one place.
    """
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
