"""Word spaces the recogniser drops, found in the ink (zpipe.text.word_gaps), on renders of our own in
proportional and monospaced faces. The gap thresholds were set on DejaVu Sans, Liberation Serif, Noto
Serif CJK SC Bold, AR PL UKai, DejaVu Sans Mono and WenQuanYi Zen Hei; the other faces here only check them."""

import io

import numpy as np
import pytest

TUNED = ["DejaVu Sans", "Liberation Serif", "Noto Serif CJK SC Bold", "AR PL UKai CN", "DejaVu Sans Mono",
         "WenQuanYi Zen Hei"]
CHECKED = ["Liberation Sans", "Liberation Mono", "DejaVu Serif", "Noto Serif CJK SC", "AR PL UMing CN",
           "WenQuanYi Micro Hei", "Noto Sans Mono"]
FONTS = TUNED + CHECKED
SPLIT = ["Sun flower", "Rain bow", "Moon light", "Every where", "Down town"]
WHOLE = ["Sunflower", "Rainbow", "Moonlight", "Everywhere", "Illuminati", "Affiliation", "Welcome", "rtyfjklTLVAWY"]


def _face(name):
    from zpipe.text.fonts import FontError, resolve_font

    try:
        return resolve_font(name)
    except FontError:
        pytest.skip(f"font {name} not installed")


def _line(text: str, font: str, size: int = 44, jpeg: int | None = None):
    """``text`` dark on a light grey, the image and the box a detector would give it (the ink padded by
    a quarter of the size)."""
    from PIL import Image, ImageDraw

    f = _face(font).pil(size)
    w, h = int(f.getlength(text)) + 3 * size, 3 * size
    im = Image.new("RGB", (w, h), (232, 228, 218))
    ImageDraw.Draw(im).text((1.5 * size, size), text, font=f, fill=(24, 24, 30))
    if jpeg:
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=jpeg)
        im = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    arr = np.asarray(im)
    ys, xs = np.nonzero(arr.astype(int).sum(axis=2) < 450)
    m = size // 4
    return arr, (int(xs.min()) - m, int(ys.min()) - m, int(xs.max()) + m, int(ys.max()) + m)


def _crop(arr, box):
    x0, y0, x1, y1 = box
    return np.ascontiguousarray(arr[y0:y1 + 1, x0:x1 + 1])


@pytest.mark.parametrize("font", FONTS)
def test_the_gap_between_two_words_is_a_word_space_in_every_face(font):
    from zpipe.text.word_gaps import ink_mask, word_spaces

    f = _face(font).pil(44)
    for text in SPLIT:
        arr, box = _line(text, font)
        spaces = word_spaces(ink_mask(_crop(arr, box)))
        # where the space is in the crop: after the first word's advance, give or take its bearings
        at = 1.5 * 44 - box[0] + f.getlength(text.split()[0]) + f.getlength(" ") / 2
        here = [s for s in spaces if s[0] - 0.3 * 44 < at < s[1] + 0.3 * 44]
        assert len(here) == 1, (text, spaces, at)
        assert not [s for s in spaces if s[2] and s not in here], (text, spaces)  # any other is not clear


@pytest.mark.parametrize("font", FONTS)
def test_no_clear_word_space_inside_a_word(font):
    """A wide letter gap (f l in a monospaced face) may be a candidate, never a clear space: those
    need the recogniser's pitch too (next test)."""
    from zpipe.text.word_gaps import ink_mask, word_spaces

    for size in (30, 44, 64):
        for text in WHOLE:
            arr, box = _line(text, font, size)
            assert not [s for s in word_spaces(ink_mask(_crop(arr, box))) if s[2]], (text, size)


@pytest.mark.parametrize("font", FONTS)
def test_a_dropped_space_is_put_back_and_none_is_invented(font):
    """The recogniser's reading without the space ("Sunflower" over "Sun flower") gets it back from
    the ink and the CTC columns; the single word keeps its reading, in every face."""
    from zpipe.text.match import Box
    from zpipe.text.word_gaps import restore_spaces

    for text in ("Sun flower", "Rain bow Road", "Starlight Cinema"):
        arr, (x0, y0, x1, y1) = _line(text, font, jpeg=80)
        dropped = Box(text.replace(" ", ""), x0, y0, x1, y1, 0.9)
        assert restore_spaces(arr, [dropped])[0].text.split() == text.split(), text
    for text in ("Sunflower", "Rainbow", "Illuminating", "Affiliation", "Moonlight"):
        arr, (x0, y0, x1, y1) = _line(text, font, jpeg=80)
        whole = Box(text, x0, y0, x1, y1, 0.9)
        assert restore_spaces(arr, [whole])[0].text == text


def test_only_latin_letter_runs_long_enough_to_hide_two_words_are_looked_at():
    from zpipe.text.word_gaps import candidate, place_spaces

    assert candidate("Sunflower") and candidate("城市 Rainbow")
    assert not candidate("Room 101") and not candidate("Sun Farm") and not candidate("春节快乐") and not candidate("AB12CD34")
    # a gap between a letter and a digit, or beside a space already read, changes nothing
    centres = [0.05, 0.15, 0.25, 0.45, 0.55, 0.65]
    assert place_spaces("Abc123", centres, [(0.3, 0.4, True)]) == "Abc123"
    assert place_spaces("Abcdef", centres, [(0.3, 0.4, True)]) == "Abc def"
    assert place_spaces("Abcdef", [0.05, 0.15, 0.25, 0.35, 0.45, 0.55], [(0.28, 0.32, False)]) == "Abcdef"  # even pitch


@pytest.mark.slow
def test_glyph_check_rejects_a_split_word_the_recogniser_reads_whole():
    """Noto Serif CJK SC Bold, 34 px, JPEG: the recogniser reads "Rain bow" as "Rainbow"; the check still
    sees two words, so the poster does not pass for "Rainbow Road", and passes for what it shows."""
    from PIL import Image, ImageDraw

    from zpipe.text.check import check_image
    from zpipe.text.ocr import read_text

    def poster(text):
        im = Image.new("RGB", (512, 200), (16, 240, 110))
        ImageDraw.Draw(im).text((40, 60), text, font=_face("Noto Serif CJK SC Bold").pil(34), fill=(20, 20, 24))
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=70)
        return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))

    split, whole = poster("Rain bow Road"), poster("Rainbow Road")
    assert "Rainbow" in [b.text for b in read_text(split)]  # the recogniser's own reading drops the space
    assert not check_image(split, ["Rainbow Road"])["pass"]
    assert check_image(split, ["Rain bow Road"])["pass"]
    assert check_image(whole, ["Rainbow Road"])["pass"]


@pytest.mark.parametrize("font", FONTS)
def test_two_boxes_that_overlap_only_in_their_padding_are_two_words(font):
    """The detector boxes "Now" and "here" apart but pads them into each other: the overlap holds no ink,
    so they are drawn apart and the space between them counts; boxes that overlap on a glyph (read
    twice) stay as they are."""
    from zpipe.text.match import Box, join_units
    from zpipe.text.word_gaps import part_overlaps

    f = _face(font).pil(44)
    for text in ("Now here", "Sun flower", "New Arrivals"):
        first, second = text.split()
        arr, (x0, y0, x1, y1) = _line(text, font)
        ink0 = int(1.5 * 44 + f.getbbox(first)[2])  # where the first word's ink ends
        ink1 = int(1.5 * 44 + f.getlength(first + " ") + f.getbbox(second)[0])  # the second's begins
        pad = max(2, (ink1 - ink0) // 2 + 2)  # each box's padding reaches past the middle of the gap
        a, b = Box(first, x0, y0, ink0 + pad, y1), Box(second, ink1 - pad, y0, x1, y1)
        assert a.x1 > b.x0
        assert [u.key for u in join_units([a, b]) if not u.soft] == list((first + second).lower())
        parted = part_overlaps(arr, [a, b])
        assert parted[0].x1 <= parted[1].x0, (text, parted)
        assert "".join(u.key for u in join_units(parted) if not u.soft) == text.lower()
        # read twice: the left box runs on over the first letter of the right one
        twice = [Box(first + " " + second[0], x0, y0, ink1 + 6, y1), Box(second, ink1 - 2, y0, x1, y1)]
        assert part_overlaps(arr, twice) == twice


def test_boxes_that_do_not_end_and_start_in_latin_letters_are_not_parted():
    from zpipe.text.match import Box
    from zpipe.text.word_gaps import part_overlaps

    arr, (x0, y0, x1, y1) = _line("Room 101", "DejaVu Sans")
    boxes = [Box("Room", x0, y0, (x0 + x1) / 2 + 10, y1), Box("101", (x0 + x1) / 2 - 10, y0, x1, y1)]
    assert part_overlaps(arr, boxes) == boxes
