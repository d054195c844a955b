"""CLI routing and the promises a user relies on: light startup, plan, auto-engine fallback, errors."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from zpipe.cli import main

RECIPE = "name: demo\nsize: 64\nprompt: '{m} texture'\nmatrix: {m: [granite, oak wood]}\n"


def test_help_and_version_import_neither_torch_nor_ray():
    code = ("import sys\nfrom zpipe.cli import main\n"
            "for args in (['--help'], ['run', '--help'], ['--version']):\n"
            "    try:\n        main(args)\n    except SystemExit as e:\n        assert e.code == 0, (args, e.code)\n"
            "heavy = [m for m in sys.modules if m.split('.')[0] in ('torch', 'ray', 'cv2', 'rapidocr_onnxruntime')]\n"
            "assert not heavy, heavy\n")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    out = subprocess.run([sys.executable, "-m", "zpipe", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "zpipe, version 0.1.0"


def test_plan_then_run_then_plan(write_recipe, tmp_path):
    path, out = write_recipe(RECIPE), tmp_path / "out"
    r = CliRunner().invoke(main, ["plan", str(path), "--out", str(out), "--engine", "procedural"])
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[-1] == "demo: 2 to build, 0 to resume, 0 reused, 0 removed; engine procedural"
    assert CliRunner().invoke(main, ["run", str(path), "--out", str(out), "--engine", "procedural"]).exit_code == 0
    r = CliRunner().invoke(main, ["plan", str(path), "--out", str(out), "--engine", "procedural", "--json"])
    plan = json.loads(r.output)
    assert plan["up_to_date"] and [j["action"] for j in plan["jobs"]] == ["reuse", "reuse"]
    # Dropping an asset is a change: it shows as removed, and the next run makes a version without it.
    r = CliRunner().invoke(main, ["plan", str(path), "--out", str(out), "--engine", "procedural",
                                  "--set", "matrix.m=[granite]"])
    assert "remove  oak_wood" in r.output and "1 removed" in r.output


def test_auto_engine_falls_back_with_one_warning_and_records_it(write_recipe, tmp_path):
    path, out = write_recipe(RECIPE), tmp_path / "out"
    r = CliRunner().invoke(main, ["run", str(path), "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    evs = [json.loads(x) for x in r.output.splitlines() if x.startswith("{")]
    warnings = [e for e in evs if e["event"] == "warning"]
    assert len(warnings) == 1 and warnings[0]["message"].startswith("engine auto: using procedural")
    manifest = json.loads((out / "demo" / "v0001" / "manifest.json").read_text())
    assert manifest["engine"]["name"] == "procedural" and "fallback" in manifest["engine"]
    assert {a["engine"]["name"] for a in manifest["assets"]} == {"procedural"}
    infos = {a["id"]: a["engine"]["info"] for a in manifest["assets"]}
    assert infos["granite"]["understood"] is True


def test_store_commands_reject_bad_targets(tmp_path):
    r = CliRunner().invoke(main, ["versions", str(tmp_path / "missing")])
    assert r.exit_code == 2 and "is not a folder" in r.output
    (tmp_path / "demo").mkdir()
    r = CliRunner().invoke(main, ["gc", str(tmp_path), "--keep", "1"])  # the output root, not a recipe store
    assert r.exit_code == 2 and "holds no zpipe versions" in r.output and not (tmp_path / ".lock").exists()
    r = CliRunner().invoke(main, ["diff", str(tmp_path / "demo")])
    assert r.exit_code == 2 and "holds no zpipe versions" in r.output
    r = CliRunner().invoke(main, ["run"])
    assert r.exit_code == 2  # usage error


def test_unknown_engine_option_is_a_validation_error(write_recipe):
    path = write_recipe("name: d\nprompt: x\nengine: {name: procedural, dtype: bf16}\nassets: [{id: a}]\n")
    r = CliRunner().invoke(main, ["validate", str(path)])
    assert r.exit_code == 2
    assert r.output.splitlines()[0] == (f"{path}:3:28: engine.dtype: option 'dtype' belongs to the z-image-turbo "
                                        "engine, not procedural; remove it, or use `name: z-image-turbo` (or auto)")


def test_qa_failure_fails_the_asset_keeps_its_metrics_and_exits_1(write_recipe, tmp_path):
    text = RECIPE.replace("matrix", "engine: procedural\nmatrix") + \
        "assets:\n  - {id: strict, prompt: granite, stages: [{tile: {max_seam: 0.5, repair: none, retries: 0, " \
        "edge_aware: false}}]}\n"
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["run", str(write_recipe(text)), "--out", str(out), "--json"])
    assert r.exit_code == 1
    done = json.loads(r.output.splitlines()[-1])
    assert (done["built"], done["failed"]) == (2, 1)
    manifest = json.loads((out / "demo" / "v0001" / "manifest.json").read_text())
    strict = next(a for a in manifest["assets"] if a["id"] == "strict")
    assert strict["status"] == "failed" and strict["files"] == {}
    assert strict["error"].startswith("tile: seam score ") and "max_seam 0.5" in strict["error"]
    assert strict["metrics"]["tile"]["passed"] is False and strict["metrics"]["tile"]["scores"]["albedo"]
    assert not (out / "demo" / "v0001" / "strict").exists()
    # The failed asset is retried by the next run (a failure is never reused).
    r = CliRunner().invoke(main, ["plan", str(write_recipe(text)), "--out", str(out), "--json"])
    assert {j["id"]: j["action"] for j in json.loads(r.output)["jobs"]}["strict"] == "build"


def test_unwritable_output_is_a_clear_error(write_recipe, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    r = CliRunner().invoke(main, ["run", str(write_recipe(RECIPE)), "--out", str(blocker / "sub"),
                                  "--engine", "procedural"])
    assert r.exit_code == 1
    assert "error: Not a directory" in r.output and "check that the folder exists" in r.output


def test_progress_printer_shows_per_worker_throughput(capsys):
    from zpipe.report.progress import EventPrinter

    printer = EventPrinter(json_mode=False)
    printer({"event": "workers", "wall": 2.0, "workers": {
        "gpu1": {"jobs": 3, "jobs_per_s": 1.5, "busy_fraction": 0.97},
        "gpu0": {"jobs": 4, "jobs_per_s": 2.0, "busy_fraction": 0.99}}})
    err = capsys.readouterr().err.splitlines()
    assert err == ["  worker gpu0: 4 jobs, 2.00 jobs/s, engine busy 99%",
                   "  worker gpu1: 3 jobs, 1.50 jobs/s, engine busy 97%"]


def test_an_asset_that_fails_the_same_way_again_makes_no_new_version(write_recipe, tmp_path):
    text = RECIPE.replace("matrix", "engine: procedural\nmatrix") + \
        "assets:\n  - {id: strict, prompt: granite, stages: [{tile: {max_seam: 0.5, repair: none, retries: 0, " \
        "edge_aware: false}}]}\n"
    path, out = write_recipe(text), tmp_path / "out"
    for _ in range(2):
        r = CliRunner().invoke(main, ["run", str(path), "--out", str(out), "--json"])
        assert r.exit_code == 1
    done = json.loads(r.output.splitlines()[-1])
    assert (done["version"], done["up_to_date"], done["failed"], done["reused"]) == ("v0001", True, 1, 2)
    assert sorted(p.name for p in (out / "demo").iterdir() if p.name.startswith("v")) == ["v0001"]
    assert list((out / "demo" / ".staging").iterdir()) == []


def test_writing_a_default_engine_option_changes_no_key(write_recipe, tmp_path):
    from zpipe.plan import make_plan
    from zpipe.recipe import load_recipe
    from zpipe.store import RecipeStore

    store = RecipeStore(tmp_path / "out", "demo")
    plain = make_plan(load_recipe(write_recipe(RECIPE), [], "procedural"), store).jobs[0].key
    written = make_plan(load_recipe(write_recipe(RECIPE), ["engine={name: procedural, scale: 1.0, shading: 1}"]),
                        store).jobs[0].key
    changed = make_plan(load_recipe(write_recipe(RECIPE), ["engine={name: procedural, scale: 2.0}"]), store)
    assert written == plain and changed.jobs[0].key != plain


def test_one_device_runs_locally_on_that_gpu(monkeypatch, write_recipe):
    from zpipe.executors.choose import choose_executor

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert choose_executor("auto", None, "1") == ("local", {})
    import os

    assert os.environ["CUDA_VISIBLE_DEVICES"] == "1"
    assert choose_executor("auto", None, "0,1")[0] == "ray"
    r = CliRunner().invoke(main, ["run", str(write_recipe(RECIPE)), "--executor", "local", "--address", "h:1"])
    assert r.exit_code == 2 and "--address needs the Ray executor" in r.output
