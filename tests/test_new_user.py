"""The rough edges a new user hit on a first try (issue 15), each through the real CLI."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

from helpers import run_cli

RECIPE = "name: demo\nengine: procedural\nsize: 64\nprompt: '{m} texture'\nmatrix: {m: [granite, slate, oak]}\n"


def test_validate_catches_a_size_that_power_of_two_check_would_fail(write_recipe):
    r = run_cli("validate", write_recipe(RECIPE.replace("size: 64", "size: 96") + "output: {power_of_two: check}\n"))
    assert r.exit_code == 2
    assert ("output.power_of_two: asset 'granite' (and 2 more) is exported at 96x96, not a power of two"
            in r.output)
    # Sizes the stages change are followed: 128 -> upscale x4 = 512 passes, 96 -> resize to 128 passes,
    # 80 -> upscale x2 = 160 fails.
    ok = RECIPE + "stages: [{upscale: {factor: 4}}]\noutput: {power_of_two: check}\n"
    assert run_cli("validate", write_recipe(ok.replace("size: 64", "size: 128"))).exit_code == 0
    resized = RECIPE.replace("size: 64", "size: 96") + "stages: [{resize: {width: 128}}]\noutput: {power_of_two: check}\n"
    assert run_cli("validate", write_recipe(resized)).exit_code == 0
    bad = RECIPE.replace("size: 64", "size: 80") + "stages: [{upscale: {factor: 2}}]\noutput: {power_of_two: check}\n"
    r = run_cli("validate", write_recipe(bad))
    assert r.exit_code == 2 and "exported at 160x160" in r.output
    # Without `check` the same size is fine (export resizes or leaves it).
    assert run_cli("validate", write_recipe(RECIPE.replace("size: 64", "size: 96"))).exit_code == 0


def test_validate_catches_a_resize_without_a_size(write_recipe):
    r = run_cli("validate", write_recipe(RECIPE + "stages: [resize]\n"))
    assert r.exit_code == 2 and "resize needs width, height or scale" in r.output, r.output


def test_verbose_flag_after_the_subcommand(write_recipe, tmp_path):
    root = logging.getLogger()
    before = root.level
    try:
        r = run_cli("validate", write_recipe(RECIPE), "-vv")
        assert r.exit_code == 0, r.output
        assert root.level == logging.DEBUG
        r = run_cli("-v", "plan", write_recipe(RECIPE), "--out", tmp_path)
        assert r.exit_code == 0, r.output
        assert root.level == logging.INFO
        assert run_cli("-v", "validate", write_recipe(RECIPE), "-v").exit_code == 0  # the counts add up
        assert root.level == logging.DEBUG
        assert run_cli("models", "pull", "--help").exit_code == 0 and "--verbose" in run_cli("models", "pull", "--help").output
    finally:
        root.setLevel(before)


def test_versions_json(write_recipe, tmp_path):
    path = write_recipe(RECIPE)
    assert run_cli("run", path, "--out", tmp_path).exit_code == 0
    assert run_cli("run", path, "--out", tmp_path, "--set", "matrix.m=[granite]").exit_code == 0
    r = run_cli("versions", tmp_path / "demo", "--json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert [(v["version"], v["latest"], v["assets"]) for v in rows] == [("v0001", False, 3), ("v0002", True, 1)]
    assert rows[0]["summary"]["built"] == 3 and rows[1]["summary"]["reused"] == 1


def test_models_pull_without_network_is_one_line(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "HF_HOME": str(tmp_path / "hf")}
    for extra in ({"HF_HUB_OFFLINE": "1"}, {"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9"}):
        r = subprocess.run([sys.executable, "-m", "zpipe", "models", "pull"], capture_output=True, text=True,
                           timeout=120, env={**env, **extra})
        assert r.returncode == 2
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert "Traceback" not in r.stderr and "$ZPIPE_MODEL" in r.stderr and "HF_HUB_OFFLINE" in r.stderr


def test_unknown_stage_says_a_plugin_may_be_missing(write_recipe):
    r = run_cli("validate", write_recipe(RECIPE + "stages: [colour_grade]\n"))
    assert r.exit_code == 2
    assert "unknown stage 'colour_grade'" in r.output
    assert "plugin is not installed" in r.output and "`zpipe stages` lists the installed stages" in r.output
    r = run_cli("stages", "colour_grade")
    assert r.exit_code == 2 and "`zpipe stages` lists the installed stages" in r.output


def test_a_placeholder_typo_is_reported_once(write_recipe):
    r = run_cli("validate", write_recipe(RECIPE.replace("'{m} texture'", "'{materal} texture'")))
    assert r.exit_code == 2
    assert r.output.count("unknown placeholder {materal}") == 1, r.output


def test_engine_option_errors_name_the_option(write_recipe):
    r = run_cli("validate", write_recipe(RECIPE), "--engine", "zimage")
    assert r.exit_code == 2
    assert r.output.startswith("--engine zimage: engine.name: expected one of"), r.output
    assert "--set" not in r.output
    r = run_cli("validate", write_recipe(RECIPE), "--set", "size=3")
    assert r.output.startswith("--set size=3: size:"), r.output


def test_out_help_shows_the_real_default():
    r = run_cli("run", "--help")
    assert "[default: $ZPIPE_OUT, else ./out]" in " ".join(r.output.split())
    assert "(out)" not in r.output
