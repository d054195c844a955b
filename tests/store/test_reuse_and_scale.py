"""Reuse from any kept version, --only, gc's accounting, streamed manifests and paged contact sheets."""

from __future__ import annotations

import json
import os

import pytest
from helpers import TILES_RECIPE, json_events, run_cli

from zpipe.build import build
from zpipe.recipe import load_recipe
from zpipe.report import contact_sheet
from zpipe.store import RecipeStore


def done(output: str) -> dict:
    return json_events(output)[-1]


def test_going_back_to_earlier_settings_reuses_every_asset_from_that_version(write_recipe, tmp_path):
    path, out = write_recipe(TILES_RECIPE), tmp_path / "out"
    assert done(run_cli("run", path, "-o", out, "--json").output)["built"] == 6
    path.write_text(TILES_RECIPE.replace("texture,", "surface,"))
    assert done(run_cli("run", path, "-o", out, "--json").output)["built"] == 6
    path.write_text(TILES_RECIPE)  # back to v0001's settings
    plan = json.loads(run_cli("plan", path, "-o", out, "--json").output)
    assert {(j["action"], j["from"]) for j in plan["jobs"]} == {("reuse", "v0001")}
    assert not plan["up_to_date"]  # the latest version (v0002) holds other assets
    text = run_cli("plan", path, "-o", out).output
    assert "from v0001" in text and "6 reused (6 from older versions)" in text
    d = done(run_cli("run", path, "-o", out, "--json").output)
    assert (d["version"], d["built"], d["reused"]) == ("v0003", 0, 6)
    root = out / "tiles"
    a1, a3 = root / "v0001" / "granite_clean" / "albedo.png", root / "v0003" / "granite_clean" / "albedo.png"
    assert os.stat(a1).st_ino == os.stat(a3).st_ino  # linked in, not built
    m1, m3 = (RecipeStore(out, "tiles").manifest(v) for v in ("v0001", "v0003"))
    assert [a["sha256"] for a in m1["assets"]] == [a["sha256"] for a in m3["assets"]]
    assert {a["status"] for a in m3["assets"]} == {"reused"}

    # gc keeps what v0003 still links (v0001's files) and frees v0002's
    v2_bytes = sum(f.stat().st_size for f in (root / "v0002").rglob("*") if f.is_file() and f.suffix == ".png"
                   and f.parent != root / "v0002")
    r = run_cli("gc", root, "--keep", "1")
    assert r.exit_code == 0 and "removed 2 versions: v0001, v0002" in r.output
    freed = int(r.output.split("freed ")[1].split(".")[0].split()[0])
    assert "freed" in r.output and freed > 0
    assert (a3.is_file() and a3.stat().st_nlink == 1)
    assert RecipeStore(out, "tiles").versions() == ["v0003"]
    assert v2_bytes > 0


def test_only_builds_the_selection_and_carries_the_rest_over(write_recipe, tmp_path):
    path, out = write_recipe(TILES_RECIPE), tmp_path / "out"
    assert run_cli("run", path, "-o", out).exit_code == 0
    path.write_text(TILES_RECIPE.replace("texture,", "surface,"))  # every asset changes
    r = run_cli("run", path, "-o", out, "--json", "--only", "granite_*", "--only", "slate_clean")
    assert r.exit_code == 0, r.output
    d = done(r.output)
    assert (d["version"], d["built"], d["reused"]) == ("v0002", 3, 3)
    store = RecipeStore(out, "tiles")
    old = {a["id"]: a for a in store.iter_assets("v0001")}
    new = {a["id"]: a for a in store.iter_assets("v0002")}
    assert list(new) == list(old)
    for aid in ("granite_clean", "granite_mossy", "slate_clean"):
        assert new[aid]["status"] == "built" and "surface" in new[aid]["prompt"]
    for aid in ("slate_mossy", "brick_clean", "brick_mossy"):  # not selected: unchanged
        assert new[aid]["prompt"] == old[aid]["prompt"] and new[aid]["sha256"] == old[aid]["sha256"]
        assert new[aid]["key"] == old[aid]["key"] and new[aid]["status"] == "reused"
    # the same selection again: nothing to do
    assert done(run_cli("run", path, "-o", out, "--json", "--only", "granite_*,slate_clean").output)["up_to_date"]
    bad = run_cli("run", path, "-o", out, "--only", "granit")
    assert bad.exit_code == 2 and "'granit' matches no asset" in bad.output and "granite_clean" in bad.output


def test_manifest_is_streamed_one_asset_per_line_and_reads_back(write_recipe, tmp_path):
    path, out = write_recipe(TILES_RECIPE), tmp_path / "out"
    result = build(load_recipe(path), out)
    text = (out / "tiles" / "v0001" / "manifest.json").read_text()
    manifest = json.loads(text)
    assert [a["id"] for a in manifest["assets"]] == [json.loads(line.rstrip(","))["id"]
                                                     for line in text.splitlines() if line.startswith('{"id"')]
    store = RecipeStore(out, "tiles")
    assert list(store.iter_assets("v0001")) == manifest["assets"] == result.manifest["assets"]
    # a manifest written whole (older zpipe) reads the same
    (out / "tiles" / "v0001" / "manifest.json").write_text(json.dumps(manifest, indent=2))
    assert list(store.iter_assets("v0001")) == manifest["assets"]


def test_contact_sheets_and_index_come_in_pages(write_recipe, tmp_path, monkeypatch):
    monkeypatch.setattr(contact_sheet, "PER_PAGE", 4)
    monkeypatch.setattr(contact_sheet, "COLS", 2)
    path, out = write_recipe(TILES_RECIPE), tmp_path / "out"
    build(load_recipe(path), out)
    v = out / "tiles" / "v0001"
    assert sorted(p.name for p in v.iterdir() if p.is_file()) == [
        ".keys", "contact_sheet-0002.png", "contact_sheet.png", "index-0002.html", "index.html", "manifest.json"]
    first, second = (v / "index.html").read_text(), (v / "index-0002.html").read_text()
    assert 'href="index-0002.html"' in first and 'href="index.html"' in second
    assert first.count('class="card') == 4 and second.count('class="card') == 2
    assert "brick_mossy" in second and "slate_mossy" not in second and 'href="contact_sheet-0002.png"' in second
    from PIL import Image

    with Image.open(v / "contact_sheet.png") as im:
        assert im.width <= 2 * (contact_sheet.CARD_W + contact_sheet.GAP) + contact_sheet.GAP + 2 * contact_sheet.CARD_W
    assert not (v / ".cards").exists() and not list((out / "tiles" / ".staging").iterdir())


def test_an_unknown_executor_is_an_error(write_recipe, tmp_path):
    with pytest.raises(ValueError, match="unknown executor 'gpu'"):
        build(load_recipe(write_recipe(TILES_RECIPE)), tmp_path / "out", executor="gpu")


def test_a_hook_request_for_one_asset_of_a_recipe_builds_one_asset(write_recipe, tmp_path):
    write_recipe(TILES_RECIPE, "lib.yaml")
    request = {"version": 1, "target": "textures", "store": "store", "engine": "procedural",
               "materials": [{"name": "Floor", "recipe": "lib.yaml", "asset": "slate_mossy"}]}
    (tmp_path / "request.json").write_text(json.dumps(request))
    r = run_cli("hook", "export", "--request", tmp_path / "request.json", "--json")
    assert r.exit_code == 0, r.output
    answer = json.loads(r.stdout)
    assert answer["builds"][0]["built"] == 1 and answer["materials"]["Floor"]["status"] == "built"
    assert [a["id"] for a in RecipeStore(tmp_path / "store", "tiles").iter_assets("v0001")] == ["slate_mossy"]


def _reference_key(job, engine, options):
    """The key as zpipe has always computed it (dataclasses.asdict, one canonical JSON document):
    the fast path must give the same keys, or every store would rebuild."""
    import dataclasses

    from zpipe.canonical import canonical_json, sha256_hex
    from zpipe.plan import ASSET_FORMAT_VERSION, _key_options
    from zpipe.stages import registry

    jd = dataclasses.asdict(job)
    jd["stages"] = [[s["name"], registry.version(s["name"]), s["params"], registry.get(s["name"]).key_inputs(s["params"])]
                    for s in jd["stages"]]
    jd["output"] = [registry.version("export"), jd["output"]]
    eng = {"name": engine["name"], "version": engine["version"], "fingerprint": engine["fingerprint"],
           "options": _key_options(engine["name"], options)}
    return sha256_hex(canonical_json({"asset_format": ASSET_FORMAT_VERSION, "engine": eng, "job": jd}))


@pytest.mark.parametrize("recipe", ["stone_textures.yaml", "bilingual_posters.yaml", "inline"])
def test_fast_keys_equal_the_reference_encoding(recipe, write_recipe, tmp_path):
    from pathlib import Path

    from zpipe.plan import describe_engine, make_plan

    path = (write_recipe(TILES_RECIPE + 'assets: [{id: "odd_x", prompt: "naïve \\"quoted\\" 石", seed: 3, '
                                  'stages: [tile, {pbr: {normal_y: directx}}]}]\n')
            if recipe == "inline" else Path(__file__).resolve().parents[2] / "recipes" / recipe)
    r = load_recipe(path, engine="procedural")
    engine = describe_engine(r)
    plan = make_plan(r, RecipeStore(tmp_path, r.name), engine=engine)
    assert [pj.key for pj in plan.jobs] == [_reference_key(j, engine, r.engine_options) for j in r.jobs]


def test_a_failing_contact_sheet_never_costs_the_build(write_recipe, tmp_path, monkeypatch):
    def broken(self, page, sizes):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(contact_sheet.Pages, "_compose", broken)
    result = build(load_recipe(write_recipe(TILES_RECIPE)), tmp_path / "out")
    assert result.version == "v0001" and result.built == 6
    v = tmp_path / "out" / "tiles" / "v0001"
    assert not (v / ".cards").exists() and not (v / "contact_sheet.png").exists()
    assert len(result.manifest["assets"]) == 6
