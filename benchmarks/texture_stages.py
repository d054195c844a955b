"""Per-stage time of the texture stages on one 1024x1024 texture, on one CPU core.

    python benchmarks/texture_stages.py [--size 1024] [--repeat 5]

Prints the best of ``--repeat`` runs per stage (milliseconds) and the issue's two goals:
seam check + PBR + export (PNG) < 0.5 s, and x2 Lanczos upscale < 0.3 s. Asserts nothing.
"""

from __future__ import annotations

import argparse
import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")


import cv2  # noqa: E402
import numpy as np  # noqa: E402
from timing import best  # noqa: E402


def albedo(size: int) -> tuple[np.ndarray, str]:
    try:
        from zpipe.engine import registry
        from zpipe.engine.base import Request

        eng = registry.create("procedural")
        req = Request(prompt="grey cobblestone", width=size, height=size, seed=1, tile="xy")
        return eng.generate([req])[0].image.astype(np.float32), "procedural engine"
    except Exception as exc:  # noqa: BLE001 - fall back to synthetic noise
        from zpipe.texture import wrap

        rng = np.random.default_rng(0)
        img = sum(wrap.resize(rng.random((2**k, 2**k, 3)).astype(np.float32), size, size, "cubic") * 0.5**k
                  for k in range(2, 8))
        img = (img - img.min()) / (img.max() - img.min())
        return img.astype(np.float32), f"synthetic noise ({exc.__class__.__name__})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    try:
        import etcpak

        etcpak.set_use_multithreading(False) if hasattr(etcpak, "set_use_multithreading") else None
    except ImportError:
        pass

    from zpipe.recipe.model import Job
    from zpipe.stages.base import Asset, StageContext, apply
    from zpipe.stages.export import ExportStage
    from zpipe.stages.pbr import PbrStage
    from zpipe.stages.tile import TileStage
    from zpipe.stages.upscale import UpscaleStage
    from zpipe.texture import repair

    img, source = albedo(args.size)
    ctx = StageContext(generate=lambda reqs: [], capabilities=frozenset(), request=None)

    def defaults(stage, **kw):
        return stage.resolve(kw)

    job = Job(id="bench", kind="textures", prompt="stone", seed=1, width=args.size, height=args.size, steps=8,
              tile="xy", stages=(), output={})

    def fresh(images=None):
        return Asset(job, images=dict(images or {"albedo": img}))

    rows: list[tuple[str, float]] = []
    t_tile, res = best(lambda: TileStage().run(fresh(), defaults(TileStage), ctx), args.repeat)
    rows.append(("tile: seam check (pass)", t_tile))
    t_pbr, pbr_res = best(lambda: PbrStage().run(fresh(), defaults(PbrStage), ctx), args.repeat)
    rows.append(("pbr: height+normal+roughness+ao", t_pbr))
    full = fresh()
    apply(full, pbr_res, "pbr")
    t_png, exp = best(lambda: ExportStage().run(full, defaults(ExportStage), ctx), args.repeat)
    rows.append(("export: png x5 (height 16-bit), seam per role", t_png))
    t_up, _ = best(lambda: UpscaleStage().run(fresh(), defaults(UpscaleStage, mode="lanczos"), ctx), args.repeat)
    rows.append(("upscale: x2 lanczos (wrap)", t_up))
    seamed = np.ascontiguousarray(np.roll(img, (args.size // 3, args.size // 5), (0, 1))[:, ::-1] * 0.8
                                  + 0.2 * np.linspace(0, 1, args.size, dtype=np.float32)[None, :, None])
    t_rep, _ = best(lambda: repair.blend_repair(seamed, "xy", 0.5), args.repeat)
    rows.append(("repair: classical blend (xy)", t_rep))
    t_dds, _ = best(lambda: ExportStage().run(full, defaults(ExportStage, formats=["dds"]), ctx),
                    max(1, args.repeat // 2))
    rows.append(("export: dds x5 (BC7/BC5/BC4/R16) + mips", t_dds))
    t_jpg, _ = best(lambda: ExportStage().run(full, defaults(ExportStage, formats=["jpeg"]), ctx), args.repeat)
    rows.append(("export: jpeg x5", t_jpg))

    print(f"texture stages, {args.size}x{args.size}, 1 thread, best of {args.repeat}; input: {source}")
    for name, t in rows:
        print(f"  {name:<48} {t * 1000:8.1f} ms")
    total = t_tile + t_pbr + t_png
    print(f"  {'goal: seam check + pbr + export png < 500 ms':<48} {total * 1000:8.1f} ms"
          f"  {'OK' if total < 0.5 else 'OVER'}")
    print(f"  {'goal: x2 lanczos upscale < 300 ms':<48} {t_up * 1000:8.1f} ms  {'OK' if t_up < 0.3 else 'OVER'}")
    sizes = {k: len(v) for k, v in exp.files.items()}
    print("  png bytes:", ", ".join(f"{k} {v // 1024} KiB" for k, v in sizes.items()))


if __name__ == "__main__":
    main()
