"""Safetensors files without torch: headers, truncation checks, shard indexes, pickle refusal.

Everything here is cheap (it reads headers, never tensor data) and imports no torch, so model discovery,
``ZImageEngine.available`` and ``zpipe models`` stay fast.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterable
from pathlib import Path

from zpipe.engine.base import EngineError

PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin", ".pkl", ".pickle")
MAX_HEADER = 100 * 1024 * 1024


def refuse_pickle(path: Path) -> None:
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise EngineError(
            f"{path}: refusing to load a pickle checkpoint ({path.suffix}); pickle files can run code when "
            "opened. Only .safetensors files load: download or convert the safetensors version."
        )


def read_header(path: str | Path) -> tuple[dict, int]:
    """The JSON header of a safetensors file and the byte offset where tensor data starts.

    Checks that the file is long enough for every tensor the header lists, so a truncated download is
    reported before anything is loaded.
    """
    path = Path(path)
    refuse_pickle(path)
    if not path.is_file():
        raise EngineError(f"{path}: file not found")
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise EngineError(f"{path}: truncated safetensors file ({size} bytes, no header); download it again")
        (n,) = struct.unpack("<Q", head)
        if n > MAX_HEADER:
            raise EngineError(f"{path}: not a safetensors file (header length {n} is implausible)")
        raw = f.read(n)
    if len(raw) < n:
        raise EngineError(f"{path}: truncated safetensors file: header needs {8 + n} bytes, file has {size}; "
                          "download it again")
    try:
        header = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError, ValueError):
        raise EngineError(f"{path}: not a safetensors file (header is not JSON)") from None
    problem = _header_problem(header)
    if problem:
        raise EngineError(f"{path}: not a safetensors file ({problem}); download it again")
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    if size < 8 + n + end:
        raise EngineError(f"{path}: truncated safetensors file: expected {8 + n + end} bytes, found {size}; "
                          "download it again")
    return header, 8 + n


def _header_problem(header) -> str | None:
    """What makes a parsed header unusable: zpipe reads dtype, shape and data_offsets of every entry."""
    if not isinstance(header, dict):
        return "the header is not a JSON object"
    for key, v in header.items():
        if key == "__metadata__":
            if not isinstance(v, dict):
                return "__metadata__ is not an object"
            continue
        offsets = v.get("data_offsets") if isinstance(v, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(_count(n) for n in offsets)
                and offsets[0] <= offsets[1]):
            return f"tensor {key!r} has no valid data_offsets"
        if not (isinstance(v.get("shape"), list) and all(_count(n) for n in v["shape"])
                and isinstance(v.get("dtype"), str)):
            return f"tensor {key!r} has no valid shape and dtype"
    return None


def _count(n) -> bool:
    return isinstance(n, int) and not isinstance(n, bool) and n >= 0


def header_shapes(files: Iterable[Path]) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    for f in files:
        header, _ = read_header(f)
        shapes.update({k: tuple(v["shape"]) for k, v in header.items() if k != "__metadata__"})
    return shapes


def shard_files(folder: Path, stem: str) -> list[Path]:
    """The safetensors files of one diffusers component: ``{stem}.safetensors`` or the shards of its index."""
    index = folder / f"{stem}.safetensors.index.json"
    single = folder / f"{stem}.safetensors"
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
            raise EngineError(f"{index}: unreadable index ({exc}); download it again") from None
        if not isinstance(weight_map, dict) or not all(isinstance(v, str) and "/" not in v and "\\" not in v
                                                        for v in weight_map.values()):
            raise EngineError(f"{index}: weight_map is not an object of shard file names; download it again")
        files = [folder / name for name in sorted(set(weight_map.values()))]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise EngineError(f"{index}: lists shard {missing[0]}, which does not exist; download it again")
        return files
    if single.is_file():
        return [single]
    for suffix in PICKLE_SUFFIXES:
        if (folder / f"{stem}{suffix}").is_file():
            refuse_pickle(folder / f"{stem}{suffix}")
    raise EngineError(f"{folder}: no {stem}.safetensors or {stem}.safetensors.index.json")


def file_fingerprint(path: Path) -> bytes:
    """Cheap identity of a safetensors file: its name, size and header bytes (which hold every dtype,
    shape and offset, plus metadata). Reading them costs microseconds, not a pass over gigabytes."""
    header, start = read_header(path)
    with path.open("rb") as f:
        head = f.read(start)
    return b"|".join([path.name.encode(), str(os.path.getsize(path)).encode(), head])
