"""Differences between two versions, from their manifests."""

from __future__ import annotations

import html
from typing import Any


def diff_manifests(old: dict[str, Any], new: dict[str, Any]) -> dict[str, list[str]]:
    a = {x["id"]: x for x in old.get("assets", [])}
    b = {x["id"]: x for x in new.get("assets", [])}
    # built vs reused is bookkeeping; a different key or a change to/from failed is a real change
    changed = sorted(i for i in a.keys() & b.keys()
                     if a[i]["key"] != b[i]["key"] or (a[i].get("status") == "failed") != (b[i].get("status") == "failed"))
    return {"added": sorted(b.keys() - a.keys()), "removed": sorted(a.keys() - b.keys()), "changed": changed,
            "unchanged": sorted((a.keys() & b.keys()) - set(changed))}


def diff_html(old: dict[str, Any], new: dict[str, Any], old_prefix: str, new_prefix: str) -> str:
    """A side-by-side page of every changed, added or removed asset (uses the contact-sheet renderer if present)."""
    try:
        from zpipe.report.contact_sheet import render_diff
    except ImportError:
        render_diff = None
    if render_diff is not None:
        return render_diff(old, new, old_prefix, new_prefix)
    d = diff_manifests(old, new)
    a = {x["id"]: x for x in old.get("assets", [])}
    b = {x["id"]: x for x in new.get("assets", [])}
    rows = []
    for aid in d["changed"] + d["added"] + d["removed"]:
        cells = []
        for side, prefix in ((a, old_prefix), (b, new_prefix)):
            files = side.get(aid, {}).get("files", {})
            img = next(iter(files.values()), None)
            cells.append(f'<td><img src="{html.escape(prefix)}/{html.escape(img)}" width="256"></td>' if img
                         else "<td>—</td>")
        rows.append(f"<tr><th>{html.escape(aid)}</th>{''.join(cells)}</tr>")
    return (f"<!doctype html><meta charset=utf-8><title>diff {old.get('version')} → {new.get('version')}</title>"
            f"<table><tr><th></th><th>{old.get('version')}</th><th>{new.get('version')}</th></tr>{''.join(rows)}</table>")
