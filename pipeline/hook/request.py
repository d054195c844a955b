"""The hook request: its fields declared as Param tables and checked by the recipe checker, so a request
and a recipe get the same wording ("expected an integer in [0, …]", "unknown key …; did you mean …").

Every problem is reported at once (:class:`HookError`, exit code 2), with the request's field path,
e.g. ``materials[2] (Brick).size``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zpipe.params import Param
from zpipe.recipe import fields as F
from zpipe.recipe.checker import Checker, kind_of
from zpipe.recipe.load import RESERVED

PROTOCOL_VERSION = 1
DEFAULT_NAME = "hook"
# The maps a material gets by default: the albedo and the pbr stage's maps, in the protocol's order.
# Not derived from the pbr stage's MAPS: this order reaches the pbr params, so the content key, of every
# hook asset (tests/hook pins it).
MAPS = ("albedo", "normal", "roughness", "ao", "height")
LINK_MODES = ("copy", "hardlink", "symlink")
SOURCES = ("prompt", "description", "recipe")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
MAX_BYTES = 16 * 2**20  # a request names materials; 16 MiB is thousands of them

# What a material (or `defaults`) says about the generated recipe's asset; size and stages are checked
# by the recipe validation of the generated recipe, with the problems phrased as the request's fields.
SPEC: dict[str, Param] = {
    "size": Param(object, None, "As in recipes: 1024, [w, h] or 'WxH'."),
    "seed": F.COMMON["seed"],
    "maps": Param(list, list(MAPS), "The maps to make; albedo is required (the others are made from it).",
                  choices=MAPS),
    "tile": F.COMMON["tile"],
    "stages": Param(list, None, "As in recipes; replaces the stages that `maps` implies."),
    "steps": F.COMMON["steps"],
}
MATERIAL: dict[str, Param] = {
    "name": Param(str, None, "The material's name in the DCC.", required=True),
    "prompt": Param(str, None, "A prompt for a generated texture."),
    "description": Param(str, None, "A few words; zpipe writes the texture prompt around them."),
    "recipe": Param(str, None, "A recipe file that holds the material (relative to the request)."),
    "asset": Param(str, None, "With recipe: the asset id (default: the recipe's only asset, or the name)."),
    "set": Param(list, [], "With recipe: KEY.PATH=VALUE overrides, as `zpipe run --set`.", item=str),
    **SPEC,
}
REQUEST: dict[str, Param] = {
    "version": Param(int, None, "The protocol version the request speaks.", min=1),
    "target": Param(str, None, "The folder to put the files in.", required=True),
    "store": Param(str, None, "The asset store (default: --out, $ZPIPE_OUT, ~/.cache/zpipe/store)."),
    "name": Param(str, DEFAULT_NAME, "The generated recipe's name (letters, digits, '_', '-')."),
    "engine": Param(object, "auto", "As in recipes: a name or {name, …options}."),
    "output": Param(dict, None, "As in recipes: the export options."),
    "defaults": Param(dict, {}, "Material keys that every material starts from."),
    "link": Param(str, "copy", "How files reach the target.", choices=LINK_MODES),
    "materials": Param(list, None, "The materials to export.", required=True),
}
DESCRIPTION_PROMPT = ("seamless tileable {description} texture, top-down orthographic view, flat even lighting, "
                      "PBR albedo, highly detailed")


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
    spec: dict[str, Any] = field(default_factory=dict)  # size, seed, steps, tile, stages, maps for the recipe


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
    """A material name as a folder name and asset id: ``Material.001`` -> ``Material_001``, ``CON`` -> ``CON_``."""
    s = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_-")[:100] or "material"
    return f"{s}_" if s.lower() in RESERVED else s  # CON, NUL, COM1 …: Windows cannot make such folders


def decode(text: str, source: str) -> Any:
    """The request's JSON value; HookError for text that is not JSON, too deep or with absurd numbers."""
    if len(text) > MAX_BYTES:
        raise HookError([f"{source}: the request is over {MAX_BYTES // 2**20} MiB; send fewer materials at once"])
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise HookError([f"{source}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}"]) from None
    except RecursionError:
        raise HookError([f"{source}: the request is nested too deeply to be a hook request"]) from None
    except ValueError as exc:  # an integer of more than 4300 digits
        raise HookError([f"{source}: {exc}; no field of a request takes such a number"]) from None


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
    return parse_request(decode(text, str(path)), base)


def parse_request(data: Any, base_dir: str | os.PathLike = ".") -> HookRequest:
    """Check a request (a parsed JSON value); raise :class:`HookError` listing every problem."""
    base = Path(base_dir).resolve()
    c = Checker("the request", {}, {})
    if not isinstance(data, dict):
        raise HookError([f"the request must be a JSON object, got {kind_of(data)}"])
    version = data.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version > PROTOCOL_VERSION:
        raise HookError([f"version: the request speaks hook protocol {version}, this zpipe speaks "
                         f"{PROTOCOL_VERSION}; update zpipe"])
    if "version" not in data:
        c.error(("version",), "missing", f'write "version": {PROTOCOL_VERSION}')
    top = c.params((), data, REQUEST, "request keys")
    name = top["name"]
    if isinstance(name, str) and (not NAME_RE.match(name) or name.lower() == "latest"):
        c.error(("name",), f"expected a recipe name (letters, digits, '_', '-'), got {name!r}")
    if not isinstance(top["engine"], (str, dict)):
        c.error(("engine",), f"expected an engine name or object, got {kind_of(top['engine'])}")
    defaults = c.params(("defaults",), top["defaults"] or {}, SPEC, "material keys")
    defaults = {k: v for k, v in defaults.items() if k in (top["defaults"] or {})}
    raw = top["materials"]
    if raw == []:
        c.error(("materials",), "expected a non-empty list of materials, got an empty list")
    materials = _materials(c, raw or [], defaults, base)
    problems = [_problem(i) for i in c.issues]
    if problems:
        raise HookError(problems)
    return HookRequest(target=_path(base, top["target"]), store=_path(base, top["store"]) if top["store"] else None,
                       name=name, engine=top["engine"], output=top["output"], link=top["link"],
                       materials=materials, base_dir=base)


def _problem(issue) -> str:
    return f"{issue.path}: {issue.message}" + (f"; {issue.fix}" if issue.fix else "")


def _path(base: Path, text: str) -> Path:
    return (base / os.path.expanduser(text)).resolve()


def _materials(c: Checker, raw: list, defaults: dict[str, Any], base: Path) -> list[Material]:
    materials: list[Material] = []
    names: dict[str, int] = {}
    folders: dict[str, str] = {}
    for i, m in enumerate(raw):
        if not isinstance(m, dict):
            c.error(("materials", i), f"expected an object with a name, got {kind_of(m)}")
            continue
        mname = m.get("name")
        where = f"materials[{i}] ({mname})" if isinstance(mname, str) and mname.strip() else f"materials[{i}]"
        fields = c.params((where,), m, MATERIAL, "material keys")
        if not isinstance(mname, str) or not mname.strip():
            continue
        if mname in names:
            c.error((where, "name"), f"duplicate name (also materials[{names[mname]}])")
            continue
        names[mname] = i
        folder = slug(mname)
        if folder.lower() in folders:
            c.error((where, "name"), f"its folder name {folder!r} is the same as that of "
                    f"{folders[folder.lower()]!r}; rename one")
            continue
        folders[folder.lower()] = mname
        mat = _material(c, where, i, mname, folder, m, fields, defaults, base)
        if mat is not None:
            materials.append(mat)
    return materials


def _material(c: Checker, where: str, i: int, name: str, folder: str, m: dict, fields: dict[str, Any],
              defaults: dict[str, Any], base: Path) -> Material | None:
    sources = [k for k in SOURCES if k in m]
    if len(sources) != 1:
        c.error((where,), "give exactly one of prompt, description or recipe"
                + (f" (got {', '.join(sources)})" if sources else ""))
        return None
    src = sources[0]
    if not isinstance(fields[src], str) or not fields[src].strip():
        if fields[src] is not None:
            c.error((where, src), "expected a non-empty string")
        return None
    mat = Material(i, name, folder)
    if src == "recipe":
        return _recipe_material(c, where, mat, m, fields, base)
    for k in ("asset", "set"):
        if k in m:
            c.error((where, k), 'only used with "recipe"')
    text = fields[src].strip()
    mat.prompt = text if src == "prompt" else DESCRIPTION_PROMPT.format(description=text)
    mat.spec = {**defaults, **{k: fields[k] for k in SPEC if k in m}}
    maps = mat.spec.get("maps")
    if maps is not None and "albedo" not in maps:
        c.error((where, "maps") if "maps" in m else ("defaults", "maps"),
                "the maps must include 'albedo' (the others are made from it)")
    return mat


def _recipe_material(c: Checker, where: str, mat: Material, m: dict, fields: dict[str, Any], base: Path) -> Material:
    """A material built from a recipe's asset: the recipe decides its size, seed, maps …"""
    for k in SPEC:
        if k in m:
            c.error((where, k), "not used with a recipe; the recipe decides it",
                    'override recipe fields with "set": ["size=512"]')
    mat.recipe = _path(base, fields["recipe"])
    if not mat.recipe.is_file():
        c.error((where, "recipe"), f"no such file: {mat.recipe}")
    mat.asset, mat.overrides = fields["asset"], list(fields["set"] or [])
    return mat
