"""Load, override, validate and expand a recipe. Every problem is collected and raised together.

Entry point: :func:`load_recipe`. The result is a :class:`Recipe` whose ``jobs`` are fully resolved.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
import string
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Any

from zpipe.gc_pause import gc_paused
from zpipe.params import Param
from zpipe.recipe import fields as F
from zpipe.recipe.checker import Checker, fix_for, kind_of
from zpipe.recipe.errors import Issue, RecipeError, format_path
from zpipe.recipe.model import Job, Recipe, StageSpec
from zpipe.recipe.yaml_loader import load_yaml

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
# Names Windows cannot create, plus names the store itself uses inside a recipe folder.
RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10)),
            "latest"}
ID_FIX = "use letters, digits, '_' and '-' only (no '/', '..' or dots), starting with a letter or digit"


# --- overrides -----------------------------------------------------------------------------------

def parse_override(text: str) -> tuple[tuple, Any]:
    """``assets[2].prompt=a b`` or ``output.formats=[png, jpeg]`` -> (path, value); ValueError if malformed."""
    key, sep, raw = text.partition("=")
    text = text if len(text) <= 80 else text[:60] + "…"  # as messages show it
    if not sep or not key.strip():
        raise ValueError(f"--set {text!r}: expected KEY.PATH=VALUE")
    path: list = []
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", key.strip()):
        digits = part.strip("[]")
        if digits.isdigit() and len(digits) > 9:
            raise ValueError(f"--set {text!r}: index {digits[:12]}… is too large")
        path.append(int(digits) if part.startswith("[") or digits.isdigit() else part)
    if not path:
        raise ValueError(f"--set {text!r}: expected KEY.PATH=VALUE (no key in {key!r})")
    if not raw.strip():
        return tuple(path), ""
    try:  # the same loader as recipes: no tags, no alias bombs, no 5000-digit numbers
        value, _ = load_yaml(raw, f"--set {text}")
    except RecipeError as exc:
        if not exc.issues[0].message.startswith("YAML"):
            raise ValueError(f"--set {text!r}: {exc.issues[0].message}") from None
        value = raw  # not YAML: the text as written
    return tuple(path), value


def apply_overrides(data: Any, overrides: list[str]) -> tuple[Any, dict[tuple, str]]:
    if not overrides:
        return data, {}
    if not isinstance(data, dict):
        data = {}
    done: dict[tuple, str] = {}
    for text in overrides:
        path, value = parse_override(text)
        node = data
        for i, part in enumerate(path[:-1]):
            nxt = path[i + 1]
            if isinstance(part, int):
                if not isinstance(node, list) or part >= len(node):
                    raise ValueError(f"--set {text}: {format_path(path[:i + 1])} does not exist")
                node = node[part]
            else:
                if not isinstance(node, dict):
                    raise ValueError(f"--set {text}: {format_path(path[:i])} is not a mapping")
                if part not in node or node[part] is None:
                    node[part] = [] if isinstance(nxt, int) else {}
                node = node[part]
        last = path[-1]
        if isinstance(last, int):
            if not isinstance(node, list) or last >= len(node):
                raise ValueError(f"--set {text}: {format_path(path)} does not exist")
        elif not isinstance(node, dict):
            raise ValueError(f"--set {text}: {format_path(path[:-1])} is not a mapping")
        node[last] = value
        done[path] = f"--set {text}"
    return data, done


# --- the checks ----------------------------------------------------------------------------------

def _check_id(c: Checker, path: tuple, value: str, what: str) -> bool:
    if not ID_RE.match(value) or value.lower() in RESERVED:
        problem = "is reserved" if value.lower() in RESERVED else "cannot be used as a folder name"
        c.error(path, f"{what} {value!r} {problem}", ID_FIX)
        return False
    return True


def _check_size(c: Checker, path: tuple, value: Any, kind: str) -> tuple[int, int] | None:
    presets = ", ".join(F.SIZE_PRESETS)
    fix = f"write a number like 1024, [width, height], 'WIDTHxHEIGHT' or a preset ({presets})"
    if isinstance(value, str) and value in F.SIZE_PRESETS:
        return F.SIZE_PRESETS[value]
    if isinstance(value, str) and re.fullmatch(r"\d+x\d+", value):
        w, h = (int(v) for v in value.split("x"))
    elif isinstance(value, int) and not isinstance(value, bool):
        w = h = value
    elif isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) and not isinstance(v, bool)
                                                           for v in value):
        w, h = value
    else:
        shown = repr(value) if isinstance(value, str) else kind_of(value)
        c.error(path, f"expected a size, got {shown}", fix)
        return None
    bad = [v for v in (w, h) if v % 16 or not 64 <= v <= 8192]
    if bad:
        c.error(path, f"size {w}x{h} is invalid: width and height must be multiples of 16 from 64 to 8192",
                f"use e.g. {max(64, min(8192, (bad[0] + 8) // 16 * 16))}")
        return None
    return w, h


def _check_engine(c: Checker, value: Any) -> tuple[str, dict]:
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, dict):
        c.error(("engine",), f"expected an engine name or mapping, got {kind_of(value)}",
                "write `engine: auto` or `engine: {name: z-image-turbo, model: PATH}`")
        return "auto", {}
    c.mapping(("engine",), value, F.ENGINE_OPTIONS, "engine options")
    opts: dict[str, Any] = {}
    for key, spec in F.ENGINE_OPTIONS.items():
        if key in value and value[key] is not None:
            opts[key] = c.param(("engine", key), spec, value[key])
    name = opts.get("name") or "auto"
    for key in opts:
        owner = F.ENGINE_OPTION_OWNER.get(key, "*")
        if name != "auto" and owner not in ("*", name):
            c.error(("engine", key), f"option {key!r} belongs to the {owner} engine, not {name}",
                    f"remove it, or use `name: {owner}` (or auto)", at_key=True)
    for i, lora in enumerate(opts.get("loras") or []):
        p = ("engine", "loras", i)
        if not isinstance(lora, dict) or not isinstance(lora.get("path"), str):
            c.error(p, "expected {path: FILE, scale: NUMBER}", "give each LoRA a `path` (and an optional `scale`)")
            continue
        c.mapping(p, lora, ("path", "scale"), "LoRA options")
        if "scale" in lora:
            c.param(p + ("scale",), Param(float, 1.0, min=-10, max=10), lora["scale"])
    return opts.pop("name", None) or "auto", opts


def _stage_class(name: str):
    from zpipe.stages import registry

    return registry.get(name)


def _check_stage_params(c: Checker, path: tuple, params: Any, cls, what: str) -> dict:
    out = c.params(path, params, cls.params, what)
    if all(v is not None or cls.params[k].default is None for k, v in out.items()):
        for key, problem in cls.check(out).items():
            c.error(path + (key,), problem)
    return out


def _check_stages(c: Checker, path: tuple, value: Any, kind: str) -> list[StageSpec]:
    from zpipe.stages import registry

    if not isinstance(value, list):
        c.error(path, f"expected a list of stages, got {kind_of(value)}", "write `stages: [tile, {pbr: {...}}]`")
        return []
    out = []
    for i, entry in enumerate(value):
        p = path + (i,)
        if isinstance(entry, str):
            name, params = entry, {}
        elif isinstance(entry, dict) and len(entry) == 1:
            name, params = next(iter(entry.items()))
            p = p + (name,)
        else:
            c.error(p, "expected a stage name or a one-key mapping {stage: {params}}", "write e.g. `- pbr: {normal: opengl}`")
            continue
        if name == "export":
            c.error(p, "export always runs last", "configure it under `output:` instead of `stages:`")
            continue
        try:
            cls = _stage_class(name)
        except KeyError:
            c.error(p, f"unknown stage {name!r}", registry.unknown_stage_fix(name))
            continue
        except (ImportError, AttributeError, TypeError) as exc:
            c.error(p, f"stage {name!r} is not available ({exc})", "reinstall the package that provides it")
            continue
        if kind not in cls.kinds:
            c.error(p, f"stage {name!r} does not apply to {kind}", f"it applies to {', '.join(cls.kinds)}")
            continue
        out.append(StageSpec(name, _check_stage_params(c, p, params, cls, f"{name} parameters")))
    return out


def _check_text_line(c: Checker, path: tuple, value: Any) -> dict | None:
    if isinstance(value, str):
        value = {"text": value}
    if not isinstance(value, dict):
        c.error(path, f"expected text or {{text, lang, placement}}, got {kind_of(value)}", "write `title: 春节快乐`")
        return None
    line = c.params(path, value, F.TEXT_LINE, "text line options")
    if line.get("text") is not None and not line["text"].strip():
        c.error(path + ("text",), "text is empty", "write the text to show, or remove the line")
    return line


def _slug(value: Any) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", str(value)).strip("_").lower() or "x"


def _derive_seed(base: int, asset_id: str) -> int:
    """Seeds come from the asset id, so adding or reordering assets never changes another's seed."""
    return (base + int.from_bytes(hashlib.sha256(asset_id.encode()).digest()[:4], "big")) % 2**32


def _template(c: Checker, path: tuple, template: str) -> list[tuple[str, str | None]] | None:
    """A template as (literal text, placeholder name or None) parts; None (and an issue) when malformed.

    Only plain ``{name}`` placeholders: a format spec (``{id:>2000000000}``) or a conversion could raise
    or ask for gigabytes, and a recipe has no use for them.
    """
    fix = "write placeholders as {name}; double braces {{ }} for literal ones"
    try:
        parsed = _parse_template(template)
    except ValueError:
        c.error(path, "malformed {placeholder}", fix)
        return None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if spec or conversion:
            c.error(path, f"{{{name}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}}: format "
                    "specs and conversions are not supported", fix)
            return None
        if not name.isidentifier():
            c.error(path, "malformed {placeholder}", fix)
            return None
    return [(literal, name) for literal, name, _, _ in parsed]


@functools.lru_cache(maxsize=4096)  # one template serves every asset of a matrix
def _parse_template(template: str) -> tuple:
    return tuple(string.Formatter().parse(template))


def _format_string(parts: list[tuple[str, str | None]], field=lambda name: f"{{{name}!s}}") -> str:
    """Checked template parts as a ``str.format`` string (``!s``: each value as ``str()`` gives it), so a
    matrix fills its ids and prompts in C, not part by part."""
    return "".join(literal.replace("{", "{{").replace("}", "}}") + (field(name) if name is not None else "")
                   for literal, name in parts)


@dataclass(frozen=True)
class _Prompt:
    """A checked prompt template: where it is written, as a ``str.format`` string, and its placeholders."""

    path: tuple
    format: str
    names: tuple[str, ...]

    def fill(self, c: Checker, values: dict[str, Any]) -> str | None:
        missing = [n for n in self.names if n not in values]
        if missing:
            known = ", ".join(sorted(values)) or "none"
            c.error(self.path, f"unknown placeholder {{{missing[0]}}}", f"placeholders available here: {known}")
            return None
        return self.format.format_map(values)


@dataclass
class _Top:
    """The recipe-wide settings that every asset starts from (checked once)."""

    data: dict
    params: dict[str, Any]  # TOP_ONLY and COMMON keys: the value written, else the default
    kind: str
    engine: str
    engine_options: dict[str, Any]
    size: tuple[int, int] | None
    stages: list[StageSpec] | None  # None: not written (posters then get their text stages)
    output: dict[str, Any]
    text: dict[str, dict | None]
    limits: dict[str, int]


def _validate(c: Checker, data: Any, path_str: str, sha: str) -> Recipe | None:
    if not isinstance(data, dict):
        c.error((), f"a recipe must be a mapping, got {kind_of(data)}", "start from a stock recipe in recipes/")
        return None
    top = _check_top(c, data)
    sources = _asset_sources(c, top)
    with gc_paused():  # every job made here stays alive: the collector would search them in vain
        jobs = _expand_jobs(c, top, sources)
    _check_outputs(c, top, jobs)
    if c.issues:
        return None
    return Recipe(name=top.params["name"], kind=top.kind, path=path_str, sha256=sha, engine=top.engine,
                  engine_options=top.engine_options, jobs=tuple(jobs))


def _check_top(c: Checker, data: dict) -> _Top:
    c.mapping((), data, {**F.TOP_ONLY, **F.COMMON}.keys() | set(F.SPECIAL), "recipe keys")
    params = {k: c.param((k,), spec, data[k]) if k in data else spec.default
              for k, spec in {**F.TOP_ONLY, **F.COMMON}.items()}
    for k, spec in F.TOP_ONLY.items():
        if spec.required and k not in data:
            c.error((k,), f"missing required key {k!r}", fix_for(spec))
    if isinstance(params["name"], str):
        _check_id(c, ("name",), params["name"], "recipe name")
    kind = params["kind"] or "textures"
    engine, engine_options = _check_engine(c, data.get("engine", "auto"))
    output = {}
    try:
        output = _check_stage_params(c, ("output",), data.get("output"), _stage_class("export"), "output options")
    except (KeyError, ImportError) as exc:
        c.error(("output",), f"the export stage is not available ({exc})", "reinstall zpipe")
    limits = c.params(("limits",), data.get("limits"), F.LIMITS, "limits")
    return _Top(data=data, params=params, kind=kind, engine=engine, engine_options=engine_options,
                size=_check_size(c, ("size",), data.get("size", 1024), kind),
                stages=_check_stages(c, ("stages",), data["stages"], kind) if "stages" in data else None,
                output=output, text={r: _check_text_line(c, (r,), data[r]) for r in F.TEXT_ROLES if r in data},
                limits={k: v if v is not None else F.LIMITS[k].default for k, v in limits.items()})


def _asset_sources(c: Checker, top: _Top) -> list[tuple[tuple, dict, dict]]:
    """The assets before expansion: (path, the asset's own keys, placeholder values) for each matrix
    combination and each `assets:` entry. The asset count is checked before anything is expanded."""
    matrix, assets = top.data.get("matrix"), top.data.get("assets")
    if matrix is None and assets is None:
        c.error((), "the recipe defines no assets", "add a `matrix:` or an `assets:` list")
    if assets is not None and (not isinstance(assets, list) or not assets):
        c.error(("assets",), "expected a non-empty list of assets" if isinstance(assets, list)
                else f"expected a list of assets, got {kind_of(assets)}", "list assets as `- id: NAME` entries")
        assets = None
    axes = _matrix_axes(c, matrix) if matrix is not None else None
    if not _within_asset_limit(c, top, axes, assets or []):
        return []
    sources = _expand_matrix(c, axes, top.params["id"]) if axes else []
    for i, a in enumerate(assets or []):
        source = _asset_entry(c, ("assets", i), a)
        if source is not None:
            sources.append(source)
    return sources


def _within_asset_limit(c: Checker, top: _Top, axes: dict[str, list] | None, assets: list) -> bool:
    def seeds(a: Any) -> int:
        n = a.get("seeds") if isinstance(a, dict) else None
        n = n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else top.params["seeds"]
        return n if isinstance(n, int) else 1

    count = (math.prod(len(v) for v in axes.values()) * seeds({}) if axes else 0) + sum(seeds(a) for a in assets)
    limit = top.limits["assets"]
    if count > limit:
        c.error(("matrix",) if axes else ("assets",), f"the recipe makes {count:,} assets (matrix combinations and "
                f"assets, times seeds); the limit is {limit:,}",
                "split the recipe, or raise the limit with `limits: {assets: N}` if you mean it")
        return False
    return True


def _asset_entry(c: Checker, p: tuple, a: Any) -> tuple[tuple, dict, dict] | None:
    if not isinstance(a, dict):
        c.error(p, f"expected an asset mapping, got {kind_of(a)}", "write `- id: NAME` plus overrides")
        return None
    c.mapping(p, a, {**F.COMMON, **F.ASSET_ONLY}.keys() | {"size", "stages", *F.TEXT_ROLES}, "asset keys")
    if "id" not in a:
        c.error(p + ("id",), "missing required key 'id'", "give every asset an `id`")
        return None
    aid = c.param(p + ("id",), F.ASSET_ONLY["id"], a["id"])
    vars_ = c.param(p + ("vars",), F.ASSET_ONLY["vars"], a["vars"]) if "vars" in a else {}
    for k, v in (vars_ or {}).items():
        if not _plain(v):
            c.error(p + ("vars", k), "vars values must be plain words or numbers", f"write `{k}: a`")
            vars_ = None
    if aid is None or not _check_id(c, p + ("id",), aid, "asset id"):
        return None
    return p, a, {"id": aid, **(vars_ or {})}


def _plain(v: Any) -> bool:
    return not (isinstance(v, (dict, list)) or v is None or (isinstance(v, float) and not math.isfinite(v)))


def _expand_jobs(c: Checker, top: _Top, sources: list[tuple[tuple, dict, dict]]) -> list[Job]:
    jobs: list[Job] = []
    seen: dict[str, tuple[tuple, str]] = {}
    matrix: _Shape | None = None  # matrix combinations ({} of their own) differ only in their values
    for p, a, values in sources:
        shape = None
        if not a:
            shape = matrix = matrix or _asset_shape(c, top, p, a)
        jobs += _asset_jobs(c, top, p, a, values, seen, shape)
    return jobs


@dataclass
class _Shape:
    """What an asset takes from its own keys over the top-level ones, whatever its placeholder values."""

    size: tuple[int, int] | None
    stages: tuple[StageSpec, ...]
    lines: list[dict[str, Any]]
    prompt: _Prompt | None  # None: no prompt, or a malformed one


def _asset_getter(c: Checker, top: _Top, p: tuple, a: dict):
    def get(k: str) -> Any:  # the asset's override, else the top-level value
        return c.param(p + (k,), F.COMMON[k], a[k]) if k in a else top.params[k]

    return get


def _asset_shape(c: Checker, top: _Top, p: tuple, a: dict) -> _Shape:
    get = _asset_getter(c, top, p, a)
    size = _check_size(c, p + ("size",), a["size"], top.kind) if "size" in a else top.size
    stages = tuple(_asset_stages(c, top, p, a, get))
    lines = _asset_lines(c, top, p, a)
    return _Shape(size, stages, lines, _asset_template(c, top, p, a, get))


def _asset_jobs(c: Checker, top: _Top, p: tuple, a: dict, values: dict,
                seen: dict[str, tuple[tuple, str]], shape: _Shape | None = None) -> list[Job]:
    """One asset's jobs (one per seed): its own keys over the top-level ones."""
    get = _asset_getter(c, top, p, a)
    kind = top.kind
    shape = shape if shape is not None else _asset_shape(c, top, p, a)
    size, stages, lines = shape.size, shape.stages, shape.lines
    base_prompt = shape.prompt.fill(c, values) if shape.prompt else None
    if kind == "posters" and not lines:
        c.error(p, "a poster needs text", "add `title:` (and optionally `subtitle:`, `body:`)")
    ids = _seed_ids(c, p, values["id"], get("seeds") or 1, seen)
    base_seed = get("seed") if "seed" in a else None
    if base_prompt is None or size is None or c.issues:
        return []
    jobs = []
    for k, jid in enumerate(ids):
        seed = (base_seed + k) if base_seed is not None else _derive_seed(top.params["seed"] or 0, jid)
        fields: dict[str, Any] = {"vars": {k2: v for k2, v in values.items() if k2 != "id"}}
        prompt = base_prompt
        if kind == "posters":
            fields.update(lines=lines, style=base_prompt, text=get("text"), fallback=get("fallback"),
                          candidates=get("candidates"))
            prompt = _poster_prompt(base_prompt, lines, *size, typeset=get("text") == "typeset")
            _check_font_coverage(c, p, lines, stages)
        tile = get("tile") or ("xy" if kind == "textures" else "none")
        jobs.append(Job(id=jid, kind=kind, prompt=prompt, seed=seed % 2**32, width=size[0], height=size[1],
                        steps=get("steps"), tile=tile, stages=stages, output=top.output, fields=fields))
    return jobs


def _asset_stages(c: Checker, top: _Top, p: tuple, a: dict, get) -> list:
    if "stages" in a:
        return _check_stages(c, p + ("stages",), a["stages"], top.kind)
    if top.stages is not None:
        return top.stages
    return _default_stages(get("text"), top.kind)  # posters: the default text stages follow the `text` mode


def _asset_lines(c: Checker, top: _Top, p: tuple, a: dict) -> list[dict[str, Any]]:
    """A poster asset's text lines: its own over the top-level ones, in role order."""
    lines = []
    for role in F.TEXT_ROLES:
        line = _check_text_line(c, p + (role,), a[role]) if role in a else top.text.get(role)
        if line:
            lines.append({"role": role, **line})
    return lines


def _asset_template(c: Checker, top: _Top, p: tuple, a: dict, get) -> _Prompt | None:
    template = get("prompt") if top.kind == "textures" else (get("style") or get("prompt"))
    if template is None:
        c.error(p + ("prompt",), "no prompt", "set `prompt:` at the top level or on this asset"
                if top.kind == "textures" else "set `style:` (the poster's look) at the top level or on this asset")
        return None
    prompt_path = p + ("prompt",) if "prompt" in a else p + ("style",) if "style" in a else \
        ("prompt",) if "prompt" in top.data else ("style",)
    parts = _template(c, prompt_path, template)
    if parts is None:
        return None
    return _Prompt(prompt_path, _format_string(parts), tuple(n for _, n in parts if n is not None))


def _seed_ids(c: Checker, p: tuple, aid: str, nseeds: int, seen: dict[str, tuple[tuple, str]]) -> list[str]:
    ids = [aid] if nseeds == 1 else [f"{aid}_s{k + 1}" for k in range(nseeds)]
    for jid in ids:
        folded = jid.casefold()  # Rock and rock are one folder on macOS and Windows
        if folded in seen:
            other_path, other_id = seen[folded]
            same = "" if other_id == jid else f" ({other_id!r} differs only in case)"
            c.error(p, f"duplicate asset id {jid!r}{same} (also at {format_path(other_path)})",
                    "give every asset a distinct id")
        seen.setdefault(folded, (p, jid))
    return ids


def _check_outputs(c: Checker, top: _Top, jobs: list[Job]) -> None:
    """What the stages will make of each job: distinct file names, image sizes within the limit."""
    naming = top.output.get("naming") or ""
    if "{role}" not in naming and "{suffix}" not in naming:
        many = [j.id for j in jobs if any(s.name == "pbr" for s in j.stages)]
        if many:
            c.error(("output", "naming"), f"naming {naming!r} gives every map of {many[0]!r} the same file name "
                    "(the pbr stage adds height, normal, roughness and ao)", "put {role} or {suffix} in it")
    _check_stage_sizes(c, jobs, top.limits["pixels"])
    if top.output.get("power_of_two") == "check":
        _check_power_of_two(c, jobs)


def _sizes(job: Job) -> list[tuple[int, int] | None]:
    """The job's size, then the size each of its stages leaves (None from where only the build can tell)."""
    sizes: list[tuple[int, int] | None] = [(job.width, job.height)]
    for s in job.stages:
        sizes.append(_stage_class(s.name).output_size(s.params, sizes[-1]) if sizes[-1] else None)
    return sizes


def _check_stage_sizes(c: Checker, jobs: list[Job], max_pixels: int) -> None:
    """An image that a stage would make too large (``resize: {scale: 16}`` then ``upscale: 4``) is a recipe
    error, found before a build asks for gigabytes."""
    for j in jobs:
        for s, size in zip(j.stages, _sizes(j)[1:]):
            if size and size[0] * size[1] > max_pixels:
                c.error(("stages",), f"asset {j.id!r}: the {s.name} stage makes a {size[0]}x{size[1]} image, over "
                        f"the limit of {max_pixels:,} pixels", "lower its scale or factor, or raise "
                        "`limits: {pixels: N}` if the machine has the memory (about 12 bytes a pixel per map)")
                return


def _check_power_of_two(c: Checker, jobs: list[Job]) -> None:
    """`power_of_two: check` fails at export; catch the sizes that the stages' parameters already decide."""
    bad = []
    for j in jobs:
        size = _sizes(j)[-1]
        if size and not all(n & (n - 1) == 0 for n in size):
            bad.append((j.id, size))
    if bad:
        (aid, (w, h)), more = bad[0], f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        c.error(("output", "power_of_two"), f"asset {aid!r}{more} is exported at {w}x{h}, not a power of two",
                "set `size:` to 64, 128, 256, 512, 1024 … (or add `- resize: {width: …}`), or set "
                "output.power_of_two to resize")


def _default_stages(text_mode: str, kind: str) -> list[StageSpec]:
    """Without `stages:`, textures get none and posters their text stages (typeset first when asked)."""
    if kind != "posters":
        return []
    names = ["typeset", "glyph_check"] if text_mode == "typeset" else ["glyph_check"]
    return [StageSpec(n, _stage_class(n).resolve({})) for n in names]


def _poster_prompt(style: str, lines: list[dict], width: int, height: int, typeset: bool) -> str:
    """The engine prompt: the text quoted in (render), or a text-free background (typeset)."""
    from zpipe.text.prompt import compose_background_prompt, compose_prompt

    return (compose_background_prompt if typeset else compose_prompt)(style, lines, width, height)


def _check_font_coverage(c: Checker, path: tuple, lines: list[dict], stages: list[StageSpec]) -> None:
    """A poster whose text the fonts cannot draw is a recipe error, found before anything is built."""
    from zpipe.text.fonts import coverage_problem

    for spec in stages:
        if "font" in spec.params:
            problem = coverage_problem([line["text"] for line in lines], spec.params.get("font") or None,
                                       spec.params.get("fallback_fonts"))
            if problem:
                c.error(path, problem)
                return


def _matrix_axes(c: Checker, matrix: Any) -> dict[str, list] | None:
    if not isinstance(matrix, dict) or not matrix:
        c.error(("matrix",), "the matrix is empty" if isinstance(matrix, dict) else
                f"expected a mapping of lists, got {kind_of(matrix)}",
                "write e.g. `matrix: {material: [granite, slate], variant: [clean, mossy]}`")
        return None
    axes: dict[str, list] = {}
    for key, values in matrix.items():
        if not key.isidentifier():
            c.error(("matrix", key), f"matrix key {key!r} is not a valid placeholder name",
                    "use letters, digits and '_'")
        elif not isinstance(values, list) or not values:
            c.error(("matrix", key), "expected a non-empty list of values", f"write `{key}: [a, b]`")
        elif not all(_plain(v) for v in values):
            c.error(("matrix", key), "matrix values must be plain words or numbers", f"write `{key}: [a, b]`")
        else:
            axes[key] = values
    return axes if len(axes) == len(matrix) else None


def _expand_matrix(c: Checker, axes: dict[str, list], id_template: str | None) -> list[tuple[tuple, dict, dict]]:
    template = id_template or "_".join(f"{{{k}}}" for k in axes)
    parts = _template(c, ("id",), template)
    if parts is None:
        return []
    names = [n for _, n in parts if n is not None]
    if any(n not in axes for n in names):
        c.error(("id",), f"the id template uses an unknown placeholder ({', '.join(names)})",
                f"placeholders available: {', '.join(axes)}")
        return []
    keys = ("id", *axes)
    id_format = _format_string(parts, field=lambda name: f"{{{list(axes).index(name)}}}")
    slugs = product(*([_slug(v) for v in values] for values in axes.values()))
    out = []
    for combo, slugged in zip(product(*axes.values()), slugs):
        aid = id_format.format(*slugged)
        if not _check_id(c, ("id",), aid, "matrix asset id"):
            return []
        out.append((("matrix",), {}, dict(zip(keys, (aid, *combo)))))
    return out


def load_recipe(path: str | Path, overrides: list[str] | None = None, engine: str | None = None) -> Recipe:
    """Read, validate and expand a recipe file; raise :class:`RecipeError` listing every problem."""
    path_str = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise RecipeError([Issue(path_str, 0, 0, "", f"cannot read the recipe: {reason}",
                                 "check the path and the file's permissions")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecipeError([Issue(path_str, 0, 0, "", f"the file is not UTF-8 text ({exc.reason} at byte {exc.start})",
                                 "save the recipe as UTF-8")]) from None
    data, locations = load_yaml(text, path_str)
    try:
        data, overridden = apply_overrides(data, list(overrides or []))
        if engine:
            if isinstance(data, dict) and isinstance(data.get("engine"), dict):
                data["engine"]["name"] = engine
                overridden[("engine", "name")] = f"--engine {engine}"
            elif isinstance(data, dict):
                data["engine"] = engine
                overridden[("engine",)] = f"--engine {engine}"
    except ValueError as exc:
        raise RecipeError([Issue(path_str, 0, 0, "", str(exc), "write --set KEY.PATH=VALUE")]) from None
    checker = Checker(path_str, locations, overridden)
    recipe = _validate(checker, data, path_str, hashlib.sha256(raw).hexdigest())
    if checker.issues:
        raise RecipeError(sorted(checker.issues, key=lambda i: (i.file, i.line, i.column)))
    assert recipe is not None
    return recipe
