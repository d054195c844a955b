"""DDS files (DirectDraw Surface) with a DX10 header: uncompressed and block-compressed.

Supported pixel formats (DXGI names):

- uncompressed, always: ``R8_UNORM`` (1 channel), ``R8G8_UNORM`` (2), ``R8G8B8A8_UNORM`` /
  ``R8G8B8A8_UNORM_SRGB`` (3-4, RGB is padded with alpha 255), ``R16_UNORM`` (16-bit height);
- block-compressed, when the ``etcpak`` package is installed: BC1, BC3, BC7 (colour, with the
  ``_SRGB`` variants for sRGB roles), BC4 (one channel) and BC5 (two channels, e.g. normal XY).

Every file holds a full mip chain unless asked not to; mips are made by the caller (wrap-filtered,
see :func:`zpipe.texture.wrap.mip_chain`). ``read_header`` parses what :func:`encode` writes, for
tests and tools. Block-compressed levels smaller than 4x4 are padded by wrap-around to one block.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from zpipe.texture.formats import to_uint

# DXGI format ids (dxgiformat.h)
DXGI = {
    "r8": 61, "rg8": 49, "rgba8": 28, "rgba8_srgb": 29, "r16": 56,
    "bc1": 71, "bc1_srgb": 72, "bc3": 77, "bc3_srgb": 78, "bc4": 80, "bc5": 83, "bc7": 98, "bc7_srgb": 99,
}
DXGI_NAMES = {v: k for k, v in DXGI.items()}
BLOCK_BYTES = {"bc1": 8, "bc4": 8, "bc3": 16, "bc5": 16, "bc7": 16}
PIXEL_BYTES = {"r8": 1, "rg8": 2, "rgba8": 4, "r16": 2}

_DDSD_CAPS, _DDSD_HEIGHT, _DDSD_WIDTH, _DDSD_PITCH = 0x1, 0x2, 0x4, 0x8
_DDSD_PIXELFORMAT, _DDSD_MIPMAPCOUNT, _DDSD_LINEARSIZE = 0x1000, 0x20000, 0x80000
_DDSCAPS_COMPLEX, _DDSCAPS_TEXTURE, _DDSCAPS_MIPMAP = 0x8, 0x1000, 0x400000
_DDPF_FOURCC = 0x4


def _etcpak():
    try:
        import etcpak  # noqa: PLC0415 - optional dependency
    except ImportError:
        return None
    return etcpak


def compressed_available() -> bool:
    """True when block compression (BC1/3/4/5/7) is available (the ``etcpak`` package)."""
    return _etcpak() is not None


def base_format(fmt: str) -> str:
    """``bc7_srgb`` -> ``bc7``: the pixel format without its colour-space suffix."""
    return fmt[:-5] if fmt.endswith("_srgb") else fmt


def _pad_block(level: np.ndarray) -> np.ndarray:
    h, w = level.shape[:2]
    ph, pw = (-h) % 4, (-w) % 4
    if ph or pw:
        reps = (int(np.ceil((h + ph) / h)), int(np.ceil((w + pw) / w)), 1)
        level = np.tile(level, reps)[: h + ph, : w + pw]
    return level


def encode_level(level: np.ndarray, fmt: str) -> bytes:
    """One mip level, float (h, w, c) in [0, 1], as the bytes of ``fmt`` (shared with KTX2 export)."""
    base = base_format(fmt)
    c = level.shape[2]
    if base == "r16":
        return to_uint(level[..., :1], 16).astype("<u2").tobytes()
    if base == "r8":
        return to_uint(level[..., :1], 8).tobytes()
    if base == "rg8":
        two = level[..., :2] if c >= 2 else np.repeat(level, 2, axis=2)
        return to_uint(two, 8).tobytes()
    rgba = _to_rgba8(level)
    if base == "rgba8":
        return rgba.tobytes()
    etcpak = _etcpak()
    if etcpak is None:
        raise ValueError(f"DDS {base.upper()} needs the 'etcpak' package; use dds_format rgba8 or install etcpak")
    block = np.ascontiguousarray(_pad_block(rgba))  # etcpak's BCn encoders read RGBA rows
    h, w = block.shape[:2]
    if base == "bc1":
        return etcpak.compress_bc1(block.tobytes(), w, h)
    if base == "bc3":
        return etcpak.compress_bc3(block.tobytes(), w, h)
    if base == "bc4":
        return etcpak.compress_bc4(block.tobytes(), w, h)
    if base == "bc5":
        return etcpak.compress_bc5(block.tobytes(), w, h)
    if base == "bc7":
        return etcpak.compress_bc7(block.tobytes(), w, h, None)
    raise ValueError(f"unknown DDS format {fmt!r}")


def _to_rgba8(level: np.ndarray) -> np.ndarray:
    c = level.shape[2]
    u = to_uint(level, 8)
    if c == 1:
        u = np.concatenate([u, u, u, np.full_like(u, 255)], axis=2)
    elif c == 2:
        u = np.concatenate([u, np.zeros_like(u[..., :1]), np.full_like(u[..., :1], 255)], axis=2)
    elif c == 3:
        u = np.concatenate([u, np.full_like(u[..., :1], 255)], axis=2)
    return np.ascontiguousarray(u)


def encode(levels: list[np.ndarray], fmt: str) -> bytes:
    """A DDS file holding ``levels`` (level 0 first, each half the previous) in pixel format ``fmt``."""
    if fmt not in DXGI:
        raise ValueError(f"unknown DDS format {fmt!r}; choose one of {', '.join(DXGI)}")
    h, w = levels[0].shape[:2]
    base = base_format(fmt)
    compressed = base in BLOCK_BYTES
    if compressed:
        pitch = max(1, (w + 3) // 4) * BLOCK_BYTES[base]
        size_flag = _DDSD_LINEARSIZE
        pitch_or_size = pitch * max(1, (h + 3) // 4)
    else:
        pitch_or_size = w * PIXEL_BYTES[base]
        size_flag = _DDSD_PITCH
    flags = _DDSD_CAPS | _DDSD_HEIGHT | _DDSD_WIDTH | _DDSD_PIXELFORMAT | size_flag
    caps = _DDSCAPS_TEXTURE
    if len(levels) > 1:
        flags |= _DDSD_MIPMAPCOUNT
        caps |= _DDSCAPS_COMPLEX | _DDSCAPS_MIPMAP
    pixelformat = struct.pack("<II4s5I", 32, _DDPF_FOURCC, b"DX10", 0, 0, 0, 0, 0)
    header = struct.pack("<7I44x", 124, flags, h, w, pitch_or_size, 0, len(levels)) + pixelformat
    header += struct.pack("<4I4x", caps, 0, 0, 0)
    assert len(header) == 124
    # DX10 header: dxgiFormat, resourceDimension (3 = TEXTURE2D), miscFlag, arraySize, miscFlags2
    # (alpha mode: 3 = opaque when the source has no alpha, 0 = unknown otherwise)
    alpha_mode = 0 if levels[0].shape[2] in (2, 4) else 3
    dx10 = struct.pack("<5I", DXGI[fmt], 3, 0, 1, alpha_mode)
    body = b"".join(encode_level(np.asarray(lv, dtype=np.float32), fmt) for lv in levels)
    return b"DDS " + header + dx10 + body


@dataclass
class DdsInfo:
    width: int
    height: int
    mip_count: int
    format: str  # key of DXGI
    data_size: int

    @property
    def channels(self) -> int:
        return channel_count(self.format)

    @property
    def bits(self) -> int:
        return bit_depth(self.format)

    @property
    def srgb(self) -> bool:
        return self.format.endswith("_srgb")


def channel_count(fmt: str) -> int:
    """Channels a file in pixel format ``fmt`` holds (shared with KTX2 export)."""
    return {"r8": 1, "r16": 1, "bc4": 1, "rg8": 2, "bc5": 2}.get(base_format(fmt), 4)


def bit_depth(fmt: str) -> int:
    """Bits per channel of pixel format ``fmt``."""
    return 16 if base_format(fmt) == "r16" else 8


def level_sizes(width: int, height: int, mip_count: int, fmt: str) -> list[int]:
    """Bytes of each level (level 0 first); block formats round up to whole 4x4 blocks."""
    base = base_format(fmt)
    out = []
    for i in range(mip_count):
        w, h = max(1, width >> i), max(1, height >> i)
        if base in BLOCK_BYTES:
            out.append(((w + 3) // 4) * ((h + 3) // 4) * BLOCK_BYTES[base])
        else:
            out.append(w * h * PIXEL_BYTES[base])
    return out


def read_header(data: bytes) -> DdsInfo:
    """Parse and validate a DDS file written by :func:`encode` (DX10 header)."""
    if data[:4] != b"DDS " or struct.unpack_from("<I", data, 4)[0] != 124:
        raise ValueError("not a DDS file")
    _, _, height, width, _, _, mips = struct.unpack_from("<7I", data, 4)
    fourcc = data[84:88]  # DDS_PIXELFORMAT.dwFourCC
    if fourcc != b"DX10":
        raise ValueError("DDS file without a DX10 header")
    dxgi = struct.unpack_from("<I", data, 128)[0]
    fmt = DXGI_NAMES.get(dxgi)
    if fmt is None:
        raise ValueError(f"unsupported DXGI format {dxgi}")
    mips = max(1, mips)
    expected = sum(level_sizes(width, height, mips, fmt))
    size = len(data) - 148
    if size != expected:
        raise ValueError(f"DDS data is {size} bytes, expected {expected}")
    return DdsInfo(width, height, mips, fmt, size)


def decode_uncompressed(data: bytes, level: int = 0) -> np.ndarray:
    """Pixels of one level of an uncompressed DDS written by :func:`encode`, as uint8/uint16 (h, w, c)."""
    info = read_header(data)
    base = base_format(info.format)
    if base in BLOCK_BYTES:
        raise ValueError("block-compressed DDS: decode with a BCn decoder")
    sizes = level_sizes(info.width, info.height, info.mip_count, info.format)
    start = 148 + sum(sizes[:level])
    w, h = max(1, info.width >> level), max(1, info.height >> level)
    dtype = np.dtype("<u2") if base == "r16" else np.uint8
    c = {"r8": 1, "r16": 1, "rg8": 2, "rgba8": 4}[base]
    return np.frombuffer(data, dtype=dtype, count=w * h * c, offset=start).reshape(h, w, c)
