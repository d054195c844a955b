"""Engines that stay loaded between builds: the reason `zpipe serve` exists.

``zpipe run`` loads its engine (for Z-Image, about 20 GB of weights) at the start of every build and drops
it at the end. The server instead lends each build an executor whose engine comes from an
:class:`EnginePool`, keyed by the engine and the options that shape it; the build's ``close()`` hands it
back, and the pool drops what has been idle for ``idle_seconds``. With the Ray executor the pool keeps the
whole executor (its actors hold one engine per GPU), as ``zpipe run --executor ray`` would start it.
"""

from __future__ import annotations

import gc
import json
import logging
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from zpipe.executors.local import LocalExecutor

log = logging.getLogger(__name__)


@dataclass
class _Entry:
    kind: str  # "local": value is an Engine; "ray": value is a RayExecutor
    label: str
    value: Any
    users: int = 0
    last_used: float = field(default_factory=time.monotonic)
    builds: int = 0


class EnginePool:
    def __init__(self, idle_seconds: float = 600.0, executor: str = "local",
                 executor_options: dict[str, Any] | None = None):
        self.idle_seconds = idle_seconds
        self.executor = executor
        self.executor_options = dict(executor_options or {})
        self.loads = 0  # engines (or Ray executors) created, for tests and /api/engines
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None

    # -- what build() calls -------------------------------------------------------------------------
    @property
    def name(self) -> str:  # the executor name the build's events report, as `zpipe run` reports it
        return self.executor

    def __call__(self, plan, **options) -> Any:
        """An executor for ``plan`` whose engine outlives the build (``build(executor=pool)``)."""
        name, engine_options = plan.engine["name"], plan.recipe.engine_options
        if self.executor == "ray":
            merged = {**self.executor_options, **options}
            key = _key("ray", name, engine_options, merged)

            def make():
                from zpipe.executors.ray_executor import RayExecutor

                return RayExecutor(name, engine_options, **merged)
            return _LentRay(self, key, self._acquire(key, "ray", name, make))
        key = _key("local", name, _shaping(name, engine_options))
        return _LentLocal(self, key, name, engine_options)

    # -- bookkeeping --------------------------------------------------------------------------------
    def _acquire(self, key: str, kind: str, label: str, make) -> Any:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry(kind, label, None)
            entry.users += 1
            entry.builds += 1
            entry.last_used = time.monotonic()
        if entry.value is None:  # one build at a time uses the pool, so no two threads load the same key
            log.info("serve: loading engine %s", label)
            entry.value = make()
            self.loads += 1
        return entry.value

    def _release(self, key: str, discard: bool = False) -> None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return
            entry.users = max(0, entry.users - 1)
            entry.last_used = time.monotonic()
            if discard and not entry.users:
                del self._entries[key]
            else:
                entry = None
        if entry is not None:
            _drop(entry)

    def status(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        with self._lock:
            return [{"engine": e.label, "executor": e.kind, "loaded": e.value is not None, "in_use": e.users > 0,
                     "builds": e.builds, "idle_seconds": round(now - e.last_used, 1)} for e in self._entries.values()]

    def sweep(self) -> list[str]:
        """Drop the engines idle for longer than ``idle_seconds``; returns their labels."""
        now = time.monotonic()
        with self._lock:
            idle = [k for k, e in self._entries.items() if not e.users and now - e.last_used >= self.idle_seconds]
            dropped = [self._entries.pop(k) for k in idle]
        for entry in dropped:
            log.info("serve: dropping engine %s (idle)", entry.label)
            _drop(entry)
        return [e.label for e in dropped]

    def start(self) -> None:
        if self._sweeper is None:
            self._stop.clear()
            self._sweeper = threading.Thread(target=self._sweep_loop, name="zpipe-engine-sweeper", daemon=True)
            self._sweeper.start()

    def _sweep_loop(self) -> None:
        while not self._stop.wait(min(max(self.idle_seconds / 4, 0.05), 5.0)):
            self.sweep()

    def close(self) -> None:
        self._stop.set()
        if self._sweeper is not None:
            self._sweeper.join(timeout=10)
            self._sweeper = None
        with self._lock:
            entries, self._entries = list(self._entries.values()), {}
        for entry in entries:
            _drop(entry)


def _shaping(name: str, engine_options: dict[str, Any]) -> dict[str, Any]:
    from zpipe.recipe.fields import options_for

    return options_for(name, engine_options)


def _key(*parts: Any) -> str:
    return json.dumps(parts, sort_keys=True, default=str)


def _drop(entry: _Entry) -> None:
    value, entry.value = entry.value, None
    if entry.kind == "ray" and value is not None:
        value.close()
    del value
    gc.collect()
    torch = sys.modules.get("torch")  # only when an engine already imported it
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


class _LentLocal(LocalExecutor):
    """The in-process executor, with its engine borrowed from the pool instead of made and dropped."""

    def __init__(self, pool: EnginePool, key: str, engine_name: str, engine_options: dict[str, Any]):
        super().__init__(engine_name, engine_options)
        self._pool, self._key, self._borrowed, self._closed = pool, key, False, False

    @property
    def engine(self):
        if self._closed:  # an engine thread still running after a cancel must not borrow the engine again
            raise RuntimeError("the build's executor is closed")
        if not self._borrowed:  # on first use, as LocalExecutor: a fully reused build borrows nothing
            from zpipe.engine.registry import create

            self._borrowed = True
            self._engine = self._pool._acquire(self._key, "local", self.engine_name,
                                               lambda: create(self.engine_name, _shaping(self.engine_name,
                                                                                         self.engine_options)))
        return self._engine

    def close(self) -> None:
        super().close()  # stops the executor's engine thread before its next batch
        self._closed = True
        if self._borrowed:
            self._borrowed, self._engine = False, None
            self._pool._release(self._key)


class _LentRay:
    """A pooled RayExecutor for one build. A build stopped mid-way (cancel, error) discards the executor:
    its in-flight batches must not reach the next build."""

    name = "ray"

    def __init__(self, pool: EnginePool, key: str, executor):
        self._pool, self._key, self._executor, self._finished = pool, key, executor, True

    @property
    def stats(self) -> dict[str, Any]:
        return self._executor.stats

    def execute(self, jobs):
        self._finished = False
        yield from self._executor.execute(jobs)
        self._finished = True

    def close(self) -> None:
        self._pool._release(self._key, discard=not self._finished)
