"""CI reports of one build, written from its manifest only: a Markdown summary and JUnit XML.

``zpipe run --report summary.md --report junit.xml`` calls :func:`write_reports` after the build. Both
formats read nothing but the version's ``manifest.json`` (and check which report files, e.g. the
contact sheet, exist next to it), so they can also be made later for any published version::

    from zpipe.report.summary import write_reports
    write_reports(["summary.md", "junit.xml"], "out/stone_textures/latest")

What counts as a warning is decided in :mod:`zpipe.report.rules`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from zpipe.report.junit import junit_xml
from zpipe.report.rules import STATUSES, collect_warnings, counts

REPORT_FORMATS = {".xml": "junit", ".md": "markdown", ".markdown": "markdown"}
CONTACT_SHEET_FILES = ("index.html", "contact_sheet.png")


def report_format(path: str | os.PathLike) -> str:
    """``junit`` or ``markdown`` by the file's extension; ValueError (a user-facing message) otherwise."""
    ext = Path(path).suffix.lower()
    if ext not in REPORT_FORMATS:
        raise ValueError(f"cannot tell the report format of {str(path)!r} from its extension; "
                         "use .xml for JUnit or .md for a Markdown summary")
    return REPORT_FORMATS[ext]


def load_manifest(version_dir: str | os.PathLike) -> dict[str, Any]:
    return json.loads((Path(version_dir) / "manifest.json").read_text(encoding="utf-8"))


def this_run(manifest: dict[str, Any], up_to_date: bool = False,
             run_warnings: list[str] | None = None) -> dict[str, Any]:
    """The manifest as seen by the run that just finished.

    A run that found everything up to date made no version: its report is the latest version with
    every asset reused (failed assets are never reused, so an up-to-date version has none). Its
    build-level warnings are the run's own ``run_warnings`` (the ``warning`` events it emitted), when
    given, rather than those of the run that made the version.
    """
    if not up_to_date:
        return manifest
    assets = [{**a, "status": "reused" if a.get("status") != "failed" else "failed"} for a in manifest["assets"]]
    summary = {s: sum(1 for a in assets if a["status"] == s) for s in STATUSES}
    view = {**manifest, "assets": assets, "summary": summary, "up_to_date": True}
    if run_warnings is not None:
        view["run_warnings"] = list(run_warnings)
    return view


def contact_sheet_links(version_dir: str | os.PathLike) -> list[Path]:
    return [Path(version_dir) / f for f in CONTACT_SHEET_FILES if (Path(version_dir) / f).is_file()]


def main_file(asset: dict[str, Any]) -> str | None:
    files = asset.get("files") or {}
    for role in ("albedo", "poster"):
        if role in files:
            return files[role]
    return next(iter(files.values()), None)


# --- Markdown --------------------------------------------------------------------------------------

def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ").strip() or " "


def _link(target: Path, base: Path) -> str:
    rel = os.path.relpath(target, base)
    return rel.replace(os.sep, "/").replace(" ", "%20")


def _row(values) -> str:
    return "| " + " | ".join(_cell(v) for v in values) + " |"


def _recorded(manifest: dict[str, Any], stage: str):
    """(asset, the stage's metrics) for each asset that has them."""
    for a in manifest["assets"]:
        m = (a.get("metrics") or {}).get(stage)
        if isinstance(m, dict):
            yield a, m


def _seam_rows(manifest: dict[str, Any]) -> list[str]:
    rows = []
    for a, tile in _recorded(manifest, "tile"):
        fix = "re-seeded" if tile.get("reseeds") else ("repaired" if tile.get("repaired") else "–")
        for role, per in (tile.get("scores") or {}).items():
            before = (tile.get("scores_before") or {}).get(role, {})
            rows.append(_row((a["id"], a["status"], role, per.get("x", "–"), per.get("y", "–"),
                              "/".join(str(before.get(k)) for k in ("x", "y") if k in before) or "–",
                              tile.get("max_seam", "–"), "pass" if tile.get("passed") else "FAIL", fix)))
    return rows


def _ocr_rows(manifest: dict[str, Any]) -> list[str]:
    rows = []
    for a, g in _recorded(manifest, "glyph_check"):
        for line in g.get("lines") or []:
            ned = line.get("ned")
            rows.append(_row((a["id"], a["status"], g.get("path", "–"), line.get("expected"), line.get("found"),
                              f"{ned:.3f}" if isinstance(ned, (int, float)) else "–",
                              "pass" if line.get("pass") else "FAIL")))
    return rows


def markdown(manifest: dict[str, Any], version_dir: str | os.PathLike, base: str | os.PathLike) -> str:
    """The Markdown summary; links are relative to ``base`` (the folder the summary is written to)."""
    vdir, base = Path(version_dir).resolve(), Path(base).resolve()
    lines = _header(manifest, vdir, base)
    failed = [a for a in manifest["assets"] if a.get("status") == "failed"]
    if failed:
        lines += ["## Failed", "", "| asset | error |", "|---|---|"]
        lines += [f"| {_cell(a['id'])} | {_cell(a.get('error', ''))} |" for a in failed]
        lines.append("")
    warns = collect_warnings(manifest)
    if warns:
        lines += ["## Warnings", ""]
        lines += [f"- {'**' + aid + '**: ' if aid else ''}{_cell(msg)}" for aid, msg in warns]
        lines.append("")
    seam = _seam_rows(manifest)
    if seam:
        lines += ["## Seam scores", "", "about 1 = seamless; the gate fails above max_seam", "",
                  "| asset | status | role | x | y | before (x/y) | max_seam | gate | fix |",
                  "|---|---|---|---|---|---|---|---|---|", *seam, ""]
    ocr = _ocr_rows(manifest)
    if ocr:
        lines += ["## OCR glyph check", "",
                  "| asset | status | path | expected | found | NED | line |", "|---|---|---|---|---|---|---|", *ocr, ""]
    lines += ["## Assets", "", "| asset | status | size | seconds | image |", "|---|---|---|---|---|"]
    lines += [_asset_row(a, vdir, base) for a in manifest["assets"]]
    lines.append("")
    return "\n".join(lines)


def _header(manifest: dict[str, Any], vdir: Path, base: Path) -> list[str]:
    c = counts(manifest)
    recipe = manifest.get("recipe", {}).get("name", "?")
    eng = manifest.get("engine") or {}
    state = " (up to date: nothing changed, no new version)" if manifest.get("up_to_date") else ""
    lines = [f"# zpipe: {recipe} {manifest.get('version', '')}", "",
             f"**{c['built']} built, {c['reused']} reused, {c['failed']} failed**{state}", "",
             f"- engine: {eng.get('name', '?')} {eng.get('version', '')}".rstrip(),
             f"- created: {manifest.get('created', '?')}; zpipe {manifest.get('zpipe_version', '?')}",
             f"- folder: [{manifest.get('version', vdir.name)}]({_link(vdir, base)})"]
    sheets = contact_sheet_links(vdir)
    if sheets:
        lines.append("- contact sheet: " + ", ".join(f"[{p.name}]({_link(p, base)})" for p in sheets))
    if manifest.get("removed"):
        lines.append(f"- removed since {manifest.get('previous')}: {', '.join(manifest['removed'])}")
    lines.append("")
    return lines


def _asset_row(a: dict[str, Any], vdir: Path, base: Path) -> str:
    main = main_file(a)
    size = "×".join(str(v) for v in a.get("size", [])) or "–"
    secs = sum(v for v in (a.get("timings") or {}).values() if isinstance(v, (int, float)))
    secs_text = "–" if a.get("status") == "reused" else f"{secs:.2f}"
    image = f"[{Path(main).name}]({_link(vdir / main, base)})" if main else "–"
    return f"| {_cell(a['id'])} | {a.get('status')} | {size} | {secs_text} | {image} |"


# --- writing ---------------------------------------------------------------------------------------

def write_reports(paths: Iterable[str | os.PathLike], version_dir: str | os.PathLike, *,
                  up_to_date: bool = False, run_warnings: list[str] | None = None) -> list[Path]:
    """Write each report (format by extension) for the version in ``version_dir``; returns the paths.

    ValueError for an unknown extension (checked for all paths before anything is written).
    """
    paths = [Path(p) for p in paths]
    formats = [report_format(p) for p in paths]
    manifest = this_run(load_manifest(version_dir), up_to_date, run_warnings)
    for path, fmt in zip(paths, formats):
        if path.parent != Path(""):
            path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "junit":
            data = junit_xml(manifest)
        else:
            data = markdown(manifest, version_dir, path.parent.resolve()).encode("utf-8")
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return paths
