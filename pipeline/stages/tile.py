"""The ``tile`` stage: the seam gate.

Scores the wrap seam of each gated role (:func:`zpipe.texture.seam.seam_score`, ~1 for a periodic image)
on the recipe's ``axes``. When a score is above ``max_seam``:

1. repair: half-offset, then fill the seam cross by the engine's inpainting (when the engine has
   ``Capability.INPAINT`` and ``repair`` is ``auto`` or ``inpaint``) or by a classical blend;
2. re-check;
3. re-seed: ask the engine for a new image with another seed (then check, and repair if needed),
   up to ``retries`` times;
4. still failing: :class:`StageFailure` (the asset is marked failed; the exception carries the same
   metrics as ``exc.metrics``).

Run it before ``pbr``: a repair changes every role alike (albedo by inpainting or blend, other roles by
blend), but a re-seed can only replace the albedo, so it is skipped when other roles exist.

With ``edge_aware`` (default), a score above ``max_seam`` still passes when the seam is no stronger
than the image's strongest edges (:func:`zpipe.texture.seam.seam_peak` <= 1.25): a gradient metric cannot tell a
seam from a grout line or plank joint lying exactly on the border, and "repairing" such a periodic
texture would damage it.

Metrics: ``scores_before`` and ``scores`` ({role: {axis: score}}), ``passed``, ``seed`` (the seed of
the image kept), and ``attempts``, one entry per step: ``{"action": check|repair|reseed, ...}``, with
``peaks`` when scores over ``max_seam`` were looked at with the edge-aware check.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from zpipe.engine.base import Capability, Request
from zpipe.params import Param
from zpipe.stages.base import Asset, Stage, StageContext, StageFailure, StageResult
from zpipe.texture import repair as rep
from zpipe.texture.seam import seam_peaks, seam_scores

PEAK_LIMIT = 1.25  # edge-aware gate: a seam up to 25 % above the strongest 1 % of interior edges passes
RESEED_STEP = 1_000_003  # seeds tried after the job's seed s: s + k * RESEED_STEP (mod 2**32)


def _round(scores: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    return {r: {a: round(float(v), 4) for a, v in s.items()} for r, s in scores.items()}


class TileStage(Stage):
    name = "tile"
    doc = "Seam gate: score the wrap seam, repair (inpaint or blend), re-seed, or fail the asset."
    kinds = ("textures",)
    params = {
        "max_seam": Param(float, 2.0, "largest seam score that passes (a periodic image scores about 1)",
                          min=0.5, max=100.0),
        "axes": Param(str, "xy", "axes that must wrap", choices=("x", "y", "xy")),
        "repair": Param(str, "auto", "how to repair a failing seam: auto (inpaint when the engine can, "
                        "else blend), inpaint, blend, none", choices=("auto", "inpaint", "blend", "none")),
        "retries": Param(int, 2, "re-seeds after a failed repair", min=0, max=20),
        "band": Param(float, 0.125, "width of the inpainted band across each seam, as a fraction of the size",
                      min=0.02, max=0.5),
        "blend_width": Param(float, 0.5, "width the classical repair's cuts may use across each seam, as a "
                             "fraction of the size", min=0.05, max=1.0),
        "strength": Param(float, 1.0, "inpainting strength (1 = repaint the band fully)", min=0.05, max=1.0),
        "roles": Param(list, ["albedo"], "roles that must pass the gate", item=str),
        "edge_aware": Param(bool, True, "also pass a seam about as strong as the image's strongest edges "
                            "(seam peak <= 1.25: e.g. a grout line or plank joint lying on the border)"),
    }

    def run(self, asset: Asset, params: dict[str, Any], ctx: StageContext) -> StageResult:
        p = self.resolve(params)
        axes, limit = p["axes"], float(p["max_seam"])
        roles = [r for r in p["roles"]]
        missing = [r for r in roles if r not in asset.images]
        if missing:
            raise StageFailure(f"role {missing[0]!r} does not exist; available: {', '.join(asset.images)}")
        # every role is repaired alike (so maps stay aligned); the gate looks at ``roles``
        images = {r: np.asarray(img, np.float32) for r, img in asset.images.items()}
        seed = asset.seed
        attempts: list[dict[str, Any]] = []
        metrics: dict[str, Any] = {"axes": axes, "max_seam": limit}

        def check(imgs: dict[str, np.ndarray], entry: dict[str, Any]) -> bool:
            """Score ``imgs`` into ``entry`` (scores, peaks when looked at, passed); True when all pass."""
            s = _round({r: seam_scores(imgs[r], axes) for r in roles})
            over = [(r, a) for r, per in s.items() for a, v in per.items() if v > limit]
            entry["scores"] = s
            if over and p["edge_aware"]:
                peaks = _round({r: seam_peaks(imgs[r], axes) for r in sorted({r for r, _ in over})})
                entry["peaks"] = peaks
                over = [(r, a) for r, a in over if peaks[r][a] > PEAK_LIMIT]
            entry["passed"] = not over
            return not over

        first = {"action": "check", "seed": seed}
        ok = check(images, first)
        attempts.append(first)
        metrics["scores_before"] = first["scores"]
        changed = False
        reseeds = 0
        while not ok:
            if p["repair"] != "none":
                images, how = self._repair(images, p, ctx, seed, asset)
                changed = True
                entry = {"action": "repair", "method": how, "seed": seed}
                ok = check(images, entry)
                attempts.append(entry)
                if ok:
                    break
            if reseeds >= p["retries"]:
                break
            fresh = self._reseed(asset, ctx, reseeds + 1)
            if fresh is None:
                attempts.append({"action": "reseed", "skipped": "no engine request, or roles other than "
                                 "albedo exist (run tile before pbr)"})
                break
            reseeds += 1
            seed, images = fresh
            changed = True
            entry = {"action": "reseed", "seed": seed}
            ok = check(images, entry)
            attempts.append(entry)
        scores = next(a["scores"] for a in reversed(attempts) if "scores" in a)

        metrics.update(scores=scores, passed=ok, seed=seed, reseeds=reseeds, attempts=attempts,
                       repaired=any(a["action"] == "repair" for a in attempts))
        if not ok:
            worst = max(((r, a, v) for r, per in scores.items() for a, v in per.items()), key=lambda t: t[2])
            raise StageFailure(f"seam score {worst[2]:.2f} on {worst[0]} axis {worst[1]} is above "
                               f"max_seam {limit} after {len(attempts) - 1} repair/re-seed step(s)", metrics)
        return StageResult(images=images if changed else {}, metrics=metrics)

    # -- steps ---------------------------------------------------------------------------------

    def _repair(self, images: dict[str, np.ndarray], p: dict[str, Any], ctx: StageContext, seed: int,
                asset: Asset) -> tuple[dict[str, np.ndarray], str]:
        axes = p["axes"]
        use_engine = p["repair"] in ("auto", "inpaint") and Capability.INPAINT in ctx.capabilities
        if p["repair"] == "inpaint" and not use_engine:
            how = "blend (engine cannot inpaint)"
        else:
            how = "inpaint" if use_engine else "blend"
        out: dict[str, np.ndarray] = {}
        rest = dict(images)
        albedo = images.get("albedo")
        if use_engine and albedo is not None and albedo.shape[0] % 16 == 0 and albedo.shape[1] % 16 == 0:
            h, w = albedo.shape[:2]
            rolled = rep.half_offset(albedo, axes)
            mask = rep.cross_mask(h, w, axes, p["band"])
            base = ctx.request
            req = Request(prompt=getattr(base, "prompt", asset.prompt), width=w, height=h, seed=seed,
                          steps=getattr(base, "steps", 8), tile=getattr(base, "tile", axes),
                          kind="texture", init_image=np.ascontiguousarray(rolled[..., :3]), mask=mask,
                          strength=float(p["strength"]))
            gen = ctx.generate([req])[0].image.astype(np.float32)
            patched = rolled.copy()
            patched[..., :3] = rep.composite(rolled[..., :3], gen, mask)
            out["albedo"] = rep.unroll(patched, axes)
            rest.pop("albedo")
        elif use_engine and albedo is not None:
            how = "blend (size not a multiple of 16)"
        if rest:
            guide = "albedo" if "albedo" in rest else next(iter(rest))
            out.update(rep.blend_repair_roles(rest, guide, axes, band=p["blend_width"]))
        return out, how

    def _reseed(self, asset: Asset, ctx: StageContext, k: int) -> tuple[int, dict[str, np.ndarray]] | None:
        if ctx.request is None or set(asset.images) != {"albedo"}:
            return None
        new_seed = (asset.seed + k * RESEED_STEP) % (2**32)
        req = dataclasses.replace(ctx.request, seed=new_seed)
        img = np.asarray(ctx.generate([req])[0].image, np.float32)
        return new_seed, {"albedo": img}
