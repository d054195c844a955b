"""Weights of the wrong shape or of another model are messages, not tracebacks: `zpipe models` reports them,
`engine: auto` falls back with a warning, and an explicit z-image-turbo engine stops before building."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from click.testing import CliRunner

from zpipe.cli import main


def safetensors(path: Path, header) -> None:
    """A safetensors file with this header (tensors of 4 bytes each when the header is well formed)."""
    raw = json.dumps(header).encode()
    size = 4 * sum(1 for k in header if k != "__metadata__") if isinstance(header, dict) else 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * size)


def tensors(*names: str) -> dict:
    return {n: {"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]} for i, n in enumerate(names)}


ZIMAGE = {
    "diffusion_models/z_image_turbo.safetensors": tensors("cap_embedder.1.weight", "layers.0.attention.qkv.weight",
                                                          "x_embedder.weight"),
    "text_encoders/qwen_3_4b.safetensors": tensors("model.embed_tokens.weight", "model.layers.0.self_attn.q_norm.weight"),
    "vae/ae.safetensors": tensors("encoder.conv_in.weight", "decoder.conv_in.weight"),
}


def comfy_folder(root: Path, **replace) -> Path:
    for rel, header in {**ZIMAGE, **replace}.items():
        safetensors(root / rel, header)
    (root / "tokenizer.json").write_text("{}")
    return root


def models(path: Path):
    return CliRunner().invoke(main, ["models", "--model", str(path)])


def test_a_well_formed_folder_of_another_model_is_not_a_z_image_model(tmp_path):
    foreign = comfy_folder(tmp_path / "sd", **{"diffusion_models/z_image_turbo.safetensors": tensors(
        "model.diffusion_model.input_blocks.0.0.weight", "model.diffusion_model.out.2.weight")})
    r = models(foreign)
    assert r.exit_code == 2 and "not a Z-Image model: the transformer has no 'cap_embedder.1.weight'" in r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)
    # The right names with shapes no Z-Image network has: its configuration cannot be read.
    r = models(comfy_folder(tmp_path / "zi"))
    assert r.exit_code == 2 and "not a Z-Image model: its configuration cannot be read from the weights" in r.output


def test_a_real_z_image_folder_passes(tmp_path):
    pytest.importorskip("diffusers")
    from zimage_kit import save_comfy_layout, tiny_reference_models

    save_comfy_layout(tmp_path / "zi", *tiny_reference_models())
    r = models(tmp_path / "zi")
    assert r.exit_code == 0 and "ok (comfyui" in r.output, r.output


def test_auto_falls_back_and_an_explicit_engine_stops_before_building(write_recipe, tmp_path):
    foreign = comfy_folder(tmp_path / "sd", **{"vae/ae.safetensors": tensors("first_stage_model.quant_conv.weight")})
    recipe = write_recipe(f"name: r\nsize: 64\nprompt: stone\nengine: {{name: auto, model: {foreign}}}\n"
                          "assets: [{id: a}]\n")
    r = CliRunner().invoke(main, ["run", str(recipe), "--out", str(tmp_path / "out"), "--json"])
    assert r.exit_code == 0, r.output
    warning = next(json.loads(x) for x in r.output.splitlines() if '"warning"' in x)
    assert "engine auto: using procedural" in warning["message"] and "not a Z-Image model" in warning["message"]
    r = CliRunner().invoke(main, ["run", str(recipe), "--out", str(tmp_path / "out2"), "--engine", "z-image-turbo"])
    assert r.exit_code == 2 and "not a Z-Image model: the VAE has no 'encoder.conv_in.weight'" in r.output
    assert not (tmp_path / "out2" / "r" / "v0001").exists()


@pytest.mark.parametrize("header, problem", [
    ([1, 2], "the header is not a JSON object"),
    ({"w": {"dtype": "F32", "shape": [1]}}, "tensor 'w' has no valid data_offsets"),
    ({"w": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}}, "tensor 'w' has no valid data_offsets"),
    ({"w": {"dtype": "F32", "shape": "1", "data_offsets": [0, 4]}}, "tensor 'w' has no valid shape and dtype"),
    ({"w": [0, 4]}, "tensor 'w' has no valid data_offsets"),
    ({"__metadata__": [1]}, "__metadata__ is not an object"),
])
def test_a_safetensors_header_of_the_wrong_shape_is_a_message(tmp_path, header, problem):
    folder = comfy_folder(tmp_path / "m", **{"vae/ae.safetensors": header})
    r = models(folder)
    assert r.exit_code == 1 and f"not a safetensors file ({problem})" in r.output, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)


@pytest.mark.parametrize("index, problem", [
    ({"weight_map": ["a.safetensors"]}, "weight_map is not an object of shard file names"),
    ({"weight_map": {"w": "../../etc/passwd"}}, "weight_map is not an object of shard file names"),
    ([1], "unreadable index"),
])
def test_a_diffusers_index_of_the_wrong_shape_is_a_message(tmp_path, index, problem):
    root = tmp_path / "d"
    for sub in ("transformer", "text_encoder", "vae"):
        (root / sub).mkdir(parents=True)
        (root / sub / "config.json").write_text("{}")
    (root / "tokenizer").mkdir()
    (root / "tokenizer" / "tokenizer.json").write_text("{}")
    (root / "transformer" / "diffusion_pytorch_model.safetensors.index.json").write_text(json.dumps(index))
    r = models(root)
    assert r.exit_code == 1 and problem in r.output, r.output
    (root / "transformer" / "config.json").write_text("[]")
    assert "not a config" in models(root).output
