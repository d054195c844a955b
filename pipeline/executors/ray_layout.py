"""How many engine actors a Ray cluster gets, and what each reserves: a pure function of the cluster's
resources and the executor's options, so it is tested without a cluster."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from zpipe.engine.base import EngineError


@dataclass(frozen=True)
class Layout:
    kind: str  # "gpu" | "dev" (a custom resource standing for a device) | "cpu"
    count: int  # engine actors
    resources: dict[str, Any]  # Ray actor options: num_cpus, num_gpus, resources
    threads: int  # thread cap of each actor
    engine_options: dict[str, Any]  # the recipe's, adjusted to what a worker sees

    def names(self) -> list[str]:
        return [f"{self.kind}{i}" for i in range(self.count)]


def plan_layout(cluster: dict[str, float], engine_options: dict[str, Any], *, device_resource: str | None = None,
                devices: list[str] | None = None, workers: int | None = None, worker_cpus: float | None = None,
                stage_cpus: float = 1.0) -> Layout:
    """One actor per GPU (``num_gpus=1``), or per unit of ``device_resource``; without either, CPU
    workers: ``max(1, CPUs // 8)`` of them, sharing half of the CPUs (the other half runs stages)."""
    options = dict(engine_options)
    cpus = max(1, int(cluster.get("CPU", 1)))
    if device_resource:
        units = int(cluster.get(device_resource, 0))
        if units < 1:
            raise EngineError(f"the Ray cluster has no {device_resource!r} resource")
        kind, n, extra = "dev", min(workers or units, units), {"resources": {device_resource: 1}}
        want = worker_cpus or 0
    elif int(cluster.get("GPU", 0)) >= 1:
        gpus = int(cluster["GPU"])
        n = min(gpus, len(devices)) if devices else gpus
        kind, n, extra = "gpu", min(workers or n, n), {"num_gpus": 1}
        want = worker_cpus or 1
        if str(options.get("device") or "").startswith("cuda"):
            options["device"] = "cuda"  # Ray sets CUDA_VISIBLE_DEVICES per actor: its GPU is cuda:0
    else:
        kind, extra = "cpu", {}
        n = workers or max(1, cpus // 8)
        want = worker_cpus or max(1, cpus // (2 * n))
    reserve = cpu_reservation(want, n, cpus, stage_cpus)
    return Layout(kind, n, {**extra, "num_cpus": reserve}, max(1, int(want)), options)


def cpu_reservation(want: float, actors: int, cpus: int, stage_cpus: float) -> float:
    """CPUs reserved per actor, capped so that one stage task always fits beside the actors.

    Without the cap, e.g. 8 GPU actors on an 8-CPU node, or 2 CPU workers on 2 CPUs, would hold every
    CPU and the stage tasks would wait forever (this happened). The thread cap stays as asked; only the
    reservation shrinks. Ray takes fractions below 1 and whole numbers above.
    """
    room = max(0.0, (cpus - min(stage_cpus, cpus)) / actors)
    got = min(float(want), room)
    return float(int(got)) if got >= 1 else math.floor(got * 100) / 100  # down: the sum must still fit
