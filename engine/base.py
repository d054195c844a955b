"""The engine contract: requests in, images out.

An engine loads once (possibly gigabytes of weights) and then serves many batches, because a Ray
actor or the local executor keeps one resident. Engines are pure compute: they never write files.

Images cross this boundary as numpy arrays of shape (H, W, 3): ``float32`` with values in [0, 1], or
``uint8`` (0-255) from engines whose images carry no more than 8 bits (a quarter of the bytes through Ray's
object store). Stages always see ``float32``: the executors convert with :func:`float_image`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

TILE_MODES = ("none", "x", "y", "xy")


class Capability(str, enum.Enum):
    TEXT2IMG = "text2img"
    IMG2IMG = "img2img"
    INPAINT = "inpaint"
    TILE = "tile"  # can make images that wrap on the requested axes
    TEXT = "text"  # draws legible text that the prompt quotes (posters); without it posters are typeset


class EngineError(Exception):
    """A problem a user can fix (missing weights, bad options); shown without a traceback."""


@dataclass(frozen=True, eq=False)
class Request:
    """One image to make.

    ``init_image`` (H, W, 3) float32 in [0, 1] with ``strength`` in [0, 1] asks for img2img;
    adding ``mask`` (H, W) float32 in [0, 1], 1 = repaint, asks for inpainting.
    ``kind`` is a hint for engines that treat textures and poster backgrounds differently.
    ``style`` is a poster's look as its recipe wrote it (``""``: none given), which zpipe's poster prompts
    wrap in sentences of their own: engines that take the look from words rather than reading the prompt
    (procedural) use it. None: not a recipe's poster; the prompt is all style.
    """

    prompt: str
    width: int
    height: int
    seed: int
    steps: int = 8
    tile: str = "none"
    kind: str = "texture"
    init_image: np.ndarray | None = None
    mask: np.ndarray | None = None
    strength: float = 1.0
    style: str | None = None

    def __post_init__(self) -> None:
        if self.tile not in TILE_MODES:
            raise ValueError(f"tile must be one of {TILE_MODES}, got {self.tile!r}")
        if self.width % 16 or self.height % 16 or self.width <= 0 or self.height <= 0:
            raise ValueError(f"size must be positive multiples of 16, got {self.width}x{self.height}")

    @property
    def shape_key(self) -> tuple[int, int, int, str]:
        """Requests with equal shape keys can share one batched forward."""
        mode = "inpaint" if self.mask is not None else "img2img" if self.init_image is not None else "t2i"
        return (self.height, self.width, self.steps, f"{self.tile}/{mode}")


@dataclass
class Generated:
    """One engine output: the image plus facts worth recording in the manifest."""

    image: np.ndarray  # (H, W, 3) float32 in [0, 1], or uint8
    info: dict[str, Any] = field(default_factory=dict)


def float_image(image: np.ndarray, copy: bool = False) -> np.ndarray:
    """An engine's image as float32 in [0, 1]: uint8 v becomes v / 255, which the exporters' 8-bit rounding
    (x * 255 + 0.5, truncated) turns back into v exactly. ``copy``: never a view of ``image``."""
    if image.dtype == np.uint8:
        return image.astype(np.float32) / np.float32(255)
    return np.array(image, dtype=np.float32) if copy else np.asarray(image, dtype=np.float32)


@runtime_checkable
class Engine(Protocol):
    """What every engine has. Optional: ``prepare(batches: list[list[Request]]) -> None``; the executors call
    it, where an engine has it, with the batches they are about to pass to ``generate``, a chunk at a time,
    so that work many batches share is done once (Z-Image encodes every prompt of the chunk in one
    text-encoder phase). It is a hint: it never changes an image, and ``generate`` works without it."""

    name: str
    version: str
    capabilities: frozenset[Capability]

    def fingerprint(self) -> str:
        """A stable digest of the weights and anything else that changes the output bytes."""
        ...

    def generate(self, requests: list[Request]) -> list[Generated]:
        """Make one image per request, in order. A request's image never depends on its batch mates."""
        ...

