"""Which executor a run uses, decided without importing torch or ray, and making it."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from typing import Any

from zpipe.engine.extras import MissingExtra, missing, require


def visible_gpus() -> int:
    """Count NVIDIA GPUs cheaply: CUDA_VISIBLE_DEVICES when set, else `nvidia-smi -L`."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return len([d for d in env.split(",") if d.strip() and d.strip() != "-1"])
    if not shutil.which("nvidia-smi"):
        return 0
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.splitlines() if line.startswith("GPU "))


def choose_executor(requested: str, address: str | None, devices: str | None) -> tuple[str, dict[str, Any]]:
    address = address or os.environ.get("RAY_ADDRESS") or None
    options: dict[str, Any] = {}
    if address:
        options["address"] = address
    if devices:
        options["devices"] = [d.strip() for d in devices.split(",") if d.strip()]
    if requested == "auto":
        gpus = len(options["devices"]) if "devices" in options else visible_gpus()
        # several GPUs use Ray only where the ray extra is installed; a cluster address always needs it
        requested = "ray" if (address or (gpus > 1 and not missing("ray"))) else "local"
    if requested == "local":
        if address:
            raise ValueError("--address needs the Ray executor; drop --executor local")
        if "devices" in options:
            # One process, the chosen GPU(s): torch is not imported yet, so this decides what `cuda` means.
            os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(options["devices"])
        return "local", {}
    if requested == "ray":
        try:
            require("ray", "the Ray executor")
        except MissingExtra as exc:
            raise ValueError(str(exc)) from None
    return requested, options


EXECUTORS = ("local", "ray")


def check_executor(name: str | Callable[..., Any]) -> None:
    """ValueError (a usage error) for a name that is no executor (a factory is always fine)."""
    if not callable(name) and name not in EXECUTORS:
        raise ValueError(f"unknown executor {name!r}: use one of {', '.join(EXECUTORS)} "
                         "(or choose_executor() to resolve 'auto')")


def make_executor(name: str | Callable[..., Any], plan, **options):
    """The executor ``name`` for ``plan`` (a :class:`zpipe.plan.Plan`); options as in its class doc.

    ``name`` may be a factory ``f(plan, **options)``: ``zpipe serve`` lends executors whose engines stay
    loaded between builds."""
    check_executor(name)
    if callable(name):
        return name(plan, **options)
    if name == "ray":
        from zpipe.executors.ray_executor import RayExecutor

        return RayExecutor(plan.engine["name"], plan.recipe.engine_options, **options)
    from zpipe.executors.local import LocalExecutor

    return LocalExecutor(plan.engine["name"], plan.recipe.engine_options, **options)
