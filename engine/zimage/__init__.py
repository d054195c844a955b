"""Z-Image-Turbo in plain PyTorch: the S3-DiT, the Qwen3 text encoder, the FLUX VAE and the 8-step sampler.

Modules (each one concern; importing this package imports nothing):

    configs       frozen dataclasses of the three networks and the scheduler (released values as defaults)
    rope          the DiT's 3-axis interleaved RoPE, optionally periodic (seamless tiling)
    layers        RMSNorm and the attention call shared by the networks
    dit           the S3-DiT; ``prepare`` (once per batch) + ``forward`` (per step, sync-free)
    text_encoder  Qwen3 up to hidden_states[-2]
    tokenizer     the chat template + tokenizer.json (``tokenizers``), 512-token truncation
    vae           the FLUX AutoencoderKL with wrap-around convolutions and a tiled decode
    sampler       the explicit 8-step flow-matching schedule and the Euler loop
    pipeline      text-to-image, img2img, inpainting, in phases, per-seed CPU-generator noise
    residency     which networks sit on the device: resident, or text encoder and DiT taking turns
    memory        the planner: peak device memory of each memory mode, from the configs (no torch)
    fp8           weight-only fp8 e4m3 DiT projections (scaled_mm or per-layer dequantise), the fp8 cache
    bench         ``zpipe bench``: per-phase timings, FLOP counts, MFU, random-weight presets
    files         torch-free safetensors headers, shard indexes, truncation checks, pickle refusal
    weights       strict loading on the meta device with assign=True; the three components
    keymaps       ComfyUI / LDM key conversions and configs inferred from shapes
    discovery     finding checkpoints (engine.model, $ZPIPE_MODEL, HF cache), fingerprint, ``pull``
    lora          LoRA merging (PEFT, kohya, ComfyUI namings)
    engine        ``ZImageEngine``: the zpipe engine contract

Numerical parity with diffusers 0.42 / transformers 5 is tested on tiny random models in
``tests/engine`` (fp32, CPU); the facts each module follows are in ``docs/z-image.md``.
"""
