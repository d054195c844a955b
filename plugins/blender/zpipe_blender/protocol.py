"""The zpipe hook protocol as the add-on speaks it: plain Python (no bpy, no zpipe), so it is testable alone.

Blender's Python is not zpipe's: the add-on never imports zpipe. It writes a request file, runs the zpipe
CLI (``zpipe hook export --request FILE --json``) at a configurable path, and reads the JSON answer.
Protocol: pipeline/docs/hook-protocol.md in the zpipe repository (version 1).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile

PROTOCOL_VERSION = 1
MAPS = ("albedo", "normal", "roughness", "ao", "height")


class HookFailed(Exception):
    """zpipe could not be run, refused the request (exit 2) or answered nonsense; the message says which."""


def material_entry(name, source, text, size=None, seed=None, maps=None, recipe_asset=None):
    """One material of a request. ``source`` is ``prompt``, ``description`` or ``recipe``."""
    entry = {"name": name}
    if source == "recipe":
        entry["recipe"] = text
        if recipe_asset:
            entry["asset"] = recipe_asset
        return entry
    entry[source] = text
    if size:
        entry["size"] = int(size)
    if seed is not None and seed >= 0:
        entry["seed"] = int(seed)
    if maps:
        entry["maps"] = [m for m in MAPS if m in maps]
    return entry


def make_request(materials, target, store=None, engine="auto", name="blender"):
    request = {"version": PROTOCOL_VERSION, "target": target, "name": name, "engine": engine,
               "materials": list(materials)}
    if store:
        request["store"] = store
    return request


def find_cli(path):
    """The zpipe executable: an explicit path, or a name looked up on PATH."""
    path = os.path.expanduser(path or "zpipe")
    if os.path.dirname(path):
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
        raise HookFailed(f"the zpipe CLI {path!r} does not exist or is not executable; set its path in the "
                         "add-on preferences")
    found = shutil.which(path)
    if not found:
        raise HookFailed(f"{path!r} is not on PATH; set the full path of the zpipe CLI in the add-on preferences "
                         "(e.g. /path/to/venv/bin/zpipe)")
    return found


def run_hook(cli, request, timeout=3600, env=None):
    """Run ``zpipe hook export`` on ``request``; return the answer (materials may have failed: see ``ok``)."""
    exe = find_cli(cli)
    fd, path = tempfile.mkstemp(prefix="zpipe-request-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(request, f, ensure_ascii=False, indent=1)
        try:
            proc = subprocess.run([exe, "hook", "export", "--request", path, "--json"], capture_output=True,
                                  text=True, timeout=timeout, env=env)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise HookFailed(f"could not run {exe}: {exc}") from None
    finally:
        os.unlink(path)
    try:
        answer = json.loads(proc.stdout)
    except ValueError:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise HookFailed(f"zpipe exited {proc.returncode} without an answer: " + " | ".join(tail)) from None
    if proc.returncode == 2 or "error" in answer:
        raise HookFailed("zpipe refused the request: " + "; ".join(answer.get("errors") or [answer.get("error", "")]))
    if answer.get("version") != PROTOCOL_VERSION or not isinstance(answer.get("materials"), dict):
        raise HookFailed(f"zpipe answered an unknown protocol version {answer.get('version')!r}; update the add-on")
    return answer
