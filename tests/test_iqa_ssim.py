"""SSIM and MS-SSIM against the MATLAB originals, tf.image, scikit-image and piq.

Golden numbers: ../shared/data/iqa-golden/reference_values.csv (TID2013 I03, I04, I06; the
original authors' MATLAB code). Every tolerance comes from tests/iqa_tolerances.py.
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
from scipy.ndimage import correlate1d

pytestmark = pytest.mark.tf
pytest_plugins = ("iqa_fixtures",)  # golden, jax_numbers
JAX_JOB = "ssim_gmsd_psnr"

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from jndtf.iqa.msssim import MS_SSIM_WEIGHTS, ms_ssim  # noqa: E402
from jndtf.iqa.ssim import downsample_factor, ssim, ssim_map  # noqa: E402


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A real photo (scikit-image's astronaut), 192x192 RGB uint8 crop with texture and edges."""
    from skimage import data

    return data.astronaut()[40:232, 160:352]


# --- an independent float64 transcription of Wang's MATLAB code ------------------------------


def _ssim_terms64(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    ax = np.arange(11) - 5.0
    g = np.exp(-(ax**2) / (2 * 1.5**2))
    g /= g.sum()

    def filt(z):  # filter2(window, z, 'valid')
        z = correlate1d(correlate1d(z, g, axis=0), g, axis=1)
        return z[5:-5, 5:-5]

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    m1, m2 = filt(a), filt(b)
    s1, s2, s12 = filt(a * a) - m1 * m1, filt(b * b) - m2 * m2, filt(a * b) - m1 * m2
    cs = (2 * s12 + c2) / (s1 + s2 + c2)
    lum = (2 * m1 * m2 + c1) / (m1 * m1 + m2 * m2 + c1)
    return float((lum * cs).mean()), float(cs.mean())


def _avg_down64(z: np.ndarray, f: int) -> np.ndarray:
    """imfilter(z, ones(f)/f^2, 'symmetric', 'same') then z(1:f:end, 1:f:end)."""
    top = (f - 1) // 2
    z = np.pad(z, ((top, f - 1 - top), (top, f - 1 - top)), mode="symmetric")
    return np.lib.stride_tricks.sliding_window_view(z, (f, f)).mean(axis=(-2, -1))[::f, ::f]


def _ssim64(a, b, auto_downsample: bool) -> float:
    if auto_downsample:
        f = max(1, int(np.floor(min(a.shape) / 256 + 0.5)))
        if f > 1:
            a, b = _avg_down64(a, f), _avg_down64(b, f)
    return _ssim_terms64(a, b)[0]


def _ms_ssim64(a, b) -> float:
    out = 1.0
    for level, w in enumerate(MS_SSIM_WEIGHTS):
        s, cs = _ssim_terms64(a, b)
        out *= (s if level == len(MS_SSIM_WEIGHTS) - 1 else cs) ** w
        a, b = _avg_down64(a, 2), _avg_down64(b, 2)
    return out


# --- golden: the original MATLAB values -------------------------------------------------------


@pytest.mark.parametrize("image", GOLDEN_IMAGES)
def test_ssim_matches_matlab_golden(golden, image):
    pairs, values = golden
    x, y = pairs[image]
    # The table's SSIM is ssim_index.m (no automatic downsampling) on rgb2gray(uint8).
    got = to_np(ssim(x, y, downsample=False))[0]
    np.testing.assert_allclose(got, values["ssim"][image], rtol=rtol("ssim/golden"))


@pytest.mark.parametrize("image", GOLDEN_IMAGES)
def test_ms_ssim_matches_matlab_golden(golden, image):
    pairs, values = golden
    x, y = pairs[image]
    got = to_np(ms_ssim(x, y))[0]
    np.testing.assert_allclose(got, values["ms_ssim"][image], rtol=rtol("ms_ssim/golden"))


@pytest.mark.parametrize("image", ["I03", "I06"])
def test_ssim_and_ms_ssim_match_float64_matlab_transcription(golden, image):
    """Our float32 keras.ops code == a float64 numpy transcription of ssim.m / msssim.m."""
    pairs, _ = golden
    x, y = pairs[image]
    a, b = grey64(x[0]), grey64(y[0])
    assert downsample_factor(*x.shape[1:3]) == 2  # 384 / 256 = 1.5 -> 2 in MATLAB
    for auto in (False, True):
        got = to_np(ssim(x, y, downsample="auto" if auto else False))[0]
        np.testing.assert_allclose(got, _ssim64(a, b, auto), rtol=rtol("ssim/numpy64"))
    np.testing.assert_allclose(
        to_np(ms_ssim(x, y))[0], _ms_ssim64(a, b), rtol=rtol("ms_ssim/numpy64")
    )


def test_downsample_factor_rounds_like_matlab():
    assert downsample_factor(255, 1000) == 1
    assert downsample_factor(384, 512) == 2  # 1.5 -> 2
    assert downsample_factor(640, 960) == 3  # 2.5 -> 3 (Python's round and piq give 2)
    assert downsample_factor(1080, 1920) == 4
    with pytest.raises(ValueError, match="static"):
        downsample_factor(None, 512)


# --- independent implementations --------------------------------------------------------------


def test_ssim_matches_tf_image_and_skimage(photo):
    from skimage.metrics import structural_similarity

    x = grey64(photo).astype(np.float32)[None, ..., None]
    y = np.clip(x + np.random.default_rng(1).normal(0, 12, x.shape), 0, 255).astype(np.float32)
    got = to_np(ssim(x, y, downsample=False))[0]
    want_tf = float(tf.image.ssim(x, y, max_val=255.0, filter_size=11, filter_sigma=1.5)[0])
    np.testing.assert_allclose(got, want_tf, rtol=rtol("ssim/tf"))
    want_sk = structural_similarity(
        x[0, ..., 0].astype(np.float64),
        y[0, ..., 0].astype(np.float64),
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=255,
    )
    np.testing.assert_allclose(got, want_sk, rtol=rtol("ssim/skimage"))
    # The map is 'valid': 192 - 10 = 182 pixels a side, one channel.
    assert tuple(ssim_map(x, y, downsample=False).shape) == (1, 182, 182, 1)


def test_ms_ssim_matches_tf_image(photo):
    x = grey64(photo).astype(np.float32)[None, ..., None]
    y = np.clip(x + np.random.default_rng(2).normal(0, 20, x.shape), 0, 255).astype(np.float32)
    want = float(tf.image.ssim_multiscale(x, y, max_val=255.0)[0])
    np.testing.assert_allclose(to_np(ms_ssim(x, y))[0], want, rtol=rtol("ms_ssim/tf"))


def test_ssim_and_ms_ssim_match_piq(golden):
    piq_ssim, piq_ms = require_piq("ssim", "ms_ssim")
    import torch

    pairs, _ = golden
    x, y = pairs["I03"]
    a, b = grey64(x[0]), grey64(y[0])
    ta, tb = (torch.from_numpy(z)[None, None] for z in (a, b))  # float64: piq's float32 is
    a, b = a.astype(np.float32), b.astype(np.float32)  # 1e-5 off its own float64 result
    # piq.ssim(downsample=True) is Wang's automatic f x f averaging (f = 2 here).
    want = float(piq_ssim(ta, tb, data_range=255.0, downsample=True))
    np.testing.assert_allclose(
        to_np(ssim(a[None, ..., None], b[None, ..., None]))[0], want, rtol=rtol("ssim/piq")
    )
    want_ms = float(piq_ms(ta, tb, data_range=255.0))
    np.testing.assert_allclose(
        to_np(ms_ssim(a[None, ..., None], b[None, ..., None]))[0], want_ms, rtol=rtol("ms_ssim/piq")
    )


# --- properties -------------------------------------------------------------------------------

METRICS = {"ssim": ssim, "ms_ssim": ms_ssim}


@pytest.mark.parametrize("name", sorted(METRICS))
def test_identity_symmetry_and_monotone_in_noise(photo, name):
    fn = METRICS[name]
    x = photo[None].astype(np.float32)
    np.testing.assert_allclose(to_np(fn(x, x)), [1.0], atol=1e-6)
    noisier = [noisy(photo, s)[None] for s in (4, 8, 16, 32, 64)]
    scores = [to_np(fn(x, n))[0] for n in noisier]
    assert all(a > b for a, b in itertools.pairwise(scores)), scores
    np.testing.assert_allclose(to_np(fn(noisier[2], x)), to_np(fn(x, noisier[2])), rtol=1e-6)


@pytest.mark.parametrize("name", sorted(METRICS))
def test_data_range_invariance(photo, name):
    assert_data_range_invariance(METRICS[name], photo, rtol(f"{name}/range"), uint8=True)


@pytest.mark.parametrize("name", sorted(METRICS))
def test_bad_inputs_raise_value_error(name):
    fn = METRICS[name]
    a = np.zeros((1, 192, 192, 3), np.float32)
    with pytest.raises(ValueError, match="same shape"):
        fn(a, np.zeros((1, 192, 190, 3), np.float32))
    with pytest.raises(ValueError, match="rank 4"):
        fn(a[0], a[0])
    with pytest.raises(ValueError, match="channels"):
        fn(np.zeros((1, 192, 192, 2)), np.zeros((1, 192, 192, 2)))
    with pytest.raises(ValueError, match="data_range"):
        fn(a, a, data_range=0)
    with pytest.raises(ValueError, match=r"smaller than|needs min"):
        fn(a[:, :8, :8], a[:, :8, :8])


def test_ms_ssim_floor_keeps_negative_structure_finite(photo):
    """An inverted image has cs < 0 at every scale: the clamp keeps value and gradient finite."""
    x = tf.constant(photo[None].astype(np.float32))
    y = 255.0 - x
    with tf.GradientTape() as tape:
        tape.watch(x)
        v = ms_ssim(x, y)
    g = tape.gradient(v, x)
    assert np.isfinite(to_np(v)).all() and 0 < to_np(v)[0] < 0.6
    assert np.isfinite(to_np(g)).all()


@pytest.mark.parametrize("case", sorted(GRADIENT_CASES))
@pytest.mark.parametrize("name", sorted(METRICS))
def test_gradients_are_finite(photo, name, case):
    x0, y0 = GRADIENT_CASES[case](photo[None].astype(np.float32))
    assert_gradients_finite(METRICS[name], x0, y0, (name, case))


@pytest.mark.parametrize("name", sorted(METRICS))
def test_loss_gradient_is_finite_and_nonzero(photo, name):
    x = tf.constant(photo[None].astype(np.float32))
    y = tf.Variable(noisy(photo, 20)[None])
    with tf.GradientTape() as tape:
        loss = 1.0 - tf.reduce_mean(METRICS[name](x, y))
    g = to_np(tape.gradient(loss, y))
    assert np.isfinite(g).all() and np.abs(g).max() > 0
    # A step against the gradient improves the score.
    better = METRICS[name](x, y - 4.0 * g / np.abs(g).max())
    assert to_np(better)[0] > to_np(METRICS[name](x, y))[0]


@pytest.mark.parametrize("name", sorted(METRICS))
def test_float32_inside_under_mixed_precision(photo, name):
    assert_float32_under_mixed_precision(METRICS[name], photo)


def test_batch_gives_one_score_per_image(photo):
    assert_batch_equals_single((ssim, ms_ssim), photo, rtol=1e-6)


# --- JAX backend ------------------------------------------------------------------------------


def test_same_numbers_under_jax_backend(jax_numbers):
    x, y = jax_pair(JAX_JOB)
    assert jax_numbers["ssim_grad_finite"] and jax_numbers["ms_ssim_grad_finite"]
    np.testing.assert_allclose(jax_numbers["ssim"], to_np(ssim(x, y))[0], rtol=rtol("ssim/jax"))
    np.testing.assert_allclose(
        jax_numbers["ssim_nods"], to_np(ssim(x, y, downsample=False))[0], rtol=rtol("ssim/jax")
    )
    np.testing.assert_allclose(
        jax_numbers["ms_ssim"], to_np(ms_ssim(x, y))[0], rtol=rtol("ms_ssim/jax")
    )
