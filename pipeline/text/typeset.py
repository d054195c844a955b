"""Typesetting poster text with real fonts: layout of mixed CJK/Latin lines over a background.

Layout
  * Lines are grouped by placement (top, center, bottom; defaults by role: title and subtitle at
    the top, body at the bottom) and stacked in recipe order inside margins.
  * Sizes follow the role (title > subtitle > body) relative to the poster's shorter side, and
    auto-fit: a line shrinks until it wraps into at most its role's line count; if the blocks still
    collide, everything shrinks together. Nothing goes below ``min_size`` px (32 by default, so
    OCR can verify it); text that cannot fit raises :class:`TypesetError`.
  * Line breaking: CJK may break between any two characters, Latin only at spaces (a word longer
    than the line is hyphenated at a dictionary point (pyphen), else split as a last resort). Kinsoku rules: closing punctuation (，。、！？）」》…)
    never starts a line and opening punctuation (（「《“) never ends one. Wrapped lines are
    balanced (the shortest width giving the same line count), so a title never leaves one orphan
    character on its last line. A newline in the text is an explicit break.
  * CJK titles get slight tracking. Titles and subtitles use the Bold face of their font when one is
    installed (Noto Sans CJK SC Bold comes with the Debian package fonts-noto-cjk); otherwise they
    are emboldened with a same-colour stroke, and the layout record says ``faux``.
  * Lines in ``zh-Hant`` use Noto Sans CJK TC (the Traditional face of the bundled collection) when
    no ``font`` is given.

Style: ``colour`` (``auto`` = white or near-black, whichever contrasts with the background under
the text; ``accent`` = titles in a colour of the artwork tinted to 4.5:1 contrast, the rest auto;
or any '#RRGGBB' / CSS name), ``stroke`` (outline width as a fraction of the font size)
and ``stroke_colour``, ``shadow`` (soft drop-shadow opacity, 0 = none), ``align`` and ``scrim``
(``auto`` lays a soft translucent band behind text whose background is busy or low-contrast).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

from zpipe.text.fonts import FontFace, bold_of, check_coverage, lang_default, resolve_chain
from zpipe.text.prompt import check_lines, is_cjk, line_lang, line_placement

ALIGNS = ("center", "left", "right")
SCRIMS = ("auto", "on", "none")

ROLE_SIZE = {"title": 0.13, "subtitle": 0.056, "body": 0.042}  # × min(width, height)
ROLE_MAX_LINES = {"title": 2, "subtitle": 2, "body": 3}
ROLE_MIN_FACTOR = {"title": 1.6, "subtitle": 1.15, "body": 1.0}  # × min_size
ROLE_GAP = {"title": 0.45, "subtitle": 0.6, "body": 0.5}  # space after a line, × its size
BOLD = {"title": 0.028, "subtitle": 0.012, "body": 0.0}  # faux-bold stroke, × size, when no Bold face exists

# Kinsoku (JIS X 4051 / W3C clreq): characters that may not start a line, and that may not end one.
NO_START = set("，。、；：！？）」』】》〉〕］｝〗〙〛｠〟｣．”’…‥—–·・ー々ゝゞぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮ"
               "%,.;:!?)]}>")
NO_END = set("（「『【《〈〔［｛〖〘〚｟｢〝“‘([{<$¥￥#")


class TypesetError(ValueError):
    """Text that cannot be typeset as asked (does not fit, bad colour); the message names the fix."""


def parse_colour(value: Any, what: str = "colour") -> tuple[int, int, int] | None:
    """'auto' (and 'accent') -> None; '#RRGGBB', '#RGB', CSS names or an (r, g, b) list -> RGB."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("auto", "accent")):
        return None
    if isinstance(value, (list, tuple)) and len(value) == 3 and all(isinstance(v, int) for v in value):
        if all(0 <= v <= 255 for v in value):
            return tuple(value)  # type: ignore[return-value]
    if isinstance(value, str):
        from PIL import ImageColor

        try:
            rgb = ImageColor.getrgb(value.strip())
            return tuple(rgb[:3])  # type: ignore[return-value]
        except ValueError:
            pass
    raise TypesetError(f"{what} {value!r} is not a colour; use '#RRGGBB', a CSS name such as 'white', or 'auto'")


# ---------------------------------------------------------------------------------------- measuring


@dataclass
class Segment:
    """A piece drawn in one call: one CJK character (tracked) or a run of non-CJK characters."""

    text: str
    face: FontFace
    width: float  # advance including tracking


def _segments(text: str, chain: Sequence[FontFace], size: int, tracking: float) -> list[Segment]:
    from zpipe.text.fonts import font_for

    segs: list[Segment] = []
    for ch in text:
        face = font_for(ch, chain)
        if ch.isspace() and segs:
            face = segs[-1].face
        cjk = is_cjk(ch)
        if not cjk and segs and not is_cjk(segs[-1].text[-1]) and segs[-1].face == face:
            segs[-1].text += ch
        else:
            segs.append(Segment(ch, face, 0.0))
    for s in segs:
        font = s.face.pil(size)
        s.width = font.getlength(s.text) + (tracking * size if is_cjk(s.text[-1]) else 0.0)
    return segs


def text_width(text: str, chain: Sequence[FontFace], size: int, tracking: float = 0.0) -> float:
    segs = _segments(text, chain, size, tracking)
    width = sum(s.width for s in segs)
    if segs and is_cjk(segs[-1].text[-1]):
        width -= tracking * size  # no tracking after the last character
    return width


# ------------------------------------------------------------------------------------ line breaking


def tokens(text: str) -> list[str]:
    """Unbreakable units: one CJK character, a Latin word, or a run of spaces; kinsoku-glued."""
    return _kinsoku(_units(text))


def _is_break_mark(ch: str) -> bool:
    return ch in NO_START or ch in NO_END


def _units(text: str) -> list[str]:
    """One CJK character, one kinsoku mark, a Latin word, or one space (for a run of spaces)."""
    raw: list[str] = []
    for ch in text:
        if ch.isspace():
            if raw and raw[-1].isspace():
                raw[-1] += ch
            else:
                raw.append(" ")
        elif is_cjk(ch) or _is_break_mark(ch):
            raw.append(ch)
        elif raw and not raw[-1].isspace() and not is_cjk(raw[-1][-1]) and not _is_break_mark(raw[-1][-1]):
            raw[-1] += ch
        else:
            raw.append(ch)
    return raw


def _kinsoku(raw: list[str]) -> list[str]:
    """Glue closing punctuation to what precedes it, opening punctuation to what follows. A space between
    never frees them: "（ 注" and "好 ，" stay one unit (space kept inside)."""
    out: list[str] = []
    glue_next = False
    for tok in raw:
        if tok.isspace():
            if glue_next and out:
                out[-1] += " "
            else:
                out.append(tok)
            continue
        if tok[0] in NO_START and len(out) >= 2 and out[-1].isspace():
            out.pop()
            out[-1] += " " + tok
        elif (tok[0] in NO_START and out and not out[-1].isspace()) or (glue_next and out):
            out[-1] += tok
        else:
            out.append(tok)
        glue_next = tok[-1] in NO_END
    return out


def wrap(text: str, max_width: float, measure) -> list[str]:
    """Greedy line filling of ``tokens(text)`` within ``max_width`` (``measure(str) -> px``)."""
    lines: list[str] = []
    cur = ""
    for tok in tokens(text):
        if tok.isspace():
            if cur:
                cur += " "
            continue
        trial = cur + tok
        if not cur or measure(trial.rstrip()) <= max_width:
            cur = trial
            if measure(cur.rstrip()) > max_width:  # one token wider than the line: split it
                pieces = _split_long(cur.rstrip(), max_width, measure)
                lines.extend(pieces[:-1])
                cur = pieces[-1]
            continue
        lines.append(cur.rstrip())
        cur = tok
        if measure(cur) > max_width:
            pieces = _split_long(cur, max_width, measure)
            lines.extend(pieces[:-1])
            cur = pieces[-1]
    if cur.strip():
        lines.append(cur.rstrip())
    return lines


def _split_long(word: str, max_width: float, measure) -> list[str]:
    """Split a word wider than the line: Latin words at hyphenation points (pyphen's dictionary,
    with a hyphen), anything else (or a Latin word with no point that fits) between characters."""
    pieces: list[str] = []
    rest = word
    while rest and measure(rest) > max_width:
        head = _hyphenate(rest, max_width, measure)
        if head is None:
            break
        pieces.append(head + "-")
        rest = rest[len(head):]
    cur = ""
    for ch in rest:
        if cur and measure(cur + ch) > max_width:
            pieces.append(cur)
            cur = ch
        else:
            cur += ch
    pieces.append(cur)
    return pieces


def _hyphenate(word: str, max_width: float, measure) -> str | None:
    """The longest head of a Latin ``word`` at a hyphenation point that fits with its hyphen."""
    if not word.isascii() or not word.isalpha():
        return None
    for head, _tail in _hyphenator().iterate(word):  # longest head first
        if measure(head + "-") <= max_width:
            return head
    return None


@cache
def _hyphenator():
    import pyphen

    return pyphen.Pyphen(lang="en_US")


BREAK_AFTER = set("，。、；：！？,.;:!?）)」』》")


def balanced_wrap(text: str, max_width: float, measure) -> list[str]:
    """Wrap into as few lines as greedy filling needs, but evenly and at phrase-friendly breaks.

    With the line count fixed at the greedy count k, a dynamic programme over the break points
    (between ``tokens``) minimises the sum of squared slack of all k lines (even lines, so a title
    never leaves one character alone on its last line) plus a penalty for each break that falls
    neither after punctuation nor at a space. Rows wider than ``max_width`` are not allowed.
    """
    lines = wrap(text, max_width, measure)
    if len(lines) < 2:
        return lines
    toks = tokens(text)
    widths = [measure(" ") if t.isspace() else measure(t) for t in toks]
    if max(widths) > max_width:
        return lines  # a word had to be split: keep the greedy result
    back = _best_breaks(toks, widths, len(lines), max_width)
    if back is None:
        return lines
    rows = _rows(toks, back, len(lines))
    if any(measure(r) > max_width for r in rows):  # kerning made a row a touch wider: stay safe
        return lines
    return rows


def _row_width(toks: list[str], widths: list[float], i: int, j: int) -> float:
    """The width of tokens i..j as a row: spaces at either end do not count."""
    while i < j and toks[i].isspace():
        i += 1
    while j > i and toks[j - 1].isspace():
        j -= 1
    return sum(widths[i:j])


def _best_breaks(toks: list[str], widths: list[float], k: int, max_width: float) -> list[list[int]] | None:
    """The dynamic programme of :func:`balanced_wrap`: back[j][m] is where the m-th row ending before
    token j starts, on the cheapest way to fill k rows; None when k rows cannot hold the text."""
    n = len(toks)
    penalty = (0.35 * max_width) ** 2
    inf = float("inf")
    best = [[inf] * (k + 1) for _ in range(n + 1)]
    back = [[-1] * (k + 1) for _ in range(n + 1)]
    best[0][0] = 0.0
    for j in range(1, n + 1):
        for i in range(j - 1, -1, -1):
            w = _row_width(toks, widths, i, j)
            if w > max_width:
                break
            if w == 0:
                continue
            cost = (max_width - w) ** 2
            if j < n and not (toks[j - 1][-1] in BREAK_AFTER or toks[j - 1].isspace() or toks[j].isspace()):
                cost += penalty
            for m in range(1, k + 1):
                if best[i][m - 1] + cost < best[j][m]:
                    best[j][m] = best[i][m - 1] + cost
                    back[j][m] = i
    return None if best[n][k] == inf else back


def _rows(toks: list[str], back: list[list[int]], k: int) -> list[str]:
    """The k rows the breaks in ``back`` make (runs of spaces inside a row become one space)."""
    rows, j, m = [], len(toks), k
    while m > 0:
        i = back[j][m]
        rows.append(" ".join("".join(" " if t.isspace() else t for t in toks[i:j]).split())
                    if any(t.isspace() for t in toks[i:j]) else "".join(toks[i:j]))
        j, m = i, m - 1
    rows.reverse()
    return rows


# --------------------------------------------------------------------------------------------- layout


@dataclass
class PlacedRow:
    text: str
    x: float  # left of the ink advance box
    baseline: float
    width: float


@dataclass
class PlacedLine:
    index: int  # index into the recipe's lines
    role: str
    placement: str
    size: int
    tracking: float
    rows: list[PlacedRow] = field(default_factory=list)
    top: float = 0.0
    bottom: float = 0.0

    @property
    def pitch(self) -> float:
        return self.size * (1.32 if any(is_cjk(c) for r in self.rows for c in r.text) else 1.2)


def _fit_line(text: str, role: str, chain, width: float, size0: int, min_size: int) -> tuple[int, float, list[str]]:
    size = max(int(size0), min_size)
    while True:
        tracking = 0.06 if role == "title" and any(is_cjk(c) for c in text) else 0.0

        def measure(s: str, size=size, tracking=tracking) -> float:
            return text_width(s, chain, size, tracking)

        paragraphs = [part.strip() for part in text.split("\n") if part.strip()]  # explicit breaks
        rows = [row for part in paragraphs for row in balanced_wrap(part, width, measure)]
        if len(rows) <= max(ROLE_MAX_LINES[role], len(paragraphs)) or size <= min_size:
            return size, tracking, rows
        size = max(min_size, int(size * 0.92))


def layout(
    lines: list[dict],
    width: int,
    height: int,
    chain: Sequence[FontFace],
    *,
    align: str = "center",
    scale: float = 1.0,
    min_size: int = 32,
    margin: float = 0.07,
    chains: Sequence[Sequence[FontFace]] | None = None,
) -> list[PlacedLine]:
    """Place every line; raise TypesetError when the text cannot fit at ``min_size``. ``chains``:
    one font chain per line (a Traditional face for zh-Hant lines, a Bold one for titles), else
    ``chain`` for all."""
    if align not in ALIGNS:
        raise TypesetError(f"align must be one of {', '.join(ALIGNS)}, got {align!r}")
    base = min(width, height)
    mx, my = round(width * margin), round(height * margin * 0.8)
    box_w = width - 2 * mx
    factor = float(scale)
    for _attempt in range(40):
        placed: list[PlacedLine] = []
        for i, line in enumerate(lines):
            role = line["role"]
            lo = round(min_size * ROLE_MIN_FACTOR[role])
            own = chains[i] if chains is not None else chain
            size, tracking, rows = _fit_line(line["text"], role, own, box_w, round(base * ROLE_SIZE[role] * factor), lo)
            pl = PlacedLine(i, role, line_placement(line), size, tracking)
            for r in rows:
                w = text_width(r, own, size, tracking)
                pl.rows.append(PlacedRow(r, 0.0, 0.0, w))
            placed.append(pl)
        if _stack(placed, width, height, mx, my, align):
            return placed
        if all(p.size <= round(min_size * ROLE_MIN_FACTOR[p.role]) for p in placed):
            break
        factor *= 0.92
    need = sum(len(p.rows) * p.pitch for p in placed)
    raise TypesetError(
        f"the poster text does not fit a {width}x{height} poster even at the smallest size "
        f"({min_size}px, {need:.0f}px of rows for {height - 2 * my}px of height); shorten the text, "
        "use a larger poster size, or lower `min_size`"
    )


def _stack(placed: list[PlacedLine], width: int, height: int, mx: int, my: int, align: str) -> bool:
    """Position the lines of each placement group; False when groups overlap or leave the page."""
    groups: dict[str, list[PlacedLine]] = {"top": [], "center": [], "bottom": []}
    for p in placed:
        groups[p.placement].append(p)

    def block_height(group: list[PlacedLine]) -> float:
        h = 0.0
        for k, p in enumerate(group):
            h += p.size + (len(p.rows) - 1) * p.pitch
            if k < len(group) - 1:
                h += ROLE_GAP[p.role] * p.size + 0.25 * group[k + 1].size
        return h

    spans = {}
    for name, group in groups.items():
        if not group:
            continue
        h = block_height(group)
        top = {"top": my, "center": (height - h) / 2, "bottom": height - my - h}[name]
        spans[name] = (top, top + h)
        y = top
        for k, p in enumerate(group):
            p.top = y
            for j, row in enumerate(p.rows):
                row.baseline = y + 0.88 * p.size + j * p.pitch
                if align == "center":
                    row.x = (width - row.width) / 2
                elif align == "left":
                    row.x = mx
                else:
                    row.x = width - mx - row.width
            y += p.size + (len(p.rows) - 1) * p.pitch
            p.bottom = y
            if k < len(group) - 1:
                y += ROLE_GAP[p.role] * p.size + 0.25 * group[k + 1].size
    order = [spans[n] for n in ("top", "center", "bottom") if n in spans]
    if any(t < my - 1 or b > height - my + 1 for t, b in order):
        return False
    gap = 0.03 * height
    return all(order[k][1] + gap <= order[k + 1][0] for k in range(len(order) - 1))


# ------------------------------------------------------------------------------------------ rendering


def _luminance(rgb: np.ndarray) -> np.ndarray:
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    return lin @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


def _contrast(l1: float, l2: float) -> float:
    hi, lo = max(l1, l2), min(l1, l2)
    return (hi + 0.05) / (lo + 0.05)


@dataclass
class Style:
    colour: Any = "auto"
    stroke: float = 0.0
    stroke_colour: Any = "auto"
    shadow: float = 0.45
    align: str = "center"
    scrim: str = "auto"
    scale: float = 1.0
    min_size: int = 32


def typeset(
    image: np.ndarray,
    lines: list[dict],
    *,
    font: str | None = None,
    fallback_fonts: Sequence[str] | None = None,
    style: Style | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Draw ``lines`` on ``image`` (float32 (H, W, 3) in [0, 1]); return the new image and a layout
    record (per line: font size, rows, box, fonts used; the colours chosen).
    """
    from PIL import Image

    style = style or Style()
    _check_style(style)
    fill_rgb = parse_colour(style.colour)
    stroke_rgb = parse_colour(style.stroke_colour, "stroke_colour")
    lines = check_lines(lines)
    chain = resolve_chain(font, fallback_fonts)
    chains, bolds = _line_chains(lines, font, chain)

    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 3 or img.shape[2] != 3:
        raise TypesetError(f"typeset needs an (H, W, 3) image, got shape {img.shape}")
    h, w = img.shape[:2]
    placed = layout(lines, w, h, chain, align=style.align, scale=style.scale, min_size=style.min_size,
                    chains=chains)

    base = Image.fromarray((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8), "RGB").convert("RGBA")
    lum = _luminance(np.clip(img, 0, 1))
    record: dict[str, Any] = {"fonts": [f.label() for f in chain], "lines": []}
    layers = _Layers(base.size)
    accent_wanted = isinstance(style.colour, str) and style.colour.strip().lower() == "accent"
    palette = image_palette(img) if accent_wanted else []
    # One colour decision per placement block, from the background under it.
    blocks: dict[str, list[PlacedLine]] = {}
    for p in placed:
        blocks.setdefault(p.placement, []).append(p)
    for group in blocks.values():
        ink = _block_ink(group, img, lum, style, fill_rgb, stroke_rgb)
        if ink.scrim:
            _draw_scrim(layers.scrim, ink.box, w, dark=not ink.dark_text, strength=0.55)
        for p in group:
            fill = ink.fill
            if accent_wanted and p.role == "title":
                worst = float(np.percentile(ink.region, 10 if ink.fill_lum < 0.4 else 90))
                fill = accent_colour(palette, worst, light=ink.fill_lum >= 0.4) or ink.fill
            own = chains[p.index]
            bold = 0 if bolds[p.index] else max(0, round(BOLD[p.role] * p.size))
            layers.draw(p, own, bold, fill, ink, style)
            record["lines"].append(_line_record(lines[p.index]["text"], p, own, bolds[p.index], fill, ink.scrim))
    record["lines"].sort(key=lambda r: r.pop("index"))
    return layers.composite(base, placed, style), record


def _check_style(style: Style) -> None:
    if style.scrim not in SCRIMS:
        raise TypesetError(f"scrim must be one of {', '.join(SCRIMS)}, got {style.scrim!r}")
    if not 0.0 <= style.shadow <= 1.0:
        raise TypesetError(f"shadow must be an opacity in [0, 1], got {style.shadow!r}")
    if not 0.0 <= style.stroke <= 0.2:
        raise TypesetError(f"stroke must be a fraction of the font size in [0, 0.2], got {style.stroke!r}")


def _line_chains(lines: list[dict], font: str | None, chain: list[FontFace]) -> tuple[list, list]:
    """Per line, its font chain (its language's default face first, unless a font is given; a Bold face
    first where the role is bold and one is installed) and that Bold face or None."""
    chains, bolds = [], []
    for ln in lines:
        own = chain if font or not lang_default(line_lang(ln)) else \
            list(dict.fromkeys([*resolve_chain(lang_default(line_lang(ln)), []), *chain]))
        check_coverage([ln["text"]], own)
        bold = bold_of(own[0]) if BOLD[ln["role"]] > 0 else None
        chains.append([bold, *own] if bold else own)
        bolds.append(bold)
    return chains, bolds


@dataclass
class _Ink:
    """The colours of one placement block, chosen from the background under it."""

    box: tuple[int, int, int, int]
    region: np.ndarray  # the background's luminance under the block
    fill: tuple[int, int, int]
    fill_lum: float
    dark_text: bool
    outline: tuple[int, int, int]
    scrim: bool


def _block_ink(group: list[PlacedLine], img: np.ndarray, lum: np.ndarray, style: Style, fill_rgb, stroke_rgb) -> _Ink:
    h, w = img.shape[:2]
    x0 = max(0, int(min(r.x for p in group for r in p.rows) - 0.3 * group[0].size))
    x1 = min(w, int(max(r.x + r.width for p in group for r in p.rows) + 0.3 * group[0].size))
    y0 = max(0, int(group[0].top - 0.2 * group[0].size))
    y1 = min(h, int(group[-1].bottom + 0.35 * group[-1].size))
    region = lum[y0:y1, x0:x1]
    bg_lum = float(np.median(region))
    colour_busy = float(img[y0:y1, x0:x1].reshape(-1, 3).std(axis=0).mean())
    if fill_rgb is None:
        fill = (255, 255, 255) if _contrast(1.0, bg_lum) >= _contrast(0.012, bg_lum) else (24, 24, 27)
    else:
        fill = fill_rgb
    fill_lum = float(_luminance(np.array(fill, dtype=np.float32) / 255.0))
    dark_text = fill_lum < 0.4
    # Worst case: light text over the brightest tenth of the background, dark text over the darkest.
    worst_bg = float(np.percentile(region, 10 if dark_text else 90))
    outline = stroke_rgb or ((255, 255, 255) if dark_text else (20, 20, 24))
    scrim = style.scrim == "on" or (
        style.scrim == "auto" and (colour_busy > 0.14 or _contrast(fill_lum, worst_bg) < 3.0)
    )
    return _Ink((x0, y0, x1, y1), region, fill, fill_lum, dark_text, outline, scrim)


class _Layers:
    """What is drawn over the background: scrims, the text's soft shadow (a mask) and the text."""

    def __init__(self, size: tuple[int, int]):
        from PIL import Image, ImageDraw

        self.scrim = Image.new("RGBA", size, (0, 0, 0, 0))
        self.shadow_mask = Image.new("L", size, 0)
        self.text = Image.new("RGBA", size, (0, 0, 0, 0))
        self._draw_text = ImageDraw.Draw(self.text)
        self._draw_shadow = ImageDraw.Draw(self.shadow_mask)
        self.any_shadow = False

    def draw(self, p: PlacedLine, own: list[FontFace], bold: int, fill: tuple[int, int, int], ink: _Ink,
             style: Style) -> None:
        outline_w = round(style.stroke * p.size) if style.stroke > 0 else 0
        for row in p.rows:
            x = row.x
            for seg in _segments(row.text, own, p.size, p.tracking):
                if not seg.text.isspace():
                    self._draw_segment(seg, x, row.baseline, p.size, bold, outline_w, fill, ink, style)
                x += seg.width

    def _draw_segment(self, seg: Segment, x: float, baseline: float, size: int, bold: int, outline_w: int,
                      fill: tuple[int, int, int], ink: _Ink, style: Style) -> None:
        f = seg.face.pil(size)
        if outline_w:
            self._draw_text.text((x, baseline), seg.text, font=f, fill=ink.outline + (255,), anchor="ls",
                                 stroke_width=bold + outline_w, stroke_fill=ink.outline + (255,))
        self._draw_text.text((x, baseline), seg.text, font=f, fill=fill + (255,), anchor="ls",
                             stroke_width=bold, stroke_fill=fill + (255,))
        if style.shadow > 0 and not ink.dark_text:
            off = max(1, round(size * 0.04))
            self._draw_shadow.text((x + off, baseline + off * 1.3), seg.text, font=f, fill=255,
                                   anchor="ls", stroke_width=bold + outline_w + max(1, round(size * 0.02)))
            self.any_shadow = True

    def composite(self, base, placed: list[PlacedLine], style: Style) -> np.ndarray:
        from PIL import Image, ImageFilter

        out = Image.alpha_composite(base, self.scrim)
        if self.any_shadow:
            radius = max(1.5, min(p.size for p in placed) * 0.06)
            blurred = self.shadow_mask.filter(ImageFilter.GaussianBlur(radius))
            alpha = blurred.point(lambda v: int(v * style.shadow))
            shadow = Image.new("RGBA", base.size, (0, 0, 0, 0))
            shadow.putalpha(alpha)
            out = Image.alpha_composite(out, shadow)
        out = Image.alpha_composite(out, self.text).convert("RGB")
        return np.asarray(out, dtype=np.float32) / 255.0


def _line_record(text: str, p: PlacedLine, own: list[FontFace], bold_face, fill: tuple[int, int, int],
                 scrim: bool) -> dict[str, Any]:
    return {
        "index": p.index, "text": text, "role": p.role, "placement": p.placement, "size": p.size,
        "rows": [r.text for r in p.rows],
        "box": [round(min(r.x for r in p.rows)), round(p.top),
                round(max(r.x + r.width for r in p.rows)), round(p.bottom)],
        "colour": "#{:02x}{:02x}{:02x}".format(*fill), "scrim": bool(scrim),
        "font": own[0].label(),
        **({"bold": bold_face.label() if bold_face else "faux (no Bold face of the font is installed)"}
           if BOLD[p.role] > 0 else {}),
    }


def image_palette(img: np.ndarray, k: int = 6) -> list[tuple[float, float, float]]:
    """The k main colours of an image (k-means on a 64×64 thumbnail), most saturated first."""
    import colorsys

    import cv2

    thumb = cv2.resize(img, (64, 64), interpolation=cv2.INTER_AREA).reshape(-1, 3).astype(np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 1e-3)
    cv2.setRNGSeed(0)
    _, _, centres = cv2.kmeans(thumb, k, None, criteria, 3, cv2.KMEANS_PP_CENTERS)
    cols = [tuple(float(v) for v in c) for c in centres]
    return sorted(cols, key=lambda c: -colorsys.rgb_to_hsv(*c)[1])


def accent_colour(palette, worst_bg_lum: float, *, light: bool, min_contrast: float = 4.5):
    """A colour from the artwork's palette, tinted (light text) or shaded (dark text) until it has
    ``min_contrast`` against the worst background luminance (lighter than it for light text, darker
    for dark text); None when no colour gets there while still saturated."""
    import colorsys

    for rgb in palette:
        h, s, v = colorsys.rgb_to_hsv(*rgb)
        if s < 0.25:
            continue
        for t in np.linspace(0.0, 1.0, 21):
            if light:
                cand = colorsys.hsv_to_rgb(h, max(0.3, s * (1 - 0.6 * t)), min(1.0, v + (1.0 - v) * t))
            else:
                cand = colorsys.hsv_to_rgb(h, min(1.0, s + 0.2 * t), v * (1 - 0.85 * t))
            lum = float(_luminance(np.array(cand, dtype=np.float32)))
            if (lum > worst_bg_lum) == light and _contrast(lum, worst_bg_lum) >= min_contrast:
                return tuple(int(round(c * 255)) for c in cand)
    return None


def _draw_scrim(layer, box: tuple[int, int, int, int], width: int, *, dark: bool, strength: float) -> None:
    """A soft full-width band behind a text block: darkens (or lightens) the background there."""
    from PIL import Image, ImageDraw, ImageFilter

    x0, y0, x1, y1 = box
    pad = max(8, (y1 - y0) // 3)
    mask = Image.new("L", layer.size, 0)
    ImageDraw.Draw(mask).rectangle((0, y0 - pad // 2, width, y1 + pad // 2), fill=int(255 * strength))
    mask = mask.filter(ImageFilter.GaussianBlur(pad * 0.8))
    colour = (8, 8, 12) if dark else (250, 250, 248)
    band = Image.new("RGBA", layer.size, colour + (0,))
    band.putalpha(mask)
    layer.alpha_composite(band)


def demo_background(width: int, height: int, seed: int = 0, kind: str = "gradient") -> np.ndarray:
    """A hand-made poster background (for tests, benchmarks and previews without an engine)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    yy /= height
    xx /= width
    c0, c1 = rng.uniform(0.05, 0.95, 3).astype(np.float32), rng.uniform(0.05, 0.95, 3).astype(np.float32)
    t = np.clip(yy * 0.8 + xx * 0.2, 0, 1)[..., None]
    img = c0 * (1 - t) + c1 * t
    if kind in ("noise", "busy"):
        k = 6 if kind == "noise" else 24
        coarse = rng.uniform(-1, 1, (k, k, 3)).astype(np.float32)
        import cv2

        smooth = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
        img = img + smooth * (0.12 if kind == "noise" else 0.3)
        if kind == "busy":
            img = img + rng.normal(0, 0.05, img.shape).astype(np.float32)
    if kind == "rays":
        ang = np.arctan2(yy - 0.35, xx - 0.5)
        img = img * (0.85 + 0.15 * np.cos(ang * 14)[..., None])
    vignette = 1 - 0.25 * ((xx - 0.5) ** 2 + (yy - 0.5) ** 2)[..., None] * 2
    return np.clip(img * vignette, 0, 1).astype(np.float32)


__all__ = ["Style", "TypesetError", "typeset", "layout", "wrap", "balanced_wrap", "tokens", "parse_colour",
           "demo_background"]
