"""Small building blocks shared by the DiT and the text encoder."""

from __future__ import annotations

import logging
import os

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
# The CPU fp32 GEMM route, "onednn" or "default" (aten's mm: MKL or OpenBLAS), picked on first use by
# :func:`cpu_gemm_backend`, a short probe; $ZPIPE_CPU_GEMM sets it instead.
_gemm_choice: str | None = None
PROBE_SHAPE = (512, 1536, 1536)  # rows, in, out: a DiT-like GEMM of 2.4 GFLOP


def onednn_available() -> bool:
    global _onednn_ok
    if _onednn_ok is None:
        try:
            _onednn_ok = bool(torch._C._has_mkldnn) and torch.ops.mkldnn._linear_pointwise is not None
        except (AttributeError, RuntimeError):
            _onednn_ok = False
    return _onednn_ok


def cpu_gemm_backend() -> str:
    """"onednn" or "default": whichever ran a DiT-sized fp32 GEMM faster here (best of 5 each, ~0.2 s once
    per process). Which library wins depends on the CPU, not on its vendor: MKL skips its AVX-512 code on
    AMD (oneDNN measured 2x faster there), while on an Intel Xeon with AMX MKL was 6-12% faster."""
    global _gemm_choice
    if _gemm_choice is None:
        forced = os.environ.get("ZPIPE_CPU_GEMM", "").strip().lower()
        if forced in ("onednn", "default"):
            _gemm_choice = forced
        elif not onednn_available() or not torch.backends.mkldnn.enabled:
            _gemm_choice = "default"
        else:
            _gemm_choice = _probe()
    return _gemm_choice


def _probe(reps: int = 5) -> str:
    import time

    rows, inp, out = PROBE_SHAPE
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(rows, inp, generator=g), torch.randn(out, inp, generator=g)
    routes = {"onednn": lambda: torch.ops.mkldnn._linear_pointwise(x, w, None, "none", [], ""),
              "default": lambda: F.linear(x, w)}
    best = {}
    with torch.no_grad():
        for name, fn in routes.items():
            fn()  # first call: packing, thread pool start
            times = []
            for _ in range(reps):
                t = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t)
            best[name] = min(times)
    return "onednn" if best["onednn"] < best["default"] else "default"


def register_compiled_ops() -> None:
    """Register ``zpipe::onednn_linear`` so that torch.compile'd code keeps :func:`linear`'s oneDNN GEMMs.

    Called before compiling (never at import); idempotent. Without it, compiled code uses ``F.linear``.
    """
    global _compiled_op_registered
    if _compiled_op_registered or cpu_gemm_backend() != "onednn":
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
        and x.numel() * weight.shape[0] >= ONEDNN_MIN_MACS
        and (_gemm_choice if _gemm_choice is not None else cpu_gemm_backend()) == "onednn"
    )


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``F.linear``; on the CPU, inference-only fp32 GEMMs of some size go to oneDNN instead of the BLAS
    where the startup probe (:func:`cpu_gemm_backend`) found it faster.

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
    """x * rsqrt(mean(x^2) + eps) * w with fp32 accumulation, as one ``F.rms_norm`` call.

    In fp32 this is the reference's arithmetic. In bf16/fp16 the input stays in its dtype and the kernel
    accumulates in fp32 and rounds once, after the weight (one fused kernel on CUDA; torch's CPU version
    upcasts internally). The reference (diffusers, ``half_out=False``) rounds before the weight and
    multiplies in bf16; rounding once halves the error against an fp32 norm, and the bf16 parity tests
    keep their bounds.
    """

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype != self.weight.dtype:  # e.g. fp32 activations with bf16 weights: the reference's order
            return F.rms_norm(x.float(), (x.shape[-1],), eps=self.eps).to(self.weight.dtype) * self.weight
        return F.rms_norm(x, (x.shape[-1],), self.weight, eps=self.eps)


def sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None, causal: bool = False):
    """q, k, v (B, H, L, D) -> (B, H, L, D). ``mask`` is a boolean key mask (B, 1, 1, L), True = attend.

    Kept as one function so that a different kernel (varlen flash) can be swapped in at one place. The
    kernel is the first of the engine's order (:mod:`.attention`) that takes the inputs; one that takes them
    and then fails (cuDNN without an execution plan) is left out from then on and the call runs again.
    """
    try:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
    except RuntimeError as exc:
        from zpipe.engine.zimage import attention

        kernel = attention.failed_kernel(exc)
        if kernel is None or torch.compiler.is_compiling():
            raise
        attention.mark_failed(kernel)
        logging.getLogger(__name__).warning("attention: the %s kernel failed (%s); using the next kernel from now on",
                                            kernel, str(exc).splitlines()[0][:200])
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
