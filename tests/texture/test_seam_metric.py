"""The seam score separates periodic images from seamed ones and does not depend on the size.

The noise images are grey (``c=1``): the score is measured on luminance, so that is what it sees.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import periodic_noise, seamed

from zpipe.texture import wrap
from zpipe.texture.seam import seam_score, seam_scores


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_periodic_scores_about_one_and_seamed_scores_high(seed):
    for n in (64, 128, 256):
        p = seam_scores(periodic_noise(n, seed, c=1), "xy")
        s = seam_scores(seamed(n, seed, c=1), "xy")
        assert max(p.values()) < 1.5, (n, p)
        assert min(s.values()) > 3.0, (n, s)


def test_sinusoids_and_white_noise_are_periodic():
    y, x = np.mgrid[0:128, 0:192].astype(np.float32)
    img = 0.5 + 0.4 * np.sin(2 * np.pi * (3 * x / 192 + 2 * y / 128))
    assert seam_score(img[..., None], "x") < 1.3 and seam_score(img[..., None], "y") < 1.3
    white = np.random.default_rng(0).random((128, 128, 3)).astype(np.float32)
    assert seam_score(white, "x") < 1.3


def test_axis_specific():
    n = 256
    y, x = np.mgrid[0:n, 0:n].astype(np.float32)
    img = 0.7 * periodic_noise(n, c=1)[..., 0] + 0.3 * x / n  # a ramp: a seam on x only
    assert seam_score(img, "x") > 5 and seam_score(img, "y") < 1.5


@pytest.mark.parametrize("make", [seamed, periodic_noise])
def test_stable_under_resizing(make):
    base = make(256, 4, c=1)
    ref = seam_scores(base, "xy")
    for size in (320, 384, 512, 768):
        got = seam_scores(wrap.resize(base, size, size), "xy")
        for axis in "xy":
            assert got[axis] == pytest.approx(ref[axis], rel=0.15), (size, axis, got, ref)


def test_contrast_invariant_and_flat():
    img = seamed(128, c=1)
    assert seam_score(img * 0.3 + 0.2, "x") == pytest.approx(seam_score(img, "x"), rel=1e-3)
    assert seam_score(np.full((64, 64, 3), 0.5, np.float32), "x") == 0.0


def test_bad_axis():
    with pytest.raises(ValueError):
        seam_score(periodic_noise(32, c=1), "z")


def test_seam_peak_separates_seams_from_edges_inside_the_texture():
    from zpipe.texture.seam import seam_peaks

    for seed in range(3):
        assert min(seam_peaks(seamed(256, seed, c=1)).values()) > 2.0
        assert max(seam_peaks(periodic_noise(256, seed, c=1)).values()) < 1.25
