"""Seam repair: half-offset, then fill the seam cross (engine inpainting or a classical blend).

The half-offset (roll by W/2, H/2) moves the wrap seams to a centre cross and brings the image's
continuous centre to its borders, so the rolled image wraps cleanly everywhere except along the
cross. The cross is then filled:

- **inpainting** (engines with ``Capability.INPAINT``): :func:`cross_mask` marks a band around each
  seam line, the engine repaints it, and :func:`composite` feathers the result into the rolled image;
- **classical blend** (any engine): :func:`blend_repair` replaces the band with a cross-fade to the
  un-rolled image, whose content is continuous there. The cross-fade preserves the variance of the
  texture (Heitz & Neyret's histogram-preserving blend for stochastic textures: ``m + (w a + (1-w) b - m)
  / sqrt(w² + (1-w)²)``), so the band does not look washed out.

Both keep the image the same size; the result is rolled back so that the composition stays centred.
"""

from __future__ import annotations

import numpy as np
from zpipe.texture.wrap import half_offset


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _centre_band(n: int, width: float, core: float = 0.6) -> np.ndarray:
    """1 on the band of total width ``width`` pixels around the centre seam (between n/2-1 and n/2) of
    an axis of length ``n``: flat over the inner ``core`` of each half, then falling smoothly to 0;
    float32 (n,)."""
    centre = n // 2  # the seam lies between pixels centre-1 and centre
    d = np.abs(np.arange(n, dtype=np.float32) + 0.5 - centre)
    half = max(1.0, width / 2.0)
    flat = core * half
    return _smoothstep(1.0 - (d - flat) / max(half - flat, 1e-6)).astype(np.float32)


def cross_mask(height: int, width: int, axes: str, band: float) -> np.ndarray:
    """Mask (H, W) float32, 1 = repaint, of the centre cross after a half-offset.

    ``band`` is the band's total width as a fraction of the image size (e.g. 0.125). ``axes``: the
    ``x`` seam is a vertical line (a column band), the ``y`` seam a horizontal line.
    """
    mask = np.zeros((height, width), np.float32)
    if "x" in axes:
        mask = np.maximum(mask, _centre_band(width, band * width)[None, :])
    if "y" in axes:
        mask = np.maximum(mask, _centre_band(height, band * height)[:, None])
    return mask


def composite(base: np.ndarray, patch: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``base`` where mask is 0, ``patch`` where it is 1, a linear mix in between."""
    m = mask[..., None] if base.ndim == 3 else mask
    return (base * (1.0 - m) + patch * m).astype(np.float32)


def _vp_blend(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Variance-preserving mix: ``w`` of ``a`` and ``1-w`` of ``b`` (same-statistics images)."""
    mean = a.reshape(-1, a.shape[-1]).mean(axis=0) if a.ndim == 3 else a.mean()
    norm = np.sqrt(w * w + (1.0 - w) ** 2)
    out = mean + (w * (a - mean) + (1.0 - w) * (b - mean)) / norm
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def blend_repair(image: np.ndarray, axes: str = "xy", band: float = 0.5) -> np.ndarray:
    """Make ``image`` wrap on ``axes`` without an engine (see the module doc).

    One axis at a time: roll by half on that axis, then cross-fade the band around the centre line
    (where the old wrap seam now lies) to the un-rolled image, then roll back. Rolling on one axis
    does not disturb the other axis's wrap, so after both passes the image wraps on both.
    ``band`` is the cross-fade's total width as a fraction of the size; the weight is a smoothstep with
    no flat part, because any short ramp shows as a line on smooth, low-frequency textures; 0.5 is a
    good default (1.0 mixes the whole image with its half-shifted copy, which shows as a repeat).
    """
    img = np.asarray(image, dtype=np.float32)
    h, w = img.shape[:2]
    for axis in ("x", "y"):
        if axis not in axes:
            continue
        rolled = half_offset(img, axis)
        if axis == "x":
            wgt = _centre_band(w, band * w, core=0.0)[None, :]
        else:
            wgt = _centre_band(h, band * h, core=0.0)[:, None]
        if img.ndim == 3:
            wgt = wgt[..., None]
        # weight of the un-rolled image: 1 at the seam line, 0 outside the band
        fixed = _vp_blend(img, rolled, np.broadcast_to(wgt, img.shape).astype(np.float32))
        img = unroll(fixed, axis)
    return img


def unroll(image: np.ndarray, axes: str = "xy") -> np.ndarray:
    """Undo :func:`zpipe.texture.wrap.half_offset` (also for odd sizes)."""
    img = np.asarray(image)
    h, w = img.shape[:2]
    if "y" in axes:
        img = np.roll(img, -(h // 2), axis=0)
    if "x" in axes:
        img = np.roll(img, -(w // 2), axis=1)
    return img
