"""The Blender add-on: its protocol module against the real CLI (always), and the add-on in real Blender
(`bpy` from PyPI in its own venv: tests/plugins/make_bpy_venv.sh; enabled by ZPIPE_BPY_PYTHON)."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ADDON = REPO / "plugins" / "blender" / "zpipe_blender"


def zpipe_exe(zpipe_cmd) -> str:
    if len(zpipe_cmd) != 1:
        pytest.skip("needs the installed zpipe console script")
    return zpipe_cmd[0]


def load_protocol():
    spec = importlib.util.spec_from_file_location("zpipe_blender_protocol", ADDON / "protocol.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_addon_has_bl_info_and_never_imports_zpipe():
    tree = ast.parse((ADDON / "__init__.py").read_text())
    info = next(n for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "bl_info")
    bl_info = ast.literal_eval(info.value)
    assert bl_info["name"] and bl_info["blender"] >= (4, 2, 0) and bl_info["category"] == "Material"
    for path in ADDON.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n == "zpipe" or n.startswith("zpipe.") for n in names), (path, names)


def test_protocol_module_round_trip_with_the_real_cli(tmp_path, zpipe_cmd):
    protocol = load_protocol()
    cli = zpipe_exe(zpipe_cmd)
    mats = [protocol.material_entry("Stone", "description", "granite", size=64, maps=["albedo", "normal"]),
            protocol.material_entry("Ref", "prompt", "slate tiles", size=64, seed=3)]
    request = protocol.make_request(mats, str(tmp_path / "tex"), store=str(tmp_path / "store"), engine="procedural")
    assert request["version"] == 1 and request["materials"][0] == {
        "name": "Stone", "description": "granite", "size": 64, "maps": ["albedo", "normal"]}
    answer = protocol.run_hook(cli, request, timeout=120)
    assert answer["ok"] and set(answer["materials"]["Stone"]["files"]) == {"albedo", "normal"}
    assert "height_scale" not in answer["materials"]["Stone"]  # no height map, no displacement scale
    assert answer["materials"]["Ref"]["height_scale"] == 0.02  # the default maps include height: pbr's depth
    assert answer["materials"]["Stone"]["files"]["normal"] == str(tmp_path / "tex" / "Stone" / "normal.png")
    bad = protocol.make_request([protocol.material_entry("X", "prompt", "p", size=100)], str(tmp_path / "tex"),
                                store=str(tmp_path / "store"), engine="procedural")
    with pytest.raises(protocol.HookFailed, match=r"refused the request: materials\[0\] \(X\)\.size"):
        protocol.run_hook(cli, bad, timeout=120)
    with pytest.raises(protocol.HookFailed, match="does not exist or is not executable"):
        protocol.run_hook(str(tmp_path / "no" / "zpipe"), request)
    with pytest.raises(protocol.HookFailed, match="is not on PATH"):
        protocol.run_hook("zpipe-not-installed-anywhere", request)


@pytest.mark.blender
def test_addon_in_real_blender(tmp_path, zpipe_cmd):
    bpy_python = os.environ.get("ZPIPE_BPY_PYTHON")
    if not bpy_python:
        pytest.skip("set ZPIPE_BPY_PYTHON to the bpy venv's python (bash tests/plugins/make_bpy_venv.sh)")
    cli = zpipe_exe(zpipe_cmd)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    p = subprocess.run([bpy_python, str(Path(__file__).with_name("blender_scene.py")), str(ADDON.parent), cli,
                        str(tmp_path)], capture_output=True, text=True, timeout=600, env=env)
    assert p.returncode == 0 and "BLENDER OK" in p.stdout, p.stdout[-3000:] + p.stderr[-3000:]
    wired = json.loads(next(line for line in p.stdout.splitlines() if line.startswith("{")))["wired"]
    assert wired["Stone"] == ["albedo", "ao", "roughness", "normal", "height"]
    assert (tmp_path / "textures" / "Stone" / "albedo.png").is_file()
    assert sys.executable != bpy_python
