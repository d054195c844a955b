"""Scoring recognised text against the lines a poster should carry.

Comparison units (``units``). Both texts become a sequence of characters, each *hard* (it must be
read back) or *soft* (it may be missing or extra at no cost):

1. Unicode NFKC (full-width Latin, digits and punctuation to half-width: ``ＡＢＣ１２３！`` ->
   ``ABC123!``, ``℃`` -> ``°C``); quote, bracket, full stop and comma variants folded to one form.
2. Meaningful punctuation is hard: ``! ? & % # / @`` anywhere; any mark between two digits (3.5,
   10:30, 1,000); ``- . +`` in front of a number (-20°C, .5); a full stop after a Latin word
   (No. 5, "Open."); every dash. Symbols (¥ $ € ° + =) are always hard.
3. Everything else that is punctuation is soft: the sentence marks ，。、；：, quotes, brackets,
   middle dots, ellipses. OCR drops these small marks between boxes, and they do not change what a
   poster says.
4. Spacing is soft, except a space *read* between two Latin words of three letters or more ("Now
   here" shown for "Nowhere"): OCR drops real spaces at times, and seldom invents one there.
5. Look-alike *glyph classes* are compared as equal, but only while comparing: what was read is
   never rewritten. The dashes and 一 (one glyph in CJK fonts: 10月12日—20日, 18:00一24:00), and
   capital I, l, | and 丨 (one glyph in sans-serif faces). Latin case is folded.

Distance. A weighted Levenshtein distance over the units: a hard unit inserted, deleted or
substituted costs 1, a soft unit inserted or deleted costs 0. An expected soft mark read as a dash
costs 0 (OCR reads a small comma as 一). ``NED`` follows AnyText's evaluation (Tuo et al. 2023)::

    ned(expected, found) = 1 - distance / max(hard length of expected, hard length of found)

with ``ned = 1`` when both are empty; 1.0 means identical, one wrong character in eight gives 0.875.

Unverifiable characters. The recogniser can only output the ~6,600 characters of its dictionary
(no kana, hangul, €, rarer traditional forms). An expected character outside it can never be read
back: it matches any one character (or none) at no cost, and a line that needs such a character to
match is ``unverified`` rather than passed; the caller's policy decides what that means.

Matching (``match_lines``). Boxes are put in reading order (rows top to bottom, left to right);
each expected line is matched to a *run* of boxes, consecutive in that order (small marks between
them may be skipped), whose neighbours lie next to each other (the same row, a small gap apart, or
the next row below, overlapping horizontally), joined. A box
that holds two expected lines ("春节快乐  2026") is split first. Assignment is greedy by score.
Boxes left over are other text; a confident one with two or more hard characters is reported in
``extra_text``, which fails the poster unless allowed.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from zpipe.text.prompt import is_cjk

RULES = ("exact", "ned")
STATUSES = ("pass", "fail", "unverified")
EXTRA_MIN_SCORE = 0.8  # other text read with at least this confidence counts as text, not texture
SMALL = 0.6  # a box this much lower than the line's is a mark that may sit between two parts of it
DASHES = frozenset("-‐‑‒–—―−－一ー")
ALWAYS_HARD = frozenset("!?&%#/@")

_FOLD = str.maketrans(
    {
        "“": '"', "”": '"', "„": '"', "‟": '"', "〝": '"', "〞": '"', "«": '"', "»": '"',
        "‘": "'", "’": "'", "‚": "'", "‛": "'", "`": "'", "´": "'",
        "。": ".", "｡": ".", "、": ",", "､": ",",
        "・": "·", "･": "·", "•": "·", "‧": "·", "∙": "·", "⋅": "·", "●": "·",
        "〜": "~", "～": "~",
        "【": "[", "】": "]", "〔": "(", "〕": ")", "［": "[", "］": "]",
        "「": '"', "」": '"', "『": '"', "』": '"',
    }
)
# Glyph classes compared as one key (never written back into what was read).
_CLASS = {**{d: "-" for d in DASHES}, "I": "l", "|": "l", "丨": "l"}


class Unit(NamedTuple):
    key: str  # the comparison key (class-folded, case-folded)
    soft: bool


def _latin_letter(ch: str) -> bool:
    return ch.isalpha() and not is_cjk(ch)


def _is_punct(ch: str) -> bool:
    return unicodedata.category(ch)[0] == "P" or ch in DASHES


def _hard_punct(text: str, i: int) -> bool:
    ch = text[i]
    left = text[i - 1] if i > 0 else ""
    right = text[i + 1] if i + 1 < len(text) else ""
    if ch in DASHES or ch in ALWAYS_HARD:
        return True
    if left.isdigit() and right.isdigit():
        return True
    if ch in ".+" and right.isdigit() and not left.isdigit():
        return True
    return ch == "." and _latin_letter(left) and (right in ("", " ") or right.isdigit())


def _word_len(text: str, i: int, step: int) -> int:
    """Latin letters in a row from ``text[i + step]`` in direction ``step``."""
    n, j = 0, i + step
    while 0 <= j < len(text) and _latin_letter(text[j]):
        n, j = n + 1, j + step
    return n


def units(text: str, strict: bool = False, read: bool = False) -> list[Unit]:
    """The comparison units of ``text`` (see module doc); ``strict`` makes every mark hard. A space
    between two Latin words is hard only in ``read`` text, and only between words of three letters
    or more: OCR drops real spaces at times and now and then splits off a short piece ("Dai ly"),
    but a space read inside "Now here" is evidence of two words."""
    text = unicodedata.normalize("NFKC", text).translate(_FOLD)
    text = re.sub(r"°+", "°", text)
    text = " ".join(text.split())  # whitespace runs -> one space, none at the ends
    out: list[Unit] = []
    for i, ch in enumerate(text):
        if ch == " ":
            hard = read and _word_len(text, i, -1) >= 3 and _word_len(text, i, 1) >= 3
            out.append(Unit(" ", not hard))
            continue
        soft = _is_punct(ch) and not strict and not _hard_punct(text, i)
        out.append(Unit(_CLASS.get(ch, ch).casefold(), soft))
    return out


def normalize(text: str, ignore_punct: bool = True) -> str:
    """The hard comparison keys of ``text`` as a string (soft units dropped unless ``ignore_punct``
    is False, which keeps every mark)."""
    return "".join(u.key for u in units(text, strict=not ignore_punct) if not u.soft)


def hard_len(us: Sequence[Unit]) -> int:
    return sum(1 for u in us if not u.soft)


def distance(expected: Sequence[Unit], found: Sequence[Unit], wild: frozenset[str] = frozenset()) -> int:
    """Weighted Levenshtein distance (module doc). Expected keys in ``wild`` (characters the OCR
    cannot output) match any one found unit, or nothing, at no cost."""
    prev = [0]
    for f in found:
        prev.append(prev[-1] + (0 if f.soft else 1))
    for e in expected:
        free = e.soft or e.key in wild
        cur = [prev[0] + (0 if free else 1)]
        for j, f in enumerate(found, 1):
            if e.key == f.key or e.key in wild or (e.soft and (f.soft or f.key == "-")):
                sub = 0
            else:
                sub = 1
            cur.append(min(prev[j] + (0 if free else 1), cur[j - 1] + (0 if f.soft else 1), prev[j - 1] + sub))
        prev = cur
    return prev[-1]


def edit_distance(a: str, b: str, wild: frozenset[str] = frozenset()) -> int:
    """Plain Levenshtein distance between two strings (every character hard); see ``distance``."""
    return distance([Unit(c, False) for c in a], [Unit(c, False) for c in b], wild)


def ned_units(expected: Sequence[Unit], found: Sequence[Unit], wild: frozenset[str] = frozenset()) -> float:
    longest = max(hard_len(expected), hard_len(found))
    if longest == 0:
        return 1.0
    return max(0.0, 1.0 - distance(expected, found, wild) / longest)


def ned(expected: str, found: str, wild: frozenset[str] = frozenset()) -> float:
    """1 - distance / max(hard length): AnyText's normalised-edit-distance similarity, in [0, 1]."""
    return ned_units(units(expected), units(found, read=True), wild)


@dataclass(frozen=True)
class Box:
    """One recognised text box: its text and axis-aligned extent in pixels."""

    text: str
    x0: float
    y0: float
    x1: float
    y1: float
    score: float = 1.0
    # (character now, what the line's reading had): a look-alike whose lone crop overrode the line's reading
    # while the ink could tell neither (zpipe.text.ocr.verify_lookalikes); a passing line keeps the doubt
    contested: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_quad(cls, quad: Sequence[Sequence[float]], text: str, score: float = 1.0) -> Box:
        xs = [float(p[0]) for p in quad]
        ys = [float(p[1]) for p in quad]
        return cls(text, min(xs), min(ys), max(xs), max(ys), float(score))

    @property
    def height(self) -> float:
        return max(self.y1 - self.y0, 1.0)

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "box": [round(self.x0), round(self.y0), round(self.x1), round(self.y1)],
                "score": round(self.score, 4)}


def same_row(a: Box, b: Box) -> bool:
    return min(a.y1, b.y1) - max(a.y0, b.y0) >= 0.5 * min(a.height, b.height)


def near(a: Box, b: Box) -> bool:
    """Can ``b`` continue the line that ``a`` holds? The same row a small gap to the right, or the
    next row down overlapping horizontally, and of a similar text height."""
    h = max(a.height, b.height)
    if h > 2.5 * min(a.height, b.height):
        return False
    if same_row(a, b):
        return b.x0 - a.x1 <= 3.0 * h
    return a.y0 + 0.5 * a.height <= b.y0 and b.y0 - a.y1 <= 1.5 * h and b.x0 <= a.x1 + h and b.x1 >= a.x0 - h


def reading_order(boxes: Iterable[Box]) -> list[Box]:
    """Boxes in reading order: rows top to bottom, left to right inside a row.

    Two boxes share a row when their vertical extents overlap by at least half the smaller height.
    Where two neighbours in a row overlap horizontally, the detector has read the overlapped glyphs
    twice ("New A" + "Arrivals"): the left box loses the suffix it shares with the right box's
    prefix, up to the number of characters the overlap can hold. The two readings of one glyph may
    differ within a digit/letter pair (the last l of "Football" read "1" at the start of "1 Night",
    where nothing of the word is left to read it by): then the right box loses the prefix, and the
    left box's reading, made with the glyph inside its word, stands.
    """
    out: list[Box] = []
    for row in _rows(boxes):
        for n, box in enumerate(row):
            if n and box.x0 < out[-1].x1:  # out[-1] is this row's box to the left
                out[-1], box = _trim_overlap(out[-1], box)
            out.append(box)
    return out


def _trim_overlap(left: Box, right: Box) -> tuple[Box, Box]:
    lt, rt = left.text.rstrip(), right.text.lstrip()
    width = max(left.x1 - left.x0, 1.0)
    fits = math.ceil((left.x1 - right.x0) / (width / max(len(lt), 1)) - 0.3)  # characters the overlap holds
    for k in range(min(fits, len(lt), len(rt)), 0, -1):
        if lt[-k:].casefold() == rt[:k].casefold():
            return replace(left, text=lt[:-k].rstrip(), x1=right.x0), right
        if lt[-k:].translate(_DIGIT_LETTER).casefold() == rt[:k].translate(_DIGIT_LETTER).casefold():
            return left, replace(right, text=rt[k:].lstrip(), x0=left.x1)
    return left, right


# A glyph read twice, in two boxes, can be read as either member of a digit/letter pair.
_DIGIT_LETTER = str.maketrans({"1": "l", "I": "l", "|": "l", "0": "O"})


def _rows(boxes: Iterable[Box]) -> list[list[Box]]:
    rows: list[list[Box]] = []
    for box in sorted(boxes, key=lambda b: (b.y0 + b.y1) / 2):
        for row in rows:
            if same_row(row[0], box):
                row.append(box)
                break
        else:
            rows.append([box])
    rows.sort(key=lambda r: min(b.y0 for b in r))
    return [sorted(row, key=lambda b: b.x0) for row in rows]


def join_units(boxes: Sequence[Box], strict: bool = False) -> list[Unit]:
    """The units of boxes read as one line. Between two boxes of one row a space (hard between two
    Latin letters: the detector saw a gap); between rows a soft space, and a hyphen ending a row is
    soft (a word broken at the line end)."""
    out: list[Unit] = []
    for k, box in enumerate(boxes):
        us = units(box.text, strict, read=True)
        if k and out and us:
            prev = boxes[k - 1]
            if same_row(prev, box):
                # Two boxes the detector kept apart and that do not overlap (abutting counts: its boxes
                # are padded, so "Down" + "town" can touch) are two words; overlapping ones (read twice,
                # trimmed by reading_order) are not.
                gap = box.x0 - prev.x1 >= -0.02 * max(box.height, prev.height)
                hard = gap and _latin_letter(out[-1].key) and _latin_letter(us[0].key)
                out.append(Unit(" ", not hard))
            else:
                if out[-1].key == "-":
                    out[-1] = Unit("-", True)
                out.append(Unit(" ", True))
        out.extend(us)
    return out


@dataclass
class LineScore:
    expected: str
    found: str
    ned: float
    exact: bool
    passed: bool
    boxes: list[Box]
    unverified: list[str] = field(default_factory=list)
    status: str = "pass"

    def to_dict(self) -> dict[str, Any]:
        out = {"expected": self.expected, "found": self.found, "ned": round(self.ned, 4),
               "exact": self.exact, "pass": self.passed}
        if self.status != ("pass" if self.passed else "fail"):
            out["status"] = self.status
        if self.unverified:
            out["unverified"] = self.unverified
        if self.boxes:  # where the line was read, in image pixels (the review page draws them)
            out["boxes"] = [b.to_dict() for b in self.boxes]
        return out


def check_rule(rule: str, min_ned: float) -> None:
    if rule not in RULES:
        raise ValueError(f"glyph check rule must be one of {', '.join(RULES)}, got {rule!r}")
    if not 0.0 <= min_ned <= 1.0:
        raise ValueError(f"min_ned must be in [0, 1], got {min_ned!r}")


def unreadable(text: str, readable: frozenset[str] | None) -> list[str]:
    """The characters of ``text`` the recogniser cannot output (hard units outside ``readable``),
    in first-seen order, as written in ``text``."""
    if readable is None:
        return []
    out: dict[str, None] = {}
    for ch in text:
        for u in units(ch, strict=True):
            if u.key != " " and u.key not in readable:
                out[ch] = None
    return list(out)


def split_boxes(boxes: Sequence[Box], expected: Sequence[Sequence[Unit]], strict: bool = False) -> list[Box]:
    """Split a box that holds two expected lines ("春节快乐  2026") at the space or script change
    where both pieces match different lines better than the whole box matches any line."""
    out = []
    for box in boxes:
        text = box.text.strip()
        cuts = [i for i in range(1, len(text)) if text[i] == " " or is_cjk(text[i]) != is_cjk(text[i - 1])]
        if not cuts or len(expected) < 2:
            out.append(box)
            continue

        def best(t: str) -> tuple[float, int]:
            us = units(t, strict, read=True)
            return max((ned_units(e, us), li) for li, e in enumerate(expected))

        whole, _ = best(text)
        choice = None
        for i in cuts:
            left, right = text[:i].strip(), text[i:].strip()
            if not left or not right:
                continue
            (nl, ll), (nr, lr) = best(left), best(right)
            score = min(nl, nr)
            if ll != lr and score > whole and score >= 0.5 and (choice is None or score > choice[0]):
                choice = (score, i, left, right)
        if choice is None:
            out.append(box)
            continue
        _, i, left, right = choice
        xm = box.x0 + (box.x1 - box.x0) * i / len(text)
        out += [replace(box, text=left, x1=xm), replace(box, text=right, x0=xm)]
    return out


def _runs(order: Sequence[Box], used: Sequence[bool], start: int, max_run: int):
    """Growing runs of unused boxes from ``start`` that read on as one line (the same list, one box longer
    each time). A small mark between the parts (a comma read as "S") is skipped."""
    run: list[int] = []
    for j in range(start, len(order)):
        if used[j] or len(run) >= max_run:
            return
        if run and not near(order[run[-1]], order[j]):
            if order[j].height < SMALL * order[run[-1]].height:
                continue
            return
        run.append(j)
        yield run


def _best_run(li: int, target, order: Sequence[Box], used: Sequence[bool], strict: bool, wild, checkable: int,
              max_run: int):
    """The run of boxes that best reads as line ``li``: ((ned, checkable, -run length, -li), li, run), or None."""
    limit = 2 * hard_len(target) + 4
    best = None
    for start in range(len(order)):
        if used[start]:
            continue
        for run in _runs(order, used, start, max_run):
            joined = join_units([order[i] for i in run], strict)
            key = (ned_units(target, joined, wild), checkable, -len(run), -li)
            if best is None or key > best[0]:
                best = (key, li, list(run))
            if hard_len(joined) > limit:
                break
    return best


def _line_score(text: str, target, wild, score: float, run: list[Box], strict: bool, trusted, rule: str,
                min_ned: float) -> LineScore:
    """The verdict on one expected line, read as the boxes ``run`` (none: not found)."""
    joined = join_units(run, strict)
    # A line made only of characters the OCR cannot output is unverified even when nothing is read.
    seen = bool(run) or all(u.soft or u.key in wild for u in target)
    exact = seen and distance(target, joined, wild) == 0
    ok = exact if rule == "exact" else seen and score >= min_ned
    status = "fail" if not ok else "unverified" if trusted else "pass"
    return LineScore(text, join_texts([b.text for b in run]), score, exact, status == "pass", run, trusted, status)


def _assign(order: list[Box], exp_units: list, wilds: list, checkable: list[int], strict: bool,
            max_run: int) -> tuple[dict[int, tuple[float, list[int]]], list[bool]]:
    """Greedily, the best-reading run of boxes goes to its line, until no line reads at all:
    ({line index: (ned, box indices)}, which boxes were used).

    Each open line's best run is kept between rounds: using boxes only takes runs away, so a line's
    best run stays its best while no box from its first to its last became used (one inside, even a
    skipped small mark, ends the runs through it). Only the other lines are scored again."""
    used = [False] * len(order)
    result: dict[int, tuple[float, list[int]]] = {}

    def best_for(li: int):
        return _best_run(li, exp_units[li], order, used, strict, wilds[li], checkable[li], max_run)

    best = {li: best_for(li) for li in range(len(exp_units))}
    while best:
        # the best (ned, checkable characters, -run length, -line index) over the lines still open
        top = max((f for f in best.values() if f is not None), key=lambda f: f[0], default=None)
        if top is None or top[0][0] <= 0.0:
            break
        (score, *_), li, run = top
        for i in run:
            used[i] = True
        result[li] = (score, run)
        del best[li]
        for other, found in best.items():
            if found is not None and any(found[2][0] <= i <= found[2][-1] for i in run):
                best[other] = best_for(other)
    return result, used


def match_lines(
    boxes: Iterable[Box],
    expected: Sequence[str],
    *,
    rule: str = "exact",
    min_ned: float = 0.9,
    ignore_punct: bool = True,
    readable: frozenset[str] | None = None,
    max_run: int = 8,
) -> tuple[list[LineScore], list[Box]]:
    """Match OCR boxes to the expected lines; return one ``LineScore`` per line (in the given order)
    and the boxes left unmatched.

    A line's distance is 0 (rule ``exact``) or its NED at least ``min_ned`` (rule ``ned``): status
    ``pass``, or ``unverified`` when characters outside ``readable`` (the normalised characters the
    OCR can output) had to be taken on trust; otherwise ``fail``.
    """
    check_rule(rule, min_ned)
    strict = not ignore_punct
    exp_units = [units(e, strict) for e in expected]
    order = [b for b in reading_order(split_boxes(list(boxes), exp_units, strict)) if hard_len(units(b.text, strict))]
    wilds = [frozenset(units(c, True)[0].key for c in unreadable(e, readable)) for e in expected]
    # On a tie, the line with more characters that can be read back takes the boxes: a line of
    # unreadable characters matches anything, so it must not take another line's text.
    checkable = [sum(1 for u in e if not u.soft and u.key not in w) for e, w in zip(exp_units, wilds)]
    result, used = _assign(order, exp_units, wilds, checkable, strict, max_run)

    scores = []
    for li, text in enumerate(expected):
        score, idx = result.get(li, (ned_units(exp_units[li], [], wilds[li]), []))
        scores.append(_line_score(text, exp_units[li], wilds[li], score, [order[i] for i in idx], strict,
                                  unreadable(text, readable), rule, min_ned))
    leftover = [b for b, u in zip(order, used) if not u]
    return scores, leftover


def extra_text(leftover: Sequence[Box], ignore_punct: bool = True, min_chars: int = 2) -> list[str]:
    """Other text that counts: boxes read with confidence ≥ EXTRA_MIN_SCORE and at least
    ``min_chars`` hard characters."""
    return [b.text for b in leftover
            if b.score >= EXTRA_MIN_SCORE and hard_len(units(b.text, not ignore_punct)) >= min_chars]


def join_texts(parts: Sequence[str]) -> str:
    """Join box texts for display: a space between two Latin/digit ends, nothing next to CJK."""
    out = ""
    for part in parts:
        part = part.strip()
        if out and part and out[-1].isascii() and out[-1].isalnum() and part[0].isascii() and part[0].isalnum():
            out += " "
        out += part
    return out


def summarize(scores: Sequence[LineScore], leftover: Sequence[Box] = ()) -> dict[str, Any]:
    """The JSON form: ``{"pass", "verdict", "lines": [{"expected", "found", "ned", "exact", "pass"}], ...}``
    (``pass`` here treats unverified lines as not passing; ``check_image`` applies the policy)."""
    statuses = [s.status for s in scores]
    verdict = "fail" if not scores or "fail" in statuses else "unverified" if "unverified" in statuses else "pass"
    return {
        "pass": verdict == "pass",
        "verdict": verdict,
        "lines": [s.to_dict() for s in scores],
        "mean_ned": round(sum(s.ned for s in scores) / len(scores), 4) if scores else 0.0,
        "unmatched": [b.text for b in leftover],
    }
