"""Glyph-check and typeset stages end to end, with real OCR."""

from dataclasses import replace

import numpy as np
import pytest
from helpers import make_asset

from zpipe.engine.base import Capability, Generated, Request
from zpipe.stages.base import StageContext, StageFailure, apply
from zpipe.stages.glyph_check import GlyphCheckStage, candidate_seed
from zpipe.stages.typeset import TypesetStage
from zpipe.text.check import check_image
from zpipe.text.prompt import compose_prompt
from zpipe.text.typeset import Style, demo_background, typeset

LINES = [
    {"role": "title", "text": "未来已来", "lang": "zh", "placement": None},
    {"role": "subtitle", "text": "The Future Is Here", "lang": "en", "placement": None},
]
W, H = 512, 640


def defaults(stage):
    return stage.resolve({})


class HandEngine:
    """A hand-made engine: gradient backgrounds; quoted-text prompts get the text drawn on them,
    correctly only for seeds in ``good_seeds`` (else with 未 -> 末), like a model that garbles glyphs."""

    def __init__(self, good_seeds=()):
        self.good_seeds = set(good_seeds)
        self.requests: list[Request] = []

    def generate(self, requests):
        out = []
        for r in requests:
            self.requests.append(r)
            bg = demo_background(r.width, r.height, seed=r.seed % 1000)
            if "reads" in r.prompt:  # a text prompt from compose_prompt
                lines = LINES if r.seed in self.good_seeds else [
                    {**LINES[0], "text": "末来已来"}, LINES[1]]
                bg, _ = typeset(bg, lines, style=Style(scrim="on"))
            out.append(Generated(bg, {"seed": r.seed}))
        return out


def make(engine, *, text="render", fallback="typeset", candidates=3, seed=7):
    prompt = compose_prompt("calm gradient", LINES, W, H)
    req = Request(prompt=prompt, width=W, height=H, seed=seed, kind="poster", style="calm gradient")
    image = engine.generate([req])[0].image
    asset = make_asset({"poster": image}, kind="posters", asset_id="p", seed=seed, prompt=prompt,
                       fields={"lines": LINES, "style": "calm gradient", "text": text, "fallback": fallback,
                               "candidates": candidates})
    ctx = StageContext(generate=engine.generate, capabilities=frozenset({Capability.TEXT}), request=req,
                       engine_name="hand")
    return asset, ctx


def test_best_of_n_keeps_the_first_passing_candidate_and_records_all():
    good = candidate_seed(7, 2)
    engine = HandEngine(good_seeds={good})
    asset, ctx = make(engine, candidates=4)
    stage = GlyphCheckStage()
    result = stage.run(asset, defaults(stage), ctx)
    apply(asset, result, stage.name)
    m = asset.metrics["glyph_check"]
    assert m["pass"] is True and m["path"] == "render" and m["chosen"] == 2
    assert [c["seed"] for c in m["candidates"]] == [7, candidate_seed(7, 1), good]
    assert [c["pass"] for c in m["candidates"]] == [False, False, True]
    first = m["candidates"][0]["lines"][0]
    assert [b["text"] for b in first.pop("boxes")] == ["末来已来"]
    assert first == {"expected": "未来已来", "found": "末来已来", "ned": 0.75, "exact": False, "pass": False}
    assert m["lines"][0]["found"] == "未来已来"
    assert result.images["poster"] is not None and len(engine.requests) == 3  # stopped at the pass


def test_fallback_typesets_a_passing_poster_over_a_text_free_background():
    engine = HandEngine(good_seeds=())
    asset, ctx = make(engine, candidates=2)
    stage = GlyphCheckStage()
    result = stage.run(asset, defaults(stage), ctx)
    apply(asset, result, stage.name)
    m = asset.metrics["glyph_check"]
    assert m["path"] == "fallback" and m["pass"] is True
    assert [c["pass"] for c in m["candidates"]] == [False, False]
    assert [ln["exact"] for ln in m["lines"]] == [True, True]
    assert "未来已来" not in m["background"]["prompt"] and "no text" in m["background"]["prompt"]
    assert engine.requests[-1].kind == "poster" and "reads" not in engine.requests[-1].prompt
    assert m["typeset"]["layout"]["lines"][0]["rows"] == ["未来已来"]
    # each line records where it was read, inside the box it was typeset in (the review page draws them)
    for line, placed in zip(m["lines"], m["typeset"]["layout"]["lines"]):
        (x0, y0, x1, y1), (px0, py0, px1, py1) = line["boxes"][0]["box"], placed["box"]
        assert px0 - 4 <= x0 < x1 <= px1 + 4 and py0 - 4 <= y0 < y1 <= py1 + 4, (line["boxes"], placed["box"])
    # the delivered poster passes an independent check
    assert check_image(asset.images["poster"], [ln["text"] for ln in LINES])["pass"]


def test_no_fallback_fails_with_message_and_keeps_scores():
    asset, ctx = make(HandEngine(), fallback="none", candidates=2)
    stage = GlyphCheckStage()
    with pytest.raises(StageFailure, match=r"^no render passed \(2 candidates, fallback none\): "
                                           r"'未来已来' read as '末来已来' \(NED 0\.75\)$") as err:
        stage.run(asset, defaults(stage), ctx)
    assert err.value.metrics["pass"] is False
    assert len(err.value.metrics["candidates"]) == 2


def test_ned_rule_accepts_a_near_miss():
    asset, ctx = make(HandEngine(), fallback="none", candidates=1)
    stage = GlyphCheckStage()
    result = stage.run(asset, {**defaults(stage), "rule": "ned", "min_ned": 0.7}, ctx)
    assert result.metrics["pass"] is True and result.metrics["lines"][0]["ned"] == 0.75


def test_typeset_primary_path_then_glyph_check():
    engine = HandEngine()
    asset, ctx = make(engine, text="typeset")
    ts = TypesetStage()
    r1 = ts.run(asset, {**defaults(ts), "colour": "gold", "stroke": 0.04}, ctx)
    # the job prompt quoted the text, so the stage asked for a clean background first
    assert r1.metrics["background"]["regenerated"] is True
    apply(asset, r1, ts.name)
    gc = GlyphCheckStage()
    r2 = gc.run(asset, defaults(gc), ctx)
    assert r2.metrics["pass"] is True and r2.metrics["path"] == "typeset" and r2.images == {}
    assert asset.metrics["typeset"]["layout"]["lines"][0]["colour"] == "#ffd700"


def test_typeset_stage_reports_font_problems_as_failures():
    asset, ctx = make(HandEngine(), text="typeset")
    asset.job = replace(asset.job, prompt="a clean background")
    ts = TypesetStage()
    with pytest.raises(StageFailure, match=r"^font file not found: /nope\.ttf"):
        ts.run(asset, {**defaults(ts), "font": "/nope.ttf"}, ctx)
    asset.job = replace(asset.job, fields={**asset.fields, "lines": [{"role": "title", "text": "龙🐉"}]})
    with pytest.raises(StageFailure, match=r'no glyphs for 1 character: "🐉" U\+1F409'):
        ts.run(asset, defaults(ts), ctx)


def test_an_engine_that_cannot_draw_text_is_typeset_at_once():
    from zpipe.engine.registry import create

    engine = create("procedural")
    assert Capability.TEXT not in engine.capabilities
    prompt = compose_prompt("red festive paper-cut", LINES, W, H)
    req = Request(prompt=prompt, width=W, height=H, seed=3, kind="poster", style="red festive paper-cut")
    asset = make_asset({"poster": engine.generate([req])[0].image}, kind="posters", asset_id="p", seed=3,
                       prompt=prompt, fields={"lines": LINES, "style": "red festive paper-cut", "text": "render",
                                              "fallback": "typeset", "candidates": 4})
    calls = []
    ctx = StageContext(generate=lambda reqs: calls.append(reqs) or engine.generate(reqs),
                       capabilities=engine.capabilities, request=req, engine_name=engine.name)
    stage = GlyphCheckStage()
    result = stage.run(asset, defaults(stage), ctx)
    m = result.metrics
    assert m["path"] == "typeset" and m["pass"] is True and m["candidates"] == []
    assert m["note"] == "engine procedural cannot render text: typeset directly"
    assert calls == []  # no render candidates, no second background
    assert np.asarray(result.images["poster"]).shape == (H, W, 3)
    assert check_image(result.images["poster"], [ln["text"] for ln in LINES])["pass"]


def test_unverified_lines_fail_rendered_posters_and_warn_on_typeset_ones():
    kana = [{"role": "title", "text": "こんにちは", "lang": "auto", "placement": None}]
    asset, ctx = make(HandEngine(), text="typeset")
    asset.job = replace(asset.job, prompt="a clean background", fields={**asset.fields, "lines": kana})
    asset.images = {"poster": demo_background(W, H, seed=4)}
    stage = GlyphCheckStage()
    params = {**defaults(stage), "fallback_fonts": ["Noto Sans CJK SC", "Noto Sans CJK JP"]}
    result = stage.run(asset, params, ctx)  # auto: typeset with a covering font -> warn
    assert result.metrics["pass"] is True and result.metrics["verdict"] == "unverified"
    assert "cannot read" in result.metrics["warnings"][0]
    with pytest.raises(StageFailure, match=r"'こんにちは' is unverified: the OCR cannot read 'こんにちは'"):
        stage.run(asset, {**params, "unverified": "fail"}, ctx)


def test_candidate_seeds_are_distinct_and_in_range():
    seeds = [candidate_seed(2**32 - 1, k) for k in range(64)]
    assert len(set(seeds)) == 64 and all(0 <= s < 2**32 for s in seeds)
    assert candidate_seed(5, 0) == 5
    assert replace(Request("x", 16, 16, 1), seed=candidate_seed(1, 1)).seed != 1


def test_validation_time_checks_name_bad_fonts_and_colours():
    for stage in (TypesetStage, GlyphCheckStage):
        good = defaults(stage)
        assert stage.check(good) == {}
        bad = stage.check({**good, "font": "/no/font.otf", "colour": "blurple", "fallback_fonts": ["Nope Sans"]})
        assert bad["font"].startswith("font file not found: /no/font.otf")
        assert bad["colour"].startswith("colour 'blurple' is not a colour")
        assert bad["fallback_fonts"].startswith("no font named 'Nope Sans' is installed")


def test_typeset_mode_without_a_typeset_stage_typesets_first():
    asset, ctx = make(HandEngine(), text="typeset")
    gc = GlyphCheckStage()
    result = gc.run(asset, defaults(gc), ctx)
    assert result.metrics["pass"] is True and result.metrics["path"] == "typeset"
    assert "poster" in result.images and result.metrics["typeset"]["background"]["regenerated"] is True


def test_failure_description_names_each_bad_line():
    from zpipe.stages.glyph_check import describe_failure

    result = {"lines": [{"expected": "春节", "found": "", "ned": 0.0, "pass": False},
                        {"expected": "未来", "found": "末来", "ned": 0.5, "pass": False},
                        {"expected": "ok", "found": "ok", "ned": 1.0, "pass": True}]}
    assert describe_failure(result) == "'春节' not found; '未来' read as '末来' (NED 0.50)"


def test_stray_text_fails_unless_allowed():
    asset, ctx = make(HandEngine(good_seeds={7}), fallback="none", candidates=1)
    asset.job = replace(asset.job, fields={**asset.fields, "lines": [LINES[1]]})  # the image also shows 未来已来
    stage = GlyphCheckStage()
    with pytest.raises(StageFailure, match=r"other text on the poster: '未来已来'"):
        stage.run(asset, defaults(stage), ctx)
    ok = stage.run(asset, {**defaults(stage), "max_extra_chars": -1}, ctx)
    assert ok.metrics["pass"] is True and ok.metrics["extra_text"] == ["未来已来"]
    assert ok.metrics["warnings"] == ["other text on the image: '未来已来'"]


def test_the_resolved_fonts_and_the_ocr_version_enter_the_key():
    from zpipe.stages.glyph_check import GlyphCheckStage

    params = GlyphCheckStage.resolve({})
    extra = GlyphCheckStage.key_inputs(params)
    assert extra["ocr"] == "1.4.4"
    assert extra["fonts"][0].startswith("Noto Sans CJK SC (NotoSansCJK-Regular.ttc#2")
    assert "/" not in extra["fonts"][0]  # the same on every machine with the same font
