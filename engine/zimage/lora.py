"""Merging LoRA files into the DiT weights: W <- W + scale * (alpha / rank) * B @ A.

Accepted namings (see ``docs/z-image.md``, "LoRA namings"), all resolved against the model's own Linear
layers rather than by string surgery:

* diffusers/PEFT: ``transformer.layers.0.attention.to_q.lora_A.weight`` / ``lora_B`` (alpha from the
  ``lora_adapter_metadata`` JSON when present);
* ComfyUI / musubi / ai-toolkit: the same names under ``diffusion_model.`` or bare, optional ``.alpha``;
* kohya: ``lora_unet_layers_0_attention_to_q.lora_down.weight`` / ``lora_up`` / ``.alpha``;
* ComfyUI native names: ``attention.qkv`` (fused q|k|v, split by rows), ``attention.out``, ``x_embedder``,
  ``final_layer.*``.

Alpha absent means alpha = rank. A key that matches no layer is an error: silently skipping it would
make a LoRA look applied when it is not.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from zpipe.engine.base import EngineError

_SUFFIXES = {
    ".lora_A.weight": "A", ".lora_B.weight": "B", ".lora_A.default.weight": "A", ".lora_B.default.weight": "B",
    ".lora_down.weight": "A", ".lora_up.weight": "B", ".lora.down.weight": "A", ".lora.up.weight": "B",
    ".alpha": "alpha",
}
_PREFIXES = ("base_model.model.", "transformer.", "model.diffusion_model.", "diffusion_model.", "lora_unet_",
             "lycoris_")


def _targets(model: nn.Module) -> dict[str, list[str]]:
    """Every accepted spelling of a layer -> the Linear module name(s) it updates (3 for a fused qkv)."""
    table: dict[str, list[str]] = {}
    linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]

    def add(alias: str, names: list[str]) -> None:
        table[alias] = names
        table[alias.replace(".", "_")] = names  # kohya: dots become underscores

    for n in linears:
        add(n, [n])
        native = (n.replace("all_x_embedder.2-1", "x_embedder").replace("all_final_layer.2-1", "final_layer")
                  .replace(".attention.to_out.0", ".attention.out"))
        if native != n:
            add(native, [n])
        if n.endswith(".attention.to_q"):
            base = n[: -len(".to_q")]
            add(f"{base}.qkv", [f"{base}.to_q", f"{base}.to_k", f"{base}.to_v"])
    return table


def _split_key(key: str) -> tuple[str, str] | None:
    for suffix, kind in _SUFFIXES.items():
        if key.endswith(suffix):
            layer = key[: -len(suffix)]
            for prefix in _PREFIXES:
                if layer.startswith(prefix):
                    layer = layer[len(prefix) :]
                    break
            return layer, kind
    return None


def read_lora(path: str | Path) -> tuple[dict[str, torch.Tensor], float | None]:
    """Tensors of a LoRA safetensors file and the PEFT alpha from its metadata (None when absent)."""
    from safetensors import safe_open

    from zpipe.engine.zimage.files import read_header

    path = Path(path)
    read_header(path)  # refuses pickles, reports truncation
    with safe_open(str(path), framework="pt", device="cpu") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        meta = f.metadata() or {}
    alpha = None
    if "lora_adapter_metadata" in meta:
        try:
            cfg = json.loads(meta["lora_adapter_metadata"])
            alpha = float(cfg["lora_alpha"]) if cfg.get("lora_alpha") is not None else None
        except (json.JSONDecodeError, TypeError, ValueError, KeyError):
            raise EngineError(f"{path}: unreadable lora_adapter_metadata") from None
    return tensors, alpha


@torch.no_grad()
def merge_lora(model: nn.Module, path: str | Path, scale: float) -> int:
    """Merge one LoRA file into ``model`` in place; returns the number of layers changed."""
    path = Path(path)
    tensors, meta_alpha = read_lora(path)
    table = _targets(model)
    modules = dict(model.named_modules())
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    unmatched = []
    for key, t in tensors.items():
        split = _split_key(key)
        if split is None or split[0] not in table:
            unmatched.append(key)
            continue
        pairs.setdefault(split[0], {})[split[1]] = t
    if unmatched:
        raise EngineError(
            f"{path}: {len(unmatched)} LoRA key(s) match no layer of the Z-Image transformer, e.g. "
            f"{unmatched[0]!r}; this LoRA is for another model (or for the text encoder, which is not supported)"
        )
    for layer, parts in pairs.items():
        if "A" not in parts or "B" not in parts:
            raise EngineError(f"{path}: layer {layer!r} has {'lora_A/down' if 'A' in parts else 'lora_B/up'} "
                              "but not its partner")
        a, b = parts["A"].float(), parts["B"].float()  # (r, in), (out, r)
        rank = a.shape[0]
        alpha = float(parts["alpha"]) if "alpha" in parts else (meta_alpha if meta_alpha is not None else rank)
        targets = [modules[n] for n in table[layer]]
        out_total = sum(m.weight.shape[0] for m in targets)
        if b.shape != (out_total, rank) or a.shape[1] != targets[0].weight.shape[1]:
            raise EngineError(
                f"{path}: layer {layer!r}: LoRA shapes A {list(a.shape)} / B {list(b.shape)} do not fit the "
                f"weight {[out_total, targets[0].weight.shape[1]]}; this LoRA is for another model size"
            )
        delta = (scale * alpha / rank) * (b @ a)  # (out_total, in)
        for m, d in zip(targets, delta.split([m.weight.shape[0] for m in targets]), strict=True):
            m.weight.copy_((m.weight.float() + d.to(m.weight.device)).to(m.weight.dtype))
    return len(pairs)


def merge_loras(model: nn.Module, loras: Sequence[tuple[str | Path, float]]) -> None:
    for path, scale in loras:
        merge_lora(model, path, scale)
