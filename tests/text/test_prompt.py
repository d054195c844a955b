import pytest

from zpipe.text.prompt import check_lines, compose_background_prompt, compose_prompt, detect_lang, quote

LINES = [
    {"role": "title", "text": "春节快乐", "lang": "zh", "placement": None},
    {"role": "subtitle", "text": "Happy Spring Festival", "lang": "en", "placement": None},
    {"role": "body", "text": "2月10日 · 上海", "lang": "auto", "placement": "bottom"},
]


def test_prompt_quotes_every_line_verbatim_with_layout():
    p = compose_prompt("红色喜庆剪纸风格", LINES, 768, 1024)
    assert p.startswith("A vertical (portrait) poster. Style: 红色喜庆剪纸风格.")
    assert "at the top, a large bold title in Chinese that reads “春节快乐”" in p
    assert 'directly below the title, a medium-sized subtitle in English that reads "Happy Spring Festival"' in p
    assert "at the bottom, small body text in Chinese that reads “2月10日 · 上海”" in p
    assert "No other text" in p
    # order of lines preserved
    assert p.index("春节快乐") < p.index("Happy") < p.index("上海")


def test_orientation_and_background_prompt_has_no_text():
    assert compose_prompt("", LINES[:1], 1024, 576).startswith("A horizontal (landscape) poster.")
    assert compose_prompt("", LINES[:1], 1024, 1024).startswith("A square poster.")
    bg = compose_background_prompt("ink wash", LINES, 1024, 1024)
    assert "春节快乐" not in bg and "Happy" not in bg
    assert "the top and the bottom" in bg and "no text" in bg


def test_quote_avoids_clashing_marks():
    assert quote("你好", "zh") == "“你好”"
    assert quote('say "hi"', "en") == "“say \"hi\"”"
    assert quote("他说“好”", "zh") == "「他说“好”」"


def test_detect_lang():
    assert detect_lang("Hello 2024") == "en"
    assert detect_lang("Hello 世界") == "zh"


@pytest.mark.parametrize(
    "lines, message",
    [
        ([], "non-empty list"),
        ([{"text": ""}], "poster line 1: 'text' must be a non-empty string"),
        ([{"text": "a", "role": "header"}], "poster line 1: role must be one of title, subtitle, body, got 'header'"),
        ([{"text": "a"}, {"text": "b", "placement": "left"}], "poster line 2: placement must be one of top, center, bottom or null"),
        ([{"text": "a", "lang": "fr"}], "lang must be one of zh, zh-Hans, zh-Hant, en, auto, got 'fr'"),
    ],
)
def test_bad_lines_raise_clear_errors(lines, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        check_lines(lines)


def test_traditional_and_simplified_chinese_are_named_in_the_prompt():
    lines = [{"role": "title", "text": "繁體", "lang": "zh-Hant"}, {"role": "body", "text": "简体", "lang": "zh-Hans"}]
    prompt = compose_prompt("", lines, 512, 512)
    assert "in Traditional Chinese that reads “繁體”" in prompt and "in Simplified Chinese that reads “简体”" in prompt


POSTER = """\
name: p
kind: posters
engine: procedural
size: "16:9"
text: %s
assets:
  - id: launch
    style: bold sci-fi game launch key art, neon city skyline at night, cinematic
    title: {text: 星际远征, lang: zh, placement: top}
"""


@pytest.mark.parametrize("text", ["render", "typeset"])
def test_the_poster_request_carries_the_style_and_the_procedural_engine_follows_it_only(write_recipe, text):
    from dataclasses import replace

    from zpipe.engine.registry import create
    from zpipe.executors.job import request_for
    from zpipe.recipe import load_recipe

    job = load_recipe(write_recipe(POSTER % text)).jobs[0]
    req = replace(request_for(job), width=96, height=48)  # the prompt wraps the style: "landscape", "calm", "space"
    assert req.style == "bold sci-fi game launch key art, neon city skyline at night, cinematic"
    assert "landscape" in req.prompt and req.style in req.prompt
    engine = create("procedural")
    info = engine.generate([req])[0].info
    assert (info["style"], info["palette"]) == ("skyline", "neon")
    assert info["matched"] == ["neon", "city", "skyline", "night"]
    # No style given: the wrapper's words ("calm" would pick the gradient layout) choose nothing; the seed decides.
    bare = replace(req, prompt=compose_background_prompt("", [{"role": "title", "text": "星际远征"}], 96, 48), style="")
    assert "calm" in bare.prompt and engine.generate([bare])[0].info["matched"] == []
    # A request that is not a recipe's poster (no style): its prompt is all style.
    assert engine.generate([replace(req, prompt="misty mountains", style=None)])[0].info["style"] == "mountains"
