"""The S3-DiT of Z-Image: a single-stream diffusion transformer over [image tokens ; caption tokens].

Parameter names equal the diffusers checkpoint names, so a state dict loads without renaming.

The forward is split in two so that the denoise loop does the least work per step:

* :meth:`ZImageDiT.prepare` runs once per batch: it embeds the captions, runs the context refiner (which
  does not depend on the timestep), builds the RoPE rows and the attention masks. Everything data-dependent
  (caption lengths) is resolved here on the host.
* :meth:`ZImageDiT.forward` runs per step on a fixed-shape batch and never syncs with the host.

A batch holds latents of one size; captions may differ in length. The unified sequence of sample i is
[image tokens (Np) ; caption tokens (Lp_i) ; batch padding], where Np and Lp_i are the token counts rounded
up to a multiple of 32 and filled with the learned pad tokens (the pad slots are attended, like the
reference). Only batch padding is masked, and only when the caption lengths differ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from zpipe.engine.zimage.configs import DiTConfig
from zpipe.engine.zimage.layers import Linear, RMSNorm, register_compiled_ops, sdpa
from zpipe.engine.zimage.rope import (
    Rope,
    apply_rope,
    default_mode,
    fused,
    make_rope,
    norm_rotate_qk,
    rope_cos_sin,
)

TILE_PERIODIC_AXES = {"none": (), "x": (2,), "y": (1,), "xy": (1, 2)}


def ceil_to(n: int, multiple: int) -> int:
    return n + (-n) % multiple


class TimestepEmbedder(nn.Module):
    def __init__(self, out_dim: int, mid_dim: int, freq_dim: int = 256) -> None:
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(Linear(freq_dim, mid_dim), nn.SiLU(), Linear(mid_dim, out_dim))

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        """s (B,) already multiplied by t_scale -> (B, out_dim). The sinusoid is fp32, cos first."""
        half = self.freq_dim // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=s.device) / half)
        args = s.float()[:, None] * freqs[None]  # (B, half)
        emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)  # (B, freq_dim)
        return self.mlp(emb.to(self.mlp[0].weight.dtype))


def _fused_linear(parts: list[nn.Linear]) -> nn.Linear:
    """Bias-free Linears with one input -> one Linear whose output rows are the parts' rows, in order."""
    w = torch.cat([p.weight.detach() for p in parts])  # (sum out, in)
    fused = Linear(w.shape[1], w.shape[0], bias=False, device="meta")
    fused.weight = nn.Parameter(w, requires_grad=False)
    return fused


class Attention(nn.Module):
    def __init__(self, dim: int, n_heads: int, qk_norm_eps: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        head_dim = dim // n_heads
        self.to_q = Linear(dim, dim, bias=False)
        self.to_k = Linear(dim, dim, bias=False)
        self.to_v = Linear(dim, dim, bias=False)
        self.to_out = nn.ModuleList([Linear(dim, dim, bias=False)])
        self.norm_q = RMSNorm(head_dim, qk_norm_eps)
        self.norm_k = RMSNorm(head_dim, qk_norm_eps)
        self.qkv: nn.Linear | None = None  # set by fuse(): one (3D, D) GEMM instead of three

    def fuse(self) -> None:
        self.qkv = _fused_linear([self.to_q, self.to_k, self.to_v])
        del self.to_q, self.to_k, self.to_v

    def forward(self, x, rope: Rope, mask):
        """x (B, L, D), rope tables for L positions, mask (B, 1, 1, L) bool or None -> (B, L, D)."""
        if self.qkv is not None:
            q, k, v = self.qkv(x).chunk(3, dim=-1)  # (B, L, D) each
        else:
            q, k, v = self.to_q(x), self.to_k(x), self.to_v(x)
        q, k, v = (t.unflatten(-1, (self.n_heads, -1)) for t in (q, k, v))  # (B, L, H, hd)
        wq, wk = self.norm_q.weight, self.norm_k.weight
        if rope[3] and q.dtype == wq.dtype and not torch.compiler.is_compiling():  # eager CUDA: one region
            q, k = fused(norm_rotate_qk)(q, k, wq, wk, self.norm_q.eps, rope[0], rope[1])
        else:
            q, k = apply_rope(self.norm_q(q), rope), apply_rope(self.norm_k(k), rope)
        out = sdpa(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), mask)  # (B, H, L, hd)
        return self.to_out[0](out.transpose(1, 2).flatten(2))  # (B, L, D)


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.w1 = Linear(dim, hidden, bias=False)
        self.w2 = Linear(hidden, dim, bias=False)
        self.w3 = Linear(dim, hidden, bias=False)
        self.w13: nn.Linear | None = None  # set by fuse()

    def fuse(self) -> None:
        self.w13 = _fused_linear([self.w1, self.w3])
        del self.w1, self.w3

    def forward(self, x):
        if self.w13 is not None:
            gate, up = self.w13(x).chunk(2, dim=-1)  # (B, L, F) each
            return self.w2(F.silu(gate) * up)
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    """Sandwich-norm block; with ``modulation`` the residual branches get scale-only adaLN and tanh gates."""

    def __init__(self, cfg: DiTConfig, modulation: bool) -> None:
        super().__init__()
        d = cfg.dim
        self.attention = Attention(d, cfg.n_heads, cfg.qk_norm_eps)
        self.feed_forward = FeedForward(d, cfg.ffn_dim)
        self.attention_norm1 = RMSNorm(d, cfg.norm_eps)
        self.attention_norm2 = RMSNorm(d, cfg.norm_eps)
        self.ffn_norm1 = RMSNorm(d, cfg.norm_eps)
        self.ffn_norm2 = RMSNorm(d, cfg.norm_eps)
        self.modulation = modulation
        if modulation:
            self.adaLN_modulation = nn.Sequential(Linear(cfg.t_out_dim, 4 * d))

    def forward(self, x, rope: Rope, mask, c=None):
        """x (B, L, D); c (B, adaln_dim) for modulated blocks."""
        if not self.modulation:
            x = x + self.attention_norm2(self.attention(self.attention_norm1(x), rope, mask))
            return x + self.ffn_norm2(self.feed_forward(self.ffn_norm1(x)))
        mod = self.adaLN_modulation(c).unsqueeze(1)  # (B, 1, 4D)
        scale_msa, gate_msa, scale_mlp, gate_mlp = mod.chunk(4, dim=2)  # (B, 1, D) each
        attn = self.attention(self.attention_norm1(x) * (1.0 + scale_msa), rope, mask)
        x = x + gate_msa.tanh() * self.attention_norm2(attn)
        ffn = self.feed_forward(self.ffn_norm1(x) * (1.0 + scale_mlp))
        return x + gate_mlp.tanh() * self.ffn_norm2(ffn)


class FinalLayer(nn.Module):
    def __init__(self, cfg: DiTConfig) -> None:
        super().__init__()
        self.norm_final = nn.LayerNorm(cfg.dim, elementwise_affine=False, eps=1e-6)
        self.linear = Linear(cfg.dim, cfg.patch_dim)
        # Unlike the blocks, the final layer applies SiLU to c.
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), Linear(cfg.t_out_dim, cfg.dim))

    def forward(self, x, c):
        scale = 1.0 + self.adaLN_modulation(c).unsqueeze(1)  # (B, 1, D)
        return self.linear(self.norm_final(x) * scale)  # (B, L, patch_dim)


@dataclass
class Condition:
    """Step-independent inputs of one batch, built by :meth:`ZImageDiT.prepare`."""

    cap: torch.Tensor  # (B, Lc, D) refined caption tokens, batch-padded with zeros
    img_rope: Rope  # tables for (B, Np) image positions
    uni_rope: Rope  # tables for (B, Np + Lc) unified positions
    uni_mask: torch.Tensor | None  # (B, 1, 1, Np + Lc) bool, None when all captions have one length
    grid: tuple[int, int]  # image tokens (rows, cols)
    n_img: int  # real image tokens = rows * cols
    n_img_padded: int  # Np


class ZImageDiT(nn.Module):
    def __init__(self, cfg: DiTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.dim
        key = f"{cfg.patch}-{cfg.all_f_patch_size[0]}"
        self.all_x_embedder = nn.ModuleDict({key: Linear(cfg.patch_dim, d)})
        self.all_final_layer = nn.ModuleDict({key: FinalLayer(cfg)})
        self.noise_refiner = nn.ModuleList([Block(cfg, True) for _ in range(cfg.n_refiner_layers)])
        self.context_refiner = nn.ModuleList([Block(cfg, False) for _ in range(cfg.n_refiner_layers)])
        self.t_embedder = TimestepEmbedder(cfg.t_out_dim, cfg.t_mid_dim)
        self.cap_embedder = nn.Sequential(RMSNorm(cfg.cap_feat_dim, cfg.norm_eps), Linear(cfg.cap_feat_dim, d))
        self.x_pad_token = nn.Parameter(torch.zeros(1, d))
        self.cap_pad_token = nn.Parameter(torch.zeros(1, d))
        self.layers = nn.ModuleList([Block(cfg, True) for _ in range(cfg.n_layers)])
        self._key = key
        # How RoPE runs (rope.ROPE_MODES); None: by the device at prepare (rope.default_mode). Compiled blocks
        # use the real form, which Inductor fuses into them (compile_blocks).
        self.rope_mode: str | None = None

    @property
    def dtype(self) -> torch.dtype:
        return self.x_pad_token.dtype

    def compile_blocks(self, **kwargs) -> None:
        """torch.compile every modulated block (regional compile: one graph per block shape, reused by all
        30 layers). Switches RoPE to the real-valued form that Inductor can fuse."""
        self.rope_mode = "real"
        register_compiled_ops()
        for block in [*self.noise_refiner, *self.layers]:
            block.compile(**kwargs)

    @torch.no_grad()
    def fuse_projections(self) -> None:
        """Fuse q/k/v and w1/w3 into single GEMMs (same math, fewer and larger matmuls).

        Call after loading and LoRA merging: the state dict then has ``qkv``/``w13`` names.
        """
        for block in [*self.noise_refiner, *self.context_refiner, *self.layers]:
            if block.attention.qkv is None:
                block.attention.fuse()
                block.feed_forward.fuse()

    def _rope(self, pos: torch.Tensor, tile: str, grid: tuple[int, int]):
        periods: list[int | None] = [None] * len(self.cfg.axes_dims)
        for axis in TILE_PERIODIC_AXES[tile]:
            periods[axis] = grid[axis - 1]
        return rope_cos_sin(pos, self.cfg.axes_dims, self.cfg.rope_theta, periods)

    @torch.no_grad()
    def prepare(self, caps: list[torch.Tensor], grid: tuple[int, int], tile: str = "none") -> Condition:
        """caps: B caption features (L_i, cap_feat_dim); grid: image tokens (rows, cols) = latent (h/2, w/2)."""
        cfg, dev = self.cfg, self.x_pad_token.device
        pad_to = cfg.seq_multiple  # captions and image tokens are padded to a multiple of this
        rows, cols = grid
        if any(len(c) == 0 for c in caps):
            raise ValueError("every caption needs at least one token")
        lens = [len(c) for c in caps]
        padded = [ceil_to(n, pad_to) for n in lens]  # Lp_i
        lc = max(padded)
        n_img = rows * cols
        n_img_p = ceil_to(n_img, pad_to)
        batch = len(caps)
        if lc + 1 >= cfg.axes_lens[0] or rows > cfg.axes_lens[1] or cols > cfg.axes_lens[2]:
            raise ValueError(f"caption of {max(lens)} tokens or image grid {rows}x{cols} exceeds the RoPE tables")

        # Caption tokens: embed, fill [L_i, Lp_i) with the pad token, zero batch padding.
        emb = self.cap_embedder(torch.cat(caps).to(dev, self.dtype))  # (sum L_i, D)
        cap = self.cap_pad_token.new_zeros(batch, lc, cfg.dim)  # (B, Lc, D)
        cap_pos = torch.zeros(batch, lc, 3, dtype=torch.int64, device=dev)
        img_pos = torch.zeros(batch, n_img_p, 3, dtype=torch.int64, device=dev)
        rr, cc = torch.meshgrid(torch.arange(rows, device=dev), torch.arange(cols, device=dev), indexing="ij")
        start = 0
        for i, (n, p) in enumerate(zip(lens, padded, strict=True)):
            cap[i, :n] = emb[start : start + n]
            cap[i, n:p] = self.cap_pad_token
            start += n
            cap_pos[i, :p, 0] = torch.arange(1, p + 1, device=dev)  # pad slots continue the sequence
            img_pos[i, :n_img, 0] = p + 1
            img_pos[i, :n_img, 1] = rr.flatten()
            img_pos[i, :n_img, 2] = cc.flatten()  # image pad slots stay at (0, 0, 0)

        cap_cos, cap_sin = self._rope(cap_pos, tile, grid)  # (B, Lc, hd/2)
        img_cos, img_sin = self._rope(img_pos, tile, grid)  # (B, Np, hd/2)
        same = len(set(padded)) == 1
        valid = torch.arange(lc, device=dev)[None] < torch.tensor(padded, device=dev)[:, None]  # (B, Lc)
        cap_mask = None if same else valid[:, None, None, :]
        mode = self.rope_mode or default_mode(dev.type)
        for block in self.context_refiner:
            cap = block(cap, make_rope(cap_cos, cap_sin, mode), cap_mask)
        uni_mask = None
        if not same:
            img_valid = torch.ones(batch, n_img_p, dtype=torch.bool, device=dev)
            uni_mask = torch.cat([img_valid, valid], dim=1)[:, None, None, :]  # (B, 1, 1, Np + Lc)
        return Condition(
            cap=cap,
            img_rope=make_rope(img_cos, img_sin, mode),
            uni_rope=make_rope(torch.cat([img_cos, cap_cos], dim=1), torch.cat([img_sin, cap_sin], dim=1), mode),
            uni_mask=uni_mask,
            grid=grid,
            n_img=n_img,
            n_img_padded=n_img_p,
        )

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) -> (B, h/2 * w/2, 4C); tokens row-major, inside a token (ph, pw, C), C fastest."""
        b, c, h, w = x.shape
        p = self.cfg.patch
        x = x.view(b, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1)  # (B, h/p, w/p, p, p, C)
        return x.reshape(b, (h // p) * (w // p), p * p * c)

    def unpatchify(self, x: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        """(B, rows*cols, p*p*C) -> (B, C, rows*p, cols*p)."""
        b, p, c = x.shape[0], self.cfg.patch, self.cfg.in_channels
        rows, cols = grid
        x = x.view(b, rows, cols, p, p, c).permute(0, 5, 1, 3, 2, 4)  # (B, C, rows, p, cols, p)
        return x.reshape(b, c, rows * p, cols * p)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: Condition) -> torch.Tensor:
        """x (B, C, h, w) in the model dtype, t (B,) in [0, 1] (1 = clean) -> (B, C, h, w), the model's
        prediction (x0 - noise, i.e. minus the flow velocity in sigma)."""
        b = x.shape[0]
        c = self.t_embedder(t * self.cfg.t_scale).to(x.dtype)  # (B, adaln_dim)
        tokens = self.all_x_embedder[self._key](self.patchify(x))  # (B, N, D)
        pad = cond.n_img_padded - cond.n_img
        if pad:
            tokens = torch.cat([tokens, self.x_pad_token.expand(b, pad, -1)], dim=1)  # (B, Np, D)
        for block in self.noise_refiner:  # image tokens only: one length for the whole batch, no mask
            tokens = block(tokens, cond.img_rope, None, c)
        u = torch.cat([tokens, cond.cap], dim=1)  # (B, Np + Lc, D)
        for block in self.layers:
            u = block(u, cond.uni_rope, cond.uni_mask, c)
        out = self.all_final_layer[self._key](u[:, : cond.n_img], c)  # (B, N, p*p*C)
        return self.unpatchify(out, cond.grid)
