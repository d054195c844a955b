"""A recipe with `engine: {name: z-image-turbo, model: <tiny checkpoint>}` runs end to end through the CLI."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from zpipe.cli import main


def test_recipe_runs_with_the_tiny_checkpoint(diffusers_ckpt, tmp_path):
    recipe = tmp_path / "zi.yaml"
    recipe.write_text(
        "name: zi\nkind: textures\n"
        f"engine: {{name: z-image-turbo, model: '{diffusers_ckpt}', device: cpu, dtype: fp32}}\n"
        "size: 64\nsteps: 8\nseed: 1\ntile: xy\nprompt: 'seamless {m} texture'\nid: '{m}'\n"
        "matrix:\n  m: [stone, moss]\noutput:\n  formats: [png]\n"
    )
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["run", str(recipe), "--out", str(out), "--executor", "local"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    manifest = json.loads((out / "zi" / "v0001" / "manifest.json").read_text())
    assert manifest["engine"]["name"] == "z-image-turbo"
    assert [a["status"] for a in manifest["assets"]] == ["built", "built"]
    assert (out / "zi" / "v0001" / "stone" / "albedo.png").is_file()


@pytest.mark.parametrize("args", [["models"], ["models", "--json"]])
def test_models_lists_and_validates(diffusers_ckpt, tmp_path, monkeypatch, args):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("ZPIPE_MODEL", str(diffusers_ckpt))
    res = CliRunner().invoke(main, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    if "--json" in args:
        rows = json.loads(res.output)
        assert rows[0]["source"] == "env" and rows[0]["ok"] is True and rows[0]["layout"] == "diffusers"
    else:
        assert "env" in res.output and "ok" in res.output and str(diffusers_ckpt) in res.output
    monkeypatch.setenv("ZPIPE_MODEL", str(tmp_path / "missing"))
    res = CliRunner().invoke(main, ["models"], catch_exceptions=False)
    assert res.exit_code == 1
    assert "model folder not found" in res.output


def test_bench_command_runs_tiny_on_cpu():
    res = CliRunner().invoke(main, ["bench", "--preset", "tiny", "--size", "64", "--batch", "2", "--device", "cpu",
                                    "--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert len(out["dit_step_seconds"]) == 8
    assert set(out["seconds"]) >= {"text_encoder", "dit", "vae_decode", "total"}
    assert out["tflops"]["dit_steps"] > 0


def test_planning_reads_the_fingerprint_without_loading_weights(diffusers_ckpt, tmp_path, monkeypatch):
    from zpipe.engine.zimage.engine import ZImageEngine
    from zpipe.plan import make_plan
    from zpipe.recipe import load_recipe
    from zpipe.store import RecipeStore

    options = {"model": str(diffusers_ckpt), "device": "cpu", "dtype": "fp32"}
    expected = ZImageEngine.from_options(options).fingerprint()
    assert ZImageEngine.fingerprint_for(options) == expected

    def no_loading(*args, **kwargs):
        raise AssertionError("planning must not load the model")

    monkeypatch.setattr(ZImageEngine, "from_options", classmethod(no_loading))
    recipe = tmp_path / "zi.yaml"
    recipe.write_text(f"name: zi\nengine: {{name: auto, model: '{diffusers_ckpt}'}}\nsize: 64\n"
                      "prompt: stone\nassets: [{id: a}]\n")
    plan = make_plan(load_recipe(recipe), RecipeStore(tmp_path / "out", "zi"))
    assert plan.engine["name"] == "z-image-turbo" and plan.engine["fingerprint"] == expected


def test_keys_follow_what_the_options_do_not_how_they_are_written(diffusers_ckpt, tmp_path):
    from zpipe.plan import make_plan
    from zpipe.recipe import load_recipe
    from zpipe.store import RecipeStore

    def key(engine: str) -> str:
        recipe = tmp_path / "zi.yaml"
        recipe.write_text(f"name: zi\nengine: {{name: z-image-turbo, model: '{diffusers_ckpt}'{engine}}}\n"
                          "size: 64\nprompt: stone\nassets: [{id: a}]\n")
        return make_plan(load_recipe(recipe), RecipeStore(tmp_path / "out", "zi")).jobs[0].key

    plain = key("")
    # On this CPU machine the defaults are device cpu and dtype fp32: writing them changes nothing,
    # and neither do defaults of other options or batching.
    assert key(", device: cpu, dtype: fp32, vae_tile: 128, compile: false, max_batch: 2") == plain
    assert key(", dtype: bf16") != plain
    assert key(", vae_dtype: bf16") != plain


def test_bench_plan_and_models_print_each_memory_mode(diffusers_ckpt, tmp_path, monkeypatch):
    res = CliRunner().invoke(main, ["bench", "--plan", "--preset", "full", "--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    plans = {p["mode"]: p for p in json.loads(res.output)}
    assert set(plans) == {"resident", "phased", "fp8"}
    assert plans["resident"]["peak_bytes"] > plans["phased"]["peak_bytes"] > plans["fp8"]["peak_bytes"]
    text = CliRunner().invoke(main, ["bench", "--plan", "--preset", "full", "--size", "1024x768"]).output
    assert "1024x768" in text and "phased" in text
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    res = CliRunner().invoke(main, ["models", "--model", str(diffusers_ckpt), "--size", "512", "--batch", "2"])
    assert res.exit_code == 0, res.output
    assert "peak device memory at 512x512, batch 2" in res.output and "fp8" in res.output
    res = CliRunner().invoke(main, ["models", "--size", "big"])
    assert res.exit_code == 2 and "'big'" in res.output


def test_bench_runs_phased_and_fp8_through_the_pipeline():
    for mode in ("phased", "fp8"):
        res = CliRunner().invoke(main, ["bench", "--preset", "tiny", "--size", "64", "--steps", "2", "--device", "cpu",
                                        "--memory", mode, "--warmup", "0", "--json"], catch_exceptions=False)
        assert res.exit_code == 0, res.output
        out = json.loads(res.output)
        assert out["config"]["memory"] == mode and len(out["dit_step_seconds"]) == 2


def test_run_stops_before_loading_when_no_memory_mode_fits(diffusers_ckpt, tmp_path, monkeypatch):
    from zpipe.engine.zimage import memory

    monkeypatch.setattr(memory, "host_memory_bytes", lambda: 1 << 20)  # a 1 MiB machine
    recipe = tmp_path / "zi.yaml"
    recipe.write_text(f"name: zi\nengine: {{name: z-image-turbo, model: '{diffusers_ckpt}', device: cpu, "
                      "dtype: fp32}\nsize: 64\nprompt: stone\nassets: [{id: a}]\n")
    res = CliRunner().invoke(main, ["run", str(recipe), "--out", str(tmp_path / "out"), "--executor", "local"])
    assert res.exit_code == 2, res.output
    assert "engine.memory: memory resident needs" in res.output and "no memory mode fits" in res.output
    assert "Traceback" not in res.output
