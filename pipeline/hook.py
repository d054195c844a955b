"""The DCC hook protocol: a JSON request in, materials built (or reused), a JSON answer out.

``zpipe hook export --request request.json --json`` is what the Blender add-on and the Unity editor
script call. The protocol is documented, with its version history, in ``docs/hook-protocol.md``; this
module is its only implementation:

1. :func:`parse_request` checks a request and reports every problem at once (:class:`HookError`,
   exit code 2), with the request's field path, e.g. ``materials[2].size``.
2. :func:`export` turns the materials with a ``prompt`` or ``description`` into one generated recipe
   (written to ``<store>/.hook/<name>-<hash>.yaml``) and builds it through the normal store, so
   unchanged materials are reused; materials that reference a ``recipe`` build that recipe (only what
   changed). Then it copies (or links) each material's files into ``<target>/<material>/`` and answers
   with their paths.

The generated recipe keeps the materials of earlier requests (same ``name``, engine and output), so
exporting one material never evicts another from the latest version.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROTOCOL_VERSION = 1
DEFAULT_NAME = "hook"
DEFAULT_STAGES: list[Any] = ["tile", "pbr"]
MAPS = ("albedo", "normal", "roughness", "ao", "height")
DEFAULT_MAPS = ["albedo", "normal", "roughness", "ao", "height"]
LINK_MODES = ("copy", "hardlink", "symlink")
DESCRIPTION_PROMPT = ("seamless tileable {description} texture, top-down orthographic view, flat even lighting, "
                      "PBR albedo, highly detailed")

TOP_KEYS = {"version", "target", "store", "name", "engine", "output", "defaults", "link", "materials"}
MATERIAL_KEYS = {"name", "prompt", "description", "recipe", "asset", "set", "size", "seed", "maps", "tile",
                 "stages", "steps"}
DEFAULT_KEYS = {"size", "seed", "maps", "tile", "stages", "steps"}
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class HookError(Exception):
    """A bad request: every problem, one per line (exit code 2)."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass
class Material:
    index: int
    name: str
    folder: str  # the material's folder inside the target (and its asset id in a generated recipe)
    prompt: str | None = None
    recipe: Path | None = None
    asset: str | None = None
    overrides: list[str] = field(default_factory=list)
    spec: dict[str, Any] = field(default_factory=dict)  # size, seed, steps, tile, stages for the generated recipe


@dataclass
class HookRequest:
    target: Path
    store: Path | None
    name: str
    engine: Any
    output: dict[str, Any] | None
    link: str
    materials: list[Material]
    base_dir: Path


def slug(name: str) -> str:
    """A material name as a folder name and asset id: ``Material.001`` -> ``Material_001``."""
    s = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_-")[:100]
    return s or "material"


def _kind(v: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", int: "an integer",
            float: "a number", type(None): "null"}.get(type(v), type(v).__name__)


def _unknown(problems: list[str], where: str, obj: dict, allowed: set[str]) -> None:
    import difflib

    for key in obj:
        if key not in allowed:
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            hint = f"did you mean {close[0]!r}?" if close else "allowed: " + ", ".join(sorted(allowed))
            problems.append(f"{where}{key}: unknown key; {hint}")


def _check_maps(problems: list[str], where: str, maps: Any) -> None:
    if not isinstance(maps, list) or not maps or not all(isinstance(m, str) for m in maps):
        problems.append(f"{where}: expected a non-empty list of map names ({', '.join(MAPS)}), got {_kind(maps)}")
    elif bad := [m for m in maps if m not in MAPS]:
        problems.append(f"{where}: unknown map {bad[0]!r}; maps are {', '.join(MAPS)}")
    elif "albedo" not in maps:
        problems.append(f"{where}: the maps must include 'albedo' (the others are made from it)")


def read_request(path: str | os.PathLike) -> HookRequest:
    """Read a request file (``-`` for standard input) and check it; relative paths are from its folder."""
    if str(path) == "-":
        import sys

        text, base = sys.stdin.read(), Path.cwd()
    else:
        try:
            text, base = Path(path).read_text(encoding="utf-8"), Path(path).resolve().parent
        except (OSError, UnicodeDecodeError) as exc:
            raise HookError([f"{path}: cannot read the request: {getattr(exc, 'strerror', None) or exc}"]) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HookError([f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}"]) from None
    return parse_request(data, base)


def parse_request(data: Any, base_dir: str | os.PathLike = ".") -> HookRequest:
    """Check a request (a parsed JSON value); raise :class:`HookError` listing every problem."""
    base = Path(base_dir).resolve()
    if not isinstance(data, dict):
        raise HookError([f"the request must be a JSON object, got {_kind(data)}"])
    problems: list[str] = []
    version = data.get("version")
    if "version" not in data:
        problems.append(f'version: missing; write "version": {PROTOCOL_VERSION}')
    elif not isinstance(version, int) or isinstance(version, bool):
        problems.append(f"version: expected an integer, got {_kind(version)}")
    elif version > PROTOCOL_VERSION:
        raise HookError([f"version: the request speaks hook protocol {version}, this zpipe speaks "
                         f"{PROTOCOL_VERSION}; update zpipe"])
    elif version < 1:
        problems.append(f"version: expected {PROTOCOL_VERSION}, got {version}")
    _unknown(problems, "", data, TOP_KEYS)

    target = data.get("target")
    if not isinstance(target, str) or not target:
        problems.append(f"target: expected the folder to put the files in (a string), got {_kind(target)}")
        target_path = base
    else:
        target_path = (base / os.path.expanduser(target)).resolve()
    store = data.get("store")
    if store is not None and (not isinstance(store, str) or not store):
        problems.append(f"store: expected a folder (a string), got {_kind(store)}")
        store = None
    name = data.get("name", DEFAULT_NAME)
    if not isinstance(name, str) or not NAME_RE.match(name) or name.lower() == "latest":
        problems.append(f"name: expected a recipe name (letters, digits, '_', '-'), got {name!r}")
    link = data.get("link", "copy")
    if link not in LINK_MODES:
        problems.append(f"link: expected one of {', '.join(LINK_MODES)}, got {link!r}")
    engine = data.get("engine", "auto")
    if not isinstance(engine, (str, dict)):
        problems.append(f"engine: expected an engine name or object, got {_kind(engine)}")
    output = data.get("output")
    if output is not None and not isinstance(output, dict):
        problems.append(f"output: expected an object (the recipe's output options), got {_kind(output)}")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        problems.append(f"defaults: expected an object, got {_kind(defaults)}")
        defaults = {}
    _unknown(problems, "defaults.", defaults, DEFAULT_KEYS)
    if "maps" in defaults:
        _check_maps(problems, "defaults.maps", defaults["maps"])

    materials: list[Material] = []
    raw = data.get("materials")
    if not isinstance(raw, list) or not raw:
        problems.append("materials: expected a non-empty list of materials, got "
                        + ("an empty list" if raw == [] else _kind(raw)))
        raw = []
    names: dict[str, int] = {}
    folders: dict[str, int] = {}
    for i, m in enumerate(raw):
        where = f"materials[{i}]"
        if not isinstance(m, dict):
            problems.append(f"{where}: expected an object with a name, got {_kind(m)}")
            continue
        _unknown(problems, where + ".", m, MATERIAL_KEYS)
        mname = m.get("name")
        if not isinstance(mname, str) or not mname.strip():
            problems.append(f"{where}.name: expected the material's name (a non-empty string), got {_kind(mname)}")
            continue
        where = f"materials[{i}] ({mname})"
        if mname in names:
            problems.append(f"{where}.name: duplicate name (also materials[{names[mname]}])")
            continue
        names[mname] = i
        folder = slug(mname)
        if folder.lower() in folders:
            other = raw[folders[folder.lower()]]["name"]
            problems.append(f"{where}.name: its folder name {folder!r} is the same as that of {other!r}; rename one")
            continue
        folders[folder.lower()] = i
        sources = [k for k in ("prompt", "description", "recipe") if k in m]
        if len(sources) != 1:
            problems.append(f"{where}: give exactly one of prompt, description or recipe"
                            + (f" (got {', '.join(sources)})" if sources else ""))
            continue
        src = sources[0]
        if not isinstance(m[src], str) or not m[src].strip():
            problems.append(f"{where}.{src}: expected a non-empty string, got {_kind(m[src])}")
            continue
        mat = Material(i, mname, folder)
        if src == "recipe":
            for k in ("size", "seed", "maps", "tile", "stages", "steps"):
                if k in m:
                    problems.append(f"{where}.{k}: not used with a recipe; the recipe decides it "
                                    "(override recipe fields with \"set\": [\"size=512\"])")
            mat.recipe = (base / os.path.expanduser(m["recipe"])).resolve()
            if not mat.recipe.is_file():
                problems.append(f"{where}.recipe: no such file: {mat.recipe}")
            asset = m.get("asset")
            if asset is not None and (not isinstance(asset, str) or not asset):
                problems.append(f"{where}.asset: expected an asset id of the recipe, got {_kind(asset)}")
            mat.asset = asset
            sets = m.get("set", [])
            if not isinstance(sets, list) or not all(isinstance(s, str) for s in sets):
                problems.append(f"{where}.set: expected a list of \"KEY.PATH=VALUE\" strings, got {_kind(sets)}")
            else:
                mat.overrides = list(sets)
        else:
            for k in ("asset", "set"):
                if k in m:
                    problems.append(f"{where}.{k}: only used with \"recipe\"")
            text = m[src].strip()
            mat.prompt = text if src == "prompt" else DESCRIPTION_PROMPT.format(description=text)
            spec = {**defaults, **{k: m[k] for k in ("size", "seed", "maps", "tile", "stages", "steps") if k in m}}
            if "maps" in m:
                _check_maps(problems, f"{where}.maps", m["maps"])
            mat.spec = spec
        materials.append(mat)
    if problems:
        raise HookError(problems)
    return HookRequest(target=target_path, store=(base / os.path.expanduser(store)).resolve() if store else None,
                       name=name, engine=engine, output=output, link=link, materials=materials, base_dir=base)


# --- the generated recipe --------------------------------------------------------------------------

def _asset_entry(mat: Material) -> dict[str, Any]:
    spec = mat.spec
    entry: dict[str, Any] = {"id": mat.folder, "prompt": mat.prompt.replace("{", "{{").replace("}", "}}")}
    for k in ("size", "seed", "steps", "tile"):
        if k in spec:
            entry[k] = spec[k]
    if "stages" in spec:
        entry["stages"] = spec["stages"]
    else:
        maps = spec.get("maps", DEFAULT_MAPS)
        pbr_maps = [m for m in maps if m != "albedo"]
        entry["stages"] = ["tile", {"pbr": {"maps": pbr_maps}}] if pbr_maps else ["tile"]
    return entry


def _previous_assets(store_root: Path, hook_dir: Path, engine: Any, output: Any) -> list[dict[str, Any]]:
    """Assets of the previous generated recipe still in the latest version (same engine and output)."""
    import yaml

    from zpipe.store import RecipeStore

    store = RecipeStore(store_root.parent, store_root.name)
    latest = store.latest_manifest()
    if not latest:
        return []
    path = Path(latest.get("recipe", {}).get("path", ""))
    if path.parent.resolve() != hook_dir.resolve() or not path.is_file():
        return []
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return []
    if not isinstance(doc, dict) or doc.get("engine") != engine or doc.get("output") != output:
        return []
    ok = {a["id"] for a in latest.get("assets", []) if a.get("status") != "failed"}
    return [a for a in doc.get("assets", []) if isinstance(a, dict) and a.get("id") in ok]


def _write_recipe(hook_dir: Path, name: str, doc: dict[str, Any]) -> Path:
    import yaml

    text = "# generated by `zpipe hook export` (docs/hook-protocol.md); do not edit\n" + \
        yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    path = hook_dir / f"{name}-{digest}.yaml"
    if not path.is_file():
        hook_dir.mkdir(parents=True, exist_ok=True)
        tmp = hook_dir / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    return path


def _translate(exc, index_to_material: dict[int, Material], recipe_label: str) -> HookError:
    """A RecipeError of the generated recipe, phrased in terms of the request's materials."""
    problems = []
    for issue in exc.issues:
        m = re.match(r"assets\[(\d+)\](.*)", issue.path or "")
        mat = index_to_material.get(int(m.group(1))) if m else None
        if mat is not None:
            rest = m.group(2).lstrip(".")
            where = f"materials[{mat.index}] ({mat.name})" + (f".{rest}" if rest else "")
            where = where.replace(".stages[0].pbr.maps", ".maps")
        elif (issue.path or "").split(".")[0].split("[")[0] in ("engine", "output"):
            where = issue.path  # request fields that go to the recipe as they are
        else:
            where = f"{recipe_label}: {issue.path}" if issue.path else recipe_label
        problems.append(f"{where}: {issue.message}" + (f"; {issue.fix}" if issue.fix else ""))
    return HookError(problems)


# --- export --------------------------------------------------------------------------------------

def default_store() -> Path:
    """``$ZPIPE_OUT``, else the user's cache (``$XDG_CACHE_HOME/zpipe/store``, ``~/.cache/zpipe/store``)."""
    if os.environ.get("ZPIPE_OUT"):
        return Path(os.environ["ZPIPE_OUT"]).resolve()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache, "zpipe", "store").resolve()


def _same_file(path: Path, sha256: str | None) -> bool:
    if not sha256 or not path.is_file() or path.is_symlink():
        return False
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest() == sha256


def _place(src: Path, dst: Path, mode: str, sha256: str | None) -> None:
    """Put ``src`` at ``dst`` atomically (readers never see half a file); unchanged files are left alone."""
    if mode == "copy" and _same_file(dst, sha256):
        return
    if mode == "symlink" and dst.is_symlink() and os.readlink(dst) == str(src):
        return
    tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex[:8]}.tmp")
    if mode == "symlink":
        os.symlink(src, tmp)
    elif mode == "hardlink":
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
    else:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def _answer_material(mat: Material, asset: dict[str, Any] | None, version_dir: Path, target: Path, mode: str,
                     build: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": mat.name, "folder": str(target / mat.folder), "recipe": build["recipe"],
                             "version": build["version"]}
    if asset is None:
        entry.update(status="failed", files={}, error="the recipe has no asset "
                     f"{mat.asset or mat.folder!r}; give \"asset\": one of {', '.join(build['ids'][:20])}")
        return entry
    entry.update(asset=asset["id"], status=asset["status"], key=asset.get("key"),
                 size=asset.get("size"), tile=asset.get("tile"))
    if asset["status"] == "failed":
        entry.update(files={}, error=asset.get("error", "failed"))
        return entry
    folder = target / mat.folder
    folder.mkdir(parents=True, exist_ok=True)
    files, all_files, colour, export = {}, [], {}, (asset.get("metrics") or {}).get("export") or {}
    primary = {rel: role for role, rel in asset.get("files", {}).items()}
    for rel, digest in asset.get("outputs", {}).items():
        dst = folder / Path(rel).name
        _place(version_dir / rel, dst, mode, digest)
        all_files.append(str(dst))
        if rel in primary:
            files[primary[rel]] = str(dst)
    for role in files:
        m = export.get(role)
        if isinstance(m, dict) and m.get("colour_space"):
            colour[role] = m["colour_space"]
    entry.update(files=files, all_files=all_files, colour_space=colour)
    normal = export.get("normal")
    if isinstance(normal, dict) and normal.get("normal_y"):
        entry["normal_y"] = normal["normal_y"]
    depth = ((asset.get("metrics") or {}).get("pbr") or {}).get("depth")
    if "height" in files and isinstance(depth, (int, float)):
        entry["height_scale"] = depth  # height 0..1 spans `depth` x the texture's width
    return entry


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
        previous = _previous_assets(store / request.name, hook_dir, request.engine, request.output)
        new_ids = {m.folder for m in generated}
        assets = [a for a in previous if a["id"] not in new_ids] + [_asset_entry(m) for m in generated]
        assets.sort(key=lambda a: a["id"])
        index = {i: m for i, a in enumerate(assets) for m in generated if m.folder == a["id"]}
        doc: dict[str, Any] = {"name": request.name, "kind": "textures", "engine": request.engine}
        if request.output is not None:
            doc["output"] = request.output
        doc["assets"] = assets
        path = _write_recipe(hook_dir, request.name, doc)
        try:
            recipe = load_recipe(path)
        except RecipeError as exc:
            problems += _translate(exc, index, "the generated recipe").problems
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
        result = zrun(recipe, out=store, executor=executor, on_event=emit)
        manifest = this_run(load_manifest(result.path), result.up_to_date)
        build = {"recipe": recipe.name, "version": result.version, "path": result.path,
                 "up_to_date": result.up_to_date, "ids": [a["id"] for a in manifest["assets"]],
                 **{k: sum(1 for a in manifest["assets"] if a["status"] == k) for k in ("built", "reused", "failed")}}
        by_id = {a["id"]: a for a in manifest["assets"]}
        for m in mats:
            asset = by_id.get(m.asset or m.folder)
            placed[m.name] = _answer_material(m, asset, Path(result.path), request.target, request.link, build)
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
