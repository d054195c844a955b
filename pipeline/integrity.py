"""Whether stored files still hold the bytes their manifest names.

Published files are hardlinked between versions, so an edit in place changes every version at once;
a kill -9 can leave a truncated staged file. Nothing is reused or linked without this check.

The fast path compares the file's stat with the one recorded at publish (``stat``): size, mtime and,
on POSIX, the inode change time (ctime). An edit that keeps the size and puts the old mtime back still
moves the ctime (writing and ``utime`` both do, and no program can set it), so it is hashed and found.
Hardlinking or unlinking a file moves its ctime too (a publish that reuses it, ``gc``, a hook's
hardlink): such a file is hashed once, and its stat and digest go into the store's hash cache
(:class:`HashCache`), which the next check trusts as it trusts the manifest. Windows has no inode change
time (its ``st_ctime`` is the creation time), so there the stat is size and mtime; ``verify=True``
(``zpipe run --verify-reuse``) hashes every file on every platform, trusting no stat and no cache, and
records what it hashed in the cache for the checks after it; so do ``zpipe verify`` and ``zpipe plan``.

The cache is written by runs (under the store's lock) and by ``zpipe verify`` and ``zpipe plan``, which
hold no lock: so a save merges what this process hashed into the file as it is now and replaces it
atomically. Two saves at the same moment can still drop each other's new entries, which costs a hash on
the next check and nothing else: an entry is a stat and digest seen together, trusted only while the
file's stat is still that one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat as stat_mod
import uuid
from pathlib import Path
from typing import Any

HAS_CTIME = os.name == "posix"  # st_ctime is the inode change time (on Windows: the creation time)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _stat_list(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns] if HAS_CTIME else [st.st_size, st.st_mtime_ns]


def stat_of(path: Path) -> list[int]:
    """[size, mtime in ns, ctime in ns] (no ctime on Windows): what the fast check compares."""
    return _stat_list(os.stat(path))


class HashCache:
    """Files hashed before: path -> their stat then and the sha256 they held (a JSON file in the store).

    A file whose stat is what it was when it was hashed holds the same bytes: the same trust as the
    manifest's ``stat``, for files whose ctime a link moved after publish. Only a cache: unreadable,
    it is empty; unwritable, it is not kept. :meth:`save` merges into what other processes saved since.
    """

    def __init__(self, path: Path | None):
        self.path = path
        self.base = path.parent if path else None
        self.entries: dict[str, list] = self._read()
        self.added: dict[str, list] = {}  # what this process hashed since its last save

    def _read(self) -> dict[str, list]:
        if self.path is not None:
            with contextlib.suppress(OSError, ValueError, RecursionError):
                data = json.loads(self.path.read_text(encoding="utf-8"))
                if isinstance(data, dict):
                    return data
        return {}

    def _name(self, file: Path) -> str | None:
        if self.base is None:
            return None
        try:
            return file.relative_to(self.base).as_posix()
        except ValueError:
            return None

    def holds(self, file: Path, stat: list[int], sha256: str) -> bool:
        name = self._name(file)
        return name is not None and self.entries.get(name) == [*stat, sha256]

    def add(self, file: Path, stat: list[int], sha256: str) -> None:
        name = self._name(file)
        if name is not None and self.entries.get(name) != [*stat, sha256]:
            self.entries[name] = self.added[name] = [*stat, sha256]

    def save(self) -> None:
        """Merge what was hashed since the last save into the cache file as it is now (another process may
        have saved since this one read it) and write the entries whose files still exist, atomically; a
        store one may not write keeps none."""
        if not self.added or self.path is None:
            return
        self.entries = {**self._read(), **self.added}
        self.added = {}
        kept = {k: v for k, v in self.entries.items() if (self.base / k).is_file()}
        tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            tmp.write_text(json.dumps(kept, separators=(",", ":")), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()


NO_CACHE = HashCache(None)


def file_problem(path: Path, sha256: Any, recorded_stat: Any = None, cache: HashCache = NO_CACHE,
                 trust_cache: bool = True) -> str | None:
    """Why ``path`` does not hold the bytes with ``sha256`` ("missing", "changed", ...), or None if it does.

    Trusted without hashing: a file whose stat is ``recorded_stat``, or (``trust_cache``) the one ``cache``
    holds for it. A file hashed and found intact goes into ``cache`` either way.
    """
    try:
        st = os.lstat(path)
    except OSError:
        return "missing"
    if not stat_mod.S_ISREG(st.st_mode):
        return "not a plain file" + (" (a symlink)" if stat_mod.S_ISLNK(st.st_mode) else "")
    now = _stat_list(st)
    if recorded_stat == now or (trust_cache and cache.holds(path, now, sha256)):
        return None
    try:
        digest = file_sha256(path)
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    if digest != sha256:
        return "changed (its sha256 differs from the manifest's)"
    cache.add(path, now, digest)
    return None


def asset_problems(folder: Path, record: dict[str, Any], fast: bool = True, cache: HashCache = NO_CACHE) -> dict[str, str]:
    """Each output of a manifest or staging ``record`` whose file in ``folder`` is damaged -> why.

    ``fast``: trust a file whose stat is the one recorded (or cached); otherwise hash every file. Either
    way the files hashed and found intact go into ``cache``.
    """
    stats = record.get("stat") if fast else None
    stats = stats if isinstance(stats, dict) else {}  # a damaged record's stat is no reason to trust a file
    problems = {}
    for rel, digest in (record.get("outputs") or {}).items():
        problem = file_problem(folder / Path(rel).name, digest, stats.get(rel), cache, trust_cache=fast)
        if problem:
            problems[rel] = problem
    return problems
