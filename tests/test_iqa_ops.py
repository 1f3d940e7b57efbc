"""jndtf.iqa._ops against numpy/scipy: MATLAB border modes and filter2."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import correlate2d

pytestmark = pytest.mark.tf


@pytest.mark.parametrize(
    ("mode", "np_mode"),
    [
        ("zeros", "constant"),
        ("symmetric", "symmetric"),
        ("edge", "edge"),
        ("wrap", "wrap"),
        ("reflect", "reflect"),
    ],
)
def test_pad2d_matches_numpy(mode, np_mode):
    from jndtf.iqa._ops import pad2d

    x = np.random.default_rng(0).random((2, 7, 9, 3)).astype(np.float32)
    got = np.asarray(pad2d(x, 2, 1, 3, 0, mode))
    want = np.pad(x, [(0, 0), (2, 1), (3, 0), (0, 0)], mode=np_mode)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("mode", ["valid", "zeros"])
def test_filter2d_is_matlab_filter2(mode):
    from jndtf.iqa._ops import filter2d

    rng = np.random.default_rng(1)
    x = rng.random((1, 10, 12, 2)).astype(np.float32)
    k = rng.random((3, 5)).astype(np.float32)
    got = np.asarray(filter2d(x, k, mode))
    for c in range(2):
        want = correlate2d(x[0, :, :, c], k, "valid" if mode == "valid" else "same")
        np.testing.assert_allclose(got[0, :, :, c], want, atol=2e-6)


@pytest.mark.parametrize(("mode", "np_mode"), [("zeros", "constant"), ("symmetric", "symmetric")])
@pytest.mark.parametrize("f", [1, 2, 3])
def test_mean_downsample_is_box_filter_then_every_fth_pixel(mode, np_mode, f):
    from jndtf.iqa._ops import mean_downsample

    x = np.random.default_rng(2).random((1, 11, 8, 2)).astype(np.float32)
    top, left = (f - 1) // 2, (f - 1) // 2  # conv2 'same' / imfilter place the box like this
    padded = np.pad(x, [(0, 0), (top, f - 1 - top), (left, f - 1 - left), (0, 0)], mode=np_mode)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (f, f), axis=(1, 2))
    want = windows.mean(axis=(-2, -1))[:, ::f, ::f]
    np.testing.assert_allclose(np.asarray(mean_downsample(x, f, mode)), want, atol=2e-6)
