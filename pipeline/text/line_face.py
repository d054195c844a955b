"""The face a Latin line is set in, found among the fonts at hand by the line's other glyphs, and the
member of a digit/letter pair (0 and O, 1 and l) that a glyph of the line shows in that face.

A glyph fits renders of *some* font as either member: AR PL UKai's l is another face's 1, and its O,
1.1 × as wide as its 0, is as wide as another face's 0. Only the line's own face tells them apart,
and the line's other glyphs say which face that is (the H o t e of "Hote1"): drawn at the line's em
size (:func:`line_faces`), the faces at hand that fit them as a face fits its own
drawing (``FACE_NEAR``) are the line's face, and the glyph is named only where every face fitting
about as well (``FACE_SPREAD``) names the same member, by a clear margin, as near as a glyph fits its
own design (``zpipe.text.ink.SIZED_NEAR``, ``zpipe.text.ink.MARGIN``). A line in a face not at hand, or
blurred, tilted or recompressed past that fit, names nothing: the recogniser's reading stands, with
its doubt.
"""

from __future__ import annotations

from functools import cache, lru_cache

import numpy as np

FACE_NEAR = 0.12  # mean distance of the line's other glyphs to a face's renders at their sizes: its own face
FACE_SPREAD = 1.5  # every face fitting within this × the best fit must name the same member
GLYPH_FAR = 0.5  # a face drawing one of the line's glyphs this far from its ink is not the line's face
SIZE_SEARCH = 3  # px either side of the guessed em size tried
CONTEXT_MIN = 2  # other glyphs needed to tell the face
CONTEXT_MAX = 8  # other glyphs compared, the nearest to the glyph in question first
SHORTLIST = 12  # faces drawn at the line's size: those most like its largest glyphs at the usual size
SAMPLE = "Hamburgefonts 0O1l"  # drawn once per face: faces that draw it alike are one Latin design
SAMPLE_SIZE = 24
ONE_CELL_SIZE = 48  # px em at which a face's advances are compared


@cache
def latin_faces() -> tuple:
    """One face per distinct Latin design among the installed faces (monospaced families too: their
    Latin is their own), each drawing both pairs: the region faces and weights of a CJK collection
    mostly share one Latin, and are compared once."""
    from zpipe.text.fonts import FontFace, _catalogue
    from zpipe.text.ink import _draws

    seen: set[bytes] = set()
    out = []
    for path, index, family, full, _ps in _catalogue():
        face = FontFace(path, index, full or family)
        try:
            key = _sample(face)
            if key in seen or not all(_draws(face, ch) for ch in "0O1l"):
                continue
        except Exception:  # a face Pillow cannot draw with is not at hand
            continue
        seen.add(key)
        out.append(face)
    return tuple(out)


def _sample(face) -> bytes:
    from PIL import Image, ImageDraw

    pil = face.pil(SAMPLE_SIZE)
    im = Image.new("L", (SAMPLE_SIZE * len(SAMPLE), SAMPLE_SIZE * 2), 0)
    ImageDraw.Draw(im).text((0, SAMPLE_SIZE // 2), SAMPLE, font=pil, fill=255)
    return np.asarray(im).tobytes()


def in_line_face(mask: np.ndarray, members: str, faces: list[tuple] | None) -> tuple[bool, str | None]:
    """Whether the line's own face is known (``faces``: :func:`line_faces`), and the member of ``members``
    that the glyph ``mask`` (bool ink) shows in it, or None (module doc). Where the face is known and
    unsure, nothing else is evidence."""
    from zpipe.text import ink

    glyph = ink._norm(mask)
    if faces is None or glyph is None or not ink._sized(ink._extent(mask)):
        return False, None
    glyph_map = ink._distance_map(glyph)
    named = set()
    for face, size in faces:
        renders = {m: _drawn(m, face.path, face.index, size) for m in members}
        if any(r is None for r in renders.values()):
            return True, None
        (m0, d0), (_, d1) = sorted(((m, ink.distance(glyph, glyph_map, *r)) for m, r in renders.items()),
                                   key=lambda kv: kv[1])[:2]
        if d0 > ink.SIZED_NEAR or d0 > ink.MARGIN * d1:
            return True, None  # a face that draws the line as well is unsure: the evidence is torn
        named.add(m0)
    return True, named.pop() if len(named) == 1 else None


def monospaced(faces: list[tuple] | None) -> bool:
    """Whether the line's own face (``faces``: :func:`line_faces`) is known and draws every glyph in one
    cell, as do all the faces fitting the line about as well: its figure 0 and capital O are then alike
    in width, whatever the spacing of its glyphs' ink seems to say."""
    return bool(faces) and all(_one_cell(face.path, face.index) for face, _ in faces)


@lru_cache(maxsize=256)
def _one_cell(path: str, index: int) -> bool:
    from zpipe.text.fonts import FontFace

    pil = FontFace(path, index, "").pil(ONE_CELL_SIZE)
    return len({pil.getlength(ch) for ch in "iMW0O1l"}) == 1


def line_faces(context: list[tuple[str, np.ndarray]]) -> list[tuple] | None:
    """The faces that draw the line's other glyphs (``context``: (character read, bool ink), nearest first)
    as a face draws itself, as (face, the line's em size in px): the best fit within ``FACE_NEAR`` and every face within ``FACE_SPREAD`` × it; None where no
    face at hand fits (or too few glyphs to tell)."""
    from zpipe.text import ink

    others = []
    for ch, m in context:
        g = ink._norm(m)
        if g is not None and ink._sized(ink._extent(m)):
            others.append((ch, g, ink._distance_map(g), ink._extent(m)))
        if len(others) == CONTEXT_MAX:
            break
    if len(others) < CONTEXT_MIN:
        return None
    others.sort(key=lambda o: -o[3])  # the largest first: it sizes the line's em most finely
    fitted = [(fit, face, size) for face in _shortlist(others) if (f := _fit(face, others)) for fit, size in [f]]
    best = min((fit for fit, _, _ in fitted), default=float("inf"))
    if best > FACE_NEAR:
        return None
    return [(face, size) for fit, face, size in fitted if fit <= FACE_SPREAD * best]


def _shortlist(others) -> list:
    """The ``SHORTLIST`` faces whose usual renders (``zpipe.text.ink.RENDER_SIZE``, drawn once per face and
    character) are most like the line's two largest other glyphs: drawing every face at the line's own
    size is the costly part, and a face unlike the line at any size is not its face."""
    from zpipe.text import ink

    def unlike(face) -> float:
        total = 0.0
        for ch, g, g_map, _ in others[:2]:
            t = ink._template(ch, face.path, face.index)
            if t is None:
                return float("inf")
            total += ink.distance(g, g_map, *t)
        return total

    scored = sorted((unlike(face), k) for k, face in enumerate(latin_faces()))
    return [latin_faces()[k] for d, k in scored[:SHORTLIST] if d < float("inf")]


def _fit(face, others) -> tuple[float, int] | None:
    """(the mean distance of the line's other glyphs to the face's renders of them, the em size in px
    they are drawn at), or None where the face lacks one of them or draws one unlike it. A line has one
    em size: each glyph's extent against the face's own guesses it, a few pixels off (hinting snaps the
    heights of a small glyph to the pixel grid), so the sizes around the median guess are tried on the
    line's largest glyphs and the one that draws them nearest is the line's."""
    from zpipe.text import ink

    guesses = []
    for ch, _, _, extent in others:
        own = ink._template_extent(ch, face.path, face.index)
        if not own:
            return None
        guesses.append(ink.RENDER_SIZE * extent / own)
    guess = round(float(np.median(guesses)))
    ch, g, g_map, _ = others[0]
    r = _drawn(ch, face.path, face.index, guess) if guess >= ink.MIN_RENDER else None
    if r is None or ink.distance(g, g_map, *r) > 2 * GLYPH_FAR:
        return None  # not this face (most are told by the first glyph alone)

    def at(size: int, glyphs) -> float:
        total = 0.0
        for ch, g, g_map, _ in glyphs:
            r = _drawn(ch, face.path, face.index, size)
            total += float("inf") if r is None else ink.distance(g, g_map, *r)
        return total

    sizes = [size for size in range(guess - SIZE_SEARCH, guess + SIZE_SEARCH + 1) if size >= ink.MIN_RENDER]
    size = min(sizes, key=lambda size: at(size, others[:3]))
    total = 0.0
    for glyph in others:
        d = at(size, [glyph])
        if d > GLYPH_FAR:
            return None
        total += d
    return total / len(others), size


@lru_cache(maxsize=4096)
def _drawn(ch: str, path: str, index: int, size: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(normalised glyph, distance map) of ``ch`` drawn at ``size`` px em in the face, or None without ink
    (a face lacking ``ch`` draws its missing-glyph box, which fits no glyph)."""
    from zpipe.text import ink

    glyph = ink._norm(ink._render(ch, path, index, size))
    return None if glyph is None else (glyph, ink._distance_map(glyph))
