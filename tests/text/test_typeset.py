import numpy as np
import pytest

from zpipe.text.fonts import FontCoverageError, default_font, resolve_chain
from zpipe.text.typeset import (
    NO_END,
    NO_START,
    Style,
    TypesetError,
    balanced_wrap,
    demo_background,
    layout,
    parse_colour,
    tokens,
    typeset,
    wrap,
)


def width10(s):
    return 10.0 * len(s)


def test_tokens_glue_punctuation_by_kinsoku_rules():
    assert tokens("他说：“你好！”") == ["他", "说：", "“你", "好！”"]
    assert tokens("Hello, big world") == ["Hello,", " ", "big", " ", "world"]
    assert tokens("（注）2024年") == ["（注）", "2024", "年"]
    assert tokens("好 ，再见") == ["好 ，", "再", "见"]  # a space does not free closing punctuation
    assert tokens("（ 注") == ["（ 注"]


@pytest.mark.parametrize("width", [30, 40, 50, 60, 70, 80, 90])
def test_no_row_starts_with_closing_or_ends_with_opening_punctuation(width):
    text = "春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少？「静夜思」（李白）"
    for rows in (wrap(text, width, width10), balanced_wrap(text, width, width10)):
        assert "".join(rows) == text
        for r in rows:
            assert r[0] not in NO_START, rows
            assert r[-1] not in NO_END, rows


def test_latin_breaks_only_at_spaces_and_balances():
    rows = balanced_wrap("Happy Spring Festival to all of you", 200, width10)
    assert rows == ["Happy Spring Festival", "to all of you"] or max(map(len, rows)) - min(map(len, rows)) <= 6
    assert " ".join(rows) == "Happy Spring Festival to all of you"
    # a word wider than the line is hyphenated at dictionary points (pyphen)
    rows = wrap("Supercalifragilistic", 100, width10)
    assert len(rows) >= 2 and all(width10(r) <= 100 for r in rows)
    assert all(r.endswith("-") for r in rows[:-1]) and "".join(r.rstrip("-") for r in rows) == "Supercalifragilistic"
    assert wrap("Internationalization", 100, width10) == ["Interna-", "tionaliza-", "tion"]
    # no hyphenation point fits: split between letters as a last resort
    assert wrap("Zzzzzzzzzzzzzzz", 100, width10) == ["Zzzzzzzzzz", "zzzzz"]


def test_kinsoku_lists_cover_the_less_common_brackets():
    assert set("〗〙〛｠〟｣．") <= NO_START and set("〖〘〚｟｢") <= NO_END
    assert tokens("〖新品〗上市") == ["〖新", "品〗", "上", "市"]


def bold_sibling(folder, text: str) -> tuple[str, str]:
    """A font file named like a Bold weight whose names make it the default face's Bold (its glyphs for
    ``text``): what fonts-noto-cjk installs, made here so that the test knows the answer. (path, full name)"""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    face = default_font()
    font = TTFont(face.path, fontNumber=face.index)
    sub = subset.Subsetter()
    sub.populate(text=text)
    sub.subset(font)
    full = f"{face.name} Bold"
    for record in font["name"].names:
        if record.nameID in (2, 17):
            record.string = "Bold"
        elif record.nameID in (4, 6):
            record.string = full if record.nameID == 4 else full.replace(" ", "")
    path = str(folder / "TestSans-Bold.otf")
    font.save(path)
    return path, full


@pytest.mark.parametrize("installed", [True, False])
def test_titles_use_a_real_bold_face_when_one_is_installed(tmp_path, monkeypatch, installed):
    from zpipe.text import fonts

    bold_files = (bold_sibling(tmp_path, "春节快乐")[0],) if installed else ()
    monkeypatch.setattr(fonts, "_bold_files", lambda: bold_files)  # the system's font folders, searched
    fonts.bold_of.cache_clear()
    try:
        _, record = typeset(demo_background(512, 512, seed=1), [{"role": "title", "text": "春节快乐"},
                                                                {"role": "body", "text": "正文"}])
    finally:
        fonts.bold_of.cache_clear()  # the next test searches the real folders again
    title, body = record["lines"]
    if installed:
        path, full = bold_files[0], f"{default_font().name} Bold"
        assert title["bold"] == fonts.FontFace(path, 0, full).label()
        assert title["bold"].startswith(full + " (TestSans-Bold.otf#0")
    else:
        assert title["bold"] == "faux (no Bold face of the font is installed)"
    assert "bold" not in body


def test_traditional_chinese_lines_use_the_traditional_face():
    from zpipe.text.check import check_image

    lines = [{"role": "title", "text": "繁體中文", "lang": "zh-Hant"}, {"role": "body", "text": "简体中文", "lang": "zh"}]
    img, record = typeset(demo_background(512, 512, seed=2), lines)
    assert record["lines"][0]["font"].startswith("Noto Sans CJK TC")
    assert record["lines"][1]["font"].startswith("Noto Sans CJK SC")
    assert check_image(img, [ln["text"] for ln in lines], threads=1)["pass"]


def test_balanced_wrap_never_leaves_an_orphan_and_prefers_punctuation():
    assert balanced_wrap("春节快乐万事如意恭喜发财", 100, width10) == ["春节快乐万事", "如意恭喜发财"]
    assert balanced_wrap("欢迎光临，新春灯会开幕啦", 110, width10) == ["欢迎光临，", "新春灯会开幕啦"]


def test_autofit_shrinks_long_titles_and_errors_when_impossible():
    chain = resolve_chain(None)
    short = layout([{"role": "title", "text": "春节"}], 1024, 1024, chain)
    long = layout([{"role": "title", "text": "春节快乐万事如意恭喜发财身体健康阖家幸福"}], 1024, 1024, chain)
    assert long[0].size < short[0].size and len(long[0].rows) <= 2
    assert all(r.x >= 0 and r.x + r.width <= 1024 for r in long[0].rows)
    with pytest.raises(TypesetError, match=r"^the poster text does not fit a 256x256 poster even at the smallest size"):
        layout([{"role": "body", "text": "很长的正文" * 40}], 256, 256, chain)


def test_placements_stack_without_overlap():
    chain = resolve_chain(None)
    lines = [
        {"role": "title", "text": "春节快乐"},
        {"role": "subtitle", "text": "Happy Spring Festival"},
        {"role": "body", "text": "二月十七日 上海", "placement": "center"},
        {"role": "body", "text": "www.example.com"},
    ]
    placed = layout(lines, 768, 1024, chain)
    spans = sorted((p.top, p.bottom) for p in placed)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
    assert placed[0].size > placed[1].size > placed[3].size >= 32


def test_typeset_draws_text_with_contrast_and_reports_layout():
    bg = demo_background(512, 512, seed=1)
    out, record = typeset(bg, [{"role": "title", "text": "你好 World"}], style=Style(colour="#ffcc00", stroke=0.05, scrim="none"))
    assert out.shape == bg.shape and out.dtype == np.float32
    assert np.abs(out - bg).max() > 0.5
    line = record["lines"][0]
    assert line["colour"] == "#ffcc00" and line["rows"] == ["你好 World"]
    x0, y0, x1, y1 = line["box"]
    changed = np.abs(out - bg).sum(axis=2) > 0.3
    ys, xs = np.nonzero(changed)
    assert ys.min() >= y0 - 10 and ys.max() <= y1 + 20  # ink (plus shadow) stays near the box


def test_typeset_errors_name_the_problem():
    bg = demo_background(256, 256)
    with pytest.raises(FontCoverageError, match=r'^font "Noto Sans CJK SC" .* has no glyphs for 1 character: "🐉" U\+1F409'):
        typeset(bg, [{"role": "title", "text": "龙🐉"}], fallback_fonts=[])
    with pytest.raises(TypesetError, match=r"^colour 'reddish' is not a colour; use '#RRGGBB', a CSS name"):
        typeset(bg, [{"role": "title", "text": "龙"}], style=Style(colour="reddish"))
    assert parse_colour("auto") is None and parse_colour("#fff") == (255, 255, 255)
    assert default_font().has("龙")


def test_explicit_newlines_break_lines():
    chain = resolve_chain(None)
    placed = layout([{"role": "body", "text": "第一行\n第二行 second"}], 768, 1024, chain)
    assert [r.text for r in placed[0].rows] == ["第一行", "第二行 second"]


PRESETS = [(1024, 1024), (848, 1200), (1200, 848), (1024, 1456), (1456, 1024), (1344, 768), (768, 1344), (512, 512)]


@pytest.mark.parametrize("size", PRESETS)
@pytest.mark.parametrize("n", [1, 6, 14, 30, 60])
def test_layout_stays_on_the_page_or_says_it_cannot(size, n):
    w, h = size
    chain = resolve_chain(None)
    rng = np.random.default_rng(n * 7 + w)
    pool = "春节快乐万事如意恭喜发财身体健康，。欢迎光临Happy New Year 2026 "
    def text(k):
        return "".join(rng.choice(list(pool), k)).strip() or "春"
    lines = [{"role": "title", "text": text(max(2, n // 4))}, {"role": "subtitle", "text": text(max(2, n // 2))},
             {"role": "body", "text": text(n)}]
    try:
        placed = layout(lines, w, h, chain)
    except TypesetError as exc:
        assert "does not fit" in str(exc)
        return
    for p in placed:
        assert p.size >= 32
        src = lines[p.index]["text"]
        for k, r in enumerate(p.rows):
            assert 0 <= r.x and r.x + r.width <= w + 0.5
            assert r.text
            assert r.text[0] not in NO_START or (k == 0 and src[0] in NO_START)  # unless the text starts so
            assert r.text[-1] not in NO_END or (k == len(p.rows) - 1 and src.rstrip()[-1] in NO_END)
        assert 0 <= p.top < p.bottom <= h
    spans = sorted((p.top, p.bottom) for p in placed)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
    assert "".join("".join(r.text for r in p.rows) for p in placed).replace(" ", "") == \
        "".join(ln["text"] for ln in lines).replace(" ", "")


def test_accent_colour_comes_from_the_artwork_and_stays_legible():
    import colorsys

    from zpipe.text.typeset import _contrast, _luminance

    bg = np.zeros((512, 512, 3), np.float32)
    bg[...] = (0.45, 0.05, 0.05)  # deep red poster
    bg[300:, :] = (0.95, 0.7, 0.2)  # with a gold band lower down
    lines = [{"role": "title", "text": "春节快乐"}, {"role": "subtitle", "text": "Happy New Year"}]
    out, record = typeset(bg, lines, style=Style(colour="accent", scrim="none"))
    title, sub = record["lines"]
    rgb = tuple(int(title["colour"][i:i + 2], 16) / 255 for i in (1, 3, 5))
    assert colorsys.rgb_to_hsv(*rgb)[1] > 0.2  # a colour, not white
    bg_lum = float(_luminance(np.array((0.45, 0.05, 0.05), np.float32)))
    assert _contrast(float(_luminance(np.array(rgb, np.float32))), bg_lum) >= 4.5
    assert sub["colour"] == "#ffffff"  # only titles take the accent
    grey = np.full((512, 512, 3), 0.2, np.float32)
    assert typeset(grey, lines, style=Style(colour="accent"))[1]["lines"][0]["colour"] == "#ffffff"
