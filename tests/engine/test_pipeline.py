"""Text-to-image parity with diffusers' own ZImagePipeline (fp32), batching, img2img and inpainting.

The reference is ``diffusers.ZImagePipeline`` built from the same tiny components (its transformer, VAE,
scheduler, a transformers Qwen3Model and the HF tokenizer loaded from the same tokenizer.json), run in
fp32 with one CPU generator per image. Its only dtype assertion is that latents stay fp32, which holds.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from zimage_kit import levels

from zpipe.engine.base import Capability, EngineError, Request
from zpipe.engine.zimage.engine import ZImageEngine
from zpipe.engine.zimage.pipeline import BatchItem

diffusers = pytest.importorskip("diffusers")
transformers = pytest.importorskip("transformers")

PROMPTS = ["a mossy stone wall", "weathered wooden planks, top-down view, tileable, high detail, 4k", "fox"]


def reference_pipe(diffusers_ckpt, tiny_models):
    sched = diffusers.FlowMatchEulerDiscreteScheduler.from_pretrained(diffusers_ckpt / "scheduler")
    tok = transformers.AutoTokenizer.from_pretrained(str(diffusers_ckpt / "tokenizer"))
    return diffusers.ZImagePipeline(scheduler=sched, vae=tiny_models.vae, text_encoder=tiny_models.te,
                                    tokenizer=tok, transformer=tiny_models.dit)


@pytest.mark.parametrize("size", [(64, 64), (48, 80)])
def test_text_to_image_matches_diffusers_pipeline(engine, diffusers_ckpt, tiny_models, size):
    h, w = size
    seeds = [7, 8, 9]
    ref = reference_pipe(diffusers_ckpt, tiny_models)
    want = ref(prompt=list(PROMPTS), height=h, width=w, num_inference_steps=8, guidance_scale=0.0,
               generator=[torch.Generator("cpu").manual_seed(s) for s in seeds], output_type="np").images
    floats = engine.pipeline([BatchItem(p, s) for p, s in zip(PROMPTS, seeds)], h, w)  # before quantising
    assert np.abs(floats.permute(0, 2, 3, 1).numpy() - want).max() <= 1e-3
    got = engine.generate([Request(p, w, h, s) for p, s in zip(PROMPTS, seeds)])
    assert len(got) == 3
    for g, wnt in zip(got, want):
        assert g.image.shape == (h, w, 3) and g.image.dtype == np.uint8
        assert levels(g.image, wnt) <= 1
    assert levels(got[0].image, got[1].image) > 2  # the prompts matter


def test_batching_invariance(engine):
    reqs = [Request(p, 64, 48, s) for p, s in zip(PROMPTS, [1, 2, 3])]
    together = engine.generate(reqs)
    items = [BatchItem(r.prompt, r.seed) for r in reqs]
    floats = engine.pipeline(items, 48, 64)
    for i, (r, t) in enumerate(zip(reqs, together)):
        alone = engine.generate([r])[0]
        assert levels(alone.image, t.image) <= 1  # a float difference of 1e-6 may round the other way
        assert (engine.pipeline(items[i : i + 1], 48, 64)[0] - floats[i]).abs().max() <= 1e-5


def test_mixed_shapes_are_grouped_and_returned_in_order(engine):
    reqs = [Request("a", 64, 64, 1), Request("b", 48, 32, 2), Request("c", 64, 64, 3)]
    out = engine.generate(reqs)
    assert [o.image.shape for o in out] == [(64, 64, 3), (32, 48, 3), (64, 64, 3)]
    assert [o.info["batch"] for o in out] == [2, 1, 2]


def test_img2img_at_strength_zero_returns_the_input_latents(engine):
    pipe = engine.pipeline
    img = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0))
    got = pipe.latents([BatchItem("x", 5, init=img)], 32, 32, strength=0.0)
    want = pipe.encode_images(img[None], [torch.Generator("cpu").manual_seed(5)], "none")
    assert torch.equal(got, want)


def test_img2img_matches_diffusers(engine, diffusers_ckpt, tiny_models):
    ref_parts = reference_pipe(diffusers_ckpt, tiny_models)
    ref = diffusers.ZImageImg2ImgPipeline(**ref_parts.components)
    img = np.random.default_rng(0).random((32, 48, 3), dtype=np.float32)
    want = ref(prompt=["a wall"], image=torch.from_numpy(img).permute(2, 0, 1)[None], strength=0.6, height=32,
               width=48, num_inference_steps=8, guidance_scale=0.0,
               generator=[torch.Generator("cpu").manual_seed(4)], output_type="np").images[0]
    got = engine.generate([Request("a wall", 48, 32, 4, init_image=img, strength=0.6)])[0].image
    assert levels(got, want) <= 1


def test_inpainting_keeps_the_unmasked_region(engine):
    pipe = engine.pipeline
    img = torch.rand(3, 32, 64, generator=torch.Generator().manual_seed(1))
    mask = torch.zeros(32, 64)
    mask[:, 32:] = 1.0  # repaint the right half
    got = pipe.latents([BatchItem("x", 3, init=img, mask=mask)], 32, 64, strength=1.0)
    x0 = pipe.encode_images(img[None], [torch.Generator("cpu").manual_seed(3)], "none")
    left, right = got[..., :4], got[..., 4:]
    assert torch.equal(left, x0[..., :4])
    assert (right - x0[..., 4:]).abs().max() > 1e-2


def test_capabilities_and_request_checks(engine):
    assert engine.capabilities == frozenset(Capability)
    with pytest.raises(EngineError, match=r"init_image has shape \(16, 16, 3\), expected \(32, 32, 3\)"):
        engine.generate([Request("x", 32, 32, 0, init_image=np.zeros((16, 16, 3), np.float32))])
    with pytest.raises(EngineError, match="a mask needs an init_image"):
        engine.generate([Request("x", 32, 32, 0, mask=np.zeros((32, 32), np.float32))])


def test_inpainting_matches_diffusers(engine, diffusers_ckpt, tiny_models):
    ref = diffusers.ZImageInpaintPipeline(**reference_pipe(diffusers_ckpt, tiny_models).components)
    rng = np.random.default_rng(1)
    img = rng.random((32, 64, 3), dtype=np.float32)
    mask = np.zeros((32, 64), np.float32)
    mask[8:24, 16:48] = 1.0
    want = ref(prompt=["a wall"], image=torch.from_numpy(img).permute(2, 0, 1)[None],
               mask_image=torch.from_numpy(mask)[None, None], strength=0.75, height=32, width=64,
               num_inference_steps=8, guidance_scale=0.0, generator=[torch.Generator("cpu").manual_seed(2)],
               output_type="np").images[0]
    got = engine.generate([Request("a wall", 64, 32, 2, init_image=img, mask=mask, strength=0.75)])[0].image
    assert levels(got, want) <= 1


def test_large_images_decode_in_tiles(engine):
    pipe = engine.pipeline
    z = torch.randn(1, 16, 12, 20, generator=torch.Generator().manual_seed(0))
    full = pipe.decode(z)
    pipe.vae_tile = 8
    try:
        tiled = pipe.decode(z)
    finally:
        pipe.vae_tile = 128
    assert tiled.shape == full.shape == (1, 3, 96, 160)
    assert not torch.equal(tiled, full) and (tiled - full).abs().mean() < 0.1  # tiny tiles, random VAE


def test_comfy_layout_makes_the_same_images_and_loras_apply(engine, comfy_ckpt, tmp_path):
    from safetensors.torch import save_file

    req = [Request("a mossy stone wall", 32, 32, 11)]
    comfy = ZImageEngine.from_options({"model": str(comfy_ckpt), "device": "cpu", "dtype": "fp32"})
    assert levels(comfy.generate(req)[0].image, engine.generate(req)[0].image) <= 1
    g = torch.Generator().manual_seed(0)
    lora = tmp_path / "style.safetensors"
    save_file({"diffusion_model.layers.0.attention.qkv.lora_A.weight": torch.randn(4, 64, generator=g),
               "diffusion_model.layers.0.attention.qkv.lora_B.weight": torch.randn(192, 4, generator=g)}, str(lora))
    styled = ZImageEngine.from_options({"model": str(comfy_ckpt), "device": "cpu", "dtype": "fp32",
                                        "loras": [{"path": str(lora), "scale": 0.8}]})
    assert levels(styled.generate(req)[0].image, engine.generate(req)[0].image) > 2
    assert styled.fingerprint() != comfy.fingerprint()


def test_prompts_are_encoded_once_per_call(engine, monkeypatch):
    pipe = engine.pipeline
    pipe._cache.clear()
    calls = []
    real = pipe.text_encoder.encode
    monkeypatch.setattr(pipe.text_encoder, "encode", lambda toks: calls.append(len(toks)) or real(toks))
    engine.generate([Request("a", 32, 32, 1), Request("b", 48, 32, 2), Request("a", 32, 48, 3)])
    assert calls == [2]  # one text-encoder pass for both prompts, across three shape groups


def test_text_encoder_micro_batches_give_the_same_features(engine):
    pipe = engine.pipeline
    prompts = ["a", "b c d e f g", "moss on a wall", "x" * 40]
    pipe._cache.clear()
    pipe.text_batch = 1
    try:
        one = pipe.encode_prompts(prompts)
    finally:
        pipe.text_batch = 16
    pipe._cache.clear()
    many = pipe.encode_prompts(prompts)
    for a, b in zip(one, many):
        assert a.shape == b.shape and torch.allclose(a, b, atol=1e-5)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("ZPIPE_TEST_COMPILE"), reason="torch.compile takes ~40 s on CPU; set ZPIPE_TEST_COMPILE=1")
def test_compiled_engine_matches_eager(engine, diffusers_ckpt):
    compiled = ZImageEngine.from_options({"model": str(diffusers_ckpt), "device": "cpu", "dtype": "fp32",
                                          "compile": True})
    assert compiled.pipeline.dit.rope_mode == "real"
    reqs = [Request("a mossy stone wall", 32, 32, 1), Request("fox", 32, 32, 2)]
    for a, b in zip(compiled.generate(reqs), engine.generate(reqs)):
        assert levels(a.image, b.image) <= 1


def test_batches_are_grouped_by_padded_caption_length_so_attention_needs_no_mask(engine, monkeypatch):
    dit = engine.pipeline.dit
    real = dit.prepare
    conds = []
    monkeypatch.setattr(dit, "prepare", lambda *a, **k: conds.append(real(*a, **k)) or conds[-1])
    long = "weathered wooden planks, top-down view, tileable, high detail, 4k, " * 3
    reqs = [Request("fox", 32, 32, 1), Request(long, 32, 32, 2), Request("moss", 32, 32, 3)]
    out = engine.generate(reqs)
    assert [o.info["batch"] for o in out] == [2, 1, 2]  # the long prompt pads to more tokens: its own batch
    assert len(conds) == 2 and all(c.uni_mask is None for c in conds)
    alone = engine.generate([reqs[1]])[0]
    assert levels(alone.image, out[1].image) <= 1
