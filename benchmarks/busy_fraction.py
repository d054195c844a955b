"""How busy the engine is during a real build: a 32-asset texture recipe with tile, pbr and export (PNG and
export), built by the local executor, with the engine's ``generate`` time against the wall time of the build.
Prints numbers; asserts nothing.

    python benchmarks/busy_fraction.py --model DIR [--size 1024] [--assets 32] [--memory auto] [--device cuda]

busy fraction = time inside ZImageEngine.generate and .prepare (every call: batches, the chunks' prompt
encoding and the tile stage's re-seeds) / wall time of ``build`` (planning, stages, writes, publishing; the contact sheet is left out), with and
without the engine's load time in the wall time. ``text_encoder_placements`` counts how often the text
encoder was put on the device (phased: once per chunk of 128 jobs, plus re-seeds with new prompts).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

MATERIALS = ["granite", "cobblestone", "brick wall", "slate", "marble", "sandstone", "basalt", "limestone"]
VARIANTS = ["clean", "mossy", "cracked", "wet"]


def _adding_time(fn, total: list[float]):
    """``fn``, adding the seconds each call takes to ``total[0]``."""
    def timed(*args, **kwargs):
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            total[0] += time.perf_counter() - t

    return timed


def recipe_text(model: str, size: int, assets: int, engine_options: str) -> str:
    per = len(VARIANTS)
    materials = MATERIALS[: max(1, -(-assets // per))]
    return (
        "name: busy\nkind: textures\n"
        f"engine: {{name: z-image-turbo, model: '{model}'{engine_options}}}\n"
        f"size: {size}\nsteps: 8\nseed: 7\ntile: xy\n"
        "prompt: 'seamless tileable {material} texture, {variant}, top-down, flat lighting, PBR albedo'\n"
        "id: '{material}_{variant}'\n"
        f"matrix:\n  material: [{', '.join(materials)}]\n  variant: [{', '.join(VARIANTS)}]\n"
        "stages:\n  - tile: {max_seam: 2.0, axes: xy}\n  - pbr: {normal_y: opengl}\n"
        "output:\n  formats: [png]\n  naming: '{role}'\n"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="a Z-Image checkpoint folder")
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--assets", type=int, default=32)
    ap.add_argument("--device", default=None)
    ap.add_argument("--dtype", default=None)
    ap.add_argument("--memory", default="auto")
    ap.add_argument("--batch-size", type=int, default=4)
    args = ap.parse_args()

    from zpipe.build import build
    from zpipe.engine.zimage.engine import ZImageEngine
    from zpipe.recipe import load_recipe

    busy, load, prepare = [0.0], [0.0], [0.0]
    made = []  # the engine the build loads, for its placement log
    ZImageEngine.generate = _adding_time(ZImageEngine.generate, busy)
    ZImageEngine.prepare = _adding_time(ZImageEngine.prepare, prepare)
    from_options = ZImageEngine.from_options.__func__
    ZImageEngine.from_options = classmethod(_adding_time(lambda cls, o: made.append(from_options(cls, o)) or made[-1],
                                                         load))
    opts = f", memory: {args.memory}, batch_size: {args.batch_size}"
    opts += f", device: {args.device}" if args.device else ""
    opts += f", dtype: {args.dtype}" if args.dtype else ""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "busy.yaml"
        path.write_text(recipe_text(args.model, args.size, args.assets, opts))
        recipe = load_recipe(path)
        t0 = time.perf_counter()
        result = build(recipe, Path(tmp) / "out", executor="local")
        wall = time.perf_counter() - t0
        sheet = result.timings.get("contact_sheet", 0.0)
        assets = result.manifest["assets"]
    stages: dict[str, float] = {}
    for a in assets:
        for k, v in a["timings"].items():
            if k != "generate":
                stages[k] = stages.get(k, 0.0) + v
    wall_build = wall - sheet
    busy[0] += prepare[0]  # the text-encoder phases of the chunks
    placed = [name for event, name, _ in made[0].pipeline.residency.log if event == "place"] if made else []
    print(json.dumps({
        "assets": len(assets), "built": sum(a["status"] == "built" for a in assets), "size": args.size,
        "wall_s": round(wall, 2), "contact_sheet_s": round(sheet, 2), "engine_load_s": round(load[0], 2),
        "engine_busy_s": round(busy[0], 2), "busy_fraction": round(busy[0] / wall_build, 3),
        "busy_fraction_after_load": round(busy[0] / (wall_build - load[0]), 3), "seconds_per_asset": round(wall_build / len(assets), 3),
        "stages_s": {k: round(v, 2) for k, v in stages.items()},
        "memory": made[0].memory_mode if made else None, "prepare_s": round(prepare[0], 2),
        "text_encoder_placements": placed.count("text_encoder"),
    }, indent=2))


if __name__ == "__main__":
    main()
