"""PBR maps from an albedo: height, normal, roughness, ambient occlusion, ORM packing.

Every filter wraps around the borders (the texture is a torus), so a tileable albedo gives tileable
maps. All maps are float32 in [0, 1]; height, roughness and AO are (H, W, 1), normal is (H, W, 3).

Conventions
-----------
- **Height** is 1 for high, 0 for low. From the albedo it is a band-pass of luminance: fine noise
  removed by a small blur (``detail`` px), lighting gradients removed by subtracting a wide blur
  (``scale`` x the texture size), then mapped to [0, 1] by the 1st/99th percentiles.
- **Normal** from height: ``depth`` is the height range (0..1) expressed as a fraction of the texture
  width, so normals do not change when the texture is resized. With ``u`` to the right and ``v`` up,
  the surface is ``z = depth * W * h``; the tangent-space normal is ``normalize(-dz/du, -dz/dv, 1)``.
  Image rows grow downwards (``dv = -drow``), so OpenGL (Y+, green up) stores ``+dz/drow`` in Y and
  DirectX (Y-) stores ``-dz/drow``. Derivatives are 4th-order central differences with wrap.
  Encoded as ``n * 0.5 + 0.5``.
- **Roughness**: ``base + contrast * (0.5 - band-passed luminance)``: raised, bright, worn areas are
  smoother; crevices rougher. ``invert`` flips the relation for materials that are the other way round.
- **AO** from height: how far each point lies below the wrap-blurred mean of its neighbourhood at
  three radii (``radius``, /2, /4 of the size), ``1 - strength * cavity``.
- **ORM**: R = AO, G = roughness, B = metallic (Unreal's packing; glTF's occlusion/roughness/metallic).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from zpipe.texture import wrap


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    c = np.asarray(c, dtype=np.float32)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4).astype(np.float32)


_LUT_N = 4096


@lru_cache(maxsize=1)
def _srgb_lut() -> np.ndarray:
    return srgb_to_linear(np.linspace(0.0, 1.0, _LUT_N, dtype=np.float32))


def luminance(albedo: np.ndarray) -> np.ndarray:
    """Luminance for height derivation, (H, W): Rec. 709 weights on the sRGB values, then linearised
    (a 4096-entry table; weighting before linearising is ~1 % off true relative luminance and 10x
    cheaper, which does not matter for a height heuristic)."""
    img = np.asarray(albedo, dtype=np.float32)
    if img.ndim == 3 and img.shape[2] >= 3:
        y = img[..., 0] * 0.2126 + img[..., 1] * 0.7152 + img[..., 2] * 0.0722
    else:
        y = img if img.ndim == 2 else img[..., 0]
    idx = np.clip(y * (_LUT_N - 1) + 0.5, 0, _LUT_N - 1).astype(np.int32)
    return _srgb_lut()[idx]


def wide_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Wrap-around Gaussian blur that stays fast for large sigma (blur a downsampled copy, upsample)."""
    if sigma <= 6:
        return wrap.blur(img, sigma)
    h, w = img.shape[:2]
    f = sigma / 3.0
    sw, sh = max(4, int(round(w / f))), max(4, int(round(h / f)))
    small = wrap.resize(img, sw, sh, "area", wrap=True)
    small = wrap.blur(small, sigma * sw / w)
    return wrap.resize(small, w, h, "linear", wrap=True).astype(np.float32)


def _normalise(x: np.ndarray, lo_pct: float = 1.0, hi_pct: float = 99.0) -> np.ndarray:
    # percentiles on a strided sample: same answer to a few 1e-3 and much faster on big maps
    sample = x[:: max(1, x.shape[0] // 256), :: max(1, x.shape[1] // 256)]
    lo, hi = np.percentile(sample, [lo_pct, hi_pct])
    if hi - lo < 1e-6:
        return np.full(x.shape, 0.5, np.float32)
    return np.clip((x - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def band_pass(lum: np.ndarray, detail: float, scale: float) -> np.ndarray:
    """Luminance without pixel noise (blur ``detail`` px) and without lighting (minus a blur of
    ``scale`` x the size); zero-mean, unnormalised."""
    fine = wrap.blur(lum, detail) if detail > 0 else lum
    if scale <= 0:
        return (fine - fine.mean()).astype(np.float32)
    coarse = wide_blur(lum, scale * max(lum.shape))
    return (fine - coarse).astype(np.float32)


def relief_of(albedo: np.ndarray, detail: float = 1.0, scale: float = 0.25) -> np.ndarray:
    """The albedo's band-passed luminance mapped to [0, 1] (H, W): the shared source of height and
    roughness (compute it once and pass it as ``relief=`` to both)."""
    return _normalise(band_pass(luminance(albedo), detail, scale))


def height_from_albedo(albedo: np.ndarray, detail: float = 1.0, scale: float = 0.25,
                       invert: bool = False, relief: np.ndarray | None = None) -> np.ndarray:
    """Height (H, W, 1) in [0, 1] from the albedo's band-passed luminance."""
    h = relief_of(albedo, detail, scale) if relief is None else relief
    if invert:
        h = 1.0 - h
    return h[..., None]


def _d4(f: np.ndarray, axis: int) -> np.ndarray:
    """4th-order central difference with wrap: (8 (f[i+1] - f[i-1]) - (f[i+2] - f[i-2])) / 12."""
    n = f.shape[axis]
    p = np.concatenate([np.take(f, [n - 2, n - 1], axis), f, np.take(f, [0, 1], axis)], axis=axis)

    def sl(a: int) -> np.ndarray:  # p shifted so that index i reads f[i + a - 2]
        idx = [slice(None)] * f.ndim
        idx[axis] = slice(a, a + n)
        return p[tuple(idx)]

    return (sl(3) - sl(1)) * (8.0 / 12.0) - (sl(4) - sl(0)) * (1.0 / 12.0)


def normal_from_height(height: np.ndarray, depth: float = 0.02, convention: str = "opengl") -> np.ndarray:
    """Tangent-space normal map (H, W, 3) in [0, 1] from a height map (see the module doc)."""
    if convention not in ("opengl", "directx"):
        raise ValueError(f"convention must be opengl or directx, got {convention!r}")
    h = np.asarray(height, dtype=np.float32)
    if h.ndim == 3:
        h = h[..., 0]
    k = depth * h.shape[1]  # surface z per unit of height, in pixels
    dzdx = _d4(h, 1) * k
    dzdrow = _d4(h, 0) * k
    ny = dzdrow if convention == "opengl" else -dzdrow
    inv = 0.5 / np.sqrt(dzdx * dzdx + ny * ny + 1.0)  # encode n * 0.5 + 0.5 in one pass per channel
    out = np.empty(h.shape + (3,), np.float32)
    out[..., 0] = 0.5 - dzdx * inv
    out[..., 1] = 0.5 + ny * inv
    out[..., 2] = 0.5 + inv
    return out


def decode_normal(normal: np.ndarray) -> np.ndarray:
    """Unit vectors (H, W, 3) from an encoded normal map."""
    n = np.asarray(normal, dtype=np.float32)[..., :3] * 2.0 - 1.0
    return n / np.maximum(np.linalg.norm(n, axis=2, keepdims=True), 1e-8)


def roughness_from_albedo(albedo: np.ndarray, base: float = 0.7, contrast: float = 0.4, detail: float = 1.0,
                          scale: float = 0.25, invert: bool = False,
                          relief: np.ndarray | None = None) -> np.ndarray:
    """Roughness (H, W, 1) in [0, 1] (see the module doc)."""
    bp = relief_of(albedo, detail, scale) if relief is None else relief
    if invert:
        bp = 1.0 - bp
    return np.clip(base + contrast * (0.5 - bp), 0.0, 1.0).astype(np.float32)[..., None]


def ao_from_height(height: np.ndarray, strength: float = 0.8, radius: float = 0.03) -> np.ndarray:
    """Ambient occlusion (H, W, 1) in [0, 1], 1 = unoccluded (see the module doc)."""
    h = np.asarray(height, dtype=np.float32)
    if h.ndim == 3:
        h = h[..., 0]
    size = max(h.shape)
    cavity = np.zeros_like(h)
    for frac, weight in ((radius, 0.5), (radius / 2, 0.3), (radius / 4, 0.2)):
        sigma = max(0.5, frac * size)
        cavity += weight * np.maximum(wide_blur(h, sigma) - h, 0.0)
    # a cavity as deep as a quarter of the height range reads as fully occluded
    ao = 1.0 - strength * np.clip(cavity * 4.0, 0.0, 1.0)
    return ao.astype(np.float32)[..., None]


def pack_orm(ao: np.ndarray, roughness: np.ndarray, metallic: float | np.ndarray = 0.0) -> np.ndarray:
    """R = occlusion, G = roughness, B = metallic; (H, W, 3)."""
    a = np.asarray(ao, np.float32).reshape(ao.shape[:2])
    r = np.asarray(roughness, np.float32).reshape(roughness.shape[:2])
    m = np.broadcast_to(np.asarray(metallic, np.float32), a.shape)
    if m.ndim == 3:
        m = m[..., 0]
    return np.stack([a, r, m.astype(np.float32)], axis=2)
