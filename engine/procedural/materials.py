"""One generator per material family, plus the variant passes and the final light/shade.

Each generator gets a :class:`Ctx` (size, seeded random streams, palettes) and returns a
:class:`Surface`: an unshaded albedo and a height field in [0, 1]. :func:`render` then applies the
variants (mossy, cracked, wet, ...) and a soft baked light from the top left, so placeholders read as
relief. All feature sizes are fractions of the image size, so a texture looks the same at 256 and at
2048 pixels, only finer.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from zpipe.engine.procedural import noise as nz
from zpipe.engine.procedural.families import Parsed
from zpipe.engine.procedural.palettes import PALETTES, apply_colours, colourize, lut

F32 = np.float32


@dataclass
class Surface:
    albedo: np.ndarray  # (H, W, 3) float32, unshaded
    height: np.ndarray  # (H, W) float32 in [0, 1]; low = crevice
    bump: float = 1.0  # how strongly the height shades the albedo
    handled: tuple[str, ...] = ()  # variants the generator already drew (e.g. cracks in dried mud)


class Ctx:
    """Everything a generator needs: the size, seeded streams and the (tinted) palettes."""

    def __init__(self, h: int, w: int, seed: int, parsed: Parsed, shading: float = 1.0):
        self.h, self.w = h, w
        self.seed = int(seed) & 0xFFFFFFFFFFFFFFFF
        self.parsed = parsed
        self.shading = shading
        # feature sizes are fractions of the geometric mean side; prompt words scale them
        self.s = float(np.sqrt(h * w)) * parsed.scale

    def rng(self, tag: str) -> np.random.Generator:
        """An independent stream per named layer: adding a layer never changes the others."""
        ss = np.random.SeedSequence([self.seed & 0xFFFFFFFF, self.seed >> 32, zlib.crc32(tag.encode())])
        return np.random.Generator(np.random.PCG64(ss))

    def fbm(self, tag: str, size: float, octaves: int = 7, gain: float = 0.5, aspect: float = 1.0) -> np.ndarray:
        """Fractal noise with first-octave features ``size`` (fraction of the image) across;
        ``aspect`` > 1 stretches them along x."""
        cell = size * self.s
        return nz.fbm(self.rng(tag), self.h, self.w, cell, cell * aspect, octaves, gain)

    def fbm01(self, tag: str, size: float, octaves: int = 7, gain: float = 0.5, aspect: float = 1.0,
              contrast: float = 0.22) -> np.ndarray:
        n = self.fbm(tag, size, octaves, gain, aspect)
        return np.clip(n * F32(contrast) + F32(0.5), 0.0, 1.0)

    def turbulence(self, tag: str, size: float, octaves: int = 5, gain: float = 0.5) -> np.ndarray:
        """Sum of absolute octaves (creased, billowy noise), about in [0, 1.5]."""
        out = np.zeros((self.h, self.w), F32)
        amp, total = 1.0, 0.0
        for o in range(octaves):
            cell = size * self.s / (2**o)
            if cell < 1.5:
                break
            n = nz.fbm(self.rng(f"{tag}.{o}"), self.h, self.w, cell, cell, 1)
            out += np.abs(n) * F32(amp)
            total += amp
            amp *= gain
        return out * F32(1.0 / max(total, 1e-6))

    def cells(self, tag: str, size: float, jitter: float = 0.9, aspect: float = 1.0, offsets: bool = False) -> nz.Cells:
        cell = size * self.s
        return nz.cellular(self.rng(tag), self.h, self.w, cell / np.sqrt(aspect), cell * np.sqrt(aspect), jitter, offsets)

    def white(self, tag: str) -> np.ndarray:
        return self.rng(tag).random((self.h, self.w), dtype=F32)

    def palette(self, part: str = "main", family: str | None = None, tint: bool | None = None) -> np.ndarray:
        """A palette's lookup table; colour words tint the family's own ``main`` part unless
        ``tint`` says otherwise."""
        fam = family or self.parsed.family
        stops = PALETTES[fam][part]
        if tint is None:
            tint = part == "main" and family is None
        if tint and self.parsed.colours:
            stops = apply_colours(stops, self.parsed.colours)
        return lut(stops)

    def px(self, frac: float) -> float:
        """A fraction of the image in pixels."""
        return frac * self.s


def _norm(x: np.ndarray) -> np.ndarray:
    lo, hi = float(x.min()), float(x.max())
    if hi - lo < 1e-12:
        return np.zeros_like(x, dtype=F32)
    return ((x - F32(lo)) * F32(1.0 / (hi - lo))).astype(F32)


def _mix(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Lerp images/fields; t broadcasts over channels when it is (H, W)."""
    if a.ndim == 3 and t.ndim == 2:
        t = t[..., None]
    return a + (b - a) * t


def _warp_by(ctx: Ctx, f: np.ndarray, tag: str, size: float, amount: float) -> np.ndarray:
    """Domain-warp a field by periodic noise displacements of ``amount`` (fraction of the image)."""
    a = F32(ctx.px(amount))
    return nz.warp(f, ctx.fbm(tag + ".wy", size, 4) * a, ctx.fbm(tag + ".wx", size, 4) * a)


# --------------------------------------------------------------------------- families


def stone(ctx: Ctx) -> Surface:
    """Rough rock: warped ridged and fractal relief over softly chiselled facets, mineral flecks."""
    rough = "rough" in ctx.parsed.variants
    c = ctx.cells("facets", 0.2, 1.0, offsets=True)
    rnd = ctx.rng("tilt")
    facet = c.per_cell(rnd.normal(0, 1, c.n).astype(F32)) * c.oy + c.per_cell(rnd.normal(0, 1, c.n).astype(F32)) * c.ox
    facet = facet * nz.smoothstep(0.0, 0.25, c.edge)  # planes that meet in soft creases, not steps
    relief = _warp_by(ctx, ctx.fbm("relief", 0.2, 9, 0.62), "warp", 0.3, 0.05)
    ridged = F32(1) - np.abs(_warp_by(ctx, ctx.fbm("ridged", 0.2, 8, 0.55), "rw", 0.2, 0.04))
    ridged = ridged * ridged
    # fissures: warped Voronoi borders, shown only in places
    fc = ctx.cells("fissures", 0.3, 1.0)
    fe = _warp_by(ctx, fc.edge, "fw", 0.15, 0.02)
    fissure = (F32(1) - nz.smoothstep(0.0, 0.04, fe)) * nz.smoothstep(0.0, 0.8, ctx.fbm("fshow", 0.25, 4))
    height = relief * F32(0.1 if rough else 0.07) + ridged * F32(0.18) + facet * F32(0.03) - fissure * F32(0.12)
    strata = ctx.fbm("colour", 0.2, 6, 0.6)
    layered = _has(ctx, "sandstone", "limestone", "slate", "shale", "strata", "layered", "sedimentary")
    if layered:
        # sedimentary beds: bands of whole periods down the image, gently bent
        k = max(2, int(round((9 if _has(ctx, "slate", "shale") else 6) * ctx.h / ctx.s)))
        bend = ctx.fbm("bed", 0.5, 4, aspect=4.0) * F32(0.5)
        bend = bend - F32(float(np.median(bend[0])))  # the edge row lies along a bed, not across beds
        yb = np.arange(ctx.h, dtype=F32)[:, None] * F32(k / ctx.h) + bend
        bed = _warp_by(ctx, np.ascontiguousarray(np.broadcast_to(nz.wave(yb), (ctx.h, ctx.w))), "bedw", 0.2, 0.01)
        bed_id = ctx.fbm("bedtone", 0.08, 3, aspect=8.0)
        strata = strata * F32(0.5) + bed * F32(1.2) + bed_id * F32(0.6)
        height = height * F32(0.7) + nz.smoothstep(0.2, 0.5, bed) * F32(0.05)
    height = _norm(height)
    light = 0.1 if _has(ctx, "granite", "limestone") else 0.0
    idx = np.clip(F32(0.52 + light) + strata * F32(0.1) + (height - F32(0.5)) * F32(0.5), 0, 1)
    albedo = colourize(idx, ctx.palette())
    # mineral tint: some areas warmer (iron), some cooler
    tint = ctx.fbm("tint", 0.35, 5) * F32(0.035)
    albedo = albedo * (F32(1) + tint[..., None] * np.array([1.0, 0.2, -0.8], F32))
    fl = ctx.fbm("fleck", 0.004, 2)
    fleck = ctx.palette("fleck")
    albedo = _mix(albedo, np.broadcast_to(fleck[0], albedo.shape), nz.smoothstep(1.8, 2.6, fl) * F32(0.35))
    albedo = _mix(albedo, np.broadcast_to(fleck[-1], albedo.shape), nz.smoothstep(1.9, 2.7, -fl) * F32(0.3))
    if _has(ctx, "granite", "speckled", "terrazzo"):
        # interlocking crystals: black mica, white quartz and (unless tinted) pink feldspar grains,
        # each with its own slight tone and soft boundaries, at two sizes
        for i, size in enumerate((0.008, 0.0045)):
            g = ctx.cells(f"grains{i}", size, 1.0)
            kind = g.per_cell(ctx.rng(f"gk{i}").random(g.n).astype(F32))
            jit = g.per_cell(ctx.rng(f"gj{i}").uniform(0.6, 1.0, g.n).astype(F32))
            grain = nz.smoothstep(0.0, 0.2, g.edge) * jit
            dark_g = ((kind < 0.22).astype(F32) * grain)[..., None]
            light_g = ((kind > 0.84).astype(F32) * grain)[..., None]
            pink = (((kind > 0.66) & (kind <= 0.84)).astype(F32) * grain)[..., None]
            albedo = albedo * (F32(1) - dark_g * F32(0.6)) + light_g * (F32(0.82) - albedo) * F32(0.45)
            if not ctx.parsed.colours:
                albedo = albedo + pink * (np.array([0.7, 0.52, 0.47], F32) - albedo) * F32(0.45)
    return Surface(albedo, height, 3.0 if rough else 2.4)


def cobblestone(ctx: Ctx) -> Surface:
    """Rounded stones: each Voronoi cell's polygon intersected with a disc, domed, set in dark soil."""
    c = ctx.cells("cells", 0.12, 0.75)
    wob = ctx.fbm("wobble", 0.05, 4)
    rnd = ctx.rng("percell")
    rad = c.per_cell(rnd.uniform(0.68, 0.85, c.n).astype(F32))
    e = np.minimum(c.edge * F32(1.0), (rad - c.f1) * F32(0.7)) + wob * F32(0.03)
    stone_mask = nz.smoothstep(0.03, 0.07, e)
    dome = np.sqrt(nz.smoothstep(0.0, 0.3, e))
    tone = c.per_cell(rnd.uniform(0.0, 1.0, c.n).astype(F32))
    tilt = c.per_cell(rnd.uniform(0.6, 1.0, c.n).astype(F32))
    surf = ctx.fbm("surface", 0.04, 6, 0.55)
    height = stone_mask * (F32(0.3) + dome * F32(0.55) * tilt + surf * F32(0.035))
    height += (F32(1) - stone_mask) * (F32(0.05) + ctx.fbm("gapn", 0.015, 3) * F32(0.03))
    idx = np.clip(F32(0.15) + tone * F32(0.5) + surf * F32(0.08) + dome * F32(0.15), 0, 1)
    albedo = colourize(idx, ctx.palette())
    gap = colourize(ctx.fbm01("gap", 0.03, 4, contrast=0.3), ctx.palette("gap"))
    albedo = _mix(gap, albedo, stone_mask)
    return Surface(albedo, np.clip(height, 0, 1), 1.8)


def _running_bond(ctx: Ctx, rows: int, cols: int, stagger: float = 0.5):
    """Brick coordinates: per-pixel fractional position in the brick, brick ids, brick pixel size.

    The lattice is placed so that the image edges fall inside bricks (never on a joint), which keeps
    the wrap seam as quiet as any other column or row."""
    h, w = ctx.h, ctx.w
    rows = max(2, rows + (rows % 2))  # even, so the alternating offset is periodic
    cols = max(1, cols)
    v = np.arange(h, dtype=np.float64) * (rows / h) + 0.5
    r = np.floor(v).astype(np.int64)
    fy = (v - r).astype(F32)
    r %= rows
    off = np.where(r % 2 == 0, 0.25, 0.25 + stagger)
    u = np.arange(w, dtype=np.float64)[None, :] * (cols / w) + off[:, None]
    ci = np.floor(u).astype(np.int64)
    fx = (u - ci).astype(F32)
    ci %= cols
    bid = r[:, None] * cols + ci
    bw, bh = w / cols, h / rows
    return fx, np.broadcast_to(fy[:, None], fx.shape), bid, rows * cols, bw, bh


def _block_height(fx, fy, bw, bh, mortar_px, bevel_px, wobble):
    dx = np.minimum(fx, F32(1) - fx) * F32(bw)
    dy = np.minimum(fy, F32(1) - fy) * F32(bh)
    d = np.minimum(dx, dy) + wobble
    mask = nz.smoothstep(mortar_px - 0.7, mortar_px + 0.7, d)
    bevel = nz.smoothstep(mortar_px, mortar_px + bevel_px, d)
    return mask, bevel


STONE_WORDS = ("stone", "stones", "granite", "slate", "marble", "sandstone", "limestone", "rock", "basalt")


def brick(ctx: Ctx) -> Surface:
    """Running-bond brick with recessed mortar, chipped edges and per-brick tone; with a stone word
    ("stone bricks", "granite blocks") larger grey blocks cut from stone."""
    if _has(ctx, *STONE_WORDS):
        return _stone_blocks(ctx)
    rows = int(round(ctx.h / ctx.px(0.085)))
    cols = max(1, int(round(ctx.w / ctx.px(0.25))))
    fx, fy, bid, n, bw, bh = _running_bond(ctx, rows, cols)
    mortar_px = max(1.0, ctx.px(0.008))
    wob = ctx.fbm("chip", 0.02, 4) * F32(ctx.px(0.004))
    chip = nz.smoothstep(1.2, 2.2, ctx.fbm("chips", 0.012, 3)) * F32(ctx.px(0.01))
    mask, bevel = _block_height(fx, fy, bw, bh, mortar_px, ctx.px(0.012), wob - chip)
    rnd = ctx.rng("percell")
    tone = rnd.uniform(0.0, 1.0, n).astype(F32)[bid]
    burnt = (rnd.random(n) < 0.12).astype(F32)[bid]
    surf = ctx.fbm("surface", 0.04, 5)
    pits = nz.smoothstep(1.4, 2.2, ctx.fbm("pits", 0.004, 2))
    idx = np.clip(F32(0.15) + tone * F32(0.55) + surf * F32(0.06) - burnt * F32(0.2) - pits * F32(0.15), 0, 1)
    albedo = colourize(idx, ctx.palette())
    albedo = albedo * (F32(1) - burnt[..., None] * F32(0.3))
    mortar = colourize(ctx.fbm01("mortar", 0.02, 4, contrast=0.3), ctx.palette("mortar"))
    albedo = _mix(mortar, albedo, mask)
    height = mask * (F32(0.55) + bevel * F32(0.35) + surf * F32(0.03) - pits * F32(0.08))
    height += (F32(1) - mask) * F32(0.15) * (F32(1) + ctx.fbm("mortarh", 0.01, 3) * F32(0.3))
    return Surface(albedo, np.clip(height, 0, 1), 2.0)


def _stone_blocks(ctx: Ctx) -> Surface:
    rows = int(round(ctx.h / ctx.px(0.14)))
    cols = max(1, int(round(ctx.w / ctx.px(0.3))))
    fx, fy, bid, n, bw, bh = _running_bond(ctx, rows, cols)
    mortar_px = max(1.0, ctx.px(0.007))
    wob = ctx.fbm("chip", 0.03, 5) * F32(ctx.px(0.006))
    mask, bevel = _block_height(fx, fy, bw, bh, mortar_px, ctx.px(0.03), wob)
    rock = stone(_overlay_ctx(ctx, "stone", "blocks", keep_words=True))
    rnd = ctx.rng("percell")
    # each block shows a different part of the rock, so neighbours do not continue each other
    oy = rnd.integers(0, ctx.h, n)[bid]
    ox = rnd.integers(0, ctx.w, n)[bid]
    face = nz.shift_sample(rock.albedo, oy, ox)
    rh = nz.shift_sample(rock.height, oy, ox)
    tone = rnd.uniform(-0.12, 0.12, n).astype(F32)[bid]
    face = face * (F32(1) + tone[..., None])
    mortar = colourize(ctx.fbm01("mortar", 0.02, 4, contrast=0.3), ctx.palette("mortar", "brick")) * F32(0.7)
    albedo = _mix(mortar, face, mask)
    height = mask * (F32(0.5) + bevel * F32(0.3) + rh * F32(0.15)) + (F32(1) - mask) * F32(0.1)
    return Surface(albedo, np.clip(height, 0, 1), 2.0)


def _grain(ctx: Ctx, h: int, w: int, tag: str, rings: float = 9.0):
    """Wood grain with the fibres along x on an h x w grid: (ring field in [0, 1], fibre noise)."""
    sub = Ctx(h, w, ctx.seed ^ zlib.crc32(tag.encode()), ctx.parsed)
    k = max(1, int(round(rings * h / sub.s)))  # whole rings across the height: periodic in y
    y = np.arange(h, dtype=F32)[:, None] * F32(k / h)
    bend = sub.fbm("bend", 0.5, 5, aspect=4.0) * F32(0.6) + sub.fbm("bend2", 0.1, 4, aspect=6.0) * F32(0.12)
    bend = bend + F32(0.5 - float(np.median(bend[0])))  # the edge row runs mid-ring (a quiet seam)
    g = y + bend
    # knots: rings close around a point
    rnd = sub.rng("knots")
    yy = np.arange(h, dtype=F32)[:, None]
    xx = np.arange(w, dtype=F32)[None, :]
    for _ in range(int(rnd.integers(0, 3))):
        ry, rx = sub.px(rnd.uniform(0.015, 0.03)), sub.px(rnd.uniform(0.05, 0.1))
        # a knot's influence ends 4 radii out; keep it off the ends of the board along the grain,
        # where its cross-grain rings would meet the wrap seam (the only cross-grain edges there)
        margin = 4 * rx + 2
        if w <= 2 * margin:
            continue
        cy, cx = rnd.uniform(0, h), rnd.uniform(margin, w - margin)
        dy = nz.wrapped_offset(yy, cy, h) / F32(ry)
        dx = nz.wrapped_offset(xx, cx, w) / F32(rx)
        r2 = dy * dy + dx * dx
        fall = np.clip(F32(1) - r2 * F32(1 / 16), 0, 1)
        g = g + F32(rnd.uniform(1.5, 3.0)) * fall * fall / (F32(1) + r2)
    p = g - np.floor(g)
    # early wood pale, late wood darkening towards the ring line, with a soft edge
    ring = nz.smoothstep(0.3, 0.9, p) * (F32(1) - nz.smoothstep(0.9, 1.0, p))
    fibre = sub.fbm("fibre", 0.012, 4, 0.6, aspect=30.0) * F32(0.6) + sub.fbm("fibre2", 0.004, 3, 0.6, aspect=40.0) * F32(0.4)
    return ring.astype(F32), fibre, sub


def wood(ctx: Ctx) -> Surface:
    # a board seen face-on, fibres running vertically
    ring, fibre, sub = _grain(ctx, ctx.w, ctx.h, "grain", 16.0)
    ring, fibre = ring.T, fibre.T
    tone = ctx.fbm("tone", 0.4, 4)
    streak = ctx.fbm("streak", 0.15, 4, aspect=1 / 8.0)
    idx = np.clip(F32(0.72) - ring * F32(0.32) + fibre * F32(0.11) + tone * F32(0.06) + streak * F32(0.05), 0, 1)
    albedo = colourize(idx, ctx.palette())
    height = np.clip(F32(0.6) - ring * F32(0.15) + fibre * F32(0.08), 0, 1)
    return Surface(np.ascontiguousarray(albedo), np.ascontiguousarray(height), 0.7)


def plank(ctx: Ctx) -> Surface:
    h, w = ctx.h, ctx.w
    rows = max(2, int(round(h / ctx.px(0.16))))
    ring, fibre, _ = _grain(ctx, h, w, "grain", 40.0)
    v = np.arange(h, dtype=np.float64) * (rows / h) + 0.5
    r = np.floor(v).astype(np.int64) % rows
    fy = (v - np.floor(v)).astype(F32)
    rnd = ctx.rng("planks")
    # each row has one or two end joints, kept away from the image's left/right edge
    xs = np.arange(w, dtype=np.float64)[None, :] / w
    seg = np.zeros((h, w), np.int64)
    jointd = np.full((h, w), 1e9, F32)
    for row in range(rows):
        sel = r == row
        nj = int(rnd.integers(1, 3))
        joints = np.sort(rnd.uniform(0.12, 0.88, nj))
        if nj == 2 and joints[1] - joints[0] < 0.3:
            joints[1] = min(0.88, joints[0] + 0.3)
        s = np.searchsorted(joints, xs[0]) % nj  # the first and last pieces are one plank (wraps)
        seg[sel] = row * 2 + s
        d = np.min(np.abs(xs[0][None, :] - joints[:, None]), axis=0) * w
        jointd[sel] = d.astype(F32)
    n = rows * 2
    oy = rnd.integers(0, h, n)[seg]
    ox = rnd.integers(0, w, n)[seg]
    ring = nz.shift_sample(ring, oy, ox)
    fibre = nz.shift_sample(fibre, oy, ox)
    tone = rnd.uniform(-1, 1, n).astype(F32)[seg]
    gap_px = max(0.8, ctx.px(0.003))
    edge = np.minimum(fy, F32(1) - fy) * F32(h / rows)
    d = np.minimum(edge[:, None], jointd)
    mask = nz.smoothstep(gap_px - 0.6, gap_px + 0.6, d)
    bevel = nz.smoothstep(gap_px, gap_px + ctx.px(0.006), d)
    idx = np.clip(F32(0.66) - ring * F32(0.3) + fibre * F32(0.1) + tone * F32(0.17), 0, 1)
    albedo = colourize(idx, ctx.palette())
    albedo = _mix(colourize(ctx.fbm01("gap", 0.02, 3), ctx.palette("gap")), albedo, mask)
    height = mask * (F32(0.55) + bevel * F32(0.15) - ring * F32(0.05) + fibre * F32(0.04))
    return Surface(albedo, np.clip(height, 0, 1), 1.0)


def _has(ctx: Ctx, *words: str) -> bool:
    return any(w in ctx.parsed.words for w in words)


def metal(ctx: Ctx) -> Surface:
    """Brushed steel with scratches; "plate"/"panel" adds riveted panels, "tread"/"diamond" a tread plate."""
    h, w = ctx.h, ctx.w
    brushed = ctx.fbm("brush", 0.003, 4, 0.7, aspect=80.0) * F32(0.7) + ctx.fbm("brush2", 0.01, 3, 0.6, aspect=30.0) * F32(0.5)
    smudge = ctx.fbm("smudge", 0.3, 6, 0.55)
    scratches = np.zeros((h, w), F32)
    r = ctx.rng("scratches")
    nz.segments(scratches, r, int(40 * ctx.parsed.scale ** -1 + 10), (ctx.px(0.04), ctx.px(0.25)), max(0.6, ctx.px(0.0015)),
                (-0.5, 0.5), (0.2, 0.8))
    nz.segments(scratches, r, 25, (ctx.px(0.01), ctx.px(0.06)), max(0.5, ctx.px(0.001)), (0.0, np.pi), (0.2, 0.6))
    idx = F32(0.5) + brushed * F32(0.06) + smudge * F32(0.07) + scratches * F32(0.2)
    height = F32(0.6) + brushed * F32(0.01) - scratches * F32(0.05)
    bump = 0.8
    if _has(ctx, "tread", "diamond", "checker", "checkered", "floorplate"):
        n = max(2, int(round(w / ctx.px(0.07))))
        n += n % 2
        m = max(2, int(round(h / ctx.px(0.07))))
        m += m % 2
        # cell borders (the flat plate between lozenges) on the image edges: a quiet wrap seam
        u = np.arange(w, dtype=np.float64)[None, :] * (n / w)
        v = np.arange(h, dtype=np.float64)[:, None] * (m / h)
        iu, iv = np.floor(u), np.floor(v)
        fu = (u - iu - 0.5).astype(F32)
        fv = (v - iv - 0.5).astype(F32)
        sgn = np.where((iu.astype(np.int64) + iv.astype(np.int64)) % 2 == 0, F32(1), F32(-1))
        a = (fu + sgn * fv) * F32(0.7071)
        b = (fu - sgn * fv) * F32(0.7071)
        r2 = (a / F32(0.36)) ** 2 + (b / F32(0.085)) ** 2
        lozenge = np.sqrt(np.clip(F32(1) - r2, 0, 1))
        height = height * F32(0.3) + lozenge * F32(0.6)
        idx = idx + lozenge * F32(0.06)
        bump = 2.0
    elif _has(ctx, "plate", "plates", "panel", "panels", "hull", "scifi", "sci"):
        rows = max(1, int(round(h / ctx.px(0.5))))
        cols = max(1, int(round(w / ctx.px(0.5))))
        fx, fy, bid, npanels, bw, bh = _running_bond(ctx, rows if rows % 2 == 0 or rows == 1 else rows, cols, 0.5)
        seam = max(0.8, ctx.px(0.003))
        mask, bevel = _block_height(fx, fy, bw, bh, seam, ctx.px(0.006), F32(0))
        tone = ctx.rng("panels").uniform(-1, 1, npanels).astype(F32)[bid]
        # rivets along every panel edge
        pitch = ctx.px(0.05)
        inset = ctx.px(0.018)
        rad = max(1.2, ctx.px(0.006))
        ex = np.minimum(fx, F32(1) - fx) * F32(bw)
        ey = np.minimum(fy, F32(1) - fy) * F32(bh)
        along_x = fx * F32(bw) / F32(pitch)
        along_y = fy * F32(bh) / F32(pitch)
        dxr = np.abs(along_x - np.round(along_x)) * F32(pitch)
        dyr = np.abs(along_y - np.round(along_y)) * F32(pitch)
        d_top = np.sqrt((ey - F32(inset)) ** 2 + dxr**2)
        d_side = np.sqrt((ex - F32(inset)) ** 2 + dyr**2)
        d = np.minimum(d_top, d_side)
        rivet = np.sqrt(np.clip(F32(1) - (d / F32(rad)) ** 2, 0, 1))
        height = mask * (F32(0.5) + bevel * F32(0.2) + rivet * F32(0.3)) + height * F32(0.05)
        idx = idx + tone * F32(0.04) - (F32(1) - mask) * F32(0.35) + rivet * F32(0.05)
        bump = 1.5
    albedo = colourize(np.clip(idx, 0, 1), ctx.palette())
    return Surface(albedo, np.clip(height, 0, 1), bump)


def rust(ctx: Ctx) -> Surface:
    """Corroded steel: flaking rust over dark metal, with run-off streaks and pitting."""
    m = metal(ctx)
    metal_col = colourize(np.clip(F32(0.5) + ctx.fbm("mtone", 0.2, 6) * F32(0.2), 0, 1), ctx.palette("metal"))
    m_alb = m.albedo * F32(0.4) + metal_col * F32(0.6)
    streak = ctx.fbm("streak", 0.12, 7, 0.6, aspect=1 / 8.0)
    cover = _warp_by(ctx, ctx.fbm("cover", 0.3, 8, 0.6), "cw", 0.25, 0.03) + streak * F32(0.3)
    rmask = _coverage(cover, 0.75, 0.08)
    flakes = ctx.cells("flakes", 0.03, 1.0)
    flake_t = flakes.per_cell(ctx.rng("ft").random(flakes.n).astype(F32))
    flake_edge = nz.smoothstep(0.0, 0.08, flakes.edge) * F32(0.6) + F32(0.4)
    fine = ctx.fbm("fine", 0.02, 5, 0.6)
    pit = ctx.fbm("pit", 0.006, 2)
    pits = nz.smoothstep(1.5, 2.3, pit)
    grit = ctx.fbm("grit", 0.003, 2)
    idx = np.clip(F32(0.45) + cover * F32(0.1) + fine * F32(0.1) + grit * F32(0.06) + (flake_t - F32(0.5)) * F32(0.25) * flake_edge
                  + streak * F32(0.06) - pits * F32(0.3), 0, 1)
    ralb = colourize(idx, ctx.palette())
    albedo = _mix(m_alb, ralb, rmask)
    height = np.clip(m.height * F32(0.6) + rmask * (F32(0.15) + flake_t * flake_edge * F32(0.03) + fine * F32(0.05) + grit * F32(0.02))
                     - pits * rmask * F32(0.15), 0, 1)
    return Surface(albedo, height, max(1.6, m.bump))

def marble(ctx: Ctx) -> Surface:
    """Veined marble: long veins bent by turbulence with soft halos, fine ridged veinlets, cloudy
    body and a faint crystalline grain; dark marble ("black", "dark", "green") gets light veins."""
    vein, halo = _lines(ctx, "vein", 3, ((0.45, 1.0, 0.75), (0.5, 0.6, 0.5)), halo=8.0)
    n2 = _warp_by(ctx, ctx.fbm("vein2", 0.2, 7, 0.55), "vw2", 0.15, 0.03)
    fine = (F32(1) - nz.smoothstep(0.0, 0.025, np.abs(n2))) * nz.smoothstep(0.3, 1.2, ctx.fbm("v2m", 0.3, 4))
    cloud = ctx.fbm("cloud", 0.4, 7, 0.55)
    crystal = ctx.fbm("crystal", 0.006, 2)
    main = ctx.palette()
    idx = np.clip(F32(0.6) + cloud * F32(0.15) - halo * F32(0.2) + crystal * F32(0.11), 0, 1)
    albedo = colourize(idx, main)
    dark = float(main.mean()) < 0.4
    vstops = [(0.0, (0.75, 0.72, 0.66)), (1.0, (0.95, 0.93, 0.88))] if dark else PALETTES["marble"]["vein"]
    vcol = colourize(np.clip(F32(0.4) + cloud * F32(0.25), 0, 1), lut(vstops))
    albedo = _mix(albedo, vcol, np.maximum(vein, fine * F32(0.3)))
    height = np.clip(F32(0.6) - vein * F32(0.02), 0, 1)
    return Surface(albedo, height, 0.3)


def sand(ctx: Ctx) -> Surface:
    """Wind ripples (gentle windward, steep lee side) over fine grains, with soft tone drift."""
    h = ctx.h
    k = max(1, int(round(14 * h / ctx.s)))
    y = np.arange(h, dtype=F32)[:, None] * F32(k / h)
    bend = ctx.fbm("bend", 0.5, 4, aspect=2.5) * F32(0.6) + ctx.fbm("bend2", 0.1, 4, aspect=2.0) * F32(0.12)
    # choose the ripple phase so the image's top/bottom edge runs along gentle windward slopes rather
    # than the steep lee faces (any phase tiles; this one keeps the wrap seam an ordinary row)
    bend = bend + F32(0.35 - float(np.median(bend[0])))
    g = y + bend
    p = g - np.floor(g)
    ripple = np.where(p < 0.75, p / F32(0.75), (F32(1) - p) / F32(0.25))
    ripple = ripple * ripple * (F32(3) - F32(2) * ripple)
    strength = nz.smoothstep(-1.2, 0.6, ctx.fbm("rstrength", 0.35, 4)) * F32(0.7) + F32(0.3)
    grains = ctx.white("grains") - F32(0.5)
    fine = ctx.fbm("fine", 0.006, 2)
    tone = ctx.fbm("tone", 0.4, 6)
    height = np.clip(F32(0.3) + ripple * strength * F32(0.5) + fine * F32(0.02), 0, 1)
    idx = np.clip(F32(0.55) + tone * F32(0.09) + ripple * strength * F32(0.08) + grains * F32(0.14) + fine * F32(0.05), 0, 1)
    albedo = colourize(idx, ctx.palette())
    return Surface(albedo, height, 1.3)

def snow(ctx: Ctx) -> Surface:
    """Wind-packed snow: soft drifts and shallow wind ripples, fine crystals that catch the light."""
    h = ctx.h
    k = max(1, int(round(7 * h / ctx.s)))
    y = np.arange(h, dtype=F32)[:, None] * F32(k / h)
    bend = ctx.fbm("bend", 0.5, 4, aspect=2.0) * F32(0.7) + ctx.fbm("bend2", 0.12, 4) * F32(0.15)
    bend = bend + F32(0.35 - float(np.median(bend[0])))  # a quiet wrap seam (see sand)
    p = (y + bend) - np.floor(y + bend)
    ripple = np.where(p < 0.8, p / F32(0.8), (F32(1) - p) / F32(0.2))
    ripple = ripple * ripple * (F32(3) - F32(2) * ripple)
    drift = ctx.fbm("drift", 0.4, 7, 0.5)
    strength = nz.smoothstep(-1.0, 1.0, ctx.fbm("rs", 0.3, 4)) * F32(0.6)
    sparkle = nz.smoothstep(0.93, 0.99, ctx.white("sparkle")) * nz.smoothstep(-0.2, 1.0, drift)
    fine = ctx.fbm("fine", 0.006, 3)
    height = np.clip(F32(0.5) + drift * F32(0.12) + ripple * strength * F32(0.15) + fine * F32(0.02), 0, 1)
    idx = np.clip(F32(0.62) + drift * F32(0.1) + ripple * strength * F32(0.06) + fine * F32(0.04), 0, 1)
    albedo = colourize(idx, ctx.palette())
    albedo = _mix(albedo, np.ones_like(albedo), sparkle * F32(0.7))
    return Surface(albedo, height, 1.4)


def dirt(ctx: Ctx) -> Surface:
    """Soil: lumpy clods, fine crumbs, scattered small stones and dark organic bits; cracked or dry
    mud becomes curled plates of dried mud."""
    if _has(ctx, "mud", "clay") and ("cracked" in ctx.parsed.variants or _has(ctx, "dry", "dried", "parched", "drought")):
        return _dried_mud(ctx)
    base = ctx.fbm("base", 0.4, 8, 0.55)
    clump = ctx.cells("clump", 0.03, 1.0)
    lumps = np.clip(F32(1) - clump.f1, 0, 1)
    lumps = lumps * lumps * clump.per_cell(ctx.rng("lumpk").uniform(0.3, 1.0, clump.n).astype(F32))
    gravel = _has(ctx, "gravel", "pebbles", "pebble", "shingle")
    peb = ctx.cells("pebbles", 0.035 if gravel else 0.045, 0.9)
    keep = peb.per_cell(ctx.rng("pk").random(peb.n) < (0.92 if gravel else 0.18))
    size = peb.per_cell(ctx.rng("ps").uniform(0.34, 0.5, peb.n).astype(F32) if gravel
                        else ctx.rng("ps").uniform(0.15, 0.4, peb.n).astype(F32))
    pf1 = peb.f1 + ctx.fbm("pw", 0.01, 3) * F32(0.05)
    pebble = (F32(1) - nz.smoothstep(size * F32(0.8), size, pf1)) * keep.astype(F32)
    pdome = np.sqrt(np.clip(F32(1) - pf1 / np.maximum(size, F32(1e-3)), 0, 1)) * pebble
    fine = ctx.fbm("fine", 0.008, 3)
    organic = nz.smoothstep(1.6, 2.4, ctx.fbm("org", 0.01, 3))
    height = np.clip(F32(0.35) + base * F32(0.08) + lumps * F32(0.25) + fine * F32(0.05) + pdome * F32(0.3), 0, 1)
    idx = np.clip(F32(0.5) + base * F32(0.12) + lumps * F32(0.12) + fine * F32(0.1) - organic * F32(0.3), 0, 1)
    albedo = colourize(idx, ctx.palette())
    ptone = peb.per_cell(ctx.rng("pt").random(peb.n).astype(F32))
    pcol = colourize(np.clip(ptone * F32(0.6) + pdome * F32(0.2) + fine * F32(0.05), 0, 1), ctx.palette("pebble", "dirt"))
    albedo = _mix(albedo, pcol * F32(0.85) + albedo * F32(0.15), pebble)
    return Surface(albedo, height, 1.8)

def _dried_mud(ctx: Ctx) -> Surface:
    c = ctx.cells("plates", 0.1, 0.9)
    e = _warp_by(ctx, c.edge, "ew", 0.06, 0.008)
    gap = F32(0.05) + ctx.fbm01("gapw", 0.2, 3) * F32(0.06)
    plate = nz.smoothstep(0.0, 1.0, (e - gap) * F32(25.0))
    curl = nz.smoothstep(0.0, 0.35, e)  # plate edges curl up a little
    c2 = ctx.cells("fine", 0.035, 0.9)
    hair = (F32(1) - nz.smoothstep(0.0, 0.04, _warp_by(ctx, c2.edge, "hw", 0.03, 0.004))) * nz.smoothstep(0.2, 0.9, ctx.fbm("hs", 0.2, 3))
    surf = ctx.fbm("surf", 0.03, 6, 0.55)
    tone = c.per_cell(ctx.rng("tone").uniform(-1, 1, c.n).astype(F32))
    height = plate * (F32(0.55) + (F32(1) - curl) * F32(0.1) + surf * F32(0.03) - hair * F32(0.08)) + (F32(1) - plate) * F32(0.1)
    idx = np.clip(F32(0.72) + surf * F32(0.06) + tone * F32(0.04) - hair * F32(0.15), 0, 1)
    pal = lut(apply_colours(PALETTES["dirt"]["dry"], ctx.parsed.colours)) if ctx.parsed.colours else ctx.palette("dry", "dirt")
    albedo = colourize(idx, pal)
    deep = colourize(np.clip(F32(0.15) + surf * F32(0.05), 0, 1), pal)
    albedo = _mix(deep * F32(0.6), albedo, plate)
    return Surface(albedo, np.clip(height, 0, 1), 2.0, ("cracked",))


def grass(ctx: Ctx) -> Surface:
    blades = np.zeros((ctx.h, ctx.w), F32)
    tone = np.zeros((ctx.h, ctx.w), F32)
    for i, (size, asp) in enumerate(((0.022, 0.12), (0.016, 0.15), (0.012, 0.1))):
        c = ctx.cells(f"blades{i}", size, 0.95, aspect=asp)
        b = np.clip(F32(1) - c.f1 * F32(1.4), 0, 1)
        b *= c.per_cell(ctx.rng(f"bh{i}").uniform(0.5, 1.0, c.n).astype(F32))
        better = b > blades
        tone = np.where(better, c.per_cell(ctx.rng(f"bt{i}").random(c.n).astype(F32)), tone)
        blades = np.maximum(blades, b)
    lean = ctx.fbm("lean", 0.15, 3) * F32(ctx.px(0.01))
    blades = nz.warp(blades, None, lean)
    tone = nz.warp(tone, None, lean)
    patch = _warp_by(ctx, ctx.fbm("patch", 0.3, 7, 0.6), "pw", 0.2, 0.04)
    parched = _has(ctx, "dry", "dried", "parched", "drought", "dead", "straw", "hay")
    dry = nz.smoothstep(-1.6, 0.2, patch) if parched else nz.smoothstep(1.2, 2.2, patch) * F32(0.5)
    idx = np.clip(blades * F32(0.7) + tone * F32(0.2) + patch * F32(0.05), 0, 1)
    albedo = colourize(idx, ctx.palette())
    albedo = _mix(albedo, colourize(idx, ctx.palette("dry", "grass")), dry * F32(0.9))
    return Surface(albedo, blades, 1.2)


def moss(ctx: Ctx) -> Surface:
    """Cushion moss: clusters of small domes with dark gaps, fuzzy tips and patchy colour."""
    c = ctx.cells("clumps", 0.05, 1.0)
    dome = np.sqrt(np.clip(F32(1) - c.f1 * c.f1 * F32(1.1), 0, 1))
    c2 = ctx.cells("clumps2", 0.016, 1.0)
    dome2 = np.sqrt(np.clip(F32(1) - c2.f1 * c2.f1 * F32(1.3), 0, 1))
    fuzz = ctx.fbm("fuzz", 0.004, 3, 0.6)
    base = ctx.fbm("base", 0.35, 7, 0.55)
    tone = c.per_cell(ctx.rng("tone").uniform(-1, 1, c.n).astype(F32))
    height = np.clip(dome * F32(0.4) + dome2 * F32(0.35) + fuzz * F32(0.06) + base * F32(0.05), 0, 1)
    tips = nz.smoothstep(1.0, 2.0, fuzz) * dome2
    idx = np.clip(height * F32(0.9) - F32(0.1) + base * F32(0.1) + tone * F32(0.06) + fuzz * F32(0.06) + tips * F32(0.15), 0, 1)
    albedo = colourize(idx, ctx.palette())
    return Surface(albedo, height, 1.6)


def concrete(ctx: Ctx) -> Surface:
    """Cast concrete: blotchy cement tone, fine sand grain, sparse air pores and faint stains."""
    blotch = ctx.fbm("blotch", 0.4, 7, 0.55)
    mid = ctx.fbm("mid", 0.06, 5)
    grain = ctx.white("grain") - F32(0.5)
    sandy = ctx.fbm("sandy", 0.004, 2)
    pores = ctx.cells("pores", 0.025, 1.0)
    size = pores.per_cell(ctx.rng("psize").uniform(0.04, 0.2, pores.n).astype(F32))
    keep = pores.per_cell(ctx.rng("pk").random(pores.n) < 0.15).astype(F32)
    pore = (F32(1) - nz.smoothstep(size * F32(0.5), size, pores.f1)) * keep
    stain = _coverage(ctx.fbm("stain", 0.25, 7, 0.6), 0.2, 0.3)
    idx = np.clip(F32(0.5) + blotch * F32(0.07) + mid * F32(0.03) + grain * F32(0.06) + sandy * F32(0.04)
                  - stain * F32(0.08) - pore * F32(0.25), 0, 1)
    albedo = colourize(idx, ctx.palette())
    height = np.clip(F32(0.6) + mid * F32(0.02) + sandy * F32(0.02) - pore * F32(0.2), 0, 1)
    return Surface(albedo, height, 1.0)

def _hex_layout(ctx: Ctx, size: float):
    """A periodic grid of pointy-top hexagons about ``size`` (fraction of the image) across the flats.

    Returns (distance to the tile edge in pixels, tile id, tile count). An even number of rows keeps
    the alternating row offset periodic; the image edges fall a quarter tile from any vertical edge."""
    h, w = ctx.h, ctx.w
    r_px = ctx.px(size) / np.sqrt(3.0)
    cols = max(1, int(round(w / (np.sqrt(3.0) * r_px))))
    rows = max(2, int(round(h / (1.5 * r_px))))
    rows += rows % 2
    cw, hr = w / cols, h / rows
    r3 = F32(np.sqrt(3.0))
    X = (np.arange(w, dtype=np.float64) / cw).astype(F32)[None, :]
    yr = np.arange(h, dtype=np.float64) / hr  # row centres on the image's top edge: only vertical
    # tile edges cross it there, so the wrap seam is as quiet as any row centre
    j0 = np.floor(yr).astype(np.int64)
    best_d = None
    for j in (j0, j0 + 1):
        off = np.where(j % 2 == 0, 0.75, 0.25).astype(F32)[:, None]
        i = np.round(X - off)
        dx = (X - (i + off)) * r3
        dy = ((yr - j).astype(F32) * F32(1.5))[:, None] * np.ones_like(dx)  # centre of row j at y = j*hr
        d2 = dx * dx + dy * dy
        tid = (j % rows)[:, None] * cols + (i.astype(np.int64) % cols)
        if best_d is None:
            best_d, best_dx, best_dy, best_id = d2, dx, dy, tid
        else:
            closer = d2 < best_d
            best_d = np.where(closer, d2, best_d)
            best_dx = np.where(closer, dx, best_dx)
            best_dy = np.where(closer, dy, best_dy)
            best_id = np.where(closer, tid, best_id)
    half = r3 * F32(0.5)
    proj = np.maximum(np.abs(best_dx), np.maximum(np.abs(best_dx * F32(0.5) + best_dy * half),
                                                  np.abs(best_dx * F32(0.5) - best_dy * half)))
    unit = float(np.sqrt(cw / np.sqrt(3.0) * hr / 1.5))  # pixels per hex unit (radius 1)
    return (half - proj) * F32(unit), best_id, rows * cols


def tiles(ctx: Ctx) -> Surface:
    """Glazed ceramic tiles in grout: square (default), "subway" running bond, "hexagonal", or a
    black-and-white (or colour-and-white) chequer."""
    h, w = ctx.h, ctx.w
    rnd = ctx.rng("tiles")
    checker = None
    if _has(ctx, "hex", "hexagonal", "hexagon", "hexagons"):
        d, tid, n = _hex_layout(ctx, 0.12)
    elif _has(ctx, "subway", "metro"):
        fx, fy, tid, n, bw, bh = _running_bond(ctx, int(round(h / ctx.px(0.07))), int(round(w / ctx.px(0.14))))
        d = np.minimum(np.minimum(fx, F32(1) - fx) * F32(bw), np.minimum(fy, F32(1) - fy) * F32(bh))
    else:
        ny = max(1, int(round(h / ctx.px(0.25))))
        nx = max(1, int(round(w / ctx.px(0.25))))
        chequered = _has(ctx, "checkerboard", "checker", "checkered", "chequered")
        if chequered:  # an even count of tiles per axis keeps the chequer periodic
            ny, nx = ny + ny % 2, nx + nx % 2
        v = np.arange(h, dtype=np.float64) * (ny / h) + 0.5
        u = np.arange(w, dtype=np.float64) * (nx / w) + 0.5
        ry, rx = np.floor(v).astype(np.int64), np.floor(u).astype(np.int64)
        fy = (v - ry).astype(F32)[:, None]
        fx = (u - rx).astype(F32)[None, :]
        tid = (ry % ny)[:, None] * nx + (rx % nx)[None, :]
        n = nx * ny
        d = np.minimum(np.minimum(fx, F32(1) - fx) * F32(w / nx), np.minimum(fy, F32(1) - fy) * F32(h / ny))
        if chequered:
            checker = ((ry % ny)[:, None] + (rx % nx)[None, :]) % 2
    grout_px = max(0.8, ctx.px(0.005))
    mask = nz.smoothstep(grout_px - 0.7, grout_px + 0.7, d)
    bevel = nz.smoothstep(grout_px, grout_px + ctx.px(0.008), d)
    tone = rnd.uniform(-1, 1, n).astype(F32)[tid]
    glaze = ctx.fbm("glaze", 0.15, 5)
    idx = np.clip(F32(0.55) + tone * F32(0.08) + glaze * F32(0.05) + bevel * F32(0.1), 0, 1)
    albedo = colourize(idx, ctx.palette())
    stuff = "marble" if _has(ctx, "marble") else "stone" if _has(ctx, *STONE_WORDS) else None
    if stuff:
        # stone tiles: every tile cut from a different part of the slab
        slab = GENERATORS[stuff](_overlay_ctx(ctx, stuff, "slab", keep_words=True))
        oy = rnd.integers(0, h, n)[tid]
        ox = rnd.integers(0, w, n)[tid]
        albedo = nz.shift_sample(slab.albedo, oy, ox) * (F32(1) + tone[..., None] * F32(0.04))
    if checker is not None:
        # classic chequer: white and black, or white and the named colour
        cols = set(ctx.parsed.colours)
        if not cols or cols <= {"black", "white"}:
            albedo = colourize(idx, lut(PALETTES["tiles"]["main"]))
            other = albedo * F32(0.12)
        else:
            other = colourize(idx, lut(PALETTES["tiles"]["main"]))
        albedo = np.where((checker == 1)[..., None], other, albedo)
    grout = colourize(ctx.fbm01("grout", 0.02, 3, contrast=0.3), ctx.palette("grout"))
    albedo = _mix(grout, albedo, mask)
    height = mask * (F32(0.5) + bevel * F32(0.2) + glaze * F32(0.01)) + (F32(1) - mask) * F32(0.2)
    return Surface(albedo, np.clip(height, 0, 1), 1.0)


def lava(ctx: Ctx) -> Surface:
    """Cooling lava: dark crust plates split by glowing cracks, with a few molten pools."""
    c = ctx.cells("plates", 0.14, 0.9)
    wob = ctx.fbm("wobble", 0.06, 5)
    e = c.edge + wob * F32(0.05)
    width = ctx.fbm01("cwidth", 0.2, 4, contrast=0.4)
    crack = F32(1) - nz.smoothstep(0.0, F32(0.03) + width * F32(0.1), e)
    glow_halo = F32(1) - nz.smoothstep(0.0, F32(0.25), e)
    flow = _warp_by(ctx, ctx.fbm("flow", 0.35, 7, 0.55), "fw", 0.3, 0.05)
    pools = _coverage(flow, 0.12, 0.2)
    core = F32(1) - nz.smoothstep(0.0, F32(0.015) + width * F32(0.05), e)
    heat = np.maximum(crack * (F32(0.45) + core * F32(0.3)), pools * (F32(0.65) + flow.clip(0, 1.5) * F32(0.12)))
    heat = np.clip(heat + ctx.fbm("heat", 0.04, 5) * F32(0.06), 0, 1)
    crust_n = ctx.fbm("crust", 0.04, 7, 0.6)
    plate = c.per_cell(ctx.rng("plate").random(c.n).astype(F32))
    crust = colourize(np.clip(F32(0.45) + crust_n * F32(0.25) + plate * F32(0.2) - F32(0.1), 0, 1), ctx.palette())
    glow_lut = lut(apply_colours(PALETTES["lava"]["glow"], ctx.parsed.colours, 0.6)) if ctx.parsed.colours else ctx.palette("glow", "lava")
    glow = colourize(heat, glow_lut)
    crust = crust + glow_lut[200][None, None, :] * (glow_halo * (F32(1) - pools) * F32(0.25))[..., None]
    albedo = _mix(crust, glow, nz.smoothstep(0.05, 0.4, heat))
    height = np.clip(F32(0.75) - heat * F32(0.5) + crust_n * F32(0.06) + plate * F32(0.05), 0, 1)
    return Surface(albedo, height, 1.5)

def ice(ctx: Ctx) -> Surface:
    """Clear ice: deep blue with cloudy white inclusions, long pale cracks, fractured plates, bubbles."""
    depth = ctx.fbm("depth", 0.45, 7, 0.55)
    cloud = _coverage(_warp_by(ctx, ctx.fbm("cloud", 0.3, 8, 0.6), "clw", 0.2, 0.04), 0.35, 1.0)
    lines = _lines(ctx, "cracks", 3, ((1.0, 0.8, 1.0), (1.5, 0.6, 0.8)))
    c = ctx.cells("plates", 0.22, 0.9)
    pe = _warp_by(ctx, c.edge, "pw", 0.1, 0.01)
    plates = (F32(1) - nz.smoothstep(0.0, 0.025, pe)) * nz.smoothstep(-0.6, 0.4, ctx.fbm("pshow", 0.3, 4)) * F32(0.75)
    bubbles = nz.smoothstep(1.9, 2.5, ctx.fbm("bubbles", 0.005, 1))  # small trapped air bubbles
    frost = ctx.fbm("frost", 0.01, 4, 0.6)
    idx = np.clip(F32(0.42) + depth * F32(0.12) + cloud * F32(0.3) + frost * F32(0.035), 0, 1)
    albedo = colourize(idx, ctx.palette())
    white = np.clip(np.maximum(lines, plates) * F32(0.85) + bubbles * F32(0.45), 0, 1)
    albedo = _mix(albedo, np.ones_like(albedo) * F32(0.96), white)
    height = np.clip(F32(0.6) - lines * F32(0.15) - plates * F32(0.1) + frost * F32(0.01), 0, 1)
    return Surface(albedo, height, 0.6)


def _lines(ctx: Ctx, tag: str, k: int, sets, halo: float = 0.0):
    """Long wandering lines (marble veins, ice cracks): level lines of a tilted ramp bent by
    turbulence. The ramp has whole periods across the image, so the lines wrap. ``sets`` holds
    (bend amount, width multiplier, strength) per family of lines; each set crosses the last.
    With ``halo`` > 0 returns (lines, a soft band ``halo`` times wider around them)."""
    h, w = ctx.h, ctx.w
    r = ctx.rng(tag + ".dir")
    # diagonal ramps: lines that run along an image axis for long would dominate one column/row
    a, b = (1, 1) if r.random() < 0.5 else (1, -1)
    X = np.arange(w, dtype=F32)[None, :] * F32(1.0 / w)
    Y = np.arange(h, dtype=F32)[:, None] * F32(1.0 / h)
    k = max(1, int(round(k / ctx.parsed.scale)))
    out = np.zeros((h, w), F32)
    soft = np.zeros((h, w), F32)
    for i, (amp, wmul, strength) in enumerate(sets):
        if i:
            a, b = b, -a
        turb = _warp_by(ctx, ctx.turbulence(f"{tag}.t{i}", 0.45, 7, 0.55), f"{tag}.w{i}", 0.3, 0.04)
        phase = (X * F32(a) + Y * F32(b)) * F32(k) + turb * F32(amp) + ctx.fbm(f"{tag}.b{i}", 0.5, 3) * F32(0.25)
        d = np.abs(phase - np.round(phase))
        wid = (F32(0.008) + F32(0.04) * nz.smoothstep(-0.8, 2.0, ctx.fbm(f"{tag}.wd{i}", 0.25, 5))) * F32(wmul)
        show = nz.smoothstep(-1.5, -0.2, ctx.fbm(f"{tag}.s{i}", 0.3, 4)) * F32(strength)
        out = np.maximum(out, (F32(1) - nz.smoothstep(F32(0), wid, d)) * show)
        if halo:
            soft = np.maximum(soft, (F32(1) - nz.smoothstep(F32(0), wid * F32(halo), d)) * show)
    return (out, soft) if halo else out


GENERATORS: dict[str, Callable[[Ctx], Surface]] = {
    "stone": stone, "cobblestone": cobblestone, "brick": brick, "wood": wood, "plank": plank,
    "metal": metal, "rust": rust, "marble": marble, "sand": sand, "dirt": dirt, "grass": grass,
    "moss": moss, "concrete": concrete, "tiles": tiles, "lava": lava, "ice": ice, "snow": snow,
}


# --------------------------------------------------------------------------- variants


# families that lie on the ground, where water can pool
GROUND = frozenset({"stone", "cobblestone", "dirt", "sand", "concrete", "moss", "grass", "snow"})


def _desaturate(rgb: np.ndarray, amount: float) -> np.ndarray:
    lum = (rgb[..., 0] * F32(0.2126) + rgb[..., 1] * F32(0.7152) + rgb[..., 2] * F32(0.0722))[..., None]
    return rgb + (lum - rgb) * F32(amount)


def _coverage(field: np.ndarray, coverage: float, softness: float = 0.15) -> np.ndarray:
    """A soft mask covering about ``coverage`` of the image where ``field`` is highest.

    The threshold is an exact quantile of a regular subsample (sorting is exact, so deterministic),
    which makes coverage independent of how a family's height happens to be distributed."""
    sub = np.sort(field[::4, ::4], axis=None)
    n = sub.size - 1
    t = float(sub[int(round((1.0 - coverage) * n))])
    spread = float(sub[int(0.9 * n)] - sub[int(0.1 * n)]) or 1.0
    return nz.smoothstep(t - softness * spread, t + softness * spread, field)


def _overlay_ctx(ctx: Ctx, family: str, tag: str, keep_words: bool = False) -> Ctx:
    """A context for another material drawn inside this one (moss on stone, stone in bricks): same
    size and scale; with ``keep_words`` also the prompt's colours and style words."""
    p = Parsed(family=family, understood=True, scale=ctx.parsed.scale)
    if keep_words:
        p.colours, p.words = list(ctx.parsed.colours), list(ctx.parsed.words)
    return Ctx(ctx.h, ctx.w, ctx.seed ^ zlib.crc32(tag.encode()), p, ctx.shading)


def _variants(ctx: Ctx, s: Surface) -> Surface:
    v = ctx.parsed.variants
    alb, hgt, bump = s.albedo, s.height, s.bump
    if not v:
        return s
    # area effects (moss, snow, dirt, wear) follow the shape of the surface, not its pixel grain
    smooth = nz.blur(hgt, max(1, int(round(ctx.px(0.006)))), 2)
    low = F32(1) - smooth  # crevices
    if "rusty" in v and ctx.parsed.family != "rust":
        m = _coverage(ctx.fbm("v.rust", 0.3, 7, 0.55) + low * F32(1.5) + ctx.fbm("v.rs", 0.2, 5, aspect=1 / 8) * F32(0.4), 0.45)
        rc = colourize(ctx.fbm01("v.rustc", 0.05, 5, contrast=0.3), lut(PALETTES["rust"]["main"]))
        alb = _mix(alb, rc, m * F32(0.9))
        hgt = np.clip(hgt + m * ctx.fbm("v.rh", 0.03, 4) * F32(0.03), 0, 1)
    if "dirty" in v:
        m = _coverage(ctx.fbm("v.dirt", 0.3, 7, 0.55) * F32(0.3) + low * F32(2.0), 0.35, 0.3)
        alb = _mix(alb, alb * np.array([0.45, 0.38, 0.3], F32), m * F32(0.75))
    if "weathered" in v:
        alb = _desaturate(alb, 0.35)
        grime = nz.smoothstep(-0.2, 1.2, ctx.fbm("v.grime", 0.25, 6))
        alb = alb * (F32(1) - grime[..., None] * F32(0.3))
        wear = _coverage(smooth + ctx.fbm("v.wear", 0.02, 4) * F32(0.05), 0.12, 0.3)
        alb = _mix(alb, np.clip(alb * F32(1.25) + F32(0.05), 0, 1), wear * F32(0.4))
        streak = ctx.fbm("v.streak", 0.2, 6, aspect=1 / 10.0)
        alb = alb * (F32(1) - nz.smoothstep(0.3, 1.5, streak)[..., None] * F32(0.25))
        hgt = np.clip(hgt + ctx.fbm("v.erode", 0.02, 4) * F32(0.04), 0, 1)
    if "cracked" in v and "cracked" not in s.handled:
        c = ctx.cells("v.crack", 0.2, 1.0)
        e = _warp_by(ctx, c.edge, "v.cw", 0.1, 0.012)
        show = nz.smoothstep(-0.5, 0.3, ctx.fbm("v.cshow", 0.3, 4))
        width = F32(max(0.012, 1.2 / (ctx.px(0.2))))  # at least about a pixel wide
        crack = (F32(1) - nz.smoothstep(0.0, width, e)) * show
        halo = (F32(1) - nz.smoothstep(0.0, width * F32(4), e)) * show
        alb = alb * (F32(1) - crack[..., None] * F32(0.75) - halo[..., None] * F32(0.12))
        hgt = hgt * (F32(1) - crack * F32(0.6) - halo * F32(0.1))
    if "mossy" in v:
        m = _coverage(ctx.fbm("v.moss", 0.3, 7, 0.55) * F32(0.8) + low * F32(2.0), 0.4, 0.5)
        # moss thins out in scattered tufts at the edge of a patch rather than stopping at a line
        m = nz.smoothstep(0.3, 0.7, m + ctx.fbm("v.tufts", 0.01, 3) * F32(0.22))
        ms = moss(_overlay_ctx(ctx, "moss", "v.mossy"))
        alb = _mix(alb, ms.albedo, m)
        hgt = np.clip(hgt + m * (ms.height * F32(0.25)), 0, 1)
    if "snowy" in v:
        m = _coverage(smooth + ctx.fbm("v.snow", 0.2, 7, 0.55) * F32(0.25), 0.5, 0.2)
        scol = colourize(ctx.fbm01("v.snowc", 0.05, 4), lut(PALETTES["snow"]["main"]))
        alb = _mix(alb, scol, m)
        hgt = np.clip(hgt + m * F32(0.1), 0, 1)
    if "polished" in v:
        r = max(1, int(round(ctx.px(0.003))))
        soft = np.stack([nz.blur(alb[..., k], r, 1) for k in range(3)], axis=-1)
        alb = soft + (alb - soft) * F32(0.5)
        # a polished face scatters less: deeper, richer colour with more contrast
        alb = alb * (F32(0.72) + F32(0.28) * alb)
        lum = alb.mean(axis=2, keepdims=True, dtype=F32)
        alb = np.clip(lum + (alb - lum) * F32(1.12), 0, 1)
        alb = np.clip((alb - F32(0.45)) * F32(1.15) + F32(0.45), 0, 1)
        hgt = nz.blur(hgt, r, 2)
        bump = bump * 0.35  # a polished surface is flat: little relief light
    if "wet" in v:
        alb = alb * (F32(0.52) + F32(0.28) * alb)  # darker (dark tones most), richer
        lum = alb.mean(axis=2, keepdims=True, dtype=F32)
        alb = np.clip(lum + (alb - lum) * F32(1.2), 0, 1)
        if ctx.parsed.family in GROUND:
            puddle = _coverage(ctx.fbm("v.puddle", 0.3, 6) + low * F32(1.5), 0.15, 0.1)
            alb = alb * (F32(1) - puddle[..., None] * F32(0.3))
            hgt = hgt + (F32(0.5) - hgt) * puddle * F32(0.8)  # water fills the low places flat
    return Surface(alb, hgt, bump, s.handled)


def _shade(ctx: Ctx, s: Surface) -> np.ndarray:
    """A soft baked light from the top left on the height field's normals, plus cavity darkening.

    Slopes are measured per image-size unit, so the look does not change with the resolution."""
    gy, gx = nz.gradient(s.height)
    directional = 0.3 if ctx.parsed.flat_light else 1.0
    k = F32(s.bump * ctx.shading * directional * ctx.s * 0.01)
    ny, nx = gy * (-k), gx * (-k)
    lz = F32(0.8)
    ly = lx = F32(-0.42)
    lit = (nx * lx + ny * ly + lz) / (np.sqrt(nx * nx + ny * ny + F32(1)) * lz)
    ao = F32(1) - (F32(1) - s.height) * F32(0.3 * min(1.0, ctx.shading))
    f = np.clip(lit, F32(0.35), F32(1.5)) * ao
    return s.albedo * f[..., None]


def render(ctx: Ctx) -> np.ndarray:
    surface = GENERATORS[ctx.parsed.family](ctx)
    surface = _variants(ctx, surface)
    out = _shade(ctx, surface)
    return np.ascontiguousarray(np.clip(out, 0.0, 1.0), dtype=F32)
