"""Contact sheets for a version: one PNG grid and an ``index.html``, and an HTML diff of two versions.

``render(manifest, read)`` returns ``{"contact_sheet.png": bytes, "index.html": bytes}`` for the
version described by ``manifest`` (the store's format); ``read(relpath)`` returns the bytes of a file
of that version, with paths as in ``assets[i]["files"][role]`` (relative to the version folder, where
``index.html`` is meant to be written, so its links are those same relative paths).

Each asset shows a 2x2 tiled preview of its albedo (or poster), thumbnails of its maps, its seam scores
per role and what the seam gate did. Failed assets are framed in red with their error. Everything taken
from the manifest is HTML-escaped, and a file path that could leave the version folder is not linked.

``render_diff(old, new, old_prefix, new_prefix)`` returns an HTML page listing assets added, removed
and changed between two manifests; changed assets are shown side by side, their images loaded from
``old_prefix + relpath`` and ``new_prefix + relpath`` (e.g. ``"../v0001/"`` and ``"../v0002/"``).
"""

from __future__ import annotations

import base64
import html
import os
import posixpath
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from zpipe.texture import wrap
from zpipe.texture.formats import encode_png
from zpipe.texture.readback import decode

CARD_W = 320  # px of one asset card in the PNG
THUMB = 60  # px of a map thumbnail in the PNG
COLS = 4
FAIL = (200, 40, 40)
WEB_FORMATS = (".png", ".jpg", ".jpeg", ".webp")
COLOUR_ROLES = ("albedo", "poster")


# ---- manifest helpers --------------------------------------------------------------------------

def _safe_rel(path: Any) -> str | None:
    """``path`` when it is a plain relative path inside the version folder, else None."""
    if not isinstance(path, str) or not path or "\\" in path or path.startswith("/") or ":" in path:
        return None
    norm = posixpath.normpath(path)
    if norm.startswith("..") or norm == ".":
        return None
    return norm


def _main_role(files: dict[str, Any]) -> str | None:
    for role in COLOUR_ROLES:
        if role in files:
            return role
    return next(iter(files), None)


def seam_table(asset: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Seam scores per role from an asset's metrics: export's (final files) over pbr's over tile's."""
    metrics = asset.get("metrics") or {}
    out: dict[str, dict[str, float]] = {}
    tile = metrics.get("tile") or {}
    for role, per in (tile.get("scores") or {}).items():
        out[role] = dict(per)
    for role, per in ((metrics.get("pbr") or {}).get("seam") or {}).items():
        out[role] = dict(per)
    for role, m in (metrics.get("export") or {}).items():
        if isinstance(m, dict) and isinstance(m.get("seam"), dict):
            out[role] = dict(m["seam"])
    return out


def gate_summary(asset: dict[str, Any]) -> str:
    """One line on what the seam gate did, e.g. 'seam gate: passed after blend repair (12.3 -> 1.1)'."""
    tile = (asset.get("metrics") or {}).get("tile")
    if not tile:
        return ""
    steps = [a for a in tile.get("attempts", []) if a.get("action") != "check"]
    done = ", ".join(
        (f"{a.get('method', '')} repair" if a["action"] == "repair" else
         ("re-seed skipped" if "skipped" in a else f"re-seed {a.get('seed')}"))
        for a in steps if "action" in a)
    before = max((v for per in (tile.get("scores_before") or {}).values() for v in per.values()), default=None)
    after = max((v for per in (tile.get("scores") or {}).values() for v in per.values()), default=None)
    state = "passed" if tile.get("passed", True) else "FAILED"
    text = f"seam gate: {state}"
    if done:
        text += f" after {done}"
    if before is not None and after is not None and steps:
        text += f" ({before:.2f} -> {after:.2f})"
    return text


def _load(read: Callable[[str], bytes], rel: str | None) -> np.ndarray | None:
    if rel is None:
        return None
    try:
        img = decode(read(rel), rel)
    except Exception:  # noqa: BLE001 - a missing or unreadable file shows as a placeholder
        return None
    return img


def _rgb(img: np.ndarray) -> np.ndarray:
    if img.shape[2] == 1:
        return np.repeat(img, 3, axis=2)
    if img.shape[2] == 2:
        return np.concatenate([img, np.zeros_like(img[..., :1])], axis=2)
    return img[..., :3]


def _thumb(img: np.ndarray, size: int) -> np.ndarray:
    return _rgb(wrap.resize(img, size, size, "area" if img.shape[0] > size else "linear", wrap=True))


def _fit(img: np.ndarray, size: int) -> np.ndarray:
    """A poster scaled to fit a size x size square, aspect kept, centred on the card colour."""
    h, w = img.shape[:2]
    scale = size / max(h, w)
    th, tw = max(1, round(h * scale)), max(1, round(w * scale))
    small = _rgb(wrap.resize(img, tw, th, "area" if scale < 1 else "linear", wrap=False))
    out = np.full((size, size, 3), 40 / 255, dtype=np.float32)
    y, x = (size - th) // 2, (size - tw) // 2
    out[y:y + th, x:x + tw] = small
    return out


def glyph_summary(asset: dict[str, Any]) -> str:
    """One line on the poster's OCR check, e.g. 'OCR pass: 3/3 lines (fallback)'."""
    g = (asset.get("metrics") or {}).get("glyph_check") or {}
    lines = g.get("lines") or []
    if not lines:
        return ""
    ok = sum(1 for line in lines if line.get("pass"))
    path = f" ({g['path']})" if g.get("path") and g.get("path") != "render" else ""
    return f"OCR {'pass' if g.get('pass') else 'FAIL'}: {ok}/{len(lines)} lines{path}"


# ---- PNG ------------------------------------------------------------------------------------------

def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType
        return ImageFont.load_default()


def _card(asset: dict[str, Any], read: Callable[[str], bytes]) -> Image.Image:
    files = {r: _safe_rel(p) for r, p in (asset.get("files") or {}).items()}
    failed = asset.get("status") == "failed"
    main = _main_role(files)
    maps = [r for r in files if r != main]
    rows_of_maps = (len(maps) + 4) // 5
    height = CARD_W + rows_of_maps * (THUMB + 16) + 64
    card = Image.new("RGB", (CARD_W, height), (40, 40, 44) if not failed else (70, 20, 20))
    draw = ImageDraw.Draw(card)
    img = _load(read, files.get(main)) if main else None
    if img is not None:
        tiled = wrap.tile2x2(_thumb(img, CARD_W // 2)) if asset.get("kind", "textures") != "posters" \
            else _fit(img, CARD_W)
        card.paste(Image.fromarray((np.clip(tiled, 0, 1) * 255 + 0.5).astype(np.uint8)), (0, 0))
    else:
        draw.rectangle([0, 0, CARD_W - 1, CARD_W - 1], fill=(60, 60, 60))
        draw.line([0, 0, CARD_W, CARD_W], fill=(90, 90, 90), width=2)
        draw.line([0, CARD_W, CARD_W, 0], fill=(90, 90, 90), width=2)
    small = _font(11)
    seams = seam_table(asset)
    for i, role in enumerate(maps):
        x, y = (i % 5) * (THUMB + 4), CARD_W + 4 + (i // 5) * (THUMB + 16)
        m = _load(read, files[role])
        if m is not None:
            card.paste(Image.fromarray((np.clip(_thumb(m, THUMB), 0, 1) * 255 + 0.5).astype(np.uint8)), (x, y))
        draw.text((x, y + THUMB), role[:10], fill=(220, 220, 220), font=small)
    y = CARD_W + rows_of_maps * (THUMB + 16) + 6
    draw.text((6, y), str(asset.get("id", "?"))[:44], fill=(255, 255, 255), font=_font(14))
    main_seam = seams.get(main or "", {})
    line = f"{asset.get('status', '?')}"
    if main_seam:
        line += "  seam " + " ".join(f"{a}={v:.2f}" for a, v in main_seam.items())
    draw.text((6, y + 18), line, fill=(255, 120, 120) if failed else (180, 220, 180), font=small)
    detail = str(asset.get("error") or "") if failed else (glyph_summary(asset) or gate_summary(asset))
    draw.text((6, y + 34), detail[:60], fill=(255, 170, 170) if failed else (200, 200, 200), font=small)
    if failed:
        draw.rectangle([0, 0, CARD_W - 1, height - 1], outline=FAIL, width=4)
    return card


def contact_sheet_png(manifest: dict[str, Any], read: Callable[[str], bytes]) -> bytes:
    assets = manifest.get("assets") or []
    # Decoding every map again dominates; the decoders release the GIL, so cards are made in threads.
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        cards = list(pool.map(lambda a: _card(a, read), assets))
    gap, head = 8, 36
    cols = max(1, min(COLS, len(cards)))
    rows = [cards[i:i + cols] for i in range(0, len(cards), cols)]
    width = cols * (CARD_W + gap) + gap
    height = head + sum(max(c.height for c in row) + gap for row in rows) + gap
    sheet = Image.new("RGB", (width, height), (24, 24, 26))
    draw = ImageDraw.Draw(sheet)
    draw.text((gap, 8), _title(manifest), fill=(255, 255, 255), font=_font(18))
    y = head
    for row in rows:
        for i, card in enumerate(row):
            sheet.paste(card, (gap + i * (CARD_W + gap), y))
        y += max(c.height for c in row) + gap
    arr = np.asarray(sheet, dtype=np.float32) / 255.0
    return encode_png(arr, 8, "srgb", compression=6)


def _title(manifest: dict[str, Any]) -> str:
    recipe = (manifest.get("recipe") or {}).get("name", "?")
    s = manifest.get("summary") or {}
    return (f"{recipe} {manifest.get('version', '')} - built {s.get('built', 0)}, reused {s.get('reused', 0)}, "
            f"failed {s.get('failed', 0)}")


# ---- HTML -----------------------------------------------------------------------------------------

_CSS = """
body{background:#18181a;color:#ddd;font:14px system-ui,sans-serif;margin:16px}
h1{font-size:20px} .grid{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#28282c;border:3px solid #28282c;border-radius:6px;padding:8px;width:300px}
.card.failed{border-color:#c82828;background:#3a1818}
.tiled{width:300px;height:300px;background-size:50% 50%;background-repeat:repeat;image-rendering:auto}
.poster{max-width:300px}
.maps{display:flex;flex-wrap:wrap;gap:4px;margin-top:6px}.maps figure{margin:0;font-size:11px;text-align:center}
.maps img{width:56px;height:56px;display:block}
table{border-collapse:collapse;font-size:12px;margin-top:6px}td,th{padding:1px 6px;border-bottom:1px solid #444}
.bad{color:#ff7070;font-weight:bold}.ok{color:#9d9}.err{color:#ff9090;white-space:pre-wrap;font-size:12px}
.id{font-weight:bold;color:#fff;word-break:break-all}.small{font-size:12px;color:#aaa}
.pair{display:flex;gap:16px;align-items:flex-start;margin:12px 0;padding:8px;background:#222}
"""


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _data_uri(img: np.ndarray, size: int) -> str:
    png = encode_png(np.clip(_thumb(img, size), 0, 1), 8, "srgb")
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _src(rel: str, prefix: str, read: Callable[[str], bytes] | None, size: int) -> str | None:
    """A URL for an <img>: the file itself when browsers show its format, else an inline thumbnail."""
    if rel.lower().endswith(WEB_FORMATS):
        return prefix + rel
    if read is None:
        return None
    img = _load(read, rel)
    return _data_uri(img, size) if img is not None else None


def _max_allowed(asset: dict[str, Any]) -> float | None:
    tile = (asset.get("metrics") or {}).get("tile") or {}
    return tile.get("max_seam")


def _asset_html(asset: dict[str, Any], prefix: str = "", read: Callable[[str], bytes] | None = None) -> str:
    files = {r: _safe_rel(p) for r, p in (asset.get("files") or {}).items()}
    failed = asset.get("status") == "failed"
    main = _main_role(files)
    parts = [f'<div class="card{" failed" if failed else ""}" id="{_e(asset.get("id", ""))}">']
    if main and files[main]:
        src = _src(files[main], prefix, read, 300)
        if src and asset.get("kind", "textures") != "posters":
            parts.append(f'<a href="{_e(prefix + files[main])}"><div class="tiled" title="2x2 tiled preview" '
                         f'style="background-image:url(&quot;{_e(src)}&quot;)"></div></a>')
        elif src:
            parts.append(f'<a href="{_e(prefix + files[main])}"><img class="poster" src="{_e(src)}" alt=""></a>')
    parts.append(f'<div class="id">{_e(asset.get("id", "?"))}</div>')
    parts.append(f'<div class="small">{_e(asset.get("status", "?"))} · seed {_e(asset.get("seed", "?"))} · '
                 f'{_e((asset.get("engine") or {}).get("name", ""))}</div>')
    if asset.get("prompt"):
        parts.append(f'<div class="small">{_e(asset["prompt"])}</div>')
    if failed:
        parts.append(f'<div class="err">FAILED: {_e(asset.get("error", ""))}</div>')
    maps = [r for r in files if r != main and files[r]]
    if maps:
        parts.append('<div class="maps">')
        for role in maps:
            src = _src(files[role], prefix, read, 56)
            img = f'<img src="{_e(src)}" alt="{_e(role)}">' if src else ""
            parts.append(f'<figure><a href="{_e(prefix + files[role])}">{img}</a>{_e(role)}</figure>')
        parts.append("</div>")
    glyph = (asset.get("metrics") or {}).get("glyph_check") or {}
    if glyph.get("lines"):
        rows = "".join(f'<tr><td>{_e(ln.get("expected", ""))}</td><td>{_e(ln.get("found", ""))}</td>'
                       f'<td>{float(ln.get("ned", 0)):.2f}</td><td class="{"ok" if ln.get("pass") else "bad"}">'
                       f'{"pass" if ln.get("pass") else "FAIL"}</td></tr>' for ln in glyph["lines"])
        parts.append(f'<div class="small">{_e(glyph_summary(asset))}</div><table><tr><th>expected</th>'
                     f'<th>OCR read</th><th>NED</th><th></th></tr>{rows}</table>')
    seams = seam_table(asset)
    if seams:
        limit = _max_allowed(asset)
        axes = sorted({a for per in seams.values() for a in per})
        rows = "".join(
            "<tr><td>" + _e(role) + "</td>" + "".join(
                f'<td class="{"bad" if limit is not None and per.get(a, 0) > limit else "ok"}">'
                + (f"{per[a]:.2f}" if a in per else "") + "</td>" for a in axes) + "</tr>"
            for role, per in seams.items())
        head = "".join(f"<th>seam {a}</th>" for a in axes)
        parts.append(f"<table><tr><th>role</th>{head}</tr>{rows}</table>")
    summary = gate_summary(asset)
    if summary:
        parts.append(f'<div class="small">{_e(summary)}</div>')
    parts.append("</div>")
    return "".join(parts)


def index_html(manifest: dict[str, Any], read: Callable[[str], bytes] | None = None) -> str:
    assets = manifest.get("assets") or []
    failed = [a for a in assets if a.get("status") == "failed"]
    recipe = manifest.get("recipe") or {}
    body = [f"<h1>{_e(_title(manifest))}</h1>",
            f'<p class="small">recipe {_e(recipe.get("path", ""))} · sha256 {_e(str(recipe.get("sha256", ""))[:12])}'
            f' · created {_e(manifest.get("created", ""))} · zpipe {_e(manifest.get("zpipe_version", ""))} · '
            f'<a href="contact_sheet.png">contact_sheet.png</a> · <a href="manifest.json">manifest.json</a></p>']
    if failed:
        body.append('<p class="bad">Failed: ' + ", ".join(
            f'<a class="bad" href="#{_e(a.get("id", ""))}">{_e(a.get("id", "?"))}</a>' for a in failed) + "</p>")
    body.append('<div class="grid">' + "".join(_asset_html(a, "", read) for a in assets) + "</div>")
    return _page(f"{recipe.get('name', '')} {manifest.get('version', '')}", "".join(body))


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f"<style>{_CSS}</style></head><body>{body}</body></html>\n")


def render(manifest: dict[str, Any], read: Callable[[str], bytes]) -> dict[str, bytes]:
    """The contact sheet PNG and index.html of one version (see the module doc)."""
    return {"contact_sheet.png": contact_sheet_png(manifest, read),
            "index.html": index_html(manifest, read).encode("utf-8")}


# ---- diff -----------------------------------------------------------------------------------------

def _changed(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return (a.get("key") != b.get("key") or (a.get("sha256") or {}) != (b.get("sha256") or {})
            or a.get("status") != b.get("status"))


def render_diff(old: dict[str, Any], new: dict[str, Any], old_prefix: str, new_prefix: str) -> str:
    """HTML page comparing two versions: added, removed, and changed assets side by side."""
    old_by = {a.get("id"): a for a in old.get("assets") or []}
    new_by = {a.get("id"): a for a in new.get("assets") or []}
    added = [i for i in new_by if i not in old_by]
    removed = [i for i in old_by if i not in new_by]
    changed = [i for i in new_by if i in old_by and _changed(old_by[i], new_by[i])]
    same = len(new_by) - len(added) - len(changed)
    ov, nv = old.get("version", "old"), new.get("version", "new")
    name = (new.get("recipe") or old.get("recipe") or {}).get("name", "")
    body = [f"<h1>{_e(name)}: {_e(ov)} → {_e(nv)}</h1>",
            f'<p>{len(changed)} changed, {len(added)} added, {len(removed)} removed, {same} unchanged</p>']
    if added:
        body.append("<h2>Added</h2><div class=\"grid\">"
                    + "".join(_asset_html(new_by[i], new_prefix) for i in added) + "</div>")
    if removed:
        body.append("<h2>Removed</h2><div class=\"grid\">"
                    + "".join(_asset_html(old_by[i], old_prefix) for i in removed) + "</div>")
    if changed:
        body.append("<h2>Changed</h2>")
        for i in changed:
            body.append(f'<div class="pair"><div><div class="small">{_e(ov)}</div>'
                        f"{_asset_html(old_by[i], old_prefix)}</div><div><div class=\"small\">{_e(nv)}</div>"
                        f"{_asset_html(new_by[i], new_prefix)}</div></div>")
    return _page(f"{name} {ov} → {nv}", "".join(body))
