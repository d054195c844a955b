import pytest

from zpipe.text.fonts import (
    DEFAULT_FAMILY,
    FontCoverageError,
    FontError,
    check_coverage,
    default_font,
    font_for,
    resolve_chain,
    resolve_font,
)


def test_default_font_is_bundled_noto_sans_cjk_sc():
    face = default_font()
    assert face.path.endswith("noto_cjk_sans_otc/NotoSansCJK-Regular.ttc")
    assert face.index == 2 and face.name == DEFAULT_FAMILY
    assert all(face.has(c) for c in "春节快乐未末己已土士人入Happy2024，。")
    assert resolve_font(None) == face == resolve_font("noto sans cjk sc")


def test_missing_glyphs_error_lists_characters_and_font():
    face = default_font()
    with pytest.raises(FontCoverageError) as err:
        check_coverage(["龙年 🐉 大吉", "Year of the Dragon क 🐉"], [face])
    assert str(err.value) == (
        f'font "Noto Sans CJK SC" ({face.path}#2) has no glyphs for 2 characters: '
        '"🐉" U+1F409, "क" U+0915; '
        "add a font that covers them to `fallback_fonts`, choose another `font`, or change the text"
    )
    assert err.value.missing == ["🐉", "क"]


def test_fallback_chain_covers_what_the_first_font_lacks(box_font):
    chain = resolve_chain(str(box_font))  # box font, then the default CJK font
    assert [f.name for f in chain] == ["Zpipe Test Boxes", DEFAULT_FAMILY]
    check_coverage(["龙年 🐉 大吉 क"], chain)  # no error: each character has a font
    assert [font_for(ch, chain).name for ch in "龙🐉क!"] == [
        DEFAULT_FAMILY, "Zpipe Test Boxes", "Zpipe Test Boxes", DEFAULT_FAMILY]
    with pytest.raises(FontCoverageError) as err:
        check_coverage(["ॐ and 龙"], resolve_chain(str(box_font), []))
    assert str(err.value).startswith(
        f'font "Zpipe Test Boxes" ({box_font}) has no glyphs for 5 characters: "ॐ" U+0950, "a" U+0061')
    with pytest.raises(FontCoverageError, match=r'^fonts "Zpipe Test Boxes" .*, "Noto Sans CJK SC" .* have no glyphs for 1 character: "ॐ" U\+0950;'):
        check_coverage(["ॐ"], chain)


def test_bad_font_specs_name_the_fix(tmp_path):
    with pytest.raises(FontError, match=r"^font file not found: /no/such/font.ttf; give an existing \.ttf/\.otf/\.ttc file"):
        resolve_font("/no/such/font.ttf")
    junk = tmp_path / "junk.ttf"
    junk.write_bytes(b"not a font")
    with pytest.raises(FontError, match=rf"^{junk} is not a font file fontTools can read"):
        resolve_font(str(junk))
    with pytest.raises(FontError, match=r"^no font named 'Definitely Not A Font' is installed \(known families: .*Noto Sans CJK SC"):
        resolve_font("Definitely Not A Font")
    with pytest.raises(FontError, match=r"has 10 face\(s\), so face #12 does not exist; use #0…#9"):
        resolve_font(default_font().path + "#12")
    assert resolve_font(default_font().path + "#3").name == "Noto Sans CJK TC"


def test_coverage_problem_for_validation(box_font):
    from zpipe.text.fonts import coverage_problem

    assert coverage_problem(["春节快乐", "Happy"]) is None
    assert coverage_problem(["龙🐉"], fallbacks=[]).startswith('font "Noto Sans CJK SC"')
    assert coverage_problem(["龙🐉"], str(box_font)) is None
    assert coverage_problem(["x"], "/missing.ttf").startswith("font file not found: /missing.ttf")
