"""Which networks sit on the compute device, and moving them there in phases.

In ``resident`` mode every network lives on the device for good. In ``phased`` mode the text encoder and
the DiT take turns: each keeps its weights in host memory (pinned on CUDA, so the copy is fast) and gets a
device copy only for its phase; before one is placed, the other's device copy is dropped. The device then
never holds both (the DiT is 11.5 GiB in bf16, the text encoder 7.3 GiB), and a swap costs one host-to-
device copy, never a copy back. The VAE is small (0.3 GiB) and stays on the device.

Every placement is recorded in :attr:`Residency.log` as ``(event, name, frozenset of resident names)``, so
tests (and the GPU benchmark) can check the invariant through the real code path.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

log = logging.getLogger(__name__)

# Networks that may not share the device in phased mode.
EXCLUSIVE = ("text_encoder", "dit")


class Residency:
    def __init__(self, device: str | torch.device, modules: dict[str, nn.Module], phased: bool) -> None:
        self.device = torch.device(device)
        self.modules = modules
        self.phased = phased
        self.resident: set[str] = set()
        self.log: list[tuple[str, str, frozenset[str]]] = []
        self._host: dict[str, dict[str, torch.Tensor]] = {}
        pin = self.device.type == "cuda"
        for name, module in modules.items():
            if phased and name in EXCLUSIVE:
                # The host copy is the master; it is what the module holds while it is off the device.
                # One tensor at a time, so that pinning never holds two copies of the whole network.
                host = self._host[name] = {}
                for k, t in _tensors(module):
                    host[k] = t.data = _host_copy(t, pin)
            else:
                module.to(self.device)
                self.resident.add(name)
                self.log.append(("place", name, frozenset(self.resident)))

    def use(self, name: str) -> nn.Module:
        """The module, on the device; in phased mode the other exclusive network leaves first."""
        module = self.modules[name]
        if name in self.resident:
            return module
        for other in EXCLUSIVE:
            if other != name and other in self.resident:
                self.release(other)
        _assign(module, {k: t.to(self.device, non_blocking=True) for k, t in self._host[name].items()})
        self.resident.add(name)
        self.log.append(("place", name, frozenset(self.resident)))
        return module

    def release(self, name: str) -> None:
        """Drop the device copy of a phased network (its host copy stays); a no-op in resident mode."""
        if name not in self.resident or name not in self._host:
            return
        _assign(self.modules[name], self._host[name])
        self.resident.discard(name)
        self.log.append(("release", name, frozenset(self.resident)))
        if self.device.type == "cuda":
            torch.cuda.empty_cache()  # give the freed blocks back, so the next phase can use them


def _tensors(module: nn.Module):
    yield from module.named_parameters()
    yield from module.named_buffers()


def _host_copy(t: torch.Tensor, pin: bool) -> torch.Tensor:
    t = t.detach().to("cpu")
    return t.pin_memory() if pin else t


def _assign(module: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Point each parameter/buffer at the given tensor without copying (``.data`` swap)."""
    for name, t in _tensors(module):
        t.data = tensors[name]
