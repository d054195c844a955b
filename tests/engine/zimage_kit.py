"""Helpers for the Z-Image tests: error metrics, random init, tiny checkpoints in the real on-disk formats."""

from __future__ import annotations

import torch


def rel_err(got: torch.Tensor, want: torch.Tensor) -> float:
    """max |got - want| / max |want|: a relative error that is not fooled by near-zero entries."""
    return float((got.double() - want.double()).abs().max() / want.double().abs().max().clamp_min(1e-12))


@torch.no_grad()
def randomize(module: torch.nn.Module, seed: int) -> None:
    """Give every parameter a random value, including norm weights and pad tokens that default to 1 or 0."""
    g = torch.Generator().manual_seed(seed)
    for name, p in module.named_parameters():
        if p.ndim == 1 and ("norm" in name or name.endswith("cap_embedder.0.weight")):
            p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
        elif "pad_token" in name:
            p.copy_(torch.randn(p.shape, generator=g))
        else:
            fan_in = p.shape[1] if p.ndim > 1 else p.shape[0]
            p.copy_(torch.randn(p.shape, generator=g) / fan_in**0.5)
