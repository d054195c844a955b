"""Helpers for the Z-Image tests: error metrics, random init, tiny checkpoints in the real on-disk formats."""

from __future__ import annotations

import torch

from zpipe.engine.zimage.bench import write_tokenizer


def native_bf16() -> bool:
    """Whether this CPU runs bf16 convolutions natively (oneDNN's bf16 kernels: AVX512-BF16 or AMX).
    Without them a bf16 conv is emulated, about 20-30x slower than fp32 (an AMD EPYC with AVX2 only took
    20 min for a 192x192 bf16 decode at the released VAE width), so the bf16 VAE tests shrink their
    images there: the widths, the code path and the bounds stay the same."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def module_bytes(module) -> int:
    """Bytes of a module's parameters and buffers (what the memory planner counts as its weights)."""
    return sum(t.numel() * t.element_size() for t in [*module.parameters(), *module.buffers()])


def levels(a, b) -> int:
    """Largest difference of two images in 8-bit levels; float images are rounded as the exporters round.
    The engine hands out uint8, so a float difference below 1/255 shows as 0 or 1 level."""
    import numpy as np

    from zpipe.texture.formats import to_uint

    def as_levels(img):
        img = np.asarray(img)
        return (img if img.dtype == np.uint8 else to_uint(img, 8)).astype(np.int16)

    return int(np.abs(as_levels(a) - as_levels(b)).max())


def within_one_bf16_ulp(got: torch.Tensor, ref: torch.Tensor, once: torch.Tensor) -> None:
    """The fused-RoPE bound: every element of ``got`` (bf16) within one bf16 ulp of the fp32 ``ref``, and at
    least 99.9% equal to ``once``, ``ref`` rounded once to bf16."""
    assert got.dtype == torch.bfloat16
    ulp = torch.exp2(torch.floor(torch.log2(ref.abs().clamp_min(2.0**-126))) - 7)  # bf16: 8 significant bits
    err = (got.float() - ref).abs()
    assert bool((err <= ulp).all()), float((err / ulp).max())
    assert float((got == once).float().mean()) >= 0.999


def rel_err(got: torch.Tensor, want: torch.Tensor) -> float:
    """max |got - want| / max |want|: a relative error that is not fooled by near-zero entries."""
    return float((got.double() - want.double()).abs().max() / want.double().abs().max().clamp_min(1e-12))


@torch.no_grad()
def randomize(module: torch.nn.Module, seed: int) -> None:
    """Give every parameter a random value, including norm weights and pad tokens that default to 1 or 0."""
    g = torch.Generator().manual_seed(seed)
    for name, p in module.named_parameters():
        if p.ndim == 1 and ("norm" in name or name.endswith("cap_embedder.0.weight")):
            p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
        elif "pad_token" in name:
            p.copy_(torch.randn(p.shape, generator=g))
        else:
            fan_in = p.shape[1] if p.ndim > 1 else p.shape[0]
            p.copy_(torch.randn(p.shape, generator=g) / fan_in**0.5)


# ---- tiny checkpoints ----

TINY_DIT = dict(all_patch_size=(2,), all_f_patch_size=(1,), in_channels=16, dim=64, n_layers=2,
                n_refiner_layers=2, n_heads=2, n_kv_heads=2, norm_eps=1e-5, qk_norm=True, cap_feat_dim=32,
                rope_theta=256.0, t_scale=1000.0, axes_dims=[8, 12, 12], axes_lens=[1536, 512, 512])
TINY_TE = dict(hidden_size=32, intermediate_size=48, num_hidden_layers=3, num_attention_heads=4,
               num_key_value_heads=2, head_dim=8, vocab_size=512, rms_norm_eps=1e-6, rope_theta=1e6,
               tie_word_embeddings=True, max_position_embeddings=1024)
TINY_VAE = dict(in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 4,
                up_block_types=["UpDecoderBlock2D"] * 4, block_out_channels=[32, 32, 32, 32], layers_per_block=1,
                latent_channels=16, norm_num_groups=32, sample_size=64, scaling_factor=0.3611,
                shift_factor=0.1159, use_quant_conv=False, use_post_quant_conv=False)


def tiny_reference_models(seed: int = 0):
    """Random diffusers/transformers models of the three components (every parameter randomised)."""
    import diffusers
    import transformers

    torch.manual_seed(seed)
    dit = diffusers.ZImageTransformer2DModel(**TINY_DIT).eval()
    randomize(dit, seed)
    lm = transformers.Qwen3ForCausalLM(transformers.Qwen3Config(**TINY_TE)).eval()
    randomize(lm, seed + 1)
    vae = diffusers.AutoencoderKL(**TINY_VAE).eval()
    randomize(vae, seed + 2)
    with torch.no_grad():  # keep the tiny VAE's latents in a sane range
        vae.encoder.conv_out.weight.mul_(0.2)
    return dit, lm, vae


def save_diffusers_layout(root, dit, lm, vae) -> None:
    """The layout of Tongyi-MAI/Z-Image-Turbo: sharded transformer and text encoder with index files."""
    import json
    from pathlib import Path

    import diffusers

    root = Path(root)
    dit.save_pretrained(root / "transformer", max_shard_size="600KB", safe_serialization=True)
    lm.save_pretrained(root / "text_encoder", max_shard_size="60KB", safe_serialization=True)
    vae.save_pretrained(root / "vae", safe_serialization=True)
    diffusers.FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0,
                                              use_dynamic_shifting=False).save_pretrained(root / "scheduler")
    write_tokenizer(root / "tokenizer")
    (root / "model_index.json").write_text(json.dumps({
        "_class_name": "ZImagePipeline", "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
        "text_encoder": ["transformers", "Qwen3Model"], "tokenizer": ["transformers", "Qwen2Tokenizer"],
        "transformer": ["diffusers", "ZImageTransformer2DModel"], "vae": ["diffusers", "AutoencoderKL"],
    }))


def dit_to_comfy(sd: dict) -> dict:
    """diffusers DiT names -> ComfyUI's native names (fused qkv), as Comfy-Org's split files use."""
    out = {}
    for k, v in sd.items():
        if ".attention.to_k." in k or ".attention.to_v." in k:
            continue
        if ".attention.to_q." in k:
            base = k.split(".attention.to_q.")[0]
            out[f"{base}.attention.qkv.weight"] = torch.cat(
                [sd[f"{base}.attention.to_{n}.weight"] for n in "qkv"])
            continue
        k2 = (k.replace("all_x_embedder.2-1.", "x_embedder.").replace("all_final_layer.2-1.", "final_layer.")
              .replace(".attention.to_out.0.", ".attention.out.").replace(".attention.norm_q.", ".attention.q_norm.")
              .replace(".attention.norm_k.", ".attention.k_norm."))
        out[k2] = v
    return out


def vae_to_ldm(sd: dict, n_levels: int) -> dict:
    """diffusers VAE names -> the BFL/LDM names of ``ae.safetensors``."""
    import re

    out = {}
    for k, v in sd.items():
        k2 = k.replace("conv_norm_out", "norm_out").replace("conv_shortcut", "nin_shortcut")
        k2 = re.sub(r"encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.", r"encoder.down.\1.block.\2.", k2)
        k2 = re.sub(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.", r"encoder.down.\1.downsample.", k2)
        m = re.match(r"decoder\.up_blocks\.(\d+)\.(resnets|upsamplers)\.(\d+)\.(.*)", k2)
        if m:
            level = n_levels - 1 - int(m.group(1))
            k2 = (f"decoder.up.{level}.block.{m.group(3)}.{m.group(4)}" if m.group(2) == "resnets"
                  else f"decoder.up.{level}.upsample.{m.group(4)}")
        k2 = k2.replace("mid_block.resnets.0.", "mid.block_1.").replace("mid_block.resnets.1.", "mid.block_2.")
        k2 = k2.replace("mid_block.attentions.0.group_norm.", "mid.attn_1.norm.")
        k2 = k2.replace("mid_block.attentions.0.to_out.0.", "mid.attn_1.proj_out.")
        k2 = re.sub(r"mid_block\.attentions\.0\.to_(q|k|v)\.", r"mid.attn_1.\1.", k2)
        if ".attn_1." in k2 and k2.endswith("weight") and v.ndim == 2:
            v = v[:, :, None, None]
        out[k2] = v
    return out


def save_comfy_layout(root, dit, lm, vae) -> None:
    from pathlib import Path

    from safetensors.torch import save_file

    root = Path(root)
    for sub in ("diffusion_models", "text_encoders", "vae"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    contig = lambda d: {k: v.contiguous() for k, v in d.items()}  # noqa: E731
    save_file(contig(dit_to_comfy(dit.state_dict())), str(root / "diffusion_models" / "z_image_turbo_bf16.safetensors"))
    te = {k: v for k, v in lm.state_dict().items() if k != "lm_head.weight"}
    save_file(contig(te), str(root / "text_encoders" / "qwen_3_4b.safetensors"))
    save_file(contig(vae_to_ldm(vae.state_dict(), len(vae.config.block_out_channels))),
              str(root / "vae" / "ae.safetensors"))
    write_tokenizer(root / "tokenizer")


class LiveBytes:
    """Peak bytes of tensors allocated inside the ``with`` block (CPU), counted per storage: a measured
    allocation peak to check the memory planner against where no device allocator reports one.

    Views of tensors made outside the block (weights, inputs) count nothing; a storage is freed when the
    last tensor made on it inside the block is garbage-collected.
    """

    def __init__(self) -> None:
        self.peak = 0
        self.live = 0
        self._refs: dict[int, int] = {}
        self._size: dict[int, int] = {}
        self._mode = None

    def __enter__(self):
        from torch.utils._python_dispatch import TorchDispatchMode

        tracker = self

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                tracker._record((args, kwargs), out)
                return out

        self._mode = Mode()
        self._mode.__enter__()
        return self

    def __exit__(self, *exc):
        self._mode.__exit__(*exc)

    def _record(self, inputs, out) -> None:
        import weakref

        from torch.utils._pytree import tree_flatten

        outside = {a.untyped_storage().data_ptr() for a in tree_flatten(inputs)[0] if isinstance(a, torch.Tensor)}
        for t in tree_flatten(out)[0]:
            if not isinstance(t, torch.Tensor):
                continue
            storage = t.untyped_storage()
            ptr = storage.data_ptr()
            if ptr == 0 or (ptr in outside and ptr not in self._refs):
                continue
            if ptr not in self._refs:
                self._refs[ptr], self._size[ptr] = 0, storage.nbytes()
                self.live += storage.nbytes()
                self.peak = max(self.peak, self.live)
            self._refs[ptr] += 1
            weakref.finalize(t, self._drop, ptr)

    def _drop(self, ptr: int) -> None:
        self._refs[ptr] -= 1
        if self._refs[ptr] == 0:
            del self._refs[ptr]
            self.live -= self._size.pop(ptr)
