"""``zpipe verify OUT/RECIPE [--repair]``: every version's files checked against its manifest.

Versions share files through hardlinks, so one edit in place damages every version that links it.
Repair first re-links each damaged file from an intact copy with the same sha256 (another version,
or staging); what has no intact copy anywhere is rebuilt from the recipe the latest version was built
from (a build rebuilds what it finds damaged), and then re-linked from the new version.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from zpipe.store import RecipeStore, StoreError, link_or_copy


@dataclass(frozen=True)
class Damage:
    version: str
    rel: str  # "asset_id/file.png", as the manifest's outputs name it
    problem: str
    sha256: str

    def __str__(self) -> str:
        return f"{self.version}/{self.rel}: {self.problem}"


@dataclass
class Report:
    versions: int = 0
    files: int = 0
    damage: list[Damage] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # versions whose manifest cannot be read, with why
    intact: dict[str, Path] = field(default_factory=dict)  # sha256 -> a file that holds it

    @property
    def ok(self) -> bool:
        return not self.damage and not self.unreadable


def check(store: RecipeStore) -> Report:
    """Hash every published file (no fast path: this is the thorough check). What it hashes and finds
    intact goes into the store's hash cache, so the runs after it need not hash those files again (the
    save merges into the cache file and replaces it atomically: no lock needed, see zpipe.integrity)."""
    report = Report()
    for version in store.versions():
        report.versions += 1
        try:
            manifest = store.manifest(version)
        except StoreError as exc:
            report.unreadable.append(str(exc))
            continue
        for asset in manifest["assets"]:
            if asset["status"] == "failed":
                continue
            damaged = store.damaged_files(version, asset, fast=False)
            for rel, digest in asset.get("outputs", {}).items():
                report.files += 1
                if rel in damaged:
                    report.damage.append(Damage(version, rel, damaged[rel], digest))
                else:
                    report.intact.setdefault(digest, store.root / version / asset["id"] / Path(rel).name)
    store.save_hashes()
    return report


def relink(store: RecipeStore, report: Report) -> list[Damage]:
    """Replace each damaged file by a link to (or copy of) an intact file with its sha256; returns the rest."""
    left = []
    for d in report.damage:
        good = report.intact.get(d.sha256)
        if good is None:
            left.append(d)
            continue
        dst = store.root / d.version / d.rel.split("/", 1)[0] / Path(d.rel).name
        tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex[:8]}.repair")
        link_or_copy(good, tmp)
        os.replace(tmp, dst)  # a symlink or a damaged file is replaced, never written through
    return left


def repair(store: RecipeStore, rebuild: Callable[[str], None]) -> tuple[Report, Report]:
    """Re-link, rebuild what is left with ``rebuild(recipe_path)``, re-link again; the before and after reports."""
    before = check(store)
    with store.lock(wait=True):
        left = relink(store, before)
    if left:
        latest = store.latest()
        head = store.manifest(latest) if latest and store.readable(latest) else {}
        recipe_path = (head.get("recipe") or {}).get("path") if isinstance(head.get("recipe"), dict) else None
        if recipe_path and Path(recipe_path).is_file():
            rebuild(recipe_path)
            after_build = check(store)
            with store.lock(wait=True):
                relink(store, after_build)
    return before, check(store)
