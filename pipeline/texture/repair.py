"""Seam repair: half-offset, then fill the seam cross (engine inpainting or a classical blend).

The half-offset (roll by W/2, H/2) moves the wrap seams to a centre cross and brings the image's
continuous centre to its borders, so the rolled image wraps cleanly everywhere except along the
cross. The cross is then filled:

- **inpainting** (engines with ``Capability.INPAINT``): :func:`cross_mask` marks a band around each
  seam line, the engine repaints it, and :func:`composite` feathers the result into the rolled image;
- **classical blend** (any engine): :func:`blend_repair` fills the band with the un-rolled image,
  whose content is continuous there, switching to it along minimum-error cuts with a thin feather
  (image quilting). Pixels are copied, not mixed, so structured textures do not ghost and stochastic
  ones do not wash out.

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


def _min_path(err: np.ndarray) -> np.ndarray:
    """Top-to-bottom path of least summed ``err`` (H, n), moving at most one column per row."""
    h, n = err.shape
    cost = err[0].astype(np.float64)
    back = np.zeros((h, n), np.int8)
    cols = np.arange(n)
    inf = np.array([np.inf])
    for r in range(1, h):
        choices = np.stack([np.concatenate([inf, cost[:-1]]), cost, np.concatenate([cost[1:], inf])])
        pick = choices.argmin(axis=0)
        back[r] = pick - 1
        cost = err[r] + choices[pick, cols]
    path = np.empty(h, np.int64)
    path[-1] = int(cost.argmin())
    for r in range(h - 1, 0, -1):
        path[r - 1] = path[r] + back[r, path[r]]
    return path


def _close(path: np.ndarray, frac: float = 0.125) -> np.ndarray:
    """Bend the last rows of a path back to its first column, so the cut itself wraps vertically."""
    h = len(path)
    k = max(1, int(h * frac))
    t = (np.arange(1, k + 1) / k)
    out = path.astype(np.float64)
    out[h - k:] = out[h - k:] * (1 - t) + path[0] * t
    return np.rint(out).astype(np.int64)


def _cut_weight(rolled: np.ndarray, original: np.ndarray, band: float) -> np.ndarray:
    """Weight (H, W) of ``original`` for filling the band around the centre column of ``rolled`` (its
    seam) with ``original`` (continuous there): 1 between two minimum-error vertical cuts, one each
    side of the seam, 0 outside, with a thin feather across each cut."""
    h, w = rolled.shape[:2]
    c = w // 2  # the seam lies between columns c-1 and c
    f = max(1.0, 0.006 * w)  # feather width in pixels
    half = int(np.ceil(f / 2))
    b = int(max(4 + 2 * half, min(band * w / 2, c - 2)))
    diff = rolled - original
    err = (diff * diff).sum(axis=2) if diff.ndim == 3 else diff * diff
    lo_l, hi_l = max(1, c - b), c - 1 - half  # left cut columns (I fully used from c-1 on)
    lo_r, hi_r = c + half + 1, min(w - 1, c + b)  # right cut columns
    cols = np.arange(w, dtype=np.float32)[None, :]
    if hi_l <= lo_l or hi_r <= lo_r:  # tiny image: a plain cross-fade over the band
        weight = _centre_band(w, band * w, core=0.0)[None, :].repeat(h, axis=0)
    else:
        left = _close(_min_path(err[:, lo_l:hi_l])) + lo_l
        right = _close(_min_path(err[:, lo_r:hi_r])) + lo_r
        ramp_l = np.clip((cols - left[:, None]) / f + 0.5, 0.0, 1.0)
        ramp_r = np.clip((right[:, None] - cols) / f + 0.5, 0.0, 1.0)
        weight = np.minimum(ramp_l, ramp_r)
    return weight.astype(np.float32)


def _mix(rolled: np.ndarray, original: np.ndarray, weight: np.ndarray) -> np.ndarray:
    wgt = weight[..., None] if rolled.ndim == 3 else weight
    return (rolled * (1.0 - wgt) + original * wgt).astype(np.float32)


def blend_repair(image: np.ndarray, axes: str = "xy", band: float = 0.5) -> np.ndarray:
    """Make ``image`` wrap on ``axes`` without an engine (see the module doc).

    One axis at a time: roll by half on that axis; in the band around the centre line (where the old
    wrap seam now lies) switch to the un-rolled image, which is continuous there, along two
    minimum-error cuts (image quilting, Efros & Freeman 2001) with a thin feather; roll back. Rolling on
    one axis does not disturb the other axis's wrap, so after both passes the image wraps on both.
    ``band`` is the width the cuts may use, as a fraction of the size. A cut, unlike a cross-fade,
    copies pixels instead of mixing two images, so structured textures (bricks, cobbles) do not ghost.
    """
    return blend_repair_roles({"image": image}, "image", axes, band)["image"]


def blend_repair_roles(images: dict[str, np.ndarray], guide: str, axes: str = "xy",
                       band: float = 0.5) -> dict[str, np.ndarray]:
    """:func:`blend_repair` of several aligned maps (albedo, normal, ...) with the same cuts, chosen on
    ``images[guide]``, so the maps stay aligned."""
    out = {r: np.asarray(img, dtype=np.float32) for r, img in images.items()}
    for axis in ("x", "y"):
        if axis not in axes:
            continue
        t = {r: (img if axis == "x" else np.swapaxes(img, 0, 1)) for r, img in out.items()}
        weight = _cut_weight(half_offset(t[guide], "x"), t[guide], band)
        for r, img in t.items():
            fixed = unroll(_mix(half_offset(img, "x"), img, weight), "x")
            out[r] = fixed if axis == "x" else np.ascontiguousarray(np.swapaxes(fixed, 0, 1))
    return out


def unroll(image: np.ndarray, axes: str = "xy") -> np.ndarray:
    """Undo :func:`zpipe.texture.wrap.half_offset` (also for odd sizes)."""
    img = np.asarray(image)
    h, w = img.shape[:2]
    if "y" in axes:
        img = np.roll(img, -(h // 2), axis=0)
    if "x" in axes:
        img = np.roll(img, -(w // 2), axis=1)
    return img
