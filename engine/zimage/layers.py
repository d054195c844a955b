"""Small building blocks shared by the DiT and the text encoder."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


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
