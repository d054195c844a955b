"""Path confinement: every path a request names must resolve (symlinks followed) inside an allowed root."""

from __future__ import annotations

import os
import re
from pathlib import Path

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")  # recipe names and asset ids as the store writes them
VERSION_RE = re.compile(r"^(v\d{4,}|latest)$")


class Forbidden(Exception):
    """A path outside the server's folders (HTTP 403); the message names the path and the allowed roots."""


def resolve_in(path: str | os.PathLike, roots: list[Path], base: Path | None = None) -> Path:
    """``path`` (relative to ``base``, else absolute) resolved; raise :class:`Forbidden` if outside ``roots``."""
    p = Path(os.path.expanduser(str(path)))
    if not p.is_absolute():
        p = (base or roots[0]) / p
    resolved = p.resolve()
    if not any(resolved == r or resolved.is_relative_to(r) for r in roots):
        raise Forbidden(f"{path}: outside the folders this server may use ({', '.join(map(str, roots))}); "
                        "start `zpipe serve` with --root FOLDER to allow it")
    return resolved


def check_name(value: str, what: str) -> str:
    if not NAME_RE.match(value or ""):
        raise Forbidden(f"{what} {value!r}: not a zpipe name (letters, digits, '_', '-')")
    return value


def check_version(value: str) -> str:
    if not VERSION_RE.match(value or ""):
        raise Forbidden(f"version {value!r}: expected vNNNN or latest")
    return value
