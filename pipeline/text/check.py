"""``check_image``: OCR an image and score it against the lines it should carry.

The result is the JSON of ``zpipe glyph-check --json``::

    {"pass": bool, "verdict": "pass" | "fail" | "unverified",
     "lines": [{"expected", "found", "ned", "exact", "pass", ["status", "unverified"]}, ...],
     "mean_ned": float, "unmatched": [str, ...], "extra_text": [str, ...], "extra_chars": int,
     "warnings": [str, ...]}

``found`` is the joined text of the boxes matched to the line ("" when none), ``ned`` the
similarity of :mod:`zpipe.text.match` (1 = identical), ``exact`` whether the distance is 0.
A line that needs characters the recogniser cannot output is ``unverified`` (listed per line);
``unverified="fail"`` fails the image for it, ``"warn"`` passes it with a warning. ``extra_text``
is the confident other text (two or more characters) that fails the image unless
``max_extra_chars`` allows it (-1: only report it).

Reading, in order (each step is unbiased: none consults the expected text to change a reading):

1. detection on a copy at most 768 px long, recognition on full-resolution crops;
2. each look-alike character (:mod:`zpipe.text.lookalikes`) is read again from its own crop,
   which breaks the recogniser's word prior; the digit/letter look-alikes of Latin lines (0/O, 1/l:
   "Room 1O1" read "Room 101") are decided by each glyph's proportions against the line's own other
   glyphs (:mod:`zpipe.text.digit_letter`); and the word spaces the recogniser dropped ("Sun flower"
   read "Sunflower") are put back where the ink shows a gap between two letters much wider than
   the line's letter gaps (:mod:`zpipe.text.word_gaps`; every later re-reading gets the same), and two
   boxes of one row that overlap only where there is no ink (their padding) are drawn apart, so that
   they count as two words like boxes that touch (:func:`zpipe.text.word_gaps.part_overlaps`);
3. when an expected line is missing (not found, or under 80% of its characters found), detection
   runs again at full resolution (small lines over busy textures are lost at the working size) and
   the new boxes are added;
4. the boxes of lines that still fail are read again at three crop scales and the majority reading
   replaces the first (:func:`zpipe.text.ocr.reread`), but for the look-alikes of step 2, which stay as
   their own crops and ink decided them (a line crop brings the word prior back: 兔税 read 免税).
   Passing a line when any two of the four readings agree with the expected text was tried and
   rejected: the recogniser's prior reads a wrong 曰 as 日 at two scales;
5. the boxes of lines that still fail are read again with the background suppressed
   (:func:`zpipe.text.ocr.colour_readings`: the crop redrawn dark-on-white by each of its main
   colours but the background's, so a clutter stroke of another colour through the glyphs is gone); the most confident
   reading replaces the box's only at confidence ≥ ``CLEAN_MIN_SCORE``, and its look-alikes are
   verified on the redrawn crop.
6. the boxes of lines that still fail are widened where the detector cut the line short
   (:func:`_widen`: the row detected again at other scales, :func:`zpipe.text.enhance.widened`);
7. the boxes of lines that still fail are read again from crops redrawn to undo degradation
   (:mod:`zpipe.text.enhance`: descreened, contrast-normalised, sharpened); the reading
   two readings agree on (the redrawings', joined by step 5's reading by text colour, which never
   decides alone), or one redrawing's at confidence ≥ ``ENHANCED_MIN_SCORE``, replaces the box's when
   degradation can explain the change (:func:`_pick_enhanced`);
8. a 一 read at the start or end of a failing box is dropped where the ink there is no horizontal
   stroke across the middle of the line (:mod:`zpipe.text.stray_marks`: a rectangle of clutter beside it).

In step 2, a character the recogniser reads as itself even where a look-alike is shown
(:func:`zpipe.text.lookalikes.read_as`: 曰 read as 日 from its crop alone) is decided by its ink
(:func:`zpipe.text.ink.which`: the glyph's shape against renders of every member of the pair in the
fonts at hand, symmetric, only on a clear margin): 曰落大道 then reads as such and fails.

A passing line is never silent about a look-alike the check could not rule out
(:func:`zpipe.text.ocr.lookalike_doubts`): a look-alike character whose crop alone was not read back
as itself (a halftone screen, clutter; the whole group is in doubt), or one of the read-as pairs whose
ink was not clear, passes with a warning and the pairs in ``cannot_tell`` ("日/曰"); so does a 0 or O in
a line that mixes letters and figures, or has figures only, whose width the line's references do not decide (a monospaced face
draws both alike), and a 1 or l shaped like a glyph of the line read as the other
(:func:`zpipe.text.digit_letter.doubts`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zpipe.text.image import load_image
from zpipe.text.match import Box, check_rule, extra_text, hard_len, match_lines, summarize, units

if TYPE_CHECKING:
    from zpipe.text.ocr import OcrImage  # the readers' image, converted once per check

UNVERIFIED_POLICIES = ("fail", "warn")
CLEAN_MIN_SCORE = 0.9  # a reading by text colour replaces the first only when the recogniser is this sure

__all__ = ["check_image", "load_image", "UNVERIFIED_POLICIES"]

def _overlaps(a: Box, boxes: Sequence[Box]) -> bool:
    for b in boxes:
        ix = min(a.x1, b.x1) - max(a.x0, b.x0)
        iy = min(a.y1, b.y1) - max(a.y0, b.y0)
        if ix > 0 and iy > 0 and ix * iy >= 0.3 * min((a.x1 - a.x0) * a.height, (b.x1 - b.x0) * b.height):
            return True
    return False


def _missing(score, ignore_punct: bool) -> bool:
    """A failing line not found, or found with under 80% of its characters (part of it missed by
    the detector): worth a full-resolution detection. A misread line is not."""
    if score.status != "fail":
        return False
    want = hard_len(units(score.expected, not ignore_punct))
    got = hard_len(units(score.found, not ignore_punct, read=True))
    return not score.boxes or got < 0.8 * want


def check_image(
    image: np.ndarray | str | Path,
    expected_lines: Sequence[str],
    *,
    rule: str = "exact",
    min_ned: float = 0.9,
    ignore_punct: bool = True,
    max_extra_chars: int = 1,
    unverified: str = "fail",
    threads: int | None = None,
    unseen_lookalikes: bool = True,
) -> dict[str, Any]:
    """OCR ``image`` (array or file path) and match the text to ``expected_lines`` (see module doc).
    ``unseen_lookalikes=False`` leaves out the look-alike warnings (``cannot_tell``): for text zpipe drew
    itself from the expected characters."""
    from zpipe.text.ocr import readable_chars

    check_rule(rule, min_ned)
    if unverified not in UNVERIFIED_POLICIES:
        raise ValueError(f"unverified must be one of {', '.join(UNVERIFIED_POLICIES)}, got {unverified!r}")
    expected = [str(e) for e in expected_lines]
    if not expected or any(not e.strip() for e in expected):
        raise ValueError("expected lines must be non-empty strings")
    arr = load_image(image) if isinstance(image, (str, Path)) else np.asarray(image)
    readable = readable_chars()

    def match(bs: list[Box]):
        return match_lines(bs, expected, rule=rule, min_ned=min_ned, ignore_punct=ignore_punct, readable=readable)

    from zpipe.text.ocr import OcrImage

    image = OcrImage(arr)  # converted once for every reading, the look-alike warnings' included
    scores, leftover = _read_and_match(image, match, ignore_punct, threads)
    result = summarize(scores, leftover)
    _judge_extra_text(result, leftover, ignore_punct, max_extra_chars)
    for line in result["lines"]:
        if line.get("status") == "unverified":
            chars = "".join(line["unverified"])
            result["warnings"].append(f"{line['expected']!r}: the OCR cannot read {chars!r}, so the line is unverified")
            line["pass"] = unverified == "warn"
    if unseen_lookalikes:
        _unverify_one_shape_two_readings(result, image, scores, unverified == "warn")
        _warn_unseen_lookalikes(result, image, scores, threads)
    result["pass"] = result["verdict"] == "pass" or (result["verdict"] == "unverified" and unverified == "warn")
    return result


def _unverify_one_shape_two_readings(result: dict[str, Any], arr: OcrImage, scores, warn: bool) -> None:
    """A passing line whose 1/l glyphs of one shape were read as both members ("Leve1 10" read "Level 10":
    :func:`zpipe.text.digit_letter.one_shape_two_readings`) is ``unverified``: one reading is wrong and
    nothing tells which, so the unverified policy decides, as for a character the OCR cannot read."""
    from zpipe.text import digit_letter

    for line, score in zip(result["lines"], scores):
        if not line["pass"] or not score.boxes:
            continue
        chars = sorted(set().union(*digit_letter.one_shape_two_readings(arr, score.boxes)))
        if chars:
            line.update({"status": "unverified", "unverified": chars, "pass": warn})
            if result["verdict"] == "pass":
                result["verdict"] = "unverified"
            result["warnings"].append(f"{line['expected']!r}: glyphs of one shape are read as {' and '.join(map(repr, chars))}, "
                                      "so which is shown cannot be told: the line is unverified")


def _warn_unseen_lookalikes(result: dict[str, Any], arr: OcrImage, scores, threads: int | None) -> None:
    """Per passing line, the look-alikes its characters could be hiding (``cannot_tell``: "日/曰"), and one
    warning per line naming them: the look-alike characters that neither their crop alone nor their ink
    confirmed (:func:`zpipe.text.ocr.lookalike_doubts`)."""
    from zpipe.text import digit_letter
    from zpipe.text.ocr import lookalike_doubts

    for line, score in zip(result["lines"], scores):
        if not line["pass"] or not score.boxes:
            continue
        doubts: dict[str, str] = {}
        named = set(line.get("unverified", ()))  # the line's own warning says these cannot be verified
        for per_box in [*lookalike_doubts(arr, score.boxes, threads=threads), *digit_letter.doubts(arr, score.boxes)]:
            for ch, rivals in per_box.items():
                if ch not in named:
                    doubts[ch] = doubts.get(ch, "") + "".join(r for r in rivals if r not in doubts.get(ch, ""))
        for read, shown in _folded_apart(line["found"], line["expected"]):
            if read not in named and shown not in doubts.get(read, ""):
                doubts[read] = doubts.get(read, "") + shown
        pairs = [f"{c}/{r}" for c, rivals in doubts.items() for r in rivals]
        if pairs:
            line["cannot_tell"] = pairs
            shown = ", ".join(f"{c!r} from {'/'.join(rivals)}" for c, rivals in doubts.items())
            result["warnings"].append(f"{line['expected']!r}: the OCR cannot tell {shown}, so a poster showing "
                                      "the look-alike could pass too")


def _folded_apart(found: str, expected: str) -> list[tuple[str, str]]:
    """(character read, character expected) where a passing line read a capital I or a bar for an expected
    l, members of a glyph class the comparison folds (one glyph in most sans faces, so a correct "Hall"
    read "HaII" must pass): read against the word prior of a lower-case word, the reading may be right
    ("PooI 24" for "Pool 24" in a serif face), and the fold cannot tell. An l read for an expected I ("ls"
    for "Is") is the prior's usual reading of the one sans glyph, and says nothing."""
    from difflib import SequenceMatcher

    a, b = "".join(found.split()), "".join(expected.split())
    out = []
    for op, i0, i1, j0, j1 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "replace" and i1 - i0 == j1 - j0:
            out += [(x, y) for x, y in zip(a[i0:i1], b[j0:j1]) if x in "I|" and y == "l"]
    return out


def _plausible_repair(first: str, clean: str) -> bool:
    """Whether ``clean`` differs from ``first`` only as the background can make a reading differ:
    letters changed in place (a stroke through O reads Q, through 八 reads 凡), marks dropped (a dot of
    clutter), spaces added. The recogniser's word prior, which a clean crop gives free rein, adds and
    drops letters (Tiime -> Time), picks the common one of two look-alikes (己 -> 已: those are for the
    single-character crops to decide) and drops spaces (Every where): such a reading is not taken."""
    import unicodedata

    from zpipe.text.lookalikes import group

    a, b = (unicodedata.normalize("NFKC", t) for t in (first, clean))
    if a == b:
        return False
    core_a, core_b = [c for c in a if c.isalnum()], [c for c in b if c.isalnum()]
    if len(core_a) != len(core_b) or any(x != y and y in group(x) for x, y in zip(core_a, core_b)):
        return False
    marks_a = iter(c for c in a if not c.isalnum() and not c.isspace())
    if not all(m in marks_a for m in (c for c in b if not c.isalnum() and not c.isspace())):
        return False  # a mark added or changed (marks_a is consumed in order: b's must be a subsequence)
    return b.count(" ") >= a.count(" ")


def _failing_boxes(boxes: list[Box], scores) -> list[Box]:
    failing = {(b.x0, b.y0, b.y1) for s in scores if s.status == "fail" for b in s.boxes}
    return [b for b in boxes if (b.x0, b.y0, b.y1) in failing]


def _full_resolution(arr: OcrImage, boxes: list[Box], scores, ignore_punct: bool, threads: int | None):
    """A missing line on a large image: detect again at full resolution and add the boxes that are new."""
    from zpipe.text.ocr import DEFAULT_DET_MAX_SIDE, read_text, verify_lookalikes

    if not any(_missing(s, ignore_punct) for s in scores) or max(arr.shape[:2]) <= DEFAULT_DET_MAX_SIDE:
        return None
    full = read_text(arr, threads=threads, det_max_side=max(arr.shape[:2]))
    new = [b for b in full if not _overlaps(b, boxes)]
    return boxes + verify_lookalikes(arr, new, threads=threads) if new else None


def _second_opinion(arr: OcrImage, boxes: list[Box], scores, ignore_punct: bool, threads: int | None):
    """The failing lines' boxes read again at other crop scales; the majority reading counts."""
    from zpipe.text.ocr import reread, verify_lookalikes

    doubtful = _failing_boxes(boxes, scores)
    if not doubtful:
        return None
    revised = [_kept_lookalikes(b, r) for b, r in zip(doubtful, reread(arr, doubtful, threads=threads))]
    changed = [r for b, r in zip(doubtful, revised) if r is not b]  # the others were verified already
    verified = dict(zip(map(id, changed), verify_lookalikes(arr, changed, threads=threads)))
    swap = {id(b): verified.get(id(r), r) for b, r in zip(doubtful, revised)}
    return [swap.get(id(b), b) for b in boxes]


def _kept_lookalikes(first: Box, revised: Box) -> Box:
    """``revised`` where each character it swapped in place for a look-alike is ``first``'s again
    (:func:`_keep_lookalikes`, as :func:`_pick_enhanced` does): ``first``'s look-alikes were decided from
    their own crops and ink, and a line crop at another scale only brings the word prior back (兔税商店
    under a glow read 免税商店 again). ``first`` itself when nothing else changed, so it is not verified
    again."""
    if revised is first:
        return first
    text = _keep_lookalikes(first.text, revised.text)
    return first if text == first.text else Box(text, revised.x0, revised.y0, revised.x1, revised.y1, revised.score)


def _colour_reread(arr: OcrImage, boxes: list[Box], scores, ignore_punct: bool, threads: int | None):
    """A background stroke through the glyphs: the failing boxes read again by the text colour alone,
    taken only when confident and a change that clutter can explain."""
    from zpipe.text.ocr import colour_readings, verify_lookalikes

    doubtful = _failing_boxes(boxes, scores)
    swap = {}
    for b, clean in zip(doubtful, colour_readings(arr, doubtful, threads=threads) if doubtful else ()):
        if clean is not None and clean[0].score >= CLEAN_MIN_SCORE and _plausible_repair(b.text, clean[0].text):
            swap[id(b)] = verify_lookalikes(clean[1], [clean[0]], threads=threads)[0]  # on the redrawn crop
    return [swap.get(id(b), b) for b in boxes] if swap else None


def _core(text: str) -> list[str]:
    import unicodedata

    return [c for c in unicodedata.normalize("NFKC", text) if c.isalnum()]


def _widen(arr: OcrImage, boxes: list[Box], scores, ignore_punct: bool, threads: int | None):
    """A failing line the detector cut short ("Welcome" boxed as "come"): the box widened to the text the
    detector finds running on from it in its row (:func:`zpipe.text.enhance.widened`), taken when read
    with confidence ≥ ``WIDE_MIN_SCORE`` and holding more letters than the box did, with the box's
    look-alikes kept (:func:`_kept_lookalikes`, as every re-read that replaces a box keeps them)."""
    from zpipe.text.enhance import widened
    from zpipe.text.ocr import verify_lookalikes

    doubtful = _failing_boxes(boxes, scores)
    wide = {id(b): _kept_lookalikes(b, r)
            for b, r in zip(doubtful, widened(arr, doubtful, boxes, threads=threads) if doubtful else ())
            if r is not None and r.score >= WIDE_MIN_SCORE and len(_core(r.text)) > len(_core(b.text))}
    if not wide:
        return None
    verified = dict(zip(wide, verify_lookalikes(arr, list(wide.values()), threads=threads)))
    return [verified.get(id(b), b) for b in boxes]


def _enhanced_reread(arr: OcrImage, boxes: list[Box], scores, ignore_punct: bool, threads: int | None):
    """The failing boxes read again from crops redrawn to undo degradation (:mod:`zpipe.text.enhance`:
    descreened, contrast-normalised, sharpened); :func:`_pick_enhanced` decides, without the
    expected text, and the look-alikes of the reading it takes are re-read on the redrawn crop."""
    from zpipe.text.enhance import enhanced_readings
    from zpipe.text.ocr import colour_readings, verify_lookalikes

    doubtful = _failing_boxes(boxes, scores)
    if not doubtful:
        return None
    by_colour = colour_readings(arr, doubtful, threads=threads)
    swap = {}
    for b, reads, clean in zip(doubtful, enhanced_readings(arr, doubtful, threads=threads), by_colour):
        picked = _pick_enhanced(b, reads, () if clean is None else (clean[0],))
        if picked is not None:
            box, redrawn = picked
            swap[id(b)] = verify_lookalikes(arr if redrawn is None else redrawn, [box], threads=threads)[0]
    return [swap.get(id(b), b) for b in boxes] if swap else None


def _pick_enhanced(first: Box, reads: list[tuple[Box, np.ndarray | None]], seconds: Sequence[Box] = ()):
    """The reading of the redrawn crops that replaces ``first``, with the image it was read from (None:
    the original), or None. The text two or more readings agree on (the most votes, then the most
    confidence), else one redrawing's read with confidence ≥ ``ENHANCED_MIN_SCORE``; ``seconds``, readings
    made another way (by text colour), join the votes of a text some redrawing read, never one alone; taken only when degradation
    can explain the change (:func:`_degradation_explains`). Where it swaps a character for one of its
    look-alikes, the first reading's character is kept and the look-alike check on the redrawn crop
    decides: the word prior of a line crop picks the common form (入场 for 人场)."""
    from collections import defaultdict

    votes: dict[str, list[tuple[Box, np.ndarray | None]]] = defaultdict(list)
    for box, redrawn in reads:
        votes[box.text].append((box, redrawn))
    for box in seconds:
        if box.text in votes:  # a second's vote only joins a redrawing's: it never decides alone
            votes[box.text].append((box, None))
    if not votes:
        return None
    text, group = max(votes.items(), key=lambda kv: (len(kv[1]), sum(b.score for b, _ in kv[1])))
    best = max(group, key=lambda r: (r[1] is not None, r[0].score))
    if len(group) < 2 and best[0].score < ENHANCED_MIN_SCORE:
        return None
    text = _keep_lookalikes(first.text, text)
    if text == first.text or not _degradation_explains(first.text, text):
        return None
    box = best[0]
    return Box(text, box.x0, box.y0, box.x1, box.y1, box.score), best[1]


def _keep_lookalikes(first: str, new: str) -> str:
    """``new`` with each character it changed in place into a look-alike of ``first``'s put back."""
    from difflib import SequenceMatcher

    from zpipe.text.lookalikes import group

    out = []
    for op, a0, a1, b0, b1 in SequenceMatcher(None, first, new, autojunk=False).get_opcodes():
        was, now = first[a0:a1], new[b0:b1]
        if op == "replace" and len(was) == len(now):
            out += [x if y in group(x) else y for x, y in zip(was, now)]
            continue
        if op == "replace" and len(now) > len(was):  # text added next to the change (a widened line: 人场 -> 18:30入场)
            for at in (len(now) - len(was), 0):
                part = now[at:at + len(was)]
                if all(x == y or y in group(x) for x, y in zip(was, part)):
                    now = now[:at] + was + now[at + len(was):]
                    break
        out.append(now)
    return "".join(out)


def _degradation_explains(first: str, new: str) -> bool:
    """Whether degradation of the first crop (dots, blur, noise, low contrast) can explain how ``new``, read
    from a redrawn crop, differs from ``first``: glyphs lost or misread, never glyphs dropped (the word
    prior drops letters and collapses a doubled character: 新品品上市 -> 新品上市), spaces dropped (Every
    where) or marks added."""
    import unicodedata

    a, b = (unicodedata.normalize("NFKC", t) for t in (first, new))
    if len(_core(b)) < len(_core(a)) or b.count(" ") < a.count(" "):
        return False
    marks_a = iter(c for c in a if not c.isalnum() and not c.isspace())
    return all(m in marks_a for m in (c for c in b if not c.isalnum() and not c.isspace()))


WIDE_MIN_SCORE = 0.8  # a widened line's reading replaces the box's only when the recogniser is this sure
ENHANCED_MIN_SCORE = 0.95  # one redrawing alone (no second one agreeing) must be read this confidently

def _stray_ones(arr: OcrImage, boxes: list[Box], scores, ignore_punct: bool, threads: int | None):
    """The failing boxes without a 一 read at their start or end from clutter beside the line (a small
    rectangle past 文化中心 read as 文化中心一): :func:`zpipe.text.stray_marks.drop_stray_ones`."""
    from zpipe.text.stray_marks import drop_stray_ones

    doubtful = _failing_boxes(boxes, scores)
    swap = {id(b): r for b, r in zip(doubtful, drop_stray_ones(arr, doubtful, threads=threads)) if r is not b}
    return [swap.get(id(b), b) for b in boxes] if swap else None


# While a line fails, look harder, in this order; each returns better boxes or None (nothing to do).
LOOK_HARDER = (_full_resolution, _second_opinion, _colour_reread, _widen, _enhanced_reread, _stray_ones)


def _read_and_match(image: OcrImage, match, ignore_punct: bool, threads: int | None):
    """OCR, then match; while a line fails, look harder (:data:`LOOK_HARDER`): every extra reading is of
    failing lines only, so a poster that passes costs one reading."""
    from zpipe.text.digit_letter import settle
    from zpipe.text.ocr import read_text, verify_lookalikes
    from zpipe.text.word_gaps import part_overlaps, restore_spaces

    boxes = settle(image, verify_lookalikes(image, read_text(image, threads=threads), threads=threads))
    boxes = part_overlaps(image, restore_spaces(image, boxes, threads=threads))
    scores, leftover = match(boxes)
    for look_harder in LOOK_HARDER:
        better = look_harder(image, boxes, scores, ignore_punct, threads)
        if better is not None:  # each step returns the boxes in order, a box replaced in its place
            better = [_carry_doubts(old, new) for old, new in zip(boxes, better)] + better[len(boxes):]
            boxes = _with_spaces(image, boxes, better, threads)
            scores, leftover = match(boxes)
    return scores, leftover


def _carry_doubts(old: Box, new: Box) -> Box:
    """``new``, which replaced ``old`` in a re-read, with ``old``'s contested look-alikes that it still
    shows (:attr:`Box.contested`: 士 read alone where the line read 土, the ink showing neither): the
    re-read fixed another part of the line, not that doubt, and a passing line must still carry it."""
    from dataclasses import replace

    kept = tuple(p for p in old.contested if p[0] in new.text and p not in new.contested)
    return replace(new, contested=new.contested + kept) if kept else new


def _with_spaces(arr: OcrImage, before: list[Box], after: list[Box], threads: int | None) -> list[Box]:
    """``after`` with the word spaces of its new readings restored from the ink and their 0/O and 1/l
    decided by it (a re-read has the same language prior that dropped or normalised them the first time)."""
    from zpipe.text.digit_letter import settle
    from zpipe.text.word_gaps import part_overlaps, restore_spaces

    kept = set(map(id, before))
    new = [b for b in after if id(b) not in kept]
    swap = dict(zip(map(id, new), restore_spaces(arr, settle(arr, new, among=after), threads=threads)))
    return part_overlaps(arr, [swap.get(id(b), b) for b in after])


def _judge_extra_text(result: dict[str, Any], leftover: list[Box], ignore_punct: bool, max_extra_chars: int) -> None:
    """Other text on the image: a warning, or a failure when a piece is longer than ``max_extra_chars``
    (negative: never). Sets ``extra_chars``, ``extra_text`` and ``warnings``."""
    strict = not ignore_punct
    result["extra_chars"] = sum(hard_len(units(b.text, strict)) for b in leftover)
    extra = extra_text(leftover, ignore_punct)
    result["extra_text"] = extra
    result["warnings"] = []
    too_much = [t for t in extra if hard_len(units(t, strict)) > max_extra_chars] if max_extra_chars >= 0 else []
    if too_much:
        result["verdict"] = "fail"
    elif extra:
        result["warnings"].append(f"other text on the image: {', '.join(repr(t) for t in extra)}")
