"""Tiled img2img over a torus: refine a large texture in engine-sized tiles without making seams.

The image is treated as periodic. Tiles of ``tile`` x ``tile`` pixels are laid on an even grid that
wraps around the borders (a tile crossing the right edge continues on the left), ``n >= 2`` per axis
so that every point, the wrap seam included, lies inside some tile. Each refined tile is blended
back with a trapezoid weight (flat centre, linear ramps of ``overlap`` x tile pixels, never exactly
zero) and the sum is normalised, so tile edges, which img2img does not keep continuous, fade out.
"""

from __future__ import annotations

from collections.abc import Callable
from math import ceil

import numpy as np


def grid(length: int, tile: int, overlap: float) -> tuple[int, list[int]]:
    """(tile length, tile start offsets) for one axis of a torus of ``length`` pixels.

    The tile is at most ``length`` and a multiple of 16 (engines need that); tiles are spaced at most
    ``tile * (1 - overlap)`` apart and there are at least two.
    """
    t = min(tile, length)
    t = max(16, t - t % 16)
    step = max(1.0, t * (1.0 - overlap))
    n = max(2, ceil(length / step))
    return t, [round(i * length / n) % length for i in range(n)]


def _ramp(t: int, overlap: float) -> np.ndarray:
    r = max(1.0, overlap * t)
    x = np.arange(t, dtype=np.float32) + 0.5
    w = np.minimum(np.minimum(x, t - x) / r, 1.0)
    return np.maximum(w, 1e-3)


def cut(image: np.ndarray, y: int, x: int, th: int, tw: int) -> np.ndarray:
    """The ``th`` x ``tw`` window at (y, x) of the periodic image (wrapping around the borders)."""
    h, w = image.shape[:2]
    rows = (np.arange(th) + y) % h
    cols = (np.arange(tw) + x) % w
    return image[rows][:, cols]


def refine_tiled(image: np.ndarray, refine: Callable[[list[np.ndarray]], list[np.ndarray]], tile: int = 1024,
                 overlap: float = 0.25) -> tuple[np.ndarray, int]:
    """Apply ``refine`` (a batch of (t, t, 3) tiles in, the same shapes out) over the torus.

    Returns the blended image (same shape as ``image``) and the number of tiles. Channels beyond the
    first three are carried over unchanged.
    """
    img = np.asarray(image, dtype=np.float32)
    h, w = img.shape[:2]
    th, ys = grid(h, tile, overlap)
    tw, xs = grid(w, tile, overlap)
    windows = [(y, x) for y in ys for x in xs]
    tiles = [np.ascontiguousarray(cut(img[..., :3], y, x, th, tw)) for y, x in windows]
    done = refine(tiles)
    wgt = _ramp(th, overlap)[:, None] * _ramp(tw, overlap)[None, :]
    acc = np.zeros((h, w, 3), np.float64)
    norm = np.zeros((h, w), np.float64)
    for (y, x), out in zip(windows, done, strict=True):
        rows = ((np.arange(th) + y) % h)[:, None]
        cols = ((np.arange(tw) + x) % w)[None, :]
        # a tile is never longer than the image, so its indices are unique and += is exact
        acc[rows, cols] += np.asarray(out, np.float32)[..., :3] * wgt[..., None]
        norm[rows, cols] += wgt
    result = img.copy()
    result[..., :3] = (acc / norm[..., None]).astype(np.float32)
    return np.clip(result, 0.0, 1.0), len(windows)
