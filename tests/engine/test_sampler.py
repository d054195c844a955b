"""The schedule equals diffusers' for 1..16 steps; the Euler loop equals the scheduler's steps."""

from __future__ import annotations

import pytest
import torch

from zpipe.engine.zimage.sampler import img2img_start, sample_euler, zimage_schedule

diffusers = pytest.importorskip("diffusers")


def reference(n):
    sch = diffusers.FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=False)
    sigmas = diffusers.pipelines.z_image.pipeline_z_image.get_default_z_image_sigmas(n)
    sch.set_timesteps(sigmas=sigmas, mu=0.0)
    return sch


@pytest.mark.parametrize("n", range(1, 17))
def test_schedule_equals_diffusers_exactly(n):
    ours, ref = zimage_schedule(n), reference(n)
    assert torch.equal(ours.sigmas, ref.sigmas)
    assert torch.equal(ours.timesteps, ref.timesteps)
    assert torch.equal(ours.model_t, (1000 - ref.timesteps) / 1000)
    assert ours.steps == n  # n steps = n DiT forwards


def test_turbo_table():
    s = zimage_schedule(8)
    want = [1.0, 0.95454544, 0.9, 0.83333331, 0.75, 0.64285713, 0.5, 0.30000001, 0.0]
    assert torch.allclose(s.sigmas, torch.tensor(want), atol=1e-7)


def test_euler_loop_equals_scheduler_steps():
    n = 8
    ref = reference(n)
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(2, 4, 3, 3, generator=g)
    w = torch.randn(4, 4, generator=g)

    def model(x, t):  # any deterministic function of (x, t)
        return torch.einsum("oc,bchw->bohw", w, x) * (1 + t[:, None, None, None])

    got = sample_euler(model, x0, zimage_schedule(n))
    x = x0.clone()
    ref.set_begin_index(0)
    for ts in ref.timesteps:
        t = ((1000 - ts.expand(2)) / 1000)
        x = ref.step(-model(x, t), ts, x, return_dict=False)[0]
    assert torch.equal(got, x)


@pytest.mark.parametrize("strength, start", [(1.0, 0), (0.9, 0), (0.75, 2), (0.6, 3), (0.5, 4), (0.3, 5), (0.0, 8)])
def test_img2img_start(strength, start):
    assert img2img_start(8, strength) == start
