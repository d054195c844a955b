"""The in-process executor: one engine kept busy, CPU stages overlapped with the next engine batch.

Data flow::

    engine thread ──chunk──▶ engine.prepare (when it has one: shared work, e.g. every prompt's encoding)
                  ──batches (grouped by shape)──▶ engine.generate ──each image──▶ stage pool (bounded)
                                                                                  │ tile, pbr, export,
    driver (the caller of execute) ◀──────────── (job, outcome) ◀─────────────────┘ OCR, encoding, hashing

The engine runs in its own thread so that it starts the next batch while the stage pool works on the
last one and the driver stages finished files to disk. Engines release the GIL while they compute
(torch kernels, the procedural engine's numpy), and so do the stages' numpy, OpenCV, zlib and
onnxruntime calls. At most ``stage_threads + 2 x batch_size`` images wait or are in the pool: when
stages are slower than the engine, the engine waits instead of piling images up in memory. Stages
that call the engine again (re-seeding, img2img) share it with the engine thread under a lock.

Each job's stages see only their own image and seeds, so the files are byte-identical to a serial
run (``stage_threads=0`` runs everything inline, one job after another), and outcomes are handed over
in the same order. ``stats`` reports the engine's
busy fraction like the Ray executor does.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
import traceback
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from zpipe.engine.base import EngineError, Request
from zpipe.executors.job import Outcome, request_for, run_stages
from zpipe.plan import PlannedJob

log = logging.getLogger(__name__)


# Jobs per engine.prepare call: a phased Z-Image engine places its text encoder once per chunk (about 1 s of
# host-to-device copies at 1024², against ~0.7 s per image on an H100, so under 1% at 128 jobs); its prompt
# cache (256 prompts) holds a whole chunk.
CHUNK = 128


def batches(jobs: list[PlannedJob], size: int) -> Iterator[list[PlannedJob]]:
    """Group jobs by request shape (one batched forward needs one latent shape), in plan order."""
    groups: dict[Any, list[PlannedJob]] = defaultdict(list)
    for pj in jobs:
        groups[request_for(pj.job).shape_key].append(pj)
    for group in groups.values():
        for i in range(0, len(group), size):
            yield group[i:i + size]


def chunks(groups: Iterator[list[PlannedJob]], limit: int | None = None) -> Iterator[list[list[PlannedJob]]]:
    """Consecutive batches of at most ``limit`` (default :data:`CHUNK`) jobs in all; a batch larger than that
    is a chunk alone."""
    limit = CHUNK if limit is None else limit
    chunk: list[list[PlannedJob]] = []
    n = 0
    for batch in groups:
        if chunk and n + len(batch) > limit:
            yield chunk
            chunk, n = [], 0
        chunk.append(batch)
        n += len(batch)
    if chunk:
        yield chunk


def default_stage_threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


class LocalExecutor:
    """Options: ``stage_threads`` (threads running stages, default min(4, CPUs); 0: everything inline)."""

    name = "local"

    def __init__(self, engine_name: str, engine_options: dict[str, Any], *, stage_threads: int | None = None):
        self.engine_name = engine_name
        self.engine_options = engine_options
        self.stage_threads = default_stage_threads() if stage_threads is None else max(0, int(stage_threads))
        self._engine = None
        self._engine_lock = threading.Lock()
        self._stop = threading.Event()
        self._busy = 0.0  # seconds inside engine.generate
        self.stats: dict[str, Any] = {}

    @property
    def engine(self):
        if self._engine is None:  # loaded on first use: a fully reused build never loads weights
            from zpipe.engine.registry import create
            from zpipe.recipe.fields import options_for

            self._engine = create(self.engine_name, options_for(self.engine_name, self.engine_options))
        return self._engine

    def _generate(self, requests: list[Request]):
        with self._engine_lock:
            engine = self.engine  # loading it is not busy time
            t0 = time.perf_counter()
            try:
                return engine.generate(requests)
            finally:
                self._busy += time.perf_counter() - t0

    def _prepare(self, chunk: list[list[PlannedJob]]) -> None:
        """Hand the engine the chunk's batches before the first of them (see ``Engine``: ``prepare``). A hint:
        a failure is logged, and each batch then does its own preparation in ``generate``."""
        with self._engine_lock:
            prepare = getattr(self.engine, "prepare", None)
            if prepare is None:
                return
            t0 = time.perf_counter()
            try:
                prepare([[request_for(pj.job) for pj in batch] for batch in chunk])
            except EngineError:
                raise
            except Exception:  # noqa: BLE001 - generate() will meet the problem again, per batch
                log.warning("engine.prepare failed; its batches prepare on their own:\n%s", traceback.format_exc())
            finally:
                self._busy += time.perf_counter() - t0

    def _prepared_batches(self, jobs: list[PlannedJob], size: int) -> Iterator[list[PlannedJob]]:
        """:func:`batches` in order, each chunk of them handed to :meth:`_prepare` before its first batch."""
        for chunk in chunks(batches(jobs, size)):
            self._prepare(chunk)
            yield from chunk

    def _stages(self, pj: PlannedJob, gen, per_image: float) -> Outcome:
        return run_stages(pj.job, gen, self._generate, self.engine.capabilities, self.engine.name, per_image)

    def _batch(self, batch: list[PlannedJob]) -> tuple[list | None, float, Exception | None]:
        """Generate one batch: (images, seconds per image, the engine's crash if it crashed)."""
        t0 = time.perf_counter()
        try:
            generated = self._generate([request_for(pj.job) for pj in batch])
        except EngineError:
            raise  # a configuration problem (weights, options): stop the build, say what to fix
        except Exception as exc:  # noqa: BLE001 - an engine crash fails this batch, not the build
            log.error("engine failed on %s:\n%s", [pj.job.id for pj in batch], traceback.format_exc())
            return None, 0.0, exc
        return generated, (time.perf_counter() - t0) / len(batch), None

    def execute(self, jobs: list[PlannedJob]) -> Iterator[tuple[PlannedJob, Outcome]]:
        size = int(self.engine_options.get("batch_size") or 4)
        started, self._busy = time.perf_counter(), 0.0
        try:
            if self.stage_threads == 0:
                yield from self._serial(jobs, size)
            else:
                yield from self._overlapped(jobs, size)
        finally:
            self._report(len(jobs), time.perf_counter() - started)

    def _serial(self, jobs: list[PlannedJob], size: int) -> Iterator[tuple[PlannedJob, Outcome]]:
        for batch in self._prepared_batches(jobs, size):
            generated, per_image, crash = self._batch(batch)
            for i, pj in enumerate(batch):
                yield pj, (self._stages(pj, generated[i], per_image) if crash is None
                           else Outcome("failed", error=f"engine: {type(crash).__name__}: {crash}"))

    def _overlapped(self, jobs: list[PlannedJob], size: int) -> Iterator[tuple[PlannedJob, Outcome]]:
        results: queue.Queue = queue.Queue()
        room = threading.Semaphore(self.stage_threads + 2 * size)  # images in flight, not yet handed over
        pool = ThreadPoolExecutor(max_workers=self.stage_threads, thread_name_prefix="zpipe-stages")
        self._stop.clear()

        def stage(seq: int, pj: PlannedJob, gen, per_image: float) -> None:
            try:
                results.put((seq, pj, self._stages(pj, gen, per_image)))
            except BaseException as exc:  # noqa: BLE001 - run_stages catches stage errors; this is a bug
                results.put((seq, pj, Outcome("failed", error=f"internal error: {type(exc).__name__}: {exc}")))

        def produce() -> None:
            seq = 0
            try:
                # A chunk is prepared while the stage pool still works on the last chunk's images.
                for batch in self._prepared_batches(jobs, size):
                    for _ in batch:
                        while not room.acquire(timeout=0.5):
                            if self._stop.is_set():
                                return
                    if self._stop.is_set():
                        return
                    generated, per_image, crash = self._batch(batch)
                    for i, pj in enumerate(batch):
                        if crash is None:
                            pool.submit(stage, seq, pj, generated[i], per_image)
                        else:
                            results.put((seq, pj, Outcome("failed", error=f"engine: {type(crash).__name__}: {crash}")))
                        seq += 1
            except BaseException as exc:  # noqa: BLE001 - EngineError and the like: the driver raises it
                results.put(exc)

        engine_thread = threading.Thread(target=produce, name="zpipe-engine", daemon=True)
        engine_thread.start()
        ready: dict[int, tuple[PlannedJob, Outcome]] = {}
        try:
            for seq in range(len(jobs)):  # handed over in batch order, as a serial run would: same events
                while seq not in ready:
                    item = results.get()
                    if isinstance(item, BaseException):
                        raise item
                    ready[item[0]] = item[1:]
                room.release()
                yield ready.pop(seq)
        finally:
            self._stop.set()
            engine_thread.join(timeout=60)
            pool.shutdown(wait=True, cancel_futures=True)

    def _report(self, jobs: int, wall: float) -> None:
        wall = max(wall, 1e-9)
        self.stats = {"wall": round(wall, 3), "workers": {"local": {
            "jobs": jobs, "jobs_per_s": round(jobs / wall, 3), "busy": round(self._busy, 3),
            "busy_fraction": round(self._busy / wall, 4), "stage_threads": self.stage_threads}}}

    def close(self) -> None:
        self._stop.set()
        self._engine = None
