"""The seam score separates periodic images from seamed ones and does not depend on the size."""

from __future__ import annotations

import numpy as np
import pytest

from zpipe.texture import wrap
from zpipe.texture.seam import seam_score, seam_scores


def periodic_noise(n: int, seed: int = 0, octaves: int = 5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.zeros((n, n), np.float32)
    for o in range(octaves):
        k = 2 ** (o + 2)
        out += wrap.resize(rng.random((k, k)).astype(np.float32), n, n, "cubic") * 0.5**o
    out = (out - out.min()) / (out.max() - out.min())
    # a random roll keeps it periodic and moves the lattice of the octaves off the seam
    out = np.roll(out, tuple(rng.integers(0, n, size=2)), axis=(0, 1))
    return np.repeat(out[..., None], 3, axis=2)


def seamed_noise(n: int, seed: int = 0) -> np.ndarray:
    """A window of a larger periodic field: smooth inside, a seam where its borders meet."""
    big = periodic_noise(2 * n, seed)
    return np.ascontiguousarray(big[n // 3: n // 3 + n, n // 5: n // 5 + n])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_periodic_scores_about_one_and_seamed_scores_high(seed):
    for n in (64, 128, 256):
        p = seam_scores(periodic_noise(n, seed), "xy")
        s = seam_scores(seamed_noise(n, seed), "xy")
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
    img = 0.7 * periodic_noise(n)[..., 0] + 0.3 * x / n  # a ramp: a seam on x only
    assert seam_score(img, "x") > 5 and seam_score(img, "y") < 1.5


@pytest.mark.parametrize("make", [seamed_noise, periodic_noise])
def test_stable_under_resizing(make):
    base = make(256, 4)
    ref = seam_scores(base, "xy")
    for size in (320, 384, 512, 768):
        got = seam_scores(wrap.resize(base, size, size), "xy")
        for axis in "xy":
            assert got[axis] == pytest.approx(ref[axis], rel=0.15), (size, axis, got, ref)


def test_contrast_invariant_and_flat():
    img = seamed_noise(128)
    assert seam_score(img * 0.3 + 0.2, "x") == pytest.approx(seam_score(img, "x"), rel=1e-3)
    assert seam_score(np.full((64, 64, 3), 0.5, np.float32), "x") == 0.0


def test_bad_axis():
    with pytest.raises(ValueError):
        seam_score(periodic_noise(32), "z")


def test_seam_peak_separates_seams_from_edges_inside_the_texture():
    from zpipe.texture.seam import seam_peaks

    for seed in range(3):
        assert min(seam_peaks(seamed_noise(256, seed)).values()) > 2.0
        assert max(seam_peaks(periodic_noise(256, seed)).values()) < 1.25
