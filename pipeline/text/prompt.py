"""Engine prompts for posters with in-image text (Z-Image / Qwen-style text rendering).

Z-Image-Turbo (Qwen3 text encoder) renders text that the prompt *quotes verbatim* and places it
where the prompt says. So each line becomes one clause: a layout hint (where, how big, how bold),
the language, and the exact text in quotes — Chinese in full-width quotes (标题为“春节快乐” style),
Latin in straight double quotes. The prompt ends with "no other text", which cuts stray glyphs.

``compose_prompt`` is what the planner records as the job's prompt; ``compose_background_prompt``
asks for the same poster without any text, for the typeset path (text drawn on top afterwards).

Pure Python, nothing heavy imported.
"""

from __future__ import annotations

from typing import Any

ROLES = ("title", "subtitle", "body")
LANGS = ("zh", "zh-Hans", "zh-Hant", "en", "auto")
LANGUAGE = {"zh": "Chinese", "zh-Hans": "Simplified Chinese", "zh-Hant": "Traditional Chinese", "en": "English"}
PLACEMENTS = ("top", "center", "bottom")

# Where a line goes when the recipe gives no placement.
DEFAULT_PLACEMENT = {"title": "top", "subtitle": "top", "body": "bottom"}

_ROLE_HINT = {
    "title": "a large bold title",
    "subtitle": "a medium-sized subtitle",
    "body": "small body text",
}
_PLACE_HINT = {"top": "at the top", "center": "in the center", "bottom": "at the bottom"}


def is_cjk(ch: str) -> bool:
    """True for CJK ideographs, kana, hangul and CJK/full-width punctuation."""
    o = ord(ch)
    return (
        0x2E80 <= o <= 0x9FFF  # radicals, CJK symbols & punctuation, kana, CJK unified
        or 0xAC00 <= o <= 0xD7AF  # hangul
        or 0xF900 <= o <= 0xFAFF  # compatibility ideographs
        or 0xFE30 <= o <= 0xFE4F  # CJK compatibility forms
        or 0xFF00 <= o <= 0xFFEF  # half/full-width forms
        or 0x20000 <= o <= 0x3FFFF  # extensions B+
    )


def detect_lang(text: str) -> str:
    """'zh' when the text has any CJK character, else 'en'."""
    return "zh" if any(is_cjk(c) for c in text) else "en"


def line_lang(line: dict[str, Any]) -> str:
    lang = line.get("lang") or "auto"
    return detect_lang(line["text"]) if lang == "auto" else lang


def line_placement(line: dict[str, Any]) -> str:
    return line.get("placement") or DEFAULT_PLACEMENT[line.get("role") or "body"]


def check_lines(lines: Any) -> list[dict[str, Any]]:
    """Validate poster lines; raise ValueError naming the bad line and the fix."""
    if not isinstance(lines, list) or not lines:
        raise ValueError("poster lines: expected a non-empty list of {role, text, lang, placement} mappings")
    out = []
    for i, line in enumerate(lines):
        where = f"poster line {i + 1}"
        if not isinstance(line, dict):
            raise ValueError(f"{where}: expected a mapping with 'text', got {type(line).__name__}")
        text = line.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{where}: 'text' must be a non-empty string")
        role = line.get("role") or "body"
        if role not in ROLES:
            raise ValueError(f"{where}: role must be one of {', '.join(ROLES)}, got {role!r}")
        lang = line.get("lang") or "auto"
        if lang not in LANGS:
            raise ValueError(f"{where}: lang must be one of {', '.join(LANGS)}, got {lang!r}")
        placement = line.get("placement")
        if placement is not None and placement not in PLACEMENTS:
            raise ValueError(
                f"{where}: placement must be one of {', '.join(PLACEMENTS)} or null, got {placement!r}"
            )
        out.append({**line, "role": role, "lang": lang, "placement": placement, "text": text.strip()})
    return out


def quote(text: str, lang: str) -> str:
    """Quote ``text`` verbatim, choosing quote marks that the text itself does not contain."""
    pairs = [("“", "”"), ("「", "」"), ('"', '"')] if lang.startswith("zh") else [('"', '"'), ("“", "”"), ("「", "」")]
    for left, right in pairs:
        if left not in text and right not in text:
            return f"{left}{text}{right}"
    return f"「{text}」"


def orientation(width: int, height: int) -> str:
    ratio = width / height
    if ratio > 1.05:
        return "horizontal (landscape)"
    if ratio < 0.95:
        return "vertical (portrait)"
    return "square"


def _clauses(lines: list[dict[str, Any]]) -> list[str]:
    clauses = []
    last_role: dict[str, str] = {}  # placement -> role of the previous line placed there
    for line in lines:
        place = line_placement(line)
        lang = line_lang(line)
        prev = last_role.get(place)
        last_role[place] = line["role"]
        where = _PLACE_HINT[place] if prev is None else f"{_PLACE_HINT[place]}, directly below the {prev}"
        language = LANGUAGE[lang]
        clauses.append(f"{where}, {_ROLE_HINT[line['role']]} in {language} that reads {quote(line['text'], lang)}")
    return clauses


def compose_prompt(style: str, lines: list[dict], width: int, height: int) -> str:
    """The engine prompt for a poster whose text the engine renders itself.

    >>> compose_prompt("红色喜庆剪纸风格", [{"role": "title", "text": "春节快乐", "lang": "zh"}], 768, 1024)
    'A vertical (portrait) poster. Style: 红色喜庆剪纸风格. The poster shows exactly this text: at the top, a large bold title in Chinese that reads “春节快乐”. No other text, letters or watermarks; every character sharp, correctly written and fully legible, clean professional typography.'
    """
    lines = check_lines(lines)
    style = (style or "").strip().rstrip(".。")
    head = f"A {orientation(width, height)} poster."
    if style:
        head += f" Style: {style}."
    what = "this text" if len(lines) == 1 else f"these {len(lines)} lines of text, in this order"
    body = f" The poster shows exactly {what}: " + "; ".join(_clauses(lines)) + "."
    tail = (
        " No other text, letters or watermarks; every character sharp, correctly written and fully legible,"
        " clean professional typography."
    )
    return head + body + tail


def compose_background_prompt(style: str, lines: list[dict], width: int, height: int) -> str:
    """The prompt for a text-free poster background, with calm space where typeset text will go."""
    lines = check_lines(lines)
    style = (style or "").strip().rstrip(".。")
    places = []
    for line in lines:
        p = line_placement(line)
        if p not in places:
            places.append(p)
    areas = " and ".join({"top": "the top", "center": "the center", "bottom": "the bottom"}[p] for p in places)
    head = f"A {orientation(width, height)} poster background."
    if style:
        head += f" Style: {style}."
    return (
        head
        + f" Leave calm, uncluttered, evenly toned space at {areas} for a headline to be added later."
        + " Absolutely no text, no letters, no characters, no logos, no watermarks."
    )
