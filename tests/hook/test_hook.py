"""`zpipe hook export --request request.json --json`: correct paths for built and reused materials, the
store reused across requests, recipe references, and bad requests answered with exit 2."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from zpipe.cli import main
from zpipe.hook.recipe import asset_entry
from zpipe.hook.request import MAPS, Material
from zpipe.stages.pbr import MAPS as PBR_MAPS


def hook(request: dict, tmp_path: Path, name: str = "request.json", *extra: str):
    path = tmp_path / name
    path.write_text(json.dumps(request), encoding="utf-8")
    result = CliRunner().invoke(main, ["hook", "export", "--request", str(path), "--json", *extra],
                                catch_exceptions=False)
    return result, (json.loads(result.stdout) if result.stdout.strip().startswith("{") else None)


def request(*materials, **top):
    return {"version": 1, "target": "textures", "store": "store", "engine": "procedural",
            "defaults": {"size": 64}, "materials": list(materials), **top}


ROCK = {"name": "Rock.001", "description": "granite"}
WALL = {"name": "Wall", "prompt": "old red brick wall, {weathered}", "maps": ["albedo", "normal"], "seed": 7}
MOSS = {"name": "Moss", "description": "mossy slate", "size": [64, 128]}


def latest_manifest(store: Path, name: str) -> dict:
    return json.loads((store / name / "latest" / "manifest.json").read_text())


def check_files(answer: dict, store: Path, name: str) -> None:
    """Every answered path is in the target, in the material's folder, and holds the store's bytes."""
    target = Path(answer["target"])
    manifest = json.loads((Path(answer["builds"][0]["path"]) / "manifest.json").read_text()) if name else None
    for mname, m in answer["materials"].items():
        assert m["folder"] == str(target / m["folder"].rsplit("/", 1)[1])
        version = store / m["recipe"] / m["version"]
        assets = {a["id"]: a for a in json.loads((version / "manifest.json").read_text())["assets"]}
        asset = assets[m["asset"]]
        assert set(m["files"]) == set(asset["files"])
        for role, path in m["files"].items():
            p = Path(path)
            assert p.is_file() and p.parent == Path(m["folder"]), (mname, role, path)
            assert p.read_bytes() == (version / asset["files"][role]).read_bytes()
    assert manifest is None or manifest["recipe"]["name"] == name


def check_first_answer(a1: dict, tmp_path: Path) -> None:
    """The first hook answer: both materials built, each file where the DCC expects it."""
    assert a1["version"] == 1 and a1["ok"] is True
    assert a1["target"] == str(tmp_path / "textures") and a1["store"] == str(tmp_path / "store")
    rock, wall = a1["materials"]["Rock.001"], a1["materials"]["Wall"]
    assert rock["status"] == wall["status"] == "built"
    assert rock["folder"] == str(tmp_path / "textures" / "Rock_001")
    assert rock["files"] == {r: str(tmp_path / "textures" / "Rock_001" / f"{r}.png")
                             for r in ("albedo", "height", "normal", "roughness", "ao")}
    assert wall["files"] == {r: str(tmp_path / "textures" / "Wall" / f"{r}.png") for r in ("albedo", "normal")}
    assert rock["colour_space"]["albedo"] == "srgb" and rock["colour_space"]["normal"] == "linear"
    assert rock["normal_y"] == "opengl" and rock["size"] == [64, 64]
    check_files(a1, tmp_path / "store", "hook")


def test_built_then_reused_with_correct_paths(tmp_path):
    r1, a1 = hook(request(ROCK, WALL), tmp_path)
    assert r1.exit_code == 0, r1.output
    check_first_answer(a1, tmp_path)
    wall, rock = a1["materials"]["Wall"], a1["materials"]["Rock.001"]
    store = tmp_path / "store"
    assert latest_manifest(store, "hook")["assets"][1]["prompt"] == "old red brick wall, {weathered}"

    # a new material joins: the two earlier ones are reused from the store, the new one is built
    mtime = Path(rock["files"]["albedo"]).stat().st_mtime_ns
    r2, a2 = hook(request(ROCK, WALL, MOSS), tmp_path)
    assert r2.exit_code == 0, r2.output
    assert {n: m["status"] for n, m in a2["materials"].items()} == {"Rock.001": "reused", "Wall": "reused",
                                                                   "Moss": "built"}
    assert a2["materials"]["Moss"]["size"] == [64, 128]
    assert a2["materials"]["Wall"]["files"] == wall["files"] and a2["materials"]["Wall"]["version"] == "v0002"
    assert Path(rock["files"]["albedo"]).stat().st_mtime_ns == mtime  # unchanged files are not rewritten
    check_files(a2, store, "hook")

    # exporting one material does not evict the others from the store's latest version
    r3, a3 = hook(request(MOSS, target="other"), tmp_path)
    assert r3.exit_code == 0
    assert a3["materials"]["Moss"]["status"] == "reused" and a3["builds"][0]["up_to_date"] is True
    assert a3["materials"]["Moss"]["files"]["albedo"] == str(tmp_path / "other" / "Moss" / "albedo.png")
    assert [a["id"] for a in latest_manifest(store, "hook")["assets"]] == ["Moss", "Rock_001", "Wall"]
    check_files(a3, store, "hook")

    # a changed material is rebuilt, its files in the target replaced
    before = Path(wall["files"]["albedo"]).read_bytes()
    r4, a4 = hook(request(ROCK, {**WALL, "seed": 8}), tmp_path)
    assert r4.exit_code == 0, r4.output
    assert {n: m["status"] for n, m in a4["materials"].items()} == {"Rock.001": "reused", "Wall": "built"}
    assert Path(wall["files"]["albedo"]).read_bytes() != before
    check_files(a4, store, "hook")


RECIPE = """\
name: lib
engine: procedural
size: 64
prompt: "{material} texture"
matrix:
  material: [granite, slate]
stages: [tile, pbr]
"""


def test_recipe_reference_and_linking(tmp_path):
    (tmp_path / "lib.yaml").write_text(RECIPE)
    req = request({"name": "Floor", "recipe": "lib.yaml", "asset": "slate"},
                  {"name": "granite", "recipe": "lib.yaml"}, link="hardlink")
    r1, a1 = hook(req, tmp_path)
    assert r1.exit_code == 0, r1.output
    floor = a1["materials"]["Floor"]
    assert floor["status"] == "built" and floor["recipe"] == "lib" and floor["asset"] == "slate"
    assert a1["materials"]["granite"]["asset"] == "granite"  # asset defaults to the material's name
    assert floor["files"]["albedo"] == str(tmp_path / "textures" / "Floor" / "albedo.png")
    src = tmp_path / "store" / "lib" / "v0001" / "slate" / "albedo.png"
    assert Path(floor["files"]["albedo"]).samefile(src)  # hardlinked
    check_files(a1, tmp_path / "store", "lib")
    r2, a2 = hook(req, tmp_path)
    assert a2["materials"]["Floor"]["status"] == "reused" and a2["builds"] == [
        {"recipe": "lib", "version": "v0001", "path": str(tmp_path / "store" / "lib" / "v0001"),
         "up_to_date": True, "built": 0, "reused": 2, "failed": 0}]


def test_a_failed_material_exits_1_and_says_why(tmp_path):
    bad = {"name": "Seamy", "description": "brick", "stages": [{"tile": {"max_seam": 0.5, "repair": "none",
                                                                        "retries": 0, "edge_aware": False}}]}
    r, a = hook(request(ROCK, bad), tmp_path)
    assert r.exit_code == 1
    assert a["ok"] is False and a["summary"] == {"built": 1, "reused": 0, "failed": 1}
    seamy = a["materials"]["Seamy"]
    assert seamy["status"] == "failed" and seamy["files"] == {} and "seam score" in seamy["error"]
    assert a["materials"]["Rock.001"]["status"] == "built"


@pytest.mark.parametrize("req, expected", [
    ({"target": "t", "materials": [ROCK]}, 'version: missing; write "version": 1'),
    ({**request(ROCK), "version": 2}, "speaks hook protocol 2, this zpipe speaks 1; update zpipe"),
    (request(), "materials: expected a non-empty list of materials, got an empty list"),
    (request(ROCK, {"name": "Rock.001", "prompt": "x"}), "materials[1] (Rock.001).name: duplicate name"),
    (request({"name": "A", "promt": "x"}), "materials[0] (A).promt: unknown key 'promt'; did you mean 'prompt'?"),
    (request({"name": "A"}), "materials[0] (A): give exactly one of prompt, description or recipe"),
    (request({"name": "A", "prompt": "x", "size": 100}),
     "materials[0] (A).size: size 100x100 is invalid: width and height must be multiples of 16"),
    (request({"name": "A", "prompt": "x", "maps": ["albedo", "glow"]}), "materials[0] (A).maps: expected a list of 'albedo', 'normal', 'roughness', 'ao', 'height', got 'glow'"),
    (request({"name": "A", "recipe": "missing.yaml"}), "materials[0] (A).recipe: no such file"),
    (request({"name": "A", "prompt": "x", "stages": ["blurr"]}), "unknown stage 'blurr'"),
    ({**request(ROCK), "target": 3}, "target: expected a string, got 3; set it to a string (The folder to put the files in)"),
    ({**request(ROCK), "engine": "foo"}, "engine.name: expected one of 'auto', 'procedural', 'z-image-turbo', got 'foo'"),
    ({**request(ROCK), "output": {"formats": ["bmp"]}}, "output.formats: expected a list of 'png'"),
    (request({"name": "A", "prompt": "x", "seed": -5}), "materials[0] (A).seed: expected an integer in [0, 4294967295]"),
    (request({"name": "A", "prompt": "x", "seed": 2**64 + 5}), "materials[0] (A).seed: expected an integer in"),
    (request({"name": "A", "prompt": "x", "seed": True}), "materials[0] (A).seed: expected an integer in"),
    (request({"name": "A", "prompt": "x", "seed": 1.5}), "materials[0] (A).seed: expected an integer in"),
    (request({"name": "A", "prompt": "x", "seed": [1]}), "materials[0] (A).seed: expected an integer in"),
    (request({"name": "A", "prompt": "x"}, defaults={"seed": "abc"}), "defaults.seed: expected an integer in"),
    (request({"name": "A", "recipe": "lib.yaml", "set": ["....=1"]}), "--set '....=1': expected KEY.PATH=VALUE"),
    (request({"name": "A", "recipe": "fmt.yaml"}), "prompt: {id:>2000000000}: format specs and conversions"),
    (request({"name": "A", "prompt": "x"}, link="move"), "link: expected one of 'copy', 'hardlink', 'symlink'"),
])
def test_bad_requests_exit_2_with_a_clear_message(tmp_path, req, expected):
    (tmp_path / "lib.yaml").write_text(RECIPE)
    (tmp_path / "fmt.yaml").write_text("name: f\nprompt: '{id:>2000000000}'\nassets: [{id: a}]\n")
    r, a = hook(req, tmp_path)
    assert r.exit_code == 2, r.output
    assert expected in r.stderr and "Traceback" not in r.output
    assert a["ok"] is False and a["version"] == 1 and any(expected in e for e in a["errors"])
    assert not (tmp_path / "store" / "hook").exists()


def test_recipe_reference_to_an_unknown_asset(tmp_path):
    (tmp_path / "lib.yaml").write_text(RECIPE)
    r, _ = hook(request({"name": "Floor", "recipe": "lib.yaml", "asset": "marble"}), tmp_path)
    assert r.exit_code == 2
    assert "materials[0] (Floor).asset: the recipe" in r.stderr and "one of granite, slate" in r.stderr


def test_installed_cli_not_json_and_stdin(tmp_path, zpipe_cmd):
    """What a DCC does: run the installed console script; bad JSON exits 2, a request on stdin works."""
    (tmp_path / "bad.json").write_text("{\"version\": 1,")
    p = subprocess.run([*zpipe_cmd, "hook", "export", "--request", str(tmp_path / "bad.json"), "--json"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "not valid JSON" in p.stderr and "Traceback" not in p.stderr
    assert json.loads(p.stdout)["ok"] is False
    req = request(ROCK, target=str(tmp_path / "t"), store=str(tmp_path / "s"))
    p = subprocess.run([*zpipe_cmd, "hook", "export", "--request", "-", "--json"], input=json.dumps(req),
                       capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    answer = json.loads(p.stdout)
    assert Path(answer["materials"]["Rock.001"]["files"]["normal"]).is_file()


@pytest.mark.parametrize("text, expected", [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"version": 1, "target": "t", "materials": [{"name": "A", "prompt": "x", "seed": ' + "9" * 5001 + "}]}",
     "no field of a request takes such a number"),
    ('{"version": 1, "target": "t", "materials": [{"name": "A", "prompt": "x"}], "link": "copy"' + " " * 17_000_000
     + "}", "over 16 MiB"),
])
def test_hostile_request_text_is_a_json_answer_and_exit_2(tmp_path, text, expected):
    path = tmp_path / "request.json"
    path.write_text(text, encoding="utf-8")
    r = CliRunner().invoke(main, ["hook", "export", "--request", str(path), "--json"])
    assert r.exit_code == 2 and expected in r.stderr, r.output[-500:]
    answer = json.loads(r.stdout)
    assert answer["ok"] is False and expected in answer["error"] and answer["exit_code"] == 2


def test_a_deleted_store_file_is_rebuilt_not_a_bad_request(tmp_path):
    r1, a1 = hook(request(ROCK), tmp_path)
    assert r1.exit_code == 0
    version = tmp_path / "store" / "hook" / a1["materials"]["Rock.001"]["version"]
    (version / "Rock_001" / "normal.png").unlink()
    r2, a2 = hook(request(ROCK), tmp_path)
    assert r2.exit_code == 0, r2.output
    assert a2["materials"]["Rock.001"]["status"] == "built" and a2["materials"]["Rock.001"]["version"] == "v0002"
    check_files(a2, tmp_path / "store", "hook")


def test_default_maps_are_the_albedo_and_every_pbr_map_in_the_protocols_order():
    """The hook's default maps name the same maps as the pbr stage, but keep their own order: it reaches the
    generated recipe's pbr params and so the content key of every hook asset built with the defaults."""
    assert MAPS[0] == "albedo" and sorted(MAPS[1:]) == sorted(PBR_MAPS)
    entry = asset_entry(Material(index=0, name="Rock", folder="Rock", prompt="granite"))
    assert entry["stages"] == ["tile", {"pbr": {"maps": ["normal", "roughness", "ao", "height"]}}]
