"""The Qwen3 text encoder, cut to what Z-Image reads: the raw output of the second-to-last decoder layer.

``hidden_states[-2]`` of transformers' Qwen3Model is the output of layer n-2 before any final norm, so only
the first n-1 layers are built; the last layer, the final norm and the LM head are never loaded.

Attention is causal, so with right padding the valid tokens never see the padding: a batch is encoded with
a plain causal kernel and no padding mask, and gives the same features as each prompt alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zpipe.engine.zimage.configs import Qwen3Config
from zpipe.engine.zimage.layers import RMSNorm, sdpa


def rotate_half_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x (B, H, L, D); cos/sin (L, D) in x's dtype. Qwen's 'rotate half' convention."""
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


class Qwen3Attention(nn.Module):
    def __init__(self, cfg: Qwen3Config) -> None:
        super().__init__()
        hd, nq, nkv = cfg.head_dim, cfg.num_attention_heads, cfg.num_key_value_heads
        self.nq, self.nkv = nq, nkv
        self.q_proj = nn.Linear(cfg.hidden_size, nq * hd, bias=False)
        self.k_proj = nn.Linear(cfg.hidden_size, nkv * hd, bias=False)
        self.v_proj = nn.Linear(cfg.hidden_size, nkv * hd, bias=False)
        self.o_proj = nn.Linear(nq * hd, cfg.hidden_size, bias=False)
        self.q_norm = RMSNorm(hd, cfg.rms_norm_eps)
        self.k_norm = RMSNorm(hd, cfg.rms_norm_eps)

    def forward(self, x, cos, sin):
        """x (B, L, hidden) -> (B, L, hidden); causal."""
        q = self.q_norm(self.q_proj(x).unflatten(-1, (self.nq, -1))).transpose(1, 2)  # (B, Hq, L, hd)
        k = self.k_norm(self.k_proj(x).unflatten(-1, (self.nkv, -1))).transpose(1, 2)  # (B, Hkv, L, hd)
        v = self.v_proj(x).unflatten(-1, (self.nkv, -1)).transpose(1, 2)
        q, k = rotate_half_rope(q, cos, sin), rotate_half_rope(k, cos, sin)
        rep = self.nq // self.nkv
        if rep > 1:  # grouped-query attention: share each kv head with `rep` query heads
            k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        out = sdpa(q, k, v, None, causal=True)  # (B, Hq, L, hd)
        return self.o_proj(out.transpose(1, 2).flatten(2))


class Qwen3MLP(nn.Module):
    def __init__(self, cfg: Qwen3Config) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Qwen3Layer(nn.Module):
    def __init__(self, cfg: Qwen3Config) -> None:
        super().__init__()
        self.self_attn = Qwen3Attention(cfg)
        self.mlp = Qwen3MLP(cfg)
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)

    def forward(self, x, cos, sin):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


class Qwen3Encoder(nn.Module):
    """Token ids -> features of layer n-2. Parameter names are Qwen3Model's (without the ``model.`` prefix)."""

    def __init__(self, cfg: Qwen3Config) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList([Qwen3Layer(cfg) for _ in range(cfg.used_layers)])

    @property
    def dtype(self) -> torch.dtype:
        return self.embed_tokens.weight.dtype

    def _cos_sin(self, length: int, device, dtype):
        hd = self.cfg.head_dim
        inv_freq = 1.0 / (self.cfg.rope_theta ** (torch.arange(0, hd, 2, dtype=torch.float32, device=device) / hd))
        freqs = torch.arange(length, device=device, dtype=torch.float32)[:, None] * inv_freq  # (L, hd/2)
        emb = torch.cat((freqs, freqs), dim=-1)  # (L, hd)
        return emb.cos().to(dtype), emb.sin().to(dtype)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (B, L) right-padded -> (B, L, hidden); rows past a prompt's length are meaningless."""
        x = self.embed_tokens(ids)  # (B, L, hidden)
        cos, sin = self._cos_sin(ids.shape[1], ids.device, x.dtype)
        for layer in self.layers:
            x = layer(x, cos, sin)
        return x

    @torch.no_grad()
    def encode(self, token_lists: list[list[int]]) -> list[torch.Tensor]:
        """B token id lists -> B feature matrices (L_i, hidden), valid tokens only."""
        dev = self.embed_tokens.weight.device
        longest = max(len(t) for t in token_lists)
        ids = torch.zeros(len(token_lists), longest, dtype=torch.long)
        for i, toks in enumerate(token_lists):
            ids[i, : len(toks)] = torch.tensor(toks, dtype=torch.long)
        feats = self(ids.to(dev))  # (B, Lmax, hidden)
        return [feats[i, : len(toks)] for i, toks in enumerate(token_lists)]
