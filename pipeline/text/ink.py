"""Which member of a look-alike group a single-character crop shows, judged by the shape of its ink.

Some look-alikes the recogniser reads as the common form even from a crop of them alone
(``lookalikes_read_as.txt``: 曰 as 日, 夭 as 天, 巳 as 已): its reading cannot tell them apart, the
ink can. :func:`which` compares the glyph in the crop with renders of every member of the group in
the CJK fonts available at run time (:func:`template_faces`: the bundled Noto Sans CJK faces and the
system's CJK fonts, every region's face of a collection), and names the member that the fonts most like the glyph agree it shows, by a
clear margin; otherwise None (the evidence is not clear, the caller keeps its doubt).

The comparison is symmetric: every member is rendered and scored alike, so the answer does not
depend on which character was expected or read. Steps:

1. ink: the crop's main colours (k-means, as :func:`zpipe.text.colours.colour_centres`); the most common
   is the background, each other colour is tried as the text's (pixels nearer it than any other), and
   all of them together (a fill with its outline); a colour whose pixels hold two inks far apart (a thin
   dark outline merged with a red fill: three colours cannot also hold the blends) is split, and each ink
   is tried alone (:func:`_two_colours`);
2. the glyph: the ink of the character's own slice of the crop (a piece mostly inside it whole: the
   recogniser's span is rough), cut to the box of its ink (pixels
   beyond the 1st/99th percentile are stray) and scaled, aspect kept, into a ``GRID``² square: so
   日 (taller than wide) and 曰 (wider than tall) stay apart in most fonts;
3. distance to a render: chamfer distance, both ways (mean distance from each ink pixel of one to the
   nearest of the other, so stroke weight matters little), plus the share of either's ink far from the
   other (a stroke present in one and absent from the other: 戍's dot, 戌's bar);
4. the ``TOP_FONTS`` fonts whose renders are nearest the glyph (the fonts most like its style) must each
   name the same member, by a clear margin within the font (nearest distance ≤ ``MARGIN`` × the
   runner-up's, and near at all: ``NEAR``), and every font about as near (``SPREAD``) must lean the same
   way (``LEAN``; a split ink's must be clear too); of the candidate inks, the one most like a render
   decides (:func:`agreed`); and only for groups the
   fonts draw consistently
   (:func:`fonts_agree`: each font's renders, judged against the other fonts', are never named wrong);
5. where the fonts are torn at the template size, the glyph is judged again against renders drawn so
   that their ink is as long as its own (:func:`_sized`): a glyph of a few dozen px is drawn on the pixel
   grid with that size's hinting, which thickens and shifts strokes by a pixel (a clean 巳 at 40 px fits
   its own face's 96-px template at 0.23 and another weight's at 0.09, its own face drawn at 40 px at
   0.003). That answer counts only where a render is that near (``SIZED_NEAR``: the glyph's own design;
   other designs named the wrong member at 0.12 and beyond), and that design decides alone (fonts about as
   near still veto; the next one is often far: AR PL UKai fits its clean 荼 at 0.02, AR PL KaitiM at 0.45).
"""

from __future__ import annotations

import os
from functools import cache, lru_cache

import numpy as np

GRID = 40  # px of the square a glyph is scaled into
RENDER_SIZE = 96  # px em of the template renders
MARGIN = 0.8  # within a font, the nearest member's distance must be at most this × the runner-up's
TOP_FONTS = 2  # the fonts most like the glyph that must all name the same member
SPREAD = 1.5  # and every font whose distance is within this × the nearest font's must lean the same way:
LEAN = 0.9  # its distance to that member at most this × its distance to the other (else torn)
TORN = 1.1  # a candidate ink this near a render as the nearest one, and unsure, leaves the ink undecided
MIN_RENDER = 12  # px: the smallest size templates are rendered at
SIZED_MAX = 80  # px of ink: a glyph up to this size is compared again with renders at its own size too,
SIZED_NEAR = 0.1  # and named so only where a render is this near (its own design: a clean glyph fits 0.00-0.01)
NEAR = 1.0  # GRID px: a glyph farther than this from every render is not clean ink (clutter, a bad cut)
FAR = 0.12  # × GRID: an ink pixel this far from the other glyph's ink is a stroke it lacks
ENV_FONTS = "ZPIPE_INK_FONTS"  # "bundled": the bundled faces only (the same answer on every machine)


@cache
def template_faces() -> tuple:
    """The faces templates are rendered in: the bundled Noto Sans CJK faces and, unless
    ``$ZPIPE_INK_FONTS`` is ``bundled``, every system font face with CJK ideographs; all the faces of a
    collection, not its first only: a pan-CJK collection draws some characters differently per region
    (天's upper bar is longer than the lower in the JP face, shorter in the SC face), and a poster may be set
    in any of them. Monospaced families are left out (the same ideographs as their proportional family)."""
    from zpipe.text.fonts import FontError, FontFace, _catalogue, bundled_font_path

    try:
        bundled = str(bundled_font_path())
    except FontError:
        bundled = ""
    system = os.environ.get(ENV_FONTS, "").strip() != "bundled"
    faces: list[FontFace] = []
    for path, index, family, full, _ps in _catalogue():
        if "Mono" in family or not (system or path == bundled):
            continue
        face = FontFace(path, index, full or family)
        if _draws(face, "永"):
            faces.append(face)
    return tuple(faces)


def _draws(face, ch: str) -> bool:
    """Whether ``face`` has a glyph for ``ch``: its render differs from the missing-glyph box's (cheaper
    than reading the cmap of a large CJK font with fontTools)."""
    try:
        font = face.pil(RENDER_SIZE // 2)
        mask = font.getmask(ch)
        missing = font.getmask("\U0010fffd")
    except Exception:  # an unreadable font file
        return False
    return mask.size != missing.size or bytes(mask) != bytes(missing)


def _ink_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of the ink of ``mask`` (bool): its 1st-99th percentile pixels; None when there is
    too little ink."""
    ys, xs = np.nonzero(mask)
    if len(xs) < 12:
        return None
    x0, x1 = np.percentile(xs, [1, 99])
    y0, y1 = np.percentile(ys, [1, 99])
    return int(x0), int(y0), int(np.ceil(x1)) + 1, int(np.ceil(y1)) + 1


def _extent(mask: np.ndarray) -> int:
    """The longer side of the ink's box in px (0 without ink): the size a glyph is scaled by."""
    box = _ink_box(mask)
    return 0 if box is None else max(box[2] - box[0], box[3] - box[1])


def _norm(mask: np.ndarray) -> np.ndarray | None:
    """The ink of ``mask`` (bool) cut to its box (:func:`_ink_box`) and scaled, aspect kept, centred into
    a GRID² bool square; None when there is too little ink."""
    import cv2

    box = _ink_box(mask)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    cut = mask[y0:y1, x0:x1].astype(np.float32)
    h, w = cut.shape
    side = max(h, w)
    if side < 6:
        return None
    s = (GRID - 2) / side
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    small = cv2.resize(cut, (nw, nh), interpolation=cv2.INTER_AREA)
    out = np.zeros((GRID, GRID), np.float32)
    ox, oy = (GRID - nw) // 2, (GRID - nh) // 2
    out[oy:oy + nh, ox:ox + nw] = small
    return out >= 0.35


@lru_cache(maxsize=8192)
def _template(ch: str, path: str, index: int, extent: int = 0) -> tuple[np.ndarray, np.ndarray] | None:
    """(normalised glyph, distance map to its ink) of ``ch`` in the face, or None without the glyph;
    rendered at ``RENDER_SIZE``, or with ``extent`` at the size where its ink is that many px long
    (:func:`_sized`)."""
    from zpipe.text.fonts import FontFace

    if not _draws(FontFace(path, index, ""), ch):
        return None
    if extent:
        own = _template_extent(ch, path, index)
        if not own:
            return None
        mask = _render(ch, path, index, max(MIN_RENDER, round(RENDER_SIZE * extent / own)))
    else:
        mask = _render(ch, path, index, RENDER_SIZE)
    glyph = _norm(mask)
    return None if glyph is None else (glyph, _distance_map(glyph))


@lru_cache(maxsize=4096)
def _template_extent(ch: str, path: str, index: int) -> int:
    return _extent(_render(ch, path, index, RENDER_SIZE))


@lru_cache(maxsize=512)
def _render(ch: str, path: str, index: int, size: int) -> np.ndarray:
    """``ch`` drawn at ``size`` px em in the face, as a Pillow poster drawing is: the pixels covered by half."""
    from PIL import Image, ImageDraw

    from zpipe.text.fonts import FontFace

    side = size * 2
    im = Image.new("L", (side, side), 0)
    ImageDraw.Draw(im).text((side / 2, side / 2), ch, font=FontFace(path, index, "").pil(size), fill=255, anchor="mm")
    return np.asarray(im) >= 128


def _distance_map(glyph: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.distanceTransform((~glyph).astype(np.uint8), cv2.DIST_L2, 3)


def distance(a: np.ndarray, a_map: np.ndarray, b: np.ndarray, b_map: np.ndarray) -> float:
    """Symmetric chamfer distance between two normalised glyphs (GRID units), plus the share of either's
    ink that lies far from the other's (a stroke one has and the other lacks), in GRID units too."""
    da, db = b_map[a], a_map[b]
    if not len(da) or not len(db):
        return float("inf")
    far = FAR * GRID
    return float(da.mean() + db.mean() + GRID * 0.25 * ((da > far).mean() + (db > far).mean()))


def glyph_candidates(crop_bgr: np.ndarray, slice_x: tuple[int, int] | None = None) -> list[tuple[np.ndarray, bool, int]]:
    """The crop's ink as normalised glyphs, one per main colour but the background's (each could be
    the text's), each with whether it is one of the two inks of a colour that holds two
    (:func:`_two_colours`; judged more strictly) and its extent in px (:func:`_extent`). ``slice_x``: the
    columns of the crop that hold the character (ink outside is a neighbour's)."""
    from zpipe.text.colours import colour_centres

    crop = np.asarray(crop_bgr)
    if crop.ndim != 3 or min(crop.shape[:2]) < 8:
        return []
    centres = colour_centres(crop)
    edge = _edge_of(centres)
    if edge is not None:  # plain text with its anti-aliased edge: ink where the text covers half a pixel
        back, text = centres[0], centres[edge]
        axis = text - back
        share = (crop.astype(np.float32) - back) @ axis / float(axis @ axis)
        masks = [(share >= 0.5, False)]
    else:
        d = np.linalg.norm(crop.astype(np.float32)[:, :, None, :] - centres[None, None], axis=3)
        nearest = np.argmin(d, axis=2)
        masks = [nearest == k for k in range(1, len(centres))
                 if np.linalg.norm(centres[k] - centres[0]) >= 40]  # closer: shading of the background
        parts = [part for mask in masks for part in _two_colours(crop, mask)]
        if len(masks) > 1:
            masks.append(np.logical_or.reduce(masks))  # text drawn with an outline: fill and outline together
        masks = [(m, False) for m in masks] + [(m, True) for m in parts]
    out = []
    for mask, split in masks:
        if slice_x is not None:
            mask = _in_slice(mask, slice_x)
        own = _own_strokes(mask, slice_x or (0, mask.shape[1]))
        glyph = _norm(own)
        if glyph is not None:
            out.append((glyph, split, _extent(own)))
    return out


SPLIT = 60.0  # colour distance: a cluster whose two halves are this far apart is two inks (fill and outline)


def _two_colours(crop: np.ndarray, mask: np.ndarray) -> list[np.ndarray]:
    """The two inks of one colour cluster where it holds two (a thin dark outline merged with a red fill:
    three colours cannot hold background, fill, outline and their blends), each as a mask; else []."""
    from zpipe.text.colours import colour_centres

    px = crop[mask].astype(np.float32)
    if len(px) < 20:
        return []
    a, b = colour_centres(px.reshape(-1, 1, 3), k=2)
    if np.linalg.norm(a - b) < SPLIT:
        return []
    d = np.stack([np.linalg.norm(crop.astype(np.float32) - c, axis=2) for c in (a, b)])
    near_a = d[0] <= d[1]
    return [mask & near_a, mask & ~near_a]


BLEND = 0.05  # × the text's distance from the background: a colour this near the line between them is a blend (a glow is 0.12 or more off)


def _edge_of(centres: np.ndarray) -> int | None:
    """The index of the text's colour where the crop's third colour is only the blend of the background
    (the first) and the text along the text's anti-aliased edges; else None (an outline, a shadow, a
    second fill). Split by nearest colour, the text would lose its edge pixels (thinner than the font
    draws it: gaps open) and with them it would gain them all (thicker: gaps close, 已 turns 巳), where a
    template is the pixels the font covers by half."""
    if len(centres) != 3:
        return None
    back = centres[0]
    for text, other in ((1, 2), (2, 1)):
        axis = centres[text] - back
        span = float(np.linalg.norm(axis))
        if span < 40:
            continue
        t = float((centres[other] - back) @ axis) / span ** 2
        off = float(np.linalg.norm(centres[other] - back - t * axis))
        if 0.1 < t < 0.9 and off <= BLEND * span:
            return text
    return None


def _in_slice(mask: np.ndarray, slice_x: tuple[int, int]) -> np.ndarray:
    """The ink of ``mask`` that is the character's by its columns ``slice_x``: a piece of ink (connected
    component) mostly inside them whole, since the recogniser's span of a character is rough and may cut
    off a stroke's end (the left foot of 入 scaled down and up, then named by nobody: its fit to every
    render beyond NEAR); a piece mostly outside cut at the slice's sides (a neighbour joined to it)."""
    import cv2

    a, z = max(0, slice_x[0]), slice_x[1]
    inside = np.zeros_like(mask)
    inside[:, a:z] = mask[:, a:z]
    n, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return inside
    total = np.bincount(labels.ravel(), minlength=n)
    within = np.bincount(labels[:, a:z].ravel(), minlength=n)
    whole = within >= 0.5 * total
    whole[0] = False
    return inside | whole[labels]


EDGE = 0.15  # × the character's width: a piece of ink wholly this close to a side is a neighbour's


def _own_strokes(mask: np.ndarray, slice_x: tuple[int, int]) -> np.ndarray:
    """``mask`` without the pieces of ink that are not the character's: those touching the crop's top or
    bottom (the crop has room above and below the glyph: a line of clutter, a stamp) and those lying
    wholly in a side band of the character's slice (a neighbour's stroke reaching into it)."""
    import cv2

    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    h = mask.shape[0]
    a, z = slice_x
    band = EDGE * max(1, z - a)
    keep = np.zeros(n, bool)
    for k in range(1, n):
        x, y, w, hh = stats[k, :4]
        if y == 0 or y + hh >= h:
            continue
        if x + w <= a + band or x >= z - band:
            continue
        keep[k] = True
    return keep[labels]


Renders = dict[str, list[tuple[np.ndarray, np.ndarray]]]  # member -> its (glyph, distance map) per region face


@lru_cache(maxsize=256)
def _templates(members: str, faces: tuple, extent: int = 0) -> dict[str, Renders]:
    """Per font file (one design), each member's renders as (glyph, distance map), one per face of the file
    that draws them all (a collection's region faces: 天 differs between its JP and SC faces), identical
    renders once; a file whose renders equal an earlier file's is left out (the bundled collection and a
    system copy of it, the weights that draw these characters alike). Cached: every crop of a group asks
    for the same table (callers only read it)."""
    by_path: dict[str, Renders] = {}
    for face in _drawn_apart(members, faces) if extent else faces:
        renders = {m: _template(m, face.path, face.index, extent) for m in members}
        if any(r is None for r in renders.values()):
            continue
        table = by_path.setdefault(face.path, {m: [] for m in members})
        for m, r in renders.items():
            if not any(np.array_equal(r[0], g) for g, _ in table[m]):
                table[m].append(r)
    out: dict[str, Renders] = {}
    seen: set[bytes] = set()
    for path, table in by_path.items():
        key = b"".join(g.tobytes() for m in members for g, _ in table[m])
        if key not in seen:
            seen.add(key)
            out[path] = table
    return out


@lru_cache(maxsize=64)
def _drawn_apart(members: str, faces: tuple) -> tuple:
    """The faces whose renders of ``members`` at the template size differ from every earlier face's: the
    region faces of a collection and the copies of one file mostly draw a group alike, and only one of
    each is drawn again at a glyph's own size (:func:`_sized`)."""
    seen: set[bytes] = set()
    out = []
    for face in faces:
        renders = [_template(m, face.path, face.index) for m in members]
        if any(r is None for r in renders):
            continue
        key = b"".join(r[0].tobytes() for r in renders)
        if key not in seen:
            seen.add(key)
            out.append(face)
    return tuple(out)


def _by_font(glyphs: list[np.ndarray], members: str, table: dict[str, Renders],
             skip: str = "") -> dict[str, dict[str, float]]:
    """Per font file (but ``skip``), per member: the smallest distance between one of ``glyphs`` and one of
    the member's renders in that file."""
    maps = [_distance_map(g) for g in glyphs]
    out: dict[str, dict[str, float]] = {}
    for path, renders in table.items():
        if path != skip:
            out[path] = {m: min((distance(g, gm, *r) for g, gm in zip(glyphs, maps) for r in renders[m]),
                                default=float("inf"))
                         for m in members}
    return out


def decide(per_font: dict[str, dict[str, float]], margin: float = MARGIN, top: int = TOP_FONTS,
           spread: float = SPREAD, lean: float = LEAN) -> str | None:
    """The member that the fonts most like the glyph name: the ``top`` nearest fonts (by their nearest
    member) each by a clear margin within the font (nearest distance ≤ ``margin`` × the runner-up's, and
    ≤ ``NEAR``: the glyph must look like a render at all), and every other font about as near (within
    ``spread`` × the nearest font's distance) leaning the same way (its distance to that member ≤ ``lean``
    × the other's); else None. Judging within one font compares like with like: the fonts differ in style
    far more than 日 differs from 曰. A font about as near that leans another way, or is torn, vetoes,
    because two near fonts can be one design in two weights (Noto Sans Regular and Medium), and a glyph
    thickened by an outline, or with a serif rising at a stroke's end, can sit nearer one member in one
    design and nearer the other in another (天 with an outline: 夭 by the nearest gothics, 天 by the next;
    a serif 已 at 56 px: 巳 by the Medium weight, torn in its own Regular): then the ink is no evidence.
    One leaning the same way less clearly is no evidence against the nearest two (a rotated bold-serif
    荼: four fonts clear, a fifth 0.87 against 1.04)."""
    ranked = sorted(per_font.values(), key=lambda d: min(d.values()))
    if len(ranked) < top:
        return None
    best = min(ranked[0].values())
    named = set()
    for k, dist in enumerate(ranked):
        if k >= top and min(dist.values()) > spread * best:
            break
        (m, d0), (_, d1) = sorted(dist.items(), key=lambda kv: kv[1])[:2]
        if k < top:
            if not d0 <= NEAR or d0 > margin * d1:
                return None
            named.add(m)
        elif m not in named or d0 > lean * d1:  # about as near and leaning another way, or torn
            return None
    return named.pop() if len(named) == 1 else None


@lru_cache(maxsize=64)
def fonts_agree(members: str, faces: tuple, margin: float = MARGIN) -> bool:
    """Whether the fonts draw ``members`` consistently enough for the ink to decide among them: every
    font's render of every member, judged against the other fonts, is named right or left undecided.
    Some designs draw a pair alike or crosswise (汨 and 汩 in the Arphic Kai fonts), and then the
    shape of the ink is no evidence."""
    table = _templates(members, faces)
    for path, renders in table.items():
        for m, variants in renders.items():
            for glyph, _ in variants:
                if decide(_by_font([glyph], members, table, skip=path), margin) not in (None, m):
                    return False
    return True


def scores(crop_bgr: np.ndarray, members: str, slice_x: tuple[int, int] | None = None,
           faces: tuple | None = None, sized: bool = False) -> list[tuple[dict[str, dict[str, float]], bool]]:
    """Per glyph candidate of the crop (:func:`glyph_candidates`), per font file, per member of ``members``:
    the distance between the candidate and the member's render in that font (fonts from
    :func:`template_faces` by default; ``sized``: rendered at the candidate's own size, :func:`_sized`);
    with whether the candidate is a split ink."""
    faces = template_faces() if faces is None else faces
    return [(_by_font([g], members, _templates(members, faces, _sized(extent) if sized else 0)), split)
            for g, split, extent in glyph_candidates(crop_bgr, slice_x)]


def _sized(extent: int) -> int:
    """The ink extent templates are rendered at for a glyph of ``extent`` px: its own up to ``SIZED_MAX``
    (a larger glyph's hinting is the design's), that size at most (0: the usual renders)."""
    return extent if MIN_RENDER <= extent <= SIZED_MAX else 0


def which(crop_bgr: np.ndarray, members: str, slice_x: tuple[int, int] | None = None,
          faces: tuple | None = None, margin: float = MARGIN) -> str | None:
    """The member of ``members`` the crop's ink shows by a clear margin, or None (see module doc); None
    too where the fonts do not draw the members consistently (:func:`fonts_agree`).

    Of the candidate inks that look like a render at all (nearest distance ≤ ``NEAR``), the one most like
    a render decides (:func:`agreed`): the text's colour alone loses a thin stroke drawn in blended edge
    pixels (opening a gap: 己 for 已), and with its edge or outline colour it is thickened (closing a gap:
    巳 for 已, 日 for 曰), so where two about as near disagree the ink is no evidence. The two inks of a
    colour split in two (:func:`_two_colours`) are candidates too, judged with every font about as near
    clear (``lean=margin``): the fill of an outlined glyph is the font's drawing, but a thin one."""
    faces = template_faces() if faces is None else faces
    members = "".join(sorted(members))  # the same question whatever the order
    if not fonts_agree(members, faces, margin):
        return None
    for sized, near, top in ((False, NEAR, TOP_FONTS), (True, SIZED_NEAR, 1)):
        inks = []
        for per_font, split in scores(crop_bgr, members, slice_x, faces, sized):
            fit = min((min(d.values()) for d in per_font.values()), default=float("inf"))
            if fit <= near:  # a colour split in two inks: every font about as near must be sure
                inks.append((fit, decide(per_font, margin, top, lean=margin if split else LEAN)))
        named = agreed(inks)
        if named is not None:
            return named
    return None


def which_glyph(mask: np.ndarray, members: str, faces: tuple | None = None) -> str | None:
    """The member of ``members`` that a glyph already cut from its line shows (``mask``: its ink, bool), or
    None: named (:func:`decide`) by the renders drawn at its own size (:func:`_sized`) where one fits it
    within ``SIZED_NEAR``, its own design at hand. For Latin look-alikes (1 and l) that no two designs draw
    alike, and that the fonts need not draw consistently (:func:`fonts_agree`): a design drawing them alike
    is torn in itself."""
    glyph, extent = _norm(mask), _sized(_extent(mask))
    if glyph is None or not extent:
        return None
    faces = template_faces() if faces is None else faces
    members = "".join(sorted(members))
    per_font = _by_font([glyph], members, _templates(members, faces, extent))
    if min((min(d.values()) for d in per_font.values()), default=float("inf")) > SIZED_NEAR:
        return None
    return decide(per_font)


def agreed(inks: list[tuple[float, str | None]]) -> str | None:
    """Of the candidate inks as (distance to the nearest render, the member it names or None): the member
    named by the one nearest a render, where none about as near (within ``SPREAD`` × its distance) names
    another member and none just as near (``TORN``) is unsure; else None. One unsure and less like a render
    is no evidence against it (the outline of a serif 曰 under clutter fits 日 and 曰 alike, its fill is 曰
    by a clear margin and nearer a render), nor is one far less like a render (a colour of the clutter)."""
    if not inks:
        return None
    fit, nearest = min(inks, key=lambda ink: ink[0])
    if any(m is None for d, m in inks if d <= TORN * fit):
        return None  # one just as like a render is unsure: the evidence is torn
    return nearest if {m for d, m in inks if d <= SPREAD * fit} - {None} == {nearest} else None
