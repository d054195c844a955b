#!/usr/bin/env bash
# Z-Image-Turbo on one GPU, in one prepared run (under 8 minutes on one H100/H200, ~45 GB of host memory,
# ~25 GB of disk). No weights can be fetched there, so it first writes random weights of the released 6B
# shapes in the released on-disk format (diffusers layout, sharded bf16 safetensors, config.json files),
# then loads them through the real loader. It prints:
#
#   1. the planned peak device memory of each memory mode (zpipe bench --plan)
#   2. per memory mode (resident, phased, fp8): s/image at 1024² per phase, TFLOP/s, MFU against the
#      measured bf16 matmul peak, measured peak memory per phase (compare with 1.)
#   3. the kernel choices at the DiT's shapes, each against its alternative: RoPE complex / real / fused,
#      SDPA per kernel and in the engine's order (cuDNN first on Hopper), images out as fp32 vs uint8
#   4. ours vs diffusers in the same run, same weights: eager vs eager, then compiled vs compiled
#   5. the engine's busy fraction for a 32-asset recipe with tile, pbr and export (resident), and for 16
#      assets phased (how often the text encoder was placed: once per chunk of jobs)
#
# Each measurement runs under a time limit (STEP_TIMEOUT, 420 s); one that fails is reported and the rest
# still run; the exit status is 1 when any failed.
#
#   bash benchmarks/gpu.sh            the GPU run
#   bash benchmarks/gpu.sh --tiny     the same steps at tiny size on the CPU (checks the script; ~3 min)
#
# Goals (issue 12): <= 0.70 s per 1024² image (bf16, H100); >= 1.5x diffusers; phased peak <= 15 GB;
# fp8 peak <= 10 GB.
set -euo pipefail
PY=${PYTHON:-python}
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "--tiny" ]]; then
  PRESET=tiny DEVICE=cpu DTYPE=fp32 SIZE=64 ASSETS=8 REPEAT=2 KREPEAT=3 PEAK=""
else
  PRESET=full DEVICE=cuda DTYPE=bf16 SIZE=1024 ASSETS=32 REPEAT=3 KREPEAT=10 PEAK=measure
fi
WORK=${ZPIPE_BENCH_DIR:-$(mktemp -d)}
export ZPIPE_CACHE="$WORK/cache"  # the fp8 cache file lands here, not in the user's cache
export TOKENIZERS_PARALLELISM=false
step() { echo; echo "=== $* [$(date +%T), ${SECONDS} s]"; }
# A failing or hanging measurement must not cost the others (a GPU session gets one run): each runs under
# a time limit, a failure is reported and the run goes on; the exit status says whether any failed.
FAILED=()
run() {
  local rc=0
  timeout "${STEP_TIMEOUT:-420}" "$@" || rc=$?
  if (( rc != 0 )); then echo "!!! failed (exit $rc): $*"; FAILED+=("$*"); fi
}

step "device"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv 2>/dev/null || true
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu')"
if [[ "$PEAK" == measure ]]; then
  PEAK=$($PY -c "from zpipe.engine.zimage.bench import measure_peak; print(round(measure_peak('cuda', 'bf16'), 1))")
  echo "measured bf16 matmul peak: ${PEAK} TFLOP/s"
fi
PEAK_ARGS=()
[[ -n "$PEAK" ]] && PEAK_ARGS=(--peak "$PEAK")

step "1. planned peak memory, ${PRESET} shapes, ${SIZE}², batch 1 (VAE fp32, then bf16)"
run $PY -m zpipe bench --plan --preset "$PRESET" --size "$SIZE"
run $PY -m zpipe bench --plan --preset "$PRESET" --size "$SIZE" --vae-dtype bf16

step "random ${PRESET} checkpoint in the released format -> $WORK/model"
$PY -c "from zpipe.engine.zimage.bench import write_random_checkpoint as w; w('$PRESET', '$WORK/model', '$DEVICE', '$DTYPE')"
du -sh "$WORK/model"/* || true
$PY -m zpipe models --model "$WORK/model" --size "$SIZE" | head -3

for MODE in resident phased fp8; do
  step "2. ${MODE}: ${SIZE}², batch 1, 8 steps, ${DTYPE}"
  run $PY -m zpipe bench --model "$WORK/model" --size "$SIZE" --device "$DEVICE" --dtype "$DTYPE" \
      --memory "$MODE" "${PEAK_ARGS[@]}"
done
step "2. resident, batch 4"
run $PY -m zpipe bench --model "$WORK/model" --size "$SIZE" --batch 4 --device "$DEVICE" --dtype "$DTYPE" \
    "${PEAK_ARGS[@]}"

step "3. kernels at the DiT's shapes: RoPE, attention, images out"
run $PY benchmarks/zimage_kernels.py --preset "$PRESET" --size "$SIZE" --device "$DEVICE" --dtype "$DTYPE" --repeat "$KREPEAT"

step "4. ours vs diffusers, eager (same weights, same run)"
run $PY benchmarks/engine_vs_diffusers.py --configs "$PRESET" --device "$DEVICE" --dtype "$DTYPE" --repeat "$REPEAT"
step "4. ours vs diffusers, both compiled (regional: our blocks, diffusers' compile_repeated_blocks)"
run $PY benchmarks/engine_vs_diffusers.py --configs "$PRESET" --device "$DEVICE" --dtype "$DTYPE" --repeat "$REPEAT" \
    --compile --compile-reference

step "5. busy fraction: ${ASSETS} assets, tile + pbr + export, ${SIZE}², memory resident"
run $PY benchmarks/busy_fraction.py --model "$WORK/model" --size "$SIZE" --assets "$ASSETS" --device "$DEVICE" \
    --dtype "$DTYPE" --memory resident
step "5. busy fraction, phased: $((ASSETS / 2)) assets (one chunk: 1 text-encoder placement, not one per batch)"
run $PY benchmarks/busy_fraction.py --model "$WORK/model" --size "$SIZE" --assets $((ASSETS / 2)) --device "$DEVICE" \
    --dtype "$DTYPE" --memory phased

step "done"
[[ -z "${ZPIPE_BENCH_DIR:-}" ]] && rm -rf "$WORK"
if (( ${#FAILED[@]} )); then
  printf '!!! %d step(s) failed:\n' "${#FAILED[@]}"; printf '    %s\n' "${FAILED[@]}"
  exit 1
fi
