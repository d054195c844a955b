"""``engine: z-image-turbo``: the zpipe engine contract over :class:`ZImagePipeline`.

Importing this module is cheap (no torch): the registry calls :meth:`ZImageEngine.available` to decide
whether ``engine: auto`` can use Z-Image, and that only reads file headers.

Its recipe options (the ``engine`` mapping without ``name``) are declared once, in :data:`OPTIONS`.
"""

from __future__ import annotations

import logging

import numpy as np

from zpipe.engine.base import Capability, EngineError, Generated, Request
from zpipe.engine.zimage.attention import CHOICES as ATTENTION_CHOICES
from zpipe.params import Param

log = logging.getLogger(__name__)

# The recipe's `engine` options this engine reads (recipe validation checks them against these).
OPTIONS: dict[str, Param] = {
    "model": Param(str, None, "Z-Image: checkpoint folder (diffusers layout or ComfyUI models/ folder); else "
                   "$ZPIPE_MODEL, else the Hugging Face cache. Never downloaded implicitly."),
    "dtype": Param(str, None, "Z-Image: bf16, fp16 or fp32 (default bf16 on GPU; fp32 on CPU, or bf16 where "
                   "fp32 would not fit in RAM).",
                   choices=("bf16", "fp16", "fp32")),
    "vae_dtype": Param(str, "fp32", "Z-Image: the VAE's dtype.", choices=("bf16", "fp16", "fp32")),
    "device": Param(str, None, "Z-Image: cuda, cuda:N, mps or cpu (default: the first available)."),
    "loras": Param(list, None, "Z-Image: [{path, scale}] LoRA files merged into the DiT."),
    "compile": Param(object, False, "Z-Image: torch.compile the transformer blocks (opt-in); a mode name "
                     "such as reduce-overhead (CUDA graphs) picks that mode.",
                     choices=(False, True, "default", "reduce-overhead", "max-autotune")),
    "memory": Param(str, "auto", "Z-Image: resident, phased (text encoder and DiT take turns on the GPU: 16 GB "
                    "cards) or fp8 (phased with fp8 DiT weights); auto picks resident or phased by free memory.",
                    choices=("auto", "resident", "phased", "fp8")),
    "attention": Param(str, "auto", "Z-Image: the attention kernel tried first (auto: cuDNN on Hopper GPUs, flash on "
                       "other GPUs and the CPU); the others follow as fallbacks.",
                       choices=ATTENTION_CHOICES),
    "vae_batch": Param(int, 1, "Z-Image: images per VAE decode call.", min=1, max=64),
    "vae_tile": Param(int, 128, "Z-Image: decode latents larger than this (latent px per side) in tiles.",
                      min=16, max=1024),
    "max_batch": Param(int, 4, "Z-Image: images per DiT forward.", min=1, max=64),
    "seam_jitter": Param(bool, False, "Z-Image: roll the latent between steps when tiling."),
}
DTYPES = {"bf16": "bfloat16", "bfloat16": "bfloat16", "fp16": "float16", "float16": "float16",
          "fp32": "float32", "float32": "float32"}


def _fingerprint(spec, loras: list[tuple[str, float]], device: str, dtype, fp8: bool = False) -> str:
    """Weights + LoRAs, plus what else changes the bytes: the device type, the compute dtype and fp8
    weights (cuda:0 and cuda:1 give the same bytes; cpu/fp32 and cuda/bf16 do not; resident and phased
    give the same bytes)."""
    from pathlib import Path

    from zpipe.engine.zimage.discovery import fingerprint

    weights = fingerprint(spec, [(Path(p), s) for p, s in loras])
    return f"{weights}:{device.split(':')[0]}:{str(dtype).removeprefix('torch.')}" + (":fp8" if fp8 else "")


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


def pick_dtype(name: str | None, device: str, key: str = "dtype", configs=None):
    """The named dtype; unset: bf16 on a GPU, fp32 on CPU unless the networks (``configs``) would not fit in
    this machine's RAM in fp32 (the released model needs about 37 GiB), then bf16."""
    import torch

    if name is None:
        if device != "cpu":
            return torch.bfloat16
        if configs is not None and not _fp32_fits_in_ram(configs):
            return torch.bfloat16
        return torch.float32
    if str(name) not in DTYPES:
        raise EngineError(f"engine.{key} {name!r}: choose bf16, fp16 or fp32")
    return getattr(torch, DTYPES[str(name)])


def _fp32_fits_in_ram(configs) -> bool:
    from zpipe.engine.zimage.memory import host_memory_bytes, plan_memory

    total = host_memory_bytes()
    return total is None or plan_memory(*configs, "resident", dtype="fp32", unified=True).fits(total)


def _memory_mode(requested: str, device: str, configs, dtype, vae_dtype, batch: int) -> str:
    """The memory mode to load in, checked against free device memory (host RAM on CPU) before anything
    loads; EngineError naming a mode that fits when the requested one does not."""
    import torch

    from zpipe.engine.zimage import memory

    if requested not in ("auto", *memory.MODES):
        raise EngineError(f"engine.memory {requested!r}: choose auto, {', '.join(memory.MODES)}")
    names = {torch.bfloat16: "bf16", torch.float16: "fp16", torch.float32: "fp32"}
    kw = dict(batch=batch, dtype=names[dtype], vae_dtype=names[vae_dtype])
    if device.startswith("cuda"):
        free = torch.cuda.mem_get_info(torch.device(device))[0]
        plans = memory.plan_all(*configs, **kw)
    else:  # CPU and Apple silicon: the device's memory is the host's, phases free none of it
        free = memory.host_memory_bytes()
        plans = memory.plan_all(*configs, unified=True, **kw)
        if requested == "auto":
            requested = "resident"
        if free is None:
            return requested
    try:
        mode = memory.pick_mode(plans, free, requested)
    except ValueError as exc:
        raise EngineError(f"engine.memory: {exc} (planned for {kw['batch']} image(s) of 1024x1024, "
                          "see `zpipe bench --plan`)") from None
    log.info("z-image: memory mode %s, planned peak %s GiB of %s GiB free", mode,
             memory.gib(next(p.peak for p in plans if p.mode == mode)), memory.gib(free))
    return mode


def _load_dit(spec, loras, dtype, device: str, fp8: bool):
    """The DiT in host memory: loaded, LoRAs merged, projections fused, optionally quantised to fp8, all on
    the CPU one layer at a time (no device-side spike); the pipeline places it. An fp8 DiT is cached in a
    file written once; later loads read only that file."""
    from zpipe.engine.zimage import fp8 as fp8_mod
    from zpipe.engine.zimage import weights
    from zpipe.engine.zimage.lora import merge_loras

    method = fp8_mod.pick_method(device)
    if fp8:
        cached = fp8_mod.cache_path(_fingerprint(spec, loras, "any", dtype))
        if cached.is_file():
            return fp8_mod.load_cache(fp8_mod.meta_fp8_dit(spec.networks.dit), cached, dtype, method).eval()
    dit = weights.load_dit(spec, dtype, "cpu")
    if loras:
        merge_loras(dit, loras)
    dit.fuse_projections()  # after the LoRA merge: fewer, larger GEMMs
    if fp8:
        fp8_mod.quantize_dit(dit, method)
        try:
            fp8_mod.save_cache(dit, cached)
        except OSError as exc:  # a read-only or full cache folder costs time on the next load, nothing else
            log.warning("could not write the fp8 cache %s: %s", cached, exc)
    return dit


class ZImageEngine:
    name = "z-image-turbo"
    # 1.1: images leave the engine as uint8 (rounded as the exporters round 8-bit files), no longer float32.
    # Stages that compute from the image (tile, pbr, upscale) and 16-bit files see other values, so the keys
    # of z-image assets change and stores rebuild them rather than mix the two.
    #
    # Only this engine hands out uint8: Z-Image's pixels are a VAE's estimate, whose digits below 1/255 are
    # noise (the reference pipelines hand out 8-bit images), and its images are the ones large enough to
    # cost time in Ray's object store (12.6 MB each at 1024² in float32, 3.1 MB in uint8). The procedural
    # engine's values are exact functions of the seed whose fine gradients its height and normal maps use,
    # and it runs where the images are made.
    version = "1.1"
    capabilities = frozenset({Capability.TEXT2IMG, Capability.IMG2IMG, Capability.INPAINT, Capability.TILE,
                              Capability.TEXT})
    options = OPTIONS

    def __init__(self, spec, pipeline, loras: list[tuple[str, float]], max_batch: int = 4,
                 memory_mode: str = "resident") -> None:
        self.spec = spec
        self.pipeline = pipeline
        self.loras = loras
        self.max_batch = max(1, max_batch)
        self.memory_mode = memory_mode  # resident | phased | fp8, as checked against free memory at load
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
        configs = spec.networks.configs
        dtype = pick_dtype(options.get("dtype"), device, configs=configs)
        vae_dtype = pick_dtype(options["vae_dtype"], device, "vae_dtype")
        loras = _lora_list(options)
        max_batch = int(options["max_batch"])
        if options["attention"] not in ATTENTION_CHOICES:
            raise EngineError(f"engine.attention {options['attention']!r}: choose one of {', '.join(ATTENTION_CHOICES)}")
        mode = _memory_mode(str(options["memory"]), device, configs, dtype, vae_dtype, max_batch)

        dit = _load_dit(spec, loras, dtype, device, fp8=mode == "fp8")
        te = weights.load_text_encoder(spec, dtype, "cpu" if mode != "resident" else device)
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
            dit, te, PromptTokenizer(spec.tokenizer), vae, device, shift=shift, phased=mode != "resident",
            vae_batch=int(options["vae_batch"]), vae_tile=int(options["vae_tile"]),
            seam_jitter=bool(options["seam_jitter"]), attention=str(options["attention"]),
        )
        engine = cls(spec, pipe, loras, max_batch, mode)
        engine._fingerprint = _fingerprint(spec, loras, device, dtype, fp8=mode == "fp8")
        return engine

    @classmethod
    def fingerprint_for(cls, options: dict) -> str:
        """The weights' fingerprint from file headers, without loading them: planning stays cheap."""
        _require_extra()  # pick_device asks torch which devices there are
        from zpipe.engine.zimage.discovery import find_model

        options = dict(options or {})
        spec, loras = find_model(options), _lora_list(options)
        device = pick_device(options.get("device"))
        dtype = pick_dtype(options.get("dtype"), device, configs=spec.networks.configs)
        return _fingerprint(spec, loras, device, dtype, fp8=options.get("memory") == "fp8")

    def fingerprint(self) -> str:
        return self._fingerprint

    def prepare(self, batches: list[list[Request]]) -> None:
        """The batches the executor will hand to :meth:`generate` next, in order: their prompts are encoded
        now, in one text-encoder phase (phased, the encoder then visits the device once per chunk of jobs,
        not once per batch). Each batch's prompts are encoded together, as its own ``generate`` call would
        encode them, so the images are the same bytes with or without this call. Batches past what the
        prompt cache holds are left for their ``generate`` call."""
        groups: list[list[str]] = []
        seen: set[str] = set()
        for batch in batches:
            prompts = list(dict.fromkeys(r.prompt for r in batch))
            if len(seen.union(prompts)) > self.pipeline.cache_size:
                break
            seen.update(prompts)
            groups.append(prompts)
        if groups:
            self.pipeline.encode_groups(groups)

    def generate(self, requests: list[Request]) -> list[Generated]:
        import torch

        from zpipe.engine.zimage.pipeline import BatchItem

        out: list[Generated | None] = [None] * len(requests)
        for r in requests:
            self._check(r)
        # Phase 1 for the whole call: every prompt is encoded once, so a phased text encoder visits the
        # device once per call rather than once per group (the pipeline then hits its prompt cache).
        unique = list(dict.fromkeys(r.prompt for r in requests))
        caption = {}
        if len(unique) <= self.pipeline.cache_size:
            pad = self.pipeline.dit.cfg.seq_multiple
            caption = {p: -(-len(f) // pad) for p, f in zip(unique, self.pipeline.encode_prompts(unique))}
        # One group per shape and padded caption length: every batch is one sequence length, so attention
        # runs without a mask (the flash kernels refuse masks). Batching never changes an image.
        groups: dict[tuple, list[int]] = {}
        for i, r in enumerate(requests):
            strength = r.strength if r.init_image is not None else 1.0
            groups.setdefault((*r.shape_key, caption.get(r.prompt, 0), strength), []).append(i)
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
                images = self.pipeline.images(jobs, first.height, first.width, first.steps, first.tile, key[-1])
                timings = dict(self.pipeline.timings.seconds)
                for i, img in zip(part, images, strict=True):
                    out[i] = Generated(
                        image=img.numpy().copy(),  # (H, W, 3) uint8, not a view of the batch
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
