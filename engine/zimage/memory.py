"""Peak device memory of each memory mode, from the configs alone (no torch, nothing loaded).

Modes (``engine.memory``):

    resident  all three networks on the device                       bf16: about 21 GiB at 1024², 24 GB cards
    phased    text encoder and DiT take turns (:mod:`.residency`)    bf16: about 13 GiB, 16 GB cards
    fp8       phased, DiT block weights in fp8 e4m3 (:mod:`.fp8`)    about 8 GiB, 10-12 GB cards

A phase's peak is the weights on the device during it plus that phase's largest live activations.
Parameter counts are exact (a test compares them with the modules). Activation sizes follow the code's
largest live set, per token or pixel, and are checked against allocations measured on CPU
(``tests/engine/test_memory.py``):

    DiT          the feed-forward of a block: w13's output (2F), SiLU(gate) and the product (F each), the
                 block input, its norm, the residual stream and the joint sequence: (4F + 5D) per token
    text encoder the MLP: gate, up and product (3I) plus three hidden-size tensors (3H) per token
    VAE decode   the first full-resolution resnet: input, norm, SiLU and conv output: 2(Cin + Cout) per pixel

Attention adds nothing at these sizes: the SDPA kernels zpipe uses (flash, memory-efficient, cuDNN, the
CPU flash kernel) never hold the score matrix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

GiB = 2**30
MODES = ("resident", "phased", "fp8")
DTYPE_BYTES = {"bf16": 2, "fp16": 2, "fp32": 4}
MAX_PROMPT_TOKENS = 512  # the tokenizer truncates here: the planner's worst case
# cuBLAS/cuDNN workspaces, allocator rounding and fragmentation on top of what the tensors need.
DEVICE_MARGIN = 0.5 * GiB


def _ceil(n: int, multiple: int) -> int:
    return n + (-n) % multiple


# ---- parameters ----


def dit_params(cfg) -> tuple[int, int]:
    """(parameters of the blocks' projection weights, everything else). fp8 stores the first kind."""
    d, f, hd, t = cfg.dim, cfg.ffn_dim, cfg.head_dim, cfg.t_out_dim
    blocks = cfg.n_layers + 2 * cfg.n_refiner_layers
    projections = blocks * (4 * d * d + 3 * d * f)
    modulated = cfg.n_layers + cfg.n_refiner_layers
    other = blocks * (2 * hd + 4 * d) + modulated * (t * 4 * d + 4 * d)
    other += cfg.patch_dim * d + d  # x embedder
    other += d * cfg.patch_dim + cfg.patch_dim + t * d + d  # final layer
    other += 256 * cfg.t_mid_dim + cfg.t_mid_dim + cfg.t_mid_dim * t + t  # timestep MLP
    other += cfg.cap_feat_dim + cfg.cap_feat_dim * d + d + 2 * d  # caption embedder, pad tokens
    return projections, other


def dit_fp8_rows(cfg) -> int:
    """Output rows of the fp8 weights: one fp32 scale each."""
    return (cfg.n_layers + 2 * cfg.n_refiner_layers) * (5 * cfg.dim + 2 * cfg.ffn_dim)


def text_encoder_params(cfg) -> int:
    h, hd = cfg.hidden_size, cfg.head_dim
    nq, nkv = cfg.num_attention_heads, cfg.num_key_value_heads
    layer = 2 * h * nq * hd + 2 * h * nkv * hd + 2 * hd + 3 * h * cfg.intermediate_size + 2 * h
    return cfg.vocab_size * h + cfg.used_layers * layer


def vae_params(cfg) -> int:
    """Encoder and decoder (the encoder serves img2img and inpainting)."""

    def conv(ci: int, co: int, k: int = 3) -> int:
        return k * k * ci * co + co

    def resnet(ci: int, co: int) -> int:
        return 2 * ci + conv(ci, co) + 2 * co + conv(co, co) + (conv(ci, co, 1) if ci != co else 0)

    def mid(c: int) -> int:
        return 2 * resnet(c, c) + ((2 * c + 4 * (c * c + c)) if cfg.mid_block_add_attention else 0)

    ch, n, lat = cfg.block_out_channels, len(cfg.block_out_channels), cfg.latent_channels
    enc = conv(cfg.in_channels, ch[0]) + mid(ch[-1]) + 2 * ch[-1] + conv(ch[-1], 2 * lat)
    prev = ch[0]
    for i, c in enumerate(ch):
        enc += sum(resnet(prev if j == 0 else c, c) for j in range(cfg.layers_per_block))
        enc += conv(c, c) if i < n - 1 else 0
        prev = c
    up = list(reversed(ch))
    dec = conv(lat, up[0]) + mid(up[0]) + 2 * up[-1] + conv(up[-1], cfg.out_channels)
    prev = up[0]
    for i, c in enumerate(up):
        dec += sum(resnet(prev if j == 0 else c, c) for j in range(cfg.layers_per_block + 1))
        dec += conv(c, c) if i < n - 1 else 0
        prev = c
    return enc + dec


def weight_bytes(dit_cfg, te_cfg, vae_cfg, dtype: str = "bf16", vae_dtype: str = "fp32",
                 fp8: bool = False) -> dict[str, int]:
    b = DTYPE_BYTES[dtype]
    proj, other = dit_params(dit_cfg)
    dit = proj + 4 * dit_fp8_rows(dit_cfg) + b * other if fp8 else b * (proj + other)
    return {"text_encoder": b * text_encoder_params(te_cfg), "dit": dit,
            "vae": DTYPE_BYTES[vae_dtype] * vae_params(vae_cfg)}


# ---- activations ----


def dit_activation_bytes(cfg, height: int, width: int, batch: int, caption_tokens: int, dtype: str) -> int:
    tokens = _ceil((height // 16) * (width // 16), cfg.seq_multiple) + _ceil(caption_tokens, cfg.seq_multiple)
    return batch * tokens * (4 * cfg.ffn_dim + 5 * cfg.dim) * DTYPE_BYTES[dtype]


def text_encoder_activation_bytes(cfg, tokens: int, batch: int, dtype: str) -> int:
    return batch * tokens * (3 * cfg.intermediate_size + 3 * cfg.hidden_size) * DTYPE_BYTES[dtype]


def vae_decode_bytes(cfg, height: int, width: int, batch: int, dtype: str, tile: int = 128) -> int:
    """The decoder's peak; a latent larger than ``tile`` decodes one image at a time in tiles of ``tile``
    latent pixels, into an fp32 image and weight buffer of the full size."""
    up = list(reversed(cfg.block_out_channels))
    per_pixel = 2 * (up[-2] + up[-1]) if len(up) > 1 else 4 * up[-1]
    f = cfg.downscale
    if max(height, width) // f > tile:
        side = tile * f
        return per_pixel * side * side * DTYPE_BYTES[dtype] + 4 * 4 * height * width
    return batch * per_pixel * height * width * DTYPE_BYTES[dtype]


# ---- plans ----


@dataclass(frozen=True)
class MemoryPlan:
    mode: str
    weights: dict[str, int]  # bytes per network in this mode's storage
    phases: dict[str, int] = field(default_factory=dict)  # peak device bytes per phase

    @property
    def peak(self) -> int:
        return max(self.phases.values())

    def fits(self, free_bytes: int) -> bool:
        return self.peak + DEVICE_MARGIN <= free_bytes


def plan_memory(dit_cfg, te_cfg, vae_cfg, mode: str, height: int = 1024, width: int = 1024, batch: int = 1,
                dtype: str = "bf16", vae_dtype: str = "fp32", *, text_batch: int = 16, vae_batch: int = 1,
                vae_tile: int = 128, prompt_tokens: int = MAX_PROMPT_TOKENS, unified: bool = False) -> MemoryPlan:
    """Peak device bytes of each phase of one batch of ``batch`` images of ``width`` x ``height``.

    ``unified``: the device's memory is the host's (CPU, Apple silicon), so taking turns frees nothing and
    every phase holds all the weights."""
    if mode not in MODES:
        raise ValueError(f"memory mode {mode!r}: choose one of {', '.join(MODES)}")
    w = weight_bytes(dit_cfg, te_cfg, vae_cfg, dtype, vae_dtype, fp8=mode == "fp8")
    te_act = text_encoder_activation_bytes(te_cfg, prompt_tokens, text_batch, dtype)
    dit_act = dit_activation_bytes(dit_cfg, height, width, batch, prompt_tokens, dtype)
    vae_act = vae_decode_bytes(vae_cfg, height, width, min(batch, vae_batch), vae_dtype, vae_tile)
    if mode == "resident" or unified:
        base = sum(w.values())
        phases = {"text_encoder": base + te_act, "dit": base + dit_act, "vae_decode": base + vae_act}
    else:  # the text encoder and the DiT are never on the device together; the VAE always is
        phases = {"text_encoder": w["text_encoder"] + w["vae"] + te_act,
                  "dit": w["dit"] + w["vae"] + dit_act,
                  "vae_decode": w["dit"] + w["vae"] + vae_act}
    return MemoryPlan(mode, w, phases)


def plan_all(dit_cfg, te_cfg, vae_cfg, **kwargs) -> list[MemoryPlan]:
    return [plan_memory(dit_cfg, te_cfg, vae_cfg, mode, **kwargs) for mode in MODES]


def pick_mode(plans: list[MemoryPlan], free_bytes: int, requested: str = "auto") -> str:
    """``requested`` when it fits; for ``auto`` the first of resident, phased that fits (fp8 changes the
    images, so it is never picked silently). Raises ValueError with a message naming a mode that fits."""
    by_mode = {p.mode: p for p in plans}
    choices = ["resident", "phased"] if requested == "auto" else [requested]
    for mode in choices:
        if by_mode[mode].fits(free_bytes):
            return mode
    wanted = by_mode[choices[-1]]
    fitting = [p.mode for p in plans if p.fits(free_bytes)]
    need = f"memory {requested} needs {gib(wanted.peak + DEVICE_MARGIN)} GiB" if requested != "auto" else (
        f"neither resident ({gib(by_mode['resident'].peak + DEVICE_MARGIN)} GiB) nor phased "
        f"({gib(by_mode['phased'].peak + DEVICE_MARGIN)} GiB) fits")
    hint = (f"set engine.memory: {fitting[0]}" + (" (fp8 weights change the images slightly)"
                                                    if fitting[0] == "fp8" else "")
            if fitting else "no memory mode fits: free device memory, or use a smaller size or batch")
    raise ValueError(f"{need}, {gib(free_bytes)} GiB of device memory is free; {hint}")


def host_memory_bytes() -> int | None:
    """Physical memory of this machine (None where it cannot be read)."""
    import os
    import sys

    if sys.platform == "win32":
        import ctypes

        class Status(ctypes.Structure):
            _fields_ = [("dwLength", ctypes.c_ulong), ("dwMemoryLoad", ctypes.c_ulong),
                        ("ullTotalPhys", ctypes.c_ulonglong), ("ullAvailPhys", ctypes.c_ulonglong),
                        ("ullTotalPageFile", ctypes.c_ulonglong), ("ullAvailPageFile", ctypes.c_ulonglong),
                        ("ullTotalVirtual", ctypes.c_ulonglong), ("ullAvailVirtual", ctypes.c_ulonglong),
                        ("ullAvailExtendedVirtual", ctypes.c_ulonglong)]

        status = Status(dwLength=ctypes.sizeof(Status))
        ok = ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status))
        return int(status.ullTotalPhys) if ok else None
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")  # Linux, macOS
    except (AttributeError, ValueError, OSError):
        return None


def gib(n: float) -> str:
    return f"{n / GiB:.1f}"


def format_plans(plans: list[MemoryPlan], height: int, width: int, batch: int) -> str:
    lines = [f"peak device memory at {width}x{height}, batch {batch} (GiB; weights + largest activations):",
             f"  {'mode':<10}{'text enc':>10}{'dit':>8}{'vae':>8}{'peak':>8}   weights on device"]
    for p in plans:
        ph, w = p.phases, p.weights
        held = (f"te {gib(w['text_encoder'])} + dit {gib(w['dit'])} + vae {gib(w['vae'])}"
                if p.mode == "resident" else f"te {gib(w['text_encoder'])} | dit {gib(w['dit'])}, + vae {gib(w['vae'])}")
        lines.append(f"  {p.mode:<10}{gib(ph['text_encoder']):>10}{gib(ph['dit']):>8}{gib(ph['vae_decode']):>8}"
                     f"{gib(p.peak):>8}   {held}")
    return "\n".join(lines)
