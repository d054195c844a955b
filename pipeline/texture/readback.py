"""Texture files read back to float32 arrays: for the contact sheet, export's round-trip check and tests.

Kept apart from the encoders in :mod:`zpipe.texture.formats` because it reads every format, DDS included,
and :mod:`zpipe.texture.dds` itself builds on the encoders' helpers.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

from zpipe.texture import dds


def decode(data: bytes, name: str = "") -> np.ndarray:
    """Read an image file's bytes back to float32 (H, W, C) in [0, 1] (8/16-bit PNG, JPEG, WebP, TGA, DDS, EXR).

    Colour-space tags are ignored: values come back as stored. Block-compressed DDS needs Pillow's
    decoder (BC1 sRGB is not supported there).
    """
    lower = name.lower()
    if lower.endswith(".exr") or data[:4] == b"\x76\x2f\x31\x01":
        from zpipe.texture.exr import decode_exr  # noqa: PLC0415 - OpenEXR loads only for EXR files

        return decode_exr(data)  # linear values (colour roles were converted at export)
    if lower.endswith(".dds"):
        info = dds.read_header(data)
        if info.format in ("r8", "rg8", "rgba8", "rgba8_srgb", "r16"):
            raw = dds.decode_uncompressed(data)
            return (raw.astype(np.float32) / (65535.0 if raw.dtype == np.uint16 else 255.0)).astype(np.float32)
    if lower.endswith(".png") or data[:8] == b"\x89PNG\r\n\x1a\n":
        arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if arr is not None:
            scale = 65535.0 if arr.dtype == np.uint16 else 255.0
            arr = arr.astype(np.float32) / scale
            if arr.ndim == 2:
                return arr[..., None]
            if arr.shape[2] == 3:
                return np.ascontiguousarray(arr[..., ::-1])
            return np.ascontiguousarray(arr[..., [2, 1, 0, 3]])
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        if im.mode not in ("L", "LA", "RGB", "RGBA"):
            im = im.convert("RGBA" if "A" in im.mode else "RGB")
        arr = np.asarray(im, dtype=np.float32) / 255.0
    return arr[..., None] if arr.ndim == 2 else arr
