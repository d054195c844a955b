"""Differences between two versions, from their manifests: one definition of "changed" for the text, JSON
and HTML diffs (and the review page), and per asset what changed, as ``dvc params diff`` shows it.

An asset is **changed** when its key differs (an input changed: prompt, seed, stage parameters, engine
…), when its files hold other bytes, or when it failed in one version and not in the other. Built
versus reused is bookkeeping, not a change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Record fields shown when they differ (inputs first, then what came out)
FIELDS = ("prompt", "seed", "size", "steps", "tile", "error")


def _failed(asset: dict[str, Any]) -> bool:
    return asset.get("status") == "failed"


def _contents(asset: dict[str, Any]) -> dict[str, str]:
    return asset.get("outputs") or asset.get("sha256") or {}


def changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether one asset differs between two versions (see the module doc)."""
    return (old.get("key") != new.get("key") or _contents(old) != _contents(new)
            or _failed(old) != _failed(new))


def diff_manifests(old: dict[str, Any], new: dict[str, Any]) -> dict[str, list[str]]:
    a = {x["id"]: x for x in old.get("assets", [])}
    b = {x["id"]: x for x in new.get("assets", [])}
    both = [i for i in b if i in a]
    changes = sorted(i for i in both if changed(a[i], b[i]))
    return {"added": sorted(b.keys() - a.keys()), "removed": sorted(a.keys() - b.keys()), "changed": changes,
            "unchanged": sorted(set(both) - set(changes))}


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def _pairs(a: dict[str, Any], b: dict[str, Any]) -> dict[str, list[Any]]:
    return {k: [a.get(k), b.get(k)] for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def _stage_params(asset: dict[str, Any]) -> dict[str, Any]:
    """``{"tile.max_seam": 2.0, "output.formats": [...]}``: the stage parameters a record was built with."""
    out: dict[str, Any] = {}
    for name, params in asset.get("stages") or []:
        out.update(_flat(params or {}, name) or {name: {}})
    out.update(_flat(asset.get("output") or {}, "output"))
    return out


def asset_changes(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any]:
    """What differs between two records of one asset: ``fields`` (prompt, seed, stage parameters as
    ``stages.<stage>.<param>``, ``engine.*``; each ``[old, new]``), ``files`` (name -> added, removed or
    changed, by content) and ``metrics`` (flattened, ``[old, new]``)."""
    old, new = old or {}, new or {}
    metrics = {k: pair for k, pair in _pairs(_flat(old.get("metrics") or {}), _flat(new.get("metrics") or {})).items()
               if not isinstance(pair[0], list) and not isinstance(pair[1], list)}
    return {"fields": _field_changes(old, new), "files": _file_changes(old, new), "metrics": metrics}


def _field_changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, list[Any]]:
    fields = {f: [old.get(f), new.get(f)] for f in FIELDS if old.get(f) != new.get(f)}
    if _failed(old) != _failed(new):
        fields["status"] = [old.get("status"), new.get("status")]
    if old.get("stages") is not None or new.get("stages") is not None:  # manifests from before have none
        for k, pair in _pairs(_stage_params(old), _stage_params(new)).items():
            fields[f"stages.{k}"] = pair
    engine = ({k: v for k, v in (side.get("engine") or {}).items() if k != "info"} for side in (old, new))
    for k, pair in _pairs(*(_flat(e) for e in engine)).items():
        fields[f"engine.{k}"] = pair
    return fields


def _file_changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, str]:
    """File name -> added, removed or changed (by content); unchanged files are left out."""
    files = {}
    oo, no = _contents(old), _contents(new)
    for rel in sorted(set(oo) | set(no)):
        name = Path(rel).name
        files[name] = "added" if rel not in oo else "removed" if rel not in no else \
            "changed" if oo[rel] != no[rel] else None
    return {k: v for k, v in files.items() if v}


def details(old: dict[str, Any], new: dict[str, Any], ids: list[str]) -> dict[str, dict[str, Any]]:
    """:func:`asset_changes` for each of ``ids`` (changed assets) between two manifests."""
    a = {x["id"]: x for x in old.get("assets", [])}
    b = {x["id"]: x for x in new.get("assets", [])}
    return {i: asset_changes(a.get(i), b.get(i)) for i in ids}


def _short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) and value else repr(value)
    return text if len(text) <= width else text[:width - 1] + "…"


def text_lines(changes: dict[str, Any], metrics: bool = True) -> list[str]:
    """One line per difference, indented, like ``dvc params diff``: ``prompt  'a' -> 'b'``."""
    lines = [f"    {k:28} {_short(a)} -> {_short(b)}" for k, (a, b) in changes["fields"].items()]
    lines += [f"    {'file ' + name:28} {what}" for name, what in changes["files"].items()]
    if metrics:
        lines += [f"    {'metrics.' + k:28} {_short(a)} -> {_short(b)}" for k, (a, b) in changes["metrics"].items()]
    return lines
