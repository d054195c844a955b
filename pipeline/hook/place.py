"""Putting a built material's files into the request's target folder: ``<target>/<material>/``.

Each file appears atomically (a reader in the DCC never sees half a file) through the store's own
``atomic_write`` and ``link_or_copy``; a file that already holds the right bytes is left alone, so
the DCC does not re-import it.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from zpipe.hook.request import Material
from zpipe.integrity import file_problem
from zpipe.store import atomic_write, link_or_copy


def place(src: Path, dst: Path, mode: str, sha256: str | None) -> None:
    """Put ``src`` at ``dst`` by ``mode`` (copy, hardlink or symlink)."""
    if mode == "copy":
        if not (sha256 and file_problem(dst, sha256) is None):
            atomic_write(dst, src.read_bytes())
        return
    if mode == "symlink" and dst.is_symlink() and os.readlink(dst) == str(src):
        return
    if mode == "hardlink" and dst.is_file() and not dst.is_symlink() and os.path.samefile(src, dst):
        return
    tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex[:8]}.tmp")
    if mode == "symlink":
        try:
            os.symlink(src, tmp)
        except OSError:  # Windows without the symlink right (no Developer Mode), FAT/exFAT: a copy instead
            link_or_copy(src, tmp)
    else:
        link_or_copy(src, tmp)
    os.replace(tmp, dst)


def answer_material(mat: Material, asset: dict[str, Any] | None, version_dir: Path, target: Path, mode: str,
                    build: dict[str, Any]) -> dict[str, Any]:
    """Place one material's files and describe them for the answer."""
    entry: dict[str, Any] = {"name": mat.name, "folder": str(target / mat.folder), "recipe": build["recipe"],
                             "version": build["version"]}
    if asset is None:
        entry.update(status="failed", files={}, error="the recipe has no asset "
                     f"{mat.asset or mat.folder!r}; give \"asset\": one of {', '.join(build['ids'][:20])}")
        return entry
    entry.update(asset=asset["id"], status=asset["status"], key=asset.get("key"),
                 size=asset.get("size"), tile=asset.get("tile"))
    if asset["status"] == "failed":
        entry.update(files={}, error=asset.get("error", "failed"))
        return entry
    folder = target / mat.folder
    folder.mkdir(parents=True, exist_ok=True)
    files, all_files, colour, export = {}, [], {}, (asset.get("metrics") or {}).get("export") or {}
    primary = {rel: role for role, rel in asset.get("files", {}).items()}
    for rel, digest in asset.get("outputs", {}).items():
        dst = folder / Path(rel).name
        place(version_dir / rel, dst, mode, digest)
        all_files.append(str(dst))
        if rel in primary:
            files[primary[rel]] = str(dst)
    for role in files:
        m = export.get(role)
        if isinstance(m, dict) and m.get("colour_space"):
            colour[role] = m["colour_space"]
    entry.update(files=files, all_files=all_files, colour_space=colour)
    normal = export.get("normal")
    if isinstance(normal, dict) and normal.get("normal_y"):
        entry["normal_y"] = normal["normal_y"]
    depth = ((asset.get("metrics") or {}).get("pbr") or {}).get("depth")
    if "height" in files and isinstance(depth, (int, float)):
        entry["height_scale"] = depth  # height 0..1 spans `depth` x the texture's width
    return entry
