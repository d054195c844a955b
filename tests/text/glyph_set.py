"""Generated glyph-check test sets: paired twins (the expected text shown correctly, and shown with
one error) in CJK fonts other than the default Noto Sans CJK SC, on hard backgrounds, with small
rotation, blur and JPEG.

Two sets that share nothing but the error types: ``DEV``, the set the check was developed against
(six fonts, its own texts and look-alike pairs), and ``HELDOUT``, built afterwards to measure it (five
other fonts, other backgrounds and degradations, other texts, other look-alike pairs from the shipped
table, other seeds). Tune nothing against ``HELDOUT``: it is the honest number.

Everything is drawn here with Pillow directly (not with zpipe's typesetter), from a fixed seed, so
the sets are the same on every run and no image is committed. Error types:

* ``lookalike``: one character swapped for a look-alike (自己 -> 自已, 打折 -> 打拆, Room 101 -> Room 1O1);
* ``missing`` / ``extra``: a character dropped or doubled;
* ``punct``: meaningful punctuation changed (2.5折 -> 25折, 09:45 -> 0945, 真的吗？ -> 真的吗！);
* ``spacing``: a Latin word split in two (Everywhere -> Every where);
* ``extra_text``: a stamp or a duplicated line added to the poster;
* ``unreadable``: a character the recogniser cannot output (kana, hangul, €, 鬱) changed: the correct
  twin must come back ``unverified``, never ``pass``, and the wrong one must not pass either.

``ZPIPE_GLYPH_SET_DUMP=DIR`` writes the images for inspection.
"""

from __future__ import annotations

import contextlib
import io
import os
import zlib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np


@dataclass
class Case:
    i: int
    error: str
    correct: bool
    expected: list[str]
    shown: list[str]
    font: str
    background: str
    degrade: str
    stamp: str | None = None
    seed: int = 0
    size: list[int] = field(default_factory=list)
    set: str = "dev"
    style: str = "plain"  # how the text is drawn: plain, outline, shadow, glow, colour

    @property
    def want(self) -> str:
        """The verdict a right check gives: pass, or unverified where the text cannot be read back."""
        return "unverified" if self.error == "unreadable" and self.correct else "pass" if self.correct else "fail"


@dataclass(frozen=True)
class TwinSet:
    name: str
    fonts: dict[str, tuple[str, str]]  # label -> (family or full name, Debian package)
    pairs: dict[str, list[tuple[str, str]]]
    stamps: tuple[str, ...]
    companions: tuple[str, ...]
    backgrounds: tuple[str, ...]
    degrade: tuple[str, ...]
    size: tuple[int, int]
    seed: int
    latin_font: str = ""  # drawn per character: Latin and digits the CJK font lacks come from this one
    styles: tuple[str, ...] = ("plain",)


def _load_sets() -> dict[str, TwinSet]:
    """The sets' fonts, texts and pairs live in twin_sets.yaml, next to this file: data, not code."""
    import yaml

    data = yaml.safe_load(Path(__file__).with_name("twin_sets.yaml").read_text(encoding="utf-8"))
    return {name: TwinSet(name, fonts={label: tuple(font) for label, font in d["fonts"].items()},
                          pairs={error: [tuple(p) for p in pairs] for error, pairs in d["pairs"].items()},
                          stamps=tuple(d["stamps"]), companions=tuple(d["companions"]),
                          backgrounds=tuple(d["backgrounds"]), degrade=tuple(d["degrade"]),
                          size=tuple(d["size"]), seed=d["seed"], latin_font=d["latin_font"],
                          styles=tuple(d.get("styles", ("plain",))))
            for name, d in data.items()}


SETS = _load_sets()
DEV, HELDOUT, FRESH = SETS["dev"], SETS["heldout"], SETS["fresh"]
FONTS = DEV.fonts  # label -> (family or full name, Debian package)


def missing_fonts(twin_set: TwinSet) -> list[str]:
    """The fonts of ``twin_set`` not installed here, each with its Debian package."""
    from zpipe.text.fonts import FontError, resolve_font

    missing = []
    for name, package in [*twin_set.fonts.values(), *([(twin_set.latin_font, "fonts-dejavu-core")]
                                                      if twin_set.latin_font else [])]:
        try:
            resolve_font(name)
        except FontError:
            missing.append(f"{name} ({package})")
    return missing


def installed_case(set_name: str, i: int) -> Case | None:
    """Case ``i`` of the twin set ``set_name``, or None when its font is not installed here (the caller
    skips): the tests that check one twin-set poster through the real check start from this."""
    from zpipe.text.fonts import FontError, resolve_font

    twin_set = SETS[set_name]
    case = build_cases(twin_set=twin_set)[i]
    try:
        resolve_font(twin_set.fonts[case.font][0])
    except FontError:
        return None
    return case


def build_cases(seed: int | None = None, twin_set: TwinSet = DEV) -> list[Case]:
    rng = np.random.default_rng(twin_set.seed if seed is None else seed)
    cases: list[Case] = []
    fonts, backgrounds, degrades = list(twin_set.fonts), list(twin_set.backgrounds), list(twin_set.degrade)
    companions, stamps = twin_set.companions, twin_set.stamps
    k = 0
    for error, pairs in twin_set.pairs.items():
        for expected, wrong in pairs:
            companion = companions[int(rng.integers(len(companions)))]
            first = bool(rng.integers(2))  # the line under test comes first or second
            common = dict(font=fonts[k % len(fonts)], background=backgrounds[(k // 2) % len(backgrounds)],
                          degrade=degrades[int(rng.integers(len(degrades)))], seed=int(rng.integers(2**31)),
                          size=[int(rng.integers(46, 72)), int(rng.integers(32, 42))], set=twin_set.name,
                          style=twin_set.styles[(k // 3) % len(twin_set.styles)])
            k += 1
            lines_ok = [expected, companion] if first else [companion, expected]
            lines_bad = [wrong, companion] if first else [companion, wrong]
            stamp = None
            if error == "extra_text":
                stamp = stamps[k % len(stamps)] if k % 3 else "dup"  # a stamp, or the line shown twice
            cases.append(Case(len(cases), error, True, lines_ok, lines_ok, **common))
            cases.append(Case(len(cases), error, False, lines_ok, lines_bad, stamp=stamp, **common))
    return cases


def _background(kind: str, rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    import cv2

    c0, c1 = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == "flat":
        return np.broadcast_to(c0, (h, w, 3)).astype(np.float32).copy()
    t = ((yy / h) * rng.uniform(0.3, 1) + (xx / w) * rng.uniform(0, 0.7))[..., None]
    img = (c0 * (1 - t) + c1 * t).astype(np.float32)
    if kind == "noise":
        img += rng.normal(0, 0.09, img.shape).astype(np.float32)
    elif kind == "texture":  # cobblestone-like cells plus fine grain (a procedural texture)
        pts = rng.uniform(0, 1, (40, 2)) * [w, h]
        d = np.min(np.hypot(xx[..., None] - pts[:, 0], yy[..., None] - pts[:, 1]), axis=2)
        cells = (np.sin(d / rng.uniform(5, 9)) * 0.5 + 0.5)[..., None]
        img = img * (0.55 + 0.45 * cells) + rng.normal(0, 0.04, img.shape)
    elif kind == "clutter":  # shapes, strokes and dots that are not text
        from PIL import Image, ImageDraw

        im = Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8))
        d = ImageDraw.Draw(im)
        for _ in range(26):
            col = tuple(int(v) for v in rng.integers(0, 256, 3))
            x, y = int(rng.integers(w)), int(rng.integers(h))
            r = int(rng.integers(8, 60))
            shape = int(rng.integers(3))
            if shape == 0:
                d.ellipse((x - r, y - r, x + r, y + r), outline=col, width=int(rng.integers(2, 6)))
            elif shape == 1:
                d.rectangle((x, y, x + r, y + r // 2), fill=col)
            else:
                d.line((x, y, x + int(rng.integers(-90, 90)), y + int(rng.integers(-90, 90))), fill=col,
                       width=int(rng.integers(2, 7)))
        img = np.asarray(im, dtype=np.float32) / 255
        img = cv2.GaussianBlur(img, (0, 0), 0.8)
    elif kind == "stripes":  # diagonal bands of a third colour
        period, angle = rng.uniform(14, 40), rng.uniform(0, np.pi)
        band = (np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period) > 0.3)[..., None]
        img = np.where(band, img * 0.6 + rng.uniform(0, 1, 3).astype(np.float32) * 0.4, img)
    elif kind == "blobs":  # large soft colour blobs, like an out-of-focus photograph
        small = rng.uniform(0, 1, (6, 9, 3)).astype(np.float32)
        img = img * 0.4 + cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC) * 0.6
    elif kind == "paper":  # fibres and grain
        grain = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 1.2)
        fibres = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), sigmaX=9, sigmaY=0.7)
        img = img + (0.05 * grain + 0.25 * fibres)[..., None]
    elif kind == "halftone":  # a dot screen whose dot size follows a gradient
        cell = int(rng.integers(7, 12))
        r = ((xx % cell - cell / 2) ** 2 + (yy % cell - cell / 2) ** 2) ** 0.5
        dots = (r < cell * 0.45 * (0.3 + 0.7 * xx / w))[..., None]
        img = np.where(dots, img * 0.55, img)
    elif kind == "wood":  # rings and grain: long wavy dark lines, like a plank
        warp = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 25) * 60
        rings = np.sin((yy + 0.15 * xx + warp) * 2 * np.pi / rng.uniform(9, 18))
        img = img * (0.7 + 0.3 * rings[..., None]) + rng.normal(0, 0.03, img.shape)
    elif kind == "marble":  # thin dark veins through a light stone
        noise = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 12) * 40
        veins = np.abs(np.sin((xx * 0.7 + yy + noise) * 2 * np.pi / rng.uniform(60, 110))) ** 0.25
        img = img * (0.35 + 0.65 * veins[..., None])
    elif kind == "bokeh":  # soft bright discs of light over a dark scene
        img = img * 0.35
        for _ in range(40):
            cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(8, 45)
            disc = (np.hypot(xx - cx, yy - cy) < r).astype(np.float32)
            img = img + cv2.GaussianBlur(disc, (0, 0), 2.5)[..., None] * rng.uniform(0.1, 0.35, 3).astype(np.float32)
    elif kind == "grain":  # heavy coloured sensor noise over a gradient
        img += rng.normal(0, 0.14, img.shape).astype(np.float32)
    return np.clip(img, 0, 1).astype(np.float32)


@cache
def _face(name: str):
    from zpipe.text.fonts import resolve_font

    return resolve_font(name)


def _runs(text: str, faces: list) -> list[tuple[str, object]]:
    """``text`` cut into runs each drawn with the first of ``faces`` that has all of it."""
    runs: list[tuple[str, object]] = []
    for ch in text:
        face = next((f for f in faces if ch.isspace() or f.has(ch)), faces[-1])
        if runs and runs[-1][1] is face:
            runs[-1] = (runs[-1][0] + ch, face)
        else:
            runs.append((ch, face))
    return runs


def _length(runs, size: int) -> float:
    return sum(f.pil(size).getlength(t) for t, f in runs)


def render(case: Case) -> np.ndarray:
    """The poster of ``case`` as float32 RGB."""
    from PIL import Image, ImageDraw, ImageFilter

    spec = SETS[case.set]
    rng = np.random.default_rng(case.seed)
    w, h = spec.size
    bg = _background(case.background, rng, w, h)
    lum = float((bg @ np.array([0.3, 0.59, 0.11], np.float32)).mean())
    fill = (20, 20, 24) if lum > 0.55 else (250, 250, 245)
    outline = (250, 250, 245) if fill[0] < 128 else (10, 10, 14)
    im = Image.fromarray((bg * 255 + 0.5).astype(np.uint8)).convert("RGB")
    draw = ImageDraw.Draw(im)
    face = _face(spec.fonts[case.font][0])
    backup = _face("Noto Serif CJK SC")  # for hangul and kana the Arphic fonts lack
    y = int(h * 0.12)
    lines = list(case.shown)
    if case.stamp == "dup":
        lines.append(lines[int(rng.integers(len(lines)))])
    for li, text in enumerate(lines):
        size = case.size[min(li, 1)]
        if spec.latin_font:
            runs = _runs(text, [face, _face(spec.latin_font), backup])
        else:
            runs = [(text, face if all(face.has(c) for c in text if not c.isspace()) else backup)]

        while _length(runs, size) > 0.86 * w:  # fit the width (the Arphic fonts' Latin is wide)
            size -= 2
        width = _length(runs, size)
        x = int(rng.uniform(0.06 * w, max(0.06 * w + 1, w - width - 0.06 * w)))
        stroke = max(1, size // 22) if case.background in ("noise", "texture", "clutter", "halftone") else 0
        if case.style != "plain":
            im = _styled_line(im, case.style, runs, (x, y + size), size, fill, outline, rng)
            draw = ImageDraw.Draw(im)
        elif not spec.latin_font:  # one font per line, drawn from its top
            draw.text((x, y), text, font=runs[0][1].pil(size), fill=fill, stroke_width=stroke, stroke_fill=outline)
        for t, f in runs if spec.latin_font and case.style == "plain" else ():  # runs share one baseline
            font = f.pil(size)
            draw.text((x, y + size), t, font=font, fill=fill, stroke_width=stroke, stroke_fill=outline, anchor="ls")
            x += font.getlength(t)
        y += int(size * 1.45)
    if case.stamp and case.stamp != "dup":
        stamp_font = backup.pil(34)
        layer = Image.new("RGBA", (int(stamp_font.getlength(case.stamp)) + 20, 56), (0, 0, 0, 0))
        ImageDraw.Draw(layer).text((10, 6), case.stamp, font=stamp_font, fill=(200, 20, 30, 255))
        layer = layer.rotate(float(rng.uniform(-8, 8)), expand=True, resample=Image.BICUBIC)
        im.paste(layer, (int(w * 0.35), int(h * 0.72)), layer)
    if "rotate" in case.degrade:
        im = im.rotate(float(rng.uniform(-3, 3)), resample=Image.BICUBIC, fillcolor=tuple(int(v * 255) for v in bg[0, 0]))
    if "blur" in case.degrade:
        im = im.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.6, 1.1))))
    if case.degrade == "downscale":  # a small image scaled back up (a thumbnail, an upscaler's input)
        f = float(rng.uniform(0.5, 0.7))
        im = im.resize((int(w * f), int(h * f)), Image.BILINEAR).resize((w, h), Image.BICUBIC)
    if case.degrade == "perspective":  # a photograph of a poster, taken a little from the side
        import cv2

        src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        dst = (src + rng.uniform(-0.04, 0.04, (4, 2)) * [w, h]).astype(np.float32)
        m = cv2.getPerspectiveTransform(src, dst)
        im = Image.fromarray(cv2.warpPerspective(np.asarray(im), m, (w, h), flags=cv2.INTER_CUBIC,
                                                 borderMode=cv2.BORDER_REPLICATE))
    if case.degrade == "motion":  # camera shake: a short horizontal smear
        import cv2

        n = int(rng.integers(3, 6))
        im = Image.fromarray(cv2.filter2D(np.asarray(im), -1, np.full((1, n), 1.0 / n, np.float32)))
    if case.degrade == "noise":  # sensor noise on top of everything
        arr = np.asarray(im, dtype=np.float32) + rng.normal(0, 14, (h, w, 3))
        im = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    if case.degrade == "contrast":  # a washed-out print: contrast squeezed towards mid-grey
        arr = np.asarray(im, dtype=np.float32)
        im = Image.fromarray(np.clip(128 + (arr - 128) * rng.uniform(0.45, 0.6), 0, 255).astype(np.uint8))
    if "jpeg" in case.degrade:
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=int(rng.integers(30, 45)) if case.degrade == "jpeg-heavy" else int(rng.integers(55, 80)))
        im = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return np.asarray(im, dtype=np.float32) / 255


def _styled_line(im, style: str, runs, origin: tuple[float, float], size: int, fill, outline, rng):
    """One line drawn on ``im`` (baseline at ``origin``) in a poster style: ``outline`` (a thick contrasting
    stroke), ``shadow`` (a soft offset drop shadow), ``glow`` (a blurred halo of the outline colour) or
    ``colour`` (a saturated fill instead of black/white)."""
    from PIL import Image, ImageDraw, ImageFilter

    def draw_runs(d, xy, colour, stroke=0, stroke_fill=None):
        x, y = xy
        for t, f in runs:
            font = f.pil(size)
            d.text((x, y), t, font=font, fill=colour, stroke_width=stroke, stroke_fill=stroke_fill, anchor="ls")
            x += font.getlength(t)

    if style == "outline":
        draw_runs(ImageDraw.Draw(im), origin, fill, max(2, size // 12), outline)
        return im
    if style == "colour":
        hue = rng.uniform(0, 1)
        import colorsys

        light = fill[0] > 128
        r, g, b = colorsys.hls_to_rgb(hue, 0.78 if light else 0.25, 0.9)
        draw_runs(ImageDraw.Draw(im), origin, (int(r * 255), int(g * 255), int(b * 255)))
        return im
    layer = Image.new("L", im.size, 0)
    offset = (size * 0.08, size * 0.08) if style == "shadow" else (0, 0)
    draw_runs(ImageDraw.Draw(layer), (origin[0] + offset[0], origin[1] + offset[1]), 255,
              max(1, size // 16) if style == "glow" else 0, 255)
    layer = layer.filter(ImageFilter.GaussianBlur(size * (0.05 if style == "shadow" else 0.12)))
    halo = Image.new("RGB", im.size, outline if style == "glow" else (0, 0, 0))
    im = Image.composite(halo, im, layer.point(lambda v: int(v * (0.75 if style == "shadow" else 0.95))))
    draw_runs(ImageDraw.Draw(im), origin, fill)
    return im


def fingerprint(cases: list[Case]) -> int:
    """A checksum of the set's definition (changes when the set does)."""
    return zlib.crc32(repr([(c.expected, c.shown, c.font, c.background, c.degrade, c.stamp, c.seed)
                            for c in cases]).encode())


def check_case(case: Case) -> dict:
    """The glyph check's result on the poster of ``case`` (run in a worker process of :func:`check_pool`)."""
    from zpipe.text.check import check_image

    return check_image(render(case), case.expected)


@contextlib.contextmanager
def check_pool(workers: int | None = None):
    """An executor whose worker processes each run the glyph check with one OCR thread, one per CPU this
    process may use (at most 8), for :func:`check_case`. On two cores two processes of one OCR thread
    check a set in about half the time one process with two OCR threads takes: much of the check is
    single-threaded Python and numpy, and the recogniser's small batches use a second thread poorly.
    Each image is checked on its own with one thread, so the results depend neither on the number of
    workers nor on their order (``map`` returns them in the order of the cases); a worker that dies
    breaks the executor (an error, not a hang)."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    if workers is None:
        cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
        workers = max(1, min(8, len(cpus)))
    one_thread = {"ZPIPE_OCR_THREADS": "1", "OMP_NUM_THREADS": "1"}
    saved = {k: os.environ.get(k) for k in one_thread}
    os.environ.update(one_thread)  # for as long as workers may start: they inherit it, before importing onnxruntime
    try:
        pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"))
        try:
            yield pool
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # a test that stopped early leaves no work queued
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def installed_face(name: str):
    """The face of ``name``, or None where it is not installed."""
    from zpipe.text.fonts import FontError, resolve_font

    try:
        return resolve_font(name)
    except FontError:
        return None


def line_crop(ch: str, face, look: str, rng, size: int = 44) -> tuple[np.ndarray, tuple[int, int]]:
    """``ch`` between two neighbours as a poster line in ``look`` (light, dark, outline, shadow, blur, jpeg),
    cut as verify_lookalikes cuts it (the box's equal third, 0.12 × the box height around): (BGR crop, the
    crop's columns of the character). Shared by the ink tests and ``benchmarks/ink_decisions.py``."""
    from PIL import Image, ImageDraw, ImageFilter

    text = "中" + ch + "大"
    font = face.pil(size)
    w, h = size * 4, size * 2
    back, fill = ((235, 230, 220), (20, 20, 24)) if look not in ("dark", "shadow") else ((30, 40, 70), (250, 250, 245))
    im = Image.new("RGB", (w, h), back)
    x0 = y0 = size // 2
    if look == "shadow":  # a soft dark shadow down and right, as typeset draws under light text
        mask = Image.new("L", (w, h), 0)
        ImageDraw.Draw(mask).text((x0 + 2, y0 + 3), text, font=font, fill=255, stroke_width=1)
        mask = mask.filter(ImageFilter.GaussianBlur(2.5)).point(lambda v: int(v * 0.8))
        im = Image.composite(Image.new("RGB", (w, h), (0, 0, 0)), im, mask)
    if look == "outline":  # a red fill with a dark outline: the glyph drawn thicker
        fill = (200, 30, 30)
        ImageDraw.Draw(im).text((x0, y0), text, font=font, fill=fill, stroke_width=2, stroke_fill=(20, 20, 24))
    ImageDraw.Draw(im).text((x0, y0), text, font=font, fill=fill)
    if look == "blur":
        im = im.filter(ImageFilter.GaussianBlur(1.0))
    if look == "jpeg":
        noisy = np.asarray(im, np.float32) + rng.normal(0, 15, (h, w, 3))
        buf = io.BytesIO()
        Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=60)
        im = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    arr = np.asarray(im)[:, :, ::-1]
    bx0, bx1 = x0 - 3, x0 + font.getlength(text) + 3
    by0, by1 = y0 - 0.1 * size, y0 + 1.2 * size
    m = 0.12 * (by1 - by0)
    a, z = bx0 + (bx1 - bx0) / 3, bx0 + 2 * (bx1 - bx0) / 3
    cx0 = int(a - m)
    crop = np.ascontiguousarray(arr[int(by0 - m):int(by1 + m + 1), cx0:int(z + m + 1)])
    return crop, (int(a) - cx0, int(z) + 1 - cx0)
