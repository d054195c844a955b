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
    from zpipe.api import run as zrun
    from zpipe.recipe import RecipeError, load_recipe
    from zpipe.report.summary import load_manifest, this_run

    store = request.store or (Path(out).resolve() if out else default_store())
    if request.target == store or store in request.target.parents:
        raise HookError([f"target: {request.target} is inside the asset store {store}; placing files there would "
                         "overwrite the published versions: choose a folder outside the store"])
    try:
        request.target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HookError([f"target: cannot create {request.target}: {exc.strerror or exc}"]) from None
    emit = on_event or (lambda e: None)

    # one generated recipe for the prompt/description materials, one build per referenced recipe
    generated = [m for m in request.materials if m.recipe is None]
    jobs: list[tuple[Any, list[Material], dict[int, Material], str]] = []
    problems: list[str] = []
    if generated:
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
            recipe = load_recipe(path)
        except RecipeError as exc:
            problems += translate(exc, index, "the generated recipe").problems
        else:
            jobs.append((recipe, generated, index, f"generated recipe {path}"))
    groups: dict[tuple, list[Material]] = {}
    for m in request.materials:
        if m.recipe is not None:
            groups.setdefault((str(m.recipe), tuple(m.overrides)), []).append(m)
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
        jobs.append((recipe, mats, {}, rpath))
    if problems:
        raise HookError(problems)

    answer: dict[str, Any] = {"version": PROTOCOL_VERSION, "ok": True, "target": str(request.target),
                              "store": str(store), "materials": {}, "builds": []}
    placed: dict[str, dict[str, Any]] = {}
    for recipe, mats, _, _label in jobs:
        # only the requested materials are built; the recipe's other assets stay as the store has them
        result = zrun(recipe, out=store, executor=executor, on_event=emit,
                      only=sorted({m.asset or m.folder for m in mats}))
        manifest = this_run(load_manifest(result.path), result.up_to_date)
        build = {"recipe": recipe.name, "version": result.version, "path": result.path,
                 "up_to_date": result.up_to_date, "ids": [a["id"] for a in manifest["assets"]],
                 **{k: sum(1 for a in manifest["assets"] if a["status"] == k) for k in ("built", "reused", "failed")}}
        by_id = {a["id"]: a for a in manifest["assets"]}
        for m in mats:
            asset = by_id.get(m.asset or m.folder)
            placed[m.name] = answer_material(m, asset, Path(result.path), request.target, request.link, build)
        build.pop("ids")
        answer["builds"].append(build)
    answer["materials"] = {m.name: placed[m.name] for m in request.materials}
    # the same as a list with maps as a list: for JSON readers without maps, e.g. Unity's JsonUtility
    answer["results"] = [{"name": m.name, "status": e["status"], "error": e.get("error", ""), "folder": e["folder"],
                          "normal_y": e.get("normal_y", ""),
                          "maps": [{"role": role, "path": path, "colour_space": e.get("colour_space", {}).get(role, "")}
                                   for role, path in e["files"].items()]}
                         for m in request.materials for e in [answer["materials"][m.name]]]
    statuses = [e["status"] for e in answer["materials"].values()]
    answer["summary"] = {k: statuses.count(k) for k in ("built", "reused", "failed")}
    answer["ok"] = answer["summary"]["failed"] == 0
    return answer
