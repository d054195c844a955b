"""The ``upscale`` stage: x2 or x4, keeping the wrap.

- ``lanczos``: wrap-aware Lanczos (pad by wrap, resize, crop) for every role; normal maps are
  renormalised.
- ``refine``: Lanczos, then img2img at low ``strength`` on the albedo, in engine-sized tiles laid on
  the torus with wrap-around overlaps (:mod:`zpipe.texture.refine`), so no seam appears at tile
  boundaries or at the texture's border. Needs ``Capability.IMG2IMG``.
- ``auto`` (default): ``refine`` when the engine can do img2img, else ``lanczos``.
- ``model: PATH``: an ESRGAN-family network (RRDBNet: Real-ESRGAN, 4x-UltraSharp …) from a
  ``.safetensors`` file upscales the colour role (albedo or poster) in tiles that wrap around for
  textures (:mod:`zpipe.texture.esrgan`; needs torch); data maps get Lanczos. When the model's scale is
  not ``factor``, its output is resampled (wrap-aware area/Lanczos) to ``factor``.

Metrics: factor, size, the method used (and why), tiles, and seam scores before/after per role.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from zpipe.engine.base import Capability, Request
from zpipe.integrity import file_sha256
from zpipe.params import Param
from zpipe.stages.base import Asset, Stage, StageContext, StageFailure, StageResult
from zpipe.texture import wrap
from zpipe.texture.export import renormalise
from zpipe.texture.refine import refine_tiled
from zpipe.texture.seam import seam_scores


def _scores(img: np.ndarray) -> dict[str, float]:
    return {a: round(v, 4) for a, v in seam_scores(img, "xy").items()}


def _method(p: dict[str, Any], ctx: StageContext, metrics: dict[str, Any]) -> str:
    """model, refine or lanczos: what ``mode`` means for this engine (a note in ``metrics`` if it falls back)."""
    can_refine = Capability.IMG2IMG in ctx.capabilities
    if p["model"]:
        return "model"
    if p["mode"] == "auto":
        return "refine" if can_refine else "lanczos"
    if p["mode"] == "refine" and not can_refine:
        metrics["note"] = f"engine {ctx.engine_name or ''} cannot do img2img; used lanczos".replace("  ", " ")
        return "lanczos"
    return p["mode"]


def _lanczos(role: str, img: np.ndarray, f: int, periodic: bool) -> np.ndarray:
    h, w = img.shape[:2]
    up = wrap.resize(img, w * f, h * f, "lanczos", wrap=periodic)
    if role == "normal" and up.ndim == 3 and up.shape[2] >= 3:
        up = renormalise(up)
    return up


class UpscaleStage(Stage):
    name = "upscale"
    doc = ("Upscale x2/x4 with wrap-aware Lanczos, optionally refined by tiled img2img on the torus, or with an "
           "ESRGAN-family model (RRDBNet, safetensors) in wrap-around tiles.")
    params = {
        "factor": Param(int, 2, "scale factor", choices=(2, 4)),
        "mode": Param(str, "auto", "lanczos, refine (Lanczos + tiled img2img), or auto (refine when the "
                      "engine can do img2img)", choices=("auto", "lanczos", "refine")),
        "strength": Param(float, 0.3, "img2img strength for refine (low keeps the composition)",
                          min=0.05, max=0.9),
        "tile": Param(int, 1024, "refine tile size in pixels (a multiple of 16)", min=64, max=4096),
        "overlap": Param(float, 0.25, "refine tile overlap, as a fraction of the tile", min=0.1, max=0.5),
        "wrap": Param(str, "auto", "treat images as periodic: auto (textures yes, posters no), yes, no",
                      choices=("auto", "yes", "no")),
        "model": Param(str, "", "ESRGAN-family (RRDBNet) .safetensors weights for the colour role, e.g. "
                       "Real-ESRGAN x4plus or 4x-UltraSharp (pickle files are refused); replaces mode"),
        "model_tile": Param(int, 256, "model: tile size in input pixels (smaller uses less memory)",
                            min=32, max=4096),
    }

    @classmethod
    def check(cls, params: dict[str, Any]) -> dict[str, str]:
        model = params.get("model") or ""
        if not model:
            return {}
        path = Path(model).expanduser()
        if path.suffix.lower() != ".safetensors":
            return {"model": f"{model} is not a .safetensors file; pickle checkpoints (.pth, .pt, .ckpt) can run "
                             "code when loaded: convert it once to .safetensors"}
        if not path.is_file():
            return {"model": f"{model} does not exist; give the path of an ESRGAN .safetensors file"}
        return {}

    @classmethod
    def key_inputs(cls, params: dict[str, Any]) -> dict[str, Any]:
        model = params.get("model") or ""
        return {"model_sha256": _file_sha256(str(Path(model).expanduser()))} if model else {}

    @classmethod
    def output_size(cls, params: dict[str, Any], size: tuple[int, int]) -> tuple[int, int] | None:
        f = int(params.get("factor", 2))
        return size[0] * f, size[1] * f

    def run(self, asset: Asset, params: dict[str, Any], ctx: StageContext) -> StageResult:
        p = self.resolve(params)
        f = int(p["factor"])
        periodic = p["wrap"] == "yes" or (p["wrap"] == "auto" and asset.kind == "textures")
        metrics: dict[str, Any] = {"factor": f, "wrap": periodic}
        mode = _method(p, ctx, metrics)
        out = {role: _lanczos(role, img, f, periodic) for role, img in asset.images.items()}
        color_role = "albedo" if "albedo" in out else ("poster" if "poster" in out else None)
        if mode == "refine" and color_role is not None:
            out[color_role], metrics["tiles"] = self._refine(out[color_role], asset, p, ctx, periodic)
        if mode == "model" and color_role is not None:
            out[color_role], metrics["model_scale"] = _model_upscale(asset.images[color_role], p, f, periodic)
        metrics["method"] = mode
        first = next(iter(out.values()), None)
        if first is not None:
            metrics["size"] = [int(first.shape[1]), int(first.shape[0])]
        if periodic:
            metrics["seam_before"] = {r: _scores(img) for r, img in asset.images.items()}
            metrics["seam_after"] = {r: _scores(img) for r, img in out.items()}
        return StageResult(images=out, metrics=metrics)

    def _refine(self, image: np.ndarray, asset: Asset, p: dict[str, Any], ctx: StageContext,
                periodic: bool) -> tuple[np.ndarray, int]:
        base = ctx.request
        prompt = getattr(base, "prompt", asset.prompt)
        seed = getattr(base, "seed", asset.seed)
        steps = getattr(base, "steps", 8)
        kind = getattr(base, "kind", "texture")

        def run_tiles(tiles: list[np.ndarray]) -> list[np.ndarray]:
            reqs = [Request(prompt=prompt, width=t.shape[1], height=t.shape[0], seed=seed + i, steps=steps,
                            kind=kind, init_image=t, strength=float(p["strength"]), style=getattr(base, "style", None))
                    for i, t in enumerate(tiles)]
            return [np.asarray(g.image, np.float32) for g in ctx.generate(reqs)]

        if periodic:
            return refine_tiled(image, run_tiles, tile=int(p["tile"]), overlap=float(p["overlap"]))
        # posters: no wrap; the same machinery on a clamped canvas would blend the opposite border in,
        # so refine the whole image at once when it fits in one request.
        h, w = image.shape[:2]
        if h % 16 or w % 16:
            return image, 0
        (done,) = run_tiles([np.ascontiguousarray(image[..., :3])])
        res = image.copy()
        res[..., :3] = np.clip(done, 0, 1)
        return res, 1


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def _file_sha256(path: str) -> str:
    """The model file's content hash (it is part of the cache key), remembered per path, size and mtime."""
    try:
        st = os.stat(path)
    except OSError:
        return "missing"
    key = (path, st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        _SHA_CACHE[key] = file_sha256(Path(path))
    return _SHA_CACHE[key]


def _model_upscale(image: np.ndarray, p: dict[str, Any], factor: int, periodic: bool) -> tuple[np.ndarray, int]:
    """The colour role through the ESRGAN model (RGB; an alpha channel gets Lanczos), at ``factor``."""
    try:
        import torch  # noqa: PLC0415 - only recipes that name a model need torch

        from zpipe.texture import esrgan  # noqa: PLC0415
    except ImportError:
        raise StageFailure("upscale.model needs torch: pip install 'zpipe[zimage]'") from None
    device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        net = esrgan.cached_model(Path(p["model"]).expanduser(), device)
    except esrgan.ModelError as exc:
        raise StageFailure(str(exc)) from None
    h, w = image.shape[:2]
    rgb = image[..., :3] if image.shape[2] >= 3 else np.repeat(image[..., :1], 3, axis=2)
    up = esrgan.upscale(net, rgb, tile=int(p["model_tile"]), wrap=periodic, device=device)
    if net.scale != factor:
        up = wrap.resize(up, w * factor, h * factor, "auto", wrap=periodic)
    if image.shape[2] == 4:
        alpha = wrap.resize(image[..., 3:], w * factor, h * factor, "lanczos", wrap=periodic)
        up = np.concatenate([up, alpha], axis=2)
    elif image.shape[2] < 3:
        up = up.mean(axis=2, keepdims=True)
    return up.astype(np.float32), net.scale
