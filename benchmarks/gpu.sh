#!/usr/bin/env bash
# Z-Image-Turbo on one GPU (placeholder until the prepared script lands): the released 6B shapes, random weights.
set -euo pipefail
PY=${PYTHON:-python}
cd "$(dirname "$0")/.."
for MODE in resident phased fp8; do
  $PY -m zpipe.cli bench --preset full --size 1024 --dtype bf16 --device cuda --memory "$MODE" --peak measure
done
