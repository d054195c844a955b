"""The local executor keeps the engine busy: CPU stages overlap the next engine batch, files stay the same."""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from zpipe.engine.base import Generated
from zpipe.executors.local import LocalExecutor
from zpipe.plan import make_plan
from zpipe.recipe import load_recipe
from zpipe.recipe.model import StageSpec
from zpipe.stages import registry
from zpipe.stages.base import Stage, StageResult
from zpipe.store import RecipeStore

RECIPE = """\
name: overlap
engine: {name: procedural, batch_size: 4}
size: 64
prompt: "stone {n}"
id: "s{n}"
matrix:
  n: [%s]
"""


class SleepyEngine:
    """Stands in for a GPU engine: 200 ms per image, without holding the GIL (as CUDA kernels run)."""

    name = "sleepy"
    capabilities = frozenset()

    def generate(self, requests):
        time.sleep(0.2 * len(requests))
        return [Generated(np.full((r.height, r.width, 3), (r.seed % 255) / 255, np.float32), {}) for r in requests]


class HundredFiftyMs(Stage):
    """A CPU stage of about 150 ms per asset (waits like one that is in numpy or zlib, GIL released)."""

    name = "slow_test"
    version = "1"
    params: dict = {}

    def run(self, asset, params, ctx):
        time.sleep(0.15)
        return StageResult(images={"albedo": np.ascontiguousarray(asset.images["albedo"][::-1])})


def planned(write_recipe, tmp_path, n: int, stages=()):
    recipe = load_recipe(write_recipe(RECIPE % ", ".join(map(str, range(n)))))
    plan = make_plan(recipe, RecipeStore(tmp_path / "out", recipe.name))
    for pj in plan.jobs:
        pj.job = dataclasses.replace(pj.job, stages=tuple(stages))
    return recipe, plan


def test_engine_busy_at_least_95_percent_with_stages_overlapped(write_recipe, tmp_path, monkeypatch):
    real_get = registry.get
    monkeypatch.setattr(registry, "get", lambda name: HundredFiftyMs if name == "slow_test" else real_get(name))
    recipe, plan = planned(write_recipe, tmp_path, 40, [StageSpec("slow_test", {})])
    executor = LocalExecutor("procedural", recipe.engine_options, stage_threads=4)
    executor._engine = SleepyEngine()
    t0 = time.perf_counter()
    outcomes = list(executor.execute(plan.jobs))
    wall = time.perf_counter() - t0
    assert sorted(pj.job.id for pj, _ in outcomes) == sorted(pj.job.id for pj in plan.jobs)
    assert all(o.status == "built" and o.sha256 for _, o in outcomes)
    local = executor.stats["workers"]["local"]
    assert local["jobs"] == 40 and local["busy_fraction"] >= 0.95, local
    # serial would take 40 x (0.2 + 0.15) = 14 s; overlapped it is the engine's 8 s plus one stage tail
    assert wall < 0.2 * 40 / 0.95 + 0.5


def test_overlapped_files_are_byte_identical_to_a_serial_run(write_recipe, tmp_path):
    stages = [StageSpec("tile", {}), StageSpec("pbr", {})]
    recipe, plan = planned(write_recipe, tmp_path, 10, stages)
    runs = []
    for threads in (0, 3):
        executor = LocalExecutor("procedural", recipe.engine_options, stage_threads=threads)
        runs.append({pj.job.id: (o.status, o.files) for pj, o in executor.execute(plan.jobs)})
        assert executor.stats["workers"]["local"]["stage_threads"] == threads
    serial, overlapped = runs
    assert serial == overlapped and all(status == "built" and len(files) >= 4 for status, files in serial.values())


def test_an_engine_error_stops_the_overlapped_build(write_recipe, tmp_path):
    from zpipe.engine.base import EngineError

    class Broken(SleepyEngine):
        def generate(self, requests):
            raise EngineError("no weights here")

    recipe, plan = planned(write_recipe, tmp_path, 3)
    executor = LocalExecutor("procedural", recipe.engine_options, stage_threads=2)
    executor._engine = Broken()
    try:
        list(executor.execute(plan.jobs))
    except EngineError as exc:
        assert "no weights here" in str(exc)
    else:
        raise AssertionError("the EngineError did not reach the driver")


def test_the_workers_event_reports_the_local_engine_busy_fraction(write_recipe, tmp_path):
    from zpipe.build import build

    events = []
    build(load_recipe(write_recipe(RECIPE % "1, 2, 3")), tmp_path / "out", on_event=events.append)
    workers = [e for e in events if e["event"] == "workers"]
    assert len(workers) == 1 and workers[0]["workers"]["local"]["jobs"] == 3
    assert 0 < workers[0]["workers"]["local"]["busy_fraction"] <= 1
