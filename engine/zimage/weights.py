"""Reading safetensors strictly and loading them into modules built on the meta device.

Only safetensors load: pickle formats can run code when opened, so they are refused by name. Every
problem a user can cause (a truncated download, a file of another model, a config that does not match the
weights) raises :class:`EngineError` naming the file, the key and the expected shape.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import torch
from torch import nn

from zpipe.engine.base import EngineError
from zpipe.engine.zimage.files import read_header

Mapper = Callable[[str, torch.Tensor], Iterable[tuple[str, torch.Tensor]]]


def _iter_tensors(files: Iterable[Path], device: str) -> Iterator[tuple[Path, str, torch.Tensor]]:
    from safetensors import safe_open

    for f in files:
        read_header(f)  # clear errors for truncated or foreign files before safetensors sees them
        with safe_open(str(f), framework="pt", device=device) as sf:
            for key in sf.keys():
                yield f, key, sf.get_tensor(key)


def load_into(
    module: nn.Module,
    files: list[Path],
    *,
    what: str,
    mapper: Mapper | None = None,
    dtype: torch.dtype | None = None,
    device: str | torch.device = "cpu",
) -> nn.Module:
    """Stream ``files`` into ``module`` (built on the meta device) with ``assign=True``, strictly.

    Peak host memory is about one copy of the weights plus one tensor: each tensor is read, renamed,
    converted and kept; nothing is materialised twice. ``what`` names the component in errors.
    """
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    found: dict[str, torch.Tensor] = {}
    origin: dict[str, Path] = {}
    load_device = str(device) if str(device) in ("cpu",) or str(device).startswith("cuda") else "cpu"
    for path, key, tensor in _iter_tensors(files, load_device):
        pairs = mapper(key, tensor) if mapper else [(key, tensor)]
        for name, t in pairs:
            if name not in expected:
                raise EngineError(
                    f"{path}: unexpected key {name!r} (shape {list(t.shape)}); this is not a Z-Image {what} "
                    "checkpoint, or its config.json does not match the weights"
                )
            if tuple(t.shape) != expected[name]:
                raise EngineError(
                    f"{path}: key {name!r} has shape {list(t.shape)}, expected {list(expected[name])}; "
                    "the config.json does not match the weights"
                )
            if t.is_floating_point() and dtype is not None:
                t = t.to(dtype)
            found[name] = t.to(device)
            origin[name] = path
    missing = [k for k in expected if k not in found]
    if missing:
        where = files[0] if len(files) == 1 else files[0].parent
        raise EngineError(
            f"{where}: missing key {missing[0]!r} (expected shape {list(expected[missing[0]])})"
            + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
            + f"; the {what} checkpoint is incomplete, download it again"
        )
    module.load_state_dict(found, strict=True, assign=True)
    return module


def build_on_meta(factory: Callable[[], nn.Module]) -> nn.Module:
    """Construct a module without allocating its parameters (they arrive with ``load_into``)."""
    with torch.device("meta"):
        return factory()


# ---- the three components of a checkpoint (their configs: spec.networks, read once) ----


def load_dit(spec, dtype: torch.dtype, device="cpu"):
    from zpipe.engine.zimage import keymaps
    from zpipe.engine.zimage.dit import ZImageDiT

    net = spec.networks
    mapper = keymaps.dit_from_comfy if net.comfy_dit else None
    model = build_on_meta(lambda: ZImageDiT(net.dit))
    return load_into(model, list(spec.dit), what="transformer", mapper=mapper, dtype=dtype, device=device).eval()


def load_text_encoder(spec, dtype: torch.dtype, device="cpu"):
    from zpipe.engine.zimage import keymaps
    from zpipe.engine.zimage.text_encoder import Qwen3Encoder

    cfg = spec.networks.text_encoder
    last = cfg.num_hidden_layers - 1

    def mapper(key, tensor):
        name = keymaps.text_encoder_key(key, last)
        return [] if name is None else [(name, tensor)]

    model = build_on_meta(lambda: Qwen3Encoder(cfg))
    return load_into(model, list(spec.text_encoder), what="text encoder", mapper=mapper, dtype=dtype,
                     device=device).eval()


def load_vae(spec, dtype: torch.dtype, device="cpu"):
    from zpipe.engine.zimage import keymaps
    from zpipe.engine.zimage.vae import AutoencoderKL

    net = spec.networks
    n = len(net.vae.block_out_channels)

    def from_ldm(key, tensor):
        return keymaps.vae_from_ldm(key, tensor, n)

    mapper = from_ldm if net.ldm_vae else None
    model = build_on_meta(lambda: AutoencoderKL(net.vae))
    return load_into(model, list(spec.vae), what="VAE", mapper=mapper, dtype=dtype, device=device).eval()
