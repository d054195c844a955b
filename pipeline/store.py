"""The asset store: versioned folders, staging, atomic publish, the lock, reuse and garbage collection.

Layout of ``<out>/<recipe>/``::

    v0001/ v0002/ …        published versions: manifest.json + one folder per asset (+ contact sheet)
    latest -> v0002        symlink, swapped atomically
    LATEST                 the same, as text (for tools and filesystems without symlinks)
    .lock                  held (filelock: flock on POSIX, LockFileEx on Windows) by the one run writing
    .lock.holder           who holds it ("pid 123 on host"), for the message a waiting run prints
    .staging/<key>/        assets finished by an unpublished run; result.json is written last
    .staging/tmp-*/        work in progress, removed when a run starts

A crash at any moment leaves either the old or the new version visible, never half of one, and the
finished assets of the interrupted run in ``.staging`` for the next run to pick up.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from zpipe.integrity import asset_problems, stat_of

log = logging.getLogger(__name__)
VERSION_RE = re.compile(r"^v(\d{4,})$")
MANIFEST_FORMAT_VERSION = 1


class StoreError(Exception):
    """The store on disk is damaged (e.g. an unreadable manifest); the message names the file and the fix."""


class LockBusy(Exception):
    """Another run holds the recipe's lock (raised with ``wait=False``)."""


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary name, fsync, then rename over ``path``: readers see old or new, never half."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def link_or_copy(src: Path, dst: Path) -> None:
    """Hardlink (instant, no extra space); copy when the filesystem refuses (another device, FAT/exFAT,
    no link rights on Windows: each platform reports it with a different error, so any refusal copies)."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)  # a real problem (src missing, disk full) raises here


def _manifest_shape_problem(data: Any) -> str | None:
    """What makes parsed manifest JSON unusable (zpipe reads these fields without further checks)."""
    if not isinstance(data, dict) or not isinstance(data.get("assets"), list):
        return "the manifest is not a zpipe manifest (no `assets` list)"
    for i, a in enumerate(data["assets"]):
        if not (isinstance(a, dict) and all(isinstance(a.get(k), str) for k in ("id", "key", "status"))
                and isinstance(a.get("outputs", {}), dict) and isinstance(a.get("files", {}), dict)):
            return f"assets[{i}] of the manifest is damaged (id, key, status, outputs, files)"
    return None


def version_name(n: int) -> str:
    return f"v{n:04d}"


class RecipeStore:
    def __init__(self, out: str | os.PathLike, recipe_name: str):
        self.root = Path(out) / recipe_name
        self.staging = self.root / ".staging"

    # --- reading -------------------------------------------------------------------------------
    def versions(self) -> list[str]:
        if not self.root.is_dir():
            return []
        found = [(int(m.group(1)), p.name) for p in self.root.iterdir()
                 if (m := VERSION_RE.match(p.name)) and p.is_dir()]
        return [name for _, name in sorted(found)]

    def latest(self) -> str | None:
        with contextlib.suppress(OSError):
            name = (self.root / "LATEST").read_text().strip()
            if VERSION_RE.match(name) and (self.root / name / "manifest.json").is_file():
                return name
        versions = self.versions()
        return versions[-1] if versions else None

    def manifest(self, version: str) -> dict[str, Any]:
        path = self.root / version / "manifest.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            problem = _manifest_shape_problem(data)
        except (OSError, ValueError, RecursionError) as exc:
            problem = f"cannot read the manifest ({exc})"
        if problem:
            raise StoreError(f"{path}: {problem}; restore the folder from a backup, or delete "
                             f"{self.root / version} so that the previous version is the latest")
        return data

    def readable(self, version: str) -> bool:
        try:
            self.manifest(version)
        except StoreError:
            return False
        return True

    def damaged_files(self, version: str, asset: dict[str, Any], fast: bool = True) -> dict[str, str]:
        """The outputs of ``asset`` (a record of ``version``'s manifest) whose files are damaged -> why."""
        return asset_problems(self.root / version / asset["id"], asset, fast=fast)

    def latest_manifest(self) -> dict[str, Any] | None:
        latest = self.latest()
        return self.manifest(latest) if latest else None

    def staged_keys(self) -> set[str]:
        """Keys of the staged assets whose record reads and whose files match it; the rest are rebuilt."""
        if not self.staging.is_dir():
            return set()
        keys = set()
        for p in self.staging.iterdir():
            if p.name.startswith("tmp-") or not (p / "result.json").is_file():
                continue
            record = self.staged_record(p.name)
            problems = asset_problems(p, record) if record is not None else {"result.json": "unreadable"}
            if problems:
                log.warning("staged %s is damaged (%s); it will be rebuilt", p.name[:12],
                            ", ".join(f"{Path(k).name}: {v}" for k, v in problems.items()))
            else:
                keys.add(p.name)
        return keys

    def staged_record(self, key: str) -> dict[str, Any] | None:
        try:
            record = json.loads((self.staging / key / "result.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            return None
        ok = isinstance(record, dict) and isinstance(record.get("outputs"), dict) and \
            isinstance(record.get("id"), str) and record.get("status") == "built"
        return record if ok else None

    # --- the lock ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, wait: bool = True, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
        """Hold the recipe's lock (a portable OS file lock: released by the OS when the process dies)."""
        self.root.mkdir(parents=True, exist_ok=True)
        file_lock = FileLock(self.root / ".lock", thread_local=False)
        holder_file = self.root / ".lock.holder"
        try:
            file_lock.acquire(blocking=False)
        except Timeout:
            holder = "another run"
            with contextlib.suppress(OSError):  # a holder between acquiring and writing its name
                holder = holder_file.read_text(encoding="utf-8").strip() or holder
            if not wait:
                raise LockBusy(f"{self.root} is being built by {holder}") from None
            if on_wait:
                on_wait(f"waiting for {holder} to finish building {self.root} …")
            file_lock.acquire()
        try:
            atomic_write(holder_file, f"pid {os.getpid()} on {platform.node() or 'this machine'}".encode())
            self._clean_tmp()
            self._finish_interrupted_publish()
            yield
        finally:
            with contextlib.suppress(OSError):
                holder_file.unlink()
            file_lock.release()

    def _clean_tmp(self) -> None:
        if self.staging.is_dir():
            for p in self.staging.iterdir():
                if p.name.startswith("tmp-"):
                    shutil.rmtree(p, ignore_errors=True)

    # --- writing (driver only, under the lock) -------------------------------------------------
    def stage_asset(self, key: str, files: dict[str, bytes], record: dict[str, Any]) -> None:
        """Keep a finished asset in staging: files first, result.json last, then one rename."""
        tmp = self.staging / f"tmp-{key[:16]}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir(parents=True)
        for name, data in files.items():
            with open(tmp / name, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        atomic_write(tmp / "result.json", json.dumps(record, ensure_ascii=False, indent=1).encode())
        final = self.staging / key
        if final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)
        _fsync_dir(self.staging)

    def publish(self, entries: list[dict[str, Any]], manifest_head: dict[str, Any],
                extra_files: Callable[[dict, Path], dict[str, bytes]] | None = None) -> str:
        """Assemble a new version from staged and reused assets and make it visible atomically.

        Each entry is a manifest asset record plus ``_source``: ("staging", key), ("version", name) or None
        (failed assets have no files). Returns the new version's name.
        """
        versions = self.versions()
        name = version_name(int(versions[-1][1:]) + 1 if versions else 1)
        tmp = self.staging / f"tmp-publish-{name}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir(parents=True)
        assets = []
        for entry in entries:
            entry = dict(entry)
            source = entry.pop("_source", None)
            if source is not None:
                src_dir = self.staging / source[1] if source[0] == "staging" else self.root / source[1] / entry["id"]
                dst_dir = tmp / entry["id"]
                dst_dir.mkdir()
                for rel in entry.get("outputs", {}):
                    link_or_copy(src_dir / Path(rel).name, dst_dir / Path(rel).name)
                # what reuse checks first, before hashing (a hardlink shares its size and mtime)
                entry["stat"] = {rel: stat_of(dst_dir / Path(rel).name) for rel in entry.get("outputs", {})}
            assets.append(entry)
        manifest = {"format_version": MANIFEST_FORMAT_VERSION, "version": name, **manifest_head, "assets": assets}
        if extra_files:
            for fname, data in extra_files(manifest, tmp).items():
                atomic_write(tmp / fname, data)
        atomic_write(tmp / "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2).encode())
        os.rename(tmp, self.root / name)  # the publish: one atomic rename
        _fsync_dir(self.root)
        self._point_latest(name)
        return name

    def _point_latest(self, name: str) -> None:
        """Bookkeeping after the publish rename; it must not turn a published build into a failure, and a
        run that was killed before it finishes is completed by the next run (_finish_interrupted_publish).
        LATEST first, since latest() trusts it."""
        try:
            atomic_write(self.root / "LATEST", (name + "\n").encode())
        except OSError as exc:  # LATEST replaced by a folder, say
            log.warning("could not write %s/LATEST (%s); %s is the newest version", self.root, exc, name)
        link = self.root / f".latest-{uuid.uuid4().hex[:8]}"
        try:
            os.symlink(name, link)
            os.replace(link, self.root / "latest")
        except OSError as exc:  # no symlinks here (some filesystems), or `latest` is a real folder
            with contextlib.suppress(OSError):
                link.unlink()
            log.warning("could not point %s/latest at %s (%s); LATEST says %s", self.root, name, exc, name)
        self.prune_staging()

    def _finish_interrupted_publish(self) -> None:
        """A run killed between the version rename and LATEST leaves a newer version than LATEST names:
        point LATEST at it (instead of rebuilding its assets into a duplicate version)."""
        versions = self.versions()
        if not versions or not self.readable(versions[-1]):
            return  # a damaged newest version is no publish to finish (gc and verify report it)
        newest = versions[-1]
        named = None
        with contextlib.suppress(OSError, UnicodeDecodeError):
            named = (self.root / "LATEST").read_text(encoding="utf-8").strip()
        if named == newest:
            return
        log.warning("finishing the interrupted publish of %s (LATEST said %s)", newest, named or "nothing")
        self._point_latest(newest)

    def prune_staging(self) -> None:
        """Drop everything staged: after a publish, what is left belongs to plans that no longer apply."""
        if self.staging.is_dir():
            for p in self.staging.iterdir():
                shutil.rmtree(p, ignore_errors=True)

    def gc(self, keep: int) -> list[str]:
        """Delete all but the newest ``keep`` versions; never the latest, nor the newest readable one.

        Refuses (StoreError) while the latest version is damaged: deleting what may be the only good copy
        is for a person to decide. Returns what was removed.
        """
        keep = max(1, keep)
        versions = self.versions()
        latest = self.latest()
        if latest and not self.readable(latest):
            self.manifest(latest)  # raises the StoreError that names the damage and the fix
        readable = [v for v in versions if self.readable(v)]
        spared = {latest, *readable[-1:]}
        doomed = [v for v in versions[:-keep] if v not in spared]
        for v in doomed:
            trash = self.root / f".trash-{v}-{uuid.uuid4().hex[:6]}"
            os.rename(self.root / v, trash)  # disappears atomically, then is deleted
            shutil.rmtree(trash, ignore_errors=True)
        for p in self.root.iterdir():  # leftovers of interrupted deletes and symlink swaps
            if p.name.startswith((".trash-", ".latest-")):
                if p.is_symlink() or p.is_file():
                    p.unlink(missing_ok=True)
                else:
                    shutil.rmtree(p, ignore_errors=True)
        self.prune_staging()
        return doomed

