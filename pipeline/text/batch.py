"""Checking many images in one call (``zpipe glyph-check A.png B.png …`` or ``--list``): the OCR
models load once, and each image gets its own verdict and exit code plus a summary."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


def read_list(path: str | Path) -> list[tuple[str, list[str]]]:
    """A list file (YAML or JSON): ``{image: [line, …], …}`` or ``[{image: …, expect: [line, …]}, …]``.
    Relative image paths are taken from the list file's folder. ValueError names the problem."""
    import yaml

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read the list file {p}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{p} is not YAML or JSON: {exc}") from None
    if isinstance(data, dict):
        data = [{"image": k, "expect": v} for k, v in data.items()]
    if not isinstance(data, list) or not data:
        raise ValueError(f"{p}: expected a non-empty mapping of image -> lines, or a list of {{image, expect}}")
    out = []
    for i, entry in enumerate(data, 1):
        where = f"{p}: entry {i}"
        if not isinstance(entry, dict) or not isinstance(entry.get("image"), str):
            raise ValueError(f"{where}: give `image: PATH` and `expect: [LINE, …]`")
        lines = entry.get("expect")
        lines = [lines] if isinstance(lines, str) else lines
        if not isinstance(lines, list) or not lines or not all(isinstance(x, str) and x.strip() for x in lines):
            raise ValueError(f"{where} ({entry['image']}): `expect` must be a non-empty list of lines")
        image = Path(entry["image"]).expanduser()
        out.append((str(image if image.is_absolute() else p.parent / image), lines))
    return out


def check_many(items: Iterable[tuple[str, Sequence[str]]], **options: Any) -> tuple[list[dict], dict[str, int]]:
    """``check_image`` on each (image, lines); an unreadable image is an entry with ``error`` and
    exit 2 rather than an exception, so the other images are still checked."""
    from zpipe.text.check import check_image

    entries = []
    for image, lines in items:
        try:
            result = check_image(image, list(lines), **options)
        except ValueError as exc:
            entries.append({"image": image, "exit": EXIT_INVALID, "verdict": "error", "error": str(exc)})
            continue
        entries.append({"image": image, "exit": EXIT_OK if result["pass"] else EXIT_FAILED, **result})
    summary = {"images": len(entries)}
    for verdict in ("pass", "fail", "unverified", "error"):
        summary[verdict] = sum(1 for e in entries if e["verdict"] == verdict)
    summary["exit"] = max((e["exit"] for e in entries), default=EXIT_OK)
    return entries, summary
