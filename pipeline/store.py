"""The asset store: versioned folders, staging, atomic publish, the lock, reuse and garbage collection.

Layout of ``<out>/<recipe>/``::

    v0001/ v0002/ …        published versions: manifest.json + one folder per asset (+ contact sheets);
                           .keys lists each asset's key (the index that reuse from any version reads)
    latest -> v0002        symlink, swapped atomically
    LATEST                 the same, as text (for tools and filesystems without symlinks)
    .lock                  held (filelock: flock on POSIX, LockFileEx on Windows) by the one run writing
    .lock.holder           who holds it ("pid 123 on host"), for the message a waiting run prints
    .staging/<key>/        assets finished by an unpublished run; result.json is written last
    .staging/tmp-*/        work in progress, removed when a run starts

A crash at any moment leaves either the old or the new version visible, never half of one, and the
finished assets of the interrupted run in ``.staging`` for the next run to pick up.

The store is a content cache keyed by the asset key, as DVC's run-cache is: an asset whose key is in
any kept version (or in staging) is linked in, not built (:meth:`RecipeStore.find`). Versions share
files through hardlinks, so ``gc`` frees only what no kept version still links.

Manifests are written as a stream, one asset per line (still one JSON document), so that neither a
build nor a reader needs every asset's record at once (:meth:`RecipeStore.iter_assets`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import platform
import re
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from zpipe.integrity import HashCache, asset_problems, stat_of

log = logging.getLogger(__name__)
VERSION_RE = re.compile(r"^v(\d{4,})$")
MANIFEST_FORMAT_VERSION = 1
STREAM_MARK = ' "assets": ['  # the line after which a streamed manifest has one asset per line


class StoreError(Exception):
    """The store on disk is damaged (e.g. an unreadable manifest) or not writable where it must be; the
    message names the file and the fix."""


class LockBusy(Exception):
    """Another run holds the recipe's lock (raised with ``wait=False``)."""


@contextlib.contextmanager
def _writable(root: Path) -> Iterator[None]:
    """A permission error inside becomes the StoreError that says ``root`` is read-only and what to do."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        raise StoreError(f"{root} is read-only for this user ({exc.strerror}); building, gc and repair write "
                         "there: run as the user who owns it, or give this one write permission") from None


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


# where a reused asset's files are: ("staging", key) or ("version", vNNNN, asset id)
Source = tuple


@dataclass
class Freed:
    """What ``gc`` removed: versions, staged assets, and the bytes that no kept version still links."""

    versions: list[str]
    staged: int
    bytes: int


def _delete(paths: list[Path]) -> None:
    for p in paths:
        if p.is_symlink() or p.is_file():
            p.unlink(missing_ok=True)
        else:
            shutil.rmtree(p, ignore_errors=True)


def _survey(checked: list[Path], others: list[Path]) -> tuple[Path | None, int]:
    """One walk over the folders gc deletes: the first folder in or under ``checked`` whose entries this
    process may not delete (None if it may delete them all), and the bytes that deleting ``checked`` and
    ``others`` gives back: files all of whose hardlinks are inside them (a file that a kept version still
    links stays on disk). Symlinks among the folders are deleted as links: nothing under them is counted."""
    seen: dict[tuple[int, int], list[int]] = {}  # (device, inode) -> [links found, links in all, size]
    for tree, check in [(t, True) for t in checked] + [(t, False) for t in others]:
        counted = not tree.is_symlink()
        for dirpath, _, names in os.walk(tree):
            if check and not os.access(dirpath, os.W_OK | os.X_OK):
                return Path(dirpath), 0
            for name in names if counted else ():
                with contextlib.suppress(OSError):
                    st = os.lstat(os.path.join(dirpath, name))
                    entry = seen.setdefault((st.st_dev, st.st_ino), [0, st.st_nlink, st.st_size])
                    entry[0] += 1
    return None, sum(size for found, links, size in seen.values() if found >= links)


def write_manifest(path: Path, head: dict[str, Any], assets: Iterable[dict[str, Any]]) -> None:
    """Write a manifest as a stream: the head, then one asset per line; fsync, then rename into place."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        text = json.dumps({**head, "assets": []}, ensure_ascii=False, indent=1)
        f.write(text[:text.rindex("[")] + "[")  # ends with STREAM_MARK
        sep = "\n"
        for asset in assets:
            f.write(sep + json.dumps(asset, ensure_ascii=False, separators=(",", ":")))
            sep = ",\n"
        f.write("\n]\n}\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class RecipeStore:
    def __init__(self, out: str | os.PathLike, recipe_name: str):
        self.root = Path(out) / recipe_name
        self.staging = self.root / ".staging"
        self._hashes: HashCache | None = None

    @property
    def hashes(self) -> HashCache:
        """Published files hashed since their publish (after a link moved their ctime): see integrity.py."""
        if self._hashes is None:
            self._hashes = HashCache(self.root / ".hashes")
        return self._hashes

    # --- reading -------------------------------------------------------------------------------
    def versions(self) -> list[str]:
        if not self.root.is_dir():
            return []
        found = [(int(m.group(1)), p.name) for p in self.root.iterdir()
                 if (m := VERSION_RE.match(p.name)) and p.is_dir()]
        return [name for _, name in sorted(found)]

    def latest(self) -> str | None:
        with contextlib.suppress(OSError, UnicodeDecodeError):
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
        """The outputs of ``asset`` (a record of ``version``'s manifest) whose files are damaged -> why.
        ``fast``: trust files whose stat is the one recorded at publish, or in the hash cache; otherwise
        hash every file (and record what was hashed in the cache: :meth:`save_hashes` keeps it)."""
        return asset_problems(self.root / version / asset["id"], asset, fast=fast, cache=self.hashes)

    def latest_manifest(self) -> dict[str, Any] | None:
        latest = self.latest()
        return self.manifest(latest) if latest else None

    def iter_assets(self, version: str) -> Iterator[dict[str, Any]]:
        """A version's asset records in order, one at a time (streamed manifests are read line by line)."""
        path = self.root / version / "manifest.json"
        try:
            with open(path, encoding="utf-8") as f:
                for line in f:
                    if line.rstrip("\n") == STREAM_MARK:
                        break
                else:  # a manifest written whole (before streaming): read it whole
                    yield from self.manifest(version)["assets"]
                    return
                for i, line in enumerate(f):
                    line = line.strip()
                    if line == "]":
                        return
                    if line:
                        record = json.loads(line.rstrip(","))
                        problem = _manifest_shape_problem({"assets": [record]})
                        if problem:
                            raise ValueError(problem.replace("assets[0]", f"assets[{i}]"))
                        yield record
                raise ValueError("the file ends inside the asset list")
        except (OSError, ValueError, RecursionError) as exc:
            raise StoreError(f"{path}: cannot read the manifest ({exc}); restore the folder from a backup, "
                             f"or delete {self.root / version} so that the previous version is the latest") from None

    def check_manifest(self, version: str) -> None:
        """StoreError when the manifest is damaged; cheap for streamed manifests (their two ends)."""
        path = self.root / version / "manifest.json"
        with contextlib.suppress(OSError), open(path, "rb") as f:
            start = f.read(1)
            f.seek(max(0, os.fstat(f.fileno()).st_size - 4))
            if start == b"{" and f.read() == b"]\n}\n":
                return
        self.manifest(version)  # read it whole: raises the clear error when it is damaged

    def keys(self, version: str) -> list[tuple[str, str, str]]:
        """``(key, id, status)`` of each asset of ``version``, from its small ``.keys`` index; from the
        manifest where the index is missing or damaged (it is only derived from the manifest)."""
        path = self.root / version / ".keys"
        try:
            rows = [tuple(line.split("\t")) for line in path.read_text(encoding="utf-8").splitlines() if line]
            if all(len(row) == 3 for row in rows):
                return rows  # type: ignore[return-value]
            log.warning("%s is damaged; reading %s's manifest instead", path, version)
        except (OSError, UnicodeDecodeError) as exc:  # a version from before the index, or damage
            if path.exists() or path.is_symlink():
                log.warning("%s is unreadable (%s); reading %s's manifest instead", path, exc, version)
        return [(a["key"], a["id"], a["status"]) for a in self.iter_assets(version)]

    def find(self, keys: set[str], skip: str | None = None) -> dict[str, Source]:
        """Where each of ``keys`` can be linked from: staging, else the newest kept version that has it
        (failed assets have no files). ``skip`` names a version already searched (the latest). The
        caller checks the files (:meth:`intact`) before it links them."""
        found: dict[str, Source] = {}
        if not keys:
            return found
        for key in keys & self.staged_keys():
            found[key] = ("staging", key)
        for version in reversed(self.versions()):
            if len(found) == len(keys):
                break
            if version == skip:
                continue
            for key, aid, status in self.keys(version):
                if key in keys and key not in found and status != "failed":
                    found[key] = ("version", version, aid)
        return found

    def intact(self, version: str, wanted: dict[str, str], failed_ok: set[str] = frozenset(),
               verify: bool = False) -> dict[str, dict]:
        """The records of ``version`` for ``wanted`` (key -> id) whose files still hold their bytes;
        damaged ones are left out with a warning (their assets are rebuilt). Failed records are left
        out too, unless their id is in ``failed_ok``. ``verify``: hash every file, trusting no stat."""
        out: dict[str, dict[str, Any]] = {}
        for record in self.iter_assets(version):
            if wanted.get(record["key"]) != record["id"]:
                continue
            if record.get("status") == "failed":
                if record["id"] in failed_ok:
                    out[record["key"]] = record
                continue
            damaged = self.damaged_files(version, record, fast=not verify)
            for rel, why in damaged.items():
                log.warning("%s in %s is %s; rebuilding %s", rel, version, why, record["id"])
            if not damaged:
                out[record["key"]] = record
        return out

    def save_hashes(self) -> None:
        """Keep what the checks since the last save hashed: one write, and one look at the cached files,
        per plan however many versions it checked."""
        if self._hashes is not None:
            self._hashes.save()

    def source_dir(self, source: Source) -> Path:
        return self.staging / source[1] if source[0] == "staging" else self.root / source[1] / source[2]

    def next_version(self) -> str:
        versions = self.versions()
        return version_name(int(versions[-1][1:]) + 1 if versions else 1)

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
            with _writable(self.root):
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
            with _writable(self.root):
                atomic_write(holder_file, f"pid {os.getpid()} on {platform.node() or 'this machine'}".encode())
            self._clean_tmp()
            self._finish_interrupted_publish()
            yield
        finally:
            with contextlib.suppress(OSError):
                holder_file.unlink()
            file_lock.release()

    def _clean_tmp(self) -> None:
        if not self.staging.is_dir() and (self.staging.exists() or self.staging.is_symlink()):
            log.warning("%s is not a folder (zpipe keeps unpublished assets there); removing it", self.staging)
            self.staging.unlink()  # a file or a dangling link: nothing of ours is in it
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

    def publish(self, entries: Iterable[tuple[dict[str, Any], Source | None]], manifest_head: dict[str, Any],
                reports: Path | None = None) -> str:
        """Assemble a new version from staged and reused assets and make it visible atomically.

        ``entries`` yields ``(manifest asset record, source)`` in order, one at a time; the source is
        where the asset's files are (None for failed assets, which have none). Staged files move in
        (one rename per asset), reused ones are hardlinked. The files in ``reports`` (contact sheets,
        index pages) move in too. Returns the new version's name.
        """
        name = self.next_version()
        tmp = self.staging / f"tmp-publish-{name}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir(parents=True)
        index: list[str] = []

        def placed() -> Iterator[dict[str, Any]]:
            for record, source in entries:
                if source is not None and record.get("outputs"):
                    record = dict(record)
                    src_dir, dst_dir = self.source_dir(source), tmp / record["id"]
                    if source[0] == "staging":  # staged files move in: nothing to copy or delete later
                        os.rename(src_dir, dst_dir)
                        os.unlink(dst_dir / "result.json")
                    else:
                        dst_dir.mkdir()
                        for rel in record["outputs"]:
                            link_or_copy(src_dir / Path(rel).name, dst_dir / Path(rel).name)
                    # what reuse checks first, before hashing (a hardlink shares its size and mtime)
                    record["stat"] = {rel: stat_of(dst_dir / Path(rel).name) for rel in record["outputs"]}
                index.append(f"{record['key']}\t{record['id']}\t{record.get('status', '')}\n")
                yield record

        head = {"format_version": MANIFEST_FORMAT_VERSION, "version": name, **manifest_head}
        write_manifest(tmp / "manifest.json", head, placed())
        atomic_write(tmp / ".keys", "".join(index).encode())
        if reports is not None and reports.is_dir():
            for p in reports.iterdir():
                if p.is_file():
                    os.replace(p, tmp / p.name)
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
        named = None
        with contextlib.suppress(OSError, UnicodeDecodeError):
            named = (self.root / "LATEST").read_text(encoding="utf-8").strip()
        if not versions or named == versions[-1]:
            return  # the usual case, decided without reading a manifest
        newest = versions[-1]
        if not self.readable(newest):
            return  # a damaged newest version is no publish to finish (gc and verify report it)
        log.warning("finishing the interrupted publish of %s (LATEST said %s)", newest, named or "nothing")
        self._point_latest(newest)

    def prune_staging(self) -> None:
        """Drop everything staged: after a publish, what is left belongs to plans that no longer apply."""
        if self.staging.is_dir():
            for p in self.staging.iterdir():
                shutil.rmtree(p, ignore_errors=True)

    def gc(self, keep: int) -> Freed:
        """Delete all but the newest ``keep`` versions (never the latest, nor the newest readable one),
        and what is staged.

        Refuses (StoreError) while the latest version is damaged: deleting what may be the only good copy
        is for a person to decide. Files that a kept version still links (assets it reused) stay on
        disk; the bytes counted as freed are those no kept version links.

        Refuses too (StoreError, nothing changed) when this process may not delete all of it: without
        that check a version would vanish from view and its files stay on disk.
        """
        doomed = self._doomed(max(1, keep))
        leftovers = [p for p in self.root.iterdir() if p.name.startswith((".trash-", ".latest-"))]
        blocked, freed = self._survey(doomed, leftovers)
        if blocked is not None:
            raise StoreError(f"{blocked}: no permission to delete in it, so gc changed nothing; run gc as the "
                             "user who owns the store, or give this one write permission")
        moved: list[tuple[Path, Path]] = []  # (where it was, its trash name)
        try:
            for v in doomed:
                moved.append((self.root / v, self.root / f".trash-{v}-{uuid.uuid4().hex[:6]}"))
                os.rename(*moved[-1])  # disappears atomically, then is deleted
            staged = len(self.staged_keys())
            for p in list(self.staging.iterdir()) if self.staging.is_dir() else []:
                moved.append((p, self.root / f".trash-staging-{p.name[:16]}-{uuid.uuid4().hex[:6]}"))
                os.rename(*moved[-1])
        except OSError:
            for where, t in reversed(moved):  # put back what moved: gc changes nothing or finishes
                with contextlib.suppress(OSError):
                    os.rename(t, where)
            raise
        trash = [t for _, t in moved] + leftovers  # leftovers: of interrupted deletes and symlink swaps
        _delete(trash)
        for p in trash:
            if p.exists() or p.is_symlink():
                log.warning("could not delete all of %s; the next gc tries again", p)
        return Freed(doomed, staged, freed)

    def _survey(self, doomed: list[str], leftovers: list[Path]) -> tuple[Path | None, int]:
        """What gc would delete, walked once: the first folder whose entries it may not delete (the
        recipe's folder and staging, whose entries are renamed out of them, the doomed versions and
        staged assets, everything inside), or None; and the bytes it frees (with ``leftovers`` of
        interrupted deletes, which are deleted too)."""
        for folder in (self.root, self.staging):
            if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):
                return folder, 0
        staged = [p for p in self.staging.iterdir() if p.is_dir() and not p.is_symlink()] if self.staging.is_dir() else []
        return _survey([self.root / v for v in doomed] + staged,
                       [p for p in leftovers if p.is_dir() and not p.is_symlink()])

    def _doomed(self, keep: int) -> list[str]:
        """The versions gc deletes: all but the newest ``keep``, the latest and the newest readable one."""
        versions = self.versions()
        latest = self.latest()
        if latest and not self.readable(latest):
            self.manifest(latest)  # raises the StoreError that names the damage and the fix
        doomed = [v for v in versions[:-keep] if v != latest]
        if doomed:  # the newest readable version is spared too (reading every manifest only when needed)
            readable = [v for v in versions if self.readable(v)]
            doomed = [v for v in doomed if v not in readable[-1:]]
        return doomed
