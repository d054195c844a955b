"""Wall time of the stock stone recipe, and zpipe's own overhead (planner, store, executor) against the
time spent in the engine and stages, measured in the same run. Prints numbers; asserts nothing.

    python benchmarks/stone_recipe.py [--size 1024] [--engine procedural]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from zpipe.build import build
from zpipe.plan import make_plan
from zpipe.recipe import load_recipe
from zpipe.store import RecipeStore

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--engine", default="procedural")
    args = ap.parse_args()
    recipe = load_recipe(REPO / "recipes" / "stone_textures.yaml", [f"size={args.size}"], args.engine)
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        plan = make_plan(recipe, RecipeStore(out, recipe.name))
        t_plan = time.perf_counter() - t0

        t0 = time.perf_counter()
        result = build(recipe, out)
        wall = time.perf_counter() - t0
        manifest = result.manifest
        engine_s = sum(a["timings"].get("generate", 0.0) for a in manifest["assets"])
        stages_s = sum(v for a in manifest["assets"] for k, v in a["timings"].items() if k != "generate")
        sheet_s = result.timings.get("contact_sheet", 0.0)
        # zpipe's own work: planning, batching, staging writes (fsync), publishing; the contact sheet
        # is a report (it decodes every file again) and is shown on its own line
        overhead = wall - engine_s - stages_s - sheet_s

        t0 = time.perf_counter()
        again = build(recipe, out)
        noop = time.perf_counter() - t0
    n = len(plan.jobs)
    print(json.dumps({
        "assets": n, "size": args.size, "engine": manifest["engine"]["name"],
        "wall_s": round(wall, 3), "per_asset_s": round(wall / n, 4),
        "engine_s": round(engine_s, 3), "stages_s": round(stages_s, 3),
        "contact_sheet_s": round(sheet_s, 3), "publish_s": result.timings.get("publish"),
        "overhead_s": round(overhead, 3), "overhead_fraction_of_wall": round(overhead / wall, 4),
        "plan_s": round(t_plan, 4), "up_to_date_rerun_s": round(noop, 3), "rerun_up_to_date": again.up_to_date,
    }, indent=2))


if __name__ == "__main__":
    main()
