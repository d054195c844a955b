"""The stage contract: an asset's images in, images + metrics (+ file bytes for export) out.

Stages do no file I/O: the store is the only writer. A stage declares its parameters once
(``params``); recipe validation and the cache key both read that declaration.

Images are float32 numpy arrays (H, W, C) in [0, 1], keyed by role: textures start with
``albedo``, posters with ``poster``. Data maps (height, roughness, ao) are (H, W, 1).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from operator import attrgetter
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np

from zpipe.params import Param
from zpipe.recipe.model import Job


class StageFailure(Exception):
    """A QA failure of one asset (seam gate, glyph check): the asset is marked failed, the build goes on.

    ``metrics`` are what the stage measured before failing; they go into the manifest like a result's.
    """

    def __init__(self, message: str, metrics: dict[str, Any] | None = None):
        super().__init__(message)
        self.metrics = metrics or {}


@dataclass
class Asset:
    """One job on its way through the stages: the job it builds and what the stages have made of it so far.

    Stages read the job through the asset: ``asset.id``, ``asset.prompt``, ``asset.seed``, ``asset.width``,
    ``asset.fields`` (kind-specific data such as poster text lines), ...
    """

    job: Job
    images: dict[str, np.ndarray]  # by role
    metrics: dict[str, Any] = field(default_factory=dict)  # by stage
    files: dict[str, bytes] = field(default_factory=dict)  # relative name -> bytes, filled by export

    # The job's identity, read through the asset as stages always have; read-only, like the job.
    id = property(attrgetter("job.id"))
    kind = property(attrgetter("job.kind"))  # "textures" | "posters"
    prompt = property(attrgetter("job.prompt"))
    seed = property(attrgetter("job.seed"))
    width = property(attrgetter("job.width"))
    height = property(attrgetter("job.height"))

    @property
    def fields(self) -> Mapping[str, Any]:
        """The job's kind-specific data, read-only: it entered the job's key, so a stage that changed it
        would make an asset its key does not describe."""
        return MappingProxyType(self.job.fields)


@dataclass
class StageResult:
    images: dict[str, np.ndarray] = field(default_factory=dict)  # roles to add or replace
    metrics: dict[str, Any] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    drop_roles: tuple[str, ...] = ()


@dataclass
class StageContext:
    """Access to the engine for stages that regenerate, inpaint or refine.

    ``generate`` takes a list of :class:`zpipe.engine.Request` and returns ``Generated`` objects;
    ``capabilities`` is the engine's capability set; ``request`` is the job's base request.
    """

    generate: Callable[[list], list]
    capabilities: frozenset
    request: Any
    engine_name: str = ""


class Stage:
    name: ClassVar[str]
    # Enters every cache key that uses the stage: bump it whenever the stage's output bytes can change for
    # the same parameters. Plugins without one are keyed by their distribution's version.
    version: ClassVar[str] = "1"
    doc: ClassVar[str] = ""
    kinds: ClassVar[tuple[str, ...]] = ("textures", "posters")
    params: ClassVar[dict[str, Param]] = {}

    @classmethod
    def resolve(cls, params: dict[str, Any]) -> dict[str, Any]:
        """Every declared parameter: the given value, else its declared default (recipes may omit any)."""
        return {k: params.get(k, decl.default) for k, decl in cls.params.items()}

    @classmethod
    def key_inputs(cls, params: dict[str, Any]) -> dict[str, Any]:
        """What else, besides the parameters and the version, decides this stage's bytes (e.g. the font a
        family name resolves to on this machine). JSON-able; part of every key that uses the stage."""
        return {}

    @classmethod
    def check(cls, params: dict[str, Any]) -> dict[str, str]:
        """Problems beyond each parameter's type, found at validation: {param: message phrased as a fix}."""
        return {}

    @classmethod
    def output_size(cls, params: dict[str, Any], size: tuple[int, int]) -> tuple[int, int] | None:
        """The image size this stage leaves, from its parameters and the size it gets; None when only the
        build can tell. Validation uses it (e.g. for `power_of_two: check`); stages that resize override it."""
        return size

    def run(self, asset: Asset, params: dict[str, Any], ctx: StageContext) -> StageResult:
        raise NotImplementedError


def apply(asset: Asset, result: StageResult, stage_name: str) -> None:
    """Merge a stage's result into the asset (metrics are namespaced by stage)."""
    for role in result.drop_roles:
        asset.images.pop(role, None)
    asset.images.update(result.images)
    if result.metrics:
        asset.metrics.setdefault(stage_name, {}).update(result.metrics)
    asset.files.update(result.files)
