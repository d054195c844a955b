"""The rules shared by the reports: what counts as a warning, and the asset counts.

What counts as a **warning** (``--fail-on warnings`` exits 1 when there is any), see
:func:`collect_warnings`:

* the build used the procedural engine because ``engine: auto`` found no Z-Image weights
  (``manifest.engine.fallback``);
* an asset passed only after a fix: the seam gate repaired the seam or re-seeded (``metrics.tile``
  ``repaired`` / ``reseeds``), or no rendered candidate passed the OCR check and the typeset fallback
  was used (``metrics.glyph_check.path == "fallback"``);
* any stage (built-in or plugin) that records ``warnings`` (a list of strings) in its metrics, e.g.
  ``metrics.colour_grade.warnings``.
"""

from __future__ import annotations

from typing import Any

STATUSES = ("built", "reused", "failed")


def counts(manifest: dict[str, Any]) -> dict[str, int]:
    """built / reused / failed, counted from the assets (the manifest's ``summary`` must agree)."""
    return {s: sum(1 for a in manifest.get("assets", []) if a.get("status") == s) for s in STATUSES}


def asset_warnings(asset: dict[str, Any]) -> list[str]:
    """Warnings of one asset that did not fail (see the module doc)."""
    if asset.get("status") == "failed":
        return []
    out: list[str] = []
    metrics = asset.get("metrics") or {}
    tile = metrics.get("tile")
    if isinstance(tile, dict):
        how = [a.get("method", "") for a in tile.get("attempts", []) if a.get("action") == "repair"]
        if tile.get("reseeds"):
            out.append(f"tile: the seam gate re-seeded {tile['reseeds']} time(s) (kept seed {tile.get('seed')})")
        elif tile.get("repaired"):
            out.append(f"tile: the seam was repaired ({', '.join(h for h in how if h) or 'repair'})")
    glyph = metrics.get("glyph_check")
    if isinstance(glyph, dict) and glyph.get("path") == "fallback":
        out.append("glyph_check: no rendered candidate passed the OCR check; the typeset fallback was used")
    for stage, m in metrics.items():
        if isinstance(m, dict) and isinstance(m.get("warnings"), list):
            out.extend(f"{stage}: {w}" for w in m["warnings"])
    return out


def collect_warnings(manifest: dict[str, Any]) -> list[tuple[str | None, str]]:
    """Every warning of a build as ``(asset id or None for the whole build, message)``."""
    out: list[tuple[str | None, str]] = []
    fallback = (manifest.get("engine") or {}).get("fallback")
    if "run_warnings" in manifest:
        out.extend((None, w) for w in manifest["run_warnings"])
    elif fallback:
        out.append((None, f"engine auto: using procedural ({fallback})"))
    for a in manifest.get("assets", []):
        out.extend((a["id"], w) for w in asset_warnings(a))
    return out
