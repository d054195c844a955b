"""The wrap-seam score: how visible the seam is when a texture is tiled, per axis.

Definition (scale-independent, documented in the README):

    seam_x = mean |I[:, 0] - I[:, W-1]|  /  mean over interior column pairs of mean |I[:, j+1] - I[:, j]|

i.e. the gradient across the wrap seam (what a half-offset brings to the centre of the image)
divided by the image's typical gradient between neighbouring columns. ``seam_y`` is the same over rows.
A periodic image scores about 1 (its seam is just another interior edge); a visible seam scores well
above 1. Gradients are taken on luminance after a light blur, so a seam is not confused with pixel noise,
and the ratio does not change when the image is resized or its contrast is scaled.
"""

from __future__ import annotations

import numpy as np

AXES = {"x": ("x",), "y": ("y",), "xy": ("x", "y"), "none": ()}


def _luma(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image, dtype=np.float32)
    if img.ndim == 3:
        img = img[..., :3].mean(axis=2) if img.shape[2] >= 3 else img[..., 0]
    return img


def _blur_wrap(img: np.ndarray) -> np.ndarray:
    """A 1-2-1 blur in both directions with wrap-around borders (does not create or hide a seam)."""
    img = 0.25 * np.roll(img, 1, 0) + 0.5 * img + 0.25 * np.roll(img, -1, 0)
    return 0.25 * np.roll(img, 1, 1) + 0.5 * img + 0.25 * np.roll(img, -1, 1)


def seam_score(image: np.ndarray, axis: str) -> float:
    """The seam score along one axis: ``x`` scores the left/right seam, ``y`` the top/bottom one."""
    img = _blur_wrap(_luma(image))
    if axis == "y":
        img = img.T
    elif axis != "x":
        raise ValueError(f"axis must be 'x' or 'y', got {axis!r}")
    # The blur spreads a seam over the columns next to it: compare a 2-column band across the seam
    # with every other 2-column band.
    cols = np.abs(np.diff(img, axis=1, append=img[:, :1])).mean(axis=0)  # (W,); cols[W-1] is the seam
    band = cols + np.roll(cols, -1)  # band[j] = step j + step j+1
    seam = max(band[-1], band[-2])  # the bands containing the seam step
    w = len(cols)
    interior = np.delete(band, [w - 3, w - 2, w - 1, 0]) if w > 8 else band
    ref = float(np.mean(interior))
    if ref < 1e-8:  # a flat image has no edges anywhere, so no seam either
        return 0.0 if seam < 1e-8 else float("inf")
    return float(seam / ref)


def seam_scores(image: np.ndarray, axes: str = "xy") -> dict[str, float]:
    return {a: seam_score(image, a) for a in AXES[axes]}
