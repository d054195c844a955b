"""Word spaces the recogniser dropped, found in the ink.

PP-OCR's recogniser has a language prior: shown "Sun flower" it often reads "Sunflower", and a
poster that should say "Sunflower" then passes although it shows two words. The space is still in
the ink: between two words the gap is much wider than the gaps between the letters of a word. This
module measures the gaps of a line crop and inserts the spaces the reading lacks, whatever text was
expected (it never sees it).

How a gap is measured. The crop's ink is the pixels far from the background colour (the median of
the crop's top and bottom rows), split from the rest by Otsu's threshold on that distance. Only the
*core band* counts, the rows most letters cover (the x-height of lower case, the cap height of
capitals): ascenders, descenders and overhangs (the hook of f, the tail of y) would otherwise bridge
or narrow a gap. A gap is a run of core-band columns without ink between the first and last inked
column. It is a word space when it is at least ``SPACE_MIN_BAND`` × the band height and at least
``CLEAR_RATIO`` × the line's usual letter gap (the median gap, never taken below
``LETTER_GAP_FLOOR`` × the band height, so that a bold face whose letters touch does not make every
gap look wide). A gap between ``SPACE_MIN_RATIO`` and ``CLEAR_RATIO`` × the usual one is a space only
when the recogniser's CTC columns also put the two letters ``PITCH_MIN_RATIO`` × the line's median
letter pitch apart: a monospaced face leaves a wide gap around a narrow letter (f l, l i) but keeps
its pitch, while its space is a whole cell.

Where a gap is. The recogniser's CTC columns (``engine.text_rec(crops, True)``) give each character's
centre; a gap whose middle lies between the centres of two Latin letters of the reading separates
those two. The space goes in only there, and only between letters, so digits, marks and CJK text are
never touched.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from zpipe.text.ocr import OcrImage

SPACE_MIN_BAND = 0.4  # a word space is at least this × the core band height (the x-height) wide...
SPACE_MIN_RATIO = 2.0  # ... and this × the line's usual letter gap; under CLEAR_RATIO × it...
CLEAR_RATIO = 3.2
PITCH_MIN_RATIO = 1.75  # ... the letters either side must also be this × the median letter pitch apart
MIN_BAND = 0.3  # a core band under this × the crop height is not one (a slanted line, a stray mark)
LETTER_GAP_FLOOR = 0.12  # the usual letter gap is taken as at least this × the band height
MIN_RUN = 6  # a run of Latin letters this long may hide a dropped space between two 3-letter words
SPECK_AREA = 0.004  # ink components under this × crop height² are grain, not glyphs
BAND_FILL = 0.5  # a row belongs to the core band when its ink is at least this × the median inked row's


def _latin_letter(ch: str) -> bool:
    from zpipe.text.prompt import is_cjk

    return ch.isalpha() and ch.isascii() and not is_cjk(ch)


def candidate(text: str) -> bool:
    """Whether ``text`` has a run of ``MIN_RUN`` Latin letters or more (where a dropped space would
    change the verdict: the comparison makes a space between two words of three letters hard)."""
    run = 0
    for ch in text:
        run = run + 1 if _latin_letter(ch) else 0
        if run >= MIN_RUN:
            return True
    return False


def ink_mask(crop: np.ndarray) -> np.ndarray:
    """Boolean ink mask of a line crop (H, W, 3 uint8): pixels far from the background colour, the
    median of the top and bottom rows (Otsu's threshold on the distance)."""
    import cv2

    px = crop.astype(np.float32)
    edge = np.concatenate([px[:2].reshape(-1, 3), px[-2:].reshape(-1, 3)])
    dist = np.linalg.norm(px - np.median(edge, axis=0), axis=2)
    d8 = np.clip(dist * (255.0 / max(float(dist.max()), 1.0)), 0, 255).astype(np.uint8)
    t, _ = cv2.threshold(d8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    mask = (d8 > t).astype(np.uint8)
    # Grain and noise are small specks; a morphological opening would remove them but also the
    # one-pixel stems of a light face at small sizes, so specks are dropped by area instead.
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    keep = stats[:, cv2.CC_STAT_AREA] >= SPECK_AREA * crop.shape[0] ** 2
    keep[0] = False
    return keep[labels]


def core_band(mask: np.ndarray) -> tuple[int, int]:
    """Rows [top, bottom) of the core band: the longest run of rows whose ink is at least
    ``BAND_FILL`` × the median inked row's (not the busiest row's: a serif face's baseline row, all
    feet, holds several times the ink of a row through the stems)."""
    rows = mask.sum(axis=1)
    if rows.max() == 0:
        return 0, 0
    full = rows >= BAND_FILL * np.median(rows[rows > 0])
    best, start = (0, 0), None
    for i, f in enumerate([*full, False]):
        if f and start is None:
            start = i
        elif not f and start is not None:
            if i - start > best[1] - best[0]:
                best = (start, i)
            start = None
    return best


def gaps(mask: np.ndarray) -> tuple[list[tuple[int, int]], int]:
    """The ink-free column runs [x0, x1) of the core band between its first and last inked column,
    and the band height."""
    top, bottom = core_band(mask)
    if bottom - top < 3:
        return [], 0
    inked = mask[top:bottom].any(axis=0)
    cols = np.flatnonzero(inked)
    if len(cols) < 2:
        return [], bottom - top
    out, start = [], None
    for x in range(int(cols[0]), int(cols[-1]) + 1):
        if not inked[x] and start is None:
            start = x
        elif inked[x] and start is not None:
            out.append((start, x))
            start = None
    return out, bottom - top


def word_spaces(mask: np.ndarray) -> list[tuple[int, int, bool]]:
    """The gaps of ``mask`` wide enough to be word spaces (module doc): (x0, x1, clear), where
    ``clear`` is False for a gap under ``CLEAR_RATIO`` × the usual one, which needs the pitch test
    of :func:`place_spaces` too."""
    runs, band = gaps(mask)
    if not runs or band < MIN_BAND * mask.shape[0]:
        return []
    widths = [b - a for a, b in runs]
    usual = max(float(np.median(widths)), LETTER_GAP_FLOOR * band)
    return [(a, b, b - a >= CLEAR_RATIO * usual) for a, b in runs
            if b - a >= SPACE_MIN_BAND * band and b - a >= SPACE_MIN_RATIO * usual]


def place_spaces(text: str, centres: list[float | None], spaces: list[tuple[float, float, bool]]) -> str:
    """``text`` with a space inserted between two adjacent Latin letters whose CTC centres
    (fractions of the crop width) enclose the middle of one of ``spaces`` (fractions too, with
    :func:`word_spaces`' ``clear``). Where the gap is not clear, the letters' centres must also lie at
    least ``PITCH_MIN_RATIO`` × the line's median letter pitch apart: a monospaced face leaves a wide
    ink gap around a narrow letter (f l, i l) but keeps its pitch."""
    pairs = [(i, centres[i + 1] - centres[i]) for i in range(len(text) - 1)
             if centres[i] is not None and centres[i + 1] is not None]
    if not pairs:
        return text
    pitch = float(np.median([d for _, d in pairs]))
    cut = set()
    for a, b, clear in spaces:
        mid = (a + b) / 2
        for i, d in pairs:
            if (centres[i] < mid < centres[i + 1] and _latin_letter(text[i]) and _latin_letter(text[i + 1])
                    and (clear or d >= PITCH_MIN_RATIO * pitch)):
                cut.add(i)
    return "".join(ch + (" " if i in cut else "") for i, ch in enumerate(text))


def restore_spaces(image: np.ndarray | OcrImage, boxes: list, *, threads: int | None = None) -> list:
    """``boxes`` (:class:`zpipe.text.match.Box`) with the word spaces that the ink shows and the
    reading lacks put back (module doc); the expected text is never consulted."""
    from zpipe.text.ocr import as_bgr, ctc_centres, get_engine

    todo = [i for i, b in enumerate(boxes) if candidate(b.text)]
    if not todo:
        return boxes
    bgr = as_bgr(image)
    h, w = bgr.shape[:2]
    out = list(boxes)
    engine = lock = None
    for i in todo:
        b = boxes[i]
        x0, x1 = int(max(0, b.x0)), int(min(w, b.x1 + 1))
        y0, y1 = int(max(0, b.y0)), int(min(h, b.y1 + 1))
        if x1 - x0 < 8 or y1 - y0 < 8:
            continue
        crop = np.ascontiguousarray(bgr[y0:y1, x0:x1])
        spaces = word_spaces(ink_mask(crop))
        if len(spaces) <= b.text.strip().count(" "):
            continue  # the common case: no more wide gaps than spaces read, so no second reading
        if engine is None:
            engine, lock = get_engine(threads)
        centres = ctc_centres(engine, lock, crop, b.text)
        if centres is None:
            continue
        text = place_spaces(b.text, centres, [(a / (x1 - x0), z / (x1 - x0), c) for a, z, c in spaces])
        if text != b.text:
            out[i] = dataclasses.replace(b, text=text)
    return out


def part_overlaps(image: np.ndarray | OcrImage, boxes: list) -> list:
    """``boxes`` with each two neighbours of one row that overlap only where no ink is (their padding:
    "Now" and "here" in a serif face) drawn apart, so that the comparison counts the gap the detector saw
    between two Latin words (:func:`zpipe.text.match.join_units`) as it does for boxes that merely touch.
    Boxes that overlap on ink (the detector read a glyph twice: "New A" and "Arrivals") stay as they are.
    The expected text is never consulted."""
    from dataclasses import replace

    from zpipe.text.match import same_row
    from zpipe.text.ocr import as_bgr

    order = sorted(range(len(boxes)), key=lambda i: boxes[i].x0)
    pairs = [(i, j) for n, i in enumerate(order) for j in order[n + 1:]
             if same_row(boxes[i], boxes[j]) and boxes[i].x0 < boxes[j].x0 < boxes[i].x1 < boxes[j].x1
             and boxes[i].text.strip()[-1:].isalpha() and boxes[j].text.strip()[:1].isalpha()
             and _latin_letter(boxes[i].text.strip()[-1]) and _latin_letter(boxes[j].text.strip()[0])]
    if not pairs:
        return boxes
    bgr = as_bgr(image)
    h, w = bgr.shape[:2]
    out = list(boxes)
    for i, j in pairs:
        a, b = out[i], out[j]
        y0, y1 = int(max(0, min(a.y0, b.y0))), int(min(h, max(a.y1, b.y1) + 1))
        x0, x1 = int(max(0, a.x0)), int(min(w, b.x1 + 1))
        if x1 - x0 < 8 or y1 - y0 < 8:
            continue
        mask = ink_mask(np.ascontiguousarray(bgr[y0:y1, x0:x1]))
        lo, hi = int(np.floor(b.x0)) - x0, int(np.ceil(a.x1)) - x0 + 1
        if mask[:, max(lo, 0):hi].any() or not mask[:, :max(lo, 0)].any() or not mask[:, hi:].any():
            continue
        out[i], out[j] = replace(a, x1=b.x0), replace(b, x0=a.x1)
    return out
