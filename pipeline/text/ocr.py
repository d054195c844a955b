"""OCR with rapidocr_onnxruntime (PP-OCRv4 Chinese/English detection + recognition, offline, CPU).

* The rapidocr module is imported on first use, not at import time.
* One engine per process (per thread count) is built on first use and cached; calls are serialised
  with a lock, because rapidocr keeps per-call state on the engine object.
* Threads: ``threads`` argument, else ``$ZPIPE_OCR_THREADS``, else ``$OMP_NUM_THREADS``, else
  ``min(4, cpu count)``. Ray workers should set ``ZPIPE_OCR_THREADS`` to their CPU share (1 for a
  1-CPU task) so that N workers don't each spawn a thread per core.
* Speed: detection runs on a copy scaled so its longer side is at most ``det_max_side`` (768 by
  default: 32-px text on a 1024² poster is still 24 px there, plenty for the detector), recognition
  on crops of the full-resolution image, so glyphs keep all their detail and large posters cost
  little more than small ones. The angle classifier is skipped: poster text is upright.
"""

from __future__ import annotations

import os
import threading
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from zpipe.text.match import Box

ENV_THREADS = "ZPIPE_OCR_THREADS"
DEFAULT_DET_MAX_SIDE = 768
DEFAULT_MIN_SCORE = 0.5
REC_MODEL = "ch_PP-OCRv4_rec_infer.onnx"

_lock = threading.Lock()
_engines: dict[int, tuple[Any, threading.Lock]] = {}


class OcrError(Exception):
    """OCR could not run (package missing, bad image); the message says how to fix it."""


def ocr_threads(threads: int | None = None) -> int:
    """The intra-op thread count OCR will use (see module doc)."""
    if threads is not None:
        if int(threads) < 1:
            raise OcrError(f"OCR threads must be ≥ 1, got {threads!r}")
        return int(threads)
    for var in (ENV_THREADS, "OMP_NUM_THREADS"):
        value = os.environ.get(var, "").strip()
        if value:
            try:
                n = int(value)
            except ValueError:
                raise OcrError(f"${var} must be a positive integer, got {value!r}") from None
            if n < 1:
                raise OcrError(f"${var} must be a positive integer, got {value!r}")
            return n
    return max(1, min(4, os.cpu_count() or 1))


def get_engine(threads: int | None = None) -> tuple[Any, threading.Lock]:
    """The process-wide RapidOCR engine for this thread count (built once) and its lock."""
    n = ocr_threads(threads)
    with _lock:
        entry = _engines.get(n)
        if entry is None:
            try:
                from rapidocr_onnxruntime import RapidOCR
            except ImportError as exc:
                raise OcrError(
                    f"glyph checks need rapidocr_onnxruntime ({exc}); install it with "
                    "`pip install rapidocr_onnxruntime==1.4.4`"
                ) from None
            engine = RapidOCR(intra_op_num_threads=n, inter_op_num_threads=1, print_verbose=False)
            entry = _engines[n] = (engine, threading.Lock())
        return entry


def to_bgr_uint8(image: np.ndarray) -> np.ndarray:
    """float32 [0, 1] or uint8 RGB/RGBA/grey (H, W[, C]) -> contiguous uint8 BGR."""
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise OcrError(f"expected an (H, W, 3) image, got shape {arr.shape}")
    arr = arr[:, :, :3]
    if arr.dtype != np.uint8:
        arr = (np.clip(arr.astype(np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(arr[:, :, ::-1])


class OcrImage:
    """An image converted once into what the recogniser reads (contiguous uint8 BGR): one check hands it
    to every reader (read_text, readings, colour_readings, verify_lookalikes, word spaces), which would
    otherwise each convert the float image again."""

    __slots__ = ("bgr", "by_colour")

    def __init__(self, image: np.ndarray) -> None:
        self.bgr = to_bgr_uint8(image)
        self.by_colour: dict[tuple, tuple[Box, np.ndarray] | None] = {}  # colour_readings, per box and pad

    @property
    def shape(self) -> tuple[int, ...]:
        return self.bgr.shape


def as_bgr(image: np.ndarray | OcrImage) -> np.ndarray:
    """The uint8 BGR pixels of ``image``: an :class:`OcrImage`'s as they are, an array's converted."""
    return image.bgr if isinstance(image, OcrImage) else to_bgr_uint8(image)


def read_text(
    image: np.ndarray | OcrImage,
    *,
    threads: int | None = None,
    det_max_side: int = DEFAULT_DET_MAX_SIDE,
    min_score: float = DEFAULT_MIN_SCORE,
) -> list[Box]:
    """Recognise the text in ``image``; boxes with confidence below ``min_score`` are dropped."""
    import cv2

    bgr = as_bgr(image)
    h, w = bgr.shape[:2]
    engine, lock = get_engine(threads)
    if min(h, w) < 64 or max(h, w) / min(h, w) > 8:
        # Tiny or extreme shapes: rapidocr's own pipeline pads them (letterbox) before detection.
        with lock:
            result, _ = engine(bgr, use_cls=False)
        return [Box.from_quad(q, t, s) for q, t, s in (result or []) if float(s) >= min_score]

    scale = min(1.0, det_max_side / max(h, w))
    det_img = cv2.resize(bgr, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else bgr
    with lock:
        quads, _ = engine.text_det(det_img)
        if quads is None or len(quads) == 0:
            return []
        quads = np.array(engine.sorted_boxes(quads), dtype=np.float32) / np.float32(scale)
        quads[..., 0] = np.clip(quads[..., 0], 0, w - 1)
        quads[..., 1] = np.clip(quads[..., 1], 0, h - 1)
        crops = engine.get_crop_img_list(bgr, list(quads))
        recs, _ = engine.text_rec(crops, False)
    out = []
    for quad, rec in zip(quads, recs):
        text, score = rec[0], float(rec[1])
        if score >= min_score and text.strip():
            out.append(Box.from_quad(quad, text, score))
    return out


def recognise(crops: list[np.ndarray], *, threads: int | None = None) -> list[tuple[str, float]]:
    """(text, confidence) of each uint8 BGR crop, read whole by the recogniser in one batch."""
    if not crops:
        return []
    engine, lock = get_engine(threads)
    with lock:
        recs, _ = engine.text_rec(crops, False)
    return [(rec[0], float(rec[1])) for rec in recs]


def detect_at_own_scale(bgr: np.ndarray, *, threads: int | None = None) -> list[np.ndarray]:
    """Text quads (4×2 pixel corners) the detector finds in the uint8 BGR ``bgr`` at its own scale:
    rapidocr's ``text_det`` scales every image up to a short side of 736 px, which for a strip one line
    high would mean a thousandfold the pixels, so its pre-processing is called with a limit instead."""
    from rapidocr_onnxruntime.ch_ppocr_det.utils import DetPreProcess

    engine, lock = get_engine(threads)
    det = engine.text_det
    batch = DetPreProcess(4096, "max", det.mean, det.std)(bgr)
    if batch is None:
        return []
    with lock:
        quads, _ = det.postprocess_op(det.infer(batch)[0], bgr.shape[:2])
        return list(det.filter_tag_det_res(quads, bgr.shape[:2])) if len(quads) else []


@cache
def dictionary() -> tuple[str, ...]:
    """The characters the recogniser can output, read from its ONNX model's metadata (the same list
    rapidocr decodes with); only the small recognition model is opened, not the OCR engine."""
    from importlib.util import find_spec

    spec = find_spec("rapidocr_onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        raise OcrError("glyph checks need rapidocr_onnxruntime; install it with `pip install rapidocr_onnxruntime==1.4.4`")
    import onnxruntime

    model = Path(next(iter(spec.submodule_search_locations))) / "models" / REC_MODEL
    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    chars = session.get_modelmeta().custom_metadata_map.get("character", "")
    return tuple(c for c in chars.splitlines() if c)


@cache
def readable_chars() -> frozenset[str]:
    """The comparison keys (:func:`zpipe.text.match.units`) of every character the recogniser can
    output: an expected character whose key is missing can never be read back."""
    from zpipe.text.match import units

    out: set[str] = set()
    for ch in dictionary():
        for variant in (ch, ch.upper()):
            out.update(u.key for u in units(variant, strict=True))
    return frozenset(out)


REREAD_PADS = (0.2, 0.06, -0.06)


def readings(image: np.ndarray | OcrImage, boxes: list[Box], *, threads: int | None = None,
             pads: tuple[float, ...] = REREAD_PADS) -> list[list[Box]]:
    """Each box read again from axis-aligned crops padded by ``pads`` × box height (so the glyphs
    land at other scales in the recogniser's 48-px input): one list of boxes per pad."""
    if not boxes:
        return [[] for _ in pads]
    bgr = as_bgr(image)
    h, w = bgr.shape[:2]
    crops = []
    for b in boxes:
        for p in pads:
            m = p * b.height
            x0, x1 = int(max(0, b.x0 - m)), int(min(w, b.x1 + m + 1))
            y0, y1 = int(max(0, b.y0 - m)), int(min(h, b.y1 + m + 1))
            if x1 - x0 < 4 or y1 - y0 < 4:
                x0, y0, x1, y1 = int(b.x0), int(b.y0), int(b.x1) + 1, int(b.y1) + 1
            crops.append(np.ascontiguousarray(bgr[y0:y1, x0:x1]))
    engine, lock = get_engine(threads)
    with lock:
        recs, _ = engine.text_rec(crops, False)
    k = len(pads)
    return [[b if not recs[i * k + j][0].strip() else Box(recs[i * k + j][0], b.x0, b.y0, b.x1, b.y1, b.score)
             for i, b in enumerate(boxes)] for j in range(k)]


def majority(boxes: list[Box], alternatives: list[list[Box]]) -> list[Box]:
    """Per box, the text most of the ``alternatives`` agree on; without a majority the first reading."""
    from collections import Counter

    out = []
    for i, b in enumerate(boxes):
        reads = [alt[i].text for alt in alternatives]
        text, votes = Counter(reads).most_common(1)[0]
        out.append(b if votes * 2 <= len(reads) or text == b.text else Box(text, b.x0, b.y0, b.x1, b.y1, b.score))
    return out


def reread(image: np.ndarray | OcrImage, boxes: list[Box], *, threads: int | None = None,
           pads: tuple[float, ...] = REREAD_PADS) -> list[Box]:
    """Second opinion on ``boxes`` whose first reading is in doubt: the majority of the
    :func:`readings` at other crop scales; without a majority the first reading stays.

    Look-alikes such as 己/已 are occasionally misread at one crop scale and read right at the
    others. The vote never looks at the expected text, so it does not favour passing.
    """
    return majority(boxes, readings(image, boxes, threads=threads, pads=pads))


CLEAN_PAD = 0.12  # × box height around a line crop read by text colour


def _by_colour(crop: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """``crop`` as dark glyphs on white: dark where a pixel is near ``centre``, white where it is far
    (a background stroke of another colour through the text disappears)."""
    d = np.linalg.norm(crop.astype(np.float32) - centre, axis=2)
    grey = (np.clip((d - 30.0) / 60.0, 0.0, 1.0) * 255.0).astype(np.uint8)
    return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))


def colour_readings(image: np.ndarray | OcrImage, boxes: list[Box], *, threads: int | None = None,
                    pad: float = CLEAN_PAD) -> list[tuple[Box, np.ndarray] | None]:
    """Each box read again with the background suppressed: its crop is redrawn as dark-on-white once
    per main colour of the crop but the most common (:func:`zpipe.text.colours.colour_centres`), through
    a 3×3 median (which removes what is left of strokes thinner than the glyphs'), so that when the colour is the text's
    the clutter crossing the glyphs is gone. Each redrawn crop is read whole, and cut to its ink where
    that is at most ``INK_SHARE`` of the crop's height (:func:`_ink_bounds`: "Ice Cream" under a ring read
    "Ice Crean" whole, right cut; a box that fits its text is not cut: "Room 1O1" cut tight in a bold face
    read "R00m 101" more confidently than whole, "Ro0m 101"). Per box, the most
    confident of these readings (its ``score`` is the recogniser's confidence; its box the ink's where
    cut) with a copy of the image (uint8 RGB) whose crop is the
    redrawn one it was read from, or None when none read anything. The expected text is never consulted.
    An :class:`OcrImage` remembers them: the degraded-line step asks again about the boxes the clutter step read."""
    memo = image.by_colour if isinstance(image, OcrImage) else {}
    keys = [(b.x0, b.y0, b.x1, b.y1, pad) for b in boxes]
    todo = {k: b for k, b in zip(keys, boxes) if k not in memo}
    if todo:
        memo.update(zip(todo, _colour_readings(image, list(todo.values()), threads, pad)))
    return [memo[k] for k in keys]


def _colour_readings(image: np.ndarray | OcrImage, boxes: list[Box], threads: int | None,
                     pad: float) -> list[tuple[Box, np.ndarray] | None]:
    import cv2

    from zpipe.text.colours import colour_centres

    bgr = as_bgr(image)
    h, w = bgr.shape[:2]
    jobs, crops = [], []
    for bi, b in enumerate(boxes):
        m = pad * b.height
        x0, x1 = int(max(0, b.x0 - m)), int(min(w, b.x1 + m + 1))
        y0, y1 = int(max(0, b.y0 - m)), int(min(h, b.y1 + m + 1))
        if x1 - x0 < 4 or y1 - y0 < 4:
            continue
        crop = bgr[y0:y1, x0:x1]
        for centre in colour_centres(crop)[1:]:  # the most common colour is the background's
            redrawn = np.ascontiguousarray(cv2.medianBlur(_by_colour(crop, centre), 3))
            ty0, ty1, tx0, tx1 = _ink_bounds(redrawn)
            jobs.append((bi, (y0, y1, x0, x1), None, redrawn))
            crops.append(redrawn)
            if ty1 - ty0 <= INK_SHARE * (y1 - y0):  # and cut to its ink, where the box is far taller
                jobs.append((bi, (y0, y1, x0, x1), (y0 + ty0, y0 + ty1, x0 + tx0, x0 + tx1), redrawn))
                crops.append(np.ascontiguousarray(redrawn[ty0:ty1, tx0:tx1]))
    best: list[tuple[Box, np.ndarray] | None] = [None] * len(boxes)
    if not crops:
        return best
    engine, lock = get_engine(threads)
    with lock:
        recs, _ = engine.text_rec(crops, False)
    picked: dict[int, tuple[Box, tuple[int, int, int, int], np.ndarray]] = {}
    for (bi, region, cut, crop), rec in zip(jobs, recs):
        text, score, b = rec[0].strip(), float(rec[1]), boxes[bi]
        if text and (bi not in picked or score > picked[bi][0].score):
            if cut is not None:  # the box of the ink it was read from
                b = Box(text, float(cut[2]), float(cut[0]), float(cut[3] - 1), float(cut[1] - 1), score)
            picked[bi] = (Box(text, b.x0, b.y0, b.x1, b.y1, score), region, crop)
    for bi, (box, (y0, y1, x0, x1), crop) in picked.items():
        redrawn = np.ascontiguousarray(bgr[:, :, ::-1])
        redrawn[y0:y1, x0:x1] = crop
        best[bi] = (box, redrawn)
    return best


INK_MARGIN = 0.15  # × the ink's height around the ink of a line redrawn by colour
INK_SHARE = 0.75  # a line crop is also read cut to its ink where that is at most this share of its height


def _ink_bounds(redrawn: np.ndarray) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) of the dark ink of a crop redrawn dark-on-white, with a margin: the detector's box
    can be far taller than the text (a ring of clutter joined to it), and the recogniser scales the
    whole crop to 48 px high, so a thin stroke (一) would be lost. The whole crop when it has no ink."""
    ink = redrawn[:, :, 0] < 128
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    h, w = ink.shape
    if not len(rows):
        return 0, h, 0, w
    m = int(INK_MARGIN * (rows[-1] - rows[0] + 1)) + 2
    return max(0, rows[0] - m), min(h, rows[-1] + m + 1), max(0, cols[0] - m), min(w, cols[-1] + m + 1)


def ctc_centres(engine, lock, crop: np.ndarray, text: str) -> list[float | None] | None:
    """The recogniser's CTC column centre of each character of ``text`` as a fraction of the crop
    width (None for a space), or None when its reading of ``crop`` differs from ``text`` in more
    than spaces."""
    with lock:
        recs, _ = engine.text_rec([crop], True)
    rec = recs[0]
    if len(rec) < 3 or rec[0].replace(" ", "") != text.replace(" ", "") or rec[2][0] <= 0:
        return None
    total, words, cols = rec[2][0], rec[2][1], rec[2][2]
    # one column per decoded character, spaces included (rapidocr 1.4's word_box output)
    flat = [(c + 0.5) / total for w, cs in zip(words, cols) for ch, c in zip(w, cs) if ch != " "]
    positions = [i for i, c in enumerate(text) if c != " "]
    if len(flat) != len(positions):
        return None
    centre = dict(zip(positions, flat))
    return [centre.get(i) for i in range(len(text))]


def char_spans(engine, lock, crop: np.ndarray, text: str) -> list[tuple[float, float]] | None:
    """Horizontal extent (as fractions of the crop width) of each character of ``text``: equal
    slices for a run of ideographs (CJK glyphs share one advance), else the recogniser's CTC
    column of each character. None when the columns do not line up with the text."""
    from zpipe.text.prompt import is_cjk

    n = len(text)
    if n and all(is_cjk(c) for c in text):
        return [(i / n, (i + 1) / n) for i in range(n)]
    centres = ctc_centres(engine, lock, crop, text)  # None for a space (the recogniser decodes spaces too)
    return None if centres is None else _spans_around(centres)


def _spans_around(pts: list[float | None]) -> list[tuple[float, float]]:
    """Each character's extent from its column centre: halfway to the neighbouring centres (a lone
    character: half its distance to the one neighbour, or the whole width); (0, 0) for a space."""
    spans: list[tuple[float, float]] = []
    for i, p in enumerate(pts):
        if p is None:
            spans.append((0.0, 0.0))
            continue
        left = next((q for q in reversed(pts[:i]) if q is not None), None)
        right = next((q for q in pts[i + 1:] if q is not None), None)
        half = min(abs(p - q) for q in (left, right) if q is not None) / 2 if (left or right) else 0.5
        spans.append((max(0.0, p - half if left is None else (left + p) / 2),
                      min(1.0, p + half if right is None else (p + right) / 2)))
    return spans


LOOKALIKE_PADS = (0.12,)  # × box height around a single-character crop (one scale: a second costs 15%)


def _lookalike_crops(engine, lock, bgr: np.ndarray, b: Box) -> list[tuple[int, np.ndarray, tuple[int, int]]]:
    """(character index, crop, the crop's columns that hold the character) for each look-alike character
    of box ``b``, one crop per pad of LOOKALIKE_PADS (at several scales the more confident reading counts)."""
    from zpipe.text.lookalikes import to_verify

    idx = to_verify(b.text)
    if not idx:
        return []
    h, w = bgr.shape[:2]
    x0, x1 = int(max(0, b.x0)), int(min(w, b.x1 + 1))
    y0, y1 = int(max(0, b.y0)), int(min(h, b.y1 + 1))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return []
    spans = char_spans(engine, lock, np.ascontiguousarray(bgr[y0:y1, x0:x1]), b.text)
    if spans is None:
        return []
    out = []
    for i in idx:
        a, z = spans[i]
        if z <= a:
            continue
        for pad in LOOKALIKE_PADS:
            m = pad * b.height
            cx0 = int(max(0, x0 + a * (x1 - x0) - m))
            cx1 = int(min(w, x0 + z * (x1 - x0) + m + 1))
            cy0, cy1 = int(max(0, b.y0 - m)), int(min(h, b.y1 + m + 1))
            if cx1 - cx0 >= 4:
                own = (int(x0 + a * (x1 - x0)) - cx0, int(x0 + z * (x1 - x0)) + 1 - cx0)
                out.append((i, np.ascontiguousarray(bgr[cy0:cy1, cx0:cx1]), own))
    return out


_SINGLES: dict[bytes, tuple[str, float]] = {}  # crop digest -> reading: the doubt pass re-reads no crop
_SINGLES_MAX = 512


def _read_singles(engine, lock, crops: list[np.ndarray]) -> list[tuple[str, float]]:
    """The recogniser's (text, confidence) of each single-character crop, remembered by the crop's
    bytes: :func:`lookalike_doubts` asks again about crops :func:`verify_lookalikes` read."""
    keys = [crop_digest(c) for c in crops]
    todo = [i for i, k in enumerate(keys) if k not in _SINGLES]
    if todo:
        with lock:
            recs, _ = engine.text_rec([crops[i] for i in todo], False)
        if len(_SINGLES) + len(todo) > _SINGLES_MAX:
            _SINGLES.clear()
        for i, rec in zip(todo, recs):
            _SINGLES[keys[i]] = (rec[0].strip(), float(rec[1]))
    return [_SINGLES[k] for k in keys]


def verify_lookalikes(image: np.ndarray | OcrImage, boxes: list[Box], *, threads: int | None = None,
                      min_score: float = 0.5) -> list[Box]:
    """Re-read each look-alike character (:mod:`zpipe.text.lookalikes`) of ``boxes`` from a crop of
    that character alone, which the recogniser reads without its word prior (干杯 read as 干杯 when
    it shows 千杯). A single-character reading with confidence ≥ ``min_score`` that is another
    member of the character's look-alike group replaces it, unless the ink clearly shows the line's
    reading (:func:`zpipe.text.ink.which` over the group: a lone crop has no context either way, and
    reads a correct 千 of 千岛湖 as 干, 己 of 知己 as 已, 入 as 人 in some faces). Then a character the recogniser cannot
    tell from a look-alike even alone (:func:`zpipe.text.lookalikes.read_as`: 曰 read as 日) is
    replaced by the member its ink shows when the ink is clear (:func:`zpipe.text.ink.which`, which
    weighs every member alike). A character whose crop alone is not read as one character with
    confidence ≥ ``min_score`` (a halftone screen, clutter) is what its ink clearly shows, if anything:
    技木分享 on a dot screen, its 木 alone read 菜; so is one read back as itself alone: the line and its
    crop are one recogniser with one bias (a correct 入场 scaled down and up read 人 both ways), and where
    a clear ink and a confident lone reading disagree the ink is right 289 times in 294
    (``benchmarks/ink_decisions.py --readings``). Nothing else is changed, and the expected text is never
    consulted."""
    from zpipe.text.lookalikes import group, to_verify

    if not any(to_verify(b.text) for b in boxes):
        return boxes  # the common case: no look-alike to re-read, so no copy of the image to make
    bgr = as_bgr(image)
    engine, lock = get_engine(threads)
    jobs, crops = [], []  # (box index, char index, the char's columns)
    for bi, b in enumerate(boxes):
        for i, crop, own in _lookalike_crops(engine, lock, bgr, b):
            jobs.append((bi, i, own))
            crops.append(crop)
    if not crops:
        return boxes
    best: dict[tuple[int, int], tuple[float, str, np.ndarray, tuple[int, int]]] = {}
    for (bi, i, own), crop, (read, score) in zip(jobs, crops, _read_singles(engine, lock, crops)):
        score = score if len(read) == 1 else 0.0  # not one character: no reading of it
        if score > best.get((bi, i), (-1.0,))[0]:
            best[(bi, i)] = (score, read, crop, own)
    texts = [list(b.text) for b in boxes]
    contested: list[list[tuple[str, str]]] = [[] for _ in boxes]
    for (bi, i), (score, read, crop, own) in best.items():
        was = texts[bi][i]
        if score < min_score or read == was:  # unreadable alone (a halftone screen, clutter), or read back as
            was = _ink_shows(crop, own, was) or was  # itself: the ink clearly showing another member decides
        elif read in group(was):
            shown = _ink_shows(crop, own, was)
            if shown != was:  # (unless the ink clearly shows the line's reading: 千岛湖's 千 alone read 干)
                if shown != read:  # nor the crop's: one reading against the other (土气 alone read 士)
                    contested[bi].append((read, was))
                texts[bi][i] = was = read
        texts[bi][i] = _ink_says(crop, own, was) or was
    return [b if "".join(t) == b.text else Box("".join(t), b.x0, b.y0, b.x1, b.y1, b.score, tuple(c))
            for b, t, c in zip(boxes, texts, contested)]


def crop_digest(crop: np.ndarray) -> bytes:
    """A key for remembering what was read or judged of a crop: its pixels and shape."""
    import hashlib

    return hashlib.blake2b(crop.tobytes() + repr(crop.shape).encode(), digest_size=16).digest()


def _ink_says(crop: np.ndarray, own: tuple[int, int], ch: str) -> str | None:
    """For a character the recogniser reads even where a look-alike is shown (日 for 曰): the member of
    ``ch`` and those look-alikes that the ink of ``crop`` clearly shows, else None (also for the others)."""
    from zpipe.text.lookalikes import read_as

    rivals = read_as(ch)
    return _ink_names(crop, own, ch + rivals) if rivals else None


def _ink_shows(crop: np.ndarray, own: tuple[int, int], ch: str) -> str | None:
    """For a table look-alike: the member of its group that the ink of ``crop`` clearly shows, else None.
    A reading of a heavy, light or outlined glyph can favour the common form even alone (土 read as 士, 侯
    as 候)."""
    from zpipe.text.lookalikes import group

    return _ink_names(crop, own, "".join(group(ch)))


def _ink_names(crop: np.ndarray, own: tuple[int, int], members: str) -> str | None:
    """:func:`zpipe.text.ink.which` of ``members`` on the crop, remembered per crop: the doubt pass asks
    again about the crops :func:`verify_lookalikes` judged."""
    from zpipe.text.ink import which

    key = (crop_digest(crop), own, "".join(sorted(members)))
    if key not in _INK:
        if len(_INK) >= _SINGLES_MAX:
            _INK.clear()
        _INK[key] = which(crop, members, own)
    return _INK[key]


_INK: dict[tuple, str | None] = {}


def lookalike_doubts(image: np.ndarray | OcrImage, boxes: list[Box], *, threads: int | None = None,
                     min_score: float = 0.5) -> list[dict[str, str]]:
    """Per box, its look-alike characters that nothing confirmed, each with the look-alikes it could be
    hiding: a character whose crop alone is not read back as itself with confidence ≥ ``min_score``
    (clutter, a halftone screen, a crop that cannot be placed: the whole group), or one the recogniser
    reads even where a look-alike is shown (:func:`zpipe.text.lookalikes.read_as`) and whose ink does not
    clearly show it (those look-alikes), or one whose lone crop overrode the line's reading while the ink
    showed neither (``Box.contested``: the line's reading; 土气 read right as a line, 士 alone).
    Readings are remembered from :func:`verify_lookalikes`."""
    from zpipe.text.lookalikes import group, read_as, to_verify

    out: list[dict[str, str]] = [{} for _ in boxes]
    if not any(to_verify(b.text) for b in boxes):
        return out
    bgr = as_bgr(image)
    engine, lock = get_engine(threads)
    for bi, b in enumerate(boxes):
        read_ok: dict[int, bool] = {}  # char index -> one of its crops is read back as it
        ink_ok: dict[int, bool] = {}  # char index -> one of those crops' ink clearly shows it
        pieces = _lookalike_crops(engine, lock, bgr, b)
        readings = _read_singles(engine, lock, [c for _, c, _ in pieces]) if pieces else []
        ink_other: dict[int, str] = {}  # char index -> another member of its group its ink clearly shows
        for (i, crop, own), (read, score) in zip(pieces, readings):
            ch = b.text[i]
            if read == ch and score >= min_score:
                read_ok[i] = True
                if read_as(ch):
                    ink_ok[i] = ink_ok.get(i, False) or _ink_says(crop, own, ch) == ch
                else:
                    shown = _ink_shows(crop, own, ch)
                    ink_ok[i] = ink_ok.get(i, False) or shown in (None, ch)
                    if shown not in (None, ch):
                        ink_other[i] = shown
        for now, before in b.contested:
            if now in b.text and before not in out[bi].get(now, ""):
                out[bi][now] = out[bi].get(now, "") + before
        for i in to_verify(b.text):
            ch = b.text[i]
            rivals = ("" if ink_ok.get(i) else read_as(ch) or ink_other.get(i, "") if read_ok.get(i)
                      else "".join(sorted(group(ch) - {ch})))
            if rivals:
                out[bi][ch] = out[bi].get(ch, "") + "".join(r for r in rivals if r not in out[bi].get(ch, ""))
    return out
