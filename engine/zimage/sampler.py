"""Flow-matching Euler with Z-Image-Turbo's static-shift schedule, as explicit data.

``n`` steps means ``n`` DiT forwards: base sigmas linspace(1, 1/n, n), shifted by 3s / (1 + 2s), plus a
terminal 0 (diffusers >= 0.39 and the official repo). All arithmetic is float32 in the reference's order so
that the DiT sees bit-identical timesteps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Schedule:
    sigmas: torch.Tensor  # (n + 1,) float32, last = 0
    timesteps: torch.Tensor  # (n,) float32, sigma * 1000
    model_t: torch.Tensor  # (n,) float32, (1000 - timestep) / 1000: the DiT's t (0 = noise, 1 = clean)

    @property
    def steps(self) -> int:
        return len(self.timesteps)

    def to(self, device) -> Schedule:
        return Schedule(self.sigmas.to(device), self.timesteps.to(device), self.model_t.to(device))

    def tail(self, start: int) -> Schedule:
        """The schedule from step ``start`` on (img2img skips the first steps)."""
        return Schedule(self.sigmas[start:], self.timesteps[start:], self.model_t[start:])


def zimage_schedule(n: int, shift: float = 3.0, num_train_timesteps: int = 1000) -> Schedule:
    if n < 1:
        raise ValueError(f"steps must be >= 1, got {n}")
    base = torch.linspace(1.0, 1.0 / n, n, dtype=torch.float32)
    sigmas = shift * base / (1 + (shift - 1) * base)
    timesteps = sigmas * num_train_timesteps
    model_t = (num_train_timesteps - timesteps) / num_train_timesteps
    return Schedule(torch.cat([sigmas, torch.zeros(1)]), timesteps, model_t)


def img2img_start(n: int, strength: float) -> int:
    """First step index for img2img at ``strength`` (diffusers: int(n - min(n * strength, n)))."""
    init = min(n * strength, n)
    return int(max(n - init, 0))


Model = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x (B,C,h,w) fp32, t (B,)) -> prediction
Hook = Callable[[int, torch.Tensor], torch.Tensor]  # (step index, latents) -> latents, after each step


def sample_euler(model: Model, x: torch.Tensor, schedule: Schedule, *, after_step: Hook | None = None):
    """Integrate from sigmas[0] to 0: x <- x + (sigma_k - sigma_{k+1}) * model(x, t_k), in fp32.

    ``schedule`` must live on x's device: the loop does no host-device syncs (no ``.item()``, no branches
    on tensor values), so a GPU can run ahead of Python.
    """
    x = x.float()
    b = x.shape[0]
    dts = schedule.sigmas[1:] - schedule.sigmas[:-1]  # (n,) negative steps in sigma
    for k in range(schedule.steps):
        pred = model(x, schedule.model_t[k].expand(b)).float()
        x = x - dts[k] * pred  # the velocity in sigma is -pred
        if after_step is not None:
            x = after_step(k, x)
    return x
