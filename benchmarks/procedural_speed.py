"""Time per 1024x1024 texture for each procedural family on one core (prints numbers, asserts nothing).

    python benchmarks/procedural_speed.py [--size 1024] [--repeat 3]

Prints wall time and this process's CPU time (best of --repeat). On a shared machine the CPU time is
the steadier number; the engine is single-threaded, so on an idle core the two agree.
"""

from __future__ import annotations

import argparse
import os
import time

# one core: keep any BLAS/OpenMP pools out of the measurement
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from zpipe.engine.base import Request
    from zpipe.engine.procedural import ProceduralEngine
    from zpipe.engine.procedural.families import FAMILIES

    eng = ProceduralEngine()
    eng.generate([Request(prompt="stone", width=64, height=64, seed=0)])  # warm up imports
    print(f"procedural engine {eng.version}: ms per {args.size}x{args.size} texture (best of {args.repeat})")
    print(f"  {'prompt':36s} {'wall':>8s}    {'cpu':>8s}")
    total = total_cpu = 0.0
    prompts = [*FAMILIES, "mossy cracked wet weathered stone", "poster:sunset waves"]
    for prompt in prompts:
        kind = "poster" if prompt.startswith("poster:") else "texture"
        text = prompt.removeprefix("poster:")
        best = best_cpu = float("inf")
        for seed in range(args.repeat):
            t, c = time.perf_counter(), time.process_time()
            eng.generate([Request(prompt=text, width=args.size, height=args.size, seed=seed, kind=kind)])
            best = min(best, time.perf_counter() - t)
            best_cpu = min(best_cpu, time.process_time() - c)
        if prompt in FAMILIES:
            total += best
            total_cpu += best_cpu
        print(f"  {prompt:36s} {best * 1000:8.1f} ms {best_cpu * 1000:8.1f} ms")
    n = len(FAMILIES)
    print(f"  {'mean over families':36s} {total / n * 1000:8.1f} ms {total_cpu / n * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
