"""Digit/letter look-alikes in Latin lines (0 and O, 1 and l), decided by each glyph's proportions
against the line's own other glyphs.

The recogniser's word prior reads a shown "Room 1O1" as "Room 101" and "Hote1" as "Hotel", and a
crop of the one glyph alone is read no better (a lone l is read as 1). Matching the ink against
renders needs the face, which the check does not know. But the line carries its own references,
in whatever face it is drawn:

* 0 against O. In a proportional face O is a wide round capital and 0 a narrow figure: O is
  1.3-1.7 × the width of the line's other figures (2-9, all one width in lining figures) or of its
  round lower-case letters (o, e, c), 0 within 1.15 × them. A monospaced face (and the Latin of
  the Arphic faces) draws both in one cell, as wide as each other: a glyph that narrow says "0"
  only where the line shows a proportional face (its glyph centres are not evenly spaced).
* 0 or O against o. A figure 0 and a capital O stand as tall as the capitals (0.95 × or more), an o
  at the x-height (0.66-0.86 × in 23 faces at 28-64 px): a glyph read 0 or O no taller than 0.9 ×
  the line's capitals is an o ("Room" read "Ro0m" by the recogniser's prior from the "101" beside it).
* 1 against l. An l reaches the ascender line; a 1, like every lining figure, the cap height.
  Where the face's ascenders rise above its capitals (most faces), a glyph taller than the line's
  capitals is an l, and one as tall as the capitals but shorter than its b d h k is not (a 1, or
  a capital I, which the comparison treats as l). A 1 has a flag: ink well left of the stem a
  fifth of the way down, where the serif of an l (at the very top) has ended; such a glyph as
  tall as the line's capitals or shorter is a 1. In a proportional face so is one with ink joined to
  its stem 2 px left of it an eighth of the way down (the flag of Noto Sans' 1 has ended lower down):
  no proportional face's l has ink there, but the flagged l of the Arphic faces' monospaced Latin does.
  Where the line's references do not decide, the glyph's own design drawn at its size may
  (:func:`zpipe.text.ink.which_glyph`: a font at hand whose render fits within ``SIZED_NEAR``, named by
  a clear margin; on the 1 and l glyphs of this module's test lines in 23 faces, 2695 named right, none
  wrong): AR PL UKai's 1 and l differ by the length of the flag.

The glyphs are the ink's connected components (pieces stacked in one column, the dot of an i,
merged), paired with the reading's characters only when there is exactly one per character and
none read as m or w is a sliver (a dot screen joins and splits letters, and the count can still match). A
glyph decided as the other member of its pair is rewritten; one that no reference decides is
reported (``cannot_tell``) where its line mixes letters and figures. The expected text is never
consulted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from zpipe.text.line_face import in_line_face, line_faces, monospaced

if TYPE_CHECKING:
    from zpipe.text.ocr import OcrImage


@dataclass(frozen=True)
class Glyph:
    """One glyph's ink: its bounding columns [x0, x1) and rows [y0, y1) in the line crop, and the mask."""

    x0: int
    x1: int
    y0: int
    y1: int
    mask: np.ndarray  # bool, (y1 - y0, x1 - x0)
    # the pixels the glyph covers by half or more (as a renderer draws it: :func:`_half_cover`), for
    # comparing with renders; the mask above is cut by the crop's own threshold, often wider
    cover: np.ndarray | None = None

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0


def glyphs(mask: np.ndarray) -> list[Glyph]:
    """The glyphs of a line's ink mask, left to right: connected components, those sharing most of
    the narrower one's columns merged (the dot of an i, the two dots of a colon)."""
    import cv2

    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    boxes = sorted(([int(s[0]), int(s[0] + s[2]), int(s[1]), int(s[1] + s[3]), [k]]
                    for k, s in enumerate(stats) if k), key=lambda b: b[0])
    merged: list[list] = []
    for b in boxes:
        if merged:
            m = merged[-1]
            overlap = min(m[1], b[1]) - max(m[0], b[0])
            if overlap > 0.5 * min(m[1] - m[0], b[1] - b[0]):
                m[0], m[1], m[2], m[3] = min(m[0], b[0]), max(m[1], b[1]), min(m[2], b[2]), max(m[3], b[3])
                m[4].append(b[4][0])
                continue
        merged.append(b)
    out = []
    for x0, x1, y0, y1, ks in merged:
        sub = np.isin(labels[y0:y1, x0:x1], ks)
        out.append(Glyph(x0, x1, y0, y1, sub))
    return out


ROUND_LOWER = "oec"  # round lower-case letters: a figure 0 is about as wide, an O much wider
FIGURES = "23456789"  # lining figures of one width (0 and 1 are the ones in question)
CAPS = "BDEFHKLMNPRTUVWXZ"  # flat-topped capitals: the cap height
ASCENDERS = "bdhk"
O_WIDE = 1.22  # an O is at least this × the reference width (proportional faces 1.23-1.73, a 0 at most 1.18)...
ZERO_NARROW = 1.12  # ... a 0 at most this × (0.91-1.18; a monospaced O 1.00-1.17, so only in a proportional face)
PROPORTIONAL_SPREAD = 0.2  # a face is proportional when a word's pitches spread over this × the glyph height
FLAG_DEPTH = 0.18  # × glyph height below its top: a 1's flag still reaches left of the stem here...
FLAG_REACH = 1.3  # ... by at least this × the stem width and 2 px; an l's serif (at the very top) has ended
HIGH_FLAG_DEPTH = 0.12  # in a proportional face, ink joined to the stem 2 px left of it this far down is a
# 1's flag: no proportional face's l reaches there (24 faces, 28-64 px); the l of the Arphic faces'
# monospaced Latin does
WIDE = "mwMW"  # letters at least as wide as tall in every face...
WIDE_MIN = 0.5  # ... so a glyph read as one narrower than this × its height is not one glyph per character
TALL = 1.04  # a glyph this × the cap height (and 2 px) taller than the capitals is an l (ascender)
SHORT = 0.97  # one this × the ascender height (and 2 px) shorter than the b d h k is not an l
NOT_L = "1I"  # decide()'s word for such a glyph without a flag
X_HEIGHT = 0.9  # a glyph read 0 or O no taller than this × the cap height is an o (o 0.66-0.86, 0 and O 0.95+)


def _pair(ch: str) -> str | None:
    """The look-alike pair of a character: "0" for 0 and O, "1" for 1, l, I and |, else None."""
    return None if len(ch) != 1 else "0" if ch in "0O" else "1" if ch in "1lI|" else None


def _median(values: list[float]) -> float | None:
    return float(np.median(values)) if values else None


def _proportional(gs: list[Glyph], text_gaps: set[int]) -> bool:
    """Whether the line shows a proportional face: its pitches (glyph centre to centre, inside a word)
    spread over ``PROPORTIONAL_SPREAD`` × the median glyph height. A monospaced face keeps one pitch
    whatever the glyphs are (its ink sits off the cell's centre a little: spreads up to 0.16), so this
    holds whichever of a look-alike pair a glyph is."""
    pitches = [(gs[i + 1].x0 + gs[i + 1].x1 - gs[i].x0 - gs[i].x1) / 2 for i in range(len(gs) - 1)
               if i not in text_gaps]
    height = float(np.median([g.height for g in gs])) if gs else 0.0
    return len(pitches) >= 2 and max(pitches) - min(pitches) >= PROPORTIONAL_SPREAD * height


def _flag(g: Glyph, depth: float = FLAG_DEPTH, joined: bool = False) -> float:
    """How far the ink reaches left of the stem ``depth`` × the height below the top, in stem widths
    (the stem: the median ink run of the rows 40-70% down); 0 where it reaches under 2 px. ``joined``:
    only the ink joined to the stem counts (its largest piece: a speck of noise above it is not a flag)."""
    m = _largest_piece(g.mask) if joined else g.mask
    rows = [m[r] for r in range(int(0.4 * g.height), max(int(0.7 * g.height), int(0.4 * g.height) + 1)) if m[r].any()]
    if not rows:
        return 0.0
    left = float(np.median([np.flatnonzero(r)[0] for r in rows]))
    stem = max(float(np.median([np.flatnonzero(r)[-1] - np.flatnonzero(r)[0] + 1 for r in rows])), 1.0)
    row = m[min(int(depth * g.height), g.height - 1)]
    reach = left - float(np.flatnonzero(row)[0]) if row.any() else 0.0
    return reach / stem if reach >= 2 else 0.0


def _largest_piece(mask: np.ndarray) -> np.ndarray:
    import cv2

    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return mask if n <= 2 else labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))


def _cap_height(chars: list[str], gs: list[Glyph]) -> float | None:
    """The line's cap height: its flat-topped capitals and figures 2 4 5 7 (None where it has none)."""
    return _median([g.height for c, g in zip(chars, gs) if c in CAPS or c in FIGURES and c in "2457"])


def decide(chars: list[str], gs: list[Glyph], text_gaps: set[int] = frozenset(),
           proportional: bool = False, context: list[tuple[str, np.ndarray]] = ()) -> list[str | None]:
    """Per character of a line (no spaces; ``gs`` its glyphs, one each; ``text_gaps``: indices i with a
    space read between i and i + 1), what its glyph shows for the 0/O and 1/l pairs: the character,
    ``NOT_L`` for a glyph shorter than the line's ascenders without a flag (a 1 or a capital I, which
    the comparison takes for l), or None where the line's references do not decide (and for the other
    characters: themselves). ``proportional``: another box of the same line already shows a proportional
    face (one line, one face: "10-22" alone keeps one pitch, as tabular figures do). ``context``: the
    glyphs of the line's other boxes (:func:`_row_context`), which tell its face too ("Room" of "1O1")."""
    def others(pick) -> list[int]:
        return [k for k, c in enumerate(chars) if pick(c)]

    def widths(idx):
        return _median([gs[k].width for k in idx])

    def heights(idx):
        return _median([gs[k].height for k in idx])

    figure_w = widths(others(lambda c: c in FIGURES))
    round_w = widths(others(lambda c: c in ROUND_LOWER))
    cap_h = _cap_height(chars, gs)
    # the ascender line: b d h k, and the glyphs read l that rise above the capitals (so are l's)
    asc_h = heights(others(lambda c: c in ASCENDERS)
                    + [k for k, c in enumerate(chars) if c in "lI|" and cap_h and gs[k].height >= TALL * cap_h + 2])
    proportional = proportional or _proportional(gs, set(text_gaps))
    out: list[str | None] = []
    for k, (ch, g) in enumerate(zip(chars, gs)):
        pair = _pair(ch)
        if pair == "0" and cap_h and g.height <= X_HEIGHT * cap_h:
            out.append("o")  # x-height, not a figure or capital ("Room" read "Ro0m")
        elif pair == "0":
            says = []
            for ref in (figure_w, round_w):
                if ref:
                    if g.width >= O_WIDE * ref:
                        says.append("O")
                    elif g.width <= ZERO_NARROW * ref and proportional:
                        says.append("0")
                    else:
                        says.append(None)
            named = says[0] if says and len(set(says)) == 1 else None
            faces = line_faces(_context(k, chars, gs) + list(context)) if named != ch else None
            if named == "0" and ch == "O" and monospaced(faces):
                named = None  # narrow says 0 only in a proportional face; the line's own face is monospaced
            if named is None:  # the widths do not decide: the line's own face may (a monospaced O is a tenth wider)
                named = in_line_face(_ink(g), "0O", faces)[1]
            elif named != ch and in_line_face(_ink(g), "0O", faces) == (True, ch):
                named = None  # the widths say the other member, the line's own face says the one read
            out.append(named)
        elif pair == "1":
            tall = cap_h is not None and g.height >= TALL * cap_h + 2
            short = asc_h is not None and g.height <= SHORT * asc_h - 2
            flag = ((_flag(g) >= FLAG_REACH or proportional and _flag(g, HIGH_FLAG_DEPTH, joined=True) > 0)
                    and (cap_h is None or g.height <= cap_h + 1))
            if tall and not (short or flag):
                out.append("l" if ch not in "lI|" else ch)
            elif flag and not tall:
                # a flag can be JPEG's ringing round an Arphic l (whose flag is short): the line's own
                # face, where it is at hand and names the l read, overrules it
                read_l = ch in "lI|" and in_line_face(
                    _ink(g), "1l", line_faces(_context(k, chars, gs) + list(context))) == (True, "l")
                out.append(None if read_l else "1")
            elif short and not tall:
                out.append(NOT_L)
            else:  # the line's references do not decide: its own design drawn at its size may
                out.append(_ink_says(g, _context(k, chars, gs) + list(context)))
        else:
            out.append(ch)
    return out


def _ink_says(g: Glyph, context: list[tuple[str, np.ndarray]]) -> str | None:
    """"1" or "l" where renders of the glyph's own design at its size name it: the line's own face, told
    by its other glyphs (``context``: :func:`zpipe.text.line_face.in_line_face`; AR PL UKai's l fits Noto
    Serif's 1), or where that face is not at hand, the fonts that fit the glyph best
    (:func:`zpipe.text.ink.which_glyph`)."""
    from zpipe.text.ink import which_glyph

    known, named = in_line_face(_ink(g), "1l", line_faces(context))
    return named if known else which_glyph(g.mask, "1l")


def _context(k: int, chars: list[str], gs: list[Glyph]) -> list[tuple[str, np.ndarray]]:
    """The line's other Latin letters and figures but the look-alike pairs' (as read, with their ink),
    the nearest to glyph ``k`` first: what tells the line's face."""
    others = sorted((j for j, c in enumerate(chars) if j != k and c.isascii() and c.isalnum() and _pair(c) is None),
                    key=lambda j: abs(j - k))
    return [(chars[j], _ink(gs[j])) for j in others]


def _ink(g: Glyph) -> np.ndarray:
    """The glyph's ink as a renderer would have drawn it (its half cover), to compare with renders."""
    return g.mask if g.cover is None else g.cover


def candidate(text: str) -> bool:
    """Whether ``text`` is a Latin line (ASCII) holding a member of the 0/O or 1/l pairs."""
    return text.isascii() and any(_pair(c) for c in text) and any(c.isalnum() for c in text)


def mixed(text: str) -> bool:
    """Whether ``text`` mixes Latin letters and figures (where a look-alike of the other kind is plausible)."""
    return any(c.isdigit() for c in text) and any(c.isalpha() for c in text)


def _line_glyphs(bgr: np.ndarray, box) -> tuple[list[str], list[Glyph], set[int]] | None:
    """The box's characters (no spaces), its glyphs and the indices followed by a read space, or None
    when the ink does not hold one glyph per character."""
    from zpipe.text.ocr import crop_digest
    from zpipe.text.word_gaps import ink_mask

    h, w = bgr.shape[:2]
    x0, x1 = int(max(0, box.x0)), int(min(w, box.x1 + 1))
    y0, y1 = int(max(0, box.y0)), int(min(h, box.y1 + 1))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    chars, text_gaps = [], set()
    for c in box.text.strip():
        if c.isspace():
            if chars:
                text_gaps.add(len(chars) - 1)
        else:
            chars.append(c)
    crop = np.ascontiguousarray(bgr[y0:y1, x0:x1])
    key = crop_digest(crop)
    gs = _GLYPHS.get(key)
    if gs is None:  # settle() and doubts() look at the same lines of one check
        if len(_GLYPHS) >= _GLYPHS_MAX:
            _GLYPHS.clear()
        mask = ink_mask(crop)
        gs = _GLYPHS[key] = _with_cover(crop, mask, glyphs(mask))
    if len(gs) != len(chars) or any(c in WIDE and g.width < WIDE_MIN * g.height for c, g in zip(chars, gs)):
        return None  # not one glyph per character (clutter, a dot screen joining pieces: an "m" 4 px wide)
    return chars, gs, text_gaps


_GLYPHS: dict[bytes, list[Glyph]] = {}  # line crop digest -> its glyphs
_GLYPHS_MAX = 64


def _with_cover(crop: np.ndarray, mask: np.ndarray, gs: list[Glyph]) -> list[Glyph]:
    """``gs`` with their ``cover``: the pixels of the crop at least half-way from the background's colour
    (its top and bottom rows) to the text's (the median of the ink's inner pixels), near each glyph's ink.
    A renderer's glyph is the pixels it covers by half; a threshold between two colours cut by Otsu's
    method on a poster can sit well off half, and thickens a curve by a pixel (the o of a mincho face)."""
    from dataclasses import replace

    import cv2

    px = crop.astype(np.float32)
    back = np.median(np.concatenate([px[:2].reshape(-1, 3), px[-2:].reshape(-1, 3)]), axis=0)
    inner = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    if inner.sum() < 12:
        return gs
    axis = np.median(px[inner], axis=0) - back
    if float(axis @ axis) < 1.0:
        return gs
    half = (px - back) @ axis / float(axis @ axis) >= 0.5
    near = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    out = []
    for g in gs:
        y0, y1, x0, x1 = max(g.y0 - 1, 0), g.y1 + 1, max(g.x0 - 1, 0), g.x1 + 1
        own = np.zeros(mask.shape, bool)
        own[g.y0:g.y1, g.x0:g.x1] = g.mask
        own = cv2.dilate(own.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        cover = (half & near & own)[y0:y1, x0:x1]
        out.append(replace(g, cover=cover) if cover.any() else g)
    return out


def settle(image: np.ndarray | OcrImage, boxes: list, among: list | None = None) -> list:
    """``boxes`` with each 0/O and 1/l character whose glyph shows the other member rewritten (module
    doc); the expected text is never consulted. ``among``: all the boxes read (``boxes`` may be the new
    readings of a few), whose rows tell a box's face (:func:`_row_context`)."""
    from dataclasses import replace

    out = list(boxes)
    for i, line in _candidate_lines(image, boxes).items():
        if line is None:
            continue
        said = iter(decide(*line, context=_row_context(image, boxes[i], boxes if among is None else among)))
        text = "".join(c if c.isspace() else _rewrite(c, next(said)) for c in boxes[i].text.strip())
        if text != boxes[i].text.strip():
            out[i] = replace(boxes[i], text=text)
    return out


def _rewrite(ch: str, says: str | None) -> str:
    if says == "o":
        return "o" if ch == "0" else ch  # an O read at the x-height differs from o only in case, which is folded
    if says is None or _pair(ch) is None or _pair(says) != _pair(ch):
        return ch
    if says == "l":
        return ch if ch in "lI|" else "l"
    return says


def doubts(image: np.ndarray | OcrImage, boxes: list) -> list[dict[str, str]]:
    """Per box of one line (``boxes``: the boxes matched to it, which the detector may have cut between
    "Room" and "1O1"), its 0/O and 1/l characters that the ink leaves in doubt, each with the member it
    could be hiding: in a line that mixes letters and figures, or has figures only ("2O26" read "2026": the
    figures of most faces share one width, and a face that draws O in that cell too looks the same), a 0
    or O whose width the line's references do not decide (a monospaced face draws O and 0 alike; the line's every 0 and O when its ink does not hold
    one glyph per character) and a 1 or l shaped like a glyph of the line read as the other; in any
    line, an l shorter than the line's ascenders (a 1 or an I), an l no taller than the capitals of a
    line with no b d h k to compare ("Hote1" read "Hotel": a 1 stands at the cap height, and so does the
    l of a few faces), and a 0, O, 1 or l read twice but drawn in two clearly different shapes
    ("Apo11o Hall" read "Apollo Hall")."""
    out: list[dict[str, str]] = [{} for _ in boxes]
    lines = _candidate_lines(image, boxes)
    rival = {"0": "O", "O": "0", "1": "l", "l": "1", "I": "1", "|": "1"}
    mixed_line = mixed(" ".join(b.text for b in boxes))  # the line's, not the box's
    figures = not any(c.isalpha() for b in boxes for c in b.text)  # 2026, 10:30: no letter to size a 0 by
    proportional = any(_proportional(ln[1], ln[2]) for ln in lines.values() if ln)  # one line, one face
    for i, line in lines.items():
        # a box whose ink does not hold one glyph per character (clutter) is judged on its own text, as before
        both = mixed_line if line else mixed(boxes[i].text)
        chars = line[0] if line else [c for c in boxes[i].text if not c.isspace()]
        said = (decide(*line, proportional=proportional, context=_row_context(image, boxes[i], boxes)) if line
                else [None if _pair(c) else c for c in chars])
        cap_h = _cap_height(*line[:2]) if line else None
        asc = line and any(c in ASCENDERS for c in line[0])
        for k, (ch, s) in enumerate(zip(chars, said)):
            if s is None and _pair(ch) == "0" and (both or figures) or s == NOT_L and ch in "lI|":
                out[i][ch] = rival[ch]
            elif s is None and ch == "l" and cap_h and not asc and line[1][k].height <= cap_h:
                out[i][ch] = rival[ch]  # as tall as the capitals and no ascender to compare: "Hote1" read "Hotel"
        if line:
            for ch in (_read_both_ways(*line[:2]) if both else set()) | _read_alike_drawn_unlike(*line[:2]):
                out[i][ch] = rival[ch]
    return out


def _row_context(image: np.ndarray | OcrImage, box, boxes: list) -> list[tuple[str, np.ndarray]]:
    """The Latin letters and figures (but the look-alike pairs') of the other boxes of ``boxes`` in
    ``box``'s row, as read, with their ink: the detector may cut one line in two ("Room" and "1O1")."""
    from zpipe.text.match import same_row
    from zpipe.text.ocr import as_bgr

    out = []
    for b in boxes:
        if b is not box and b.text.strip().isascii() and same_row(box, b):
            line = _line_glyphs(as_bgr(image), b)
            if line:
                out += [(c, _ink(g)) for c, g in zip(line[0], line[1]) if c.isalnum() and _pair(c) is None]
    return out


def _candidate_lines(image: np.ndarray | OcrImage, boxes: list) -> dict[int, tuple | None]:
    """For each box holding a 0/O or 1/l (:func:`candidate`), its characters, glyphs and read spaces
    (:func:`_line_glyphs`, None where the ink does not hold one glyph per character)."""
    from zpipe.text.ocr import as_bgr

    todo = [i for i, b in enumerate(boxes) if candidate(b.text)]
    bgr = as_bgr(image) if todo else None
    return {i: _line_glyphs(bgr, boxes[i]) for i in todo}


def one_shape_two_readings(image: np.ndarray | OcrImage, boxes: list) -> list[set[str]]:
    """Per box of one line mixing letters and figures (``boxes``: the boxes matched to it), the 1/l
    characters read from glyphs of one shape ("Leve1 10" read "Level 10": the glyph read l has the
    shape of the glyph read 1). One of the two readings is wrong, and nothing in the line says which:
    the line cannot be verified (``check_image`` makes it ``unverified``). A face that draws l and 1
    alike (the Arphic faces' Latin) cannot show either one verifiably."""
    out: list[set[str]] = [set() for _ in boxes]
    if mixed(" ".join(b.text for b in boxes)):
        for i, line in _candidate_lines(image, boxes).items():
            if line:
                out[i] = _read_both_ways(*line[:2])
    return out


def _alike(a: Glyph, b: Glyph) -> bool:
    """Whether two glyphs of one line have one shape: the same height and width (1 px or 8%) and ink
    (12%)."""
    def close(x: float, y: float, rel: float) -> bool:
        return abs(x - y) <= max(1.0, rel * max(x, y))

    return (close(a.height, b.height, 0.08) and close(a.width, b.width, 0.08)
            and close(float(a.mask.sum()), float(b.mask.sum()), 0.12))


def _read_both_ways(chars: list[str], gs: list[Glyph]) -> set[str]:
    """The 1/l characters of a line whose glyph has the size of another glyph of the line read as the
    other member ("Level l" read "Level 1": the last glyph is the l of Level; in the Arphic faces l and
    1 are about one shape): one of the two readings is wrong and nothing says which, unless renders of
    the glyphs' own design at their size name each as read (:func:`_ink_says`: AR PL UKai's l has a
    shorter flag than its 1)."""
    out = set()
    for i, (a, ga) in enumerate(zip(chars, gs)):
        for j, (b, gb) in enumerate(zip(chars[i + 1:], gs[i + 1:]), start=i + 1):
            if (_pair(a) == _pair(b) == "1" and (a == "1") != (b == "1") and _alike(ga, gb)
                    and not (_ink_says(ga, _context(i, chars, gs)) == _key(a)
                             and _ink_says(gb, _context(j, chars, gs)) == _key(b))):
                out.update((a, b))
    return out


def _key(ch: str) -> str:
    """The member of the 1/l pair a reading names (l, I and | look alike and count as l)."""
    return "1" if ch == "1" else "l"


def _unlike(a: Glyph, b: Glyph) -> bool:
    """Whether two glyphs of one line clearly differ in shape: height by over 2 px and 8%, or width by
    over 2 px and 25% (one character drawn twice in one line differs by a pixel of rounding)."""
    def apart(x: float, y: float, rel: float) -> bool:
        return abs(x - y) > max(2.0, rel * max(x, y))

    return apart(a.height, b.height, 0.08) or apart(a.width, b.width, 0.25)


def _read_alike_drawn_unlike(chars: list[str], gs: list[Glyph]) -> set[str]:
    """The 0/O and 1/l characters read the same (l and I count as one) twice in a line but drawn in two
    clearly different shapes ("Apo11o Hall" read "Apollo Hall": two of its l's have a 1's flag and the
    cap height): one face draws a character one way, so one of the two is another character."""
    def key(c: str) -> str:
        return "l" if c in "lI|" else c

    out = set()
    for i, (a, ga) in enumerate(zip(chars, gs)):
        for b, gb in zip(chars[i + 1:], gs[i + 1:]):
            if _pair(a) and key(a) == key(b) and _unlike(ga, gb):
                out.update((a, b))
    return out
