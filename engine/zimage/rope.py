"""The DiT's 3-axis rotary position embedding (interleaved pairs, theta 256), with an optional torus.

Each token carries integer positions (p0, p1, p2): p0 orders the caption and puts the image behind it,
(p1, p2) are the image row and column. Head channels are split into adjacent pairs (x[2k], x[2k+1]);
pairs 0 .. d0/2-1 rotate with axis 0, the next d1/2 with axis 1, the last d2/2 with axis 2.

The angles are computed like the reference (frequencies and products in float64, rounded to float32,
then cos/sin in float32) so that fp32 runs match it to rounding.

Seamless tiling: with ``periods`` set for an axis, every frequency of that axis is snapped to the nearest
whole number of cycles over the period (the latent token count on that axis), so positions p and p + period
get the same rotation and attention only sees distances modulo the period, i.e. the image lies on a torus.
Caption tokens and image pad tokens have position 0 on the spatial axes, so snapping leaves them unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F


def axis_frequencies(dim: int, theta: float, period: int | None = None) -> torch.Tensor:
    """(dim/2,) float64 angular frequencies theta^(-2j/dim); snapped to k*2pi/period when period is set."""
    freqs = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    if period is not None:
        cycles = torch.round(freqs * period / (2 * math.pi))
        freqs = cycles * (2 * math.pi / period)
    return freqs


def rope_cos_sin(
    pos: torch.Tensor,
    axes_dims: Sequence[int],
    theta: float,
    periods: Sequence[int | None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Position ids (..., 3) int -> cos, sin (..., head_dim/2) float32 on pos's device.

    The float64 products are formed on the CPU (MPS has no float64); only the float32 angles move.
    """
    periods = periods or [None] * len(axes_dims)
    host = pos.to("cpu", torch.float64)
    angles = []
    for axis, (dim, period) in enumerate(zip(axes_dims, periods, strict=True)):
        freqs = axis_frequencies(dim, theta, period)
        angles.append((host[..., axis, None] * freqs).float())  # (..., dim/2)
    angle = torch.cat(angles, dim=-1).to(pos.device)  # (..., head_dim/2)
    return angle.cos(), angle.sin()


Rope = tuple  # (cos (B, L, D/2) fp32, sin (B, L, D/2) fp32, rot (B, L, 1, D/2) complex64 or None, fused: bool)
ROPE_MODES = ("complex", "real", "fused")


def default_mode(device_type: str) -> str:
    """How RoPE runs in eager mode on a device: one fused kernel on CUDA, the complex multiply on the CPU
    (fastest there, like the reference), the real form on MPS (its complex kernels are incomplete)."""
    return {"cuda": "fused", "mps": "real"}.get(device_type, "complex")


def make_rope(cos: torch.Tensor, sin: torch.Tensor, mode: str = "complex") -> Rope:
    """Bundle the tables for :func:`apply_rope`: ``complex`` precomputes cos + i sin once per batch, ``real``
    uses the tables as they are, ``fused`` too, through :func:`fused_rotate`."""
    if mode not in ROPE_MODES:
        raise ValueError(f"rope mode {mode!r}: choose one of {', '.join(ROPE_MODES)}")
    return (cos, sin, torch.complex(cos, sin)[:, :, None, :] if mode == "complex" else None, mode == "fused")


def rotate_pairs(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """The real-valued rotation of x (B, L, H, D) by tables (B, L, D/2), in fp32; returns x's dtype."""
    xf = x.float().unflatten(-1, (-1, 2))  # (B, L, H, D/2, 2)
    x0, x1 = xf[..., 0], xf[..., 1]
    c, s = cos[:, :, None, :], sin[:, :, None, :]  # (B, L, 1, D/2)
    out = torch.stack((x0 * c - x1 * s, x0 * s + x1 * c), dim=-1)  # (B, L, H, D/2, 2)
    return out.flatten(-2).type_as(x)  # (B, L, H, D)


def apply_rope(x: torch.Tensor, rope: Rope) -> torch.Tensor:
    """Rotate adjacent channel pairs of x (B, L, H, D) in fp32; returns x's dtype.

    With a complex table this is one complex multiply (fast in eager mode, like the reference); without,
    the real-valued form, which torch.compile fuses (Inductor does not generate code for complex ops):
    inside compiled blocks as part of them, in eager mode on CUDA as a compiled region of its own.
    """
    cos, sin, rot, fused = rope
    if rot is not None:
        xc = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))  # (B, L, H, D/2) complex
        return torch.view_as_real(xc * rot).flatten(-2).type_as(x)
    if fused and not torch.compiler.is_compiling():
        return fused_rotate()(x, cos, sin)
    return rotate_pairs(x, cos, sin)


def norm_rotate_qk(q: torch.Tensor, k: torch.Tensor, wq: torch.Tensor, wk: torch.Tensor, eps: float,
                   cos: torch.Tensor, sin: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """What attention does to q and k (B, L, H, D) before SDPA: RMSNorm over the head channels (weights
    ``wq``, ``wk``), then :func:`rotate_pairs`; one region for :func:`fused`."""
    d = q.shape[-1]
    return (rotate_pairs(F.rms_norm(q, (d,), wq, eps=eps), cos, sin),
            rotate_pairs(F.rms_norm(k, (d,), wk, eps=eps), cos, sin))


_compiled: dict[str, Callable] = {}


def fused(fn: Callable) -> Callable:
    """``fn`` compiled as a region of its own (dynamic shapes: one kernel set for every sequence length), for
    eager mode on CUDA. Inductor turns :func:`rotate_pairs` into one kernel that reads bf16, rotates in fp32
    registers and writes bf16, where eager mode writes an fp32 copy, the products and the cast back (about
    5 passes over memory instead of 1); :func:`norm_rotate_qk` also takes the norms' read and write of q and
    k. The arithmetic is fp32 as in eager mode; Inductor may contract a multiply-add into an FMA and keep an
    intermediate in fp32 instead of rounding it to bf16, so results can differ from eager bf16 by a bf16 ulp
    (bounds tested). Where compiling fails (no Triton, no C++ compiler) ``fn`` runs eagerly from then on,
    with one warning."""
    name = fn.__name__
    if name not in _compiled:
        compiled = torch.compile(fn, dynamic=True, fullgraph=True)

        def run(*args):
            try:
                return compiled(*args)
            except Exception as exc:  # noqa: BLE001 - any compiler failure: the eager form is exact too
                import logging

                logging.getLogger(__name__).warning("%s did not compile (%s: %s); running it eagerly", name,
                                                    type(exc).__name__, str(exc).splitlines()[0][:200])
                _compiled[name] = fn
                return fn(*args)

        _compiled[name] = run
    return _compiled[name]


def fused_rotate() -> Callable:
    """:func:`rotate_pairs` as one compiled kernel (:func:`fused`)."""
    return fused(rotate_pairs)
