"""Our Z-Image engine against diffusers, same weights and inputs, one process (prints ratios).

    python benchmarks/engine_vs_diffusers.py [--configs tiny medium] [--device cpu] [--dtype fp32]
                                             [--repeat 5] [--steps 8] [--compile] [--compile-reference]

Configs (random weights; the shapes of ``zpipe.engine.zimage.bench`` presets):
  tiny    dim 64, 2 layers, 64x64 px
  medium  dim 768, 8 layers + 2+2 refiners, 512x512 px (1024 image tokens)
  full    the released 6B shapes, 1024x1024 (GPU only; see benchmarks/gpu.sh)

Measures (best of --repeat, ours and diffusers alternating, after a warm-up):
  dit step  one transformer forward on the same latents, timesteps and caption features. Ours includes
            its per-batch ``prepare`` (caption embedding + context refiner) amortised over the steps.
  e2e       prompt -> image: tokenize, encode, 8 steps, decode (diffusers.ZImagePipeline vs ZImageEngine's
            pipeline), batch of --batch prompts with different lengths.
Goal: ours <= 0.85x diffusers' time on both.

Rows: ``<config>`` is our eager engine; with --compile a ``<config>+compile`` row follows (blocks compiled as
with ``engine.compile: true``), timed against the same diffusers models. The last lines list what our side
ran with (fused projections, the oneDNN fp32 GEMM route on CPU, compile) and that diffusers ran eager with
torch's default kernels (or compiled, with --compile-reference).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # no tokenizer thread pool competing with torch

import torch  # noqa: E402


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed_pair(ours, ref, device: str, repeat: int, warmup: int = 1) -> tuple[float, float]:
    """Best-of-``repeat`` seconds of two functions run alternately, so that load from other processes on
    a shared machine hits both alike (the minimum is the least disturbed run). On CPU this is process CPU
    time, which other processes cannot inflate (run with --threads 1 so it equals the work done)."""
    clock = time.process_time if device == "cpu" else time.perf_counter
    for _ in range(warmup):
        ours()
        ref()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for fn, out in ((ours, times[0]), (ref, times[1])):
            sync(device)
            t = clock()
            fn()
            sync(device)
            out.append(clock() - t)
    return min(times[0]), min(times[1])


def diffusers_models(preset: str, dtype, device):
    import diffusers
    import transformers

    from zpipe.engine.zimage.bench import presets

    dc, tc, vc = presets()[preset]
    torch.manual_seed(0)
    with torch.device(device):  # drawn where they run: the 6B shapes take minutes to initialise on a CPU
        return [m.to(dtype).eval() for m in _diffusers_models(diffusers, transformers, dc, tc, vc)]


def _diffusers_models(diffusers, transformers, dc, tc, vc):
    dit = diffusers.ZImageTransformer2DModel(
        in_channels=dc.in_channels, dim=dc.dim, n_layers=dc.n_layers, n_refiner_layers=dc.n_refiner_layers,
        n_heads=dc.n_heads, n_kv_heads=dc.n_kv_heads, cap_feat_dim=dc.cap_feat_dim, axes_dims=list(dc.axes_dims),
        axes_lens=list(dc.axes_lens))
    with torch.no_grad():
        dit.x_pad_token.normal_()
        dit.cap_pad_token.normal_()
    te = transformers.Qwen3Model(transformers.Qwen3Config(
        hidden_size=tc.hidden_size, intermediate_size=tc.intermediate_size, num_hidden_layers=tc.num_hidden_layers,
        num_attention_heads=tc.num_attention_heads, num_key_value_heads=tc.num_key_value_heads,
        head_dim=tc.head_dim, vocab_size=tc.vocab_size, rope_theta=tc.rope_theta))
    n = len(vc.block_out_channels)
    vae = diffusers.AutoencoderKL(down_block_types=["DownEncoderBlock2D"] * n, up_block_types=["UpDecoderBlock2D"] * n,
                                  block_out_channels=list(vc.block_out_channels), layers_per_block=vc.layers_per_block,
                                  latent_channels=16, scaling_factor=0.3611, shift_factor=0.1159,
                                  use_quant_conv=False, use_post_quant_conv=False)
    return dit, te, vae


def ours_from(ref_dit, ref_te, ref_vae, tok_file: Path, device: str, dtype, compile: bool):
    from zpipe.engine.zimage.configs import DiTConfig, Qwen3Config, VAEConfig
    from zpipe.engine.zimage.dit import ZImageDiT
    from zpipe.engine.zimage.pipeline import ZImagePipeline
    from zpipe.engine.zimage.text_encoder import Qwen3Encoder
    from zpipe.engine.zimage.tokenizer import PromptTokenizer
    from zpipe.engine.zimage.vae import AutoencoderKL
    from zpipe.engine.zimage.weights import build_on_meta

    dit = build_on_meta(lambda: ZImageDiT(DiTConfig.from_dict(dict(ref_dit.config))))
    dit.load_state_dict(ref_dit.state_dict(), assign=True)
    dit.fuse_projections()  # as ZImageEngine does (new tensors: the reference's weights stay untouched)
    tcfg = Qwen3Config.from_dict(ref_te.config.to_dict())
    te = build_on_meta(lambda: Qwen3Encoder(tcfg))
    sd = {k: v for k, v in ref_te.state_dict().items()
          if not k.startswith(f"layers.{tcfg.num_hidden_layers - 1}.") and k != "norm.weight"}
    te.load_state_dict(sd, assign=True)
    vae = build_on_meta(lambda: AutoencoderKL(VAEConfig.from_dict(dict(ref_vae.config))))
    vae.load_state_dict(ref_vae.state_dict(), assign=True)
    if compile:
        dit.compile_blocks()
    return ZImagePipeline(dit.eval(), te.eval(), PromptTokenizer(tok_file), vae.eval(), device, prompt_cache=0)


def ours_options(args, compiled: bool) -> str:
    """What our side runs with, for the report."""
    from zpipe.engine.zimage import layers

    opts = ["fused qkv/w13", "caption path once per batch"]
    if args.device == "cpu" and args.dtype == "fp32":
        route = layers.cpu_gemm_backend()
        opts.append(f"fp32 GEMMs: {route} (startup probe)" + (f", >= {layers.ONEDNN_MIN_MACS} MACs"
                                                               if route == "onednn" else ""))
    opts.append("torch.compile per block (engine.compile: true)" if compiled else "eager")
    return ", ".join(opts)


def run(preset: str, size: int, args) -> list[dict]:
    """One row per variant of ours (eager, and compiled with --compile) against the same diffusers models."""
    import diffusers
    import transformers

    from zpipe.engine.zimage.bench import write_tokenizer
    from zpipe.engine.zimage.pipeline import BatchItem

    device, dtype = args.device, {"fp32": torch.float32, "bf16": torch.bfloat16}[args.dtype]
    dit, te, vae = diffusers_models(preset, dtype, device)
    tmp = Path(tempfile.mkdtemp())
    write_tokenizer(tmp / "tok")
    if args.compile_reference:
        dit.compile_repeated_blocks(fullgraph=False)

    g = torch.Generator().manual_seed(0)
    lat = size // 8
    x = torch.randn(args.batch, 16, lat, lat, generator=g).to(device, dtype)
    caps = [torch.randn(40 + 23 * i, dit.config.cap_feat_dim, generator=g).to(device, dtype) for i in range(args.batch)]
    t = torch.full((args.batch,), 0.3, device=device)
    prompts = ["a seamless stone wall texture with moss " * (1 + i) for i in range(args.batch)]
    ref_pipe = diffusers.ZImagePipeline(
        scheduler=diffusers.FlowMatchEulerDiscreteScheduler(shift=3.0), vae=vae, text_encoder=te,
        tokenizer=transformers.AutoTokenizer.from_pretrained(str(tmp / "tok")), transformer=dit)
    ref_pipe.set_progress_bar_config(disable=True)
    ref_out: list = [None]

    def ref_e2e():
        gens = [torch.Generator("cpu").manual_seed(i) for i in range(args.batch)]
        ref_out[0] = ref_pipe(prompt=list(prompts), height=size, width=size, num_inference_steps=args.steps,
                              guidance_scale=0.0, generator=gens, output_type="pt").images

    def time_ours(compiled: bool) -> dict:
        ours = ours_from(dit, te, vae, tmp / "tok" / "tokenizer.json", device, dtype, compiled)

        # --- one DiT step ---
        with torch.no_grad():
            cond = ours.dit.prepare(caps, (lat // 2, lat // 2))
            fwd, ref_step = timed_pair(lambda: ours.dit(x, t, cond),
                                       lambda: dit(list(x.unsqueeze(2)), t, caps, return_dict=False), device,
                                       args.repeat)
            prep, _ = timed_pair(lambda: ours.dit.prepare(caps, (lat // 2, lat // 2)), lambda: None, device,
                                 args.repeat)
        our_step = fwd + prep / args.steps

        # --- end to end ---
        our_out: list = [None]

        def our_e2e():
            our_out[0] = ours([BatchItem(p, i) for i, p in enumerate(prompts)], size, size, args.steps)

        # The DiTs are warm from the step timing; e2e runs are long on CPU, so no extra warm-up there.
        e2e_warmup = 1 if device != "cpu" else 0
        our_e, ref_e = timed_pair(our_e2e, ref_e2e, device, max(2, args.repeat // 2), e2e_warmup)
        diff = (ref_out[0].float().cpu() - our_out[0].float()).abs().max().item()
        return dict(preset=preset + ("+compile" if compiled else ""), size=size, ref_step=ref_step,
                    our_step=our_step, our_forward=fwd, ref_e2e=ref_e, our_e2e=our_e, max_abs_diff=diff,
                    options=ours_options(args, compiled))

    rows = [time_ours(compiled) for compiled in ([False, True] if args.compile else [False])]
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", nargs="+", default=["tiny", "medium"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--batch", type=int, default=None, help="default 2 for tiny, 1 otherwise")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default 1 on CPU)")
    ap.add_argument("--compile", action="store_true",
                    help="also time ours with torch.compile'd blocks (engine.compile: true), as extra rows")
    ap.add_argument("--compile-reference", action="store_true", help="compile_repeated_blocks on diffusers' DiT")
    args = ap.parse_args()
    if args.threads or args.device == "cpu":
        torch.set_num_threads(args.threads or 1)
    sizes = {"tiny": 64, "medium": 512, "full": 1024}
    clock = "CPU seconds (process time)" if args.device == "cpu" else "wall seconds"
    print(f"torch {torch.__version__}, device {args.device}, {args.dtype}, batch {args.batch or 'auto'}, "
          f"threads {torch.get_num_threads()}; best of {args.repeat}, {clock}")
    print(f"{'config':<16}{'size':>6}{'dit step ours':>15}{'diffusers':>11}{'ratio':>7}"
          f"{'e2e ours':>10}{'diffusers':>11}{'ratio':>7}{'max|diff|':>11}")
    options = {}
    for preset in args.configs:
        batch = args.batch
        args.batch = batch or (2 if preset == "tiny" else 1)
        for r in run(preset, sizes[preset], args):
            options[r["preset"]] = r["options"]
            print(f"{r['preset']:<16}{r['size']:>6}{r['our_step'] * 1e3:>13.1f}ms{r['ref_step'] * 1e3:>9.1f}ms"
                  f"{r['our_step'] / r['ref_step']:>7.2f}{r['our_e2e']:>9.3f}s{r['ref_e2e']:>10.3f}s"
                  f"{r['our_e2e'] / r['ref_e2e']:>7.2f}{r['max_abs_diff']:>11.2e}", flush=True)
        args.batch = batch
    print("ours ran with:")
    for name, opts in options.items():
        print(f"  {name:<16}{opts}")
    ref = "diffusers " + ("with compile_repeated_blocks" if args.compile_reference else "eager, default kernels")
    print(f"  {'reference':<16}{ref}")


if __name__ == "__main__":
    main()
