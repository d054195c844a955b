"""The Unity editor script: compiled with mono's mcs against minimal UnityEngine/UnityEditor stubs, and
driven under mono against the real zpipe CLI (request JSON, answer parsing, importer options). Skips where
mcs/mono are missing (Debian: apt-get install mono-mcs libmono-system-runtime-serialization4.0-cil)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from zpipe.cli import main

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "plugins" / "unity" / "Editor" / "ZpipeTextures.cs"
STUBS = Path(__file__).with_name("unity_stubs")
REFS = ["-r:System.Runtime.Serialization", "-r:System.Xml"]


def mcs(out: Path, *sources: Path, library: bool = True) -> None:
    if not shutil.which("mcs") or not shutil.which("mono"):
        pytest.skip("mono's mcs is not installed (apt-get install mono-mcs)")
    cmd = ["mcs", "-nologo", "-warnaserror+", f"-out:{out}", *(["-target:library"] if library else []), *REFS,
           *map(str, sources)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if "CS0006" in p.stdout + p.stderr:  # a referenced assembly is not installed
        pytest.skip("mono's System.Runtime.Serialization is missing "
                    "(apt-get install libmono-system-runtime-serialization4.0-cil)")
    assert p.returncode == 0, p.stdout + p.stderr


def test_editor_script_compiles_against_unity_stubs(tmp_path):
    mcs(tmp_path / "ZpipeTextures.dll", STUBS / "UnityEngine.cs", STUBS / "UnityEditor.cs", SCRIPT)
    text = SCRIPT.read_text()
    assert '[MenuItem("Assets/zpipe/Build Textures for Selected Materials")]' in text
    assert "class ZpipeTexturePostprocessor : AssetPostprocessor" in text


SUFFIX = {"albedo": "Albedo", "normal": "Normal", "height": "Height", "roughness": "Roughness", "ao": "Occlusion",
          "mask": "MaskMap", "metallic_smoothness": "MetallicSmoothness"}
# Where each map goes in the Lit shader of each pipeline (None: no slot; roughness is in the packed map's alpha).
SLOTS = {
    "unity-hdrp": {"albedo": "_BaseColorMap", "normal": "_NormalMap", "mask": "_MaskMap", "height": "_HeightMap",
                   "roughness": None, "ao": None},
    "unity-urp": {"albedo": "_BaseMap", "normal": "_BumpMap", "metallic_smoothness": "_MetallicGlossMap",
                  "ao": "_OcclusionMap", "height": "_ParallaxMap", "roughness": None},
}
KEYWORDS = {"unity-hdrp": "_HEIGHTMAP,_MASKMAP,_NORMALMAP,_NORMALMAP_TANGENT_SPACE",
            "unity-urp": "_METALLICGLOSSMAP,_METALLICSPECGLOSSMAP,_NORMALMAP,_OCCLUSIONMAP,_PARALLAXMAP"}


@pytest.mark.parametrize("preset", ["unity-hdrp", "unity-urp"])
def test_editor_script_under_mono_against_the_real_cli(tmp_path, zpipe_cmd, preset):
    if len(zpipe_cmd) != 1:
        pytest.skip("needs the installed zpipe console script")
    exe = tmp_path / "harness.exe"
    mcs(exe, *sorted(STUBS.glob("*.cs")), SCRIPT, library=False)
    target, store = tmp_path / "Assets" / "ZpipeTextures", tmp_path / "store"
    p = subprocess.run(["mono", str(exe), zpipe_cmd[0], str(target), str(store), preset], capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    lines = p.stdout.splitlines()
    request = json.loads(next(ln for ln in lines if ln.startswith("request "))[len("request "):])
    assert request["version"] == 1 and request["materials"][0] == {"name": 'Stone "A"', "description": "granite",
                                                                   "size": 64}
    assert request["output"] == {"formats": ["png"], "preset": preset, "naming": "{suffix}"}
    assert "exit 0" in lines and "answer 1 True" in lines
    assert [ln for ln in lines if ln.startswith("result ")] == ['result Stone "A"|built', "result Bricks|built"]
    # every map the preset makes is assigned to its slot, with the keywords that turn the slots on
    assigned = [ln.split(" ", 1)[1].split("|") for ln in lines if ln.startswith("assign ")]
    assert sorted(assigned) == sorted([[role, slot or "-"] for role, slot in SLOTS[preset].items()] * 2)
    assert [ln for ln in lines if ln.startswith("keywords ")] == [f"keywords {KEYWORDS[preset]}"] * 2
    if preset == "unity-urp":  # smoothness = alpha x the slider: the slider goes to 1
        assert [ln for ln in lines if ln.startswith("float ")] == ["float _Smoothness=1"] * 2
    check_import_settings([ln.split(" ", 1)[1].split("|") for ln in lines if ln.startswith("map ")], target, preset)


def check_import_settings(maps: list[list[str]], target: Path, preset: str) -> None:
    """Each imported map: in its material's folder, repeating, sRGB only for albedo, normals as normal maps."""
    assert len(maps) == 2 * len(SLOTS[preset])
    for role, path, space, kind, srgb, wrap in maps:
        assert Path(path).is_file() and Path(path).parent.parent == target, path
        assert Path(path).name == f"{SUFFIX[role]}.png"
        assert wrap == "Repeat"
        assert kind == ("NormalMap" if role == "normal" else "Default")
        assert srgb == ("True" if role == "albedo" else "False") and space == ("srgb" if role == "albedo" else "linear")


def test_answer_results_list_matches_materials(tmp_path):
    """The list form of the answer that Unity's JsonUtility reads carries the same files as `materials`."""
    req = {"version": 1, "target": "t", "store": "s", "engine": "procedural", "defaults": {"size": 64},
           "materials": [{"name": "B", "description": "slate", "maps": ["albedo", "roughness"]},
                         {"name": "A", "prompt": "granite"}]}
    (tmp_path / "r.json").write_text(json.dumps(req))
    r = CliRunner().invoke(main, ["hook", "export", "--request", str(tmp_path / "r.json"), "--json"])
    assert r.exit_code == 0, r.output
    answer = json.loads(r.stdout)
    assert [x["name"] for x in answer["results"]] == ["B", "A"]
    for res in answer["results"]:
        m = answer["materials"][res["name"]]
        assert res["status"] == m["status"] and res["folder"] == m["folder"]
        assert {x["role"]: x["path"] for x in res["maps"]} == m["files"]
        assert {x["role"]: x["colour_space"] for x in res["maps"]} == m["colour_space"]
