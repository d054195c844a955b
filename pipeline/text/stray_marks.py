"""Clutter beside a line read as a character: a small rectangle or a bar of the background just past the
first or last glyph of a CJK line is read as 一, and the reading alone cannot tell it from a real one.

The ink can. A real 一 is a horizontal stroke most of an em wide (0.8-1.0 em in CJK faces) across the
middle of the line; the clutter read as one is short, or sits at the top or bottom of the line, or is not
a stroke at all (a rectangle as tall as it is wide). :func:`drop_stray_ones` measures the ink the
recogniser placed at that 一 (the connected pieces of the line's ink nearest its column:
:func:`zpipe.text.ocr.char_spans`) against the
line's band (the median top and bottom of its other characters' ink) and drops the 一 where no piece is
such a stroke. The expected text is never consulted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from zpipe.text.match import Box
    from zpipe.text.ocr import OcrImage

STROKE_WIDTH = 0.5  # × the line's band height: a 一 is at least this wide...
STROKE_HEIGHT = 0.35  # ... at most this tall...
MIDDLE = 0.25  # ... and its centre at least this × the band height inside the band's top and bottom


def drop_stray_ones(image: np.ndarray | OcrImage, boxes: list[Box], *, threads: int | None = None) -> list[Box]:
    """``boxes`` with each 一 at a box's start or end, next to a CJK character, dropped where the ink
    there holds no horizontal stroke across the middle of the line (module doc); a box is returned
    as it was when nothing is dropped."""
    from dataclasses import replace

    from zpipe.text.ocr import as_bgr, get_engine

    todo = [i for i, b in enumerate(boxes) if _end_ones(b.text)]
    if not todo:
        return boxes
    bgr = as_bgr(image)
    engine, lock = get_engine(threads)
    out = list(boxes)
    for i in todo:
        b = boxes[i]
        stray = _stray(engine, lock, bgr, b)
        if stray:
            text = "".join(c for k, c in enumerate(b.text) if k not in stray).strip()
            if text:
                out[i] = replace(b, text=text)
    return out


def _end_ones(text: str) -> list[int]:
    """Indices of the 一 that begin or end ``text`` next to another CJK character."""
    from zpipe.text.prompt import is_cjk

    idx = [k for k, c in enumerate(text) if not c.isspace()]
    if len(idx) < 3:
        return []
    out = []
    for end, nxt in ((idx[0], idx[1]), (idx[-1], idx[-2])):
        if text[end] == "一" and text[nxt] != "一" and is_cjk(text[nxt]):
            out.append(end)
    return out


def _stray(engine, lock, bgr: np.ndarray, b: Box) -> set[int]:
    """The indices of ``_end_ones(b.text)`` whose ink is no 一."""
    import cv2

    from zpipe.text.ocr import char_spans
    from zpipe.text.word_gaps import ink_mask

    h, w = bgr.shape[:2]
    x0, x1 = int(max(0, b.x0)), int(min(w, b.x1 + 1))
    y0, y1 = int(max(0, b.y0)), int(min(h, b.y1 + 1))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return set()
    crop = np.ascontiguousarray(bgr[y0:y1, x0:x1])
    spans = char_spans(engine, lock, crop, b.text)
    if spans is None:
        return set()
    cols = {k: (a + z) / 2 * (x1 - x0) for k, (a, z) in enumerate(spans) if z > a}
    n, _, stats, _ = cv2.connectedComponentsWithStats(ink_mask(crop).astype(np.uint8), connectivity=8)
    owner: dict[int, list[tuple[int, int, int, int]]] = {}  # char index -> its pieces (x, y, w, h)
    keys = sorted(cols)
    for k in range(1, n):
        x, y, pw, ph = (int(v) for v in stats[k, :4])
        near = min(keys, key=lambda c: abs(cols[c] - (x + pw / 2)))
        owner.setdefault(near, []).append((x, y, pw, ph))
    ones = _end_ones(b.text)
    others = [c for c in keys if c not in ones and owner.get(c)]
    if len(others) < 2:
        return set()
    top = float(np.median([min(y for _, y, _, _ in owner[c]) for c in others]))
    bottom = float(np.median([max(y + ph for _, y, _, ph in owner[c]) for c in others]))
    band = bottom - top
    if band < 6:
        return set()

    def stroke(x: int, y: int, pw: int, ph: int) -> bool:
        mid = y + ph / 2
        return (pw >= STROKE_WIDTH * band and ph <= STROKE_HEIGHT * band
                and top + MIDDLE * band <= mid <= bottom - MIDDLE * band)

    return {k for k in ones if not any(stroke(*p) for p in owner.get(k, ()))}
