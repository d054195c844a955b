"""A round trip through the Python API (examples/api/build_textures.py): load, build, reuse, report."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import zpipe

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "api" / "build_textures.py"

RECIPE = """\
name: api
engine: procedural
size: 64
prompt: "{material} texture"
matrix:
  material: [granite, slate]
stages: [tile]
"""


def load_example():
    spec = importlib.util.spec_from_file_location("build_textures_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_api_round_trip(write_recipe, tmp_path):
    path, out = write_recipe(RECIPE), tmp_path / "out"
    recipe = zpipe.load_recipe(path, overrides=["size=80"])
    assert [j.id for j in recipe.jobs] == ["granite", "slate"] and recipe.jobs[0].width == 80
    events = []
    result = zpipe.run(recipe, out=out, on_event=events.append)
    assert (result.version, result.built, result.reused, result.failed, result.exit_code) == ("v0001", 2, 0, 0, 0)
    assert [e["event"] for e in events] == ["start", "asset_done", "asset_done", "workers", "done"]
    assert result.manifest == json.loads((out / "api" / "v0001" / "manifest.json").read_text())
    again = zpipe.run(path, out=out, overrides=["size=80"])
    assert again.up_to_date and again.version == "v0001" and again.reused == 2


def test_api_example_script(write_recipe, tmp_path, capsys):
    example = load_example()
    path, out = write_recipe(RECIPE), tmp_path / "out"
    assert example.main([str(path), "--out", str(out), "--report", str(tmp_path / "s.md")]) == 0
    text = capsys.readouterr().out
    assert "api: 2 assets, engine procedural" in text and "v0001: built 2, reused 0, failed 0" in text
    assert "seam x" in text and (tmp_path / "s.md").is_file()
    assert example.main([str(path), "--out", str(out), "--set", "size=100"]) == 2
    assert "size 100x100 is invalid" in capsys.readouterr().err
