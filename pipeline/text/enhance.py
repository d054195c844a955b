"""Line crops redrawn to undo what degraded them, and lines widened where the detector cut them short:
the second reading of a failing line (:func:`zpipe.text.check._enhanced_reread`).

Each variant follows from the image alone, never from the expected text:

* **descreened**: a periodic dot screen (halftone, a printed photograph) is a set of isolated peaks in
  the spectrum of the region around the line; those peaks are notched out, which leaves the glyphs'
  broad spectrum alone (a low-pass strong enough to remove the dots would erase thin strokes too);
* **contrast-normalised**: the luminance stretched between its 1st and 99th percentiles (pale text
  on a pale ground, a dark photograph);
* **sharpened**: an unsharp mask at the scale of the line's strokes, after the crop is scaled up
  when the text is smaller than the recogniser's 48-px input (a soft thumbnail scaled back up, blur);
  only for lines under twice that height: the recogniser scales a taller one down by half or more,
  which hides the softness of a few pixels that sharpening would undo.

(A crop area-scaled to 48 px through a 3×3 median, against grain, was tried: it read worse than the
first reading on the dot screens and soft lines it was meant for, and cost a reading per box.)

:func:`widened` reads a line again from a wider crop: the detector sometimes cuts the first or last
letters off a line (a thin serif "W" on a dot screen) and the recogniser guesses at the cut glyph
("Welcome Home" boxed and read as "come"). The line's row is detected again at other scales
(:func:`row_boxes`), and the box grows to the text found running on from it, so the widening follows
from the pixels, not from what was expected.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from zpipe.text.match import Box

if TYPE_CHECKING:
    from zpipe.text.ocr import OcrImage

SCREEN_PEAK = 8.0  # a spectral peak this many times its neighbourhood's mean is a screen's, not text's
SCREEN_MIN_PEAKS = 4  # a dot screen has peaks on two axes and their harmonics; a stray one is not a screen
NOTCH = 3  # px of spectrum notched out around each peak (its sidebands: the dots grow and shrink)
CONTEXT = 1.0  # × line height of surroundings taken into the spectrum (more periods, finer peaks)
REC_HEIGHT = 48  # the recogniser's input height
SHARPEN_BELOW = 2.0  # × REC_HEIGHT: lines this tall or taller are not sharpened (the recogniser halves them)


def _crop_bounds(b: Box, w: int, h: int, pad: float) -> tuple[int, int, int, int]:
    m = pad * b.height
    return (int(max(0, b.x0 - m)), int(max(0, b.y0 - m)), int(min(w, b.x1 + m + 1)), int(min(h, b.y1 + m + 1)))


def descreen(region: np.ndarray, min_period: float) -> np.ndarray | None:
    """``region`` (uint8, H×W×3) with the isolated spectral peaks of periods between 2 px and ``min_period``
    removed (a dot screen's), or None when it has no such screen. Text has no sharp peaks at those
    periods (its strokes vary in width and spacing), so the glyphs come through."""
    import cv2

    f = region.astype(np.float32)
    h, w = f.shape[:2]
    if min(h, w) < 16:
        return None
    grey = f.mean(axis=2)
    spectrum = cv2.dft(grey - grey.mean(), flags=cv2.DFT_COMPLEX_OUTPUT)  # float32: a third of numpy's time
    mag = np.fft.fftshift(cv2.magnitude(spectrum[:, :, 0], spectrum[:, :, 1]))
    around = cv2.blur(mag, (9, 9)) + 1e-3
    fy = (np.arange(h) - h // 2)[:, None] / h
    fx = (np.arange(w) - w // 2)[None, :] / w
    band = np.hypot(fy, fx) > 1.0 / max(min_period, 3.0)
    peaks = (mag > SCREEN_PEAK * around) & band
    if int(peaks.sum()) < SCREEN_MIN_PEAKS:
        return None
    keep = np.fft.ifftshift(cv2.dilate(peaks.astype(np.uint8), np.ones((NOTCH, NOTCH), np.uint8)) == 0)
    out = np.empty_like(f)
    for c in range(f.shape[2]):
        out[:, :, c] = np.real(np.fft.ifft2(np.fft.fft2(f[:, :, c]) * keep))
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def stretched(crop: np.ndarray) -> np.ndarray:
    """Luminance stretched between its 1st and 99th percentiles, as grey BGR."""
    import cv2

    lum = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY).astype(np.float32)
    lo, hi = np.percentile(lum, (1, 99))
    grey = np.clip((lum - lo) * (255.0 / max(hi - lo, 8.0)), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))


def sharpened(crop: np.ndarray, line_height: float) -> np.ndarray:
    """Scaled up to at least twice the recogniser's input height when smaller, then an unsharp mask at
    the scale of the strokes (about a tenth of the line height)."""
    import cv2

    scale = max(1.0, 2 * REC_HEIGHT / max(line_height, 1.0))
    if scale > 1.0:
        crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    sigma = max(1.0, 0.1 * line_height * scale / 2)
    soft = cv2.GaussianBlur(crop, (0, 0), sigma)
    return np.ascontiguousarray(cv2.addWeighted(crop, 1.8, soft, -0.8, 0))


VARIANT_PAD = 0.12  # × line height around a line's crop


def variants(bgr: np.ndarray, b: Box, pad: float = VARIANT_PAD) -> list[tuple[str, np.ndarray]]:
    """(name, crop) for each redrawing of box ``b`` of ``bgr`` (module doc); the descreened one only
    where the region shows a dot screen. The stretched and descreened crops keep the crop's size."""
    h, w = bgr.shape[:2]
    x0, y0, x1, y1 = _crop_bounds(b, w, h, pad)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return []
    crop = np.ascontiguousarray(bgr[y0:y1, x0:x1])
    out = [("stretched", stretched(crop))]
    if b.height < SHARPEN_BELOW * REC_HEIGHT:  # a taller line's softness is lost in the resize to 48 px anyway
        out.append(("sharpened", sharpened(crop, b.height)))
    X0, Y0, X1, Y1 = _crop_bounds(b, w, h, pad + CONTEXT)
    clean = descreen(bgr[Y0:Y1, X0:X1], min_period=0.75 * b.height)
    if clean is not None:
        clean = np.ascontiguousarray(clean[y0 - Y0:y1 - Y0, x0 - X0:x1 - X0])
        out += [("descreened", clean), ("descreened+stretched", stretched(clean))]
    return out


def enhanced_readings(image: np.ndarray | OcrImage, boxes: list[Box], *,
                      threads: int | None = None) -> list[list[tuple[Box, np.ndarray | None]]]:
    """Per box, (reading, image) for each of its :func:`variants` read by the recogniser (``score`` is
    its confidence; variants that read nothing are left out): the image is a uint8 RGB copy whose crop
    is the redrawn one where the variant keeps the crop's size (so single characters can be re-read from
    it in place), else None."""
    from zpipe.text.ocr import as_bgr, recognise

    out: list[list[tuple[Box, np.ndarray | None]]] = [[] for _ in boxes]
    if not boxes:
        return out
    bgr = as_bgr(image)
    h, w = bgr.shape[:2]
    jobs, crops = [], []
    for bi, b in enumerate(boxes):
        for _, crop in variants(bgr, b):
            jobs.append(bi)
            crops.append(crop)
    if not crops:
        return out
    for bi, crop, (text, score) in zip(jobs, crops, recognise(crops, threads=threads)):
        text, b = text.strip(), boxes[bi]
        if not text:
            continue
        x0, y0, x1, y1 = _crop_bounds(b, w, h, VARIANT_PAD)
        redrawn = None
        if crop.shape[:2] == (y1 - y0, x1 - x0):
            redrawn = np.ascontiguousarray(bgr[:, :, ::-1])
            redrawn[y0:y1, x0:x1] = crop[:, :, ::-1]
        out[bi].append((replace(b, text=text, score=score), redrawn))
    return out


BAND_HEIGHTS = (24, 32, 48)  # px a failing line is scaled to, around it, for detecting its row again
BAND_REACH = 6.0  # × line height the row is searched for the rest of the line, each side
WORD_GAP = 1.0  # × line height: a box of the row this close to the line continues it (a word space)


def row_boxes(image: np.ndarray | OcrImage, b: Box, *, threads: int | None = None) -> list[tuple[float, float, float, float]]:
    """(x0, y0, x1, y1) of the text the detector finds in the row of box ``b`` (a strip a line height above
    and below it, ``BAND_REACH`` line heights to each side), scaled so the line is each of
    ``BAND_HEIGHTS`` px high: at the working size the detector can cut the first or last letters off a
    line on a busy ground (a thin serif W on a dot screen), or miss a word; at one of these it seldom does."""
    import cv2

    from zpipe.text.ocr import as_bgr, detect_at_own_scale

    bgr = as_bgr(image)
    h, w = bgr.shape[:2]
    H = b.height
    x0, x1 = int(max(0, b.x0 - BAND_REACH * H)), int(min(w, b.x1 + BAND_REACH * H + 1))
    y0, y1 = int(max(0, b.y0 - H)), int(min(h, b.y1 + H + 1))
    band = np.ascontiguousarray(bgr[y0:y1, x0:x1])
    out = []
    for target in BAND_HEIGHTS:
        s = target / H
        img = cv2.resize(band, None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
        for q in detect_at_own_scale(img, threads=threads):
            out.append((x0 + float(q[:, 0].min()) / s, y0 + float(q[:, 1].min()) / s,
                        x0 + float(q[:, 0].max()) / s, y0 + float(q[:, 1].max()) / s))
    return out


def widened(image: np.ndarray | OcrImage, boxes: list[Box], others: list[Box], *, threads: int | None = None) -> list[Box | None]:
    """Per box, its reading from a crop widened to the text the detector finds running on from it in its
    row (:func:`row_boxes`), up to the other boxes of that row in ``others``; None where the row's text
    does not reach at least a third of a line height beyond the box."""
    from zpipe.text.ocr import as_bgr, recognise

    out: list[Box | None] = [None] * len(boxes)
    if not boxes:
        return out
    bgr = as_bgr(image)
    h, w = bgr.shape[:2]
    for bi, b in enumerate(boxes):
        H = b.height
        lo, hi = 0.0, w - 1.0  # how far the row is free of other boxes
        for o in others:
            if o is b or min(o.y1, b.y1) - max(o.y0, b.y0) < 0.5 * min(o.height, H):
                continue  # not on this row
            if o.x0 + o.x1 < b.x0 + b.x1:  # to the left (touching or overlapping too: never grow into it)
                lo = max(lo, min(o.x1 + 1, b.x0))
            else:
                hi = min(hi, max(o.x0 - 1, b.x1))
        left, right = b.x0, b.x1
        row = [r for r in row_boxes(image, b, threads=threads)
               if min(r[3], b.y1) - max(r[1], b.y0) >= 0.5 * min(r[3] - r[1], H)]
        grown = True
        while grown:  # the row's boxes that overlap the line or lie a word space from it, transitively
            grown = False
            for r in list(row):
                if r[0] < right + WORD_GAP * H and r[2] > left - WORD_GAP * H:
                    left, right, grown = max(lo, min(left, r[0])), min(hi, max(right, r[2])), True
                    row.remove(r)
        if left > b.x0 - H / 3 and right < b.x1 + H / 3:
            continue
        m = 0.12 * H
        x0, x1 = int(max(0, left - m)), int(min(w, right + m + 1))
        y0, y1 = int(max(0, b.y0 - m)), int(min(h, b.y1 + m + 1))
        [(text, score)] = recognise([np.ascontiguousarray(bgr[y0:y1, x0:x1])], threads=threads)
        if text.strip():
            out[bi] = replace(b, text=text.strip(), x0=left, x1=right, score=score)
    return out
