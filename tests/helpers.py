"""Helpers shared by the tests (pyproject's pytest ``pythonpath`` puts this folder on the path).

The CLI: :func:`run_cli` runs ``zpipe`` in this process, :func:`json_events` reads its ``--json`` lines,
:data:`TILES_RECIPE` is a small procedural texture recipe (3 materials x 2 variants).
Images: :func:`periodic_noise` tiles without a seam, :func:`seamed` is a window of a larger periodic field,
so it is smooth inside with a seam where its borders meet. Stages: :func:`stage_params` checks given values
the way recipe validation does, :func:`make_asset` wraps images as a job, :data:`NO_ENGINE` fails the test
if a stage calls the engine.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from zpipe.cli import main
from zpipe.recipe.model import Job
from zpipe.stages.base import Asset, Stage, StageContext
from zpipe.texture import wrap

TILES_RECIPE = """\
name: tiles
engine: procedural
size: 64
prompt: "{material} texture, {variant}"
matrix:
  material: [granite, slate, brick]
  variant: [clean, mossy]
"""


def run_cli(*args: Any):
    """``zpipe ARGS`` in this process; an exception other than the exit propagates (a CLI bug fails the test)."""
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def json_events(output: str) -> list[dict[str, Any]]:
    """The JSON lines (``--json`` events) of a command's output."""
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def periodic_noise(n: int, seed: int = 0, c: int = 3) -> np.ndarray:
    """Fractal value noise on the torus: (n, n, c) float32 in [0, 1], each channel its own field."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, n, c), np.float32)
    for o in range(5):
        k = 2 ** (o + 2)
        out += wrap.resize(rng.random((k, k, c)).astype(np.float32), n, n, "cubic") * 0.5**o
    out = (out - out.min()) / (out.max() - out.min())
    # a random roll keeps it periodic and moves the lattice of the octaves off the seam
    return np.roll(out, tuple(rng.integers(0, n, size=2)), axis=(0, 1))


def seamed(n: int, seed: int = 0, c: int = 3) -> np.ndarray:
    """A window of a larger periodic field: smooth inside, a seam where its borders meet."""
    big = periodic_noise(2 * n, seed, c)
    return np.ascontiguousarray(big[n // 3: n // 3 + n, n // 5: n // 5 + n])


def stage_params(stage: type[Stage] | Stage, **given: Any) -> dict[str, Any]:
    """A stage's parameters: ``given`` (each checked against its declaration) over the defaults."""
    checked = {}
    for name, value in given.items():
        checked[name], err = stage.params[name].check(value)
        assert err is None, (name, err)
    return stage.resolve(checked)


def make_asset(images: dict[str, np.ndarray], kind: str = "textures", asset_id: str = "stone_a", seed: int = 1,
               prompt: str = "stone", fields: dict[str, Any] | None = None) -> Asset:
    """``images`` as the first stage sees them: a job of the images' size with no stages, exported as configured."""
    h, w = next(iter(images.values())).shape[:2]
    job = Job(id=asset_id, kind=kind, prompt=prompt, seed=seed, width=w, height=h, steps=8,
              tile="xy" if kind == "textures" else "none", stages=(), output={}, fields=fields or {})
    return Asset(job, images)


NO_ENGINE = StageContext(generate=lambda requests: pytest.fail("no engine call expected"),
                         capabilities=frozenset(), request=None)


REPO = Path(__file__).resolve().parents[1]


def package_modules() -> dict[str, Path]:
    """Module name -> file, for every module of the installed package (as pyproject maps the folders)."""
    found: dict[str, Path] = {}
    for prefix, root in {"zpipe": REPO / "pipeline", "zpipe.engine": REPO / "engine"}.items():
        for path in root.rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((prefix, *parts))] = path
    return found
