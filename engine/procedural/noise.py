"""Periodic noise on the pixel grid: every field here wraps exactly at the image size.

Periodicity comes from construction, never from blending: lattices have an integer number of cells
across each axis and are indexed modulo their size, cellular distances are taken between a pixel
and feature points of the neighbouring cells *including the wrapped ones*, and warps sample with
wrap-around. So any field, at any size (square or not), tiles without a seam.

Determinism: only IEEE-exact elementwise arithmetic, ``sqrt``, ``floor``, gathers and min/max are
used (no transcendental functions whose SIMD implementations differ between CPUs, no BLAS, no
threaded reductions), and every random array comes from a PCG64 stream derived from the seed.
"""

from __future__ import annotations

import numpy as np

F32 = np.float32

# Standard deviation of one octave of cubic B-spline value noise with lattice values uniform in
# [-1, 1]: sqrt(1/3 * E[sum w^2]^2) with E[sum_k w_k(t)^2] = 151/315 for the cubic B-spline.
_OCTAVE_STD = float(np.sqrt(1.0 / 3.0) * (151.0 / 315.0))


def cell_count(size: int, cell_px: float) -> int:
    """How many lattice cells fit across ``size`` pixels with cells about ``cell_px`` wide."""
    return max(1, int(round(size / max(float(cell_px), 1.0))))


def _bspline_axis(n: int, g: int) -> tuple[np.ndarray, np.ndarray]:
    """Lattice indices (4, n) and cubic B-spline weights (4, n, float32) for n pixels over g cells."""
    u = np.arange(n, dtype=np.float64) * (g / n)
    i = np.floor(u).astype(np.int64)
    t = (u - i).astype(F32)
    t2 = t * t
    t3 = t2 * t
    s = 1.0 - t
    w = np.stack(
        [s * s * s / 6, (3 * t3 - 6 * t2 + 4) / 6, (-3 * t3 + 3 * t2 + 3 * t + 1) / 6, t3 / 6]
    ).astype(F32)
    idx = np.stack([(i - 1) % g, i % g, (i + 1) % g, (i + 2) % g])
    return idx, w


def upsample(lattice: np.ndarray, h: int, w: int) -> np.ndarray:
    """Evaluate the periodic cubic B-spline surface with control points ``lattice`` on an h x w grid."""
    lattice = np.asarray(lattice, dtype=F32)
    gy, gx = lattice.shape
    ix, wx = _bspline_axis(w, gx)
    rows = lattice[:, ix[0]] * wx[0]
    for k in range(1, 4):
        rows += lattice[:, ix[k]] * wx[k]
    iy, wy = _bspline_axis(h, gy)
    out = rows[iy[0]]
    out *= wy[0][:, None]
    for k in range(1, 4):
        tmp = rows[iy[k]]
        tmp *= wy[k][:, None]
        out += tmp
    return out


def _refine(p: np.ndarray, axis: int) -> np.ndarray:
    """One periodic cubic B-spline subdivision step along ``axis`` (same surface, twice the nodes)."""
    prev = np.roll(p, 1, axis)
    nxt = np.roll(p, -1, axis)
    even = (prev + 6 * p + nxt) * F32(0.125)
    odd = (p + nxt) * F32(0.5)
    out = np.stack([even, odd], axis=axis + 1)
    shape = list(p.shape)
    shape[axis] *= 2
    return out.reshape(shape)


def fbm(rng: np.random.Generator, h: int, w: int, cell_y: float, cell_x: float | None = None, octaves: int = 6,
        gain: float = 0.5, min_cell: float = 1.5) -> np.ndarray:
    """Fractal value noise (about zero mean, unit standard deviation), periodic on h x w.

    The first octave has cells about ``cell_y`` x ``cell_x`` pixels (anisotropic when they differ);
    every further octave halves the cell size, down to ``min_cell`` pixels. Octaves are summed on the
    lattice by exact B-spline subdivision, so the cost is about one full-resolution evaluation.
    """
    cell_x = cell_y if cell_x is None else cell_x
    gy, gx = cell_count(h, cell_y), cell_count(w, cell_x)
    lat = rng.uniform(-1.0, 1.0, (gy, gx)).astype(F32)
    var = 1.0
    amp = 1.0
    for _ in range(1, max(1, octaves)):
        ry = h / (2 * lat.shape[0]) >= min_cell
        rx = w / (2 * lat.shape[1]) >= min_cell
        if not (ry or rx):
            break
        if ry:
            lat = _refine(lat, 0)
        if rx:
            lat = _refine(lat, 1)
        amp *= gain
        var += amp * amp
        lat += rng.uniform(-amp, amp, lat.shape).astype(F32)
    out = upsample(lat, h, w)
    out *= F32(1.0 / (_OCTAVE_STD * np.sqrt(var)))
    return out


class Cells:
    """Worley / Voronoi features of a jittered periodic grid of points (one point per cell).

    ``f1``/``f2``: distances to the nearest and second nearest point, in units of the mean cell size;
    ``cid``: the flat index (into a gy x gx grid) of the nearest point's cell; ``n``: the point count.
    """

    __slots__ = ("f1", "f2", "cid", "n", "shape", "oy", "ox")

    def __init__(self, f1, f2, cid, shape, oy=None, ox=None):
        self.f1, self.f2, self.cid, self.shape = f1, f2, cid, shape
        self.n = shape[0] * shape[1]
        # offset from the pixel to its nearest point, in cell units (when asked for)
        self.oy, self.ox = oy, ox

    @property
    def edge(self) -> np.ndarray:
        """F2 - F1: zero on the Voronoi borders, growing towards the cell centres."""
        return self.f2 - self.f1

    def per_cell(self, values: np.ndarray) -> np.ndarray:
        """Broadcast one value per cell (shape (n,) or (n, c)) to the pixels."""
        return np.asarray(values)[self.cid]


def cellular(rng: np.random.Generator, h: int, w: int, cell_y: float, cell_x: float | None = None,
             jitter: float = 0.9, offsets: bool = False) -> Cells:
    """Periodic Worley noise. Distances wrap around the image, so cells straddling an edge stay whole.

    Cells are about ``cell_y`` x ``cell_x`` pixels; distances are measured in cell units, so
    anisotropic cells (cell_y != cell_x) give Voronoi cells elongated along the longer side.
    """
    cell_x = cell_y if cell_x is None else cell_x
    gy = cell_count(h, cell_y)
    gx = cell_count(w, cell_x)
    jit = F32(jitter)
    jy = (0.5 + (rng.random((gy, gx), dtype=F32) - 0.5) * jit).astype(F32)
    jx = (0.5 + (rng.random((gy, gx), dtype=F32) - 0.5) * jit).astype(F32)

    # The image edges fall on cell centres, not on the grid lines that Voronoi borders favour when
    # the jitter is below 1, so the wrap seam is an ordinary column/row of the pattern.
    uy = (np.arange(h, dtype=np.float64) + 0.5) * (gy / h) + 0.5
    ux = (np.arange(w, dtype=np.float64) + 0.5) * (gx / w) + 0.5
    cy = np.floor(uy).astype(np.int64)
    cx = np.floor(ux).astype(np.int64)
    # cell units of the nominal cell size: rounding to whole cells does not distort the metric
    ky = F32(h / gy / cell_y)
    kx = F32(w / gx / cell_x)
    fy = ((uy - cy).astype(F32) * ky)[:, None]
    fx = ((ux - cx).astype(F32) * kx)[None, :]
    cy %= gy
    cx %= gx

    big = F32(1e9)
    f1 = np.full((h, w), big, F32)
    f2 = np.full((h, w), big, F32)
    which = np.zeros((h, w), np.int8)  # the winning neighbour, 0..8; the cell id is derived at the end
    oy = np.zeros((h, w), F32) if offsets else None
    ox = np.zeros((h, w), F32) if offsets else None
    d = np.empty((h, w), F32)
    t = np.empty((h, w), F32)
    closer = np.empty((h, w), bool)
    for code, (di, dj) in enumerate((i, j) for i in (-1, 0, 1) for j in (-1, 0, 1)):
        # per cell: the neighbour's point relative to the cell corner, in metric units (small arrays)
        ny = (np.roll(jy, (-di, -dj), (0, 1)) + F32(di)) * ky
        nx = (np.roll(jx, (-di, -dj), (0, 1)) + F32(dj)) * kx
        py = np.take(np.take(ny, cy, axis=0), cx, axis=1)
        py -= fy
        px = np.take(np.take(nx, cy, axis=0), cx, axis=1)
        px -= fx
        np.multiply(py, py, out=d)
        np.multiply(px, px, out=t)
        d += t
        np.less(d, f1, out=closer)
        np.maximum(f1, d, out=t)
        np.minimum(f2, t, out=f2)  # the new second-nearest is max(f1, d) when it beats f2
        np.minimum(f1, d, out=f1)
        np.copyto(which, np.int8(code), where=closer)
        if offsets:
            np.copyto(oy, py, where=closer)
            np.copyto(ox, px, where=closer)
    np.sqrt(f1, out=f1)
    np.sqrt(f2, out=f2)
    wi = which.astype(np.int32)
    ry = (cy.astype(np.int32)[:, None] + wi // 3 - 1) % gy
    rx = (cx.astype(np.int32)[None, :] + wi % 3 - 1) % gx
    cid = ry * gx + rx
    return Cells(f1, f2, cid, (gy, gx), oy, ox)


def warp(field: np.ndarray, dy: np.ndarray | None, dx: np.ndarray | None) -> np.ndarray:
    """Sample ``field`` at (y + dy, x + dx) pixels, bilinearly and with wrap-around (stays periodic
    when the displacements are periodic)."""
    h, w = field.shape
    zero = np.zeros((h, w), F32)
    dy = zero if dy is None else np.broadcast_to(dy, (h, w))
    dx = zero if dx is None else np.broadcast_to(dx, (h, w))
    # pad by the largest displacement instead of wrapping every index
    my = int(np.ceil(float(np.abs(dy).max()))) + 2
    mx = int(np.ceil(float(np.abs(dx).max()))) + 2
    if my >= h or mx >= w:  # huge displacements: reduce them modulo the size first
        dy = dy - F32(h) * np.floor(dy * F32(1.0 / h))
        dx = dx - F32(w) * np.floor(dx * F32(1.0 / w))
        my, mx = min(h, int(np.ceil(float(dy.max()))) + 2), min(w, int(np.ceil(float(dx.max()))) + 2)
    padded = np.pad(field.astype(F32, copy=False), ((my, my), (mx, mx)), mode="wrap")
    pw = w + 2 * mx
    y = dy + (np.arange(h, dtype=F32) + F32(my))[:, None]
    x = dx + (np.arange(w, dtype=F32) + F32(mx))[None, :]
    y0 = np.floor(y)
    x0 = np.floor(x)
    y -= y0  # now the fractions
    x -= x0
    i00 = y0.astype(np.int32)
    i00 *= pw
    i00 += x0.astype(np.int32)
    flat = padded.ravel()
    a = flat.take(i00)
    b = flat.take(i00 + 1)
    i00 += pw
    c = flat.take(i00)
    d = flat.take(i00 + 1)
    b -= a
    b *= x
    a += b  # top row
    d -= c
    d *= x
    c += d  # bottom row
    c -= a
    c *= y
    a += c
    return a


def shift_sample(field: np.ndarray, oy: np.ndarray, ox: np.ndarray) -> np.ndarray:
    """field[(y + oy) % h, (x + ox) % w] for integer per-pixel offsets (no interpolation)."""
    h, w = field.shape[:2]
    y = (np.arange(h)[:, None] + oy) % h
    x = (np.arange(w)[None, :] + ox) % w
    return field[y, x]


def blur(field: np.ndarray, radius: int, passes: int = 2) -> np.ndarray:
    """A periodic box blur of the given radius, repeated ``passes`` times (about Gaussian)."""
    if radius < 1:
        return field
    out = field.astype(F32, copy=True)
    k = 2 * radius + 1
    for _ in range(passes):
        for axis in (0, 1):
            n = out.shape[axis]
            if k >= n:
                m = out.mean(axis=axis, keepdims=True, dtype=np.float64).astype(F32)
                out = np.broadcast_to(m, out.shape).copy()
                continue
            pad = np.concatenate(
                [np.take(out, range(n - radius - 1, n), axis=axis), out, np.take(out, range(radius), axis=axis)],
                axis=axis,
            ).astype(np.float64)
            c = np.cumsum(pad, axis=axis)
            hi = np.take(c, range(k, k + n), axis=axis)
            lo = np.take(c, range(0, n), axis=axis)
            out = ((hi - lo) / k).astype(F32)
    return out


def smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - F32(e0)) * F32(1.0 / (e1 - e0)), 0.0, 1.0)
    return t * t * (F32(3) - F32(2) * t)


def tri(x: np.ndarray) -> np.ndarray:
    """A periodic triangle wave of period 1 in [0, 1] (0 at integers, 1 at half-integers)."""
    f = x - np.floor(x)
    return F32(1) - np.abs(F32(2) * f - F32(1))


def wave(x: np.ndarray) -> np.ndarray:
    """A smooth periodic wave of period 1 in [0, 1], sine-like (smoothstep of a triangle)."""
    t = tri(x)
    return t * t * (F32(3) - F32(2) * t)


def gradient(field: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Central differences with wrap-around: (d/dy, d/dx) per pixel."""
    gy = (np.roll(field, -1, 0) - np.roll(field, 1, 0)) * F32(0.5)
    gx = (np.roll(field, -1, 1) - np.roll(field, 1, 1)) * F32(0.5)
    return gy, gx


def wrapped_offset(coord: np.ndarray, centre: float, period: float) -> np.ndarray:
    """coord - centre wrapped into [-period/2, period/2)."""
    d = coord - F32(centre)
    return d - F32(period) * np.floor(d * F32(1.0 / period) + F32(0.5))


def segments(
    field: np.ndarray,
    rng: np.random.Generator,
    count: int,
    length: tuple[float, float],
    width: float,
    angle: tuple[float, float] = (0.0, np.pi),
    strength: tuple[float, float] = (0.4, 1.0),
) -> np.ndarray:
    """Draw ``count`` soft straight strokes (scratches) into ``field`` in place, wrapping around.

    Each stroke touches only its bounding box, so many short strokes stay cheap. Lengths are in
    pixels; strokes fade out towards both ends. Returns ``field``.
    """
    import math

    h, w = field.shape
    for _ in range(count):
        ln = float(rng.uniform(*length))
        a = float(rng.uniform(*angle))
        st = float(rng.uniform(*strength))
        cy, cx = float(rng.uniform(0, h)), float(rng.uniform(0, w))
        wd = width * float(rng.uniform(0.6, 1.4))
        dy, dx = math.sin(a), math.cos(a)  # scalar libm: same on every machine
        hy = min(h - 1, int(abs(dy) * ln / 2 + wd + 2))
        hx = min(w - 1, int(abs(dx) * ln / 2 + wd + 2))
        ys = np.arange(int(cy) - hy // 1, int(cy) + hy + 1)
        xs = np.arange(int(cx) - hx // 1, int(cx) + hx + 1)
        ys = ys[: min(len(ys), h)]
        xs = xs[: min(len(xs), w)]
        ry = (ys.astype(F32) + F32(0.5) - F32(cy))[:, None]
        rx = (xs.astype(F32) + F32(0.5) - F32(cx))[None, :]
        along = rx * F32(dx) + ry * F32(dy)
        across = np.abs(ry * F32(dx) - rx * F32(dy))
        t = np.clip(np.abs(along) * F32(2.0 / ln), 0, 1)
        v = (F32(1) - smoothstep(0.0, wd, across)) * (F32(1) - t * t) * F32(st)
        iy = (ys % h)[:, None]
        ix = (xs % w)[None, :]
        np.maximum(field[iy, ix], v, out=v)
        field[iy, ix] = v
    return field
