"""What the typeset and glyph-check stages share: the typesetting parameters, their validation,
the fonts that enter the cache key, typesetting a poster's lines and a text-free background.

Kept here, not in a stage module, so that neither stage imports the other.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from zpipe.params import Param

TYPESET_PARAMS: dict[str, Param] = {
    "font": Param(str, "", "Font file (.ttf/.otf/.ttc, `path#N` for face N) or family name; "
                           "empty = Noto Sans CJK SC (bundled)."),
    "fallback_fonts": Param(list, ["Noto Sans CJK SC"], "Fonts tried in order for characters `font` lacks.",
                            item=str),
    "colour": Param(str, "auto", "Text colour: '#RRGGBB', a CSS name, auto (white or near-black by contrast) "
                                   "or accent (titles in a colour from the artwork, the rest auto)."),
    "stroke": Param(float, 0.0, "Outline width as a fraction of the font size (0 = none).", min=0.0, max=0.2),
    "stroke_colour": Param(str, "auto", "Outline colour ('auto' contrasts with the text)."),
    "shadow": Param(float, 0.45, "Soft drop-shadow opacity under light text (0 = none).", min=0.0, max=1.0),
    "align": Param(str, "center", "Horizontal alignment.", choices=("center", "left", "right")),
    "scrim": Param(str, "auto", "Soft band behind text: auto (on busy or low-contrast backgrounds), on, none.",
                   choices=("auto", "on", "none")),
    "scale": Param(float, 1.0, "Multiplier on the role-based text sizes.", min=0.3, max=3.0),
    "min_size": Param(int, 32, "Smallest font size in px when auto-fitting (OCR needs ≥ ~28).", min=8, max=400),
}


def check_typeset_params(params: dict[str, Any]) -> dict[str, str]:
    """Validation-time problems with fonts and colours: {param: message naming the fix}."""
    from zpipe.text.fonts import FontError, resolve_font
    from zpipe.text.typeset import TypesetError, parse_colour

    problems: dict[str, str] = {}
    try:
        resolve_font(params.get("font") or None)
    except FontError as exc:
        problems["font"] = str(exc)
    for spec in params.get("fallback_fonts") or []:
        try:
            resolve_font(spec)
        except FontError as exc:
            problems["fallback_fonts"] = str(exc)
            break
    for key in ("colour", "stroke_colour"):
        try:
            parse_colour(params.get(key, "auto"), key)
        except TypesetError as exc:
            problems[key] = str(exc)
    return problems


def typeset_style(params: dict[str, Any]):
    from zpipe.text.typeset import Style

    return Style(colour=params.get("colour", "auto"), stroke=float(params.get("stroke", 0.0)),
                 stroke_colour=params.get("stroke_colour", "auto"), shadow=float(params.get("shadow", 0.45)),
                 align=params.get("align", "center"), scrim=params.get("scrim", "auto"),
                 scale=float(params.get("scale", 1.0)), min_size=int(params.get("min_size", 32)))


def typeset_lines(image, lines: list[dict], params: dict[str, Any]):
    """Typeset ``lines`` over ``image``; user-fixable problems (fonts, fit, colours) -> StageFailure."""
    from zpipe.text.fonts import FontError
    from zpipe.text.typeset import TypesetError, typeset

    fallbacks = params.get("fallback_fonts")
    try:
        return typeset(image, lines, font=params.get("font") or None,
                       fallback_fonts=None if fallbacks is None else list(fallbacks), style=typeset_style(params))
    except (FontError, TypesetError, ValueError) as exc:
        from zpipe.stages.base import StageFailure

        raise StageFailure(str(exc)) from None


def text_free_background(asset, ctx, seed: int):
    """Generate the poster's background without text (prompt from compose_background_prompt)."""
    from zpipe.text.prompt import compose_background_prompt

    style = asset.fields.get("style") or ""
    prompt = compose_background_prompt(style, asset.fields["lines"], asset.width, asset.height)
    req = replace(ctx.request, prompt=prompt, seed=seed, kind="poster", init_image=None, mask=None, strength=1.0,
                  style=style)
    return ctx.generate([req])[0].image, prompt


def font_key(params: dict[str, Any]) -> dict[str, Any]:
    """The fonts the parameters resolve to here (name, file, version), the Bold weight installed for
    the first one and the Traditional face zh-Hant lines use: a changed font changes the key."""
    from zpipe.text.fonts import FontError, bold_of, lang_default, resolve_chain

    try:
        chain = resolve_chain(params.get("font") or None, params.get("fallback_fonts"))
        traditional = None if params.get("font") else resolve_chain(lang_default("zh-Hant"), [])[0]
    except FontError as exc:  # reported by check(); keyed as the problem so that a fix changes the key
        return {"fonts": str(exc)}
    key: dict[str, Any] = {"fonts": [face.label() for face in chain]}
    bold = bold_of(chain[0])
    key["bold"] = bold.label() if bold else None
    if traditional is not None:
        key["traditional"] = [traditional.label(), (bold_of(traditional) or traditional).label()]
    return key


def typeset_poster(asset, params: dict[str, Any], ctx) -> tuple[Any, dict[str, Any]]:
    """The typeset stage's work: the poster's lines drawn over its image; returns (image, metrics).

    A background whose prompt quoted the text has the engine's own lettering in it; typesetting
    over that would double the text, so a clean one is made first (plan typeset posters with
    ``compose_background_prompt`` to skip this extra generation)."""
    from zpipe.stages.base import StageFailure

    lines = asset.fields.get("lines") or []
    if not lines:
        raise StageFailure("the poster has no text lines to typeset; add `title:` to the recipe")
    image = asset.images["poster"]
    metrics: dict[str, Any] = {}
    if any(line["text"] in asset.prompt for line in lines):
        image, prompt = text_free_background(asset, ctx, asset.seed)
        metrics["background"] = {"regenerated": True, "prompt": prompt, "seed": asset.seed}
    out, layout = typeset_lines(image, lines, params)
    metrics["layout"] = layout
    return out, metrics


def unverifiable_warnings(recipe) -> list[str]:
    """For ``zpipe validate``: one warning per poster line with characters the OCR cannot read back,
    saying what the glyph check will do with it (its ``unverified`` policy)."""
    from zpipe.text.match import unreadable
    from zpipe.text.ocr import OcrError, readable_chars

    jobs = [j for j in recipe.jobs if j.kind == "posters" and j.fields.get("lines")]
    if not jobs:
        return []
    try:
        readable = readable_chars()
    except OcrError as exc:
        return [f"{recipe.path}: cannot tell which characters the glyph check can read: {exc}"]
    out, seen = [], set()
    for job in jobs:
        spec = next((s for s in job.stages if s.name == "glyph_check"), None)
        if spec is None:
            continue
        policy = spec.params.get("unverified", "auto")
        if policy == "auto":
            policy = "warn" if job.fields.get("text") == "typeset" else "fail"
        for line in job.fields["lines"]:
            chars = unreadable(line["text"], readable)
            key = (line["text"], policy)
            if chars and key not in seen:
                seen.add(key)
                shown = ", ".join(repr(c) for c in chars[:8]) + (", …" if len(chars) > 8 else "")
                what = "fails the poster" if policy == "fail" else "passes it with a warning"
                out.append(f"{recipe.path}: asset {job.id}, {line['role']} {line['text']!r}: the OCR cannot read "
                           f"{shown}; the glyph check marks the line unverified and {what} "
                           f"(glyph_check `unverified: {policy}`)")
    return out
