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

    def cells(self, tag: str, size: float, jitter: float = 0.9, aspect: float = 1.0) -> nz.Cells:
        cell = size * self.s
        return nz.cellular(self.rng(tag), self.h, self.w, cell / np.sqrt(aspect), cell * np.sqrt(aspect), jitter)

    def white(self, tag: str) -> np.ndarray:
        return self.rng(tag).random((self.h, self.w), dtype=F32)

    def palette(self, part: str = "main", family: str | None = None) -> np.ndarray:
        fam = family or self.parsed.family
        stops = PALETTES[fam][part]
        if part == "main" and family is None and self.parsed.colours:
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
    rough = "rough" in ctx.parsed.variants
    base = ctx.fbm("base", 0.5, 8, 0.55)
    base = _warp_by(ctx, base, "warp", 0.35, 0.05)
    ridge = 1.0 - np.abs(ctx.fbm("ridge", 0.3, 6, 0.5)) * F32(0.6)
    cells = ctx.cells("facets", 0.22, 0.95)
    facets = np.clip(cells.f1, 0, 1.2)
    height = _norm(base * F32(0.5) + ridge * F32(0.8) - facets * F32(0.5 if rough else 0.3)
                   + ctx.fbm("fine", 0.03, 3) * F32(0.12 if rough else 0.06))
    tone = cells.per_cell(ctx.rng("tone").uniform(-0.08, 0.08, cells.n).astype(F32))
    idx = np.clip(height * F32(0.7) + F32(0.15) + tone + ctx.fbm("colour", 0.25, 5) * F32(0.08), 0, 1)
    albedo = colourize(idx, ctx.palette())
    fl = ctx.fbm("fleck", 0.006, 2)
    dark = nz.smoothstep(1.6, 2.3, fl)
    light = nz.smoothstep(1.7, 2.4, -fl)
    fleck = ctx.palette("fleck")
    albedo = _mix(albedo, np.broadcast_to(fleck[0], albedo.shape), dark * F32(0.6))
    albedo = _mix(albedo, np.broadcast_to(fleck[-1], albedo.shape), light * F32(0.35))
    return Surface(albedo, height, 1.6 if rough else 1.2)


def cobblestone(ctx: Ctx) -> Surface:
    c = ctx.cells("cells", 0.14, 0.8)
    wob = ctx.fbm("wobble", 0.06, 4)
    e = c.edge * F32(1.0) + wob * F32(0.035)
    stone_mask = nz.smoothstep(0.05, 0.11, e)
    dome = nz.smoothstep(0.02, 0.45, e)
    dome = np.sqrt(dome)
    rnd = ctx.rng("percell")
    tone = c.per_cell(rnd.uniform(0.0, 1.0, c.n).astype(F32))
    tilt = c.per_cell(rnd.uniform(0.7, 1.0, c.n).astype(F32))
    surf = ctx.fbm("surface", 0.05, 5)
    height = stone_mask * (F32(0.35) + dome * F32(0.5) * tilt + surf * F32(0.04))
    height += (F32(1) - stone_mask) * (F32(0.08) + ctx.fbm("gapn", 0.02, 3) * F32(0.03))
    idx = np.clip(F32(0.2) + tone * F32(0.45) + surf * F32(0.07) + dome * F32(0.2), 0, 1)
    albedo = colourize(idx, ctx.palette())
    gap = colourize(ctx.fbm01("gap", 0.03, 4, contrast=0.3), ctx.palette("gap"))
    albedo = _mix(gap, albedo, stone_mask)
    return Surface(albedo, np.clip(height, 0, 1), 2.2)


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


def brick(ctx: Ctx) -> Surface:
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


def _grain(ctx: Ctx, h: int, w: int, tag: str, rings: float = 9.0):
    """Wood grain with the fibres along x on an h x w grid: (ring field in [0, 1], fibre noise)."""
    sub = Ctx(h, w, ctx.seed ^ zlib.crc32(tag.encode()), ctx.parsed)
    k = max(1, int(round(rings * h / sub.s)))  # whole rings across the height: periodic in y
    y = np.arange(h, dtype=F32)[:, None] * F32(k / h)
    bend = sub.fbm("bend", 0.6, 4, aspect=3.0) * F32(0.9) + sub.fbm("bend2", 0.15, 4, aspect=4.0) * F32(0.25)
    g = y + bend
    # knots: local bulges of the ring field
    rnd = sub.rng("knots")
    for _ in range(int(rnd.integers(1, 3))):
        cy, cx = rnd.uniform(0, h), rnd.uniform(0, w)
        ry, rx = sub.px(0.05), sub.px(0.12)
        dy = nz.wrapped_offset(np.arange(h, dtype=F32)[:, None], cy, h) / F32(ry)
        dx = nz.wrapped_offset(np.arange(w, dtype=F32)[None, :], cx, w) / F32(rx)
        r2 = dy * dy + dx * dx
        bump = np.clip(F32(1) - r2 * F32(0.25), 0, 1) ** 2
        g = g + bump * F32(rnd.uniform(0.6, 1.2)) * np.sign(dy + F32(1e-3))
    p = g - np.floor(g)
    ring = p * p * p  # late wood darkens slowly, then the next ring starts pale
    ring = ring * (F32(1) - nz.smoothstep(0.92, 1.0, p))
    fibre = sub.fbm("fibre", 0.25, 6, 0.6, aspect=40.0) * F32(0.5) + sub.fbm("fibre2", 0.05, 4, 0.6, aspect=30.0) * F32(0.5)
    return ring.astype(F32), fibre, sub


def wood(ctx: Ctx) -> Surface:
    # a board seen face-on, fibres running vertically
    ring, fibre, sub = _grain(ctx, ctx.w, ctx.h, "grain", 7.0)
    ring, fibre = ring.T, fibre.T
    tone = ctx.fbm("tone", 0.4, 4)
    idx = np.clip(F32(0.75) - ring * F32(0.45) + fibre * F32(0.07) + tone * F32(0.06), 0, 1)
    albedo = colourize(idx, ctx.palette())
    height = np.clip(F32(0.6) - ring * F32(0.2) + fibre * F32(0.06), 0, 1)
    return Surface(np.ascontiguousarray(albedo), np.ascontiguousarray(height), 0.8)


def plank(ctx: Ctx) -> Surface:
    h, w = ctx.h, ctx.w
    rows = max(2, int(round(h / ctx.px(0.16))))
    ring, fibre, _ = _grain(ctx, h, w, "grain", 28.0)
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
    gap_px = max(1.0, ctx.px(0.005))
    edge = np.minimum(fy, F32(1) - fy) * F32(h / rows)
    d = np.minimum(edge[:, None], jointd)
    mask = nz.smoothstep(gap_px - 0.6, gap_px + 0.6, d)
    bevel = nz.smoothstep(gap_px, gap_px + ctx.px(0.008), d)
    idx = np.clip(F32(0.7) - ring * F32(0.4) + fibre * F32(0.07) + tone * F32(0.1), 0, 1)
    albedo = colourize(idx, ctx.palette())
    albedo = _mix(colourize(ctx.fbm01("gap", 0.02, 3), ctx.palette("gap")), albedo, mask)
    height = mask * (F32(0.55) + bevel * F32(0.3) - ring * F32(0.08) + fibre * F32(0.03))
    return Surface(albedo, np.clip(height, 0, 1), 1.6)


def metal(ctx: Ctx) -> Surface:
    brushed = ctx.fbm("brush", 0.3, 7, 0.7, aspect=60.0)
    smudge = ctx.fbm("smudge", 0.35, 5)
    speck = ctx.fbm("speck", 0.01, 2)
    scratch = nz.smoothstep(0.92, 0.99, F32(1) - np.abs(_warp_by(ctx, ctx.fbm("scr", 0.2, 3, aspect=3.0), "scrw", 0.2, 0.02)))
    idx = np.clip(F32(0.5) + brushed * F32(0.07) + smudge * F32(0.09) + speck * F32(0.02) + scratch * F32(0.18), 0, 1)
    albedo = colourize(idx, ctx.palette())
    height = np.clip(F32(0.5) + brushed * F32(0.02) - scratch * F32(0.1), 0, 1)
    return Surface(albedo, height, 0.6)


def rust(ctx: Ctx) -> Surface:
    m = metal(ctx)
    metal_col = colourize(np.clip(F32(0.5) + ctx.fbm("mtone", 0.2, 5) * F32(0.2), 0, 1), ctx.palette("metal"))
    m_alb = m.albedo * F32(0.45) + metal_col * F32(0.55)
    cover = _warp_by(ctx, ctx.fbm("cover", 0.35, 7, 0.55), "cw", 0.3, 0.04)
    streak = ctx.fbm("streak", 0.15, 6, 0.6, aspect=1 / 6.0)
    cover = cover + streak * F32(0.25)
    rmask = nz.smoothstep(-0.45, -0.15, cover)
    pit = ctx.cells("pits", 0.025, 1.0)
    pits = (F32(1) - nz.smoothstep(0.05, 0.3, pit.f1)) * (pit.per_cell(ctx.rng("pk").random(pit.n) < 0.35)).astype(F32)
    flake = ctx.fbm("flake", 0.04, 5)
    idx = np.clip(F32(0.5) + cover * F32(0.12) + flake * F32(0.12) + streak * F32(0.06) - pits * F32(0.3), 0, 1)
    ralb = colourize(idx, ctx.palette())
    albedo = _mix(m_alb, ralb, rmask)
    height = np.clip(F32(0.5) + rmask * (F32(0.12) + flake * F32(0.06)) - pits * rmask * F32(0.15), 0, 1)
    return Surface(albedo, height, 1.5)


def marble(ctx: Ctx) -> Surface:
    cloud = ctx.fbm("cloud", 0.5, 6, 0.55)
    n = ctx.fbm("vein", 0.6, 8, 0.55)
    n = _warp_by(ctx, n, "vw", 0.3, 0.06)
    v = n * F32(1.3)
    d = np.abs(v - np.round(v))
    vein = F32(1) - nz.smoothstep(0.0, 0.05, d)
    halo = F32(1) - nz.smoothstep(0.0, 0.22, d)
    n2 = _warp_by(ctx, ctx.fbm("vein2", 0.25, 7, 0.55), "vw2", 0.15, 0.03)
    d2 = np.abs(n2 * F32(2.2) - np.round(n2 * F32(2.2)))
    vein2 = (F32(1) - nz.smoothstep(0.0, 0.03, d2)) * nz.smoothstep(-0.3, 0.6, ctx.fbm("v2m", 0.4, 3))
    idx = np.clip(F32(0.6) + cloud * F32(0.12) - halo * F32(0.12), 0, 1)
    albedo = colourize(idx, ctx.palette())
    vcol = colourize(np.clip(F32(0.4) + cloud * F32(0.2), 0, 1), ctx.palette("vein"))
    albedo = _mix(albedo, vcol, np.maximum(vein * F32(0.85), vein2 * F32(0.5)))
    height = np.clip(F32(0.6) - vein * F32(0.02), 0, 1)
    return Surface(albedo, height, 0.3)


def sand(ctx: Ctx) -> Surface:
    h = ctx.h
    k = max(1, int(round(11 * h / ctx.s)))
    y = np.arange(h, dtype=F32)[:, None] * F32(k / h)
    g = y + ctx.fbm("bend", 0.5, 4, aspect=2.0) * F32(0.6) + ctx.fbm("bend2", 0.12, 3) * F32(0.12)
    p = g - np.floor(g)
    ripple = np.where(p < 0.7, p / F32(0.7), (F32(1) - p) / F32(0.3))  # gentle windward, steep lee
    ripple = ripple * ripple * (F32(3) - F32(2) * ripple)
    strength = nz.smoothstep(-1.0, 0.8, ctx.fbm("rstrength", 0.4, 3))
    grains = ctx.white("grains") - F32(0.5)
    fine = ctx.fbm("fine", 0.008, 2)
    tone = ctx.fbm("tone", 0.4, 5)
    height = np.clip(F32(0.5) + ripple * strength * F32(0.3) + fine * F32(0.02), 0, 1)
    idx = np.clip(F32(0.55) + tone * F32(0.1) + ripple * strength * F32(0.1) + grains * F32(0.12) + fine * F32(0.05), 0, 1)
    albedo = colourize(idx, ctx.palette())
    return Surface(albedo, height, 1.0)


def dirt(ctx: Ctx) -> Surface:
    base = ctx.fbm("base", 0.4, 8, 0.55)
    clump = ctx.cells("clump", 0.035, 1.0)
    lumps = F32(1) - np.clip(clump.f1, 0, 1)
    lumps *= clump.per_cell(ctx.rng("lumpk").uniform(0.3, 1.0, clump.n).astype(F32))
    peb = ctx.cells("pebbles", 0.05, 0.9)
    keep = peb.per_cell(ctx.rng("pk").random(peb.n) < 0.22)
    size = peb.per_cell(ctx.rng("ps").uniform(0.2, 0.42, peb.n).astype(F32))
    pebble = (F32(1) - nz.smoothstep(size * F32(0.75), size, peb.f1)) * keep.astype(F32)
    pdome = np.sqrt(np.clip(F32(1) - peb.f1 / np.maximum(size, F32(1e-3)), 0, 1)) * pebble
    fine = ctx.fbm("fine", 0.01, 3)
    height = np.clip(F32(0.35) + base * F32(0.08) + lumps * F32(0.2) + fine * F32(0.04) + pdome * F32(0.35), 0, 1)
    idx = np.clip(F32(0.5) + base * F32(0.12) + lumps * F32(0.15) + fine * F32(0.08), 0, 1)
    albedo = colourize(idx, ctx.palette())
    ptone = peb.per_cell(ctx.rng("pt").random(peb.n).astype(F32))
    pcol = colourize(np.clip(ptone * F32(0.7) + pdome * F32(0.3), 0, 1), ctx.palette("pebble", "dirt"))
    albedo = _mix(albedo, pcol, pebble)
    return Surface(albedo, height, 1.6)


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
    patch = ctx.fbm("patch", 0.4, 5)
    dry = nz.smoothstep(0.6, 1.4, patch)
    idx = np.clip(blades * F32(0.7) + tone * F32(0.2) + patch * F32(0.05), 0, 1)
    albedo = colourize(idx, ctx.palette())
    albedo = _mix(albedo, colourize(idx, ctx.palette("dry", "grass")), dry * F32(0.7))
    return Surface(albedo, blades, 1.2)


def moss(ctx: Ctx) -> Surface:
    c = ctx.cells("clumps", 0.04, 1.0)
    dome = np.sqrt(np.clip(F32(1) - c.f1 * c.f1, 0, 1))
    c2 = ctx.cells("clumps2", 0.015, 1.0)
    dome2 = np.sqrt(np.clip(F32(1) - c2.f1 * c2.f1, 0, 1))
    fuzz = ctx.fbm("fuzz", 0.004, 2)
    base = ctx.fbm("base", 0.35, 6)
    height = np.clip(dome * F32(0.45) + dome2 * F32(0.3) + fuzz * F32(0.05) + base * F32(0.08), 0, 1)
    idx = np.clip(height * F32(0.8) + base * F32(0.1) + fuzz * F32(0.08), 0, 1)
    albedo = colourize(idx, ctx.palette())
    return Surface(albedo, height, 1.3)


def concrete(ctx: Ctx) -> Surface:
    blotch = ctx.fbm("blotch", 0.4, 6, 0.55)
    mid = ctx.fbm("mid", 0.06, 4)
    grain = ctx.white("grain") - F32(0.5)
    pores = ctx.cells("pores", 0.018, 1.0)
    size = pores.per_cell(ctx.rng("psize").uniform(0.05, 0.3, pores.n).astype(F32))
    keep = pores.per_cell(ctx.rng("pk").random(pores.n) < 0.3).astype(F32)
    pore = (F32(1) - nz.smoothstep(size * F32(0.6), size, pores.f1)) * keep
    agg = ctx.cells("agg", 0.012, 1.0)
    aggv = agg.per_cell(ctx.rng("aggv").uniform(-1, 1, agg.n).astype(F32)) * nz.smoothstep(0.5, 0.2, agg.f1)
    stain = nz.smoothstep(0.7, 1.6, ctx.fbm("stain", 0.25, 5))
    idx = np.clip(F32(0.5) + blotch * F32(0.08) + mid * F32(0.04) + grain * F32(0.08) + aggv * F32(0.05)
                  - stain * F32(0.12) - pore * F32(0.35), 0, 1)
    albedo = colourize(idx, ctx.palette())
    height = np.clip(F32(0.6) + mid * F32(0.02) - pore * F32(0.3) + grain * F32(0.02), 0, 1)
    return Surface(albedo, height, 1.0)


def tiles(ctx: Ctx) -> Surface:
    h, w = ctx.h, ctx.w
    ny = max(1, int(round(h / ctx.px(0.25))))
    nx = max(1, int(round(w / ctx.px(0.25))))
    chequered = any(m in ("checkerboard", "checker", "checkered", "chequered") for m in ctx.parsed.matched)
    if chequered:  # an even count of tiles per axis keeps the chequer periodic
        ny, nx = ny + ny % 2, nx + nx % 2
    v = np.arange(h, dtype=np.float64) * (ny / h) + 0.5
    u = np.arange(w, dtype=np.float64) * (nx / w) + 0.5
    ry, rx = np.floor(v).astype(np.int64), np.floor(u).astype(np.int64)
    fy = (v - ry).astype(F32)[:, None]
    fx = (u - rx).astype(F32)[None, :]
    tid = (ry % ny)[:, None] * nx + (rx % nx)[None, :]
    n = nx * ny
    grout_px = max(1.0, ctx.px(0.006))
    mask, bevel = _block_height(fx, fy, w / nx, h / ny, grout_px, ctx.px(0.015), F32(0))
    rnd = ctx.rng("tiles")
    tone = rnd.uniform(-1, 1, n).astype(F32)[tid]
    checker = ((ry % ny)[:, None] + (rx % nx)[None, :]) % 2 if chequered else None
    glaze = ctx.fbm("glaze", 0.15, 5)
    idx = np.clip(F32(0.55) + tone * F32(0.08) + glaze * F32(0.05) + bevel * F32(0.1), 0, 1)
    if checker is not None:
        idx = np.where(checker == 1, idx * F32(0.35), idx)
    albedo = colourize(idx, ctx.palette())
    grout = colourize(ctx.fbm01("grout", 0.02, 3, contrast=0.3), ctx.palette("grout"))
    albedo = _mix(grout, albedo, mask)
    height = mask * (F32(0.5) + bevel * F32(0.35) + glaze * F32(0.01)) + (F32(1) - mask) * F32(0.2)
    return Surface(albedo, np.clip(height, 0, 1), 1.5)


def lava(ctx: Ctx) -> Surface:
    c = ctx.cells("plates", 0.15, 0.9)
    wob = ctx.fbm("wobble", 0.08, 5)
    e = c.edge + wob * F32(0.06)
    crack = F32(1) - nz.smoothstep(0.0, 0.12, e)
    flow = _warp_by(ctx, ctx.fbm("flow", 0.35, 6), "fw", 0.3, 0.05)
    pools = nz.smoothstep(0.6, 1.5, flow)
    heat = np.clip(np.maximum(crack, pools) + ctx.fbm("heat", 0.05, 4) * F32(0.08), 0, 1)
    crust_n = ctx.fbm("crust", 0.05, 6, 0.6)
    plate = c.per_cell(ctx.rng("plate").random(c.n).astype(F32))
    crust = colourize(np.clip(F32(0.5) + crust_n * F32(0.25) + plate * F32(0.2) - F32(0.1), 0, 1), ctx.palette())
    glow = colourize(heat, ctx.palette("glow", "lava"))
    if ctx.parsed.colours:
        glow = colourize(heat, lut(apply_colours(PALETTES["lava"]["glow"], ctx.parsed.colours, 0.6)))
    albedo = _mix(crust, glow, nz.smoothstep(0.05, 0.45, heat))
    height = np.clip(F32(0.7) - heat * F32(0.5) + crust_n * F32(0.05), 0, 1)
    return Surface(albedo, height, 1.2)


def ice(ctx: Ctx) -> Surface:
    depth = ctx.fbm("depth", 0.45, 7, 0.55)
    c = ctx.cells("cracks", 0.2, 0.9)
    e = c.edge + ctx.fbm("cw", 0.05, 4) * F32(0.03)
    show = nz.smoothstep(-0.4, 0.3, ctx.fbm("show", 0.3, 3))
    crack = (F32(1) - nz.smoothstep(0.0, 0.025, e)) * show
    c2 = ctx.cells("cracks2", 0.08, 0.9)
    crack2 = (F32(1) - nz.smoothstep(0.0, 0.03, c2.edge + ctx.fbm("cw2", 0.03, 3) * F32(0.02))) * nz.smoothstep(0.2, 0.9, ctx.fbm("show2", 0.25, 3))
    bub = ctx.cells("bubbles", 0.02, 1.0)
    bubbles = (F32(1) - nz.smoothstep(0.06, 0.14, bub.f1)) * bub.per_cell(ctx.rng("bk").random(bub.n) < 0.15).astype(F32)
    frost = nz.smoothstep(0.3, 1.5, ctx.fbm("frost", 0.1, 6, 0.6))
    idx = np.clip(F32(0.5) + depth * F32(0.14) + crack2 * F32(0.12) + frost * F32(0.2), 0, 1)
    albedo = colourize(idx, ctx.palette())
    albedo = _mix(albedo, np.ones_like(albedo), np.clip(crack * F32(0.75) + bubbles * F32(0.5), 0, 1))
    height = np.clip(F32(0.6) - crack * F32(0.2) + frost * F32(0.1) + depth * F32(0.02), 0, 1)
    return Surface(albedo, height, 0.8)


GENERATORS: dict[str, Callable[[Ctx], Surface]] = {
    "stone": stone, "cobblestone": cobblestone, "brick": brick, "wood": wood, "plank": plank,
    "metal": metal, "rust": rust, "marble": marble, "sand": sand, "dirt": dirt, "grass": grass,
    "moss": moss, "concrete": concrete, "tiles": tiles, "lava": lava, "ice": ice,
}


# --------------------------------------------------------------------------- variants


def _desaturate(rgb: np.ndarray, amount: float) -> np.ndarray:
    lum = (rgb[..., 0] * F32(0.2126) + rgb[..., 1] * F32(0.7152) + rgb[..., 2] * F32(0.0722))[..., None]
    return rgb + (lum - rgb) * F32(amount)


def _variants(ctx: Ctx, s: Surface) -> Surface:
    v = ctx.parsed.variants
    alb, hgt, bump = s.albedo, s.height, s.bump
    low = F32(1) - hgt  # crevices
    if "rusty" in v and ctx.parsed.family != "rust":
        m = nz.smoothstep(0.2, 0.9, ctx.fbm("v.rust", 0.3, 6) + low * F32(0.8))
        rc = colourize(ctx.fbm01("v.rustc", 0.05, 5, contrast=0.3), lut(PALETTES["rust"]["main"]))
        alb = _mix(alb, rc, m * F32(0.85))
    if "dirty" in v:
        m = nz.smoothstep(0.0, 1.0, ctx.fbm("v.dirt", 0.3, 6) * F32(0.6) + low * F32(1.6) - F32(0.4))
        alb = _mix(alb, alb * np.array([0.42, 0.36, 0.3], F32), m * F32(0.8))
    if "weathered" in v:
        alb = _desaturate(alb, 0.35)
        grime = nz.smoothstep(-0.2, 1.2, ctx.fbm("v.grime", 0.25, 6))
        alb = alb * (F32(1) - grime[..., None] * F32(0.3))
        wear = nz.smoothstep(0.65, 0.95, hgt + ctx.fbm("v.wear", 0.02, 4) * F32(0.1))
        alb = _mix(alb, np.clip(alb * F32(1.35) + F32(0.06), 0, 1), wear * F32(0.6))
        streak = ctx.fbm("v.streak", 0.25, 5, aspect=1 / 10.0)
        alb = alb * (F32(1) - nz.smoothstep(0.4, 1.5, streak)[..., None] * F32(0.25))
        hgt = np.clip(hgt + ctx.fbm("v.erode", 0.02, 4) * F32(0.04), 0, 1)
    if "cracked" in v:
        c = ctx.cells("v.crack", 0.18, 0.9)
        e = c.edge + ctx.fbm("v.cw", 0.04, 5) * F32(0.04)
        show = nz.smoothstep(-0.6, 0.2, ctx.fbm("v.cshow", 0.3, 3))
        width = 0.018 + 0.012 * float(ctx.parsed.scale >= 1.0)
        crack = (F32(1) - nz.smoothstep(0.0, width, e)) * show
        alb = alb * (F32(1) - crack[..., None] * F32(0.8))
        hgt = hgt * (F32(1) - crack * F32(0.7))
    if "mossy" in v:
        m = ctx.fbm("v.moss", 0.3, 7, 0.55) * F32(0.8) + low * F32(2.2) - F32(0.9)
        m = nz.smoothstep(-0.15, 0.35, m)
        mc = ctx.fbm("v.mossc", 0.01, 4)
        mcol = colourize(np.clip(F32(0.55) + mc * F32(0.2), 0, 1), lut(PALETTES["moss"]["main"]))
        alb = _mix(alb, mcol, m)
        hgt = np.clip(hgt + m * (F32(0.1) + mc * F32(0.03)), 0, 1)
    if "snowy" in v:
        m = nz.smoothstep(0.45, 0.75, hgt + ctx.fbm("v.snow", 0.2, 6) * F32(0.15))
        scol = colourize(ctx.fbm01("v.snowc", 0.05, 4), lut(PALETTES["snow"]["main"]))
        alb = _mix(alb, scol, m)
    if "polished" in v:
        r = max(1, int(round(ctx.px(0.003))))
        soft = np.stack([nz.blur(alb[..., k], r, 1) for k in range(3)], axis=-1)
        alb = soft + (alb - soft) * F32(0.5)
        # a polished face scatters less: deeper, richer colour with more contrast
        alb = alb * (F32(0.72) + F32(0.28) * alb)
        lum = alb.mean(axis=2, keepdims=True, dtype=F32)
        alb = np.clip(lum + (alb - lum) * F32(1.3), 0, 1)
        alb = np.clip((alb - F32(0.45)) * F32(1.2) + F32(0.45), 0, 1)
        hgt = nz.blur(hgt, r, 2)
        bump = bump * 0.35  # a polished surface is flat: little relief light
    if "wet" in v:
        alb = alb * alb * F32(0.75) + alb * F32(0.1)  # darker, richer
        lum = alb.mean(axis=2, keepdims=True, dtype=F32)
        alb = np.clip(lum + (alb - lum) * F32(1.35), 0, 1)
        puddle = nz.smoothstep(0.6, 1.2, ctx.fbm("v.puddle", 0.3, 5) + low * F32(0.6))
        alb = alb * (F32(1) - puddle[..., None] * F32(0.25))
    return Surface(alb, hgt, bump)


def _shade(ctx: Ctx, s: Surface) -> np.ndarray:
    gy, gx = nz.gradient(s.height)
    k = F32(s.bump * ctx.shading * ctx.s / 256.0 * 2.5)
    lit = F32(1) + (gx + gy) * (-k)  # light from the top left
    ao = F32(1) - (F32(1) - s.height) * F32(0.25 * ctx.shading)
    f = np.clip(lit, F32(0.55), F32(1.45)) * ao
    return s.albedo * f[..., None]


def render(ctx: Ctx) -> np.ndarray:
    surface = GENERATORS[ctx.parsed.family](ctx)
    surface = _variants(ctx, surface)
    out = _shade(ctx, surface)
    return np.ascontiguousarray(np.clip(out, 0.0, 1.0), dtype=F32)
