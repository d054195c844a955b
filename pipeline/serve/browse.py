"""What the review page reads: recipes in the output root, their versions, assets (paged), per-asset
differences between two versions, and thumbnails. Plain functions over the store; the routes confine paths."""

from __future__ import annotations

import hashlib
import io
import uuid
from pathlib import Path
from typing import Any

from zpipe.store import RecipeStore

THUMB_SIZES = (128, 256, 512)
WEB_IMAGES = (".png", ".jpg", ".jpeg", ".webp")


def recipes(out: Path) -> list[dict[str, Any]]:
    found = []
    if not out.is_dir():
        return found
    for p in sorted(out.iterdir()):
        if not p.is_dir() or p.name.startswith("."):
            continue
        store = RecipeStore(out, p.name)
        versions = store.versions()
        if not versions:
            continue
        latest = store.latest()
        m = store.manifest(latest)
        found.append({"name": p.name, "latest": latest, "versions": len(versions),
                      "kind": m.get("recipe", {}).get("kind"), "created": m.get("created"),
                      "assets": len(m.get("assets", [])), "summary": m.get("summary", {})})
    return found


def versions(store: RecipeStore) -> list[dict[str, Any]]:
    latest = store.latest()
    rows = []
    for v in reversed(store.versions()):
        m = store.manifest(v)
        rows.append({"version": v, "latest": v == latest, "created": m.get("created"), "summary": m.get("summary", {}),
                     "assets": len(m.get("assets", [])), "engine": m.get("engine", {}).get("name"),
                     "previous": m.get("previous")})
    return rows


def page(items: list[Any], page_no: int, per_page: int) -> dict[str, Any]:
    per_page = max(1, min(per_page, 500))
    pages = max(1, -(-len(items) // per_page))
    page_no = max(1, min(page_no, pages))
    return {"page": page_no, "pages": pages, "per_page": per_page, "total": len(items),
            "items": items[(page_no - 1) * per_page: page_no * per_page]}


def web_file(asset: dict[str, Any], role: str) -> str | None:
    """The file of ``role`` a browser can show (PNG/JPEG/WebP), preferring the primary one."""
    primary = asset.get("files", {}).get(role)
    if primary and primary.lower().endswith(WEB_IMAGES):
        return primary
    for rel in asset.get("outputs", {}):
        name = Path(rel).name
        if name.split(".", 1)[0] == role and name.lower().endswith(WEB_IMAGES):
            return rel
    return primary


def with_review(asset: dict[str, Any], approvals: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    """A manifest record as the page reads it: plus ``web`` (a viewable file per role) and ``review``."""
    d = approvals.get((asset["id"], asset.get("key", "")))
    web = {role: f for role in asset.get("files", {}) if (f := web_file(asset, role))}
    return {**asset, "web": web, "review": {"status": d["decision"] if d else "pending",
                                             "comment": d["comment"] if d else "",
                                             "decided_in": d["version"] if d else None}}


def diff(store: RecipeStore, old: str, new: str) -> dict[str, Any]:
    from zpipe.report.diff import asset_changes, diff_manifests

    a, b = store.manifest(old), store.manifest(new)
    d = diff_manifests(a, b)
    ra = {x["id"]: x for x in a.get("assets", [])}
    rb = {x["id"]: x for x in b.get("assets", [])}
    assets = []
    for kind in ("changed", "added", "removed"):
        for aid in d[kind]:
            oa, na = ra.get(aid), rb.get(aid)
            assets.append({"id": aid, "change": kind, **asset_changes(oa, na),
                           "old": {"files": (oa or {}).get("files", {}), "web": _web_files(oa)},
                           "new": {"files": (na or {}).get("files", {}), "web": _web_files(na)}})
    return {"old": old, "new": new, "counts": {k: len(v) for k, v in d.items()}, "assets": assets,
            "unchanged": d["unchanged"]}


def _web_files(asset: dict[str, Any] | None) -> dict[str, str]:
    if not asset:
        return {}
    return {role: f for role in asset.get("files", {}) if (f := web_file(asset, role))}


def thumbnail(path: Path, size: int, cache: Path) -> bytes:
    """A JPEG of at most ``size`` px a side (any format Pillow reads: 16-bit PNG, TGA, DDS), cached by content."""
    from PIL import Image

    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()[:32]
    cached = cache / f"{digest}-{size}.jpg"
    if cached.is_file():
        return cached.read_bytes()
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        if im.mode.startswith("I"):  # 16-bit height maps: scale to 8 bits for display
            import numpy as np

            im = Image.fromarray((np.asarray(im).astype(np.uint32) >> 8).clip(0, 255).astype(np.uint8))
        im = im.convert("RGB")
        im.thumbnail((size, size))
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=85)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_name(f".{cached.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(cached)
    return buf.getvalue()
