"""The example stage plugin (plugins/example_stage): pip-installed into a temporary target (the venv stays
clean), discovered through the `zpipe.stages` entry points, validated like a built-in, run by `zpipe run`."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "plugins" / "example_stage"

RECIPE = """\
name: graded
engine: procedural
size: 64
prompt: "{material} texture"
matrix:
  material: [granite, moss]
stages:
  - tile
  - colour_grade: {saturation: 0.0, exposure: 0.5}
  - pbr: {maps: [normal]}
"""


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory):
    """PYTHONPATH entry holding the installed plugin (package + dist-info with its entry points)."""
    target = tmp_path_factory.mktemp("plugin-site")
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-compile", "--target", str(target)]
    if importlib.util.find_spec("setuptools") is not None:
        cmd.append("--no-build-isolation")  # build with this venv's setuptools, offline
    source = tmp_path_factory.mktemp("plugin-src") / "example_stage"  # a copy: building writes build/, egg-info
    shutil.copytree(PLUGIN, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    p = subprocess.run([*cmd, str(source)], capture_output=True, text=True, timeout=300, cwd=source.parent)
    assert p.returncode == 0, p.stdout + p.stderr
    assert (target / "zpipe_colour_grade" / "stage.py").is_file()
    return target


def zpipe(args, zpipe_cmd, plugin_path=None, cwd=None):
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if plugin_path is not None:
        env["PYTHONPATH"] = str(plugin_path)
    return subprocess.run([*zpipe_cmd, *map(str, args)], capture_output=True, text=True, timeout=300, env=env,
                          cwd=cwd)


def test_plugin_is_discovered_and_runs(plugin_path, zpipe_cmd, write_recipe, tmp_path):
    listed = zpipe(["stages"], zpipe_cmd, plugin_path)
    assert listed.returncode == 0 and "colour_grade  (textures, posters" in listed.stdout
    one = zpipe(["stages", "colour_grade"], zpipe_cmd, plugin_path)
    assert "saturation" in one.stdout and "a number in [0.0, 2.0]" in one.stdout

    recipe, out = write_recipe(RECIPE), tmp_path / "out"
    r = zpipe(["run", recipe, "--out", out, "--json"], zpipe_cmd, plugin_path)
    assert r.returncode == 0, r.stdout + r.stderr
    manifest = json.loads((out / "graded" / "v0001" / "manifest.json").read_text())
    for asset in manifest["assets"]:
        assert asset["status"] == "built"
        m = asset["metrics"]["colour_grade"]["albedo"]
        assert m["mean_after"] > m["mean_before"]  # +0.5 stops
        albedo = np.asarray(Image.open(out / "graded" / "v0001" / asset["files"]["albedo"]).convert("RGB"), np.int16)
        assert np.abs(albedo[..., 0] - albedo[..., 1]).max() <= 1  # saturation 0: grey
        assert set(asset["files"]) == {"albedo", "normal"}

    # the plugin's parameters enter the cache key: a change rebuilds, the same recipe reuses
    r2 = zpipe(["run", recipe, "--out", out, "--json"], zpipe_cmd, plugin_path)
    assert json.loads(r2.stdout.splitlines()[-1])["up_to_date"] is True
    r3 = zpipe(["run", recipe, "--out", out, "--json", "--set", "stages[1].colour_grade.saturation=0.5"],
               zpipe_cmd, plugin_path)
    assert r3.returncode == 0 and json.loads(r3.stdout.splitlines()[-1])["built"] == 2


def test_plugin_params_are_validated_like_builtins(plugin_path, zpipe_cmd, write_recipe):
    bad = write_recipe(RECIPE.replace("{saturation: 0.0, exposure: 0.5}", "{saturation: 5, exposur: 1}"))
    r = zpipe(["validate", bad], zpipe_cmd, plugin_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "recipe.yaml:9:" in r.stderr and "stages[1].colour_grade.saturation: expected a number in [0.0, 2.0], got 5" in r.stderr
    assert "stages[1].colour_grade.exposur: unknown key 'exposur'; did you mean 'exposure'?" in r.stderr


def test_without_the_plugin_the_stage_is_unknown(zpipe_cmd, write_recipe):
    r = zpipe(["validate", write_recipe(RECIPE)], zpipe_cmd)
    assert r.returncode == 2 and "unknown stage 'colour_grade'" in r.stderr and "Traceback" not in r.stderr


def test_clipping_warning_fails_the_run_with_fail_on_warnings(plugin_path, zpipe_cmd, write_recipe, tmp_path):
    recipe = write_recipe(RECIPE.replace("{saturation: 0.0, exposure: 0.5}", "{exposure: 3.0}"))
    r = zpipe(["run", recipe, "--out", tmp_path / "out", "--fail-on", "warnings", "--report", tmp_path / "s.md"],
              zpipe_cmd, plugin_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "colour_grade: albedo:" in r.stderr and "pixels clipped" in r.stderr
    assert "failing: 2 warning(s) and --fail-on warnings" in r.stderr
    assert "**granite**: colour_grade: albedo:" in (tmp_path / "s.md").read_text()
