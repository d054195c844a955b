"""Planning: jobs get content keys, and each key is matched against what the store already has.

A job's key is the sha256 of the canonical JSON of everything that changes its files. If two runs
with the same key could produce different bytes, that is a bug (add the missing input here).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field, fields
from json.encoder import encode_basestring as _str  # the escaper json.dumps uses with ensure_ascii=False
from typing import Any

from zpipe.canonical import canonical_json, sha256_hex
from zpipe.gc_pause import gc_paused
from zpipe.recipe.fields import options_for
from zpipe.recipe.model import Job, Recipe

# Bump when the layout or content of an asset folder changes for the same inputs (stage code has its
# own versions, see Stage.version). 2: PNG provenance chunks.
ASSET_FORMAT_VERSION = 2

# Engine options that do not enter keys as written: batching and resident/phased memory provably do not
# change bytes (batching invariance and phased = resident are tested); the weights, LoRAs, device type,
# dtype and fp8 weights enter through the engine's fingerprint, resolved (where the files lie, `cuda:1` vs
# `cuda`, an unset dtype's default).
NON_KEY_ENGINE_OPTIONS = frozenset({"batch_size", "max_batch", "vae_batch", "memory",
                                    "model", "loras", "device", "dtype"})


def _key_options(engine: str, options: dict[str, Any]) -> dict[str, Any]:
    """The engine's options as they act: defaults filled in, so writing a default changes no key."""
    from zpipe.recipe.fields import ENGINE_OPTION_OWNER, ENGINE_OPTIONS

    full = {k: ENGINE_OPTIONS[k].default for k, owner in ENGINE_OPTION_OWNER.items() if owner == engine}
    full.update(options_for(engine, options))
    return {k: v for k, v in sorted(full.items()) if k not in NON_KEY_ENGINE_OPTIONS}


@dataclass
class PlannedJob:
    job: Job
    key: str
    # "build" | "reuse" (from a kept version) | "resume" (finished in staging) | "carry" (not selected by
    # --only: the latest version's asset, unchanged)
    action: str
    source: tuple | None = None  # where reused files are: ("version", vNNNN, id) | ("staging", key)
    record: dict[str, Any] | None = field(default=None, repr=False)  # a reused asset's manifest record

    @property
    def origin(self) -> str:
        """Where a reused asset comes from, for people: ``v0001``, ``staging``, or ``""``."""
        if self.source is None:
            return ""
        return self.source[1] if self.source[0] == "version" else "staging"


@dataclass
class Plan:
    recipe: Recipe
    engine: dict[str, Any]  # name, version, fingerprint, fallback
    jobs: list[PlannedJob]
    removed: list[str] = field(default_factory=list)  # ids in the latest version that are gone
    latest: str | None = None

    def count(self, action: str) -> int:
        return sum(1 for j in self.jobs if j.action == action)

    @property
    def up_to_date(self) -> bool:
        """Nothing to publish: every asset is the latest version's, and none is gone."""
        latest = ("version", self.latest)
        return self.latest is not None and not self.removed and all(
            j.action == "carry" or (j.action == "reuse" and j.source is not None and j.source[:2] == latest)
            for j in self.jobs)


class SelectionError(ValueError):
    """``--only`` patterns that match no asset (a usage error; the message lists some ids)."""


def select(jobs: tuple[Job, ...], only: list[str]) -> set[str]:
    """Ids matched by ``only`` (exact ids or shell globs such as ``granite_*``)."""
    ids = [j.id for j in jobs]
    chosen: set[str] = set()
    for pattern in only:
        hits = {pattern} & set(ids) or set(fnmatch.filter(ids, pattern))
        if not hits:
            sample = ", ".join(ids[:8]) + (" …" if len(ids) > 8 else "")
            raise SelectionError(f"--only {pattern!r} matches no asset of the recipe; ids: {sample}")
        chosen |= hits
    return chosen


_JOB_FIELDS = tuple(f.name for f in fields(Job))
# The job fields that _Keyer.key writes out itself, in canonical (sorted) order.
_SPLICED = ("fields", "height", "id", "kind", "output", "prompt", "seed", "stages", "steps", "tile", "width")
_SPLICE_FIELDS = set(_JOB_FIELDS) == set(_SPLICED)  # a new Job field falls back to the plain encoding


def _ident(stages: tuple) -> tuple:
    """The identity of a stage list: jobs of one recipe get their own tuples of the same shared specs."""
    return tuple(map(id, stages))


class _Keyer:
    """Keys jobs fast: the engine's part and each distinct stage list are worked out once per plan.

    The key is the sha256 of the canonical JSON of :func:`key_inputs`; this computes the same document
    without copying every job (``dataclasses.asdict`` deep-copies) or asking the registry per job.
    """

    def __init__(self, engine: dict[str, Any], engine_options: dict[str, Any]):
        self.engine = {"name": engine["name"], "version": engine["version"], "fingerprint": engine["fingerprint"],
                       "options": _key_options(engine["name"], engine_options)}
        self._stages: dict[tuple, tuple[Any, list]] = {}
        self._shared: dict[tuple, tuple] = {}
        self._export: str | None = None
        self._head: str | None = None

    def _stage_list(self, stages: tuple) -> list:
        from zpipe.stages import registry

        ident = _ident(stages)
        hit = self._stages.get(ident)
        if hit is None:
            value = [[s.name, registry.version(s.name), s.params, registry.get(s.name).key_inputs(s.params)]
                     for s in stages]
            hit = self._stages[ident] = (stages, value)  # holds the specs, so their ids stay unique
        return hit[1]

    def inputs(self, job: Job) -> dict[str, Any]:
        job_dict = {name: getattr(job, name) for name in _JOB_FIELDS}
        job_dict["stages"] = self._stage_list(job.stages)
        job_dict["output"] = self._output_part(job.output)
        return {"asset_format": ASSET_FORMAT_VERSION, "engine": self.engine, "job": job_dict}

    def key(self, job: Job) -> str:
        """sha256 of ``canonical_json(self.inputs(job))``, written out directly: the parts shared by
        jobs are encoded once, each job adds its own fields (10x faster for 100,000 jobs; the key
        tests check that both give the same text)."""
        if not self._can_splice(job):
            return sha256_hex(canonical_json(self.inputs(job)))
        if self._head is None:
            doc = canonical_json({"asset_format": ASSET_FORMAT_VERSION, "engine": self.engine, "job": {}})
            self._head = doc[:-2]  # ends with '"job":{'
        ident = (_ident(job.stages), id(job.output))
        shared = self._shared.get(ident)
        if shared is None:  # holds the stage specs and the output, so their ids stay unique
            shared = (job.stages, job.output, canonical_json(self._stage_list(job.stages)),
                      canonical_json(self._output_part(job.output)))
            self._shared[ident] = shared
        text = (f'{self._head}"fields":{canonical_json(job.fields)},"height":{job.height},"id":{_str(job.id)},'
                f'"kind":{_str(job.kind)},"output":{shared[3]},"prompt":{_str(job.prompt)},"seed":{job.seed},'
                f'"stages":{shared[2]},"steps":{job.steps},"tile":{_str(job.tile)},"width":{job.width}}}}}')
        return sha256_hex(text)

    @staticmethod
    def _can_splice(job: Job) -> bool:
        return (_SPLICE_FIELDS and type(job.seed) is int and type(job.width) is int and type(job.height) is int
                and type(job.steps) is int and type(job.id) is str and type(job.kind) is str
                and type(job.prompt) is str and type(job.tile) is str)

    def _output_part(self, output: dict[str, Any]) -> list:
        """The export's version and options, plus the Basis encoder's version when a KTX2 codec runs it
        (an external tool: another basisu makes other bytes)."""
        part = [self._export_version(), output]
        ktx2 = output.get("ktx2")
        codec = ktx2.get("codec") if isinstance(ktx2, dict) else None
        if "ktx2" in (output.get("formats") or ()) and codec in ("etc1s", "uastc"):
            from zpipe.texture import basisu

            exe = basisu.find()
            part.append({"basisu": basisu.version(exe) if exe else None})
        return part

    def _export_version(self) -> str:
        from zpipe.stages import registry

        if self._export is None:
            self._export = registry.version("export")
        return self._export


def key_inputs(job: Job, engine: dict[str, Any], engine_options: dict[str, Any]) -> dict[str, Any]:
    """Everything that changes a job's files: the document its key is the hash of."""
    return _Keyer(engine, engine_options).inputs(job)


def job_key(job: Job, engine: dict[str, Any], engine_options: dict[str, Any]) -> str:
    return sha256_hex(canonical_json(key_inputs(job, engine, engine_options)))


def describe_engine(recipe: Recipe) -> dict[str, Any]:
    """Resolve ``auto`` and describe the engine for keys, handing each engine only its own options."""
    from zpipe.engine.registry import describe, resolve_name

    name, reason = resolve_name(recipe.engine, options_for("z-image-turbo", recipe.engine_options))
    return {**describe(name, options_for(name, recipe.engine_options)), "fallback": reason}


def make_plan(recipe: Recipe, store, *, force: bool = False, engine: dict[str, Any] | None = None,
              only: list[str] | None = None, verify: bool = False) -> Plan:
    """Key every job and decide build / reuse / resume. ``store`` is a :class:`zpipe.store.RecipeStore`.

    A job whose key is in the latest version, in staging, or in any older kept version is reused from
    there (``force`` builds everything), if its files still hold the bytes the manifest names. With
    ``only`` (ids or globs), the jobs not selected keep the latest version's asset as it is ("carry"),
    or are left out when the latest version has none. Raises :class:`SelectionError` when a pattern
    of ``only`` matches nothing. ``verify`` hashes every file that would be reused, instead of
    trusting those whose stat is unchanged since publish (see zpipe.integrity).
    """
    if engine is None:
        engine = describe_engine(recipe)
    chosen = select(recipe.jobs, only) if only else None
    latest = store.latest()
    latest_keys, latest_ids = _latest_index(store, latest)
    keyer = _Keyer(engine, recipe.engine_options)
    jobs = []
    with gc_paused():  # every planned job stays alive: the collector would search them in vain
        for job in recipe.jobs:
            key = keyer.key(job)
            if chosen is not None and job.id not in chosen:
                if job.id in latest_ids:
                    jobs.append(PlannedJob(job, latest_ids[job.id], "carry", ("version", latest, job.id)))
                continue
            if not force and key in latest_keys:  # the key covers the id, so a hit is this very asset
                jobs.append(PlannedJob(job, key, "reuse", ("version", latest, latest_keys[key])))
            else:
                jobs.append(PlannedJob(job, key, "build"))
    if latest:
        _check_files(store, latest, [pj for pj in jobs if pj.source is not None], verify)
    if not force:
        _reuse_older(store, latest, jobs, verify)
    store.save_hashes()  # once, after every version's check
    ids = {j.id for j in recipe.jobs}
    removed = sorted(aid for aid in latest_ids if aid not in ids)
    return Plan(recipe, engine, jobs, removed, latest=latest)


def _latest_index(store, latest: str | None) -> tuple[dict[str, str], dict[str, str]]:
    """The latest version's {key: asset id} of assets that did not fail, and {asset id: key} of all."""
    if not latest:
        return {}, {}
    store.check_manifest(latest)
    rows = store.keys(latest)
    return {key: aid for key, aid, status in rows if status != "failed"}, {aid: key for key, aid, _ in rows}


def _reuse_older(store, latest: str | None, jobs: list[PlannedJob], verify: bool) -> None:
    """Jobs still to build whose key is in staging (resume) or in an older kept version (reuse), if the
    files there are intact."""
    found = store.find({pj.key for pj in jobs if pj.action == "build"}, skip=latest)
    older = []
    for pj in jobs:
        if pj.action == "build" and pj.key in found:
            pj.source = found[pj.key]
            pj.action = "resume" if pj.source[0] == "staging" else "reuse"
            older += [pj] if pj.action == "reuse" else []
    for version in {pj.source[1] for pj in older}:
        _check_files(store, version, [pj for pj in older if pj.source[1] == version], verify)


def _check_files(store, version: str, jobs: list[PlannedJob], verify: bool) -> None:
    """Reuse links a version's files: only while they still hold the bytes its manifest names. Jobs
    whose files are damaged are built instead (the store logs which file and why); the others get
    their manifest record."""
    wanted = {pj.key: pj.source[2] for pj in jobs}
    carried = {pj.job.id for pj in jobs if pj.action == "carry"}
    records = store.intact(version, wanted, failed_ok=carried, verify=verify)
    for pj in jobs:
        pj.record = records.get(pj.key)
        if pj.record is None:
            pj.action, pj.source = "build", None
