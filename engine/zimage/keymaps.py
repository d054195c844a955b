"""Checkpoint key conversions onto our (diffusers) parameter names, and configs inferred from shapes.

Each ``*_from_*`` function maps one source key (and tensor, for keys that split) to zero or more target
entries; it never touches a file. The loader applies them while streaming tensors.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # tensors pass through; the memory planner and discovery import this without torch
    import torch

# ComfyUI (native Z-Image / Lumina2 naming) -> diffusers
_COMFY_DIT_RENAMES = (
    ("x_embedder.", "all_x_embedder.2-1."),
    ("final_layer.", "all_final_layer.2-1."),
    (".attention.out.", ".attention.to_out.0."),
    (".attention.q_norm.", ".attention.norm_q."),
    (".attention.k_norm.", ".attention.norm_k."),
)
COMFY_DIT_PREFIXES = ("model.diffusion_model.", "diffusion_model.")


def dit_from_comfy(key: str, tensor: torch.Tensor) -> Iterator[tuple[str, torch.Tensor]]:
    for prefix in COMFY_DIT_PREFIXES:
        if key.startswith(prefix):
            key = key[len(prefix) :]
            break
    if key == "norm_final.weight":  # Lumina-2 leftover, unused by Z-Image
        return
    if key.endswith(".attention.qkv.weight"):  # fused (3D, D) -> three (D, D), rows q | k | v
        base = key[: -len("qkv.weight")]
        for name, part in zip(("to_q", "to_k", "to_v"), tensor.chunk(3, dim=0), strict=True):
            yield f"{base}{name}.weight", part
        return
    for old, new in _COMFY_DIT_RENAMES:
        if key.startswith(old) or (old.startswith(".") and old in key):
            key = key.replace(old, new, 1)
    yield key, tensor


def text_encoder_key(key: str, last_layer: int) -> str | None:
    """HF Qwen3 names (with or without ``model.``) -> ours; None for weights Z-Image never reads."""
    if key.startswith("model."):
        key = key[len("model.") :]
    if key in ("lm_head.weight", "norm.weight") or key.startswith(f"layers.{last_layer}."):
        return None
    return key


_LDM_VAE = [
    (r"^(encoder|decoder)\.norm_out\.", r"\1.conv_norm_out."),
    (r"^encoder\.down\.(\d+)\.block\.(\d+)\.", r"encoder.down_blocks.\1.resnets.\2."),
    (r"^encoder\.down\.(\d+)\.downsample\.conv\.", r"encoder.down_blocks.\1.downsamplers.0.conv."),
    (r"^(encoder|decoder)\.mid\.block_1\.", r"\1.mid_block.resnets.0."),
    (r"^(encoder|decoder)\.mid\.block_2\.", r"\1.mid_block.resnets.1."),
    (r"^(encoder|decoder)\.mid\.attn_1\.norm\.", r"\1.mid_block.attentions.0.group_norm."),
    (r"^(encoder|decoder)\.mid\.attn_1\.(q|k|v)\.", r"\1.mid_block.attentions.0.to_\2."),
    (r"^(encoder|decoder)\.mid\.attn_1\.proj_out\.", r"\1.mid_block.attentions.0.to_out.0."),
    (r"\.nin_shortcut\.", r".conv_shortcut."),
]


def vae_from_ldm(key: str, tensor: torch.Tensor, n_levels: int) -> Iterator[tuple[str, torch.Tensor]]:
    """BFL/LDM ``ae.safetensors`` names -> diffusers. The decoder's level index is reversed."""
    for prefix in ("first_stage_model.", "vae."):
        if key.startswith(prefix):
            key = key[len(prefix) :]
    m = re.match(r"^decoder\.up\.(\d+)\.(block|upsample)\.(.*)$", key)
    if m:
        level = n_levels - 1 - int(m.group(1))
        rest = m.group(3).replace("nin_shortcut.", "conv_shortcut.")
        if m.group(2) == "block":
            key = f"decoder.up_blocks.{level}.resnets.{rest}"
        else:
            key = f"decoder.up_blocks.{level}.upsamplers.0.{rest}"
    else:
        for pattern, repl in _LDM_VAE:
            key = re.sub(pattern, repl, key)
    if ".mid_block.attentions.0." in key and key.endswith(".weight") and tensor.ndim == 4:
        tensor = tensor[:, :, 0, 0]  # 1x1 conv kernels -> linear weights
    yield key, tensor


def is_ldm_vae(keys: list[str]) -> bool:
    return any(k.startswith(("encoder.down.", "decoder.up.", "first_stage_model.", "vae.encoder.")) for k in keys)


# ---- configs inferred from shapes (ComfyUI files carry no config.json) ----


def dit_config_from_shapes(shapes: Mapping[str, tuple[int, ...]]) -> dict:
    """Shapes of a ComfyUI DiT file -> a diffusers-style transformer config dict."""
    s = {k.removeprefix("model.diffusion_model.").removeprefix("diffusion_model."): v for k, v in shapes.items()}
    dim, cap = s["cap_embedder.1.weight"]
    head_dim = s["layers.0.attention.q_norm.weight"][0]

    def count(prefix: str) -> int:
        idx = {int(k.split(".")[1]) for k in s if k.startswith(prefix + ".")}
        return max(idx) + 1 if idx else 0

    # The released model splits head_dim 128 as 32/48/48; keep that 1/4, 3/8, 3/8 split for others.
    a0 = head_dim // 4
    a1 = (head_dim - a0) // 2
    return dict(dim=dim, cap_feat_dim=cap, n_heads=dim // head_dim, n_kv_heads=dim // head_dim,
                n_layers=count("layers"), n_refiner_layers=count("noise_refiner"),
                in_channels=s["x_embedder.weight"][1] // 4, axes_dims=[a0, a1, head_dim - a0 - a1])


def qwen3_config_from_shapes(shapes: Mapping[str, tuple[int, ...]]) -> dict:
    s = {k.removeprefix("model."): v for k, v in shapes.items()}
    vocab, hidden = s["embed_tokens.weight"]
    head_dim = s["layers.0.self_attn.q_norm.weight"][0]
    layers = 1 + max(int(k.split(".")[1]) for k in s if k.startswith("layers."))
    return dict(vocab_size=vocab, hidden_size=hidden, head_dim=head_dim, num_hidden_layers=layers,
                num_attention_heads=s["layers.0.self_attn.q_proj.weight"][0] // head_dim,
                num_key_value_heads=s["layers.0.self_attn.k_proj.weight"][0] // head_dim,
                intermediate_size=s["layers.0.mlp.gate_proj.weight"][0])


def vae_config_from_shapes(shapes: Mapping[str, tuple[int, ...]]) -> dict:
    s = {k.removeprefix("first_stage_model.").removeprefix("vae."): v for k, v in shapes.items()}
    levels = 1 + max(int(k.split(".")[2]) for k in s if k.startswith("encoder.down."))
    per_block = 1 + max(int(k.split(".")[4]) for k in s if k.startswith("encoder.down.0.block."))
    chans = [s[f"encoder.down.{i}.block.0.conv1.weight"][0] for i in range(levels)]
    return dict(block_out_channels=chans, layers_per_block=per_block,
                latent_channels=s["decoder.conv_in.weight"][1], in_channels=s["encoder.conv_in.weight"][1],
                out_channels=s["decoder.conv_out.weight"][0],
                mid_block_add_attention=any(".mid.attn_1." in k for k in s))
