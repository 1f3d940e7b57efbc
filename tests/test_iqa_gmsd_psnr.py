"""GMSD and PSNR against the MATLAB originals and piq, plus the properties a loss needs.

Golden numbers: ../shared/data/iqa-golden/reference_values.csv (TID2013 I03, I04, I06; GMSD from
Xue et al.'s GMSD.m, PSNR over the 8-bit RGB channels). Tolerances: tests/iqa_tolerances.py.
"""

from __future__ import annotations

import csv
import itertools

import numpy as np
import pytest
from iqa_jax import jax_inputs, jax_results
from iqa_piq import load_piq_function
from iqa_tolerances import rtol
from scipy.ndimage import correlate

pytestmark = pytest.mark.tf

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from keras import ops  # noqa: E402

from jndtf.iqa._ops import RGB2GRAY_MATLAB_EXACT  # noqa: E402
from jndtf.iqa.gmsd import gmsd, gmsd_map  # noqa: E402
from jndtf.iqa.psnr import psnr  # noqa: E402

GOLDEN_IMAGES = ("I03", "I04", "I06")
METRICS = {"gmsd": gmsd, "psnr": psnr}
HIGHER_IS_BETTER = {"gmsd": False, "psnr": True}


def _np(t) -> np.ndarray:
    return np.asarray(ops.convert_to_numpy(t), dtype=np.float64)


@pytest.fixture(scope="module")
def golden(shared_dir):
    from jndtf.io import load_image

    root = shared_dir / "data" / "iqa-golden"
    pairs = {
        n: (
            load_image(root / "ref" / f"{n}.png")[None],
            load_image(root / "dist" / f"{n}.png")[None],
        )
        for n in GOLDEN_IMAGES
    }
    with open(root / "reference_values.csv", newline="") as fh:
        values = {
            row["metric"]: {n: float(row[n]) for n in GOLDEN_IMAGES} for row in csv.DictReader(fh)
        }
    return pairs, values


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A real photo (scikit-image's astronaut), 96x96 RGB uint8 crop with texture and edges."""
    from skimage import data

    return data.astronaut()[80:176, 200:296]


def _noisy(img: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(img + rng.normal(0, sigma, img.shape), 0, 255).astype(np.float32)


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


def _grey64(rgb_uint8: np.ndarray) -> np.ndarray:
    return np.floor(rgb_uint8.astype(np.float64) @ np.asarray(RGB2GRAY_MATLAB_EXACT) + 0.5)


# --- golden: the original MATLAB values -------------------------------------------------------


@pytest.mark.parametrize("name", sorted(METRICS))
@pytest.mark.parametrize("image", GOLDEN_IMAGES)
def test_matches_matlab_golden(golden, name, image):
    pairs, values = golden
    x, y = pairs[image]
    got = _np(METRICS[name](x, y))[0]
    np.testing.assert_allclose(got, values[name][image], rtol=rtol(f"{name}/golden"))


def test_gmsd_golden_needs_matlab_grey(golden):
    """float RGB input is not rounded to grey levels: I04's GMSD then halves (0.00028)."""
    pairs, values = golden
    x, y = pairs["I04"]
    unrounded = _np(gmsd(x.astype(np.float32), y.astype(np.float32)))[0]
    assert abs(unrounded - values["gmsd"]["I04"]) / values["gmsd"]["I04"] > 0.3
    rounded = _np(gmsd(x.astype(np.float32), y.astype(np.float32), quantize_grey=True))[0]
    np.testing.assert_allclose(rounded, values["gmsd"]["I04"], rtol=rtol("gmsd/golden"))


@pytest.mark.parametrize("shape", [(64, 64), (63, 65)])
def test_gmsd_matches_float64_transcription_odd_and_even(photo, shape):
    """Odd sizes exercise conv2's zero border of the 2x2 mean (the last row is halved)."""
    x = photo[None, : shape[0], : shape[1]]
    y = _noisy(photo, 12)[None, : shape[0], : shape[1]].round().astype(np.uint8)
    want = _gmsd64(_grey64(x[0]), _grey64(y[0]))
    np.testing.assert_allclose(_np(gmsd(x, y))[0], want, rtol=rtol("gmsd/golden"))
    h, w = (shape[0] + 1) // 2, (shape[1] + 1) // 2
    assert tuple(gmsd_map(x, y).shape) == (1, h, w, 1)


# --- piq ---------------------------------------------------------------------------------------


def test_gmsd_and_psnr_match_piq(golden):
    piq_gmsd, piq_psnr = load_piq_function("gmsd"), load_piq_function("psnr")
    if piq_gmsd is None or piq_psnr is None:
        pytest.skip("piq not installed: pip install torch==2.13.0 && pip install --no-deps piq")
    import torch

    pairs, _ = golden
    x, y = pairs["I03"]
    a, b = _grey64(x[0]), _grey64(y[0])
    ta, tb = (torch.from_numpy(z)[None, None] for z in (a, b))
    n = (a.shape[0] // 2) * (a.shape[1] // 2)
    want = float(piq_gmsd(ta, tb, data_range=255.0)) * np.sqrt(n / (n - 1))  # piq divides by N
    got = _np(gmsd(a[None, ..., None].astype(np.float32), b[None, ..., None].astype(np.float32)))
    np.testing.assert_allclose(got[0], want, rtol=rtol("gmsd/piq"))
    tx, ty = (torch.from_numpy(z[0].astype(np.float64)).permute(2, 0, 1)[None] for z in (x, y))
    want_db = float(piq_psnr(tx, ty, data_range=255.0))
    np.testing.assert_allclose(_np(psnr(x, y))[0], want_db, rtol=rtol("psnr/piq"))


def test_psnr_closed_form():
    x = np.zeros((2, 8, 8, 3), np.float32)
    y = x.copy()
    y[0] += 1.0  # MSE 1 -> 10 log10(255^2) = 48.13 dB
    y[1, 0, 0, 0] = 255.0  # MSE 255^2 / 192
    np.testing.assert_allclose(
        _np(psnr(x, y)), [20 * np.log10(255.0), 10 * np.log10(192.0)], rtol=1e-6
    )


# --- properties -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(METRICS))
def test_identity_symmetry_and_monotone_in_noise(photo, name):
    fn = METRICS[name]
    x = photo[None].astype(np.float32)
    perfect = {"gmsd": 0.0, "psnr": 100.0}[name]
    np.testing.assert_allclose(_np(fn(x, x)), [perfect], atol=1e-6)
    noisy = [_noisy(photo, s)[None] for s in (2, 4, 8, 16, 32, 64)]
    scores = [_np(fn(x, n))[0] for n in noisy]
    if HIGHER_IS_BETTER[name]:
        scores = [-s for s in scores]
    assert all(a < b for a, b in itertools.pairwise(scores)), scores
    np.testing.assert_allclose(_np(fn(noisy[2], x)), _np(fn(x, noisy[2])), rtol=1e-6)


@pytest.mark.parametrize("name", sorted(METRICS))
def test_data_range_invariance(photo, name):
    fn = METRICS[name]
    x = photo[None].astype(np.float32)
    y = _noisy(photo, 10)[None]
    np.testing.assert_allclose(
        _np(fn(x / 255.0, y / 255.0, data_range=1.0)), _np(fn(x, y)), rtol=rtol(f"{name}/range")
    )


def test_gmsd_data_range_invariance_with_uint8_rounding(photo):
    xq, yq = photo[None], _noisy(photo, 10)[None].round().astype(np.uint8)
    np.testing.assert_allclose(
        _np(gmsd(xq, yq)),
        _np(gmsd(xq / 255.0, yq / 255.0, data_range=1.0, quantize_grey=True)),
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


GRADIENT_CASES = {
    "identical": lambda img: (img, img),
    "zeros": lambda img: (np.zeros_like(img), np.zeros_like(img)),
    "saturated": lambda img: (np.full_like(img, 255.0), np.full_like(img, 255.0)),
    "zeros_vs_white": lambda img: (np.zeros_like(img), np.full_like(img, 255.0)),
    "photo_vs_zeros": lambda img: (img, np.zeros_like(img)),
}


@pytest.mark.parametrize("case", sorted(GRADIENT_CASES))
@pytest.mark.parametrize("name", sorted(METRICS))
def test_gradients_are_finite(photo, name, case):
    x0, y0 = GRADIENT_CASES[case](photo[None].astype(np.float32))
    x, y = tf.constant(x0), tf.constant(y0)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, y])
        v = tf.reduce_sum(METRICS[name](x, y))
    assert np.isfinite(_np(v)).all()
    for g in tape.gradient(v, [x, y]):
        assert g is not None and np.isfinite(_np(g)).all(), (name, case)


@pytest.mark.parametrize("name", sorted(METRICS))
def test_loss_gradient_is_finite_and_nonzero(photo, name):
    x = tf.constant(photo[None].astype(np.float32))
    y = tf.Variable(_noisy(photo, 20)[None])
    sign = -1.0 if HIGHER_IS_BETTER[name] else 1.0
    with tf.GradientTape() as tape:
        loss = sign * tf.reduce_mean(METRICS[name](x, y))
    g = _np(tape.gradient(loss, y))
    assert np.isfinite(g).all() and np.abs(g).max() > 0
    stepped = sign * _np(METRICS[name](x, y - 4.0 * g / np.abs(g).max()))[0]
    assert stepped < sign * _np(METRICS[name](x, y))[0]


@pytest.mark.parametrize("name", sorted(METRICS))
def test_float32_inside_under_mixed_precision(photo, name):
    x = photo[None].astype(np.float16)
    y = _noisy(photo, 10)[None].round().astype(np.float16)  # integers are exact in float16
    want = _np(METRICS[name](x.astype(np.float32), y.astype(np.float32)))
    old = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        got = METRICS[name](ops.convert_to_tensor(x), ops.convert_to_tensor(y))
    finally:
        keras.mixed_precision.set_dtype_policy(old)
    assert "float32" in str(got.dtype)
    np.testing.assert_allclose(_np(got), want, rtol=1e-6)


def test_batch_gives_one_score_per_image(photo):
    x = np.stack([photo, photo[::-1]]).astype(np.float32)
    y = np.stack([_noisy(photo, 5), _noisy(photo[::-1], 30)])
    for fn in (gmsd, psnr):
        batch = _np(fn(x, y))
        assert batch.shape == (2,)
        np.testing.assert_allclose(batch[1], _np(fn(x[1:], y[1:]))[0], rtol=1e-5)


# --- JAX backend ------------------------------------------------------------------------------


def test_same_numbers_under_jax_backend():
    results = jax_results()
    if results is None:
        pytest.skip("jax not installed (pip install jax)")
    x, y = jax_inputs()
    for name, fn in METRICS.items():
        assert results[f"{name}_grad_finite"], name
        np.testing.assert_allclose(results[name], _np(fn(x, y))[0], rtol=rtol(f"{name}/jax"))
