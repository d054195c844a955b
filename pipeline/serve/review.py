"""Approvals: approve or reject an asset with a comment, stored in SQLite in the output root.

A decision is recorded against the asset's content key (and its recipe and id), not its version: the next
version reuses the unchanged asset with the same key, so it stays approved; a rebuilt asset has a new key
and is pending again. Every decision is kept (the history); the newest one for a key counts.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DB_NAME = ".zpipe-review.sqlite"
DECISIONS = ("approved", "rejected")
SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    recipe TEXT NOT NULL,
    asset TEXT NOT NULL,
    key TEXT NOT NULL,
    version TEXT NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('approved', 'rejected')),
    comment TEXT NOT NULL DEFAULT '',
    author TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_by_key ON decisions (recipe, asset, key, id);
"""


class ReviewStore:
    def __init__(self, out: str | Path):
        self.path = Path(out) / DB_NAME

    @contextlib.contextmanager
    def _db(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        if not write and not self.path.is_file():  # reading never creates the database
            db = sqlite3.connect(":memory:")
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=30)
        try:
            db.row_factory = sqlite3.Row
            db.executescript(SCHEMA)
            with db:  # one transaction: committed on success, rolled back on error
                yield db
        finally:
            db.close()

    def decide(self, recipe: str, asset: str, key: str, version: str, decision: str, comment: str = "",
               author: str = "") -> dict[str, Any]:
        if decision not in DECISIONS:
            raise ValueError(f"decision: expected one of {', '.join(DECISIONS)}, got {decision!r}")
        row = (recipe, asset, key, version, decision, comment, author, time.time())
        with self._db(write=True) as db:
            cur = db.execute("INSERT INTO decisions (recipe, asset, key, version, decision, comment, author, created)"
                             " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
            return _row(db.execute("SELECT * FROM decisions WHERE id = ?", (cur.lastrowid,)).fetchone())

    def current(self, recipe: str) -> dict[tuple[str, str], dict[str, Any]]:
        """The newest decision per (asset id, key) of ``recipe``."""
        with self._db() as db:
            rows = db.execute("SELECT * FROM decisions WHERE recipe = ? ORDER BY id", (recipe,)).fetchall()
        return {(r["asset"], r["key"]): _row(r) for r in rows}

    def history(self, recipe: str, asset: str) -> list[dict[str, Any]]:
        with self._db() as db:
            rows = db.execute("SELECT * FROM decisions WHERE recipe = ? AND asset = ? ORDER BY id DESC",
                              (recipe, asset)).fetchall()
        return [_row(r) for r in rows]

    def for_manifest(self, recipe: str, manifest: dict[str, Any]) -> list[dict[str, Any]]:
        """Every asset of a version with its review state: approved, rejected or pending (no decision for its key)."""
        current = self.current(recipe)
        out = []
        for a in manifest.get("assets", []):
            d = current.get((a["id"], a.get("key", "")))
            out.append({"id": a["id"], "key": a.get("key"), "status": a.get("status"),
                        "review": d["decision"] if d else "pending", "comment": d["comment"] if d else "",
                        "decided_in": d["version"] if d else None, "author": d["author"] if d else "",
                        "at": d["created"] if d else None,
                        "files": a.get("files", {})})
        return out


def _row(r: sqlite3.Row) -> dict[str, Any]:
    return {k: r[k] for k in r.keys()}
