"""Frozen hyper-parameters of the three networks, with the released Z-Image-Turbo values as defaults.

``from_dict`` reads the ``config.json`` files of a diffusers-format folder (diffusers key names for the DiT
and the VAE, transformers key names for Qwen3). Unknown keys are ignored; they are bookkeeping
(``_class_name``, ``_diffusers_version``, ``torch_dtype``, ...) that changes no shape. :func:`read_networks`
gives a checkpoint's three configs (from those files, or from tensor shapes), without torch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from zpipe.engine.base import EngineError


def _pick(cls, raw: Mapping[str, Any], aliases: Mapping[str, str] | None = None) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        key = (aliases or {}).get(key, key)
        if key in names:
            out[key] = tuple(value) if isinstance(value, list) else value
    return out


@dataclass(frozen=True)
class DiTConfig:
    """The S3-DiT (``transformer/config.json``). Constants that are not in the config are fields too."""

    in_channels: int = 16
    dim: int = 3840
    n_layers: int = 30
    n_refiner_layers: int = 2
    n_heads: int = 30
    n_kv_heads: int = 30
    norm_eps: float = 1e-5
    cap_feat_dim: int = 2560
    rope_theta: float = 256.0
    t_scale: float = 1000.0
    axes_dims: tuple[int, ...] = (32, 48, 48)
    axes_lens: tuple[int, ...] = (1536, 512, 512)
    all_patch_size: tuple[int, ...] = (2,)
    all_f_patch_size: tuple[int, ...] = (1,)
    adaln_dim: int = 256  # ADALN_EMBED_DIM, min(dim, 256) in the reference
    t_mid_dim: int = 1024  # hidden size of the timestep MLP
    seq_multiple: int = 32  # SEQ_MULTI_OF: captions and image tokens are padded to this
    qk_norm_eps: float = 1e-5  # the reference hard-codes 1e-5 for q/k norms

    def __post_init__(self) -> None:
        if self.dim % self.n_heads:
            raise EngineError(f"DiT config: dim {self.dim} is not divisible by n_heads {self.n_heads}")
        if sum(self.axes_dims) != self.head_dim or any(d % 2 for d in self.axes_dims):
            raise EngineError(
                f"DiT config: axes_dims {list(self.axes_dims)} must be even and sum to head_dim {self.head_dim}"
            )
        if tuple(self.all_patch_size) != (2,) or tuple(self.all_f_patch_size) != (1,):
            raise EngineError("DiT config: only all_patch_size [2] and all_f_patch_size [1] are supported")
        if self.n_kv_heads != self.n_heads:
            # diffusers ignores n_kv_heads; the released model has 30 = 30.
            raise EngineError(f"DiT config: n_kv_heads {self.n_kv_heads} must equal n_heads {self.n_heads}")

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    @property
    def patch(self) -> int:
        return self.all_patch_size[0]

    @property
    def patch_dim(self) -> int:
        return self.patch * self.patch * self.in_channels

    @property
    def ffn_dim(self) -> int:
        return int(self.dim / 3 * 8)

    @property
    def t_out_dim(self) -> int:
        return min(self.dim, self.adaln_dim)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> DiTConfig:
        if raw.get("qk_norm", True) is not True:  # the attention always normalises q and k, as released
            raise EngineError("DiT config: only qk_norm true is supported")
        return cls(**_pick(cls, raw))


@dataclass(frozen=True)
class Qwen3Config:
    """Qwen3-4B (``text_encoder/config.json``), transformers key names."""

    vocab_size: int = 151936
    hidden_size: int = 2560
    intermediate_size: int = 9728
    num_hidden_layers: int = 36
    num_attention_heads: int = 32
    num_key_value_heads: int = 8
    head_dim: int = 128
    rms_norm_eps: float = 1e-6
    rope_theta: float = 1_000_000.0

    def __post_init__(self) -> None:
        if self.num_attention_heads % self.num_key_value_heads:
            raise EngineError(
                f"Qwen3 config: num_attention_heads {self.num_attention_heads} is not a multiple of "
                f"num_key_value_heads {self.num_key_value_heads}"
            )

    @property
    def used_layers(self) -> int:
        """Layers that feed ``hidden_states[-2]``: all but the last (the final norm is unused too)."""
        return self.num_hidden_layers - 1

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Qwen3Config:
        raw = dict(raw)
        # transformers 5 moves rope_theta into rope_parameters
        rope = raw.get("rope_parameters") or raw.get("rope_scaling") or {}
        if "rope_theta" not in raw and isinstance(rope, Mapping) and "rope_theta" in rope:
            raw["rope_theta"] = rope["rope_theta"]
        if raw.get("head_dim") is None and "hidden_size" in raw and "num_attention_heads" in raw:
            raw["head_dim"] = raw["hidden_size"] // raw["num_attention_heads"]
        return cls(**_pick(cls, raw))


@dataclass(frozen=True)
class VAEConfig:
    """FLUX.1 AutoencoderKL (``vae/config.json``), diffusers key names."""

    in_channels: int = 3
    out_channels: int = 3
    latent_channels: int = 16
    block_out_channels: tuple[int, ...] = (128, 256, 512, 512)
    layers_per_block: int = 2
    norm_num_groups: int = 32
    scaling_factor: float = 0.3611
    shift_factor: float = 0.1159
    mid_block_add_attention: bool = True
    use_quant_conv: bool = False
    use_post_quant_conv: bool = False

    def __post_init__(self) -> None:
        if self.use_quant_conv or self.use_post_quant_conv:
            raise EngineError("VAE config: quant convs are not supported (the FLUX VAE has none)")

    @property
    def downscale(self) -> int:
        return 2 ** (len(self.block_out_channels) - 1)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> VAEConfig:
        return cls(**_pick(cls, raw))


@dataclass(frozen=True)
class SchedulerConfig:
    """``scheduler/scheduler_config.json``: static-shift flow matching."""

    num_train_timesteps: int = 1000
    shift: float = 3.0
    use_dynamic_shifting: bool = False

    def __post_init__(self) -> None:
        if self.use_dynamic_shifting:
            raise EngineError("scheduler config: use_dynamic_shifting true is not supported by Z-Image-Turbo")

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> SchedulerConfig:
        return cls(**_pick(cls, raw))


@dataclass(frozen=True)
class Networks:
    """The configs of one checkpoint's three networks, and the key naming its weights use."""

    dit: DiTConfig
    text_encoder: Qwen3Config
    vae: VAEConfig
    comfy_dit: bool  # ComfyUI's DiT key names: loaded through keymaps.dit_from_comfy
    ldm_vae: bool  # BFL/LDM VAE key names: loaded through keymaps.vae_from_ldm

    @property
    def configs(self) -> tuple[DiTConfig, Qwen3Config, VAEConfig]:
        """(DiT, text encoder, VAE), as the memory planner takes them."""
        return self.dit, self.text_encoder, self.vae


def read_networks(spec) -> Networks:
    """The configs of the checkpoint ``spec`` (a :class:`~zpipe.engine.zimage.discovery.ModelSpec`): from
    its config.json files, or inferred from its tensor shapes (ComfyUI files carry none). Reads safetensors
    headers only; imports no torch. Use ``spec.networks``, which reads them once."""
    from zpipe.engine.zimage import keymaps
    from zpipe.engine.zimage.files import header_shapes

    comfy_dit = spec.layout == "comfyui"
    dit = DiTConfig.from_dict(keymaps.dit_config_from_shapes(header_shapes(spec.dit)) if comfy_dit
                              else spec.configs["dit"])
    text_encoder = Qwen3Config.from_dict(spec.configs.get("text_encoder")
                                         or keymaps.qwen3_config_from_shapes(header_shapes(spec.text_encoder)))
    shapes = header_shapes(spec.vae)
    ldm_vae = keymaps.is_ldm_vae(list(shapes))
    if not ldm_vae and "vae" not in spec.configs:
        raise EngineError(f"{spec.vae[0]}: a VAE in diffusers naming needs its config.json next to it")
    vae = VAEConfig.from_dict(spec.configs.get("vae") or keymaps.vae_config_from_shapes(shapes))
    return Networks(dit, text_encoder, vae, comfy_dit, ldm_vae)
