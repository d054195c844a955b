"""``export``: build a request's materials (reusing what the store has) and place their files.

One generated recipe holds the materials with a ``prompt`` or ``description`` (written to
``<store>/.hook/<name>-<hash>.yaml``); each referenced ``recipe`` is built as it is (only what changed).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zpipe.hook.place import answer_material
from zpipe.hook.recipe import asset_entry, previous_assets, translate, write_recipe
from zpipe.hook.request import PROTOCOL_VERSION, HookError, HookRequest, Material


def default_store() -> Path:
    """``$ZPIPE_OUT``, else the user's cache (``$XDG_CACHE_HOME/zpipe/store``, ``~/.cache/zpipe/store``)."""
    if os.environ.get("ZPIPE_OUT"):
        return Path(os.environ["ZPIPE_OUT"]).resolve()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache, "zpipe", "store").resolve()



def export(request: HookRequest, out: str | os.PathLike | None = None, *, executor: str = "local",
           on_event: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Build the request's materials and place their files in the target; returns the JSON answer.

    The store is the request's ``store``, else ``out``, else :func:`default_store`. Raises
    :class:`HookError` for problems found while making the recipes (exit 2), ``EngineError`` for a bad
    engine set-up and ``LockBusy`` never (it waits for a concurrent build of the same recipe).
    """
    store = request.store or (Path(out).resolve() if out else default_store())
    _prepare_target(request.target, store)
    emit = on_event or (lambda e: None)

    # one generated recipe for the prompt/description materials, one build per referenced recipe
    jobs, problems = _generated_recipe(request, store)
    more, more_problems = _named_recipes(request)
    jobs += more
    problems += more_problems
    if problems:
        raise HookError(problems)

    answer: dict[str, Any] = {"version": PROTOCOL_VERSION, "ok": True, "target": str(request.target),
                              "store": str(store), "materials": {}, "builds": []}
    placed: dict[str, dict[str, Any]] = {}
    for recipe, mats in jobs:
        build, entries = _build(recipe, mats, request, store, executor, emit)
        placed.update(entries)
        answer["builds"].append(build)
    answer["materials"] = {m.name: placed[m.name] for m in request.materials}
    # the same as a list with maps as a list: for JSON readers without maps, e.g. Unity's JsonUtility
    answer["results"] = [_result_entry(m.name, answer["materials"][m.name]) for m in request.materials]
    statuses = [e["status"] for e in answer["materials"].values()]
    answer["summary"] = {k: statuses.count(k) for k in ("built", "reused", "failed")}
    answer["ok"] = answer["summary"]["failed"] == 0
    return answer


def _prepare_target(target: Path, store: Path) -> None:
    if target == store or store in target.parents:
        raise HookError([f"target: {target} is inside the asset store {store}; placing files there would "
                         "overwrite the published versions: choose a folder outside the store"])
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HookError([f"target: cannot create {target}: {exc.strerror or exc}"]) from None


def _generated_recipe(request: HookRequest, store: Path) -> tuple[list[tuple[Any, list[Material]]], list[str]]:
    """The recipe written for the prompt and description materials (with the assets earlier requests
    added, so they stay in its versions), loaded: ([(recipe, materials)] or [], problems)."""
    from zpipe.recipe import RecipeError, load_recipe

    generated = [m for m in request.materials if m.recipe is None]
    if not generated:
        return [], []
    hook_dir = store / ".hook"
    previous = previous_assets(store / request.name, hook_dir, request.engine, request.output)
    new_ids = {m.folder for m in generated}
    assets = [a for a in previous if a["id"] not in new_ids] + [asset_entry(m) for m in generated]
    assets.sort(key=lambda a: a["id"])
    index = {i: m for i, a in enumerate(assets) for m in generated if m.folder == a["id"]}
    doc: dict[str, Any] = {"name": request.name, "kind": "textures", "engine": request.engine}
    if request.output is not None:
        doc["output"] = request.output
    doc["assets"] = assets
    path = write_recipe(hook_dir, request.name, doc)
    try:
        return [(load_recipe(path), generated)], []
    except RecipeError as exc:
        return [], translate(exc, index, "the generated recipe").problems


def _named_recipes(request: HookRequest) -> tuple[list[tuple[Any, list[Material]]], list[str]]:
    """One build per recipe (and overrides) that materials name; each material's asset resolved."""
    from zpipe.recipe import RecipeError, load_recipe

    groups: dict[tuple, list[Material]] = {}
    for m in request.materials:
        if m.recipe is not None:
            groups.setdefault((str(m.recipe), tuple(m.overrides)), []).append(m)
    jobs, problems = [], []
    for (rpath, overrides), mats in groups.items():
        try:
            recipe = load_recipe(rpath, list(overrides))
        except RecipeError as exc:
            names = ", ".join(f"materials[{m.index}] ({m.name})" for m in mats)
            problems += [f"{names}.recipe: {line}" for line in str(exc).splitlines()]
            continue
        ids = [j.id for j in recipe.jobs]
        for m in mats:
            want = m.asset or (ids[0] if len(ids) == 1 else m.folder)
            if want not in ids:
                problems.append(f"materials[{m.index}] ({m.name}).asset: the recipe {rpath} has no asset {want!r}; "
                                f"give \"asset\": one of {', '.join(ids[:20])}{' …' if len(ids) > 20 else ''}")
            m.asset = want
        jobs.append((recipe, mats))
    return jobs, problems


def _build(recipe, mats: list[Material], request: HookRequest, store: Path, executor: str,
           emit: Callable[[dict[str, Any]], None]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Build only the requested materials of ``recipe`` (its other assets stay as the store has them) and
    place their files: (the build's summary, {material name: its answer entry})."""
    from zpipe.api import run as zrun
    from zpipe.report.summary import load_manifest, this_run

    result = zrun(recipe, out=store, executor=executor, on_event=emit,
                  only=sorted({m.asset or m.folder for m in mats}))
    manifest = this_run(load_manifest(result.path), result.up_to_date)
    build = {"recipe": recipe.name, "version": result.version, "path": result.path,
             "up_to_date": result.up_to_date, "ids": [a["id"] for a in manifest["assets"]],
             **{k: sum(1 for a in manifest["assets"] if a["status"] == k) for k in ("built", "reused", "failed")}}
    by_id = {a["id"]: a for a in manifest["assets"]}
    entries = {m.name: answer_material(m, by_id.get(m.asset or m.folder), Path(result.path), request.target,
                                       request.link, build) for m in mats}
    build.pop("ids")
    return build, entries


def _result_entry(name: str, e: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "status": e["status"], "error": e.get("error", ""), "folder": e["folder"],
            "normal_y": e.get("normal_y", ""),
            "maps": [{"role": role, "path": path, "colour_space": e.get("colour_space", {}).get(role, "")}
                     for role, path in e["files"].items()]}
