"""A build: plan, execute, stage each finished asset, publish one version. The driver is the only writer."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import zpipe
from zpipe.canonical import sha256_hex
from zpipe.executors.job import Outcome
from zpipe.plan import Plan, PlannedJob, make_plan
from zpipe.recipe.model import Recipe
from zpipe.store import RecipeStore

log = logging.getLogger(__name__)
Event = dict[str, Any]


@dataclass
class BuildResult:
    recipe: str
    version: str | None  # the new version, or the latest one when up to date
    path: str | None
    built: int = 0
    reused: int = 0
    failed: int = 0
    up_to_date: bool = False
    manifest: dict[str, Any] | None = None
    failures: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)  # seconds: publish, contact_sheet

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def _record(pj: PlannedJob, plan: Plan, outcome: Outcome) -> dict[str, Any]:
    job = pj.job
    engine = {k: v for k, v in plan.engine.items() if k != "fallback" and v is not None}
    if outcome.engine_info:
        engine["info"] = outcome.engine_info
    files, sha = {}, {}
    outputs = {}
    # export reports which files it wrote for each role; the first one of a role is its primary file
    role_by_file = {f: role for role, m in (outcome.metrics.get("export") or {}).items()
                    if isinstance(m, dict) for f in m.get("files", [])}
    for name, data in outcome.files.items():
        rel = f"{job.id}/{name}"
        digest = sha256_hex(data)
        outputs[rel] = digest
        role = role_by_file.get(name, name.split(".", 1)[0])
        if role not in files:
            files[role], sha[role] = rel, digest
    record = {"id": job.id, "key": pj.key, "status": outcome.status, "kind": job.kind, "engine": engine,
              "seed": job.seed, "prompt": job.prompt, "size": [job.width, job.height], "steps": job.steps,
              "tile": job.tile, "files": files, "sha256": sha, "outputs": outputs,
              "metrics": outcome.metrics, "timings": outcome.timings}
    if outcome.error:
        record["error"] = outcome.error
    return record


def make_executor(name: str | Callable[..., Any], plan: Plan, **options):
    if callable(name):  # a factory: `zpipe serve` lends executors whose engines stay loaded between builds
        return name(plan, **options)
    if name == "ray":
        from zpipe.executors.ray_executor import RayExecutor

        return RayExecutor(plan.engine["name"], plan.recipe.engine_options, **options)
    from zpipe.executors.local import LocalExecutor

    return LocalExecutor(plan.engine["name"], plan.recipe.engine_options)


def build(recipe: Recipe, out: str | Path, *, force: bool = False, wait: bool = True, executor: str | Callable[..., Any] = "local",
          executor_options: dict[str, Any] | None = None, on_event: Callable[[Event], None] | None = None) -> BuildResult:
    """Build ``recipe`` into ``out``. Raises ``LockBusy`` (wait=False) or ``EngineError`` (bad engine setup).

    ``executor`` is ``local``, ``ray``, or a factory ``f(plan, **executor_options)`` with a ``name``.
    """
    emit = on_event or (lambda e: None)
    store = RecipeStore(out, recipe.name)
    with store.lock(wait=wait, on_wait=lambda msg: emit({"event": "waiting", "message": msg})):
        plan = make_plan(recipe, store, force=force)
        if plan.engine.get("fallback"):
            emit({"event": "warning", "message": f"engine auto: using procedural ({plan.engine['fallback']})"})
        emit({"event": "start", "recipe": recipe.name, "total": len(plan.jobs), "build": plan.count("build"),
              "reuse": plan.count("reuse"), "resume": plan.count("resume"), "engine": plan.engine["name"],
              "executor": getattr(executor, "name", executor)})
        latest = plan.latest
        if plan.up_to_date:
            result = BuildResult(recipe.name, latest, str(store.root / latest), reused=len(plan.jobs), up_to_date=True)
            emit({"event": "done", "version": latest, "path": result.path, "built": 0, "reused": len(plan.jobs),
                  "failed": 0, "up_to_date": True})
            return result

        entries: dict[str, dict[str, Any]] = {}
        latest_assets = {a["key"]: a for a in (store.latest_manifest() or {}).get("assets", [])}
        for pj in plan.jobs:
            if pj.action == "reuse":
                entries[pj.job.id] = {**latest_assets[pj.key], "status": "reused", "_source": ("version", latest)}
                emit({"event": "asset_done", "id": pj.job.id, "status": "reused", "key": pj.key})
            elif pj.action == "resume":
                entries[pj.job.id] = {**store.staged_record(pj.key), "_source": ("staging", pj.key)}
                emit({"event": "asset_done", "id": pj.job.id, "status": "built", "resumed": True, "key": pj.key})

        todo = [pj for pj in plan.jobs if pj.action == "build"]
        if todo:
            runner = make_executor(executor, plan, **(executor_options or {}))
            try:
                for pj, outcome in runner.execute(todo):
                    record = _record(pj, plan, outcome)
                    if outcome.status == "built":
                        store.stage_asset(pj.key, outcome.files, record)
                        entries[pj.job.id] = {**record, "_source": ("staging", pj.key)}
                    else:
                        entries[pj.job.id] = {**record, "_source": None}
                    emit({"event": "asset_done", "id": pj.job.id, "status": outcome.status, "key": pj.key,
                          "seconds": round(sum(outcome.timings.values()), 3), "error": outcome.error,
                          **({"worker": outcome.engine_info.get("worker")} if outcome.engine_info.get("worker") else {})})
                if getattr(runner, "stats", None):  # executors with several workers: per-worker throughput
                    emit({"event": "workers", **runner.stats})
            finally:
                runner.close()

        ordered = [entries[pj.job.id] for pj in plan.jobs]
        summary = {s: sum(1 for e in ordered if e["status"] == s) for s in ("built", "reused", "failed")}
        failures = {e["id"]: e.get("error", "") for e in ordered if e["status"] == "failed"}
        if latest and not summary["built"] and not plan.removed and _same_result(ordered, store.manifest(latest)):
            # Only assets that failed before were retried, and they failed again: nothing new to publish.
            store.prune_staging()
            result = BuildResult(recipe.name, latest, str(store.root / latest), reused=summary["reused"],
                                 failed=summary["failed"], up_to_date=True, failures=failures)
            emit({"event": "done", "version": latest, "path": result.path, "built": 0, "reused": result.reused,
                  "failed": result.failed, "up_to_date": True})
            return result
        head = {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "recipe": {"name": recipe.name, "path": recipe.path, "sha256": recipe.sha256, "kind": recipe.kind},
                "zpipe_version": zpipe.__version__, "engine": {k: v for k, v in plan.engine.items() if v is not None},
                "previous": latest, "removed": plan.removed, "summary": summary}
        timings: dict[str, float] = {}

        def reports(manifest: dict[str, Any], folder: Path) -> dict[str, bytes]:
            t = time.perf_counter()
            files = _contact_sheet(manifest, folder)
            timings["contact_sheet"] = round(time.perf_counter() - t, 4)
            return files

        t0 = time.perf_counter()
        version = store.publish(ordered, head, extra_files=reports)
        timings["publish"] = round(time.perf_counter() - t0 - timings.get("contact_sheet", 0.0), 4)
        path = store.root / version
        result = BuildResult(recipe.name, version, str(path), built=summary["built"], reused=summary["reused"],
                             failed=summary["failed"], manifest=store.manifest(version),
                             failures=failures, timings=timings)
        emit({"event": "done", "version": version, "path": str(path), "built": result.built,
              "reused": result.reused, "failed": result.failed, "up_to_date": False})
        return result


def _same_result(entries: list[dict[str, Any]], manifest: dict[str, Any]) -> bool:
    """Whether publishing ``entries`` would repeat ``manifest``: same ids, keys, and failures."""
    def outcome(e: dict[str, Any]) -> tuple:
        return e["id"], e["key"], e["status"] == "failed", e.get("error") if e["status"] == "failed" else None

    return [outcome(e) for e in entries] == [outcome(a) for a in manifest.get("assets", [])]


def _contact_sheet(manifest: dict[str, Any], folder: Path) -> dict[str, bytes]:
    """The version's contact sheet and index.html (skipped, with a log line, if the report fails)."""
    try:
        from zpipe.report.contact_sheet import render
    except ImportError:
        return {}
    try:
        return render(manifest, lambda rel: (folder / rel).read_bytes())
    except Exception:  # noqa: BLE001 - a report must never cost the user their build
        log.exception("contact sheet failed")
        return {}
