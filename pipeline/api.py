"""The Python API: what the CLI is a thin layer over.

    import zpipe
    recipe = zpipe.load_recipe("recipes/stone_textures.yaml", overrides=["size=512"])
    result = zpipe.run(recipe, out="out", on_event=print)
    print(result.version, result.built, result.reused, result.failed)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zpipe.build import BuildResult, Event
from zpipe.recipe import Recipe
from zpipe.recipe import load_recipe as _load_recipe


def load_recipe(path: str | os.PathLike, overrides: list[str] | None = None, engine: str | None = None) -> Recipe:
    """Read and validate a recipe. Raises :class:`zpipe.recipe.RecipeError` listing every problem."""
    return _load_recipe(path, overrides, engine)


def run(recipe: Recipe | str | os.PathLike, out: str | os.PathLike = "out", *, overrides: list[str] | None = None,
        engine: str | None = None, executor: str = "local", executor_options: dict[str, Any] | None = None,
        force: bool = False, wait: bool = True, on_event: Callable[[Event], None] | None = None,
        only: list[str] | None = None, verify_reuse: bool = False) -> BuildResult:
    """Build a recipe (a :class:`Recipe` or a path) into ``out``; returns a :class:`BuildResult`.

    ``on_event`` receives the same events as ``zpipe run --json`` prints (dicts with an ``event`` key).
    ``executor`` is ``local`` or ``ray`` (``executor_options``: ``address``, ``devices``).
    ``only`` (asset ids or globs) builds those assets; the others keep what the latest version has.
    ``verify_reuse`` hashes every file before it is reused (``zpipe run --verify-reuse``).
    """
    from zpipe.build import build

    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe, overrides, engine)
    elif overrides or engine:
        raise ValueError("overrides and engine apply when a recipe is loaded: pass them to load_recipe(), "
                         "or pass run() the recipe's path")
    return build(recipe, Path(out), force=force, wait=wait, executor=executor, executor_options=executor_options,
                 on_event=on_event, only=only, verify_reuse=verify_reuse)
