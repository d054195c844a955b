"""Which scaled-dot-product-attention kernels the engine asks for, per device (``engine.attention``).

``F.scaled_dot_product_attention`` picks a kernel by a built-in order. The engine states its own, by device,
through ``torch.nn.attention.sdpa_kernel(order, set_priority=True)``: the first kernel in the list that
accepts the inputs runs, so an order always ends in the math kernel, which accepts everything, and a kernel
this build or GPU lacks is simply passed over.

    Hopper (sm 9.x)      cuDNN, flash, memory-efficient, math. On an H100, cuDNN attention ran at 631 TFLOP/s
                         against 329 for PyTorch's default (flash 2) at batch 1, 24 heads, 4608 tokens, head
                         dim 128 (tritonbench, pytorch#142132), close to the DiT's 30 heads x ~4200 tokens at
                         1024²; transformers' measurements found it faster on H100/H200 only (slower on Ampere
                         and Blackwell), so only Hopper gets it first.
    other CUDA           flash, memory-efficient, cuDNN, math (PyTorch's default order).
    CPU                  flash (the CPU flash kernel), math.
    MPS and others       PyTorch's default: nothing is set.

``engine.attention: cudnn | flash | efficient | math`` puts that kernel first, the device's order after it.
The context only sets PyTorch's global kernel flags for the duration of a phase (the engine runs its
phases in one thread; no stage uses SDPA).

A kernel can accept the inputs and still fail when it runs: cuDNN's frontend has raised "No execution plans
support the graph" for shapes it announced (diffusers#9704, torch 2.5). :func:`layers.sdpa` then marks it
failed (:func:`mark_failed`): it leaves the order for the rest of the process and the call runs again
with the next kernel.
"""

from __future__ import annotations

import contextlib

CHOICES = ("auto", "cudnn", "flash", "efficient", "math")
_failed: set[str] = set()  # kernels that failed at run time in this process: left out of every order
_NAMES = {"cudnn": "CUDNN_ATTENTION", "flash": "FLASH_ATTENTION", "efficient": "EFFICIENT_ATTENTION",
          "math": "MATH"}


def backend_order(device_type: str, capability: tuple[int, int] | None = None, choice: str = "auto") -> list[str] | None:
    """Kernel names (``cudnn``, ``flash``, ``efficient``, ``math``) in the order to try, or None for PyTorch's
    default. ``capability``: the CUDA device's compute capability."""
    if choice not in CHOICES:
        raise ValueError(f"attention {choice!r}: choose one of {', '.join(CHOICES)}")
    if device_type == "cuda":
        hopper = capability is not None and capability[0] == 9
        order = ["cudnn", "flash", "efficient", "math"] if hopper else ["flash", "efficient", "cudnn", "math"]
    elif device_type == "cpu":
        order = ["flash", "math"]
    else:
        order = None
    if choice != "auto":
        order = [choice, *(k for k in (order or ["flash", "efficient", "cudnn", "math"]) if k != choice)]
    return None if order is None else [k for k in order if k not in _failed or k == "math"]


def failed_kernel(exc: RuntimeError) -> str | None:
    """The kernel an SDPA error came from, when it is one that can fail at run time (cuDNN)."""
    return "cudnn" if "cudnn" in str(exc).lower() else None


def mark_failed(kernel: str) -> None:
    """Leave ``kernel`` out from now on, starting with the order in force (its flag is turned off)."""
    import torch

    _failed.add(kernel)
    if kernel == "cudnn":
        torch.backends.cuda.enable_cudnn_sdp(False)


def sdpa_context(device, choice: str = "auto"):
    """A context manager that makes SDPA try the kernels of :func:`backend_order` for ``device`` in order
    (a no-op where PyTorch's default stays, or where this torch has no ``sdpa_kernel`` priority)."""
    import torch

    device = torch.device(device)
    capability = torch.cuda.get_device_capability(device) if device.type == "cuda" else None
    order = backend_order(device.type, capability, choice)
    if order is None:
        return contextlib.nullcontext()
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError:  # torch < 2.3: its default order
        return contextlib.nullcontext()
    backends = [getattr(SDPBackend, _NAMES[k]) for k in order if hasattr(SDPBackend, _NAMES[k])]
    try:
        return sdpa_kernel(backends, set_priority=True)
    except TypeError:  # torch < 2.6 has no priority order: allow these kernels, in PyTorch's order
        return sdpa_kernel(backends)
