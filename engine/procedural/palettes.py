"""Colour ramps per material family, and the colour words that tint them.

A palette is a list of (position in [0, 1], (r, g, b) in sRGB [0, 1]) stops. It is turned into a
lookup table once and indexed with a scalar field, which is fast and exact.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Stops = Sequence[tuple[float, tuple[float, float, float]]]

LUT_SIZE = 1024


def hexrgb(code: str) -> tuple[float, float, float]:
    code = code.lstrip("#")
    return tuple(int(code[i : i + 2], 16) / 255.0 for i in (0, 2, 4))  # type: ignore[return-value]


def ramp(*colours: str) -> list[tuple[float, tuple[float, float, float]]]:
    """Evenly spaced stops from hex colours."""
    n = len(colours)
    return [(i / max(1, n - 1), hexrgb(c)) for i, c in enumerate(colours)]


# Per-family palettes; ``main`` is the part colour words tint, the others are accents.
PALETTES: dict[str, dict[str, Stops]] = {
    "stone": {
        "main": ramp("34322f", "55524d", "77736d", "96928b", "b5b1a9"),
        "fleck": ramp("1c1b1a", "d9d6cf"),
    },
    "cobblestone": {
        "main": ramp("3a3835", "5a5752", "77736c", "94908a", "aeaaa2"),
        "gap": ramp("1e1a16", "3a322a", "4e453a"),
    },
    "brick": {
        "main": ramp("5e2418", "7e3320", "98452b", "a85a3a", "b8704f"),
        "mortar": ramp("8f8a80", "b3ada2", "cdc8bd"),
    },
    "wood": {
        "main": ramp("4a2a14", "6e4222", "8d5a31", "a97444", "c08d5a"),
    },
    "plank": {
        "main": ramp("4e2e16", "744827", "93603a", "ad794c", "c49463"),
        "gap": ramp("140c06", "24170c"),
    },
    "metal": {
        "main": ramp("55595e", "71767c", "8b9096", "a3a8ae", "bcc1c6"),
    },
    "rust": {
        "main": ramp("3a1a0c", "5e2a12", "84401a", "a65a24", "c27a3a", "8a5a3a"),
        "metal": ramp("3e4145", "5a5e63", "7a7e83"),
    },
    "marble": {
        "main": ramp("cfcac2", "dfdbd3", "ece9e3", "f6f4f0"),
        "vein": ramp("3c3a3a", "6e6a66", "a39d95"),
    },
    "sand": {
        "main": ramp("a8865a", "c09e6e", "d2b382", "e0c697", "ead5ac"),
    },
    "dirt": {
        "main": ramp("2a1c12", "3e2a1a", "553a24", "6b4b30", "7f5d3e"),
        "pebble": ramp("4d4842", "7a746b", "9c958a"),
        "dry": ramp("3a2c20", "6a543e", "8e765a", "a89072", "bca488"),
    },
    "grass": {
        "main": ramp("16280c", "2a4a14", "3f6b1c", "5a8a26", "7ea83a", "a9c25a"),
        "dry": ramp("4a4020", "7a6a34", "a89650", "c8b46e"),
    },
    "moss": {
        "main": ramp("1a2a0e", "2e4a16", "46661e", "62822a", "86a03c", "a8b452"),
    },
    "concrete": {
        "main": ramp("6a6864", "7f7d78", "928f8a", "a4a19b", "b4b1aa"),
    },
    "tiles": {
        "main": ramp("c9c6bf", "d8d5ce", "e4e2dc", "efede8"),
        "grout": ramp("6e6a63", "8c887f", "a39f96"),
    },
    "lava": {
        "main": ramp("0c0a0a", "1c1614", "2e2420", "403430"),
        "glow": ramp("3a0502", "8a1204", "d43a06", "f57c10", "ffc43a", "fff2a0"),
    },
    "ice": {
        "main": ramp("2e5f86", "4d84ad", "76a9cc", "a3cbe3", "d2e8f4", "f2f9fd"),
    },
    "snow": {
        "main": ramp("9fb0c2", "c3cfdb", "dde5ec", "eef2f6", "fbfcfd"),
    },
}

# Colour words: a target hue (tinting keeps each stop's lightness) or a tone operation.
HUES: dict[str, tuple[float, float, float]] = {
    "red": hexrgb("b0281c"),
    "crimson": hexrgb("9c1430"),
    "green": hexrgb("2f8a2a"),
    "blue": hexrgb("2455b8"),
    "navy": hexrgb("1c2c6a"),
    "yellow": hexrgb("d8c020"),
    "orange": hexrgb("e06a14"),
    "brown": hexrgb("7a4a24"),
    "purple": hexrgb("6a2a9a"),
    "violet": hexrgb("7a3ab0"),
    "pink": hexrgb("e07090"),
    "teal": hexrgb("1a8a86"),
    "cyan": hexrgb("20a8c8"),
    "turquoise": hexrgb("30b8a8"),
    "gold": hexrgb("d4a830"),
    "golden": hexrgb("d4a830"),
    "beige": hexrgb("c8b08a"),
    "tan": hexrgb("b8966a"),
    "copper": hexrgb("b86a3a"),
    "brass": hexrgb("b89a40"),
    "bronze": hexrgb("8a6230"),
    "olive": hexrgb("6a6a24"),
    "cream": hexrgb("e8dcc0"),
    "ivory": hexrgb("ece4d0"),
    "warm": hexrgb("c88a50"),
    "cool": hexrgb("6a8ab0"),
    "sandstone": hexrgb("c49a64"),
    "walnut": hexrgb("4a2e1a"),
    "mahogany": hexrgb("6a2416"),
    "cherry": hexrgb("8a3420"),
    "oak": hexrgb("a87a48"),
    "pine": hexrgb("c8a060"),
    "birch": hexrgb("d8c098"),
    "ebony": hexrgb("2a1e18"),
}
TONES = ("grey", "gray", "black", "white", "dark", "light", "pale", "bright", "muted", "vivid", "charcoal")
# Words that also darken or lighten after their hue is applied.
_HUE_TONE = {"navy": "dark", "walnut": "dark", "ebony": "black", "mahogany": "dark", "cream": "light",
             "ivory": "light", "birch": "light", "pine": "light"}
COLOUR_WORDS = frozenset(HUES) | frozenset(TONES)


def luminance(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb, dtype=np.float64)
    return rgb[..., 0] * 0.2126 + rgb[..., 1] * 0.7152 + rgb[..., 2] * 0.0722


def _tone(c: np.ndarray, word: str) -> np.ndarray:
    lum = luminance(c)[:, None]
    grey = np.repeat(lum, 3, axis=1)
    if word in ("grey", "gray"):
        return grey + (c - grey) * 0.08
    if word == "charcoal":
        return (grey + (c - grey) * 0.1) * 0.45
    if word == "black":
        return (grey + (c - grey) * 0.35) * 0.32
    if word == "white":
        g = grey + (c - grey) * 0.3
        return 1.0 - (1.0 - g) * 0.3
    if word == "dark":
        return c * 0.58
    if word in ("light", "pale"):
        return 1.0 - (1.0 - c) * 0.55 if word == "light" else 1.0 - (1.0 - (grey + (c - grey) * 0.6)) * 0.5
    if word == "bright":
        return np.clip(c * 1.25 + 0.04, 0, 1)
    if word == "muted":
        return grey + (c - grey) * 0.45
    if word == "vivid":
        return np.clip(grey + (c - grey) * 1.7, 0, 1)
    return c


def _tint(c: np.ndarray, target: tuple[float, float, float], amount: float) -> np.ndarray:
    t = np.asarray(target, dtype=np.float64)
    lum = luminance(c)[:, None]
    lt = float(luminance(t))
    # the target hue at each stop's lightness, moved part way to the hue's own lightness (a green
    # marble is darker than a white one); over-bright results are pulled towards white
    lum = lum + (lt - lum) * 0.5
    tinted = t[None, :] * (lum / max(lt, 1e-3))
    over = np.maximum(tinted.max(axis=1, keepdims=True), 1.0)
    tinted = tinted / over + (1.0 - 1.0 / over) * lum
    return c + (np.clip(tinted, 0, 1) - c) * amount


def apply_colours(stops: Stops, words: Sequence[str], amount: float = 0.6) -> list:
    """Tint a palette by colour words, in prompt order ("dark red": red, then darker)."""
    pos = [p for p, _ in stops]
    c = np.array([col for _, col in stops], dtype=np.float64)
    hues = [w for w in words if w in HUES]
    for word in words:
        if word in HUES:
            # two hue words ("blue green") share the tint between them
            c = _tint(c, HUES[word], amount if len(hues) == 1 else amount * 0.75)
            if word in _HUE_TONE:
                c = _tone(c, _HUE_TONE[word])
        elif word in TONES:
            c = _tone(c, word)
    c = np.clip(c, 0.0, 1.0)
    return [(p, tuple(float(v) for v in col)) for p, col in zip(pos, c, strict=True)]


def lut(stops: Stops, size: int = LUT_SIZE) -> np.ndarray:
    """A (size, 3) float32 table sampling the palette."""
    pos = np.array([p for p, _ in stops], dtype=np.float64)
    col = np.array([c for _, c in stops], dtype=np.float64)
    x = np.linspace(0.0, 1.0, size)
    return np.stack([np.interp(x, pos, col[:, k]) for k in range(3)], axis=1).astype(np.float32)


def colourize(field: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Map a scalar field in [0, 1] through a lookup table -> (H, W, 3) float32."""
    n = table.shape[0] - 1
    idx = np.clip(field * np.float32(n) + np.float32(0.5), 0, n).astype(np.intp)
    return table[idx]
