"""Loading any image Pillow opens as float32 RGB for the glyph check."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

MAX_PIXELS = 8192 * 8192  # the largest image a recipe makes


def to_rgb_array(im) -> np.ndarray:
    """A Pillow image in any mode as float32 RGB (H, W, 3) in [0, 1].

    16- and 32-bit greyscale (``I;16``, ``I``, ``F``) are scaled by their bit depth, not clipped
    (``convert("RGB")`` would turn a 16-bit image white); transparency is flattened onto the
    background that contrasts with the image's own content, so white text on a clear background
    stays readable; EXIF orientation is applied.
    """
    from PIL import ImageOps

    im = ImageOps.exif_transpose(im) or im
    mode = im.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        if mode == "F":
            top = 1.0 if arr.max(initial=0.0) <= 1.0 else float(arr.max())
        elif mode.startswith("I;16"):
            top = 65535.0
        else:
            top = 65535.0 if arr.max(initial=0) > 255 else 255.0
        grey = np.clip(arr / top, 0.0, 1.0).astype(np.float32)
        return np.repeat(grey[..., None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in im.info):
        rgba = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0
        alpha = rgba[..., 3:4]
        solid = alpha[..., 0] > 0.5
        lum = float(rgba[..., :3][solid].mean()) if solid.any() else 0.0
        backdrop = 0.0 if lum > 0.5 else 1.0
        return rgba[..., :3] * alpha + backdrop * (1.0 - alpha)
    return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0


def load_image(path: str | Path) -> np.ndarray:
    """An image file as float32 RGB (H, W, 3) in [0, 1]; ValueError naming the file when unreadable
    or larger than ``MAX_PIXELS`` (a tiny file may declare gigapixels: a decompression bomb)."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise ValueError(f"image not found: {p}")
    too_big = f"{p} declares more than the {MAX_PIXELS:,} pixels that a poster check reads (a decompression bomb?)"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the size is checked here
            with Image.open(p) as im:
                if im.width * im.height > MAX_PIXELS:
                    raise ValueError(f"{too_big}: {im.width}x{im.height}; check a smaller image")
                im.seek(0)  # the first frame of an animation or a multi-page file
                return to_rgb_array(im)
    except Image.DecompressionBombError:
        raise ValueError(f"{too_big}; check a smaller image") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"{p} is not an image Pillow can read ({exc}); use PNG, JPEG or WebP") from None
