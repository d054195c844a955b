"""The validated, expanded form of a recipe: plain frozen data that the planner and executors read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class StageSpec:
    name: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Job:
    """One asset to build. ``id`` comes from names (matrix values or an explicit id), never positions."""

    id: str
    kind: str  # "textures" | "posters"
    prompt: str
    seed: int
    width: int
    height: int
    steps: int
    tile: str
    stages: tuple[StageSpec, ...]
    output: dict[str, Any]
    fields: dict[str, Any] = field(default_factory=dict)  # poster text, matrix values, ...


@dataclass(frozen=True)
class Recipe:
    name: str
    kind: str
    path: str
    sha256: str
    engine: str  # as written: auto | procedural | z-image-turbo
    engine_options: dict[str, Any]
    jobs: tuple[Job, ...]
