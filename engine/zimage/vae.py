"""The FLUX.1 AutoencoderKL (16 latent channels, factor 8), with optional wrap-around convolutions.

Parameter names equal the diffusers checkpoint names. ``with vae.wrapping("x"):`` makes every 3x3
convolution pad circularly on the chosen axes, so a latent that tiles decodes to an image that tiles
(the encoder's stride-2 convolutions wrap too). Group norms and the mid-block attention are global and need
no change.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from zpipe.engine.zimage.configs import VAEConfig

WRAP = {"none": (False, False), "x": (True, False), "y": (False, True), "xy": (True, True)}


def _pad(x: torch.Tensor, left: int, right: int, top: int, bottom: int, wrap: tuple[bool, bool]):
    """Pad the last two dims; circular on a wrapped axis, zeros otherwise."""
    x = F.pad(x, (left, right, 0, 0), mode="circular" if wrap[0] else "constant")
    return F.pad(x, (0, 0, top, bottom), mode="circular" if wrap[1] else "constant")


class WrapConv2d(nn.Conv2d):
    """A 3x3, stride 1, padding 1 convolution whose padding can be made circular per axis."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(cin, cout, 3, padding=1)
        self.wrap = (False, False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not any(self.wrap):
            return super().forward(x)
        return F.conv2d(_pad(x, 1, 1, 1, 1, self.wrap), self.weight, self.bias)


class ResnetBlock(nn.Module):
    def __init__(self, cin: int, cout: int, groups: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps=1e-6)
        self.conv1 = WrapConv2d(cin, cout)
        self.norm2 = nn.GroupNorm(groups, cout, eps=1e-6)
        self.conv2 = WrapConv2d(cout, cout)
        self.conv_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return (x if self.conv_shortcut is None else self.conv_shortcut(x)) + h


class SelfAttention(nn.Module):
    """Single-head attention over all pixels, residual."""

    def __init__(self, ch: int, groups: int) -> None:
        super().__init__()
        self.group_norm = nn.GroupNorm(groups, ch, eps=1e-6)
        self.to_q = nn.Linear(ch, ch)
        self.to_k = nn.Linear(ch, ch)
        self.to_v = nn.Linear(ch, ch)
        self.to_out = nn.ModuleList([nn.Linear(ch, ch)])

    def forward(self, x):
        b, c, h, w = x.shape
        y = self.group_norm(x).flatten(2).transpose(1, 2)  # (B, HW, C)
        q, k, v = (m(y).unsqueeze(1) for m in (self.to_q, self.to_k, self.to_v))  # (B, 1, HW, C)
        y = F.scaled_dot_product_attention(q, k, v).squeeze(1)  # (B, HW, C)
        y = self.to_out[0](y).transpose(1, 2).reshape(b, c, h, w)
        return x + y


class MidBlock(nn.Module):
    def __init__(self, ch: int, groups: int, attention: bool) -> None:
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock(ch, ch, groups), ResnetBlock(ch, ch, groups)])
        self.attentions = nn.ModuleList([SelfAttention(ch, groups)]) if attention else None

    def forward(self, x):
        x = self.resnets[0](x)
        if self.attentions is not None:
            x = self.attentions[0](x)
        return self.resnets[1](x)


class Downsample(nn.Module):
    """Pad right/bottom by one (zeros, or wrap-around), then a stride-2 3x3 convolution."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, stride=2)
        self.wrap = (False, False)

    def forward(self, x):
        return self.conv(_pad(x, 0, 1, 0, 1, self.wrap))


class Upsample(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv = WrapConv2d(ch, ch)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class _Stage(nn.Module):
    """One resolution level: ``resnets`` then an optional resampler (names as in diffusers)."""

    def __init__(self, cin: int, cout: int, n: int, groups: int, resample: type | None, attr: str) -> None:
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock(cin if i == 0 else cout, cout, groups) for i in range(n)])
        self._attr = attr
        setattr(self, attr, nn.ModuleList([resample(cout)]) if resample else None)

    def forward(self, x):
        for r in self.resnets:
            x = r(x)
        sampler = getattr(self, self._attr)
        return sampler[0](x) if sampler is not None else x


class Encoder(nn.Module):
    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        ch, g = cfg.block_out_channels, cfg.norm_num_groups
        self.conv_in = WrapConv2d(cfg.in_channels, ch[0])
        self.down_blocks = nn.ModuleList(
            _Stage(ch[max(i - 1, 0)], c, cfg.layers_per_block, g, Downsample if i < len(ch) - 1 else None,
                   "downsamplers")
            for i, c in enumerate(ch)
        )
        self.mid_block = MidBlock(ch[-1], g, cfg.mid_block_add_attention)
        self.conv_norm_out = nn.GroupNorm(g, ch[-1], eps=1e-6)
        self.conv_out = WrapConv2d(ch[-1], 2 * cfg.latent_channels)

    def forward(self, x):
        x = self.conv_in(x)  # (B, ch0, H, W)
        for block in self.down_blocks:
            x = block(x)  # (B, ch_i, H/2^i, W/2^i)
        x = self.mid_block(x)
        return self.conv_out(F.silu(self.conv_norm_out(x)))  # (B, 2*latent, H/8, W/8)


class Decoder(nn.Module):
    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        ch, g = list(reversed(cfg.block_out_channels)), cfg.norm_num_groups
        self.conv_in = WrapConv2d(cfg.latent_channels, ch[0])
        self.mid_block = MidBlock(ch[0], g, cfg.mid_block_add_attention)
        self.up_blocks = nn.ModuleList(
            _Stage(ch[max(i - 1, 0)], c, cfg.layers_per_block + 1, g, Upsample if i < len(ch) - 1 else None,
                   "upsamplers")
            for i, c in enumerate(ch)
        )
        self.conv_norm_out = nn.GroupNorm(g, ch[-1], eps=1e-6)
        self.conv_out = WrapConv2d(ch[-1], cfg.out_channels)

    def forward(self, z):
        x = self.mid_block(self.conv_in(z))  # (B, ch_max, h, w)
        for block in self.up_blocks:
            x = block(x)  # doubles H, W except the last
        return self.conv_out(F.silu(self.conv_norm_out(x)))  # (B, 3, 8h, 8w)


class AutoencoderKL(nn.Module):
    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)

    @property
    def dtype(self) -> torch.dtype:
        return self.decoder.conv_in.weight.dtype

    @contextlib.contextmanager
    def wrapping(self, tile: str) -> Iterator[None]:
        """Make the convolutions wrap around on the axes of ``tile`` (none | x | y | xy) inside the block."""
        wrap = WRAP[tile]
        mods = [m for m in self.modules() if isinstance(m, (WrapConv2d, Downsample))]
        for m in mods:
            m.wrap = wrap
        try:
            yield
        finally:
            for m in mods:
                m.wrap = (False, False)

    def encode_moments(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, 3, H, W) in [-1, 1] -> mean, logvar (B, latent, H/8, W/8); logvar clamped to [-30, 20]."""
        mean, logvar = self.encoder(x).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Raw VAE latents (B, latent, h, w) -> images (B, 3, 8h, 8w) in about [-1, 1]."""
        return self.decoder(z)

    @torch.no_grad()
    def decode_tiled(self, z: torch.Tensor, tile: int = 96, overlap: int = 32, tile_mode: str = "none"):
        """Decode a large latent in overlapping tiles of ``tile`` latent pixels, blended with linear ramps
        over ``overlap``: memory stays that of one tile. An approximation (the mid-block attention and the
        convolutions near tile borders see less context), like every tiled VAE decode.

        On wrapped axes the latent is first padded circularly by ``overlap``, so the wrap edge is decoded
        with real context and the image still tiles; tiles themselves use ordinary padding.
        """
        wrap = WRAP[tile_mode]
        m, f = overlap, self.cfg.downscale
        if wrap[0]:
            z = F.pad(z, (m, m, 0, 0), mode="circular")
        if wrap[1]:
            z = F.pad(z, (0, 0, m, m), mode="circular")
        b, _, h, w = z.shape
        out = torch.zeros(b, self.cfg.out_channels, h * f, w * f, device=z.device)
        acc = torch.zeros(1, 1, h * f, w * f, device=z.device)

        def starts(n: int) -> list[int]:
            return [0] if n <= tile else sorted({*range(0, n - tile, tile - overlap), n - tile})

        def ramp(n: int, lead: bool, trail: bool) -> torch.Tensor:
            r = torch.ones(n, device=z.device)
            k = min(overlap * f, n)
            up = (torch.arange(k, device=z.device) + 0.5) / k
            if lead:
                r[:k] = up
            if trail:
                r[n - k :] = torch.minimum(r[n - k :], up.flip(0))
            return r

        for y in starts(h):
            for x in starts(w):
                piece = self.decode(z[..., y : y + tile, x : x + tile]).float()  # (B, 3, th*f, tw*f)
                ph, pw = piece.shape[-2:]
                weight = ramp(ph, y > 0, y + tile < h)[:, None] * ramp(pw, x > 0, x + tile < w)[None, :]
                out[..., y * f : y * f + ph, x * f : x * f + pw] += piece * weight
                acc[..., y * f : y * f + ph, x * f : x * f + pw] += weight
        out = out / acc
        if wrap[0]:
            out = out[..., m * f : out.shape[-1] - m * f]
        if wrap[1]:
            out = out[..., m * f : out.shape[-2] - m * f, :]
        return out

    def to_model_latents(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.cfg.shift_factor) * self.cfg.scaling_factor

    def from_model_latents(self, z: torch.Tensor) -> torch.Tensor:
        return z / self.cfg.scaling_factor + self.cfg.shift_factor
