"""Wrap-aware resampling matches true periodic resampling."""

from __future__ import annotations

import numpy as np
import pytest

from zpipe.texture import wrap


def _sine(h: int, w: int, kx: int = 3, ky: int = 2) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    # sample at pixel centres so that resizing maps centres onto centres
    v = 0.5 + 0.4 * np.sin(2 * np.pi * (kx * (x + 0.5) / w + ky * (y + 0.5) / h))
    return v.astype(np.float32)[..., None]


@pytest.mark.parametrize("size,new", [((64, 64), (128, 128)), ((64, 64), (256, 256)), ((60, 90), (45, 32)),
                                      ((64, 48), (100, 77))])
def test_resize_of_band_limited_periodic_signal_is_exact_everywhere(size, new):
    h, w = size
    nw, nh = new
    out = wrap.resize(_sine(h, w), nw, nh)
    ref = _sine(nh, nw)
    err = np.abs(out - ref)
    assert err.max() < 0.02, err.max()
    # the border columns are as good as the middle (a clamped resize fails this)
    assert err[:, :2].max() < 0.02 and err[:, -2:].max() < 0.02


def test_clamped_resize_is_worse_at_the_border():
    out = wrap.resize(_sine(64, 64), 128, 128, wrap=False)
    assert np.abs(out - _sine(128, 128))[:, :1].max() > 0.02


def test_mip_chain_sizes_and_wrap():
    levels = wrap.mip_chain(_sine(64, 32))
    assert [lv.shape[:2] for lv in levels] == [(64, 32), (32, 16), (16, 8), (8, 4), (4, 2), (2, 1), (1, 1)]
    assert all(lv.ndim == 3 for lv in levels)
    # a low-frequency sine stays close to the true sine at level 1, borders included
    assert np.abs(levels[1] - _sine(32, 16)).max() < 0.08


def test_power_of_two_helpers():
    assert wrap.is_power_of_two(512) and not wrap.is_power_of_two(768)
    assert wrap.nearest_power_of_two(700) == 512 and wrap.nearest_power_of_two(800) == 1024
    assert wrap.nearest_power_of_two(1024) == 1024
