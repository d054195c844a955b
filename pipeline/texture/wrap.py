"""Wrap-aware (toroidal) image operations: resampling, blurring and finite differences.

A seamless texture is a function on a torus: pixel ``W-1`` is the left neighbour of pixel ``0``.
Every filter here treats the image that way, so a seamless input stays seamless. Images are
float32 (H, W, C) arrays; (H, W) arrays are accepted where noted.

Resampling pads by wrap, resizes with OpenCV and crops. The padding is chosen so that the padded
border maps onto a whole number of output pixels; then OpenCV's pixel-centre convention
``src = (dst + 0.5) / scale - 0.5`` lines the crop up exactly with true periodic resampling.
"""

from __future__ import annotations

from math import ceil, gcd

import cv2
import numpy as np

FILTERS = {
    "lanczos": cv2.INTER_LANCZOS4,
    "cubic": cv2.INTER_CUBIC,
    "linear": cv2.INTER_LINEAR,
    "area": cv2.INTER_AREA,
    "nearest": cv2.INTER_NEAREST,
}


def _pad_for(n: int, m: int, support: int) -> int:
    """Source pixels to pad on each side of an axis of length n resized to m.

    The pad covers ``support`` source pixels and maps onto a whole number of output pixels
    (``pad * m / n`` is an integer), so cropping the output is exact.
    """
    unit = n // gcd(n, m)
    return unit * max(1, ceil(support / unit))


def resize(image: np.ndarray, width: int, height: int, filter: str = "auto", wrap: bool = True) -> np.ndarray:
    """Resize ``image`` (H, W, C) or (H, W) to ``height`` x ``width``.

    ``filter`` is one of ``auto`` (Lanczos up, area down), ``lanczos``, ``cubic``, ``linear``, ``area``,
    ``nearest``. With ``wrap`` the image is treated as periodic on both axes. The result is clipped to
    [0, 1] (Lanczos overshoots a little at hard edges) and keeps the input's number of dimensions.
    """
    img = np.asarray(image, dtype=np.float32)
    squeeze = img.ndim == 2
    if squeeze:
        img = img[..., None]
    h, w, c = img.shape
    if (h, w) == (height, width):
        return (img[..., 0] if squeeze else img).copy()
    if filter == "auto":
        filter = "lanczos" if width * height >= w * h else "area"
    if filter not in FILTERS:
        raise ValueError(f"filter must be one of auto, {', '.join(FILTERS)}, got {filter!r}")
    interp = FILTERS[filter]
    if wrap:
        # Source pixels a destination pixel can reach: 4 for Lanczos-4, the box width for area.
        sup_x = 4 + ceil(w / width) + 1
        sup_y = 4 + ceil(h / height) + 1
        px, py = _pad_for(w, width, sup_x), _pad_for(h, height, sup_y)
        padded = np.pad(img, ((py, py), (px, px), (0, 0)), mode="wrap")
        ox, oy = px * width // w, py * height // h
        out = _cv_resize(padded, width + 2 * ox, height + 2 * oy, interp)
        out = out[oy:oy + height, ox:ox + width]
    else:
        out = _cv_resize(img, width, height, interp)
    out = np.clip(out, 0.0, 1.0, out=np.ascontiguousarray(out, dtype=np.float32))
    return out[..., 0] if squeeze else out


def _cv_resize(img: np.ndarray, width: int, height: int, interp: int) -> np.ndarray:
    c = img.shape[2]
    if c <= 4:
        out = cv2.resize(np.ascontiguousarray(img), (width, height), interpolation=interp)
        return out.reshape(height, width, c)
    return np.concatenate(
        [_cv_resize(img[..., i:i + 1], width, height, interp) for i in range(c)], axis=2)


def blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with wrap-around borders; (H, W) or (H, W, C)."""
    if sigma <= 0:
        return np.asarray(image, dtype=np.float32).copy()
    img = np.asarray(image, dtype=np.float32)
    r = int(ceil(3 * sigma))
    h, w = img.shape[:2]
    # OpenCV filters have no wrap border: pad by wrap, filter, crop.
    pad = ((r, r), (r, r)) + ((0, 0),) * (img.ndim - 2)
    padded = np.pad(img, pad, mode="wrap")
    out = cv2.GaussianBlur(padded, (2 * r + 1, 2 * r + 1), sigma, borderType=cv2.BORDER_REFLECT)
    out = out.reshape(padded.shape)
    return np.ascontiguousarray(out[r:r + h, r:r + w])


def gradient(height: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Central differences of an (H, W) field with wrap-around: (d/dx, d/dy) in units per pixel."""
    f = np.asarray(height, dtype=np.float32)
    dx = (np.roll(f, -1, axis=1) - np.roll(f, 1, axis=1)) * 0.5
    dy = (np.roll(f, -1, axis=0) - np.roll(f, 1, axis=0)) * 0.5
    return dx, dy


def half_offset(image: np.ndarray, axes: str = "xy") -> np.ndarray:
    """Roll by half the size on the given axes: the wrap seams move to the centre cross."""
    img = np.asarray(image)
    h, w = img.shape[:2]
    if "y" in axes:
        img = np.roll(img, h // 2, axis=0)
    if "x" in axes:
        img = np.roll(img, w // 2, axis=1)
    return img


def tile2x2(image: np.ndarray) -> np.ndarray:
    """The image repeated 2x2 (the preview a technical artist uses to spot seams)."""
    return np.tile(np.asarray(image), (2, 2) + (1,) * (np.ndim(image) - 2))


def mip_chain(image: np.ndarray, min_size: int = 1, wrap: bool = True) -> list[np.ndarray]:
    """Mip levels, level 0 first, each half the previous (floor, at least 1 px) down to ``min_size``.

    Each level is a wrap-around Gaussian pre-filter (sigma 0.5 in source pixels) followed by a 2x2
    box, so a tileable texture stays tileable at every level; the usual tools clamp by default.
    ``wrap=False`` (posters) uses a plain 2x2 box.
    """
    img = np.asarray(image, dtype=np.float32)
    levels = [img]
    while max(img.shape[:2]) > min_size and max(img.shape[:2]) > 1:
        h, w = img.shape[:2]
        src = blur(img, 0.5) if wrap else img
        img = resize(src, max(1, w // 2), max(1, h // 2), "area", wrap=wrap)
        if img.ndim == 2:
            img = img[..., None]
        levels.append(img)
    return levels


def is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def nearest_power_of_two(n: int) -> int:
    """The power of two closest to n (ties go up)."""
    lo = 1 << (max(1, n).bit_length() - 1)
    hi = lo << 1
    return lo if n - lo < hi - n else hi
