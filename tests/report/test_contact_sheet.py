"""Contact sheet PNG + index.html for a version, and the HTML diff of two versions."""

from __future__ import annotations

import io
import re

import numpy as np
from helpers import make_asset, periodic_noise
from PIL import Image

from zpipe.report.contact_sheet import CARD_W, GAP, HEAD, render, render_diff, seam_table
from zpipe.stages.base import StageContext, apply
from zpipe.stages.export import ExportStage
from zpipe.stages.pbr import PbrStage
from zpipe.stages.tile import TileStage

CTX = StageContext(generate=lambda r: [], capabilities=frozenset(), request=None)


def _defaults(stage, **kw):
    return stage.resolve(kw)


def build_version(version="v0001", seed=0, formats=("png",)):
    """Run tile + pbr + export on small textures; return (manifest, files by relpath)."""
    files: dict[str, bytes] = {}
    assets = []
    for i, name in enumerate(["granite_a", "slate_<b>", "marble_c"]):
        img = periodic_noise(64, seed + i)
        a = make_asset({"albedo": img}, asset_id=name, seed=seed + i, prompt=f"{name} stone")
        entry = {"id": name, "key": f"k{seed}{i}", "status": "built", "engine": {"name": "procedural"},
                 "seed": seed + i, "prompt": a.prompt, "files": {}, "sha256": {}, "metrics": {}, "timings": {}}
        for stage, params in ((TileStage(), _defaults(TileStage)), (PbrStage(), _defaults(PbrStage)),
                              (ExportStage(), _defaults(ExportStage, formats=list(formats)))):
            apply(a, stage.run(a, params, CTX), stage.name)
        for fname, data in a.files.items():
            files[f"{name}/{fname}"] = data
        for role, m in a.metrics["export"].items():
            entry["files"][role] = f"{name}/{next(iter(m['files']))}"
            entry["sha256"][role] = str(hash(a.files[next(iter(m["files"]))]))
        entry["metrics"] = a.metrics
        assets.append(entry)
    assets[2]["status"] = "failed"
    assets[2]["error"] = "tile: seam score 9.10 on albedo axis x is above max_seam 2.0"
    manifest = {"format_version": 1, "version": version, "created": "2026-11-26T00:00:00Z",
                "recipe": {"name": "stone", "path": "recipes/stone.yaml", "sha256": "ab" * 32},
                "zpipe_version": "0.1.0", "summary": {"built": 2, "reused": 0, "failed": 1}, "assets": assets}
    return manifest, files


def test_render_png_and_html():
    manifest, files = build_version()
    out = render(manifest, lambda rel: files[rel])
    assert set(out) == {"contact_sheet.png", "index.html"}
    with Image.open(io.BytesIO(out["contact_sheet.png"])) as im:
        assert im.format == "PNG" and im.width >= 3 * CARD_W
        sheet = np.asarray(im.convert("RGB")).astype(int)
    # the failed card (third) is framed in red
    step, half = CARD_W + GAP, CARD_W // 2
    red = (sheet[..., 0] > 180) & (sheet[..., 1] < 60) & (sheet[..., 2] < 60)
    assert red[:, 2 * step:3 * step + GAP].sum() > 500 and red[:, :step].sum() == 0
    # the 2x2 preview of the first card is the albedo tiled: its top-left and bottom-right quadrants match
    q = sheet[HEAD:HEAD + half, GAP:GAP + half]
    assert np.abs(q - sheet[HEAD + half:HEAD + CARD_W, GAP + half:GAP + CARD_W]).mean() < 1.0
    page = out["index.html"].decode()
    assert page.startswith("<!DOCTYPE html>")
    assert "granite_a/albedo.png" in page and "background-size:50% 50%" in page
    assert "granite_a/normal.png" in page and "granite_a/height.png" in page
    assert "slate_&lt;b&gt;" in page and "slate_<b>" not in page  # escaped
    assert 'class="card failed"' in page and "FAILED: tile: seam score 9.10" in page
    # seam scores of every role are shown
    for role in ("albedo", "normal", "height", "roughness", "ao"):
        assert f"<td>{role}</td>" in page
    scores = seam_table(manifest["assets"][0])
    assert f"{scores['normal']['x']:.2f}" in page


def test_non_web_formats_are_inlined_and_unsafe_paths_not_linked():
    manifest, files = build_version(formats=("tga",))
    manifest["assets"][0]["files"]["evil"] = "../../etc/passwd"
    out = render(manifest, lambda rel: files[rel])
    page = out["index.html"].decode()
    assert "data:image/png;base64," in page  # TGA is not shown by browsers: a thumbnail is embedded
    assert "passwd" not in page


def test_missing_files_show_placeholders():
    manifest, _ = build_version()

    def read(rel):
        raise FileNotFoundError(rel)

    out = render(manifest, read)
    with Image.open(io.BytesIO(out["contact_sheet.png"])) as im:
        assert im.width > 0


def test_diff_side_by_side():
    old, _ = build_version("v0001", seed=0)
    new, _ = build_version("v0002", seed=0)
    new["assets"][1]["key"] = "changed"
    new["assets"].append({**new["assets"][0], "id": "new_one", "key": "n"})
    del new["assets"][0]
    page = render_diff(old, new, "../v0001/", "../v0002/")
    assert "v0001 → v0002" in page
    assert re.search(r"1 changed, 1 added, 1 removed", page)
    pair = page[page.index('class="pair"'):]
    assert "../v0001/slate_&lt;b&gt;/albedo.png" in pair and "../v0002/slate_&lt;b&gt;/albedo.png" in pair
    assert "marble_c" not in page  # unchanged assets are not listed


def test_posters_keep_their_aspect_and_show_their_ocr_result():
    import numpy as np

    from zpipe.report.contact_sheet import _fit, glyph_summary, index_html

    tall = np.ones((200, 100, 3), np.float32)
    fitted = _fit(tall, 100)
    assert fitted.shape == (100, 100, 3)
    assert fitted[:, 25:75].min() == 1.0 and fitted[:, :20].max() < 0.2  # letterboxed, not stretched
    asset = {"id": "p", "kind": "posters", "status": "built", "files": {},
             "metrics": {"glyph_check": {"pass": True, "path": "fallback", "lines": [
                 {"expected": "春节快乐", "found": "春节快乐", "ned": 1.0, "exact": True, "pass": True},
                 {"expected": "Hi", "found": "H1", "ned": 0.5, "exact": False, "pass": False}]}}}
    assert glyph_summary(asset) == "OCR pass: 1/2 lines (fallback)"
    html = index_html({"version": "v0001", "recipe": {"name": "r"}, "summary": {}, "assets": [asset]})
    assert "春节快乐" in html and "H1" in html and "OCR read" in html
