"""Incremental builds, atomic publish, resume after kill -9, and the lock, through the real CLI and store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from click.testing import CliRunner
from helpers import TILES_RECIPE, json_events, run_cli

from zpipe.cli import main
from zpipe.plan import make_plan
from zpipe.recipe import load_recipe
from zpipe.store import RecipeStore

REPO = Path(__file__).resolve().parents[2]

def test_first_run_builds_second_reuses_and_makes_no_version(write_recipe, tmp_path):
    path, out = write_recipe(TILES_RECIPE), tmp_path / "out"
    r1 = run_cli("run", path, "--out", out, "--json")
    assert r1.exit_code == 0, r1.output
    done = json_events(r1.output)[-1]
    assert done == {"event": "done", "version": "v0001", "path": str(out / "tiles" / "v0001"), "built": 6,
                    "reused": 0, "failed": 0, "up_to_date": False}
    root = out / "tiles"
    assert os.readlink(root / "latest") == "v0001" and (root / "LATEST").read_text() == "v0001\n"
    manifest = json.loads((root / "v0001" / "manifest.json").read_text())
    assert manifest["summary"] == {"built": 6, "reused": 0, "failed": 0}
    asset = manifest["assets"][0]
    assert asset["id"] == "granite_clean" and asset["status"] == "built"
    assert asset["files"] == {"albedo": "granite_clean/albedo.png"}
    assert (root / "v0001" / "granite_clean" / "albedo.png").is_file()
    assert asset["engine"]["name"] == "procedural"

    r2 = run_cli("run", path, "--out", out, "--json")
    assert r2.exit_code == 0
    assert json_events(r2.output)[-1]["up_to_date"] is True
    assert RecipeStore(out, "tiles").versions() == ["v0001"]


def test_changing_one_prompt_rebuilds_one_asset(write_recipe, tmp_path):
    path, out = write_recipe(TILES_RECIPE + "assets: [{id: extra, prompt: lava rock}]\n"), tmp_path / "out"
    assert run_cli("run", path, "--out", out).exit_code == 0
    path.write_text(path.read_text().replace("lava rock", "glowing lava rock"))
    r = run_cli("run", path, "--out", out, "--json")
    assert r.exit_code == 0
    done = json_events(r.output)[-1]
    assert (done["version"], done["built"], done["reused"]) == ("v0002", 1, 6)
    m1 = json.loads((out / "tiles" / "v0001" / "manifest.json").read_text())
    m2 = json.loads((out / "tiles" / "v0002" / "manifest.json").read_text())
    statuses = {a["id"]: a["status"] for a in m2["assets"]}
    assert statuses.pop("extra") == "built" and set(statuses.values()) == {"reused"}
    assert m2["previous"] == "v0001" and m2["summary"] == {"built": 1, "reused": 6, "failed": 0}
    # Reused files are the same bytes (hardlinked), and the old version is untouched.
    a1, a2 = (out / "tiles" / v / "granite_clean" / "albedo.png" for v in ("v0001", "v0002"))
    assert a1.read_bytes() == a2.read_bytes() and os.stat(a1).st_ino == os.stat(a2).st_ino
    assert m1["assets"][-1]["prompt"] == "lava rock" and m2["assets"][-1]["prompt"] == "glowing lava rock"
    d = run_cli("diff", out / "tiles", "--json")
    assert json.loads(d.output)["changed"] == ["extra"]
    assert "* v0002" in run_cli("versions", out / "tiles").output
    assert run_cli("gc", out / "tiles", "--keep", "1").exit_code == 0
    assert RecipeStore(out, "tiles").versions() == ["v0002"]
    # --force rebuilds everything into a new version.
    done = json_events(run_cli("run", path, "--out", out, "--json", "--force").output)[-1]
    assert (done["version"], done["built"], done["reused"]) == ("v0003", 7, 0)


def test_keys_stable_across_runs_and_key_order(write_recipe, tmp_path):
    store = RecipeStore(tmp_path / "out", "tiles")
    a = make_plan(load_recipe(write_recipe(TILES_RECIPE, "a.yaml")), store)
    reordered = ("matrix:\n  material: [granite, slate, brick]\n  variant: [clean, mossy]\n"
                 "prompt: \"{material} texture, {variant}\"\nsize: 64\nengine: procedural\nname: tiles\n")
    b = make_plan(load_recipe(write_recipe(reordered, "b.yaml")), store)
    assert [(j.job.id, j.key) for j in a.jobs] == [(j.job.id, j.key) for j in b.jobs]
    # One asset's seed changes only that asset's key.
    c = make_plan(load_recipe(write_recipe(TILES_RECIPE + "assets: [{id: one, seed: 5, prompt: x}]\n", "c.yaml")), store)
    d = make_plan(load_recipe(write_recipe(TILES_RECIPE + "assets: [{id: one, seed: 6, prompt: x}]\n", "d.yaml")), store)
    diff = [x.job.id for x, y in zip(c.jobs, d.jobs) if x.key != y.key]
    assert diff == ["one"]
    # A stage parameter or output format changes every key.
    e = make_plan(load_recipe(write_recipe(TILES_RECIPE + "output: {formats: [jpeg]}\n", "e.yaml")), store)
    assert all(x.key != y.key for x, y in zip(a.jobs, e.jobs))


def _zpipe(zpipe_cmd, *args, **kw):
    return subprocess.Popen([*zpipe_cmd, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kw)


def test_kill_9_mid_build_then_resume(write_recipe, tmp_path, zpipe_cmd):
    text = TILES_RECIPE.replace("size: 64", "size: 512").replace("[clean, mossy]", "[clean, mossy, wet, cracked]")
    path, out = write_recipe(text.replace("engine: procedural", "engine: {name: procedural, batch_size: 1}")), \
        tmp_path / "out"
    proc = _zpipe(zpipe_cmd, "run", path, "--out", out, "--json")
    done_ids = []
    deadline = time.monotonic() + 120
    for line in proc.stdout:
        ev = json.loads(line)
        if ev["event"] == "asset_done":
            done_ids.append(ev["id"])
            if len(done_ids) == 3:
                os.kill(proc.pid, signal.SIGKILL)
                break
        assert time.monotonic() < deadline
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    store = RecipeStore(out, "tiles")
    assert store.versions() == [] and not (out / "tiles" / "latest").exists()
    assert len(store.staged_keys()) >= 3
    r = subprocess.run([*zpipe_cmd, "run", str(path), "--out", str(out), "--json"], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    evs = json_events(r.stdout)
    resumed = [e["id"] for e in evs if e["event"] == "asset_done" and e.get("resumed")]
    assert set(done_ids) <= set(resumed)
    assert evs[-1]["version"] == "v0001" and evs[-1]["built"] == 12
    manifest = store.manifest("v0001")
    assert len({a["id"] for a in manifest["assets"]}) == 12
    for a in manifest["assets"]:
        assert (out / "tiles" / "v0001" / a["files"]["albedo"]).is_file()
    assert store.staged_keys() == set()
    leftovers = [p.name for p in (out / "tiles" / ".staging").iterdir()]
    assert leftovers == []


def test_concurrent_runs_are_serialised(write_recipe, tmp_path, zpipe_cmd):
    path, out = write_recipe(TILES_RECIPE), tmp_path / "out"
    store = RecipeStore(out, "tiles")
    with store.lock():
        busy = subprocess.run([*zpipe_cmd, "run", str(path), "--out", str(out), "--no-wait"], capture_output=True,
                              text=True, timeout=120)
        assert busy.returncode == 1
        assert "is being built by pid" in busy.stderr and "Traceback" not in busy.stderr
        waiting = _zpipe(zpipe_cmd, "run", path, "--out", out, "--json")
        first = json.loads(waiting.stdout.readline())
        assert first["event"] == "waiting" and "waiting for pid" in first["message"]
        assert store.versions() == []  # it really waits while we hold the lock
    rest, _ = waiting.communicate(timeout=120)
    assert waiting.returncode == 0
    assert json_events(rest)[-1]["version"] == "v0001"


def test_real_subprocess_run_of_stock_recipe(tmp_path, zpipe_cmd):
    r = subprocess.run([*zpipe_cmd, "run", str(REPO / "recipes" / "stone_textures.yaml"), "--out", str(tmp_path),
                        "--engine", "procedural", "--set", "size=256", "--json"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    done = json_events(r.stdout)[-1]
    assert done["built"] == 24 and done["failed"] == 0
    assert "Traceback" not in r.stderr


def test_bad_recipe_exit_2_and_no_traceback(write_recipe, tmp_path, zpipe_cmd):
    r = subprocess.run([*zpipe_cmd, "run", str(write_recipe("name: x\nsize: 3\n")), "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "size: size 3x3 is invalid" in r.stderr


def test_publish_survives_a_filesystem_without_symlinks(write_recipe, tmp_path, monkeypatch):
    def no_symlinks(*args, **kwargs):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "symlink", no_symlinks)
    path, out = write_recipe(TILES_RECIPE), tmp_path / "out"
    r = run_cli("run", path, "--out", out, "--json")
    assert r.exit_code == 0, r.output
    root = out / "tiles"
    assert (root / "LATEST").read_text() == "v0001\n" and not (root / "latest").exists()
    assert [p.name for p in root.iterdir() if p.name.startswith(".latest-")] == []
    assert json_events(run_cli("run", path, "--out", out, "--json").output)[-1]["up_to_date"] is True


def test_stale_staging_is_pruned_by_the_next_publish_and_by_gc(write_recipe, tmp_path):
    path, out = write_recipe(TILES_RECIPE), tmp_path / "out"
    store = RecipeStore(out, "tiles")
    with store.lock():
        store.stage_asset("f" * 64, {"albedo.png": b"x"}, {"id": "old"})  # left by an interrupted, changed plan
    assert run_cli("run", path, "--out", out).exit_code == 0
    assert list((out / "tiles" / ".staging").iterdir()) == []
    with store.lock():
        store.stage_asset("e" * 64, {"albedo.png": b"x"}, {"id": "old"})
    (out / "tiles" / ".trash-v0000-abc").mkdir()
    assert run_cli("gc", out / "tiles", "--keep", "1").exit_code == 0
    assert sorted(p.name for p in (out / "tiles").iterdir()) == [".lock", ".staging", "LATEST", "latest", "v0001"]
    assert list((out / "tiles" / ".staging").iterdir()) == []


def test_a_damaged_manifest_is_a_clear_error(write_recipe, tmp_path):
    path, out = write_recipe(TILES_RECIPE), tmp_path / "out"
    assert run_cli("run", path, "--out", out).exit_code == 0
    (out / "tiles" / "v0001" / "manifest.json").write_text("{bad")
    r = CliRunner().invoke(main, ["run", str(path), "--out", str(out)])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert f"{out}/tiles/v0001/manifest.json: cannot read the manifest" in r.output


def test_a_stage_version_bump_changes_only_the_keys_that_use_the_stage(write_recipe, tmp_path, monkeypatch):
    from zpipe.stages.tile import TileStage

    text = TILES_RECIPE + "assets: [{id: tiled, prompt: slate, stages: [tile]}]\n"
    recipe = load_recipe(write_recipe(text))
    store = RecipeStore(tmp_path / "out", "tiles")
    before = {j.job.id: j.key for j in make_plan(recipe, store).jobs}
    monkeypatch.setattr(TileStage, "version", TileStage.version + ".1")
    after = {j.job.id: j.key for j in make_plan(recipe, store).jobs}
    assert [i for i in before if before[i] != after[i]] == ["tiled"]
