"""Planning: jobs get content keys, and each key is matched against what the store already has.

A job's key is the sha256 of the canonical JSON of everything that changes its files. If two runs
with the same key could produce different bytes, that is a bug (add the missing input here).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from zpipe.canonical import canonical_json, sha256_hex
from zpipe.recipe.fields import options_for
from zpipe.recipe.model import Job, Recipe

log = logging.getLogger(__name__)

# Bump when the layout or content of an asset folder changes for the same inputs (stage code has its
# own versions, see Stage.version). 2: PNG provenance chunks.
ASSET_FORMAT_VERSION = 2

# Engine options that do not enter keys as written: batching and offloading provably do not change bytes
# (batching invariance is tested); the weights, LoRAs, device type and dtype enter through the engine's
# fingerprint, resolved (where the files lie, `cuda:1` vs `cuda`, an unset dtype's default).
NON_KEY_ENGINE_OPTIONS = frozenset({"batch_size", "max_batch", "vae_batch", "offload_text_encoder",
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
    action: str  # "build" | "reuse" (from the latest version) | "resume" (finished in staging)


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
        return self.latest is not None and not self.removed and all(j.action == "reuse" for j in self.jobs)


def key_inputs(job: Job, engine: dict[str, Any], engine_options: dict[str, Any]) -> dict[str, Any]:
    from zpipe.stages import registry

    job_dict = asdict(job)
    job_dict["stages"] = [[s["name"], registry.version(s["name"]), s["params"],
                           registry.get(s["name"]).key_inputs(s["params"])] for s in job_dict["stages"]]
    job_dict["output"] = [registry.version("export"), job_dict["output"]]
    return {
        "asset_format": ASSET_FORMAT_VERSION,
        "engine": {"name": engine["name"], "version": engine["version"], "fingerprint": engine["fingerprint"],
                   "options": _key_options(engine["name"], engine_options)},
        "job": job_dict,
    }


def job_key(job: Job, engine: dict[str, Any], engine_options: dict[str, Any]) -> str:
    return sha256_hex(canonical_json(key_inputs(job, engine, engine_options)))


def describe_engine(recipe: Recipe) -> dict[str, Any]:
    """Resolve ``auto`` and describe the engine for keys, handing each engine only its own options."""
    from zpipe.engine.registry import describe, resolve_name

    name, reason = resolve_name(recipe.engine, options_for("z-image-turbo", recipe.engine_options))
    return {**describe(name, options_for(name, recipe.engine_options)), "fallback": reason}


def _intact(store, asset: dict[str, Any]) -> bool:
    """Reuse links the latest version's files: only while they still hold the bytes its manifest names."""
    damaged = store.damaged_files(store.latest(), asset)
    for rel, why in damaged.items():
        log.warning("%s in %s is %s; rebuilding %s", rel, store.latest(), why, asset["id"])
    return not damaged


def make_plan(recipe: Recipe, store, *, force: bool = False, engine: dict[str, Any] | None = None) -> Plan:
    """Key every job and decide build / reuse / resume. ``store`` is a :class:`zpipe.store.RecipeStore`."""
    if engine is None:
        engine = describe_engine(recipe)
    latest = store.latest_manifest()
    latest_keys = {a["key"]: a for a in (latest or {}).get("assets", []) if a.get("status") != "failed"}
    staged = store.staged_keys()
    jobs = []
    for job in recipe.jobs:
        key = job_key(job, engine, recipe.engine_options)
        if not force and key in latest_keys and _intact(store, latest_keys[key]):  # the key covers the id
            action = "reuse"
        elif not force and key in staged:
            action = "resume"
        else:
            action = "build"
        jobs.append(PlannedJob(job, key, action))
    ids = {j.id for j in recipe.jobs}
    removed = sorted(a["id"] for a in (latest or {}).get("assets", []) if a["id"] not in ids)
    return Plan(recipe, engine, jobs, removed, latest=(latest or {}).get("version"))
