from pathlib import Path

import pytest


def build_box_font(path: Path, chars: str, family: str = "Zpipe Test Boxes") -> Path:
    """A tiny TrueType font whose glyphs for ``chars`` are filled boxes (fontTools FontBuilder)."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    def box_glyph(w, inset):
        pen = TTGlyphPen(None)
        pen.moveTo((inset, 0))
        pen.lineTo((inset, 700))
        pen.lineTo((w - inset, 700))
        pen.lineTo((w - inset, 0))
        pen.closePath()
        return pen.glyph()

    names = [".notdef", "space"] + [f"uni{ord(c):04X}" for c in chars]
    fb = FontBuilder(1000, isTTF=True)
    fb.setupGlyphOrder(names)
    fb.setupCharacterMap({32: "space", **{ord(c): f"uni{ord(c):04X}" for c in chars}})
    glyphs = {".notdef": box_glyph(500, 50), "space": TTGlyphPen(None).glyph()}
    glyphs.update({f"uni{ord(c):04X}": box_glyph(800, 100) for c in chars})
    fb.setupGlyf(glyphs)
    fb.setupHorizontalMetrics({n: (250 if n == "space" else 800 if n.startswith("uni") else 500, 0) for n in names})
    fb.setupHorizontalHeader(ascent=880, descent=-120)
    fb.setupNameTable({"familyName": family, "styleName": "Regular"})
    fb.setupOS2(sTypoAscender=880, sTypoDescender=-120, usWinAscent=880, usWinDescent=120)
    fb.setupPost()
    fb.save(str(path))
    return path


@pytest.fixture
def box_font(tmp_path):
    """A font file that covers only 'क' and '🐉' (which Noto Sans CJK lacks)."""
    return build_box_font(tmp_path / "boxes.ttf", "क🐉")


@pytest.fixture(scope="session")
def glyph_checkers():
    """Worker processes that render and check generated posters, one OCR thread each (glyph_set.check_pool):
    started once for the twin sets and the accuracy set."""
    from glyph_set import check_pool

    with check_pool() as pool:
        yield pool
