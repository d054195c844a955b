"""A build: plan, execute, stage each finished asset, publish one version. The driver is the only writer."""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import zpipe
from zpipe.canonical import sha256_hex
from zpipe.executors.choose import check_executor, make_executor
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
    failures: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)  # seconds: publish, contact_sheet

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    @functools.cached_property
    def manifest(self) -> dict[str, Any] | None:
        """The new version's manifest, read when asked for (None when nothing was published)."""
        if self.up_to_date or not self.path:
            return None
        path = Path(self.path)
        return RecipeStore(path.parent.parent, path.parent.name).manifest(path.name)


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
        digest = outcome.sha256.get(name) or sha256_hex(data)
        outputs[rel] = digest
        role = role_by_file.get(name, name.split(".", 1)[0])
        if role not in files:
            files[role], sha[role] = rel, digest
    record = {"id": job.id, "key": pj.key, "status": outcome.status, "kind": job.kind, "engine": engine,
              "seed": job.seed, "prompt": job.prompt, "size": [job.width, job.height], "steps": job.steps,
              "tile": job.tile, "stages": [[st.name, st.params] for st in job.stages], "output": job.output,
              "files": files, "sha256": sha, "outputs": outputs,
              "metrics": outcome.metrics, "timings": outcome.timings}
    if outcome.error:
        record["error"] = outcome.error
    return record


def build(recipe: Recipe, out: str | Path, *, force: bool = False, wait: bool = True,
          executor: str | Callable[..., Any] = "local",
          executor_options: dict[str, Any] | None = None, on_event: Callable[[Event], None] | None = None,
          only: list[str] | None = None, verify_reuse: bool = False) -> BuildResult:
    """Build ``recipe`` into ``out``. Raises ``LockBusy`` (wait=False), ``EngineError`` (bad engine setup),
    ``SelectionError`` (``only`` matches nothing) or ``ValueError`` (an unknown executor).

    ``executor`` is ``local``, ``ray``, or a factory ``f(plan, **executor_options)`` with a ``name``.

    With ``only`` (asset ids or globs), only those assets are built or reused; the others keep what the
    latest version has, unchanged.

    ``verify_reuse`` hashes every file before it is reused, trusting no stat (see zpipe.integrity).
    """
    check_executor(executor)
    emit = on_event or (lambda e: None)
    store = RecipeStore(out, recipe.name)
    with store.lock(wait=wait, on_wait=lambda msg: emit({"event": "waiting", "message": msg})):
        plan = make_plan(recipe, store, force=force, only=only, verify=verify_reuse)
        if plan.engine.get("fallback"):
            emit({"event": "warning", "message": f"engine auto: using procedural ({plan.engine['fallback']})"})
        emit({"event": "start", "recipe": recipe.name, "total": len(plan.jobs), "build": plan.count("build"),
              "reuse": plan.count("reuse"), "resume": plan.count("resume"), "carry": plan.count("carry"),
              "engine": plan.engine["name"], "executor": getattr(executor, "name", executor)})
        latest = plan.latest
        if plan.up_to_date:
            reused = plan.count("reuse") + plan.count("carry")
            result = BuildResult(recipe.name, latest, str(store.root / latest), reused=reused, up_to_date=True)
            emit({"event": "done", "version": latest, "path": result.path, "built": 0, "reused": reused,
                  "failed": 0, "up_to_date": True})
            return result
        return _Build(recipe, store, plan, emit).run(executor, executor_options or {})


class _Build:
    """One build after planning: gather each asset's record, publish them as one version.

    Only small per-asset records (no bytes, no images) are kept: files go to staging as each asset is
    done, and the contact sheet pages are drawn meanwhile (:class:`zpipe.report.contact_sheet.Pages`).
    """

    def __init__(self, recipe: Recipe, store: RecipeStore, plan: Plan, emit: Callable[[Event], None]):
        self.recipe, self.store, self.plan, self.emit = recipe, store, plan, emit
        self.version = store.next_version()
        self.records: dict[str, tuple[dict[str, Any], tuple | None]] = {}
        self.position = {pj.job.id: i for i, pj in enumerate(plan.jobs)}
        self.report_dir = store.staging / f"tmp-report-{uuid.uuid4().hex[:8]}"
        self.pages = _pages(self.report_dir, f"{recipe.name} {self.version}", len(plan.jobs))

    def keep(self, pj: PlannedJob, record: dict[str, Any], source: tuple | None) -> None:
        self.records[pj.job.id] = (record, source)
        if self.pages is not None:
            where = self.store.source_dir(source) if source else None
            self.pages.add(self.position[pj.job.id], record, _reader(where))

    def run(self, executor: str | Callable[..., Any], executor_options: dict[str, Any]) -> BuildResult:
        try:
            self._known()
            self._execute(executor, executor_options)
            return self._publish()
        finally:
            if self.pages is not None:
                self.pages.close()

    def _known(self) -> None:
        """Assets that need no engine: reused from a version, resumed from staging, carried over."""
        plan, store = self.plan, self.store
        for pj in plan.jobs:
            if pj.action in ("reuse", "carry"):
                record = pj.record  # read and checked by the planner
                pj.record = None  # the build keeps its own copy
                failed = record.get("status") == "failed"
                self.keep(pj, {**record, "status": "failed" if failed else "reused"}, None if failed else pj.source)
                self.emit({"event": "asset_done", "id": pj.job.id, "status": "failed" if failed else "reused",
                           "key": record["key"], "from": pj.origin})
            elif pj.action == "resume":
                self.keep(pj, store.staged_record(pj.key), pj.source)
                self.emit({"event": "asset_done", "id": pj.job.id, "status": "built", "resumed": True, "key": pj.key})

    def _execute(self, executor: str | Callable[..., Any], executor_options: dict[str, Any]) -> None:
        todo = [pj for pj in self.plan.jobs if pj.action == "build"]
        if not todo:
            return
        runner = make_executor(executor, self.plan, **executor_options)
        try:
            for pj, outcome in runner.execute(todo):
                record = _record(pj, self.plan, outcome)
                if outcome.status == "built":
                    self.store.stage_asset(pj.key, outcome.files, record)
                    self.keep(pj, record, ("staging", pj.key))
                else:
                    self.keep(pj, record, None)
                self.emit({"event": "asset_done", "id": pj.job.id, "status": outcome.status, "key": pj.key,
                           "seconds": round(sum(outcome.timings.values()), 3), "error": outcome.error,
                           **({"worker": outcome.engine_info["worker"]} if outcome.engine_info.get("worker") else {})})
            if getattr(runner, "stats", None):  # per-worker throughput and engine busy fraction
                self.emit({"event": "workers", **runner.stats})
        finally:
            runner.close()

    def _publish(self) -> BuildResult:
        recipe, store, plan, latest = self.recipe, self.store, self.plan, self.plan.latest
        ordered = [self.records[pj.job.id] for pj in plan.jobs]
        summary = {s: sum(1 for r, _ in ordered if r["status"] == s) for s in ("built", "reused", "failed")}
        failures = {r["id"]: r.get("error", "") for r, _ in ordered if r["status"] == "failed"}
        relinked = any(src is not None and src[:2] != ("version", latest) for _, src in ordered)
        if latest and not summary["built"] and not plan.removed and not relinked and _same_result(
                [r for r, _ in ordered], store.iter_assets(latest)):
            # Only assets that failed before were retried, and they failed again: nothing new to publish.
            if self.pages is not None:
                self.pages.close()  # its threads stop writing before staging (where it writes) is pruned
            store.prune_staging()
            result = BuildResult(recipe.name, latest, str(store.root / latest), reused=summary["reused"],
                                 failed=summary["failed"], up_to_date=True, failures=failures)
            self.emit({"event": "done", "version": latest, "path": result.path, "built": 0, "reused": result.reused,
                       "failed": result.failed, "up_to_date": True})
            return result
        head = {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "recipe": {"name": recipe.name, "path": recipe.path, "sha256": recipe.sha256, "kind": recipe.kind},
                "zpipe_version": zpipe.__version__, "engine": {k: v for k, v in plan.engine.items() if v is not None},
                "previous": latest, "removed": plan.removed, "summary": summary}
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        if self.pages is not None:
            try:
                self.pages.finish({"version": self.version, **head})
            except Exception:  # noqa: BLE001 - a report must never cost the user their build
                log.exception("contact sheet failed")
                self.pages.close()
            timings["contact_sheet"] = round(time.perf_counter() - t0, 4)
        t1 = time.perf_counter()
        version = store.publish(ordered, head, reports=self.report_dir)
        timings["publish"] = round(time.perf_counter() - t1, 4)
        path = store.root / version
        result = BuildResult(recipe.name, version, str(path), built=summary["built"], reused=summary["reused"],
                             failed=summary["failed"], failures=failures, timings=timings)
        self.emit({"event": "done", "version": version, "path": str(path), "built": result.built,
                   "reused": result.reused, "failed": result.failed, "up_to_date": False})
        return result


def _reader(folder: Path | None) -> Callable[[str], bytes]:
    """Reads an asset's file by its manifest path (``id/name``) from where the files are now."""
    def read(rel: str) -> bytes:
        if folder is None:
            raise FileNotFoundError(rel)
        return (folder / Path(rel).name).read_bytes()

    return read


def _pages(folder: Path, title: str, total: int):
    """The contact sheet writer, or None (with a log line) when the report cannot be made here."""
    try:
        from zpipe.report.contact_sheet import Pages

        return Pages(folder, title, total)
    except Exception:  # noqa: BLE001 - a report must never cost the user their build
        log.exception("contact sheet unavailable")
        return None


def _same_result(entries: list[dict[str, Any]], latest: Iterable[dict[str, Any]]) -> bool:
    """Whether publishing ``entries`` would repeat the latest version: same ids, keys, and failures."""
    def outcome(e: dict[str, Any]) -> tuple:
        return e["id"], e["key"], e["status"] == "failed", e.get("error") if e["status"] == "failed" else None

    return [outcome(e) for e in entries] == [outcome(a) for a in latest]
