"""The review page of one version as a single read-only HTML file, openable without a server.

The page's code is inlined, with the answers its JSON routes would give for that version (the recipe, the
version's assets with their approvals, each asset, the diff against the previous version) in a JSON block;
images are read from the version's folder by relative paths. What needs the server is left out: building,
approving, thumbnails (the full files are shown) and the 3D preview (browsers do not load modules from
``file://``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from zpipe import __version__
from zpipe.serve import browse
from zpipe.serve.review import ReviewStore
from zpipe.store import RecipeStore

WEB = Path(__file__).parent / "web"


def _href(folder: Path, dest: Path) -> str:
    try:
        return Path(os.path.relpath(folder, dest)).as_posix()
    except ValueError:  # another drive (Windows): an absolute file URL
        return folder.resolve().as_uri()


def snapshot(store: RecipeStore, version: str, dest: Path) -> dict[str, Any]:
    """The routes' answers for ``version`` (and its diff with the previous version)."""
    from zpipe.hook import PROTOCOL_VERSION

    name = store.root.name
    reviews = ReviewStore(store.root.parent)
    manifest = store.manifest(version)
    previous = manifest.get("previous") if manifest.get("previous") in store.versions() else None
    approvals = reviews.current(name)
    shown = {version, previous} - {None}
    base = f"/api/recipes/{name}"
    api: dict[str, Any] = {
        "/api/health": {"zpipe": __version__, "hook_protocol": PROTOCOL_VERSION, "static": True,
                        "out": f"a copy of {name} {version} (read-only)"},
        "/api/recipes": {"recipes": [{**r, "latest": version} for r in browse.recipes(store.root.parent)
                                     if r["name"] == name]},
        "/api/recipe-files": {"files": []},
        "/api/builds": {"builds": []},
        base: {"recipe": name, "latest": version, "versions": [v for v in browse.versions(store) if v["version"] in shown]},
    }
    for v in shown:  # the version and the one it is compared with, so that every link of the copy works
        m = manifest if v == version else store.manifest(v)
        assets = [browse.with_review(a, approvals) for a in m.get("assets", [])]
        api[f"{base}/versions/{v}"] = {**{k: x for k, x in m.items() if k != "assets"}, "recipe_name": name,
                                       "assets": {"all": assets}}
        for a in assets:
            api[f"{base}/versions/{v}/assets/{a['id']}"] = {"recipe": name, "version": v, "asset": a,
                                                             "history": reviews.history(name, a["id"])}
    if previous:
        api[f"{base}/diff:{previous}:{version}"] = browse.diff(store, previous, version)
    return {"recipe": name, "version": version, "api": api,
            "files": {v: _href(store.root / v, dest) for v in shown}}


def export(store: RecipeStore, version: str, dest: Path) -> Path:
    """Write ``dest/index.html`` (``dest`` is created); returns its path."""
    dest = Path(dest).resolve()
    dest.mkdir(parents=True, exist_ok=True)
    data = json.dumps(snapshot(store, version, dest), ensure_ascii=False).replace("</", "<\\/")
    css = (WEB / "style.css").read_text(encoding="utf-8")
    js = (WEB / "app.js").read_text(encoding="utf-8").replace("</script", "<\\/script")
    page = (f'<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>zpipe review: {store.root.name} {version}</title>\n<link rel=\"icon\" href=\"data:,\">\n"
            f"<style>\n{css}</style>\n</head>\n<body>\n<header>\n  <a href=\"#/\" class=\"brand\">zpipe</a>\n"
            f'  <nav id="crumbs"></nav>\n  <span id="server"></span>\n</header>\n'
            f'<main id="view" aria-live="polite"><p class="muted">Loading…</p></main>\n'
            f'<script id="zpipe-static" type="application/json">{data}</script>\n'
            f'<script type="module">\n{js}</script>\n</body>\n</html>\n')
    path = dest / "index.html"
    tmp = path.with_name(".index.html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path
