"""Whether stored files still hold the bytes their manifest names.

Published files are hardlinked between versions, so an edit in place changes every version at once;
a kill -9 can leave a truncated staged file. Nothing is reused or linked without this check. The fast
path compares size and modification time with those recorded at publish (``stat``); only a file
whose stat differs, or that has none recorded, is hashed.
"""

from __future__ import annotations

import hashlib
import os
import stat as stat_mod
from pathlib import Path
from typing import Any


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def stat_of(path: Path) -> list[int]:
    """[size, mtime in ns]: what the fast check compares."""
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns]


def file_problem(path: Path, sha256: Any, recorded_stat: Any = None) -> str | None:
    """Why ``path`` does not hold the bytes with ``sha256`` ("missing", "changed", ...), or None if it does."""
    try:
        st = os.lstat(path)
    except OSError:
        return "missing"
    if not stat_mod.S_ISREG(st.st_mode):
        return "not a plain file" + (" (a symlink)" if stat_mod.S_ISLNK(st.st_mode) else "")
    if recorded_stat == [st.st_size, st.st_mtime_ns]:
        return None
    try:
        digest = file_sha256(path)
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    return None if digest == sha256 else "changed (its sha256 differs from the manifest's)"


def asset_problems(folder: Path, record: dict[str, Any], fast: bool = True) -> dict[str, str]:
    """Each output of a manifest or staging ``record`` whose file in ``folder`` is damaged -> why.

    ``fast``: trust a file whose size and mtime are those recorded; otherwise hash every file.
    """
    stats = (record.get("stat") or {}) if fast else {}
    problems = {}
    for rel, digest in (record.get("outputs") or {}).items():
        problem = file_problem(folder / Path(rel).name, digest, stats.get(rel))
        if problem:
            problems[rel] = problem
    return problems
