"""Glyph-check stage: OCR the poster, score every line, best-of-N, typeset fallback.

* ``text: render`` posters: the engine's image is candidate 1. While no candidate passes and fewer
  than ``candidates`` (recipe) were tried, a new one is generated with the next candidate seed
  (``candidate_seed``). The best candidate is kept (passing first, then most lines passing, then
  mean NED); every candidate's scores are recorded.
* If none passes and ``fallback: typeset``, a text-free background is generated (prompt from
  ``compose_background_prompt``; two seeds at most, the one with least stray text is kept), the
  lines are typeset on it and the result is OCR-checked again.
* ``text: typeset`` posters (typeset ran before this stage) are checked once; if no typeset stage
  ran, this stage typesets first.
* A poster that still fails raises StageFailure naming the line and what was read, carrying the
  metrics (``StageFailure.metrics``) so the manifest shows every candidate's scores.

Metrics (manifest ``metrics.glyph_check``): ``pass``, ``rule``, ``path`` (render | typeset |
fallback), ``lines`` (the kept image's per-line ``expected, found, ned, exact, pass``), ``mean_ned``,
``unmatched``, ``extra_chars``, ``candidates`` (one entry per candidate: seed, pass, mean_ned,
lines), ``chosen``; when this stage typeset the poster, ``typeset`` (``layout``, as the typeset
stage records it) and for the fallback ``background`` (prompt, seed, stray_text).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from zpipe.params import Param
from zpipe.stages.base import Asset, Stage, StageContext, StageFailure, StageResult
from zpipe.stages.typeset import (
    TYPESET_PARAMS,
    check_typeset_params,
    font_key,
    text_free_background,
    typeset_lines,
)

GOLDEN = 0x9E3779B1


def candidate_seed(base: int, k: int) -> int:
    """Seed of candidate k (k = 0 is the job's own seed): a golden-ratio stride, so candidates of
    neighbouring jobs do not collide."""
    return (int(base) + k * GOLDEN) % 2**32


def _rank(result: dict[str, Any]) -> tuple:
    return (bool(result["pass"]), sum(1 for ln in result["lines"] if ln["pass"]), result["mean_ned"])


def describe_failure(result: dict[str, Any]) -> str:
    bad = [ln for ln in result["lines"] if not ln["pass"]]
    if not bad and result.get("unmatched"):
        return f"other text on the poster: {', '.join(repr(t) for t in result['unmatched'])}"
    return "; ".join(f"{ln['expected']!r} read as {ln['found']!r} (NED {ln['ned']:.2f})" if ln["found"]
                     else f"{ln['expected']!r} not found" for ln in bad)


class GlyphCheckStage(Stage):
    name = "glyph_check"
    doc = "OCR the poster and check every text line; best-of-N candidates, typeset fallback."
    kinds = ("posters",)
    params = {
        "rule": Param(str, "exact", "Pass rule per line: exact (after normalisation) or ned (NED ≥ min_ned).",
                      choices=("exact", "ned")),
        "min_ned": Param(float, 0.9, "Lowest NED that passes under rule ned.", min=0.0, max=1.0),
        "max_extra_chars": Param(int, -1, "Fail posters with more than this many characters of other text "
                                          "(stray or garbled lettering); -1 = only report it.", min=-1),
        "ignore_punct": Param(bool, True, "Ignore punctuation (，。！“” etc.; OCR often drops it) when comparing."),
        **TYPESET_PARAMS,  # used by the typeset fallback
    }

    @classmethod
    def key_inputs(cls, params: dict[str, Any]) -> dict[str, Any]:
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as dist_version

        try:  # the OCR model decides which candidate is kept
            ocr = dist_version("rapidocr_onnxruntime")
        except PackageNotFoundError:
            ocr = None
        return {**font_key(params), "ocr": ocr}

    @classmethod
    def check(cls, params: dict[str, Any]) -> dict[str, str]:
        return check_typeset_params(params)

    def run(self, asset: Asset, params: dict[str, Any], ctx: StageContext) -> StageResult:
        from zpipe.text.check import check_image
        from zpipe.text.prompt import check_lines

        try:
            lines = check_lines(asset.fields.get("lines"))
        except ValueError as exc:
            raise StageFailure(str(exc)) from None
        expected = [line["text"] for line in lines]
        p = self.resolve(params)
        rule, min_ned = p["rule"], float(p["min_ned"])
        ignore_punct = bool(p["ignore_punct"])

        def check(image) -> dict[str, Any]:
            return check_image(image, expected, rule=rule, min_ned=min_ned, ignore_punct=ignore_punct,
                               max_extra_chars=int(p["max_extra_chars"]))

        mode = asset.fields.get("text", "render")
        fallback = asset.fields.get("fallback", "typeset")
        budget = max(1, int(asset.fields.get("candidates") or 1))
        metrics: dict[str, Any] = {"rule": rule, "path": "typeset" if mode == "typeset" else "render"}
        if rule == "ned":
            metrics["min_ned"] = min_ned

        image = asset.images["poster"]
        images: dict[str, Any] = {}
        if mode == "typeset" and "typeset" not in asset.metrics:
            # `text: typeset` but no typeset stage ran before this one: typeset here rather than
            # judge (and ship) the bare engine image.
            from zpipe.stages.typeset import TypesetStage

            ts = TypesetStage().run(asset, params, ctx)
            image = images["poster"] = ts.images["poster"]
            metrics["typeset"] = ts.metrics
        result = check(image)
        candidates = [{"seed": asset.seed, **_brief(result)}]
        best, best_image, chosen = result, image, 0
        if mode != "typeset":
            while not best["pass"] and len(candidates) < budget:
                seed = candidate_seed(asset.seed, len(candidates))
                img = ctx.generate([replace(ctx.request, seed=seed)])[0].image
                res = check(img)
                candidates.append({"seed": seed, **_brief(res)})
                if _rank(res) > _rank(best):
                    best, best_image, chosen = res, img, len(candidates) - 1
        metrics.update(candidates=candidates, chosen=chosen)
        if chosen:
            images = {"poster": best_image}

        if not best["pass"] and mode != "typeset" and fallback == "typeset":
            background, prompt, bg_seed, stray = self._background(asset, ctx)
            out, layout = typeset_lines(background, lines, params)
            best = check(out)
            images = {"poster": out}
            metrics.update(path="fallback", typeset={"layout": layout},
                           background={"prompt": prompt, "seed": bg_seed, "stray_text": stray})

        metrics.update(best)
        if not best["pass"]:
            tried = f"{len(candidates)} candidate{'s' if len(candidates) != 1 else ''}"
            where = {"render": f"no render passed ({tried}, fallback none)",
                     "fallback": f"no render passed ({tried}) and the typeset fallback failed too",
                     "typeset": "the typeset poster failed"}[metrics["path"]]
            failure = StageFailure(f"{where}: {describe_failure(best)}")
            failure.metrics = metrics  # the executor records these in the manifest
            raise failure
        return StageResult(images=images, metrics=metrics)

    @staticmethod
    def _background(asset: Asset, ctx: StageContext):
        """A text-free background; of two seeds at most, the first without stray OCR text."""
        from zpipe.text.ocr import read_text

        best = None
        for k in range(2):
            seed = candidate_seed(asset.seed, 1000 + k)
            image, prompt = text_free_background(asset, ctx, seed)
            stray = [b.text for b in read_text(image)]
            if best is None or len(stray) < len(best[3]):
                best = (image, prompt, seed, stray)
            if not stray:
                break
        return best


def _brief(result: dict[str, Any]) -> dict[str, Any]:
    return {"pass": result["pass"], "mean_ned": result["mean_ned"], "lines": result["lines"]}
