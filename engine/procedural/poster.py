"""Poster backgrounds: calm gradients, soft shapes and fine grain that leave room for text.

The palette comes from mood words ("sunset", "ocean", "neon", ...) or colour words of the poster's
style (the request's ``style``; a request without one: its prompt), else from the seed; the layout
from style words ("waves", "geometric", "bokeh", ...), else from the seed. zpipe's poster prompts
wrap the style in sentences of their own (landscape, calm, space): those words never pick the look. Detail contrast is kept low and a vignette frames the centre, so overlaid text stays legible.
The info reports which text colour reads best on the result.
"""

from __future__ import annotations

import math
import zlib

import numpy as np

from zpipe.engine.procedural import noise as nz
from zpipe.engine.procedural.families import tokens
from zpipe.engine.procedural.palettes import HUES, apply_colours, hexrgb, luminance

F32 = np.float32

MOODS: dict[str, tuple[str, ...]] = {
    "sunset": ("2b1a4a", "7a2d6a", "d2506a", "f59a5a", "fbd38a"),
    "ocean": ("06243a", "0b4a6e", "1780a0", "49b3c4", "a8e0e0"),
    "forest": ("0e2218", "1e4430", "3a6a40", "7a9a5a", "c8d09a"),
    "night": ("05060f", "101838", "23306a", "4a4a8a", "8a7ab0"),
    "neon": ("0a0418", "3a0a5a", "c81e9a", "20c8e0", "e8f0ff"),
    "pastel": ("f4d8e0", "e0d4f0", "cfe4f4", "d8f0e0", "fbf0d0"),
    "autumn": ("3a1408", "7a2a0e", "c0541a", "e0962e", "f0d08a"),
    "spring": ("e8f4d8", "b8e0a0", "f4c0d0", "f8e8a8", "ffffff"),
    "winter": ("1a2a44", "3a5a80", "8ab0d0", "d0e4f0", "f8fbff"),
    "festive": ("4a0606", "8a0e0e", "c81e1e", "e8a030", "f8dc80"),
    "retro": ("2a3a3a", "2a7a78", "e8b04a", "e0683a", "f4e4c8"),
    "minimal": ("e8e6e2", "dcd9d4", "cac6c0", "f4f2ee", "b8b4ae"),
    "fire": ("1a0404", "6a0e04", "c8380a", "f08a1a", "fcd860"),
    "desert": ("6a3a1e", "b0683a", "d8a06a", "ecc898", "f8e8cc"),
    "midnight": ("02030a", "0a1030", "1a2060", "3a3090", "6a5ac0"),
    "candy": ("ff7eb6", "ff9fd0", "ffd0e8", "a0e0ff", "fff0a0"),
    "ink": ("f3eee2", "ddd6c6", "a7a195", "5a5853", "1a1a1a"),
}
MOOD_WORDS = {
    "sunset": "sunset dusk evening twilight sundown", "sunrise": "", "ocean": "ocean sea marine underwater wave beach",
    "forest": "forest jungle nature woods leaf leaves", "night": "night starry stars space galaxy cosmic",
    "neon": "neon cyberpunk cyber synthwave electric club rave", "pastel": "pastel soft gentle baby",
    "autumn": "autumn fall harvest", "spring": "spring blossom floral bloom", "winter": "winter snow frost christmas",
    "festive": "festive festival lantern lanterns celebration lunar chinese spring-festival party new year",
    "retro": "retro vintage seventies", "minimal": "minimal minimalist clean simple corporate elegant",
    "fire": "fire flame flames hot", "desert": "desert dune", "midnight": "midnight dark",
    "candy": "candy sweet kids playful",
    "ink": "ink inkwash sumi calligraphy monochrome brush",
}
_MOOD_OF = {w: m for m, ws in MOOD_WORDS.items() for w in ws.split() if m in MOODS}
_MOOD_PRIORITY = ["ink", "neon", "festive", "candy", "fire", "sunset", "midnight", "night", "ocean", "forest",
                  "desert", "autumn", "spring", "winter", "retro", "pastel", "minimal"]
STYLES = ("gradient", "shapes", "waves", "geometric", "bokeh", "mountains", "skyline")
STYLE_WORDS = {
    "gradient": "gradient smooth calm",
    "shapes": "shapes abstract blobs organic circles circle",
    "waves": "waves wavy flowing flow",
    "geometric": "geometric stripes lines modern angular",
    "bokeh": "bokeh lights glow glowing sparkle lanterns lantern",
    "mountains": "mountain mountains hills hill landscape misty mist peaks valley",
    "skyline": "city skyline urban buildings downtown metropolis cyberpunk",
}
_STYLE_OF = {w: s for s, ws in STYLE_WORDS.items() for w in ws.split()}


def _palette(words: list[str], rng: np.random.Generator) -> tuple[str, np.ndarray]:
    moods = [_MOOD_OF[w] for w in words if w in _MOOD_OF]
    colours = [w for w in words if w in HUES or w in ("dark", "light", "black", "white", "grey", "gray", "pale")]
    if moods:
        # the most specific mood wins ("minimalist ink-wash" is ink, "neon night" is neon)
        name = min(moods, key=_MOOD_PRIORITY.index)
    elif colours and any(w in HUES for w in colours):
        name = "colour"
    else:
        name = sorted(MOODS)[int(rng.integers(len(MOODS)))]
    if name == "colour":
        # a ramp around the named hue: deep shadow to a pale highlight
        stops = [(0.0, hexrgb("141414")), (0.35, hexrgb("5a5a5a")), (0.7, hexrgb("a8a8a8")), (1.0, hexrgb("f0f0f0"))]
        stops = apply_colours(stops, colours, 0.85)
    else:
        ramp = MOODS[name]
        stops = [(i / (len(ramp) - 1), hexrgb(c)) for i, c in enumerate(ramp)]
        if colours:
            stops = apply_colours(stops, colours, 0.45)
    return name, np.array([c for _, c in stops], dtype=F32)


def _ramp(t: np.ndarray, cols: np.ndarray) -> np.ndarray:
    n = len(cols) - 1
    x = np.clip(t, 0.0, 1.0) * F32(n)
    i = np.minimum(x.astype(np.intp), n - 1)
    f = (x - i)[..., None]
    return cols[i] + (cols[i + 1] - cols[i]) * f


def _by_lightness(cols: np.ndarray) -> np.ndarray:
    return cols[np.argsort(luminance(cols), kind="stable")]


def _mountains(img, cols, r, rng, ys, xs, h, w, s):
    """Layered ridges fading into haze (aerial perspective), misty at their feet: the upper part of
    the poster stays open sky for a title."""
    ordered = _by_lightness(cols)
    haze = ordered[-1]
    ink = ordered[0] * F32(0.85)
    # sky: a vertical gradient that brightens into haze towards the horizon
    sky_t = np.clip(ys * F32(s / h) * F32(1.6), 0, 1)
    sky = ordered[-2] + (haze - ordered[-2]) * sky_t[..., None]
    img = img + (sky - img) * F32(0.75)
    n = int(r.integers(3, 6))
    for i in range(n):
        t = (i + 1) / n  # 0 far .. 1 near
        base = (0.42 + 0.42 * t) * h / s
        ridge = nz.fbm(rng(f"ridge{i}"), 1, w, 1, s * (0.5 - 0.25 * t), 5, 0.45)
        ridge = F32(1) - np.abs(ridge) * F32(0.8)  # peaks
        edge = F32(base) - ridge * F32((0.12 + 0.1 * (1 - t)) * h / s)
        inside = nz.smoothstep(0.0, 0.003, ys - edge)
        mist = F32(1) - F32(0.6) * nz.smoothstep(0.04, 0.3, ys - edge) * F32(1 - 0.6 * t)
        col = haze + (ink - haze) * F32(0.25 + 0.7 * t)
        img = img + (col - img) * (inside * mist)[..., None]
    return img


def _skyline(img, cols, r, ys, xs, h, w, s):
    """City silhouettes in two or three depths with lit windows, under a glowing horizon."""
    ordered = _by_lightness(cols)
    dark = ordered[0] * F32(0.6)
    lights = ordered[-2:]
    xpx = np.arange(w)
    for layer in range(int(r.integers(2, 4))):
        near = layer >= 1
        top = np.full(w, h, dtype=np.float64)
        x = 0
        while x < w:
            bw = int(max(4, r.uniform(0.03, 0.09) * w))
            bh = r.uniform(0.12, 0.42 - 0.12 * layer) * h
            top[x : x + bw] = h - bh
            x += bw + int(r.uniform(0, 0.01) * w)
        topf = (top / s).astype(F32)[None, :]
        inside = nz.smoothstep(0.0, 0.002, ys - topf)
        col = dark + (ordered[1] - dark) * F32(0.6 - 0.3 * layer)
        img = img + (col - img) * inside[..., None]
        if near:
            wx, wy = max(3.0, 0.012 * s), max(4.0, 0.018 * s)
            cx = np.floor(xpx / wx).astype(np.int64)
            cy = np.floor(np.arange(h) / wy).astype(np.int64)
            lit_table = r.random((int(cy.max()) + 2, int(cx.max()) + 2)) < 0.35
            lit = lit_table[cy[:, None], cx[None, :]]
            fx = (xpx / wx - cx).astype(F32)[None, :]
            fy = (np.arange(h) / wy - cy).astype(F32)[:, None]
            pane = (np.abs(fx - F32(0.5)) < 0.25) & (np.abs(fy - F32(0.5)) < 0.22)
            below = ys - topf > F32(0.02 * h / s)
            m = (pane & lit & below).astype(F32) * inside * F32(0.85)
            wcol = lights[layer % 2]
            img = img + (wcol - img) * m[..., None]
    return img


def generate(style: str, h: int, w: int, seed: int) -> tuple[np.ndarray, dict]:
    """A background of ``h`` x ``w`` whose palette and layout follow the words of ``style`` (a request's
    style, or its whole prompt when it has none: see :class:`zpipe.engine.base.Request`)."""
    seed = int(seed) & 0xFFFFFFFFFFFFFFFF

    def rng(tag: str) -> np.random.Generator:
        return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed & 0xFFFFFFFF, seed >> 32, zlib.crc32(tag.encode())])))

    words = tokens(style)
    name, cols = _palette(words, rng("palette"))
    styles = [_STYLE_OF[w] for w in words if w in _STYLE_OF]
    r = rng("layout")
    style = styles[0] if styles else STYLES[int(r.integers(len(STYLES)))]
    dark_first = luminance(cols[0]) < luminance(cols[-1])
    s = float(np.sqrt(h * w))

    ys = (np.arange(h, dtype=F32)[:, None] + F32(0.5)) / F32(s)
    xs = (np.arange(w, dtype=F32)[None, :] + F32(0.5)) / F32(s)
    cy, cx = F32(h / s / 2), F32(w / s / 2)

    # base: a gentle gradient along a random direction, bent by very low-frequency noise
    ang = r.uniform(0, 2 * np.pi)
    dy, dx = F32(math.sin(ang)), F32(math.cos(ang))  # scalar libm calls, not SIMD kernels
    t = (ys - cy) * dy + (xs - cx) * dx
    span = F32(0.5 * (abs(float(dy)) * h + abs(float(dx)) * w) / s)
    t = t / (F32(2) * span) + F32(0.5)
    t = t + nz.fbm(rng("bend"), h, w, s * 0.6, s * 0.6, 3) * F32(0.06)
    lo, hi = (0.05, 0.7) if style != "gradient" else (0.0, 0.95)
    img = _ramp(F32(lo) + t * F32(hi - lo), cols)

    if style == "shapes":
        for _ in range(int(r.integers(4, 8))):
            py, px = r.uniform(-0.1, 1.1) * h / s, r.uniform(-0.1, 1.1) * w / s
            rad = r.uniform(0.12, 0.4)
            d = np.sqrt((ys - F32(py)) ** 2 + (xs - F32(px)) ** 2)
            soft = F32(r.uniform(0.01, 0.12))
            m = F32(1) - nz.smoothstep(rad - soft, rad + soft, d)
            col = _ramp(F32(r.uniform(0.3, 1.0)), cols)
            img = img + (col - img) * (m * F32(r.uniform(0.25, 0.55)))[..., None]
    elif style == "waves":
        n = int(r.integers(3, 6))
        for i in range(n):
            base = (0.45 + 0.5 * (i + 1) / (n + 1)) * h / s
            k = int(r.integers(1, 4))
            amp = r.uniform(0.02, 0.07)
            ph = r.uniform(0, 1)
            edge = F32(base) + F32(amp) * (nz.wave(xs * F32(s / w * k) + F32(ph)) - F32(0.5))
            edge = edge + nz.fbm(rng(f"wave{i}"), 1, w, 1, s * 0.3, 3) * F32(0.01)
            m = nz.smoothstep(0.0, 0.004, ys - edge)
            col = _ramp(F32(0.35 + 0.6 * (i + 1) / n if dark_first else 0.6 - 0.5 * (i + 1) / n), cols)
            img = img + (col - img) * (m * F32(0.85))[..., None]
    elif style == "geometric":
        k = float(r.uniform(5, 10))
        sl = r.choice([-1.0, 1.0])
        band = nz.tri((xs + F32(sl) * ys) * F32(k))
        m = nz.smoothstep(0.45, 0.55, band) * F32(0.18)
        img = img + (_ramp(F32(0.9 if dark_first else 0.1), cols) - img) * m[..., None]
        for _ in range(int(r.integers(2, 4))):
            py, px = r.uniform(0, 1) * h / s, r.uniform(0, 1) * w / s
            half = F32(r.uniform(0.08, 0.25))
            d = np.maximum(np.abs(ys - F32(py)), np.abs(xs - F32(px)))
            ring = (F32(1) - nz.smoothstep(0.0, 0.004, np.abs(d - half))) * F32(0.5)
            img = img + (_ramp(F32(0.95), cols) - img) * ring[..., None]
    elif style == "bokeh":
        for _ in range(int(r.integers(18, 32))):
            py, px = r.uniform(0, 1) * h / s, r.uniform(0, 1) * w / s
            rad = r.uniform(0.015, 0.07)
            d = np.sqrt((ys - F32(py)) ** 2 + (xs - F32(px)) ** 2)
            m = (F32(1) - nz.smoothstep(rad * 0.8, rad, d)) * F32(r.uniform(0.12, 0.35))
            col = _ramp(F32(r.uniform(0.7, 1.0)), cols)
            img = img + (col - img) * m[..., None]

    elif style == "mountains":
        img = _mountains(img, cols, r, rng, ys, xs, h, w, s)
    elif style == "skyline":
        img = _skyline(img, cols, r, ys, xs, h, w, s)

    # a soft vignette and fine grain
    d2 = ((ys - cy) / cy) ** 2 + ((xs - cx) / cx) ** 2
    vig = F32(1) - np.clip(d2 - F32(0.4), 0, None) * F32(0.12)
    img = img * vig[..., None]
    grain = rng("grain").random((h, w), dtype=F32) - F32(0.5)
    img = img + grain[..., None] * F32(0.025)
    img = np.ascontiguousarray(np.clip(img, 0, 1), dtype=F32)

    known = set(_MOOD_OF) | set(_STYLE_OF) | set(HUES) | {"dark", "light", "black", "white", "grey", "gray", "pale"}
    matched = [w for w in dict.fromkeys(words) if w in known]
    mean_l = float(luminance(img[:: max(1, h // 64), :: max(1, w // 64)].reshape(-1, 3)).mean())
    info = {
        "kind": "poster",
        "style": style,
        "palette": name,
        "understood": bool(matched),
        "matched": matched,
        "text_colour": "#111111" if mean_l > 0.55 else "#ffffff",
    }
    return img, info
