#!/usr/bin/env bash
# Z-Image-Turbo on one GPU: the released 6B shapes with random weights, bf16, 1024x1024, 8 steps,
# batch 1 and 4; our engine (eager and compiled) against diffusers. Prints seconds per image,
# TFLOP/s, MFU against the measured bf16 matmul peak, and peak memory per phase.
#
#   bash benchmarks/gpu.sh            (needs ~40 GB of GPU memory and ~40 GB of host memory)
#
# Goals (issue 3): DiT >= 55% of the measured matmul peak; >= 1.5x diffusers' speed with compile.
set -euo pipefail
PY=${PYTHON:-python}
cd "$(dirname "$0")/.."
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv || true
PEAK=$($PY -c "from zpipe.engine.bench import measure_peak; print(round(measure_peak('cuda', 'bf16'), 1))")
echo "measured bf16 matmul peak: ${PEAK} TFLOP/s"
for B in 1 4; do
  echo "=== batch ${B}: ours, eager"
  $PY -m zpipe.engine.bench --preset full --size 1024 --batch "$B" --dtype bf16 --device cuda --peak "$PEAK"
  echo "=== batch ${B}: ours, compiled"
  $PY -m zpipe.engine.bench --preset full --size 1024 --batch "$B" --dtype bf16 --device cuda --peak "$PEAK" \
      --compile --warmup 2
  echo "=== batch ${B}: ours vs diffusers (same weights), eager then compiled"
  $PY benchmarks/engine_vs_diffusers.py --configs full --device cuda --dtype bf16 --batch "$B" --repeat 3
  $PY benchmarks/engine_vs_diffusers.py --configs full --device cuda --dtype bf16 --batch "$B" --repeat 3 --compile
done
