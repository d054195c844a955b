"""The ink check (zpipe.text.ink) on renders of its own, in fonts it was not tuned on: it names the look-alike
the ink shows, or nothing; never the wrong one. And through check_image: a wrong poster whose look-alike
the recogniser reads as the common form even alone (曰 as 日) now fails, and a look-alike that no
reading confirmed (its crop alone unreadable) is never passed silently."""

import numpy as np
import pytest
from glyph_set import installed_face as _face
from glyph_set import line_crop as _line_crop

# Installed fonts that none of the twin sets uses and that were kept out of choosing MARGIN: only checked.
CHECK_FONTS = ("HanaMinA", "BIZ UDGothic", "Klee One", "Noto Sans CJK SC")
PAIRS = ("日曰", "天夭", "茶荼", "戌戍", "已巳", "汨汩")


def test_the_ink_names_the_look_alike_shown_or_nothing_in_fonts_it_was_not_tuned_on():
    from zpipe.text import ink

    rng = np.random.default_rng(3)
    right = wrong = unclear = 0
    misses = []
    fonts = [f for f in map(_face, CHECK_FONTS) if f is not None]
    if len(fonts) < 2:
        pytest.skip("the check fonts are not installed")
    for face in fonts:
        pool = tuple(f for f in ink.template_faces() if f.path != face.path)  # its own file left out
        for pair in PAIRS:
            for ch in pair:
                if not face.has(ch):
                    continue
                for look in ("light", "dark", "blur", "jpeg"):
                    crop, own = _line_crop(ch, face, look, rng)
                    said = ink.which(crop, pair, own, faces=pool)
                    assert said == ink.which(crop, pair[::-1], own, faces=pool)  # symmetric in the members
                    right += said == ch
                    unclear += said is None
                    if said not in (None, ch):
                        wrong += 1
                        misses.append(f"{face.name} {ch} {look} -> {said}")
    assert wrong == 0, misses
    assert right >= 0.3 * (right + unclear), (right, unclear)


def test_the_ink_never_turns_a_common_character_into_its_rare_look_alike():
    """A correct 天 was decided 夭 (天天向上 in Noto Sans CJK SC with an outline, test_accuracy's case 2): the
    templates were rendered in a collection's first face only (JP, whose 天 has the longer upper bar), and two
    near fonts (one design in two weights) outvoted the others. Now every region's face is rendered and every
    font about as near as the nearest must agree. The common member of each pair, in Noto Sans and Serif CJK SC
    weights, plain, outlined and shadowed, at two sizes: the ink confirms it or stays undecided, never flips."""
    from zpipe.text import ink
    from zpipe.text.fonts import FontError, FontFace, resolve_font

    faces = []
    for kind in ("Sans", "Serif"):
        for weight in ("Regular", "Bold", "Black", "Light"):
            try:
                face = resolve_font(f"Noto {kind} CJK SC {weight}".replace(" Regular", ""))
            except FontError:
                continue
            faces.append(FontFace(face.path, face.index, face.name))
    if len(faces) < 4:
        pytest.skip("the Noto CJK SC weights are not installed")
    rng = np.random.default_rng(5)
    right = unclear = 0
    flips = []
    for face in faces:
        for pair in PAIRS:
            common, rare = pair  # 日 and 曰: the recogniser reads the second as the first
            for look in ("light", "outline", "shadow"):
                for size in (40, 56):
                    crop, own = _line_crop(common, face, look, rng, size)
                    said = ink.which(crop, pair, own)
                    right += said == common
                    unclear += said is None
                    if said == rare:
                        flips.append(f"{face.name} {common} {look} {size}")
    assert not flips, flips
    assert right >= 0.5 * (right + unclear), (right, unclear)


def test_the_ink_is_unclear_without_a_glyph():
    from zpipe.text import ink

    blank = np.full((60, 50, 3), 200, np.uint8)
    assert ink.which(blank, "日曰") is None
    clear, close = {"日": 0.4, "曰": 1.0}, {"日": 1.0, "曰": 1.1}
    assert ink.decide({"a": clear, "b": {"日": 0.5, "曰": 0.9}}) == "日"  # both fonts most like it agree
    assert ink.decide({"a": {"日": 4.0, "曰": 9.0}, "b": {"日": 5.0, "曰": 9.0}}) is None  # like no render: not a glyph
    assert ink.decide({"a": clear, "b": close}) is None  # one of them is not sure
    assert ink.decide({"a": clear, "b": {"日": 0.9, "曰": 0.45}}) is None  # they disagree
    assert ink.decide({"a": clear}) is None  # one font is not enough


@pytest.mark.parametrize("font", ["Noto Serif CJK SC", "AR PL UMing CN"])
def test_a_stroke_reaching_past_the_characters_span_stays_whole(font):
    """The recogniser's span of a character is rough: heldout #102's 入 (scaled down and up) had its left
    foot outside the span, and cut there its ink was like no render (1.37 from the nearest: not named). A
    piece of ink mostly inside the span is the character's, whole; one mostly outside is still cut off."""
    from zpipe.text import ink

    face = _face(font) or pytest.skip(f"{font} is not installed")
    crop, (a, z) = _line_crop("入", face, "light", np.random.default_rng(0), 44)
    dark = np.nonzero((crop.mean(axis=2) < 120)[:, a:z].any(axis=0))[0] + a
    foot = int(dark[0]) + max(3, (int(dark[-1]) - int(dark[0])) // 5)  # a fifth of the glyph's width left out
    assert ink.which(crop, "人入八", (foot, z)) == "入"
    mask = np.zeros((20, 30), bool)
    mask[5:15, 8:20] = True  # the character's stroke, mostly inside the span [10, 30)
    mask[5:15, 0:6] = True  # a neighbour's, wholly outside
    mask[2, 0:12] = True  # a neighbour's joined to nothing, mostly outside: cut at the span
    kept = ink._in_slice(mask, (10, 30))
    assert kept[5:15, 8:20].all() and not kept[:, 0:6].any() and kept[2, 10:12].all() and not kept[2, :10].any()


def _card(text: str, font: str, size: int):
    """Dark text on a light card, as a poster tool draws it (the probes of benchmarks/glyph_probes.py)."""
    from PIL import Image, ImageDraw

    from zpipe.text.fonts import FontError, resolve_font

    try:
        face = resolve_font(font)
    except FontError:
        pytest.skip(f"{font} is not installed")
    im = Image.new("RGB", (640, 360), (245, 244, 240))
    ImageDraw.Draw(im).text((60, 60), text, font=face.pil(size), fill=(20, 20, 24))
    return np.asarray(im)


def test_a_glyph_the_fonts_are_torn_about_is_named_by_renders_at_its_own_size():
    """A clean 巳 of 早巳出发 at 40 px in Noto Sans CJK SC: at the template size the fonts nearest it were
    torn (Noto Medium 巳, Micro Hei 已), and the poster passed as 早已出发 with a warning. Its own face
    drawn at its own size (the same pixel grid, so the same hinting) fits it at 0.00-0.01 and names 巳:
    the poster fails. The correct one still passes."""
    from zpipe.text import ink
    from zpipe.text.check import check_image

    wrong, right = _card("早巳出发", "Noto Sans CJK SC", 40), _card("早已出发", "Noto Sans CJK SC", 40)
    assert not check_image(wrong, ["早已出发"])["pass"]
    assert check_image(right, ["早已出发"])["pass"]
    assert ink._sized(30) == 30 and ink._sized(ink.SIZED_MAX + 1) == 0 and ink._sized(ink.MIN_RENDER - 1) == 0


def test_a_glyph_that_its_own_design_at_its_size_fits_is_named_by_that_design_alone():
    """A clean 荼 of 老荼馆 at 40 px in AR PL UKai: drawn at its size UKai fits it at 0.02 and names 荼 (茶 at
    1.07), the next font (AR PL KaitiM, 0.45) leans to 茶. A font twenty times farther is no evidence
    against the glyph's own design: the wrong poster fails, the correct one passes."""
    from zpipe.text.check import check_image

    wrong, right = _card("老荼馆", "AR PL UKai CN", 40), _card("老茶馆", "AR PL UKai CN", 40)
    assert not check_image(wrong, ["老茶馆"])["pass"]
    assert check_image(right, ["老茶馆"])["pass"]


def test_a_font_about_as_near_but_unsure_does_not_veto_the_nearest_two():
    """dev #15, a wrong 老荼馆 in a rotated bold serif on a texture: its fill was 荼 by a clear margin in the
    four fonts nearest it, but a fifth about as near was unsure (0.87 against 1.04), and the poster passed
    as 老茶馆 with a warning. A font about as near that leans to another member, or is torn, still vetoes."""
    from zpipe.text import ink

    clear, unsure = {"荼": 0.65, "茶": 1.06}, {"荼": 0.87, "茶": 1.04}
    assert ink.decide({"a": clear, "b": {"荼": 0.72, "茶": 1.09}, "c": unsure}) == "荼"
    assert ink.decide({"a": clear, "b": {"荼": 0.72, "茶": 1.09}, "c": {"荼": 0.9, "茶": 0.7}}) is None
    assert ink.decide({"a": clear, "b": {"荼": 0.72, "茶": 1.09}, "c": {"荼": 0.7, "茶": 0.72}}) is None  # torn
    assert ink.decide({"a": clear, "b": {"荼": 0.7, "茶": 0.8}, "c": {"荼": 0.72, "茶": 1.09}}) is None  # one of the nearest two


def test_an_outlined_glyph_is_judged_by_its_fill_where_the_colours_merge_fill_and_outline():
    """A red fill with a thin dark outline: three colours cannot hold the background, the fill, the outline
    and their blends, so k-means merges fill and outline into one dark red cluster, a glyph drawn thicker
    (the gap of 曰 closed: named 日; 候 named 侯). Such a cluster is split into its two inks, and the fill
    alone is a candidate too: outlined, the ink names the member shown or nothing, in fonts it lacks."""
    from zpipe.text import ink

    rng = np.random.default_rng(11)
    right = unclear = 0
    wrong = []
    fonts = [f for f in map(_face, ("Noto Serif CJK SC", "Noto Sans CJK SC", "WenQuanYi Micro Hei")) if f is not None]
    if len(fonts) < 2:
        pytest.skip("the fonts are not installed")
    for face in fonts:
        pool = tuple(f for f in ink.template_faces() if f.path != face.path)
        for pair in ("日曰", "候侯", "土士", "人入"):
            for ch in pair:
                if not face.has(ch):
                    continue
                crop, own = _line_crop(ch, face, "outline", rng)
                said = ink.which(crop, pair, own, faces=pool)
                right += said == ch
                unclear += said is None
                if said not in (None, ch):
                    wrong.append(f"{face.name} {ch} -> {said}")
    assert not wrong, wrong
    assert right >= 0.5 * (right + unclear), (right, unclear)


def test_an_unsure_candidate_ink_does_not_outvote_the_clear_one_nearest_a_render():
    """The crop's candidate inks (the text's colour, its edge or outline, both), as (distance to the nearest
    render, the member named): the one nearest a render decides, one unsure and farther is no evidence
    against it, nor one far less like a render (dev #37, 曰落大道 under clutter: a colour split from the
    clutter bar named 日 at 0.78, the fill 曰 at 0.30); two about as near that name different members, one
    just as near and unsure (an outlined serif 已: its fill split from the outline fits a render as well
    as the whole does and names 巳, the whole is unsure), or the nearest unsure, leave it undecided."""
    from zpipe.text.ink import agreed

    assert agreed([(0.3, "曰"), (0.4, None)]) == "曰"
    assert agreed([(0.8, None), (0.3, "曰"), (0.5, "曰")]) == "曰"
    assert agreed([(0.3, None), (0.5, "曰")]) is None  # the ink most like a glyph is unsure
    assert agreed([(0.3, "曰"), (0.4, "日")]) is None  # about as near (within SPREAD), naming another
    assert agreed([(0.3, "曰"), (0.6, "日")]) == "曰"  # far less like a render (a clutter colour): no evidence
    assert agreed([(0.3, "曰"), (0.32, None)]) is None  # just as like a render and unsure: torn
    assert agreed([(0.3, None), (0.4, None)]) is None
    assert agreed([]) is None


# Twin-set posters the ink now decides (set, case index, what it shows), checked as the set checks them.
TWIN_CASES = [
    ("dev", 37, "曰落大道 in a serif under a clutter bar: the fill is 曰 by a clear margin, the outline unsure"),
    ("heldout", 13, "技木分享 on a halftone screen: 木 alone is read 菜 at low confidence, its ink shows 木"),
    ("fresh", 53, "兔税商店 with a glow: the rereads of the failing line brought back 免 from the word prior"),
    ("fresh", 2, "a correct 己所不欲 in a light face: the line reads 已, 己 alone is unreadable, its ink shows 己"),
    ("heldout", 102, "a correct 18:30入场 scaled down and up: read 人 as a line and alone, its ink shows 入"),
]


@pytest.mark.slow
@pytest.mark.parametrize("name,i,what", TWIN_CASES, ids=[f"{n}-{i}" for n, i, _ in TWIN_CASES])
def test_twin_set_look_alikes_are_decided_by_their_ink(name, i, what):
    from glyph_set import check_case, installed_case

    case = installed_case(name, i) or pytest.skip("the case's font is not installed")
    result = check_case(case)
    if case.correct:
        assert result["pass"], (what, result)
    else:
        assert not result["pass"], (what, result)


def _poster(lines: list[str], font, size: int = 56, dots: bool = False) -> np.ndarray:
    from PIL import Image, ImageDraw

    w, h = 640, 120 + 90 * len(lines)
    im = Image.new("RGB", (w, h), (236, 232, 222))
    d = ImageDraw.Draw(im)
    if dots:  # a dot screen as dark as the text under and over it
        for y in range(0, h, 9):
            for x in range(0, w, 9):
                d.ellipse((x, y, x + 4, y + 4), fill=(60, 60, 60))
    for k, text in enumerate(lines):
        d.text((60, 50 + 90 * k), text, font=font.pil(size), fill=(20, 20, 24))
    return np.asarray(im, dtype=np.float32) / 255


@pytest.mark.slow
def test_a_look_alike_the_ocr_reads_as_the_common_form_fails_by_its_ink_or_warns():
    """曰落大道 for 日落大道 (the recogniser reads 曰 as 日 even alone): in a gothic font its ink is clear and the
    poster fails; in a ming font the ink may be left undecided, and then the pass carries the warning. The
    right poster passes in both."""
    from zpipe.text.check import check_image

    failed = 0
    for font in ("BIZ UDGothic", "HanaMinA"):
        face = _face(font)
        if face is None:
            continue
        right = check_image(_poster(["日落大道", "文化中心"], face), ["日落大道", "文化中心"])
        wrong = check_image(_poster(["曰落大道", "文化中心"], face), ["日落大道", "文化中心"])
        assert right["pass"], (font, right)
        if wrong["pass"]:
            assert wrong["lines"][0]["cannot_tell"] == ["日/曰"], (font, wrong)
        else:
            assert "曰" in wrong["lines"][0]["found"], (font, wrong)
            failed += 1
    if _face("BIZ UDGothic") is None:
        pytest.skip("BIZ UDGothic not installed")
    assert failed >= 1


@pytest.mark.slow
def test_a_look_alike_that_no_reading_confirms_is_a_doubt_not_a_pass():
    """技木分享 for 技术分享 over a halftone screen passed silently: the crop of 木 alone was read as 菜 at low
    confidence, which replaced nothing, and the character counted as checked. Now a look-alike whose crop
    is not read back as itself is a doubt with its whole group (the line's warning, ``cannot_tell``)."""
    from zpipe.text.match import Box
    from zpipe.text.ocr import lookalike_doubts

    face = _face("Noto Sans CJK SC")
    image = _poster(["技术分享"], face)
    h, w = image.shape[:2]
    blank = Box("技术分享", 60, h - 70, 290, h - 10, 0.9)  # the box says 术, the pixels there show nothing
    shown = Box("技术分享", 52, 44, 290, 118, 0.99)  # the line itself: 术 read back from its crop alone
    doubts = lookalike_doubts(image, [blank, shown])
    assert doubts[0] == {"术": "木本"}
    assert doubts[1] == {}


def test_the_ink_decides_only_pairs_the_fonts_draw_consistently():
    """日/曰 are drawn alike by every font (日 taller than wide), so the ink may decide them; the Arphic Kai fonts
    draw 汨 and 汩 crosswise to the other fonts, so with them at hand that pair is left to the warning."""
    from zpipe.text import ink

    faces = ink.template_faces()
    assert ink.fonts_agree("日曰", faces) and ink.fonts_agree("天夭", faces)
    ukai = _face("AR PL UKai CN")
    if ukai is None:
        pytest.skip("AR PL UKai CN not installed")
    pool = tuple(f for f in faces if f.path != ukai.path)
    assert not ink.fonts_agree("汨汩", (*pool, ukai))


@pytest.mark.slow
def test_a_table_look_alike_whose_ink_shows_another_member_fails_though_read_alike_alone():
    """气侯变化 for 气候变化 in Noto Sans CJK SC Black, 兔税商店 for 免税商店 in Light: the line and even the crop of the
    look-alike alone are read as the common form (候, 免), so the poster passed silently. The ink of a table
    look-alike read back alone is asked too, and where it clearly shows another member of the group that
    member is read (it was a doubt, a pass with ``cannot_tell``, until the ink was measured right 289 times
    in 294 against a lone reading); the correct posters still pass."""
    from zpipe.text.check import check_image
    from zpipe.text.fonts import FontError, resolve_font

    cases = [("Noto Sans CJK SC Black", "气候变化", "气侯变化"), ("Noto Sans CJK SC Light", "免税商店", "兔税商店")]
    for font, right, wrong in cases:
        try:
            face = resolve_font(font)
        except FontError:
            pytest.skip(f"{font} not installed")
        ok = check_image(_poster([right], face, size=64), [right])
        assert ok["pass"], (font, ok)
        shown = check_image(_poster([wrong], face, size=64), [right])
        assert not shown["pass"], (font, shown)
