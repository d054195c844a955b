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
* An engine without ``Capability.TEXT`` (the procedural engine) cannot draw text: its image is
  typeset at once, with no render candidates, and ``note`` in the metrics says so.
* Lines with characters the OCR cannot read are ``unverified``: param ``unverified`` (``auto``:
  fail for rendered text, warn for typeset text, whose font coverage was checked).
* A poster that still fails raises StageFailure naming the line and what was read, carrying the
  metrics (``StageFailure.metrics``) so the manifest shows every candidate's scores.

Metrics (manifest ``metrics.glyph_check``): ``pass``, ``rule``, ``path`` (render | typeset |
fallback), ``lines`` (the kept image's per-line ``expected, found, ned, exact, pass``), ``mean_ned``,
``unmatched``, ``extra_text``, ``extra_chars``, ``verdict``, ``warnings``, ``candidates`` (one entry per candidate: seed, pass, mean_ned,
lines), ``chosen``; when this stage typeset the poster, ``typeset`` (``layout``, as the typeset
stage records it) and for the fallback ``background`` (prompt, seed, stray_text).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from zpipe.params import Param
from zpipe.stages.base import Asset, Stage, StageContext, StageFailure, StageResult
from zpipe.text.poster import (
    TYPESET_PARAMS,
    check_typeset_params,
    font_key,
    text_free_background,
    typeset_lines,
    typeset_poster,
)

GOLDEN = 0x9E3779B1


def candidate_seed(base: int, k: int) -> int:
    """Seed of candidate k (k = 0 is the job's own seed): a golden-ratio stride, so candidates of
    neighbouring jobs do not collide."""
    return (int(base) + k * GOLDEN) % 2**32


def _rank(result: dict[str, Any]) -> tuple:
    return (bool(result["pass"]), sum(1 for ln in result["lines"] if ln["pass"]), result["mean_ned"],
            -len(result.get("extra_text", [])))


def describe_failure(result: dict[str, Any]) -> str:
    parts = []
    for ln in result["lines"]:
        if ln["pass"]:
            continue
        if ln.get("status") == "unverified":
            parts.append(f"{ln['expected']!r} is unverified: the OCR cannot read {''.join(ln['unverified'])!r} "
                         "(set `unverified: warn` to accept it)")
        elif ln["found"]:
            parts.append(f"{ln['expected']!r} read as {ln['found']!r} (NED {ln['ned']:.2f})")
        else:
            parts.append(f"{ln['expected']!r} not found")
    if result.get("extra_text") and result.get("verdict") == "fail":
        parts.append(f"other text on the poster: {', '.join(repr(t) for t in result['extra_text'])}")
    return "; ".join(parts)


class GlyphCheckStage(Stage):
    name = "glyph_check"
    doc = "OCR the poster and check every text line; best-of-N candidates, typeset fallback."
    kinds = ("posters",)
    params = {
        "rule": Param(str, "exact", "Pass rule per line: exact (after normalisation) or ned (NED ≥ min_ned).",
                      choices=("exact", "ned")),
        "min_ned": Param(float, 0.9, "Lowest NED that passes under rule ned.", min=0.0, max=1.0),
        "max_extra_chars": Param(int, 1, "Fail posters with a box of other text (read with confidence ≥ 0.8: "
                                         "a stamp, a duplicated line, garbled lettering) longer than this many "
                                         "characters; -1 = only report it.", min=-1),
        "ignore_punct": Param(bool, True, "Ignore soft punctuation (，。“” quotes, brackets; OCR often drops it) "
                                          "when comparing; meaningful marks (3.5, 10:30, %, &, ?, !) always count."),
        "unverified": Param(str, "auto", "A line with characters the OCR cannot read (kana, hangul, €, rare "
                                         "traditional forms): fail or warn; auto = fail for rendered text, warn "
                                         "for text typeset with a font that covers it.",
                            choices=("auto", "fail", "warn")),
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
        from zpipe.engine.base import Capability
        from zpipe.text.check import check_image
        from zpipe.text.prompt import check_lines

        try:
            lines = check_lines(asset.fields.get("lines"))
        except ValueError as exc:
            raise StageFailure(str(exc)) from None
        expected = [line["text"] for line in lines]
        p = self.resolve(params)
        rule, min_ned = p["rule"], float(p["min_ned"])
        policy = p["unverified"]

        def check(image, typeset: bool) -> dict[str, Any]:
            # typeset text was drawn from the expected characters: no look-alike can have crept in
            return check_image(image, expected, rule=rule, min_ned=min_ned, ignore_punct=bool(p["ignore_punct"]),
                               max_extra_chars=int(p["max_extra_chars"]),
                               unverified=("warn" if typeset else "fail") if policy == "auto" else policy,
                               unseen_lookalikes=not typeset)

        mode = asset.fields.get("text", "render")
        fallback = asset.fields.get("fallback", "typeset")
        budget = max(1, int(asset.fields.get("candidates") or 1))
        metrics: dict[str, Any] = {"rule": rule, "path": "typeset" if mode == "typeset" else "render"}
        if rule == "ned":
            metrics["min_ned"] = min_ned

        image = asset.images["poster"]
        images: dict[str, Any] = {}
        if mode != "typeset" and Capability.TEXT not in ctx.capabilities:
            # Every render candidate of an engine that cannot draw text would fail: typeset at once,
            # over the engine's image (which has no text in it).
            out, layout = typeset_lines(image, lines, params)
            best = check(out, typeset=True)
            images = {"poster": out}
            metrics.update(path="typeset", typeset={"layout": layout}, candidates=[], chosen=None,
                           note=f"engine {ctx.engine_name or '(unnamed)'} cannot render text: typeset directly")
            return self._finish(best, metrics, images, 0)
        if mode == "typeset" and "typeset" not in asset.metrics:
            # `text: typeset` but no typeset stage ran before this one: typeset here rather than
            # judge (and ship) the bare engine image.
            image, ts_metrics = typeset_poster(asset, params, ctx)
            images["poster"] = image
            metrics["typeset"] = ts_metrics
        result = check(image, typeset=mode == "typeset")
        candidates = [{"seed": asset.seed, **_brief(result)}]
        best, best_image, chosen = result, image, 0
        if mode != "typeset":
            while not best["pass"] and len(candidates) < budget:
                seed = candidate_seed(asset.seed, len(candidates))
                img = ctx.generate([replace(ctx.request, seed=seed)])[0].image
                res = check(img, typeset=False)
                candidates.append({"seed": seed, **_brief(res)})
                if _rank(res) > _rank(best):
                    best, best_image, chosen = res, img, len(candidates) - 1
        metrics.update(candidates=candidates, chosen=chosen)
        if chosen:
            images = {"poster": best_image}

        if not best["pass"] and mode != "typeset" and fallback == "typeset":
            background, prompt, bg_seed, stray = self._background(asset, ctx)
            out, layout = typeset_lines(background, lines, params)
            best = check(out, typeset=True)
            images = {"poster": out}
            metrics.update(path="fallback", typeset={"layout": layout},
                           background={"prompt": prompt, "seed": bg_seed, "stray_text": stray})
        return self._finish(best, metrics, images, len(candidates))

    @staticmethod
    def _finish(best: dict[str, Any], metrics: dict[str, Any], images: dict[str, Any], tried: int) -> StageResult:
        metrics.update(best)
        if not best["pass"]:
            n = f"{tried} candidate{'s' if tried != 1 else ''}"
            where = {"render": f"no render passed ({n}, fallback none)",
                     "fallback": f"no render passed ({n}) and the typeset fallback failed too",
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
