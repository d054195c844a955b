"""The memory planner against measured sizes, and the phases that keep the text encoder and the DiT apart.

No GPU here: parameter bytes are measured on modules (meta device for the 6B shapes), activation peaks with
``LiveBytes`` (every CPU allocation inside a forward), and residency through the real engine on CPU, where
every placement is recorded at the phase boundaries.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from zimage_kit import LiveBytes, module_bytes, native_bf16

from zpipe.engine.base import EngineError, Request
from zpipe.engine.zimage import memory
from zpipe.engine.zimage.bench import presets, random_models
from zpipe.engine.zimage.dit import ZImageDiT
from zpipe.engine.zimage.engine import ZImageEngine
from zpipe.engine.zimage.text_encoder import Qwen3Encoder
from zpipe.engine.zimage.vae import AutoencoderKL


def numel(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("preset", ["tiny", "medium", "full"])
def test_parameter_counts_equal_the_modules(preset):
    dit_cfg, te_cfg, vae_cfg = presets()[preset]
    with torch.device("meta"):
        dit, te, vae = ZImageDiT(dit_cfg), Qwen3Encoder(te_cfg), AutoencoderKL(vae_cfg)
    assert sum(memory.dit_params(dit_cfg)) == numel(dit)
    assert memory.text_encoder_params(te_cfg) == numel(te)
    assert memory.vae_params(vae_cfg) == numel(vae)
    dit.fuse_projections()
    assert sum(memory.dit_params(dit_cfg)) == numel(dit)  # fusing moves weights, adds none


def test_released_model_sizes():
    w = memory.weight_bytes(*presets()["full"], dtype="bf16", vae_dtype="fp32")
    assert round(w["dit"] / memory.GiB, 2) == 11.46 and round(w["text_encoder"] / memory.GiB, 2) == 7.30
    fp8 = memory.weight_bytes(*presets()["full"], dtype="bf16", fp8=True)
    assert fp8["dit"] < 0.52 * w["dit"]


def test_fp8_bytes_equal_the_quantised_module():
    from zpipe.engine.zimage.fp8 import quantize_dit

    dit_cfg = presets()["medium"][0]
    dit = random_models("medium", "cpu", torch.bfloat16)[0]
    dit.fuse_projections()
    quantize_dit(dit)
    assert module_bytes(dit) == memory.weight_bytes(dit_cfg, *presets()["medium"][1:], dtype="bf16", fp8=True)["dit"]


# The planner's activation terms against the measured peak of live CPU allocations: within 10%.
TOLERANCE = 0.10


@pytest.fixture(scope="module")
def medium():
    dit, te, _ = random_models("medium", "cpu", torch.float32)
    dit.fuse_projections()
    return dit, te


@pytest.mark.parametrize("dtype, size, batch", [("fp32", 256, 1), ("bf16", 256, 2)])
def test_dit_activations_match_the_plan(medium, dtype, size, batch):
    tdtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
    dit = copy.deepcopy(medium[0]).to(tdtype)
    lat = size // 8
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 16, lat, lat, generator=g).to(tdtype)
    caps = [torch.randn(100, dit.cfg.cap_feat_dim, generator=g).to(tdtype) for _ in range(batch)]
    with torch.no_grad():
        cond = dit.prepare(caps, (lat // 2, lat // 2))
        with LiveBytes() as live:
            dit(x, torch.full((batch,), 0.3), cond)
    planned = memory.dit_activation_bytes(dit.cfg, size, size, batch, 100, dtype)
    assert abs(live.peak / planned - 1) <= TOLERANCE, (live.peak, planned)


@pytest.mark.parametrize("tokens, batch", [(200, 2)])
def test_text_encoder_activations_match_the_plan(medium, tokens, batch):
    te = medium[1]
    with torch.no_grad(), LiveBytes() as live:
        te.encode([list(range(tokens))] * batch)
    planned = memory.text_encoder_activation_bytes(te.cfg, tokens, batch, "fp32")
    assert abs(live.peak / planned - 1) <= TOLERANCE, (live.peak, planned)


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_vae_decode_activations_match_the_plan_at_released_width(dtype):
    tdtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
    cfg = presets()["full"][2]
    with torch.device("meta"):
        vae = AutoencoderKL(cfg)
    vae = vae.to(tdtype).to_empty(device="cpu").eval()  # values do not change sizes
    side = 16 if dtype == "fp32" or native_bf16() else 4  # emulated bf16 convs are slow; the plan is exact at any size
    z = torch.zeros(1, 16, side, side, dtype=tdtype)
    with torch.no_grad(), LiveBytes() as live:
        vae.decode(z)
    planned = memory.vae_decode_bytes(cfg, 8 * side, 8 * side, 1, dtype)
    assert abs(live.peak / planned - 1) <= TOLERANCE, (live.peak, planned)


def test_phased_plans_fit_a_16_gb_card_and_fp8_a_12_gb_one():
    plans = {p.mode: p for p in memory.plan_all(*presets()["full"], vae_dtype="bf16")}
    assert plans["resident"].peak > 20 * memory.GiB
    assert plans["phased"].peak + memory.DEVICE_MARGIN <= 15e9
    assert plans["fp8"].peak + memory.DEVICE_MARGIN <= 10e9
    assert memory.pick_mode(list(plans.values()), 24 * memory.GiB) == "resident"
    assert memory.pick_mode(list(plans.values()), 16 * memory.GiB) == "phased"
    with pytest.raises(ValueError, match="set engine.memory: fp8"):
        memory.pick_mode(list(plans.values()), 12 * memory.GiB)
    with pytest.raises(ValueError, match="memory resident needs .* set engine.memory: phased"):
        memory.pick_mode(list(plans.values()), 16 * memory.GiB, "resident")
    with pytest.raises(ValueError, match="no memory mode fits"):
        memory.pick_mode(list(plans.values()), 4 * memory.GiB)


# ---- phases through the real engine ----


def test_text_encoder_and_dit_are_never_on_the_device_together(diffusers_ckpt):
    eng = ZImageEngine.from_options({"model": str(diffusers_ckpt), "device": "cpu", "dtype": "fp32",
                                     "memory": "phased"})
    pipe = eng.pipeline
    res = pipe.residency
    seen = []
    pipe.text_encoder.register_forward_pre_hook(lambda m, a: seen.append(("text_encoder", frozenset(res.resident))))
    pipe.dit.register_forward_pre_hook(lambda m, a: seen.append(("dit", frozenset(res.resident))))
    eng.generate([Request("stone", 32, 32, 1), Request("moss", 48, 32, 2)])
    eng.generate([Request("stone", 32, 32, 3)])  # cached prompt: the text encoder is not placed again
    eng.generate([Request("a new prompt", 32, 32, 4)])
    assert {name for name, _ in seen} == {"text_encoder", "dit"}
    for name, resident in seen:
        assert name in resident and not {"text_encoder", "dit"} <= resident, (name, resident)
    assert all(not {"text_encoder", "dit"} <= r for _, _, r in res.log)
    placed = [name for event, name, _ in res.log if event == "place"]
    assert placed == ["vae", "text_encoder", "dit", "text_encoder", "dit"]  # one swap per call with new prompts
    # The planner's phased weights bound what was on the device at every boundary.
    plan = memory.plan_memory(pipe.dit.cfg, pipe.text_encoder.cfg, pipe.vae.cfg, "phased", dtype="fp32")
    modules = res.modules
    for _, _, resident in res.log:
        on_device = sum(module_bytes(modules[n]) for n in resident)
        assert on_device <= max(plan.weights["text_encoder"], plan.weights["dit"]) + plan.weights["vae"]


def test_phased_and_resident_make_the_same_images(diffusers_ckpt):
    reqs = [Request("stone", 32, 32, 1), Request("weathered planks", 32, 32, 2)]
    options = {"model": str(diffusers_ckpt), "device": "cpu", "dtype": "fp32"}
    resident = ZImageEngine.from_options({**options, "memory": "resident"})
    phased = ZImageEngine.from_options({**options, "memory": "phased"})
    assert resident.pipeline.residency.resident == {"text_encoder", "dit", "vae"}
    for a, b in zip(resident.generate(reqs), phased.generate(reqs)):
        assert np.array_equal(a.image, b.image)
    assert resident.fingerprint() == phased.fingerprint()


def test_a_mode_that_does_not_fit_fails_before_loading_and_names_one_that_does(diffusers_ckpt, monkeypatch):
    from zpipe.engine.zimage import weights
    from zpipe.engine.zimage.discovery import spec_at

    monkeypatch.setattr(weights, "load_dit", lambda *a, **k: pytest.fail("loaded before checking memory"))
    configs = spec_at(diffusers_ckpt).networks.configs
    plans = {p.mode: p for p in memory.plan_all(*configs, batch=4, dtype="fp32", vae_dtype="fp32", unified=True)}
    monkeypatch.setattr(memory, "host_memory_bytes", lambda: int(plans["fp8"].peak + memory.DEVICE_MARGIN + 1))
    with pytest.raises(EngineError, match=r"engine.memory: memory resident needs .* set engine.memory: fp8"):
        ZImageEngine.from_options({"model": str(diffusers_ckpt), "device": "cpu", "dtype": "fp32"})
    with pytest.raises(EngineError, match="engine.memory 'huge': choose auto, resident, phased, fp8"):
        ZImageEngine.from_options({"model": str(diffusers_ckpt), "device": "cpu", "memory": "huge"})


def test_cpu_defaults_to_bf16_where_fp32_would_not_fit(diffusers_ckpt, monkeypatch):
    from zpipe.engine.zimage.discovery import spec_at
    from zpipe.engine.zimage.engine import pick_dtype
    configs = spec_at(diffusers_ckpt).networks.configs
    assert pick_dtype(None, "cpu", configs=configs) == torch.float32
    fp32 = memory.plan_memory(*configs, "resident", dtype="fp32", unified=True)
    monkeypatch.setattr(memory, "host_memory_bytes", lambda: int(fp32.peak))  # short of peak + margin
    assert pick_dtype(None, "cpu", configs=configs) == torch.bfloat16
    assert pick_dtype("fp32", "cpu", configs=configs) == torch.float32  # asked for: kept (and checked)
    assert ZImageEngine.fingerprint_for({"model": str(diffusers_ckpt), "device": "cpu"}).endswith(":bfloat16")


CHUNK_RECIPE = """\
name: chunked
engine: {name: z-image-turbo, model: '%s', device: cpu, dtype: fp32, memory: phased, batch_size: 2}
size: 64
seed: 5
prompt: "stone {n}"
id: "s{n}"
matrix:
  n: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
output:
  formats: [png]
"""


def _run_local(diffusers_ckpt, tmp_path, stage_threads: int):
    from zpipe.executors.local import LocalExecutor
    from zpipe.plan import make_plan
    from zpipe.recipe import load_recipe
    from zpipe.store import RecipeStore

    tmp_path.mkdir()
    path = tmp_path / "chunked.yaml"
    path.write_text(CHUNK_RECIPE % diffusers_ckpt)
    recipe = load_recipe(path)
    plan = make_plan(recipe, RecipeStore(tmp_path / "out", recipe.name))
    executor = LocalExecutor("z-image-turbo", recipe.engine_options, stage_threads=stage_threads)
    pipe = executor.engine.pipeline
    phases: list[str] = []  # which network ran, in order, collapsed to one entry per phase
    for name in ("text_encoder", "dit"):
        getattr(pipe, name).register_forward_pre_hook(
            lambda m, a, name=name: None if phases[-1:] == [name] else phases.append(name))
    files = {pj.job.id: o.files for pj, o in executor.execute(plan.jobs)}
    placed = [name for event, name, _ in pipe.residency.log if event == "place"]
    assert all(not {"text_encoder", "dit"} <= r for _, _, r in pipe.residency.log)
    return files, phases, placed


@pytest.mark.parametrize("stage_threads", [0, 2])
def test_one_text_encoder_phase_per_chunk_of_jobs(diffusers_ckpt, tmp_path, monkeypatch, stage_threads):
    """Ten jobs in batches of two, chunks of six jobs: the encoder is on the device twice (once per chunk),
    not five times (once per batch), and every file is the same bytes as with one phase per batch."""
    from zpipe.executors import local

    monkeypatch.setattr(local, "CHUNK", 6)
    files, phases, placed = _run_local(diffusers_ckpt, tmp_path / "chunked", stage_threads)
    assert phases == ["text_encoder", "dit", "text_encoder", "dit"]
    assert placed == ["vae", "text_encoder", "dit", "text_encoder", "dit"]
    assert len(files) == 10 and all(f["albedo.png"] for f in files.values())

    monkeypatch.setattr(local.LocalExecutor, "_prepare", lambda self, chunk: None)  # one phase per batch
    per_batch, phases, placed = _run_local(diffusers_ckpt, tmp_path / "per_batch", stage_threads)
    assert phases == ["text_encoder", "dit"] * 5 and placed == ["vae", *["text_encoder", "dit"] * 5]
    assert per_batch == files
