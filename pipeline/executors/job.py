"""One asset from engine output to export bytes: the work every executor does per job.

This is plain Python with no Ray and no files, so the local executor, Ray workers and tests share it.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from zpipe.canonical import sha256_hex
from zpipe.engine.base import Generated, Request, float_image
from zpipe.recipe.model import Job, StageSpec
from zpipe.stages import registry
from zpipe.stages.base import Asset, StageContext, StageFailure, apply

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What a job produced. ``files`` maps file names inside the asset folder to bytes."""

    status: str  # "built" | "failed"
    files: dict[str, bytes] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    engine_info: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    sha256: dict[str, str] = field(default_factory=dict)  # of each file, hashed where the stages ran


def request_for(job: Job) -> Request:
    poster = job.kind == "posters"
    return Request(prompt=job.prompt, width=job.width, height=job.height, seed=job.seed, steps=job.steps,
                   tile=job.tile, kind="poster" if poster else "texture",
                   style=(job.fields.get("style") or "") if poster else None)


def main_role(job: Job) -> str:
    return "poster" if job.kind == "posters" else "albedo"


def run_stages(job: Job, generated: Generated, generate: Callable[[list[Request]], list[Generated]],
               capabilities: frozenset, engine_name: str, gen_seconds: float = 0.0) -> Outcome:
    """Run the job's stages, then export. QA failures and stage bugs fail this asset only. Stages see float32
    images, also from engines that hand out uint8 (see ``zpipe.engine.base``)."""
    asset = Asset(job, images={main_role(job): float_image(generated.image)})

    def float_generate(requests: list[Request]) -> list[Generated]:
        return [Generated(float_image(g.image), g.info) for g in generate(requests)]

    ctx = StageContext(generate=float_generate, capabilities=capabilities, request=request_for(job),
                       engine_name=engine_name)
    timings = {"generate": round(gen_seconds, 4)}
    for spec in (*job.stages, StageSpec("export", job.output)):
        t0 = time.perf_counter()
        try:
            result = registry.get(spec.name)().run(asset, dict(spec.params), ctx)
        except StageFailure as exc:
            if exc.metrics:
                asset.metrics.setdefault(spec.name, {}).update(exc.metrics)
            return Outcome("failed", metrics=asset.metrics, timings=timings, engine_info=generated.info,
                           error=f"{spec.name}: {exc}")
        except Exception as exc:  # a bug in a stage: fail this asset, keep the build going, keep the trace
            log.error("stage %s failed on %s:\n%s", spec.name, job.id, traceback.format_exc())
            return Outcome("failed", metrics=asset.metrics, timings=timings, engine_info=generated.info,
                           error=f"{spec.name}: internal error: {type(exc).__name__}: {exc}")
        apply(asset, result, spec.name)
        timings[spec.name] = round(time.perf_counter() - t0, 4)
    return Outcome("built", files=asset.files, metrics=asset.metrics, timings=timings, engine_info=generated.info,
                   sha256={name: sha256_hex(data) for name, data in asset.files.items()})
