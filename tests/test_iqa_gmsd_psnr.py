"""GMSD and PSNR against the MATLAB originals and piq, plus the properties a loss needs.

Golden numbers: ../shared/data/iqa-golden/reference_values.csv (TID2013 I03, I04, I06; GMSD from
Xue et al.'s GMSD.m, PSNR over the 8-bit RGB channels). Tolerances: tests/iqa_tolerances.py.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from iqa_common import (
    GOLDEN_IMAGES,
    GRADIENT_CASES,
    assert_batch_equals_single,
    assert_data_range_invariance,
    assert_float32_under_mixed_precision,
    assert_gradients_finite,
    grey64,
    noisy,
    to_np,
)
from iqa_jax import jax_pair
from iqa_piq import require_piq
from iqa_tolerances import rtol
from scipy.ndimage import correlate

pytestmark = pytest.mark.tf
pytest_plugins = ("iqa_fixtures",)  # golden, jax_numbers
JAX_JOB = "ssim_gmsd_psnr"

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from jndtf.iqa.gmsd import gmsd, gmsd_map  # noqa: E402
from jndtf.iqa.psnr import psnr  # noqa: E402

METRICS = {"gmsd": gmsd, "psnr": psnr}
HIGHER_IS_BETTER = {"gmsd": False, "psnr": True}


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A real photo (scikit-image's astronaut), 96x96 RGB uint8 crop with texture and edges."""
    from skimage import data

    return data.astronaut()[80:176, 200:296]


# --- an independent float64 transcription of Xue et al.'s GMSD.m -----------------------------


def _gmsd64(a: np.ndarray, b: np.ndarray) -> float:
    """GMSD.m on two float64 grey images in 0..255."""

    def half(z):  # conv2(z, ones(2)/4, 'same') -> mean of z(i:i+1, j:j+1); then z(1:2:end, ...)
        z = np.pad(z, ((0, 1), (0, 1)))
        return ((z[:-1, :-1] + z[1:, :-1] + z[:-1, 1:] + z[1:, 1:]) / 4)[::2, ::2]

    dx = np.array([[1.0, 0.0, -1.0]] * 3) / 3.0

    def magnitude(z):  # conv2 'same', zero borders (the kernel's sign does not matter)
        gx = correlate(z, dx, mode="constant")
        gy = correlate(z, dx.T, mode="constant")
        return np.sqrt(gx**2 + gy**2)

    m1, m2 = magnitude(half(a)), magnitude(half(b))
    q = (2 * m1 * m2 + 170.0) / (m1**2 + m2**2 + 170.0)
    return float(q.std(ddof=1))  # std2


# --- golden: the original MATLAB values -------------------------------------------------------


@pytest.mark.parametrize("name", sorted(METRICS))
@pytest.mark.parametrize("image", GOLDEN_IMAGES)
def test_matches_matlab_golden(golden, name, image):
    pairs, values = golden
    x, y = pairs[image]
    got = to_np(METRICS[name](x, y))[0]
    np.testing.assert_allclose(got, values[name][image], rtol=rtol(f"{name}/golden"))


def test_gmsd_golden_needs_matlab_grey(golden):
    """float RGB input is not rounded to grey levels: I04's GMSD then halves (0.00028)."""
    pairs, values = golden
    x, y = pairs["I04"]
    unrounded = to_np(gmsd(x.astype(np.float32), y.astype(np.float32)))[0]
    assert abs(unrounded - values["gmsd"]["I04"]) / values["gmsd"]["I04"] > 0.3
    rounded = to_np(gmsd(x.astype(np.float32), y.astype(np.float32), quantize_grey=True))[0]
    np.testing.assert_allclose(rounded, values["gmsd"]["I04"], rtol=rtol("gmsd/golden"))


@pytest.mark.parametrize("shape", [(64, 64), (63, 65)])
def test_gmsd_matches_float64_transcription_odd_and_even(photo, shape):
    """Odd sizes exercise conv2's zero border of the 2x2 mean (the last row is halved)."""
    x = photo[None, : shape[0], : shape[1]]
    y = noisy(photo, 12)[None, : shape[0], : shape[1]].round().astype(np.uint8)
    want = _gmsd64(grey64(x[0]), grey64(y[0]))
    np.testing.assert_allclose(to_np(gmsd(x, y))[0], want, rtol=rtol("gmsd/golden"))
    h, w = (shape[0] + 1) // 2, (shape[1] + 1) // 2
    assert tuple(gmsd_map(x, y).shape) == (1, h, w, 1)


# --- piq ---------------------------------------------------------------------------------------


def test_gmsd_and_psnr_match_piq(golden):
    piq_gmsd, piq_psnr = require_piq("gmsd", "psnr")
    import torch

    pairs, _ = golden
    x, y = pairs["I03"]
    a, b = grey64(x[0]), grey64(y[0])
    ta, tb = (torch.from_numpy(z)[None, None] for z in (a, b))
    n = (a.shape[0] // 2) * (a.shape[1] // 2)
    want = float(piq_gmsd(ta, tb, data_range=255.0)) * np.sqrt(n / (n - 1))  # piq divides by N
    got = to_np(gmsd(a[None, ..., None].astype(np.float32), b[None, ..., None].astype(np.float32)))
    np.testing.assert_allclose(got[0], want, rtol=rtol("gmsd/piq"))
    tx, ty = (torch.from_numpy(z[0].astype(np.float64)).permute(2, 0, 1)[None] for z in (x, y))
    want_db = float(piq_psnr(tx, ty, data_range=255.0))
    np.testing.assert_allclose(to_np(psnr(x, y))[0], want_db, rtol=rtol("psnr/piq"))


def test_psnr_closed_form():
    x = np.zeros((2, 8, 8, 3), np.float32)
    y = x.copy()
    y[0] += 1.0  # MSE 1 -> 10 log10(255^2) = 48.13 dB
    y[1, 0, 0, 0] = 255.0  # MSE 255^2 / 192
    np.testing.assert_allclose(
        to_np(psnr(x, y)), [20 * np.log10(255.0), 10 * np.log10(192.0)], rtol=1e-6
    )


# --- properties -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(METRICS))
def test_identity_symmetry_and_monotone_in_noise(photo, name):
    fn = METRICS[name]
    x = photo[None].astype(np.float32)
    perfect = {"gmsd": 0.0, "psnr": 100.0}[name]
    np.testing.assert_allclose(to_np(fn(x, x)), [perfect], atol=1e-6)
    noisier = [noisy(photo, s)[None] for s in (2, 4, 8, 16, 32, 64)]
    scores = [to_np(fn(x, n))[0] for n in noisier]
    if HIGHER_IS_BETTER[name]:
        scores = [-s for s in scores]
    assert all(a < b for a, b in itertools.pairwise(scores)), scores
    np.testing.assert_allclose(to_np(fn(noisier[2], x)), to_np(fn(x, noisier[2])), rtol=1e-6)


@pytest.mark.parametrize("name", sorted(METRICS))
def test_data_range_invariance(photo, name):
    assert_data_range_invariance(METRICS[name], photo, rtol(f"{name}/range"), uint8=False)


def test_gmsd_data_range_invariance_with_uint8_rounding(photo):
    xq, yq = photo[None], noisy(photo, 10)[None].round().astype(np.uint8)
    np.testing.assert_allclose(
        to_np(gmsd(xq, yq)),
        to_np(gmsd(xq / 255.0, yq / 255.0, data_range=1.0, quantize_grey=True)),
        rtol=rtol("gmsd/range"),
    )


@pytest.mark.parametrize("name", sorted(METRICS))
def test_bad_inputs_raise_value_error(name):
    fn = METRICS[name]
    a = np.zeros((1, 32, 32, 3), np.float32)
    with pytest.raises(ValueError, match="same shape"):
        fn(a, np.zeros((1, 32, 30, 3), np.float32))
    with pytest.raises(ValueError, match="rank 4"):
        fn(a[0], a[0])
    with pytest.raises(ValueError, match="data_range"):
        fn(a, a, data_range=-1.0)
    if name == "gmsd":
        with pytest.raises(ValueError, match="channels"):
            fn(np.zeros((1, 32, 32, 4)), np.zeros((1, 32, 32, 4)))


@pytest.mark.parametrize("case", sorted(GRADIENT_CASES))
@pytest.mark.parametrize("name", sorted(METRICS))
def test_gradients_are_finite(photo, name, case):
    x0, y0 = GRADIENT_CASES[case](photo[None].astype(np.float32))
    assert_gradients_finite(METRICS[name], x0, y0, (name, case))


@pytest.mark.parametrize("name", sorted(METRICS))
def test_loss_gradient_is_finite_and_nonzero(photo, name):
    x = tf.constant(photo[None].astype(np.float32))
    y = tf.Variable(noisy(photo, 20)[None])
    sign = -1.0 if HIGHER_IS_BETTER[name] else 1.0
    with tf.GradientTape() as tape:
        loss = sign * tf.reduce_mean(METRICS[name](x, y))
    g = to_np(tape.gradient(loss, y))
    assert np.isfinite(g).all() and np.abs(g).max() > 0
    stepped = sign * to_np(METRICS[name](x, y - 4.0 * g / np.abs(g).max()))[0]
    assert stepped < sign * to_np(METRICS[name](x, y))[0]


@pytest.mark.parametrize("name", sorted(METRICS))
def test_float32_inside_under_mixed_precision(photo, name):
    assert_float32_under_mixed_precision(METRICS[name], photo)


def test_batch_gives_one_score_per_image(photo):
    assert_batch_equals_single((gmsd, psnr), photo, rtol=1e-5)


# --- JAX backend ------------------------------------------------------------------------------


def test_same_numbers_under_jax_backend(jax_numbers):
    x, y = jax_pair(JAX_JOB)
    for name, fn in METRICS.items():
        assert jax_numbers[f"{name}_grad_finite"], name
        np.testing.assert_allclose(jax_numbers[name], to_np(fn(x, y))[0], rtol=rtol(f"{name}/jax"))
