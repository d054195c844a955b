"""Scoring recognised text against the lines a poster should carry.

Normalisation (``normalize``), applied to both sides before any comparison:

1. Unicode NFKC, which folds full-width Latin letters, digits and ASCII punctuation to half-width
   (``ＡＢＣ１２３！`` -> ``ABC123!``) and compatibility ideographs to their unified forms;
2. punctuation variants folded to one form (curly quotes -> straight, ``。`` -> ``.``, ``、`` -> ``,``,
   the many middle dots -> ``·``, dashes -> ``-``), since OCR and fonts disagree on these;
3. all whitespace removed (OCR drops or invents spaces; CJK has none);
4. dashes and 一, which CJK fonts draw alike, told apart by context (``_dashes``): next to an
   ideograph both are 一, elsewhere both are "-";
5. Latin case folded (``casefold``), after capital ``I`` is folded to ``l``: in sans-serif faces
   (Noto Sans, Helvetica-likes) the two are the same glyph, so no reader can tell "Is" from "ls".

With ``ignore_punct=True`` (the default of the glyph check) punctuation (Unicode category P: ，。、！？
“” · - and so on) is removed as well: OCR drops small marks that sit in the gap between two boxes,
and a wrong comma is not the garbled text the check exists to catch. Symbols ($ ¥ + %) are kept.

NED. We follow AnyText's evaluation (Tuo et al. 2023, ``eval/eval_dgocr.py``), which reports the
*normalised edit distance* as a similarity in [0, 1]::

    ned(expected, found) = 1 - levenshtein(expected, found) / max(len(expected), len(found))

on the normalised strings, with ``ned("", "") = 1``. 1.0 means identical; one wrong character in
an 8-character line gives 0.875; an empty read gives 0.0.

Unverifiable characters. The recogniser can only output the ~6,600 characters of its dictionary
(no kana, hangul, €, rarer traditional forms such as 鬱). An expected character outside it can never
be read back, so it is a wildcard — it matches any one character, or none, at no cost — and is
listed in the line's ``unverified``; the rest of the line is still checked.

Matching (``match_lines``). OCR returns boxes, and one poster line may come back as several boxes
(a wide title split at a gap, a body line wrapped over two rows). Boxes are put in reading order
(rows top to bottom, left to right within a row); each expected line is matched to a *contiguous
run* of boxes in that order, joined. Assignment is greedy by score: the (line, run) pair with the
highest NED is taken first, its boxes are used up, and so on. A box is never split, so a stray
extra character in the same box as a line is counted against that line.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

RULES = ("exact", "ned")

_PUNCT_FOLD = str.maketrans(
    {
        "“": '"', "”": '"', "„": '"', "‟": '"', "〝": '"', "〞": '"', "«": '"', "»": '"',
        "‘": "'", "’": "'", "‚": "'", "‛": "'", "`": "'", "´": "'",
        "。": ".", "｡": ".", "、": ",", "､": ",",
        "・": "·", "･": "·", "•": "·", "‧": "·", "∙": "·", "⋅": "·", "●": "·",
        "—": "-", "–": "-", "‐": "-", "‑": "-", "‒": "-", "―": "-", "−": "-", "－": "-",
        "〜": "~", "～": "~",
        "【": "[", "】": "]", "〔": "(", "〕": ")", "［": "[", "］": "]",
        "「": '"', "」": '"', "『": '"', "』": '"',
        "《": "<", "》": ">", "〈": "<", "〉": ">",
        "I": "l", "|": "l", "丨": "l",  # identical glyphs in sans-serif faces
    }
)


def normalize(text: str, ignore_punct: bool = False) -> str:
    """The comparison form of ``text`` (see module doc)."""
    text = unicodedata.normalize("NFKC", text).translate(_PUNCT_FOLD)
    text = "".join(ch for ch in text if not ch.isspace())
    while True:  # removing punctuation can make new neighbours: repeat until stable
        before = text
        text = _dashes(text)
        if ignore_punct:
            text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "P")
        if text == before:
            return text.casefold()


def _is_ideograph(ch: str) -> bool:
    return unicodedata.category(ch) == "Lo" and unicodedata.name(ch, "").startswith("CJK")


def _dashes(text: str) -> str:
    """A dash next to a CJK ideograph is drawn, and read, exactly like 一 (十月一日—五日): such dashes
    become 一. 一 between two ASCII letters or digits (10:00一12:00 once ":" is seen as part of the
    time, 3一5) is a misread dash and becomes "-"."""
    out = list(text)
    for i, ch in enumerate(text):
        left = text[i - 1] if i > 0 else ""
        right = text[i + 1] if i + 1 < len(text) else ""
        if ch == "-" and any(c and c != "一" and _is_ideograph(c) for c in (left, right)):
            out[i] = "一"
        elif ch == "一" and left.isascii() and right.isascii() and left.isalnum() and right.isalnum():
            out[i] = "-"
    return "".join(out)


def edit_distance(a: str, b: str, wild: frozenset[str] = frozenset()) -> int:
    """Levenshtein distance (unit-cost insert, delete, substitute).

    Characters of ``a`` in ``wild`` (characters the OCR cannot output) match any one character of
    ``b``, or nothing, at no cost.
    """
    if len(a) < len(b) and not wild:
        a, b = b, a
    prev = list(range(len(b) + 1))
    for ca in a:
        free = ca in wild
        cur = [prev[0] + (0 if free else 1)]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + (0 if free else 1), cur[j - 1] + 1,
                           prev[j - 1] + (0 if free or ca == cb else 1)))
        prev = cur
    return prev[-1]


def ned(expected: str, found: str, wild: frozenset[str] = frozenset()) -> float:
    """1 - edit_distance / max(len): AnyText's normalised-edit-distance similarity, in [0, 1].

    Call it on normalised strings (``normalize``); ``match_lines`` does. ``wild``: see edit_distance.
    """
    longest = max(len(expected), len(found))
    if longest == 0:
        return 1.0
    return 1.0 - edit_distance(expected, found, wild) / longest


@dataclass(frozen=True)
class Box:
    """One recognised text box: its text and axis-aligned extent in pixels."""

    text: str
    x0: float
    y0: float
    x1: float
    y1: float
    score: float = 1.0

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


def reading_order(boxes: Iterable[Box]) -> list[Box]:
    """Boxes in reading order: rows top to bottom, left to right inside a row.

    Two boxes share a row when their vertical extents overlap by at least half the smaller height.
    Where two neighbours in a row overlap horizontally, the detector has read the overlapped glyphs
    twice ("New A" + "Arrivals"): the left box loses the suffix it shares with the right box's
    prefix, up to the number of characters the overlap can hold.
    """
    out: list[Box] = []
    for row in _rows(boxes):
        for box in row:
            if out and out[-1] in row and box.x0 < out[-1].x1:
                out[-1] = _trim_overlap(out[-1], box)
            out.append(box)
    return out


def _trim_overlap(left: Box, right: Box) -> Box:
    lt, rt = left.text.rstrip(), right.text.lstrip()
    width = max(left.x1 - left.x0, 1.0)
    fits = math.ceil((left.x1 - right.x0) / (width / max(len(lt), 1)) - 0.3)  # characters the overlap holds
    for k in range(min(fits, len(lt), len(rt)), 0, -1):
        if lt[-k:].casefold() == rt[:k].casefold():
            return Box(lt[:-k].rstrip(), left.x0, left.y0, right.x0, left.y1, left.score)
    return left


def _rows(boxes: Iterable[Box]) -> list[list[Box]]:
    rows: list[list[Box]] = []
    for box in sorted(boxes, key=lambda b: (b.y0 + b.y1) / 2):
        for row in rows:
            ref = row[0]
            overlap = min(ref.y1, box.y1) - max(ref.y0, box.y0)
            if overlap >= 0.5 * min(ref.height, box.height):
                row.append(box)
                break
        else:
            rows.append([box])
    rows.sort(key=lambda r: min(b.y0 for b in r))
    return [sorted(row, key=lambda b: b.x0) for row in rows]


@dataclass
class LineScore:
    expected: str
    found: str
    ned: float
    exact: bool
    passed: bool
    boxes: list[Box]
    unverified: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = {"expected": self.expected, "found": self.found, "ned": round(self.ned, 4),
               "exact": self.exact, "pass": self.passed}
        if self.unverified:
            out["unverified"] = self.unverified
        return out


def check_rule(rule: str, min_ned: float) -> None:
    if rule not in RULES:
        raise ValueError(f"glyph check rule must be one of {', '.join(RULES)}, got {rule!r}")
    if not 0.0 <= min_ned <= 1.0:
        raise ValueError(f"min_ned must be in [0, 1], got {min_ned!r}")


def match_lines(
    boxes: Iterable[Box],
    expected: Sequence[str],
    *,
    rule: str = "exact",
    min_ned: float = 0.9,
    ignore_punct: bool = False,
    readable: frozenset[str] | None = None,
    max_run: int = 8,
) -> tuple[list[LineScore], list[Box]]:
    """Match OCR boxes to the expected lines; return one ``LineScore`` per line (in the given order)
    and the boxes left unmatched.

    A line passes with rule ``exact`` when its normalised text equals the joined normalised boxes,
    and with rule ``ned`` when their NED is at least ``min_ned``. ``readable``: the normalised
    characters the OCR can output; expected characters outside it cannot be verified, match any
    one character (or none), and are listed in the line's ``unverified``.
    """
    check_rule(rule, min_ned)
    order = [b for b in reading_order(boxes) if normalize(b.text, ignore_punct)]
    norm_boxes = [normalize(b.text, ignore_punct) for b in order]
    norm_expected = [normalize(e, ignore_punct) for e in expected]
    wilds = [frozenset(c for c in e if readable is not None and c not in readable) for e in norm_expected]
    used = [False] * len(order)
    result: dict[int, tuple[str, float, list[int]]] = {}

    while len(result) < len(expected):
        best = None  # (ned, -run length, -line index, line index, start, end)
        for li, target in enumerate(norm_expected):
            if li in result:
                continue
            for start in range(len(order)):
                if used[start]:
                    continue
                joined = ""
                for end in range(start, min(start + max_run, len(order))):
                    if used[end]:
                        break
                    joined += norm_boxes[end]
                    score = ned(target, joined, wilds[li])
                    key = (score, -(end - start), -li)
                    if best is None or key > best[0]:
                        best = (key, li, start, end)
                    if len(joined) > 2 * len(target) + 4:
                        break
        if best is None or best[0][0] <= 0.0:
            break
        _, li, start, end = best
        idx = list(range(start, end + 1))
        for i in idx:
            used[i] = True
        result[li] = ("".join(norm_boxes[i] for i in idx), best[0][0], idx)

    scores = []
    for li, text in enumerate(expected):
        found_norm, score, idx = result.get(li, ("", ned(norm_expected[li], "", wilds[li]), []))
        if wilds[li]:
            exact = bool(idx) and edit_distance(norm_expected[li], found_norm, wilds[li]) == 0
        else:
            exact = found_norm == norm_expected[li]
        passed = exact if rule == "exact" else score >= min_ned
        raw_found = join_texts([order[i].text for i in idx])
        unverified = sorted(wilds[li], key=norm_expected[li].index)
        scores.append(LineScore(text, raw_found, score, exact, passed, [order[i] for i in idx], unverified))
    leftover = [b for b, u in zip(order, used) if not u]
    return scores, leftover


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
    """The JSON form: ``{"pass", "lines": [{"expected", "found", "ned", "exact", "pass"}], ...}``."""
    return {
        "pass": bool(scores) and all(s.passed for s in scores),
        "lines": [s.to_dict() for s in scores],
        "mean_ned": round(sum(s.ned for s in scores) / len(scores), 4) if scores else 0.0,
        "unmatched": [b.text for b in leftover],
    }
