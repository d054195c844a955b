"""`zpipe diff`: one definition of "changed" for text, JSON and HTML; per-asset changes; --html image paths."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import unquote

from click.testing import CliRunner

from zpipe.cli import main

RECIPE = """\
name: tiles
engine: procedural
size: 64
prompt: "{material} texture"
matrix:
  material: [granite, slate, brick]
stages:
  - tile: {max_seam: 2.0}
"""


def cli(*args):
    return CliRunner().invoke(main, [*map(str, args)], catch_exceptions=False)


def two_versions(write_recipe, tmp_path):
    path, out = write_recipe(RECIPE + "assets: [{id: extra, prompt: lava rock}]\n"), tmp_path / "out"
    assert cli("run", path, "-o", out).exit_code == 0
    path.write_text(path.read_text().replace("lava rock", "glowing lava rock").replace("max_seam: 2.0", "max_seam: 3.0"))
    assert cli("run", path, "-o", out).exit_code == 0
    return out / "tiles"


def test_text_json_and_html_agree_and_say_what_changed(write_recipe, tmp_path):
    root = two_versions(write_recipe, tmp_path)
    d = json.loads(cli("diff", root, "--json").output)
    assert d["changed"] == ["brick", "extra", "granite", "slate"]  # max_seam is a stage parameter of all
    extra = d["details"]["extra"]
    assert extra["fields"]["prompt"] == ["lava rock", "glowing lava rock"]
    assert extra["fields"]["stages.tile.max_seam"] == [2.0, 3.0]
    assert "seed" not in extra["fields"] and "status" not in extra["fields"]
    text = cli("diff", root).output
    assert "prompt" in text and "'lava rock' -> 'glowing lava rock'" not in text  # strings are shown as is
    assert "lava rock -> glowing lava rock" in text and "stages.tile.max_seam" in text and "2.0 -> 3.0" in text
    page_dir = tmp_path / "reports" / "nested"
    page_dir.mkdir(parents=True)
    r = cli("diff", root, "--html", page_dir / "diff.html")
    assert r.exit_code == 0
    html = (page_dir / "diff.html").read_text()
    assert "4 changed, 0 added, 0 removed, 0 unchanged" in html
    assert "stages.tile.max_seam" in html and "glowing lava rock" in html
    srcs = re.findall(r'(?:src|href)="([^"#]+\.png)"', html) + re.findall(r'url\(&quot;([^&]+)&quot;\)', html)
    assert srcs and all("v000" in s for s in srcs)
    for src in srcs:  # relative to the page, with the / after the version: every image is there
        assert (page_dir / unquote(src)).resolve().is_file(), src


def test_built_then_reused_is_no_change_in_either_diff(write_recipe, tmp_path):
    path, out = write_recipe(RECIPE), tmp_path / "out"
    assert cli("run", path, "-o", out).exit_code == 0
    path.write_text(RECIPE.replace("brick]", "brick, basalt]"))
    assert cli("run", path, "-o", out).exit_code == 0  # granite, slate, brick: built -> reused
    root = out / "tiles"
    d = json.loads(cli("diff", root, "--json").output)
    assert (d["added"], d["changed"], d["unchanged"]) == (["basalt"], [], ["brick", "granite", "slate"])
    cli("diff", root, "--html", tmp_path / "d.html")
    assert "0 changed, 1 added, 0 removed, 3 unchanged" in Path(tmp_path / "d.html").read_text()
