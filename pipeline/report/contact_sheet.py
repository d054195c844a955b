"""Contact sheets for a version, in pages of bounded size, with ``index.html`` pages; and an HTML diff.

:class:`Pages` makes them while a build runs: the build hands it each asset's record as soon as the
asset is known (reused at the start, built as it finishes), a small pool renders the asset's card (a
thumbnail) and its HTML, and each page is written as soon as its assets are all in. Memory stays
flat in the asset count: waiting cards are kept on disk, a page holds ``PER_PAGE`` cards.

Files (in the version folder): ``contact_sheet.png`` (page 1), ``contact_sheet-0002.png`` …, and
``index.html`` (page 1), ``index-0002.html`` …, each page linking the others; images load lazily.
``read(relpath)`` returns the bytes of a file of the asset, with paths as in
``assets[i]["files"][role]`` (relative to the version folder, so the pages' links are those paths).

Each asset shows a 2x2 tiled preview of its albedo (or poster), thumbnails of its maps, its seam scores
per role and what the seam gate did. Failed assets are framed in red with their error. Everything taken
from the manifest is HTML-escaped, and a file path that could leave the version folder is not linked.

``render(manifest, read)`` makes the same files for a whole manifest at once (``{name: bytes}``).
``render_diff(old, new, old_prefix, new_prefix)`` returns an HTML page of the assets added, removed and
changed between two manifests, with what changed; images load from ``old_prefix + relpath`` and
``new_prefix + relpath`` (prefixes end with ``/``).
"""

from __future__ import annotations

import base64
import functools
import html
import logging
import os
import posixpath
import shutil
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from zpipe.texture import wrap
from zpipe.texture.formats import encode_png
from zpipe.texture.readback import decode

log = logging.getLogger(__name__)
CARD_W = 192  # px of one asset card in the PNG
THUMB = 34  # px of a map thumbnail in the PNG
COLS = 10  # cards per row of a contact sheet page
PER_PAGE = 50  # assets per contact sheet page and per index page (the last page is drawn at the end)
HEAD = 30  # px of a page's title
GAP = 6
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
    return _thread_font(size, threading.get_ident())


@functools.lru_cache(maxsize=64)
def _thread_font(size: int, _thread: int) -> ImageFont.ImageFont:
    """Loading a font costs more than drawing a card: once per size and thread (fonts are not shared)."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType
        return ImageFont.load_default()


def _card(asset: dict[str, Any], read: Callable[[str], bytes]) -> Image.Image:
    files = {r: _safe_rel(p) for r, p in (asset.get("files") or {}).items()}
    failed = asset.get("status") == "failed"
    main = _main_role(files)
    maps = [r for r in files if r != main]
    per_row = CARD_W // (THUMB + 4)
    rows_of_maps = (len(maps) + per_row - 1) // per_row
    height = CARD_W + rows_of_maps * (THUMB + 14) + 56
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
    small = _font(10)
    seams = seam_table(asset)
    for i, role in enumerate(maps):
        x, y = (i % per_row) * (THUMB + 4), CARD_W + 4 + (i // per_row) * (THUMB + 14)
        m = _load(read, files[role])
        if m is not None:
            card.paste(Image.fromarray((np.clip(_thumb(m, THUMB), 0, 1) * 255 + 0.5).astype(np.uint8)), (x, y))
        draw.text((x, y + THUMB), role[:6], fill=(220, 220, 220), font=small)
    y = CARD_W + rows_of_maps * (THUMB + 14) + 4
    draw.text((4, y), str(asset.get("id", "?"))[:30], fill=(255, 255, 255), font=_font(12))
    main_seam = seams.get(main or "", {})
    line = f"{asset.get('status', '?')}"
    if main_seam:
        line += "  seam " + " ".join(f"{a}={v:.2f}" for a, v in main_seam.items())
    draw.text((4, y + 16), line, fill=(255, 120, 120) if failed else (180, 220, 180), font=small)
    detail = str(asset.get("error") or "") if failed else (glyph_summary(asset) or gate_summary(asset))
    draw.text((4, y + 30), detail[:38], fill=(255, 170, 170) if failed else (200, 200, 200), font=small)
    if failed:
        draw.rectangle([0, 0, CARD_W - 1, height - 1], outline=FAIL, width=4)
    return card


def _title(manifest: dict[str, Any]) -> str:
    recipe = (manifest.get("recipe") or {}).get("name", "?")
    s = manifest.get("summary") or {}
    return (f"{recipe} {manifest.get('version', '')} - built {s.get('built', 0)}, reused {s.get('reused', 0)}, "
            f"failed {s.get('failed', 0)}")


# ---- HTML -----------------------------------------------------------------------------------------

_CSS = """
body{background:#18181a;color:#ddd;font:14px system-ui,sans-serif;margin:16px}
h1{font-size:20px} .grid{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#28282c;border:3px solid #28282c;border-radius:6px;padding:8px;width:300px;
content-visibility:auto;contain-intrinsic-size:300px 480px}
nav{margin:8px 0}nav a,nav b{margin-right:6px}
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
        parts.append(_preview_html(asset, files[main], prefix, read))
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
            img = f'<img loading="lazy" src="{_e(src)}" alt="{_e(role)}">' if src else ""
            parts.append(f'<figure><a href="{_e(prefix + files[role])}">{img}</a>{_e(role)}</figure>')
        parts.append("</div>")
    parts += [_glyph_html(asset), _seam_html(asset)]
    summary = gate_summary(asset)
    if summary:
        parts.append(f'<div class="small">{_e(summary)}</div>')
    parts.append("</div>")
    return "".join(parts)


def _preview_html(asset: dict[str, Any], rel: str, prefix: str, read: Callable[[str], bytes] | None) -> str:
    """The main image: a texture tiled 2x2 (so its seams show), a poster as it is."""
    src = _src(rel, prefix, read, 300)
    if src and asset.get("kind", "textures") != "posters":
        return (f'<a href="{_e(prefix + rel)}"><div class="tiled" title="2x2 tiled preview" '
                f'style="background-image:url(&quot;{_e(src)}&quot;)"></div></a>')
    if src:
        return f'<a href="{_e(prefix + rel)}"><img class="poster" loading="lazy" src="{_e(src)}" alt=""></a>'
    return ""


def _glyph_html(asset: dict[str, Any]) -> str:
    glyph = (asset.get("metrics") or {}).get("glyph_check") or {}
    if not glyph.get("lines"):
        return ""
    rows = "".join(f'<tr><td>{_e(ln.get("expected", ""))}</td><td>{_e(ln.get("found", ""))}</td>'
                   f'<td>{float(ln.get("ned", 0)):.2f}</td><td class="{"ok" if ln.get("pass") else "bad"}">'
                   f'{"pass" if ln.get("pass") else "FAIL"}</td></tr>' for ln in glyph["lines"])
    return (f'<div class="small">{_e(glyph_summary(asset))}</div><table><tr><th>expected</th>'
            f'<th>OCR read</th><th>NED</th><th></th></tr>{rows}</table>')


def _seam_html(asset: dict[str, Any]) -> str:
    seams = seam_table(asset)
    if not seams:
        return ""
    limit = _max_allowed(asset)
    axes = sorted({a for per in seams.values() for a in per})
    rows = "".join(
        "<tr><td>" + _e(role) + "</td>" + "".join(
            f'<td class="{"bad" if limit is not None and per.get(a, 0) > limit else "ok"}">'
            + (f"{per[a]:.2f}" if a in per else "") + "</td>" for a in axes) + "</tr>"
        for role, per in seams.items())
    head = "".join(f"<th>seam {a}</th>" for a in axes)
    return f"<table><tr><th>role</th>{head}</tr>{rows}</table>"


def _index_head(manifest: dict[str, Any]) -> str:
    recipe = manifest.get("recipe") or {}
    return (f"<h1>{_e(_title(manifest))}</h1>"
            f'<p class="small">recipe {_e(recipe.get("path", ""))} · sha256 {_e(str(recipe.get("sha256", ""))[:12])}'
            f' · created {_e(manifest.get("created", ""))} · zpipe {_e(manifest.get("zpipe_version", ""))} · '
            f'<a href="contact_sheet.png">contact_sheet.png</a> · <a href="manifest.json">manifest.json</a></p>')


def index_html(manifest: dict[str, Any], read: Callable[[str], bytes] | None = None) -> str:
    """One page of every asset of ``manifest`` (the paged form is what :class:`Pages` writes)."""
    assets = manifest.get("assets") or []
    failed = [a for a in assets if a.get("status") == "failed"]
    body = [_index_head(manifest)]
    if failed:
        body.append('<p class="bad">Failed: ' + ", ".join(
            f'<a class="bad" href="#{_e(a.get("id", ""))}">{_e(a.get("id", "?"))}</a>' for a in failed) + "</p>")
    body.append('<div class="grid">' + "".join(_asset_html(a, "", read) for a in assets) + "</div>")
    return _page(f"{(manifest.get('recipe') or {}).get('name', '')} {manifest.get('version', '')}", "".join(body))


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f"<style>{_CSS}</style></head><body>{body}</body></html>\n")


def sheet_name(page: int) -> str:
    return "contact_sheet.png" if page == 1 else f"contact_sheet-{page:04d}.png"


def index_name(page: int) -> str:
    return "index.html" if page == 1 else f"index-{page:04d}.html"


class Pages:
    """The contact sheet and index pages of one version, made while its build runs (see the module doc).

    ``add(position, asset, read)`` for every asset (position 0 … total-1, any order, each once), then
    ``finish(manifest_head)`` writes the rest and returns the file names. Cards are rendered by a
    pool of ``threads``; ``close()`` stops it (``finish`` does too).
    """

    def __init__(self, folder: Path, title: str, total: int, threads: int = 2):
        self.folder = Path(folder)
        self.cards = self.folder / ".cards"
        self.cards.mkdir(parents=True, exist_ok=True)
        self.title, self.total = title, total
        self.pages = max(1, (total + PER_PAGE - 1) // PER_PAGE)
        self._pool = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="zpipe-sheet")
        self._lock = threading.Lock()
        self._waiting: dict[int, dict[int, tuple[int, int]]] = {}  # page -> {position: card size}
        self._failed: list[tuple[int, str]] = []
        self._futures: list[Future] = []
        # Back-pressure: ``add`` waits while this many cards are queued, so the cards keep pace with the
        # build and the end of the build has only the last few to draw (not a backlog of thousands).
        self._room = threading.Semaphore(4 * max(1, threads))
        self._written: set[int] = set()

    def add(self, position: int, asset: dict[str, Any], read: Callable[[str], bytes]) -> None:
        if asset.get("status") == "failed":
            self._failed.append((position, str(asset.get("id", "?"))))
        self._room.acquire()
        self._futures.append(self._pool.submit(self._render, position, asset, read))
        if len(self._futures) > 4 * PER_PAGE:  # keep those still running, and the failed ones for finish()
            self._futures = [f for f in self._futures if not f.done() or f.exception() is not None]

    def _render(self, position: int, asset: dict[str, Any], read: Callable[[str], bytes]) -> None:
        try:
            card, snippet = _card(asset, read), _asset_html(asset, "", read)
        except Exception:  # noqa: BLE001 - one odd record costs its card, not the report
            log.exception("contact sheet: cannot draw %s", asset.get("id"))
            card = Image.new("RGB", (CARD_W, CARD_W), (60, 60, 60))
            snippet = f'<div class="card">{_e(asset.get("id", "?"))}</div>'
        finally:
            self._room.release()
        stem = self.cards / f"{position:08d}"
        stem.with_suffix(".raw").write_bytes(card.tobytes())
        stem.with_suffix(".html").write_text(snippet, encoding="utf-8")
        page = position // PER_PAGE + 1
        with self._lock:
            waiting = self._waiting.setdefault(page, {})
            waiting[position] = card.size
            if len(waiting) < self._page_size(page):
                return
            del self._waiting[page]
        self._compose(page, waiting)

    def _page_size(self, page: int) -> int:
        return min(PER_PAGE, self.total - (page - 1) * PER_PAGE) if self.total else 0

    def _compose(self, page: int, sizes: dict[int, tuple[int, int]]) -> None:
        """Write page ``page``'s sheet and the body of its index page, then drop its cards."""
        order = sorted(sizes)
        rows = [order[i:i + COLS] for i in range(0, len(order), COLS)]
        heights = [max(sizes[p][1] for p in row) for row in rows]
        width = min(COLS, len(order)) * (CARD_W + GAP) + GAP
        sheet = Image.new("RGB", (max(width, 2 * CARD_W), HEAD + sum(h + GAP for h in heights) + GAP), (24, 24, 26))
        ImageDraw.Draw(sheet).text((GAP, 6), f"{self.title} · page {page}/{self.pages}", fill=(255, 255, 255),
                                   font=_font(16))
        y = HEAD
        body = []
        for row, h in zip(rows, heights):
            for i, position in enumerate(row):
                stem = self.cards / f"{position:08d}"
                card = Image.frombytes("RGB", sizes[position], stem.with_suffix(".raw").read_bytes())
                sheet.paste(card, (GAP + i * (CARD_W + GAP), y))
                body.append(stem.with_suffix(".html").read_text(encoding="utf-8"))
            y += h + GAP
        sheet.save(self.folder / sheet_name(page), "PNG", compress_level=1)  # level 6: 3x the time, 15% smaller
        (self.cards / f"page-{page:08d}.html").write_text("".join(body), encoding="utf-8")
        for position in order:
            for suffix in (".raw", ".html"):
                (self.cards / f"{position:08d}").with_suffix(suffix).unlink(missing_ok=True)
        with self._lock:
            self._written.add(page)

    def finish(self, manifest_head: dict[str, Any]) -> list[str]:
        """Wait for the cards, write what is left and the index pages; returns the file names."""
        self._pool.shutdown(wait=True)
        for f in self._futures:
            f.result()
        for page, sizes in sorted(self._waiting.items()):  # pages with fewer cards than expected
            self._compose(page, sizes)
        self._waiting.clear()
        pages = sorted(self._written) or [1]
        head = _index_head(manifest_head)
        failed = ""
        if self._failed:
            failed = '<p class="bad">Failed: ' + ", ".join(
                f'<a class="bad" href="{index_name(p // PER_PAGE + 1)}#{_e(aid)}">{_e(aid)}</a>'
                for p, aid in sorted(self._failed)) + "</p>"
        name = f"{(manifest_head.get('recipe') or {}).get('name', '')} {manifest_head.get('version', '')}"
        written = []
        for page in pages:
            nav = ""
            if len(pages) > 1:
                nav = "<nav>pages: " + "".join(
                    f"<b>{p}</b>" if p == page else f'<a href="{index_name(p)}">{p}</a>' for p in pages) + "</nav>"
            part = self.cards / f"page-{page:08d}.html"
            body = part.read_text(encoding="utf-8") if part.exists() else ""
            sheet = (f'<p class="small"><a href="{sheet_name(page)}">{sheet_name(page)}</a></p>'
                     if page > 1 else "")
            html_text = _page(f"{name} ({page}/{len(pages)})" if len(pages) > 1 else name,
                              head + failed + nav + sheet + f'<div class="grid">{body}</div>' + nav)
            (self.folder / index_name(page)).write_text(html_text, encoding="utf-8")
            written.append(index_name(page))
            if (self.folder / sheet_name(page)).exists():
                written.append(sheet_name(page))
        self.close()
        return written

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self.cards, ignore_errors=True)


def render(manifest: dict[str, Any], read: Callable[[str], bytes]) -> dict[str, bytes]:
    """The contact sheet pages and index pages of one version, as ``{file name: bytes}``."""
    assets = manifest.get("assets") or []
    with tempfile.TemporaryDirectory(prefix="zpipe-sheet-") as tmp:
        pages = Pages(Path(tmp), _short_title(manifest), len(assets), threads=min(4, os.cpu_count() or 1))
        try:
            for i, asset in enumerate(assets):
                pages.add(i, asset, read)
            names = pages.finish(manifest)
        finally:
            pages.close()
        return {n: (Path(tmp) / n).read_bytes() for n in names}


def _short_title(manifest: dict[str, Any]) -> str:
    return f"{(manifest.get('recipe') or {}).get('name', '?')} {manifest.get('version', '')}"


# ---- diff ---------------------------------------------------------------------------------------

def _changes_table(changes: dict[str, Any]) -> str:
    rows = [f"<tr><td>{_e(k)}</td><td>{_e(a)}</td><td>{_e(b)}</td></tr>" for k, (a, b) in changes["fields"].items()]
    rows += [f"<tr><td>file {_e(name)}</td><td colspan=2>{_e(what)}</td></tr>" for name, what in changes["files"].items()]
    rows += [f"<tr><td>metrics.{_e(k)}</td><td>{_e(a)}</td><td>{_e(b)}</td></tr>"
             for k, (a, b) in changes["metrics"].items()]
    return f"<table><tr><th>what</th><th>old</th><th>new</th></tr>{''.join(rows)}</table>" if rows else ""


def render_diff(old: dict[str, Any], new: dict[str, Any], old_prefix: str, new_prefix: str) -> str:
    """HTML page comparing two versions: added, removed, and changed assets side by side with what changed.
    "Changed" is :func:`zpipe.report.diff.changed`, as in the text diff."""
    from zpipe.report.diff import asset_changes, diff_manifests

    d = diff_manifests(old, new)
    old_by = {a.get("id"): a for a in old.get("assets") or []}
    new_by = {a.get("id"): a for a in new.get("assets") or []}
    ov, nv = old.get("version", "old"), new.get("version", "new")
    name = (new.get("recipe") or old.get("recipe") or {}).get("name", "")
    body = [f"<h1>{_e(name)}: {_e(ov)} → {_e(nv)}</h1>",
            f'<p>{len(d["changed"])} changed, {len(d["added"])} added, {len(d["removed"])} removed, '
            f'{len(d["unchanged"])} unchanged</p>']
    if d["added"]:
        body.append("<h2>Added</h2><div class=\"grid\">"
                    + "".join(_asset_html(new_by[i], new_prefix) for i in d["added"]) + "</div>")
    if d["removed"]:
        body.append("<h2>Removed</h2><div class=\"grid\">"
                    + "".join(_asset_html(old_by[i], old_prefix) for i in d["removed"]) + "</div>")
    if d["changed"]:
        body.append("<h2>Changed</h2>")
        for i in d["changed"]:
            body.append(f'<div class="pair"><div><div class="small">{_e(ov)}</div>'
                        f"{_asset_html(old_by[i], old_prefix)}</div><div><div class=\"small\">{_e(nv)}</div>"
                        f"{_asset_html(new_by[i], new_prefix)}</div>"
                        f"<div>{_changes_table(asset_changes(old_by[i], new_by[i]))}</div></div>")
    return _page(f"{name} {ov} → {nv}", "".join(body))
