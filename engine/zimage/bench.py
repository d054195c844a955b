"""``zpipe bench``: time each phase of Z-Image-Turbo and compare with the roofline (the CLI declares the
options; this module does the work).

Times text encoding, every DiT step and the VAE decode for a config (``full``, ``medium``, ``tiny`` random
weights, or a real checkpoint), size and batch; reports peak device memory per phase, the achieved TFLOP/s
from an analytic FLOP count, and the MFU where the device's dense bf16 peak is known (or measured with
``measure_peak``). Warm-up runs first, and every timed region ends with a device synchronisation.

torch is imported inside the functions: importing this module is free.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

# Dense bf16 tensor-core peaks (FP32 accumulate), TFLOP/s, by substring of the device name.
PEAK_TFLOPS = {"H200": 989.0, "H100 PCIe": 756.0, "H100": 989.0, "H800": 989.0, "B200": 2250.0, "A100": 312.0,
               "L40S": 362.0, "L4": 121.0, "RTX 4090": 165.2, "RTX 5090": 209.5, "RTX 3090": 71.0, "A10": 125.0}


def presets():
    from zpipe.engine.zimage.configs import DiTConfig, Qwen3Config, VAEConfig

    return {
        "full": (DiTConfig(), Qwen3Config(), VAEConfig()),
        "medium": (DiTConfig(dim=768, n_layers=8, n_refiner_layers=2, n_heads=6, n_kv_heads=6, cap_feat_dim=512),
                   Qwen3Config(hidden_size=512, intermediate_size=1024, num_hidden_layers=4, num_attention_heads=8,
                               num_key_value_heads=4, head_dim=64, vocab_size=4096),
                   VAEConfig(block_out_channels=(32, 64, 64, 64), layers_per_block=1)),
        "tiny": (DiTConfig(dim=64, n_layers=2, n_refiner_layers=1, n_heads=2, n_kv_heads=2, cap_feat_dim=32,
                           axes_dims=(8, 12, 12)),
                 Qwen3Config(hidden_size=32, intermediate_size=48, num_hidden_layers=3, num_attention_heads=4,
                             num_key_value_heads=2, head_dim=8, vocab_size=512),
                 VAEConfig(block_out_channels=(32, 32, 32, 32), layers_per_block=1)),
    }


# ---- analytic FLOP counts (multiply-adds x 2; norms, RoPE and elementwise ops ignored, < 2%) ----


def ceil32(n: int) -> int:
    return n + (-n) % 32


def dit_flops(cfg, image_tokens: int, caption_tokens: int, include_context: bool = True) -> float:
    """One DiT forward for one image. ``include_context=False`` leaves out the context refiner, which our
    engine runs once per batch instead of once per step."""
    d, f = cfg.dim, cfg.ffn_dim
    img, txt = ceil32(image_tokens), ceil32(caption_tokens)

    def block(s: int) -> float:
        return 2 * (4 * d * d + 3 * d * f) * s + 4 * s * s * d

    total = cfg.n_layers * block(img + txt) + cfg.n_refiner_layers * block(img)
    if include_context:
        total += cfg.n_refiner_layers * block(txt) + 2 * cfg.cap_feat_dim * d * txt
    total += 2 * (cfg.patch_dim * d * img + d * cfg.patch_dim * image_tokens)
    total += 2 * (cfg.n_layers + cfg.n_refiner_layers) * cfg.t_out_dim * 4 * d  # adaLN
    return float(total)


def text_encoder_flops(cfg, tokens: int) -> float:
    h, hd = cfg.hidden_size, cfg.head_dim
    per_layer = 2 * tokens * (h * hd * (cfg.num_attention_heads * 2 + cfg.num_key_value_heads * 2)
                              + 3 * h * cfg.intermediate_size) + 2 * tokens * tokens * cfg.num_attention_heads * hd
    return float(cfg.used_layers * per_layer)


def vae_decode_flops(cfg, height: int, width: int) -> float:
    def conv(ci, co, h, w, k=3):
        return 2 * k * k * ci * co * h * w

    ch = list(reversed(cfg.block_out_channels))
    f = cfg.downscale
    h, w, c = height // f, width // f, ch[0]
    total = conv(cfg.latent_channels, c, h, w) + 4 * conv(c, c, h, w)  # conv_in + mid resnets
    if cfg.mid_block_add_attention:
        total += 8 * c * c * h * w + 4 * (h * w) ** 2 * c
    for i, o in enumerate(ch):
        for _ in range(cfg.layers_per_block + 1):
            total += conv(c, o, h, w) + conv(o, o, h, w) + (conv(c, o, h, w, 1) if c != o else 0)
            c = o
        if i < len(ch) - 1:
            h, w = 2 * h, 2 * w
            total += conv(c, c, h, w)
    return float(total + conv(c, cfg.out_channels, h, w))


# ---- measurement ----


@dataclass
class BenchResult:
    config: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)
    step_seconds: list[float] = field(default_factory=list)
    peak_gib: dict[str, float] = field(default_factory=dict)
    flops: dict[str, float] = field(default_factory=dict)
    device_name: str = ""
    peak_tflops: float | None = None

    def tflops(self, phase: str) -> float | None:
        s = self.seconds.get(phase)
        return self.flops[phase] / s / 1e12 if s and phase in self.flops else None

    def as_dict(self) -> dict[str, Any]:
        out = {"config": self.config, "device": self.device_name, "seconds": self.seconds,
               "dit_step_seconds": self.step_seconds, "peak_gib": self.peak_gib,
               "tflops": {p: self.tflops(p) for p in self.flops}, "peak_tflops": self.peak_tflops}
        if self.peak_tflops:
            out["mfu"] = {p: (v / self.peak_tflops if v else None) for p, v in out["tflops"].items()}
        return out


def measure_peak(device: str, dtype_name: str = "bf16", n: int = 8192, reps: int = 20) -> float:
    """Measured dense matmul throughput (TFLOP/s) of ``device``: the practical peak for MFU."""
    import torch

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[dtype_name]
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    sync(device)
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - t) / 1e12


def sync(device) -> None:
    """Wait for the device's queued work, so that a timed region ends when its kernels do."""
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize()
    elif str(device) == "mps":
        torch.mps.synchronize()


def random_models(preset: str, device: str, dtype, seed: int = 0):
    """Random-weight DiT, text encoder and VAE of a preset, built directly on the device."""
    import torch

    from zpipe.engine.zimage.dit import ZImageDiT
    from zpipe.engine.zimage.text_encoder import Qwen3Encoder
    from zpipe.engine.zimage.vae import AutoencoderKL

    dit_cfg, te_cfg, vae_cfg = presets()[preset]
    torch.manual_seed(seed)
    models = []
    for cls, cfg, dt in ((ZImageDiT, dit_cfg, dtype), (Qwen3Encoder, te_cfg, dtype), (AutoencoderKL, vae_cfg, dtype)):
        with torch.device("meta"):
            m = cls(cfg)
        m = m.to(dt).to_empty(device=device)  # allocate once, in the target dtype
        with torch.no_grad():
            for name, p in m.named_parameters():
                if p.ndim == 1 and "norm" in name:
                    p.fill_(1.0)
                elif p.ndim == 1:
                    p.zero_()
                else:
                    fan_in = p[0].numel() if p.ndim > 1 else p.shape[-1]
                    p.normal_(0.0, fan_in**-0.5)
        models.append(m.eval())
    return models


class FixedTokens:
    """The tokenizer of random presets: prompt i of a call becomes ``tokens - i`` random ids (the lengths
    differ, as real prompts do)."""

    def __init__(self, vocab_size: int, tokens: int, seed: int = 0) -> None:
        self.vocab_size, self.tokens, self.seed = vocab_size, tokens, seed

    def __call__(self, prompts: list[str]) -> list[list[int]]:
        import torch

        g = torch.Generator("cpu").manual_seed(self.seed)
        return [torch.randint(0, self.vocab_size, (max(1, self.tokens - i),), generator=g).tolist()
                for i in range(len(prompts))]


def run_bench(
    preset: str = "full",
    model: str | None = None,
    height: int = 1024,
    width: int = 1024,
    batch: int = 1,
    steps: int = 8,
    device: str | None = None,
    dtype: str | None = None,
    compile: bool = False,
    prompt_tokens: int = 100,
    warmup: int = 1,
    peak_tflops: float | None = None,
    memory: str = "resident",
    vae_dtype: str | None = None,
) -> BenchResult:
    """One warm-up and one timed call of the real :class:`ZImagePipeline` (phases, residency, fp8) on
    ``batch`` prompts; every DiT step is timed on its own as well."""
    import torch

    from zpipe.engine.zimage import fp8 as fp8_mod
    from zpipe.engine.zimage.attention import backend_order
    from zpipe.engine.zimage.engine import _load_dit, pick_device, pick_dtype
    from zpipe.engine.zimage.pipeline import BatchItem, ZImagePipeline
    from zpipe.engine.zimage.rope import default_mode

    device = pick_device(device)
    tdtype = pick_dtype(dtype, device)
    vdtype = pick_dtype(vae_dtype or "fp32", device, "vae_dtype")
    if model:
        from zpipe.engine.zimage import weights
        from zpipe.engine.zimage.discovery import find_model
        from zpipe.engine.zimage.tokenizer import PromptTokenizer

        spec = find_model({"model": model})
        dit = _load_dit(spec, [], tdtype, device, fp8=memory == "fp8")
        te = weights.load_text_encoder(spec, tdtype, "cpu" if memory != "resident" else device)
        vae = weights.load_vae(spec, vdtype, device)
        tokenizer = PromptTokenizer(spec.tokenizer)
    else:
        dit, te, vae = random_models(preset, device, tdtype)
        vae = vae.to(vdtype)
        dit.fuse_projections()
        if memory == "fp8":
            fp8_mod.quantize_dit(dit, fp8_mod.pick_method(device))
        tokenizer = FixedTokens(te.cfg.vocab_size, prompt_tokens)
    if compile:
        dit.compile_blocks()
    capability = torch.cuda.get_device_capability(device) if device.startswith("cuda") else None
    pipe = ZImagePipeline(dit, te, tokenizer, vae, device, phased=memory != "resident", prompt_cache=0,
                          vae_batch=batch)
    result = BenchResult(config=dict(preset=None if model else preset, model=model, height=height, width=width,
                                     batch=batch, steps=steps, device=device, dtype=str(tdtype).split(".")[-1],
                                     vae_dtype=str(vdtype).split(".")[-1], compile=compile, memory=memory,
                                     prompt_tokens=prompt_tokens, rope=dit.rope_mode or default_mode(device.split(":")[0]),
                                     attention=", ".join(backend_order(device.split(":")[0], capability) or ["torch default"])))
    result.device_name = torch.cuda.get_device_name() if device.startswith("cuda") else device
    result.peak_tflops = peak_tflops or next((v for k, v in PEAK_TFLOPS.items() if k in result.device_name), None)

    times: list[float] = []
    forward = dit.forward

    def timed_forward(*args, **kwargs):
        sync(device)
        start = time.perf_counter()
        out = forward(*args, **kwargs)
        sync(device)
        times.append(time.perf_counter() - start)
        return out

    dit.forward = timed_forward
    jobs = [BatchItem(f"prompt {i}", i) for i in range(batch)]
    try:
        for _ in range(warmup):
            pipe(jobs, height, width, steps)
        times.clear()
        sync(device)
        start = time.perf_counter()
        pipe(jobs, height, width, steps)
        sync(device)
        wall = time.perf_counter() - start
    finally:
        del dit.forward
    result.step_seconds = list(times)
    result.seconds.update(pipe.timings.seconds)
    result.peak_gib.update({k: v / 2**30 for k, v in pipe.timings.peak_bytes.items()})
    caps_len = [len(t) for t in tokenizer([j.prompt for j in jobs])]
    h, w = height // vae.cfg.downscale, width // vae.cfg.downscale
    n_img = (h // 2) * (w // 2)
    result.seconds["dit_steps"] = sum(result.step_seconds)
    result.flops["dit_steps"] = steps * sum(dit_flops(dit.cfg, n_img, n, include_context=False) for n in caps_len)
    result.flops["dit"] = result.flops["dit_steps"] + sum(dit_flops(dit.cfg, 0, n) - dit_flops(dit.cfg, 0, 0, False)
                                                          for n in caps_len)
    result.flops["text_encoder"] = sum(text_encoder_flops(te.cfg, n) for n in caps_len)
    result.flops["vae_decode"] = batch * vae_decode_flops(vae.cfg, height, width)
    result.seconds["total"] = wall
    return result


def preset_plans(preset: str, height: int, width: int, batch: int, dtype: str = "bf16", vae_dtype: str = "fp32",
                 model: str | None = None):
    """The memory planner's numbers for a preset (or a checkpoint folder's configs)."""
    from zpipe.engine.zimage.memory import plan_all

    if model:
        from zpipe.engine.zimage.discovery import find_model

        configs = find_model({"model": model}).networks.configs
    else:
        configs = presets()[preset]
    return plan_all(*configs, height=height, width=width, batch=batch, dtype=dtype, vae_dtype=vae_dtype)


def _rate(tflops: float) -> str:
    return f"{tflops:8.2f} TFLOP/s" if tflops >= 1 else f"{1000 * tflops:8.2f} GFLOP/s"


def format_report(r: BenchResult) -> str:
    c = r.config
    lines = [f"z-image bench: {c.get('preset') or c.get('model')} {c['width']}x{c['height']} batch {c['batch']} "
             f"steps {c['steps']} {c['dtype']} (vae {c['vae_dtype']}) memory {c['memory']} on {r.device_name}"
             f"{' (compiled)' if c['compile'] else ''}",
             f"  rope {c.get('rope')}, attention order {c.get('attention')}"]
    for phase in ("text_encoder", "dit", "vae_decode", "total"):
        s = r.seconds.get(phase, 0.0)
        tf = r.tflops(phase)
        extra = f"  {_rate(tf)}" if tf else ""
        if tf and r.peak_tflops:
            extra += f"  MFU {100 * tf / r.peak_tflops:5.1f}%"
        mem = f"  peak {r.peak_gib[phase]:.2f} GiB" if phase in r.peak_gib else ""
        lines.append(f"  {phase:<13}{s:9.3f} s{extra}{mem}")
    if r.step_seconds:
        steps = ", ".join(f"{1000 * s:.1f}" for s in r.step_seconds)
        tf = r.tflops("dit_steps")
        mfu = f", MFU {100 * tf / r.peak_tflops:.1f}%" if tf and r.peak_tflops else ""
        lines.append(f"  dit steps (ms): {steps}  -> {_rate(tf)}{mfu}")
    lines.append(f"  seconds per image: {r.seconds['total'] / c['batch']:.3f}"
                 + (f"  (peak {max(r.peak_gib.values()):.2f} GiB)" if r.peak_gib else ""))
    return "\n".join(lines)


# ---- a random checkpoint in the released on-disk format ----


def write_random_checkpoint(preset: str, root, device: str = "cpu", dtype: str = "bf16",
                            shard_bytes: int = 5 * 2**30) -> None:
    """A diffusers-layout folder like Tongyi-MAI/Z-Image-Turbo's (config.json files, sharded safetensors
    with index files, scheduler, tokenizer) holding random weights of ``preset``: the loader, the fp8 cache
    and the memory planner then run on real-size files where no weights can be fetched. Weights are drawn on
    ``device``; the text encoder gets its unused last layer too, as the released files have it."""
    import dataclasses
    import json
    from pathlib import Path

    import torch

    from zpipe.engine.zimage.engine import pick_dtype

    root = Path(root)
    tdtype = pick_dtype(dtype, device)
    dit_cfg, te_cfg, vae_cfg = presets()[preset]
    dit, te, vae = random_models(preset, device, tdtype)
    dit_json = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(dit_cfg).items()
                if k not in ("adaln_dim", "t_mid_dim", "seq_multiple", "qk_norm_eps")}
    te_json = {**dataclasses.asdict(te_cfg), "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3"}
    vae_json = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(vae_cfg).items()}
    n = len(vae_cfg.block_out_channels)
    vae_json.update(down_block_types=["DownEncoderBlock2D"] * n, up_block_types=["UpDecoderBlock2D"] * n)
    te_state = {f"model.{k}": v for k, v in te.state_dict().items()}
    last = te_cfg.num_hidden_layers - 1
    for k, v in te.layers[0].state_dict().items():  # the layer Z-Image never reads, random like the rest
        te_state[f"model.layers.{last}.{k}"] = torch.randn_like(v.float()).to(v.dtype) * 0.02
    te_state["model.norm.weight"] = torch.ones(te_cfg.hidden_size, dtype=tdtype, device=device)
    parts = (("transformer", "diffusion_pytorch_model", dit.state_dict(), dit_json),
             ("text_encoder", "model", te_state, te_json),
             ("vae", "diffusion_pytorch_model", vae.state_dict(), vae_json))
    for folder, stem, state, config in parts:
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / "config.json").write_text(json.dumps(config, indent=2))
        _save_sharded(state, root / folder, stem, shard_bytes)
    del dit, te, vae
    (root / "scheduler").mkdir(exist_ok=True)
    (root / "scheduler" / "scheduler_config.json").write_text(json.dumps(
        {"_class_name": "FlowMatchEulerDiscreteScheduler", "num_train_timesteps": 1000, "shift": 3.0,
         "use_dynamic_shifting": False}))
    write_tokenizer(root / "tokenizer")
    (root / "model_index.json").write_text(json.dumps({"_class_name": "ZImagePipeline"}))


def _save_sharded(state: dict, folder, stem: str, shard_bytes: int) -> None:
    import json

    from safetensors.torch import save_file

    shards: list[dict] = [{}]
    size = 0
    for k, v in state.items():
        nbytes = v.numel() * v.element_size()
        if shards[-1] and size + nbytes > shard_bytes:
            shards.append({})
            size = 0
        shards[-1][k] = v
        size += nbytes
    if len(shards) == 1:
        save_file({k: v.contiguous().cpu() for k, v in shards[0].items()}, str(folder / f"{stem}.safetensors"))
        return
    weight_map = {}
    for i, shard in enumerate(shards):
        name = f"{stem}-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file({k: v.contiguous().cpu() for k, v in shard.items()}, str(folder / name))
        weight_map.update(dict.fromkeys(shard, name))
    (folder / f"{stem}.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))


# A subset of Qwen3's chat template that renders user turns, the generation prompt and the
# enable_thinking switch exactly as the full template does.
QWEN3_CHAT_TEMPLATE = (
    "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}"
    "{%- endif %}{%- endif %}"
)
# Qwen2/3's pre-tokenizer split (transformers' qwen2 PRETOKENIZE_REGEX; tests/engine/test_text.py checks it).
QWEN_PRETOKENIZE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                    r"|\s*[\r\n]+|\s+(?!\S)|\s+")
TOKENIZER_CORPUS = [
    "a seamless stone wall texture, moss between bricks, photorealistic, 4k",
    "poster of a red fox in the snow with the title 'WINTER' in bold letters",
    "weathered wooden planks, top-down view, tileable, high detail",
    "Ein altes Schloss im Nebel. 山水画, 中国风. Ünïcödé façade; numbers 12345 and symbols #@!",
]


def write_tokenizer(folder, vocab_size: int = 400) -> None:
    """Write tokenizer.json (+ tokenizer_config.json) into ``folder``, built like Qwen's: byte-level BPE, NFC,
    the Qwen pre-tokenizer split, and the special tokens <|endoftext|>, <|im_start|>, <|im_end|>; prompts
    tokenize like real ones (ids < ``vocab_size``). For random checkpoints (bench) and the tests' tiny ones."""
    import json
    from pathlib import Path

    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN_PRETOKENIZE), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(TOKENIZER_CORPUS * 4, trainer=trainer)
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "Qwen2Tokenizer", "bos_token": None, "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>", "unk_token": None, "model_max_length": 131072,
        "chat_template": QWEN3_CHAT_TEMPLATE, "add_prefix_space": False,
    }))
