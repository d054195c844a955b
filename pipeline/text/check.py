"""``check_image``: OCR an image and score it against the lines it should carry.

The result is the JSON of ``zpipe glyph-check --json``::

    {"pass": bool,
     "lines": [{"expected": str, "found": str, "ned": float, "exact": bool, "pass": bool}, ...],
     "mean_ned": float, "unmatched": [str, ...]}

``found`` is the joined text of the boxes matched to the line ("" when none), ``ned`` the
normalised-edit-distance similarity of :mod:`zpipe.text.match` (1 = identical), ``exact`` whether the
normalised texts are equal, ``unmatched`` the recognised text assigned to no line and
``extra_chars`` its normalised length.

Boxes of lines that fail get a second opinion (:func:`zpipe.text.ocr.reread`: majority of three
readings at different crop scales) before the verdict.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zpipe.text.match import check_rule, match_lines, normalize, summarize

MAX_PIXELS = 8192 * 8192  # the largest image a recipe makes


def load_image(path: str | Path) -> np.ndarray:
    """An image file as float32 RGB (H, W, 3) in [0, 1]; ValueError naming the file when unreadable."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise ValueError(f"image not found: {p}")
    too_big = f"{p} declares more than the {MAX_PIXELS:,} pixels that a poster check reads (a decompression bomb?)"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the size is checked here
            with Image.open(p) as im:
                if im.width * im.height > MAX_PIXELS:  # a tiny file may declare gigapixels
                    raise ValueError(f"{too_big}: {im.width}x{im.height}; check a smaller image")
                im = im.convert("RGB")
                return np.asarray(im, dtype=np.float32) / 255.0
    except Image.DecompressionBombError:
        raise ValueError(f"{too_big}; check a smaller image") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"{p} is not an image Pillow can read ({exc}); use PNG, JPEG or WebP") from None


def check_image(
    image: np.ndarray | str | Path,
    expected_lines: Sequence[str],
    *,
    rule: str = "exact",
    min_ned: float = 0.9,
    ignore_punct: bool = True,
    max_extra_chars: int = -1,
    threads: int | None = None,
) -> dict[str, Any]:
    """OCR ``image`` (array or file path) and match the text to ``expected_lines`` (see module doc).

    ``max_extra_chars`` ≥ 0 also fails an image whose text outside the expected lines (``unmatched``,
    normalised) has more characters than that; -1 (default) only reports it as ``extra_chars``.
    """
    from zpipe.text.ocr import read_text, readable_chars

    check_rule(rule, min_ned)
    expected = [str(e) for e in expected_lines]
    if not expected or any(not e.strip() for e in expected):
        raise ValueError("expected lines must be non-empty strings")
    arr = load_image(image) if isinstance(image, (str, Path)) else image
    boxes = read_text(arr, threads=threads)
    readable = readable_chars(ignore_punct, threads)
    scores, leftover = match_lines(boxes, expected, rule=rule, min_ned=min_ned, ignore_punct=ignore_punct,
                                       readable=readable)
    # Matching may trim a box (overlap with its neighbour) but keeps its x0, y0, y1: the key.
    failing = {(b.x0, b.y0, b.y1) for s in scores if not s.passed for b in s.boxes}
    doubtful = [b for b in boxes if (b.x0, b.y0, b.y1) in failing]
    if doubtful:  # a second opinion on the boxes of failing lines only (costs nothing when all pass)
        from zpipe.text.ocr import reread

        revised = dict(zip(map(id, doubtful), reread(arr, doubtful, threads=threads)))
        boxes = [revised.get(id(b), b) for b in boxes]
        scores, leftover = match_lines(boxes, expected, rule=rule, min_ned=min_ned, ignore_punct=ignore_punct,
                                       readable=readable)
    result = summarize(scores, leftover)
    result["extra_chars"] = sum(len(normalize(b.text, ignore_punct)) for b in leftover)
    if 0 <= max_extra_chars < result["extra_chars"]:
        result["pass"] = False
    return result
