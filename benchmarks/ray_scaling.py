"""Ray executor scaling and overhead (prints numbers, asserts nothing).

    python benchmarks/ray_scaling.py [--jobs 48] [--size 256] [--cpus N] [--gpu-images 64]

1. Jobs per second with 1 and with 2 engine workers on CPU (procedural engine, full builds into a
   temporary store, the local Ray cluster already running so ``ray.init`` is not counted; actor start is).
2. Per-job overhead of the Ray executor against the local one, from the *marginal* time of a job:
   (t(2n jobs) - t(n jobs)) / n for each executor, on tiny 64 px jobs and 1 worker, so that fixed costs
   (actor and worker-process start) cancel out. Goal: < 50 ms per job. Measured twice: full builds
   (the driver's staging writes overlap with the workers, so Ray can come out ahead), and the executors
   alone, nothing written (the plain cost of the actor calls, tasks and object transfers per job).
3. With a GPU and Z-Image weights configured (``engine: auto`` resolving to z-image-turbo): the engine's
   busy fraction (seconds inside ``generate`` / wall time, per actor) during a ``--gpu-images`` build.
   Goal: >= 95%. Skipped, with the reason printed, elsewhere.

On a shared machine, run it twice and read the steadier numbers; the executor logs per-worker
throughput as it goes when run with ``-v``.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

MATERIALS = ["granite", "slate", "brick wall", "marble", "sandstone", "cobblestone", "basalt", "limestone"]


def recipe(folder: Path, name: str, jobs: int, size: int, batch: int, engine: str = "procedural"):
    from zpipe.recipe import load_recipe

    variants = [f"v{i}" for i in range(-(-jobs // len(MATERIALS)))]
    text = (f"name: {name}\nengine: {{name: {engine}, batch_size: {batch}}}\nsize: {size}\nseed: 3\n"
            f"prompt: \"{{material}} texture, {{variant}}\"\n"
            f"matrix:\n  material: [{', '.join(MATERIALS)}]\n  variant: [{', '.join(variants)}]\n")
    path = folder / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    r = load_recipe(path)
    return r if len(r.jobs) == jobs else _trim(r, jobs)


def _trim(r, jobs):
    from dataclasses import replace

    return replace(r, jobs=r.jobs[:jobs])


def timed_build(r, out: Path, executor: str, options: dict | None = None) -> tuple[float, float]:
    """(wall seconds of the build, steady jobs/s: jobs done after the first one / time since it)."""
    from zpipe.build import build

    done: list[float] = []

    def on_event(e):
        if e["event"] == "asset_done":
            done.append(time.perf_counter())

    t0 = time.perf_counter()
    result = build(r, out, force=True, executor=executor, executor_options=options or {}, on_event=on_event)
    seconds = time.perf_counter() - t0
    assert result.built == len(r.jobs), result.failures
    steady = (len(done) - 1) / (done[-1] - done[0]) if len(done) > 1 and done[-1] > done[0] else float("nan")
    return seconds, steady


def executor_only(r, out: Path, name: str) -> float:
    """Seconds for an executor to hand over every outcome of ``r`` (nothing is written)."""
    from zpipe.executors.choose import make_executor
    from zpipe.plan import make_plan
    from zpipe.store import RecipeStore

    plan = make_plan(r, RecipeStore(out, r.name), force=True)
    runner = make_executor(name, plan, **({"workers": 1} if name == "ray" else {}))
    t0 = time.perf_counter()
    try:
        n = sum(1 for _ in runner.execute(plan.jobs))
    finally:
        runner.close()
    assert n == len(plan.jobs)
    return time.perf_counter() - t0


def busy_fraction(r, out: Path, options: dict) -> dict:
    """Run the executor directly (the driver stages nothing) and return its per-worker stats."""
    from zpipe.executors.ray_executor import RayExecutor
    from zpipe.plan import make_plan
    from zpipe.store import RecipeStore

    plan = make_plan(r, RecipeStore(out, r.name), force=True)
    ex = RayExecutor(plan.engine["name"], r.engine_options, **options)
    try:
        n = sum(1 for _ in ex.execute(plan.jobs))
    finally:
        ex.close()
    return {"jobs": n, **ex.stats}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=48, help="jobs for the throughput runs")
    ap.add_argument("--size", type=int, default=256, help="image size for the throughput runs")
    ap.add_argument("--cpus", type=int, default=os.cpu_count(), help="CPUs of the local Ray cluster")
    ap.add_argument("--overhead-jobs", type=int, default=24, help="n of the marginal-time measurement")
    ap.add_argument("--gpu-images", type=int, default=64)
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private, throw-away local cluster

    import ray

    from zpipe.executors.choose import visible_gpus

    t0 = time.perf_counter()
    ray.init(num_cpus=args.cpus, include_dashboard=False, logging_level=logging.WARNING)
    print(f"ray {ray.__version__}: local cluster with {args.cpus} CPUs started in {time.perf_counter() - t0:.1f} s "
          "(not counted below)")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            r = recipe(tmp, "scaling", args.jobs, args.size, batch=2)
            timed_build(r, tmp / "warm", "local")  # imports and caches, both paths
            t_local, s_local = timed_build(r, tmp / "local", "local")
            print(f"\n1. throughput, {args.jobs} jobs of {args.size} px, procedural engine, batch 2 "
                  f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
            print("   steady = jobs after the first / time since the first; overall includes actor start")
            print(f"   local executor        steady {s_local:6.1f} jobs/s   overall {args.jobs / t_local:6.1f} jobs/s "
                  f"({t_local:.2f} s)")
            for workers in (1, 2):
                t, steady = timed_build(r, tmp / f"ray{workers}", "ray", {"workers": workers})
                print(f"   ray, {workers} CPU worker(s)   steady {steady:6.1f} jobs/s   overall {args.jobs / t:6.1f} "
                      f"jobs/s ({t:.2f} s)")

            n = args.overhead_jobs
            small, double = recipe(tmp, "small", n, 64, 1), recipe(tmp, "double", 2 * n, 64, 1)
            marginal = {}
            for name, ex, opts in (("local", "local", None), ("ray", "ray", {"workers": 1})):
                t1, _ = timed_build(small, tmp / f"o1{name}", ex, opts)
                t2, _ = timed_build(double, tmp / f"o2{name}", ex, opts)
                marginal[name] = (t2 - t1) / n
            print(f"\n2. per-job time at the margin, 64 px jobs, batch 1, 1 worker ({n} vs {2 * n} jobs)")
            print(f"   local {1000 * marginal['local']:7.1f} ms/job   ray {1000 * marginal['ray']:7.1f} ms/job   "
                  f"overhead {1000 * (marginal['ray'] - marginal['local']):+7.1f} ms/job (goal < 50)")

            # the executors alone (no store writes to overlap with), on the smallest jobs (64 px)
            tiny, tiny2 = recipe(tmp, "tiny", n, 64, 1), recipe(tmp, "tiny2", 2 * n, 64, 1)
            bare = {name: (executor_only(tiny2, tmp / "b2", name) - executor_only(tiny, tmp / "b1", name)) / n
                    for name in ("local", "ray")}
            print(f"   executors alone (nothing written): local {1000 * bare['local']:6.1f} ms/job   ray "
                  f"{1000 * bare['ray']:6.1f} ms/job   overhead {1000 * (bare['ray'] - bare['local']):+6.1f} ms/job")

            stats = busy_fraction(r, tmp / "busy", {"workers": 1})
            w = next(iter(stats["workers"].values()))
            print(f"   engine busy on 1 CPU worker: {100 * w['busy_fraction']:.0f}% of {stats['wall']:.2f} s wall, "
                  f"{100 * w['serving_busy_fraction']:.0f}% while serving (CPU engine; stages share the cores)")

            print(f"\n3. GPU busy fraction, {args.gpu_images} images")
            gpus = visible_gpus()
            if not gpus:
                print("   skipped: no GPU visible")
                return
            from zpipe.engine.registry import resolve_name

            name, reason = resolve_name("auto", {})
            if name != "z-image-turbo":
                print(f"   skipped: {reason}")
                return
            g = recipe(tmp, "gpu", args.gpu_images, 1024, batch=4, engine="auto")
            stats = busy_fraction(g, tmp / "gpu", {})
            for wname, s in stats["workers"].items():
                print(f"   {wname}: {s['jobs']} images, {s['jobs_per_s']:.2f} img/s, engine busy "
                      f"{100 * s['serving_busy_fraction']:.1f}% from its first batch to its last (goal >= 95%), "
                      f"{100 * s['busy_fraction']:.1f}% of {stats['wall']:.1f} s wall with the model load")
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
