"""The in-process executor: one engine, batches grouped by shape, stages run inline."""

from __future__ import annotations

import logging
import time
import traceback
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from zpipe.engine.base import EngineError, Request
from zpipe.executors.job import Outcome, request_for, run_stages
from zpipe.plan import PlannedJob

log = logging.getLogger(__name__)


def batches(jobs: list[PlannedJob], size: int) -> Iterator[list[PlannedJob]]:
    """Group jobs by request shape (one batched forward needs one latent shape), in plan order."""
    groups: dict[Any, list[PlannedJob]] = defaultdict(list)
    for pj in jobs:
        groups[request_for(pj.job).shape_key].append(pj)
    for group in groups.values():
        for i in range(0, len(group), size):
            yield group[i:i + size]


class LocalExecutor:
    name = "local"

    def __init__(self, engine_name: str, engine_options: dict[str, Any], **options: Any):
        if options:
            raise TypeError(f"the local executor takes no options {sorted(options)}")
        self.engine_name = engine_name
        self.engine_options = engine_options
        self._engine = None

    @property
    def engine(self):
        if self._engine is None:  # loaded on first use: a fully reused build never loads weights
            from zpipe.engine.registry import create
            from zpipe.recipe.fields import options_for

            self._engine = create(self.engine_name, options_for(self.engine_name, self.engine_options))
        return self._engine

    def _generate(self, requests: list[Request]):
        return self.engine.generate(requests)

    def execute(self, jobs: list[PlannedJob]) -> Iterator[tuple[PlannedJob, Outcome]]:
        size = int(self.engine_options.get("batch_size") or 4)
        for batch in batches(jobs, size):
            t0 = time.perf_counter()
            try:
                generated = self.engine.generate([request_for(pj.job) for pj in batch])
            except EngineError:
                raise  # a configuration problem (weights, options): stop the build, say what to fix
            except Exception as exc:  # noqa: BLE001 - an engine crash fails this batch, not the build
                log.error("engine failed on %s:\n%s", [pj.job.id for pj in batch], traceback.format_exc())
                for pj in batch:
                    yield pj, Outcome("failed", error=f"engine: {type(exc).__name__}: {exc}")
                continue
            per_image = (time.perf_counter() - t0) / len(batch)
            for pj, gen in zip(batch, generated):
                yield pj, run_stages(pj.job, gen, self._generate, self.engine.capabilities, self.engine.name,
                                     per_image)

    def close(self) -> None:
        self._engine = None
