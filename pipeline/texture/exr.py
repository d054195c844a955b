"""OpenEXR files through the official ``OpenEXR`` bindings (ASWF): 32-bit float for height, half float for
everything else, lossless ZIP compression, one scanline part.

EXR holds scene-linear values by convention (Blender, Substance, Nuke and Unreal read it so), so colour roles
(sRGB-encoded in zpipe, e.g. the albedo) are converted to linear with the sRGB transfer function; data
maps (normal, roughness, AO, packed maps) are written as stored, in [0, 1]. Channels: 1 → ``Y``,
2 → ``Y`` ``A``, 3 → ``R`` ``G`` ``B``, 4 → ``R`` ``G`` ``B`` ``A``.
"""

from __future__ import annotations

import io

import numpy as np

CHANNELS = {1: ("Y",), 2: ("Y", "A"), 3: ("R", "G", "B"), 4: ("R", "G", "B", "A")}
FLOAT_ROLES = frozenset({"height"})  # 32-bit: a half float has 11 bits of mantissa, too few for displacement


def srgb_to_linear(values: np.ndarray) -> np.ndarray:
    """The sRGB transfer function (IEC 61966-2-1), encoded [0, 1] -> linear [0, 1]."""
    v = np.clip(np.asarray(values, np.float32), 0.0, 1.0)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4).astype(np.float32)


def encode_exr(image: np.ndarray, role: str, srgb: bool) -> tuple[bytes, dict]:
    """(EXR bytes, file info) for an (H, W, C) float image; ``srgb`` says the values are sRGB-encoded."""
    try:
        import OpenEXR  # noqa: PLC0415 - only exports that ask for EXR load it
    except ImportError:
        raise ValueError("EXR export needs the OpenEXR package: pip install openexr") from None
    img = np.asarray(image, np.float32)
    c = img.shape[2]
    if srgb:
        img = np.concatenate([srgb_to_linear(img[..., :3]), img[..., 3:]], axis=2) if c >= 3 else srgb_to_linear(img)
    dtype = np.float32 if role in FLOAT_ROLES else np.float16
    names = CHANNELS[c]
    channels = {n: np.ascontiguousarray(img[..., i].astype(dtype)) for i, n in enumerate(names)}
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    buf = io.BytesIO()
    OpenEXR.File(header, channels).write(buf)
    info = {"bits": 32 if dtype == np.float32 else 16, "channels": c, "colour_space": "linear",
            "pixel_type": "float" if dtype == np.float32 else "half", "exr_channels": list(names)}
    if srgb:
        info["converted_from"] = "srgb"
    return buf.getvalue(), info


def decode_exr(data: bytes) -> np.ndarray:
    """EXR bytes -> float32 (H, W, C) with channels in :data:`CHANNELS` order (values as stored: linear)."""
    import OpenEXR  # noqa: PLC0415

    chans = OpenEXR.File(io.BytesIO(data), separate_channels=True).channels()
    for names in CHANNELS.values():
        if set(names) == set(chans):
            return np.stack([np.asarray(chans[n].pixels, np.float32) for n in names], axis=2)
    raise ValueError(f"EXR channels {sorted(chans)} are not Y, YA, RGB or RGBA")
