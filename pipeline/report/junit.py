"""A build as JUnit XML (the Jenkins/Ant dialect every CI reads), from the manifest only.

One ``<testsuite>`` per build (named after the recipe), one ``<testcase>`` per asset:

* ``built`` and ``reused`` assets pass (a reused asset says so in its ``<system-out>``);
* ``failed`` assets (QA failures such as the seam gate or the OCR glyph check, and stage errors) carry a
  ``<failure>`` whose ``message`` is the asset's error and whose ``type`` is the stage that failed;
* warnings (see :func:`zpipe.report.rules.collect_warnings`) go to ``<system-out>``, so they are visible
  without failing the test case (``--fail-on warnings`` decides the exit code).

The counts (``tests``, ``failures``) equal the manifest's assets and its failed assets.
"""

from __future__ import annotations

import json
import re
import socket
import xml.etree.ElementTree as ET
from typing import Any

from zpipe.report.rules import asset_warnings, collect_warnings, counts

_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value: Any) -> str:
    """Text that XML 1.0 can hold (control characters dropped)."""
    return _XML_BAD.sub("", "" if value is None else str(value))


def _seconds(asset: dict[str, Any]) -> float:
    if asset.get("status") == "reused":
        return 0.0
    return sum(v for v in (asset.get("timings") or {}).values() if isinstance(v, (int, float)))


def _timestamp(created: str | None) -> str | None:
    """The ISO timestamp without its UTC offset (the Ant schema's form; zpipe's ``created`` is UTC)."""
    if not created:
        return None
    return re.sub(r"(\+00:00|Z)$", "", created)


def _failure_detail(asset: dict[str, Any]) -> str:
    lines = [asset.get("error") or "failed"]
    metrics = asset.get("metrics") or {}
    tile = metrics.get("tile")
    if isinstance(tile, dict) and "scores" in tile:
        lines.append(f"seam scores: {json.dumps(tile['scores'])} (max_seam {tile.get('max_seam')})")
    glyph = metrics.get("glyph_check")
    if isinstance(glyph, dict):
        for ln in glyph.get("lines") or []:
            lines.append(f"OCR: expected {ln.get('expected')!r}, found {ln.get('found')!r}, NED {ln.get('ned')}, "
                         f"{'pass' if ln.get('pass') else 'FAIL'}")
    lines.append(f"seed {asset.get('seed')}, key {asset.get('key')}")
    return "\n".join(lines)


def junit_tree(manifest: dict[str, Any]) -> ET.Element:
    recipe = (manifest.get("recipe") or {}).get("name", "zpipe")
    assets = manifest.get("assets", [])
    c = counts(manifest)
    total_time = sum(_seconds(a) for a in assets)
    root = ET.Element("testsuites", {"name": f"zpipe {recipe}", "tests": str(len(assets)),
                                     "failures": str(c["failed"]), "errors": "0", "time": f"{total_time:.3f}"})
    suite_attrs = {"name": recipe, "tests": str(len(assets)), "failures": str(c["failed"]), "errors": "0",
                   "skipped": "0", "time": f"{total_time:.3f}", "id": "0", "package": "zpipe",
                   "hostname": _text(socket.gethostname()) or "localhost"}
    ts = _timestamp(manifest.get("created"))
    if ts:
        suite_attrs["timestamp"] = ts
    suite = ET.SubElement(root, "testsuite", suite_attrs)
    props = ET.SubElement(suite, "properties")
    for name, value in _properties(manifest, recipe, c):
        if value is not None:
            ET.SubElement(props, "property", {"name": name, "value": _text(value)})
    for a in assets:
        _testcase(suite, a, f"zpipe.{recipe}")
    build_warnings = [msg for aid, msg in collect_warnings(manifest) if aid is None]
    ET.SubElement(suite, "system-out").text = _text("\n".join(f"warning: {w}" for w in build_warnings))
    ET.SubElement(suite, "system-err").text = ""
    return root


def _properties(manifest: dict[str, Any], recipe: str, c: dict[str, int]) -> list[tuple[str, Any]]:
    """The suite's properties, None where the manifest has no value."""
    engine = manifest.get("engine") or {}
    source = manifest.get("recipe") or {}
    return [("recipe", recipe), ("recipe.path", source.get("path")), ("recipe.sha256", source.get("sha256")),
            ("version", manifest.get("version")), ("previous", manifest.get("previous")),
            ("engine", engine.get("name")), ("engine.version", engine.get("version")),
            ("engine.fallback", engine.get("fallback")), ("zpipe.version", manifest.get("zpipe_version")),
            ("built", c["built"]), ("reused", c["reused"]), ("failed", c["failed"]),
            ("up_to_date", "true" if manifest.get("up_to_date") else None)]


def _testcase(suite: ET.Element, a: dict[str, Any], classname: str) -> None:
    """One asset: a failure (message: its error, type: the stage), or what it built or reused; its warnings."""
    case = ET.SubElement(suite, "testcase", {"name": _text(a["id"]), "classname": classname,
                                             "time": f"{_seconds(a):.3f}"})
    out_lines = []
    if a.get("status") == "failed":
        error = a.get("error") or "failed"
        stage = error.split(":", 1)[0].strip() if ":" in error else "zpipe"
        fail = ET.SubElement(case, "failure", {"message": _text(error), "type": _text(stage)})
        fail.text = _text(_failure_detail(a))
    elif a.get("status") == "reused":
        out_lines.append(f"reused (unchanged key {a.get('key', '')[:12]}): {', '.join(a.get('files', {}).values())}")
    else:
        out_lines.append(f"built: {', '.join(a.get('files', {}).values())}")
    out_lines += [f"warning: {w}" for w in asset_warnings(a)]
    if out_lines:
        ET.SubElement(case, "system-out").text = _text("\n".join(out_lines))


def junit_xml(manifest: dict[str, Any]) -> bytes:
    """The JUnit XML document (UTF-8 bytes with an XML declaration)."""
    root = junit_tree(manifest)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
