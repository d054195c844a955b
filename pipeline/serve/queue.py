"""The build queue: one worker thread runs builds and hook exports one at a time for the server's output
root (the store's lock still guards against a `zpipe run` in another process), keeps each job's events for
the live progress stream, and cancels between assets."""

from __future__ import annotations

import concurrent.futures
import itertools
import logging
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)
FINISHED = ("done", "failed", "cancelled")  # a job is queued, then running, then one of these


class Cancelled(Exception):
    """Raised inside a build at its next event once its job is cancelled; finished assets stay staged."""


@dataclass
class QueuedJob:
    """A build or hook request in the server's queue (not a recipe's :class:`zpipe.recipe.Job`)."""

    id: str
    kind: str  # "build" | "hook"
    label: str  # the recipe name, or the hook request's name
    work: Callable[[QueuedJob], Any]  # runs in the worker thread; its return value is the job's result
    state: str = "queued"
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    events: list[dict[str, Any]] = field(default_factory=list)  # what `zpipe run --json` prints, in order
    result: Any = None
    error: str | None = None
    cancel_requested: threading.Event = field(default_factory=threading.Event)
    future: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)

    def emit(self, event: dict[str, Any]) -> None:
        self.events.append(event)  # list.append is atomic: readers on other threads see whole events
        if self.cancel_requested.is_set():
            raise Cancelled(f"build {self.id} cancelled")

    def progress(self) -> dict[str, int]:
        total = done = 0
        for e in self.events:
            if e["event"] == "start":
                total = e.get("total", 0)
            elif e["event"] == "asset_done":
                done += 1
        return {"done": done, "total": total}

    def to_json(self, with_result: bool = True) -> dict[str, Any]:
        out = {"id": self.id, "kind": self.kind, "recipe": self.label, "state": self.state, "created": self.created,
               "started": self.started, "finished": self.finished, "events": len(self.events),
               "progress": self.progress(), "error": self.error}
        if with_result and self.kind == "build":
            out["result"] = self.result
        return out


class BuildQueue:
    def __init__(self, keep: int = 200):
        self.keep = keep  # finished jobs remembered for status queries
        self._jobs: dict[str, QueuedJob] = {}
        self._order = itertools.count()
        self._pending: list[QueuedJob] = []
        self._cv = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="zpipe-build-queue", daemon=True)
        self._thread.start()

    def submit(self, kind: str, label: str, work: Callable[[QueuedJob], Any]) -> QueuedJob:
        job = QueuedJob(f"{next(self._order):04d}-{uuid.uuid4().hex[:8]}", kind, label, work)
        with self._cv:
            if self._closed:
                raise RuntimeError("the server is shutting down")
            self._jobs[job.id] = job
            self._pending.append(job)
            self._forget_old()
            self._cv.notify_all()
        return job

    def get(self, job_id: str) -> QueuedJob | None:
        return self._jobs.get(job_id)

    def jobs(self) -> list[QueuedJob]:
        return list(self._jobs.values())

    def cancel(self, job_id: str) -> QueuedJob | None:
        """A queued job is dropped at once; a running one stops at its next event (between assets)."""
        with self._cv:
            job = self._jobs.get(job_id)
            if job is None or job.state not in ("queued", "running"):
                return job
            job.cancel_requested.set()
            if job.state == "queued":
                self._pending.remove(job)
                self._finish(job, "cancelled", error="cancelled before it started")
        return job

    def close(self, timeout: float = 30.0) -> None:
        with self._cv:
            self._closed = True
            for job in self._pending:
                job.cancel_requested.set()
                self._finish(job, "cancelled", error="the server stopped")
            self._pending.clear()
            for job in self._jobs.values():
                if job.state == "running":
                    job.cancel_requested.set()
            self._cv.notify_all()
        self._thread.join(timeout)

    def _forget_old(self) -> None:
        finished = [j for j in self._jobs.values() if j.state in FINISHED]
        for job in finished[: max(0, len(finished) - self.keep)]:
            del self._jobs[job.id]

    def _finish(self, job: QueuedJob, state: str, result: Any = None, error: str | None = None) -> None:
        job.state, job.result, job.error, job.finished = state, result, error, time.time()
        if error is not None and state != "done":
            job.future.set_exception(Cancelled(error) if state == "cancelled" else RuntimeError(error))
        else:
            job.future.set_result(result)

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._pending and not self._closed:
                    self._cv.wait()
                if not self._pending:
                    return
                job = self._pending.pop(0)
                job.state, job.started = "running", time.time()
            try:
                result = job.work(job)
            except Cancelled:
                self._finish(job, "cancelled", error="cancelled; finished assets are kept in staging and the next "
                                                     "build resumes from them")
            except Exception as exc:  # noqa: BLE001 - one bad build must not stop the server
                if not isinstance(exc, _Expected):
                    log.error("build %s failed:\n%s", job.id, traceback.format_exc())
                self._finish(job, "failed", error=str(exc) or type(exc).__name__)
            else:
                self._finish(job, "done", result=result)


class _Expected(Exception):
    """A failure with a message for the user (engine set-up, busy lock): no traceback in the log."""


class BuildError(_Expected):
    pass
