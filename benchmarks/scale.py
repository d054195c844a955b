"""Studio scale: peak memory, end-of-build share and wall time of builds, and planning time (prints, asserts nothing).

    python benchmarks/scale.py               # builds of 200 and 2,000 assets; planning 10,000 and 100,000
    python benchmarks/scale.py --quick       # builds of 50 and 200 assets; planning 2,000 and 10,000
    python benchmarks/scale.py --builds 200 2000 10000 --plans 10000 100000

Builds use the procedural engine at 64x64 with no stages, so the numbers show the pipeline's own cost
(planning, staging, publishing, reports), not an engine's. Each build runs in a fresh child process
that reports its own peak resident memory, so one measurement cannot inflate the next.

* **end of build**: from the last finished asset to the ``done`` event (publish, manifest, reports),
  as a share of the build's wall time (target: at most 10%).
* **peak**: the child's peak RSS, and its ratio to the first (smallest) build's peak (target: 2,000
  assets at most 1 GB and at most 1.5x the 200-asset build).
* **plan**: loading the recipe (what ``zpipe validate`` does) and keying and matching every asset
  (``make_plan``) against an empty store; targets: 10,000 assets in at most 1 s, 100,000 in at most 5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RECIPE = """\
name: scale
engine: procedural
size: 64
limits: {assets: 1000000}
prompt: "weathered stone texture, {material}, variant {n}"
id: "{material}_{n}"
matrix:
  material: [{materials}]
  n: [{values}]
"""


def write_recipe(folder: Path, n: int) -> Path:
    """A recipe of ``n`` assets as studios write them: a matrix of a few lists (materials x variants)."""
    materials = min(n, 100)
    text = (RECIPE.replace("{materials}", ", ".join(f"m{i}" for i in range(materials)))
            .replace("{values}", ", ".join(str(i) for i in range(n // materials))))
    path = folder / f"scale_{n}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def peak_rss_bytes() -> int:
    """This process's peak resident memory: resource on POSIX, psutil (if installed) on Windows."""
    try:
        import resource
    except ImportError:  # Windows
        import psutil

        return int(psutil.Process().memory_info().peak_wset)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # macOS: bytes, Linux: KiB


def child_build(recipe_path: str, out: str) -> None:
    from zpipe.build import build
    from zpipe.recipe import load_recipe

    marks: dict[str, float] = {}

    def on_event(event):
        now = time.perf_counter()
        if event["event"] == "asset_done":
            marks["last_asset"] = now
        elif event["event"] in ("start", "done"):
            marks[event["event"]] = now

    t0 = time.perf_counter()
    result = build(load_recipe(recipe_path), out, on_event=on_event)
    wall = time.perf_counter() - t0
    end = marks["done"] - marks.get("last_asset", marks["start"])
    print(json.dumps({"wall": wall, "end": end, "built": result.built, "peak": peak_rss_bytes(),
                      "timings": result.timings}))


def child_plan(recipe_path: str) -> None:
    from zpipe.plan import make_plan
    from zpipe.recipe import load_recipe
    from zpipe.store import RecipeStore

    t0 = time.perf_counter()
    recipe = load_recipe(recipe_path)
    t1 = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        plan = make_plan(recipe, RecipeStore(out, recipe.name))
    t2 = time.perf_counter()
    print(json.dumps({"load": t1 - t0, "plan": t2 - t1, "jobs": len(plan.jobs), "peak": peak_rss_bytes()}))


def run_child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        sys.exit(f"child {' '.join(args)} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, for a quick check")
    ap.add_argument("--builds", type=int, nargs="*", default=None, help="asset counts to build")
    ap.add_argument("--plans", type=int, nargs="*", default=None, help="asset counts to plan")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        {"build": child_build, "plan": child_plan}[args.child[0]](*args.child[1:])
        return
    builds = args.builds if args.builds is not None else ([50, 200] if args.quick else [200, 2000])
    plans = args.plans if args.plans is not None else ([2000, 10000] if args.quick else [10000, 100000])
    with tempfile.TemporaryDirectory(prefix="zpipe-scale-") as tmp:
        folder = Path(tmp)
        if builds:
            print(f"{'assets':>8} {'wall s':>8} {'end s':>7} {'end %':>6} {'peak MB':>8} {'peak ×':>7}")
        first_peak = None
        for n in builds:
            r = run_child("build", str(write_recipe(folder, n)), str(folder / f"out_{n}"))
            first_peak = first_peak or r["peak"]
            print(f"{n:>8} {r['wall']:>8.2f} {r['end']:>7.2f} {100 * r['end'] / r['wall']:>5.1f}% "
                  f"{r['peak'] / 2**20:>8.0f} {r['peak'] / first_peak:>6.2f}x", flush=True)
        if plans:
            print(f"{'assets':>8} {'load s':>8} {'plan s':>8} {'total s':>8} {'peak MB':>8}")
        for n in plans:
            r = run_child("plan", str(write_recipe(folder, n)))
            print(f"{n:>8} {r['load']:>8.2f} {r['plan']:>8.2f} {r['load'] + r['plan']:>8.2f} "
                  f"{r['peak'] / 2**20:>8.0f}", flush=True)
    print(f"(python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
