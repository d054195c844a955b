"""The main colours of a crop (k-means): the glyph check's readers by colour (:mod:`zpipe.text.ocr`) and
its ink check (:mod:`zpipe.text.ink`) both separate the text from the background with them."""

from __future__ import annotations

import numpy as np

COLOURS = 3  # colour clusters per crop: text fill, its outline or shadow, the background


def colour_centres(crop: np.ndarray, k: int = COLOURS, steps: int = 8) -> np.ndarray:
    """``k`` main colours of ``crop``, the most common first (k-means, started from the darkest, middle
    and lightest pixels so the result is the same on every run)."""
    px = crop.reshape(-1, 3).astype(np.float32)
    if len(px) > 4096:
        px = px[:: len(px) // 4096]
    order = np.argsort(px.sum(axis=1), kind="stable")
    centres = px[order[np.linspace(0, len(px) - 1, k).astype(int)]].copy()
    for _ in range(steps):
        nearest = np.argmin(((px[:, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)
        for c in range(k):
            members = px[nearest == c]
            if len(members):
                centres[c] = members.mean(axis=0)
    nearest = np.argmin(((px[:, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)
    return centres[np.argsort(-np.bincount(nearest, minlength=k), kind="stable")]
