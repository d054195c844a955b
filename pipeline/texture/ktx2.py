"""KTX 2.0 files (Khronos) holding BCn blocks or uncompressed pixels, with a mip chain.

The pixel formats are those of :mod:`zpipe.texture.dds` (same names, same block encoder: ``etcpak``),
stored under their Vulkan format: BC1 (``BC1_RGB``: etcpak writes opaque blocks), BC3, BC7 with an
``_SRGB`` variant for colour roles, BC4 and BC5 (UNORM), and uncompressed R8, R8G8, R8G8B8A8
(UNORM/SRGB) and R16 for height. Basis Universal (ETC1S/UASTC) files come from :mod:`zpipe.texture.basisu`.

Layout (KTX 2.0 specification, section 3): identifier, header, index, level index (level 0 first),
Data Format Descriptor, key/value data (``KTXorientation`` and ``KTXwriter``), then the mip levels
stored smallest first, each aligned to lcm(texel block size, 4). No supercompression.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from math import lcm

import numpy as np

from zpipe.texture.dds import BLOCK_BYTES, PIXEL_BYTES, base_format, encode_level

IDENTIFIER = b"\xabKTX 20\xbb\r\n\x1a\n"

# VkFormat values (vulkan_core.h)
VK_FORMAT = {
    "r8": 9, "rg8": 16, "rgba8": 37, "rgba8_srgb": 43, "r16": 70,
    "bc1": 131, "bc1_srgb": 132, "bc3": 137, "bc3_srgb": 138, "bc4": 139, "bc5": 141,
    "bc7": 145, "bc7_srgb": 146,
}
VK_NAMES = {v: k for k, v in VK_FORMAT.items()}

# Khronos Data Format: colour models, channel ids, transfer functions, the LINEAR sample qualifier
_MODEL_RGBSDA = 1
_BLOCK_MODEL = {"bc1": 128, "bc3": 130, "bc4": 131, "bc5": 132, "bc7": 134}
_ALPHA = 15  # RGBSDA alpha; also BC3's alpha channel
# (channel id, bit offset, bit length) of each sample
_BLOCK_SAMPLES = {"bc1": [(0, 0, 64)], "bc3": [(_ALPHA, 0, 64), (0, 64, 64)], "bc4": [(0, 0, 64)],
                  "bc5": [(0, 0, 64), (1, 64, 64)], "bc7": [(0, 0, 128)]}
_PIXEL_SAMPLES = {"r8": [(0, 0, 8)], "rg8": [(0, 0, 8), (1, 8, 8)], "r16": [(0, 0, 16)],
                  "rgba8": [(0, 0, 8), (1, 8, 8), (2, 16, 8), (_ALPHA, 24, 8)]}
_TRANSFER_LINEAR, _TRANSFER_SRGB = 1, 2
_PRIMARIES_BT709 = 1
_QUALIFIER_LINEAR = 0x1  # in the sample's top 4 bits: this sample is linear even in an sRGB format

WRITER = "zpipe"


def _dfd(fmt: str) -> bytes:
    """The Data Format Descriptor (one basic descriptor block) of ``fmt``."""
    base, srgb = base_format(fmt), fmt.endswith("_srgb")
    if base in BLOCK_BYTES:
        model, samples, dims, plane = _BLOCK_MODEL[base], _BLOCK_SAMPLES[base], 3 | (3 << 8), BLOCK_BYTES[base]
    else:
        model, samples, dims, plane = _MODEL_RGBSDA, _PIXEL_SAMPLES[base], 0, PIXEL_BYTES[base]
    block_size = 24 + 16 * len(samples)
    words = [0,  # vendorId 0 (Khronos), descriptorType 0 (basic)
             2 | (block_size << 16),  # versionNumber 2 (KDF 1.3)
             model | (_PRIMARIES_BT709 << 8) | ((_TRANSFER_SRGB if srgb else _TRANSFER_LINEAR) << 16),
             dims, plane, 0]
    for channel, offset, bits in samples:
        qualifiers = _QUALIFIER_LINEAR if srgb and channel == _ALPHA else 0
        upper = 0xFFFFFFFF if base in BLOCK_BYTES else (1 << bits) - 1
        words += [offset | ((bits - 1) << 16) | (channel << 24) | (qualifiers << 28), 0, 0, upper]
    body = struct.pack(f"<{len(words)}I", *words)
    return struct.pack("<I", 4 + len(body)) + body


def _key_values(pairs: dict[str, str]) -> bytes:
    """Key/value data: entries sorted by key, each ``length, key NUL value NUL``, padded to 4 bytes."""
    out = b""
    for key in sorted(pairs):
        entry = key.encode() + b"\0" + pairs[key].encode() + b"\0"
        out += struct.pack("<I", len(entry)) + entry + b"\0" * (-len(entry) % 4)
    return out


def encode(levels: list[np.ndarray], fmt: str) -> bytes:
    """A KTX2 file holding ``levels`` (float (h, w, c) in [0, 1], level 0 first, each half the previous)
    in pixel format ``fmt`` (a key of :data:`VK_FORMAT`). Raises ValueError when ``fmt`` needs etcpak."""
    if fmt not in VK_FORMAT:
        raise ValueError(f"unknown KTX2 format {fmt!r}; choose one of {', '.join(VK_FORMAT)}")
    h, w = levels[0].shape[:2]
    base = base_format(fmt)
    data = [encode_level(np.asarray(lv, dtype=np.float32), fmt) for lv in levels]
    type_size = 2 if base == "r16" else 1
    align = lcm(BLOCK_BYTES.get(base) or PIXEL_BYTES[base], 4)

    dfd = _dfd(fmt)
    kvd = _key_values({"KTXorientation": "rd", "KTXwriter": WRITER})
    dfd_offset = 80 + 24 * len(levels)
    kvd_offset = dfd_offset + len(dfd)
    end = kvd_offset + len(kvd)
    offsets = [0] * len(levels)
    for i in reversed(range(len(levels))):  # smallest level first in the file
        end += -end % align
        offsets[i] = end
        end += len(data[i])
    header = IDENTIFIER + struct.pack("<9I", VK_FORMAT[fmt], type_size, w, h, 0, 0, 1, len(levels), 0)
    header += struct.pack("<4I2Q", dfd_offset, len(dfd), kvd_offset, len(kvd), 0, 0)
    for off, blob in zip(offsets, data):
        header += struct.pack("<3Q", off, len(blob), len(blob))
    head = header + dfd + kvd
    out = bytearray(end)
    out[: len(head)] = head
    for off, blob in zip(offsets, data):
        out[off: off + len(blob)] = blob
    return bytes(out)


@dataclass
class Ktx2Info:
    width: int
    height: int
    vk_format: int  # 0 for Basis Universal
    supercompression: int  # 0 none, 1 BasisLZ (ETC1S), 2 Zstandard
    levels: list[tuple[int, int]]  # (byte offset, byte length), level 0 first
    colour_model: int  # DFD colour model: 128-134 BCn, 163 ETC1S, 166 UASTC, 1 RGBSDA
    srgb: bool

    @property
    def format(self) -> str:
        return VK_NAMES.get(self.vk_format) or {163: "etc1s", 166: "uastc"}.get(self.colour_model, "unknown")


def read_header(data: bytes) -> Ktx2Info:
    """The header, level index and DFD colour model and transfer of a KTX2 file (for metrics and checks)."""
    if data[:12] != IDENTIFIER:
        raise ValueError("not a KTX2 file")
    vk, _, w, h, _, _, _, count, scheme = struct.unpack_from("<9I", data, 12)
    dfd_offset = struct.unpack_from("<I", data, 48)[0]
    levels = [struct.unpack_from("<2Q", data, 80 + 24 * i) for i in range(max(1, count))]
    for off, size in levels:
        if off + size > len(data):
            raise ValueError(f"KTX2 level at {off} (+{size}) runs past the end of the file ({len(data)} bytes)")
    model_word = struct.unpack_from("<I", data, dfd_offset + 12)[0]
    return Ktx2Info(w, h, vk, scheme, [(int(o), int(s)) for o, s in levels], model_word & 0xFF,
                    (model_word >> 16) & 0xFF == _TRANSFER_SRGB)
