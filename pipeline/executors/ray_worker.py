"""What a Ray worker runs, as plain Python: a resident engine and one job's CPU stages.

Nothing here imports Ray. :mod:`zpipe.executors.ray_executor` wraps :class:`EngineWorker` as an actor
and :func:`stage_job` as a task, so both can be tested and reasoned about without a cluster.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from zpipe.engine.base import EngineError, Generated, Request, float_image
from zpipe.executors.job import Outcome, run_stages
from zpipe.recipe.model import Job

log = logging.getLogger(__name__)

# Variables that size the intra-op thread pools of OpenMP, BLAS, onnxruntime (OCR) and torch. They must be
# in the environment before those libraries load, so Ray sets them when it starts the worker process.
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
               "ZPIPE_OCR_THREADS")


def thread_env(threads: int) -> dict[str, str]:
    """Environment that caps every thread pool of a worker at ``threads``."""
    n = str(max(1, int(threads)))
    return {var: n for var in THREAD_VARS}


def limit_torch_threads(threads: int) -> None:
    """torch reads OMP_NUM_THREADS once; set it explicitly too when an engine has loaded torch."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(max(1, int(threads)))


@dataclass
class Retry:
    """A stage task's answer when the engine it called died under it: make this job again elsewhere."""

    error: str


class EngineWorker:
    """One engine, loaded once, serving batches for the whole build (a Ray actor holds one per device).

    ``engine_options`` are the recipe's (adjusted to the device Ray gave this worker); like the local
    executor, the engine gets only the options it owns.
    A configuration problem (``EngineError``) is kept and raised on every call instead of crashing
    ``__init__``: a crash would make Ray restart the actor over and over for a problem a restart
    cannot fix, and the driver could not tell the user what to change.
    """

    def __init__(self, engine_name: str, engine_options: dict[str, Any], worker: str, threads: int = 1):
        from zpipe.engine.registry import create
        from zpipe.recipe.fields import options_for

        self.worker = worker
        self.threads = threads
        self.error: EngineError | None = None
        self.engine = None
        try:
            self.engine = create(engine_name, options_for(engine_name, engine_options))
        except EngineError as exc:
            self.error = exc
        limit_torch_threads(threads)
        self.started = time.time()
        self.busy = 0.0  # seconds spent inside engine.generate
        self.images = 0
        self.first: float | None = None  # perf_counter at the first batch: load time is not idle time

    def _check(self) -> None:
        if self.error is not None:
            raise self.error

    def info(self) -> dict[str, Any]:
        """Cheap liveness answer: also tells a restarted actor from the one before (``pid``)."""
        return {"worker": self.worker, "pid": os.getpid(), "busy": self.busy, "images": self.images,
                "started": self.started, "error": str(self.error) if self.error else None,
                "threads": {var: os.environ.get(var) for var in THREAD_VARS}}

    def generate(self, requests: list[Request]) -> list[Generated]:
        """The engine call that stages use through ``StageContext.generate`` (img2img, inpainting)."""
        self._check()
        t0 = time.perf_counter()
        out = self.engine.generate(requests)
        self.busy += time.perf_counter() - t0
        return out

    def prepare(self, batches: list[list[Request]]) -> None:
        """The batches the driver is about to send this actor, for the engine's ``prepare`` (one text-encoder
        phase per chunk). A hint the driver does not wait for: it never raises, a problem shows again on the
        batch that meets it."""
        if self.engine is None or not hasattr(self.engine, "prepare"):
            return
        t0 = time.perf_counter()
        if self.first is None:
            self.first = t0
        try:
            self.engine.prepare(batches)
        except Exception:  # noqa: BLE001 - generate() meets it again, per batch, and reports it there
            log.warning("engine.prepare failed on %s; its batches prepare on their own", self.worker, exc_info=True)
        self.busy += time.perf_counter() - t0

    def run_batch(self, requests: list[Request]) -> tuple:
        """Make one batch. Returns ``(*generated, meta)``: the actor is called with ``num_returns =
        len(requests) + 1`` so each image is its own object and never passes through the driver,
        which only fetches the small ``meta``."""
        self._check()
        t0 = time.perf_counter()
        if self.first is None:
            self.first = t0
        generated = self.engine.generate(requests)
        seconds = time.perf_counter() - t0
        if len(generated) != len(requests):
            raise RuntimeError(f"engine returned {len(generated)} images for {len(requests)} requests")
        self.busy += seconds
        self.images += len(requests)
        meta = {"worker": self.worker, "seconds": seconds, "per_image": seconds / len(requests),
                "capabilities": frozenset(self.engine.capabilities), "engine": self.engine.name,
                "pid": os.getpid(), "busy": self.busy,
                "span": time.perf_counter() - self.first}  # first batch start to this batch end
        return (*generated, meta)


def stage_job(job: Job, generated: Generated, meta: dict[str, Any],
              generate: Callable[[list[Request]], list[Generated]]) -> Outcome:
    """One job's stages and export, as the local executor runs them (``run_stages``).

    Images from the object store are read-only views; stages may write in place, so copy first.
    """
    own = Generated(float_image(generated.image, copy=True), dict(generated.info))
    return run_stages(job, own, generate, meta["capabilities"], meta["engine"], meta["per_image"])
