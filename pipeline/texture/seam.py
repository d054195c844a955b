"""The wrap-seam score: how visible the seam is when a texture is tiled, per axis.

Defined in docs/textures.md ("The seam score"): the luminance step across the wrap seam, over a 2-column
band after a light wrap blur, against the mean (``seam_score``) or the 99th percentile (``seam_peak``) of
the other bands. A periodic image scores about 1, a visible seam well above. Axes longer than
``CANONICAL`` (256) pixels are first area-averaged to 256 with cell boundaries on 0 and the size, which
never mixes the two sides of the seam, so the score does not depend on the size from 256 px up.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

AXES = {"x": ("x",), "y": ("y",), "xy": ("x", "y"), "none": ()}
CANONICAL = 256


def _area_resample(img: np.ndarray, axis: int, m: int) -> np.ndarray:
    """Exact box (area) resampling of ``img`` along ``axis`` to ``m`` samples, via prefix sums."""
    n = img.shape[axis]
    if n % m == 0:  # whole blocks: a reshape-mean gives the same numbers, faster
        f = n // m
        shape = img.shape[:axis] + (m, f) + img.shape[axis + 1:]
        return img.reshape(shape).mean(axis=axis + 1, dtype=np.float32)
    csum = np.concatenate([np.zeros_like(np.take(img, [0], axis=axis)), np.cumsum(img, axis=axis, dtype=np.float64)],
                          axis=axis)
    edges = np.arange(m + 1, dtype=np.float64) * (n / m)
    lo = np.floor(edges).astype(np.int64)
    frac = edges - lo
    hi = np.minimum(lo + 1, n)
    shape = [1] * img.ndim
    shape[axis] = m + 1
    c_lo, c_hi = np.take(csum, lo, axis=axis), np.take(csum, hi, axis=axis)
    c = c_lo + (c_hi - c_lo) * frac.reshape(shape)  # the integral of the signal up to each cell edge
    return (np.diff(c, axis=axis) * (m / n)).astype(np.float32)


def _canonical(img: np.ndarray) -> np.ndarray:
    """Axes longer than CANONICAL area-averaged down to it. Shorter axes stay as they are: upsampling cannot
    help (box upsampling makes stairs whose steps line up with the seam, interpolation spreads the seam like
    any edge)."""
    h, w = img.shape
    if w > CANONICAL:
        img = _area_resample(img, 1, CANONICAL)
    if h > CANONICAL:
        img = _area_resample(img, 0, CANONICAL)
    return img


def _luma(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image, dtype=np.float32)
    if img.ndim == 3:
        img = (img[..., 0] + img[..., 1] + img[..., 2]) * (1.0 / 3.0) if img.shape[2] >= 3 else img[..., 0]
    return img


def _blur_wrap(img: np.ndarray) -> np.ndarray:
    """A 1-2-1 blur in both directions with wrap-around borders (does not create or hide a seam)."""
    img = 0.25 * np.roll(img, 1, 0) + 0.5 * img + 0.25 * np.roll(img, -1, 0)
    return 0.25 * np.roll(img, 1, 1) + 0.5 * img + 0.25 * np.roll(img, -1, 1)


def _prepared(image: np.ndarray) -> np.ndarray:
    return _blur_wrap(_canonical(_luma(image)))


def seam_score(image: np.ndarray, axis: str) -> float:
    """The seam score along one axis: ``x`` scores the left/right seam, ``y`` the top/bottom one."""
    if axis not in ("x", "y"):
        raise ValueError(f"axis must be 'x' or 'y', got {axis!r}")
    return _score(_prepared(image), axis)


def _bands(img: np.ndarray, axis: str) -> tuple[float, np.ndarray]:
    """(seam band, interior bands) of a prepared image: mean steps over 2-column (2-row) bands."""
    if axis == "y":
        img = img.T
    elif axis != "x":
        raise ValueError(f"axis must be 'x' or 'y', got {axis!r}")
    # The blur spreads a seam over the columns next to it: compare a 2-column band across the seam
    # with every other 2-column band.
    cols = np.abs(np.diff(img, axis=1, append=img[:, :1])).mean(axis=0)  # (W,); cols[W-1] is the seam
    band = cols + np.roll(cols, -1)  # band[j] = step j + step j+1
    seam = 0.5 * (band[-1] + band[-2])  # the two bands containing the seam step (equal for a pure step)
    w = len(cols)
    interior = np.delete(band, [w - 3, w - 2, w - 1, 0]) if w > 8 else band
    return float(seam), interior


def _ratio(seam: float, ref: float) -> float:
    if ref < 1e-8:  # a flat image has no edges anywhere, so no seam either
        return 0.0 if seam < 1e-8 else float("inf")
    return float(seam / ref)


def _score(img: np.ndarray, axis: str) -> float:
    seam, interior = _bands(img, axis)
    return _ratio(seam, float(np.mean(interior)))


def _peak(img: np.ndarray, axis: str) -> float:
    seam, interior = _bands(img, axis)
    return _ratio(seam, float(np.percentile(interior, 99)))


def _per_axis(measure: Callable[[np.ndarray, str], float], image: np.ndarray, axes: str) -> dict[str, float]:
    """``{axis: measure(prepared image, axis)}`` for ``axes`` (x, y, xy or none); the image is prepared once."""
    names = AXES[axes]
    if not names:
        return {}
    img = _prepared(image)
    return {a: measure(img, a) for a in names}


def seam_peak(image: np.ndarray, axis: str) -> float:
    """The seam band against the image's strongest edges: seam band / 99th percentile of the interior
    bands (same bands as :func:`seam_score`).

    A gradient metric cannot tell a seam from a real straight edge that happens to lie on the border
    (a grout line of a tile grid, a plank joint, a brick course): both are a full-length step. Such
    textures have edges like it inside too, so their peak ratio stays at or below about 1, while a seam
    in a texture without full-length edges is far stronger than any interior band (peak well above 1).
    The ``tile`` gate uses it to let those textures pass (``edge_aware``).
    """
    if axis not in ("x", "y"):
        raise ValueError(f"axis must be 'x' or 'y', got {axis!r}")
    return _peak(_prepared(image), axis)


def seam_peaks(image: np.ndarray, axes: str = "xy") -> dict[str, float]:
    """``{axis: seam_peak}`` for ``axes`` (x, y, xy or none); the image is prepared once."""
    return _per_axis(_peak, image, axes)


def seam_scores(image: np.ndarray, axes: str = "xy") -> dict[str, float]:
    """``{axis: seam_score}`` for ``axes`` (x, y, xy or none); the image is prepared once."""
    return _per_axis(_score, image, axes)
