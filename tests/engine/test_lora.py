"""LoRA merging: W' = W + s * (alpha / rank) * B @ A for every accepted naming; unknown keys are errors."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from zpipe.engine.base import EngineError
from zpipe.engine.zimage.configs import DiTConfig
from zpipe.engine.zimage.dit import ZImageDiT
from zpipe.engine.zimage.lora import merge_lora

D, R = 32, 4


@pytest.fixture
def model():
    torch.manual_seed(0)
    return ZImageDiT(DiTConfig(dim=D, n_layers=2, n_refiner_layers=1, n_heads=2, n_kv_heads=2, cap_feat_dim=16,
                               axes_dims=(8, 4, 4)))


def ab(out: int, inp: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(R, inp, generator=g), torch.randn(out, R, generator=g)


def snapshot(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_peft_naming_with_metadata_alpha(model, tmp_path):
    a, b = ab(D, D, 1)
    f = tmp_path / "peft.safetensors"
    save_file({"transformer.layers.0.attention.to_q.lora_A.weight": a,
               "transformer.layers.0.attention.to_q.lora_B.weight": b},
              str(f), metadata={"lora_adapter_metadata": json.dumps({"r": R, "lora_alpha": 8})})
    before = snapshot(model)
    assert merge_lora(model, f, 0.5) == 1
    after = model.state_dict()
    delta = after["layers.0.attention.to_q.weight"] - before["layers.0.attention.to_q.weight"]
    assert torch.allclose(delta, 0.5 * (8 / R) * b @ a, atol=1e-5)
    changed = [k for k in after if not torch.equal(after[k], before[k])]
    assert changed == ["layers.0.attention.to_q.weight"]


def test_kohya_naming_with_alpha_tensor(model, tmp_path):
    a, b = ab(D, int(D / 3 * 8), 3)
    f = tmp_path / "kohya.safetensors"
    save_file({"lora_unet_layers_1_feed_forward_w2.lora_down.weight": a,
               "lora_unet_layers_1_feed_forward_w2.lora_up.weight": b[:D],
               "lora_unet_layers_1_feed_forward_w2.alpha": torch.tensor(2.0)}, str(f))
    before = model.layers[1].feed_forward.w2.weight.clone()
    merge_lora(model, f, 1.5)
    delta = model.layers[1].feed_forward.w2.weight - before
    assert torch.allclose(delta, 1.5 * (2.0 / R) * b[:D] @ a, atol=1e-5)


def test_comfy_fused_qkv_and_native_names(model, tmp_path):
    a, b = ab(3 * D, D, 4)
    a2, b2 = ab(64, D, 5)  # final linear: D -> 2*2*16
    f = tmp_path / "comfy.safetensors"
    save_file({"diffusion_model.noise_refiner.0.attention.qkv.lora_A.weight": a,
               "diffusion_model.noise_refiner.0.attention.qkv.lora_B.weight": b,
               "diffusion_model.final_layer.linear.lora_A.weight": a2,
               "diffusion_model.final_layer.linear.lora_B.weight": b2}, str(f))
    att = model.noise_refiner[0].attention
    before = [m.weight.clone() for m in (att.to_q, att.to_k, att.to_v)]
    fin = model.all_final_layer["2-1"].linear.weight.clone()
    merge_lora(model, f, 1.0)
    full = b @ a  # (3D, D): rows q | k | v
    for m, w0, part in zip((att.to_q, att.to_k, att.to_v), before, full.chunk(3)):
        assert torch.allclose(m.weight - w0, part, atol=1e-5)
    assert torch.allclose(model.all_final_layer["2-1"].linear.weight - fin, b2 @ a2, atol=1e-5)


def test_unmatched_keys_are_an_error(model, tmp_path):
    a, b = ab(D, D, 6)
    f = tmp_path / "other.safetensors"
    save_file({"lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": a,
               "lora_te_text_model_encoder_layers_0_mlp_fc1.lora_up.weight": b}, str(f))
    with pytest.raises(EngineError) as e:
        merge_lora(model, f, 1.0)
    assert str(e.value) == (
        f"{f}: 2 LoRA key(s) match no layer of the Z-Image transformer, e.g. "
        "'lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight'; this LoRA is for another model "
        "(or for the text encoder, which is not supported)")


def test_wrong_rank_shapes_are_an_error(model, tmp_path):
    f = tmp_path / "bad.safetensors"
    save_file({"layers.0.attention.to_k.lora_A.weight": torch.zeros(R, D + 1),
               "layers.0.attention.to_k.lora_B.weight": torch.zeros(D, R)}, str(f))
    with pytest.raises(EngineError, match=r"do not fit the weight \[32, 32\]"):
        merge_lora(model, f, 1.0)


def test_pickle_lora_is_refused(model, tmp_path):
    f = tmp_path / "x.pt"
    f.write_bytes(b"\x80\x04")
    with pytest.raises(EngineError, match="refusing to load a pickle checkpoint"):
        merge_lora(model, f, 1.0)
