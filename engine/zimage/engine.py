"""``engine: z-image-turbo``: the zpipe engine contract over :class:`ZImagePipeline`.

Importing this module is cheap (no torch): the registry calls :meth:`ZImageEngine.available` to decide
whether ``engine: auto`` can use Z-Image, and that only reads file headers.

Its recipe options (the ``engine`` mapping without ``name``) are declared once, in :data:`OPTIONS`.
"""

from __future__ import annotations

import logging

import numpy as np

from zpipe.engine.base import Capability, EngineError, Generated, Request
from zpipe.params import Param

log = logging.getLogger(__name__)

# The recipe's `engine` options this engine reads (recipe validation checks them against these).
OPTIONS: dict[str, Param] = {
    "model": Param(str, None, "Z-Image: checkpoint folder (diffusers layout or ComfyUI models/ folder); else "
                   "$ZPIPE_MODEL, else the Hugging Face cache. Never downloaded implicitly."),
    "dtype": Param(str, None, "Z-Image: bf16, fp16 or fp32 (default bf16 on GPU, fp32 on CPU).",
                   choices=("bf16", "fp16", "fp32")),
    "vae_dtype": Param(str, "fp32", "Z-Image: the VAE's dtype.", choices=("bf16", "fp16", "fp32")),
    "device": Param(str, None, "Z-Image: cuda, cuda:N, mps or cpu (default: the first available)."),
    "loras": Param(list, None, "Z-Image: [{path, scale}] LoRA files merged into the DiT."),
    "compile": Param(object, False, "Z-Image: torch.compile the transformer blocks (opt-in); a mode name "
                     "such as reduce-overhead (CUDA graphs) picks that mode.",
                     choices=(False, True, "default", "reduce-overhead", "max-autotune")),
    "offload_text_encoder": Param(bool, False, "Z-Image: keep the text encoder on the CPU between batches."),
    "vae_batch": Param(int, 1, "Z-Image: images per VAE decode call.", min=1, max=64),
    "vae_tile": Param(int, 128, "Z-Image: decode latents larger than this (latent px per side) in tiles.",
                      min=16, max=1024),
    "max_batch": Param(int, 4, "Z-Image: images per DiT forward.", min=1, max=64),
    "seam_jitter": Param(bool, False, "Z-Image: roll the latent between steps when tiling."),
}
DTYPES = {"bf16": "bfloat16", "bfloat16": "bfloat16", "fp16": "float16", "float16": "float16",
          "fp32": "float32", "float32": "float32"}


def _fingerprint(spec, loras: list[tuple[str, float]], device: str, dtype) -> str:
    """Weights + LoRAs, plus what else changes the bytes: the device type and the compute dtype
    (cuda:0 and cuda:1 give the same bytes; cpu/fp32 and cuda/bf16 do not)."""
    from pathlib import Path

    from zpipe.engine.zimage.discovery import fingerprint

    weights = fingerprint(spec, [(Path(p), s) for p, s in loras])
    return f"{weights}:{device.split(':')[0]}:{str(dtype).removeprefix('torch.')}"


def _lora_list(options: dict) -> list[tuple[str, float]]:
    out = []
    for i, item in enumerate(options.get("loras") or []):
        if isinstance(item, str):
            out.append((item, 1.0))
        elif isinstance(item, dict) and "path" in item:
            out.append((str(item["path"]), float(item.get("scale", 1.0))))
        else:
            raise EngineError(f"engine.loras[{i}]: expected {{path: FILE, scale: NUMBER}}, got {item!r}")
    return out


def _require_extra() -> None:
    """The engine needs the `zimage` extra (torch, safetensors, tokenizers): say so in one line."""
    from zpipe.engine.extras import MissingExtra, require

    try:
        require("zimage", "the z-image-turbo engine")
    except MissingExtra as exc:
        raise EngineError(str(exc)) from None


def pick_device(name: str | None) -> str:
    import torch

    if name:
        if name.startswith("cuda") and not torch.cuda.is_available():
            raise EngineError(f"engine.device {name!r}: CUDA is not available on this machine")
        if name == "mps" and not torch.backends.mps.is_available():
            raise EngineError("engine.device 'mps': MPS is not available on this machine")
        if not (name == "cpu" or name == "mps" or name.startswith("cuda")):
            raise EngineError(f"engine.device {name!r}: choose cuda, mps or cpu")
        return name
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def pick_dtype(name: str | None, device: str, key: str = "dtype"):
    import torch

    if name is None:
        return torch.float32 if device == "cpu" else torch.bfloat16
    if str(name) not in DTYPES:
        raise EngineError(f"engine.{key} {name!r}: choose bf16, fp16 or fp32")
    return getattr(torch, DTYPES[str(name)])


class ZImageEngine:
    name = "z-image-turbo"
    version = "1.0"
    capabilities = frozenset({Capability.TEXT2IMG, Capability.IMG2IMG, Capability.INPAINT, Capability.TILE})
    options = OPTIONS

    def __init__(self, spec, pipeline, loras: list[tuple[str, float]], max_batch: int = 4) -> None:
        self.spec = spec
        self.pipeline = pipeline
        self.loras = loras
        self.max_batch = max(1, max_batch)
        self._fingerprint = ""  # set by from_options, which knows the device and dtype

    @classmethod
    def available(cls, options: dict) -> str | None:
        """None when weights are configured and their files look loadable, else a short reason."""
        from zpipe.engine.zimage.discovery import find_model

        try:
            find_model(dict(options or {}))  # no weights: installing the extra would not help, say that first
            _require_extra()
        except EngineError as exc:
            return str(exc)
        return None

    @classmethod
    def from_options(cls, options: dict) -> ZImageEngine:
        _require_extra()
        from zpipe.engine.zimage import weights
        from zpipe.engine.zimage.discovery import find_model
        from zpipe.engine.zimage.lora import merge_loras
        from zpipe.engine.zimage.pipeline import ZImagePipeline
        from zpipe.engine.zimage.tokenizer import PromptTokenizer

        options = dict(options or {})
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            log.warning("engine z-image-turbo: ignoring unknown option(s) %s (known: %s)", ", ".join(unknown),
                        ", ".join(sorted(OPTIONS)))
        options = {k: options.get(k, decl.default) for k, decl in OPTIONS.items()}
        spec = find_model(options)
        device = pick_device(options.get("device"))
        dtype = pick_dtype(options.get("dtype"), device)
        vae_dtype = pick_dtype(options["vae_dtype"], device, "vae_dtype")
        loras = _lora_list(options)
        offload = bool(options["offload_text_encoder"])

        dit = weights.load_dit(spec, dtype, device)
        if loras:
            merge_loras(dit, loras)
        dit.fuse_projections()  # after the LoRA merge: fewer, larger GEMMs
        if device == "mps":
            dit.complex_rope = False  # complex kernels are incomplete on MPS; the real form is exact too
        te = weights.load_text_encoder(spec, dtype, "cpu" if offload else device)
        vae = weights.load_vae(spec, vae_dtype, device)
        compile_opt = options.get("compile")
        if compile_opt:
            # true: Inductor's default mode; a mode name ("reduce-overhead" adds CUDA graphs,
            # "max-autotune") selects that mode.
            dit.compile_blocks(**({"mode": compile_opt} if isinstance(compile_opt, str) else {}))
        shift = float(spec.configs.get("scheduler", {}).get("shift", 3.0))
        if spec.configs.get("scheduler", {}).get("use_dynamic_shifting"):
            raise EngineError(f"{spec.root}/scheduler/scheduler_config.json: dynamic shifting is not supported")
        pipe = ZImagePipeline(
            dit, te, PromptTokenizer(spec.tokenizer), vae, device, shift=shift, offload_text_encoder=offload,
            vae_batch=int(options["vae_batch"]), vae_tile=int(options["vae_tile"]),
            seam_jitter=bool(options["seam_jitter"]),
        )
        engine = cls(spec, pipe, loras, int(options["max_batch"]))
        engine._fingerprint = _fingerprint(spec, loras, device, dtype)
        return engine

    @classmethod
    def fingerprint_for(cls, options: dict) -> str:
        """The weights' fingerprint from file headers, without loading them: planning stays cheap."""
        from zpipe.engine.zimage.discovery import find_model

        _require_extra()
        options = dict(options or {})
        spec, loras = find_model(options), _lora_list(options)
        device = pick_device(options.get("device"))
        return _fingerprint(spec, loras, device, pick_dtype(options.get("dtype"), device))

    def fingerprint(self) -> str:
        return self._fingerprint

    def generate(self, requests: list[Request]) -> list[Generated]:
        import torch

        from zpipe.engine.zimage.pipeline import BatchItem

        out: list[Generated | None] = [None] * len(requests)
        groups: dict[tuple, list[int]] = {}
        for i, r in enumerate(requests):
            self._check(r)
            strength = r.strength if r.init_image is not None else 1.0
            groups.setdefault((*r.shape_key, strength), []).append(i)
        # Phase 1 for the whole call: every prompt is encoded once, so an offloaded text encoder visits the
        # device once per call rather than once per shape group (the pipeline then hits its prompt cache).
        unique = list(dict.fromkeys(r.prompt for r in requests))
        if len(unique) <= self.pipeline._cache_size:
            self.pipeline.encode_prompts(unique)
        for key, idxs in groups.items():
            for start in range(0, len(idxs), self.max_batch):
                part = idxs[start : start + self.max_batch]
                first = requests[part[0]]
                jobs = [
                    BatchItem(
                        prompt=requests[i].prompt,
                        seed=requests[i].seed,
                        init=None if requests[i].init_image is None
                        else torch.from_numpy(np.ascontiguousarray(requests[i].init_image, np.float32)).permute(2, 0, 1),
                        mask=None if requests[i].mask is None
                        else torch.from_numpy(np.ascontiguousarray(requests[i].mask, np.float32)),
                    )
                    for i in part
                ]
                images = self.pipeline(jobs, first.height, first.width, first.steps, first.tile, key[-1])
                timings = dict(self.pipeline.timings.seconds)
                for i, img in zip(part, images, strict=True):
                    out[i] = Generated(
                        image=img.permute(1, 2, 0).numpy().astype(np.float32),
                        info={"engine": self.name, "engine_version": self.version, "seed": requests[i].seed,
                              "steps": first.steps, "tile": first.tile, "batch": len(part), "seconds": timings},
                    )
        return out  # type: ignore[return-value]

    @staticmethod
    def _check(r: Request) -> None:
        if r.init_image is not None and tuple(np.shape(r.init_image)) != (r.height, r.width, 3):
            raise EngineError(f"init_image has shape {tuple(np.shape(r.init_image))}, expected "
                              f"({r.height}, {r.width}, 3) for a {r.width}x{r.height} request")
        if r.mask is not None:
            if r.init_image is None:
                raise EngineError("a mask needs an init_image (inpainting repaints part of an image)")
            if tuple(np.shape(r.mask)) != (r.height, r.width):
                raise EngineError(f"mask has shape {tuple(np.shape(r.mask))}, expected ({r.height}, {r.width})")
        if not 0.0 <= r.strength <= 1.0:
            raise EngineError(f"strength must be in [0, 1], got {r.strength}")
