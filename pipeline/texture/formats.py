"""Texture file encoders (bytes out, no file I/O) and file-name rules; reading back is :mod:`zpipe.texture.readback`.

Formats: ``png`` (8-bit), ``png16`` (16-bit), ``jpeg``, ``webp``, ``tga``; ``dds`` lives in
:mod:`zpipe.texture.dds`, ``ktx2`` in :mod:`zpipe.texture.ktx2` (Basis in :mod:`zpipe.texture.basisu`),
``exr`` in :mod:`zpipe.texture.exr`. Images are float32 (H, W, C) in [0, 1] with C = 1, 2, 3 or 4.

Colour space is recorded, not converted: engine outputs (albedo, posters) are already
sRGB-encoded values and data maps (normal, height, roughness, ao, orm) hold linear values, so
export writes the values as they are, tags colour PNGs with an ``sRGB`` chunk and leaves data maps
untagged (see :func:`_tag_png`); DDS files carry it in the DXGI format (``*_SRGB`` or UNORM),
KTX2 files in the Vulkan format and the DFD's transfer function.
"""

from __future__ import annotations

import io
import re
import struct
import zlib

import cv2
import numpy as np
from PIL import Image

FORMATS = ("png", "png16", "jpeg", "webp", "tga", "dds", "ktx2", "exr")
EXTENSIONS = {"png": ".png", "png16": ".png", "jpeg": ".jpg", "webp": ".webp", "tga": ".tga", "dds": ".dds",
              "ktx2": ".ktx2", "exr": ".exr"}

# Roles whose values are sRGB-encoded colour; every other role is linear data.
SRGB_ROLES = frozenset({"albedo", "basecolor", "base_color", "diffuse", "emissive", "emission", "poster",
                        "color", "colour", "preview"})


def colour_space(role: str) -> str:
    return "srgb" if role.lower() in SRGB_ROLES else "linear"


def to_uint(image: np.ndarray, bits: int) -> np.ndarray:
    """Quantise [0, 1] floats to uint8/uint16 with rounding (and clipping)."""
    top = (1 << bits) - 1
    dtype = np.uint8 if bits == 8 else np.uint16
    arr = np.asarray(image, dtype=np.float32) * top + 0.5
    np.clip(arr, 0, top, out=arr)
    return arr.astype(dtype)


def _pil_mode(c: int) -> str:
    return {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[c]


def _as_pil(image: np.ndarray) -> Image.Image:
    arr = to_uint(image, 8)
    c = arr.shape[2]
    return Image.fromarray(arr[..., 0] if c == 1 else arr, _pil_mode(c))


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _tag_png(png: bytes, space: str) -> bytes:
    """Insert an sRGB chunk right after IHDR (signature 8 bytes + IHDR 25 bytes) for colour roles.

    Linear data maps stay untagged: a ``gAMA`` 1.0 chunk is what the PNG spec offers, but browsers and
    viewers then "correct" the values for display (normal maps look washed out) and some converters
    rewrite them, while engines ignore it; the colour space is recorded in the manifest instead.
    """
    if space != "srgb":
        return png
    chunk = _png_chunk(b"sRGB", b"\x00")  # perceptual rendering intent
    return png[:33] + chunk + png[33:]


def encode_png(image: np.ndarray, bits: int = 8, space: str = "srgb", compression: int = 1) -> bytes:
    """PNG, 8 or 16 bits per channel, 1-4 channels (grey, grey+alpha, RGB, RGBA).

    Rows use the PNG "Up" filter only: on textures it compresses as well as libpng's adaptive choice
    at zlib level 1-3 and encodes 2-3x faster (measured on 1024^2 procedural stone).
    """
    arr = to_uint(image, bits)
    c = arr.shape[2]
    if c == 2:  # OpenCV has no grey+alpha PNG: go through Pillow (8-bit) or expand to RGBA.
        arr = np.concatenate([arr[..., :1]] * 3 + [arr[..., 1:]], axis=2)
        c = 4
    if c == 3:
        arr = arr[..., ::-1]
    elif c == 4:
        arr = arr[..., [2, 1, 0, 3]]
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(arr), [cv2.IMWRITE_PNG_COMPRESSION, compression,
                                                               cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return _tag_png(buf.tobytes(), space)


def encode_jpeg(image: np.ndarray, quality: int = 92) -> bytes:
    arr = to_uint(image[..., :3] if image.shape[2] >= 3 else image[..., :1], 8)
    if arr.shape[2] == 3:
        arr = arr[..., ::-1]
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(arr), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def encode_webp(image: np.ndarray, quality: int = 90, lossless: bool = False) -> bytes:
    img = _as_pil(image)
    if img.mode in ("L", "LA"):  # WebP stores colour only
        img = img.convert("RGBA" if img.mode == "LA" else "RGB")
    out = io.BytesIO()
    img.save(out, "WEBP", quality=int(quality), lossless=bool(lossless), method=4)
    return out.getvalue()


def encode_tga(image: np.ndarray, rle: bool = True) -> bytes:
    img = _as_pil(image)
    if img.mode == "LA":
        img = img.convert("RGBA")
    out = io.BytesIO()
    img.save(out, "TGA", rle=bool(rle))
    return out.getvalue()


def encoded_channels(fmt: str, channels: int) -> int:
    """Channels a file of ``fmt`` holds for an image with ``channels`` channels."""
    if fmt == "jpeg":
        return 3 if channels >= 3 else 1
    if fmt == "webp":
        return 4 if channels in (2, 4) else 3
    if channels == 2 and fmt in ("png", "png16", "tga"):
        return 4
    return channels


# ---- file names -------------------------------------------------------------------------------

PLACEHOLDERS = ("asset", "role", "suffix")
_FIELD = re.compile(r"\{([^{}]*)\}")
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\- ]*$")


def check_naming(template: str) -> str | None:
    """An error (phrased as a fix) for a bad naming template, else None."""
    fields = _FIELD.findall(template)
    bad = [f for f in fields if f not in PLACEHOLDERS]
    if bad:
        return (f"unknown placeholder {{{bad[0]}}} in naming {template!r}; use "
                + ", ".join("{" + p + "}" for p in PLACEHOLDERS))
    if "{" in _FIELD.sub("", template) or "}" in _FIELD.sub("", template):
        return f"unbalanced braces in naming {template!r}"
    literal = _FIELD.sub("x", template)
    return check_file_name(literal, what="naming")


def check_file_name(name: str, what: str = "file name") -> str | None:
    """An error when ``name`` could leave the asset folder or is not portable, else None.

    Names are single path components: no separators, no ``..``, no leading dot, no drive letters,
    no control characters, no Windows reserved names (CON, NUL, COM1, ...), at most 150 characters.
    """
    if not name:
        return f"{what} is empty"
    if "/" in name or "\\" in name:
        return f"{what} {name!r} contains a path separator; names are plain file names inside the asset folder"
    if name in (".", "..") or name.startswith("."):
        return f"{what} {name!r} starts with a dot; use a plain name such as 'albedo'"
    if len(name) > 150:
        return f"{what} {name!r} is longer than 150 characters"
    if not _SAFE.match(name) or name.endswith((" ", ".")):
        return f"{what} {name!r} may use only letters, digits, '.', '_', '-' and spaces, starting with a letter or digit"
    if name.split(".")[0].lower().strip() in _RESERVED:
        return f"{what} {name!r} is a reserved device name on Windows"
    return None


def file_stem(template: str, asset: str, role: str, suffix: str | None = None) -> str:
    """Fill the naming template; raises ValueError with a fix when the result is not a safe name."""
    err = check_naming(template)
    if err:
        raise ValueError(err)
    stem = _FIELD.sub(lambda m: {"asset": asset, "role": role, "suffix": suffix or role}[m.group(1)], template)
    err = check_file_name(stem)
    if err:
        raise ValueError(err)
    return stem


def png_add_text(data: bytes, keyword: str, text: str) -> bytes:
    """Insert an ``iTXt`` chunk (UTF-8 text) before a PNG's IEND: provenance that travels with the file.

    PNG chunks are ``length, type, data, crc32(type + data)``; IEND is the last, empty, 12-byte chunk.
    """
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[-8:-4] != b"IEND":
        raise ValueError("not a PNG file")
    body = keyword.encode("latin-1") + b"\x00\x00\x00\x00\x00" + text.encode("utf-8")  # uncompressed, no language
    chunk = struct.pack(">I", len(body)) + b"iTXt" + body + struct.pack(">I", zlib.crc32(b"iTXt" + body))
    return data[:-12] + chunk + data[-12:]
