"""NLPD against the authors' MATLAB values, closed-form pyramid properties and the JAX backend.

Golden numbers: ../shared/data/iqa-golden/reference_values.csv, row ``nlpd`` (TID2013 I03, I04,
I06; Laparra et al.'s ``NLP_dist.m``, 15 digits). No independent NLPD runs here (pyiqa's needs
torchvision; piq has none), so the full-precision golden values carry the cross-check. Every
tolerance comes from tests/iqa_tolerances.py.
"""

from __future__ import annotations

import csv
import itertools

import numpy as np
import pytest
from iqa_jax_vif_nlpd import jax_inputs, jax_results
from iqa_tolerances import rtol

pytestmark = pytest.mark.tf

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from keras import ops  # noqa: E402

from jndtf.iqa.nlpd import (  # noqa: E402
    NLPD_LEVELS,
    laplacian_pyramid,
    nlpd,
    nlpd_scales,
    normalized_laplacian_pyramid,
)

GOLDEN_IMAGES = ("I03", "I04", "I06")


def _np(t) -> np.ndarray:
    return np.asarray(ops.convert_to_numpy(t), dtype=np.float64)


@pytest.fixture(scope="module")
def golden(shared_dir):
    """{image: (ref uint8 1xHxWx3, dist uint8 1xHxWx3)} and {metric: {image: value}}."""
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
    """A real photo (scikit-image's astronaut), 192x192 RGB uint8 crop with texture and edges."""
    from skimage import data

    return data.astronaut()[40:232, 160:352]


def _noisy(img: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(img + rng.normal(0, sigma, img.shape), 0, 255).astype(np.float32)


# --- golden: the original MATLAB values -------------------------------------------------------


@pytest.mark.parametrize("image", GOLDEN_IMAGES)
def test_nlpd_matches_matlab_golden(golden, image):
    pairs, values = golden
    x, y = pairs[image]
    # uint8 input: rgb2gray rounds to grey levels, then im2double (/ 255), as NLP_dist's callers.
    np.testing.assert_allclose(_np(nlpd(x, y))[0], values["nlpd"][image], rtol=rtol("nlpd/golden"))


def test_golden_needs_the_grey_rounding(golden):
    """I04 is a chromatic distortion: unrounded grey moves NLPD by ~30 % (see the docstring)."""
    pairs, values = golden
    x, y = pairs["I04"]
    unrounded = _np(nlpd(x, y, quantize_grey=False))[0]
    assert abs(unrounded / values["nlpd"]["I04"] - 1) > 0.2


# --- closed forms -----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(64, 64), (75, 50)])
def test_laplacian_pyramid_reconstructs_the_image(shape):
    """J = L + up(down(J)) at every level, so collapsing the pyramid gives the image back."""
    from jndtf.iqa.nlpd import _upsample

    img = np.random.default_rng(0).uniform(0, 1, (1, *shape, 1)).astype(np.float32)
    pyr = laplacian_pyramid(img)
    assert len(pyr) == NLPD_LEVELS
    rec = pyr[-1]
    for lap in reversed(pyr[:-1]):
        rec = lap + _upsample(rec, lap.shape[1], lap.shape[2])
    np.testing.assert_allclose(_np(rec), img, atol=1e-5)
    sides = [(p.shape[1], p.shape[2]) for p in pyr]
    assert sides[1] == (-(-shape[0] // 2), -(-shape[1] // 2))


def test_scales_and_pyramid_agree_with_the_score(photo):
    x, y = photo[None].astype(np.float32), _noisy(photo, 10)[None]
    scales = _np(nlpd_scales(x, y))
    assert scales.shape == (1, NLPD_LEVELS) and (scales > 0).all()
    np.testing.assert_allclose(scales.mean(-1), _np(nlpd(x, y)), rtol=1e-6)
    px, py = normalized_laplacian_pyramid(x), normalized_laplacian_pyramid(y)
    rms = [np.sqrt(np.mean((_np(a) - _np(b)) ** 2)) for a, b in zip(px, py, strict=True)]
    np.testing.assert_allclose(rms, scales[0], rtol=1e-5)


# --- properties -------------------------------------------------------------------------------


def test_identity_is_zero_symmetric_and_monotone_in_noise(photo):
    x = photo[None].astype(np.float32)
    assert _np(nlpd(x, x))[0] == 0.0
    noisy = [_noisy(photo, s)[None] for s in (4, 8, 16, 32, 64)]
    scores = [_np(nlpd(x, n))[0] for n in noisy]
    assert all(a < b for a, b in itertools.pairwise(scores)), scores
    np.testing.assert_allclose(_np(nlpd(noisy[2], x)), _np(nlpd(x, noisy[2])), rtol=1e-6)


def test_data_range_invariance(photo):
    x = photo[None].astype(np.float32)
    y = _noisy(photo, 10)[None]
    np.testing.assert_allclose(
        _np(nlpd(x / 255.0, y / 255.0, data_range=1.0)), _np(nlpd(x, y)), rtol=rtol("nlpd/range")
    )
    xq, yq = photo[None], np.round(y).astype(np.uint8)
    np.testing.assert_allclose(
        _np(nlpd(xq, yq)),
        _np(nlpd(xq / 255.0, yq / 255.0, data_range=1.0, quantize_grey=True)),
        rtol=rtol("nlpd/range"),
    )


def test_bad_inputs_raise_value_error():
    a = np.zeros((1, 64, 64, 3), np.float32)
    with pytest.raises(ValueError, match="same shape"):
        nlpd(a, np.zeros((1, 64, 62, 3), np.float32))
    with pytest.raises(ValueError, match="rank 4"):
        nlpd(a[0], a[0])
    with pytest.raises(ValueError, match="channels"):
        nlpd(np.zeros((1, 64, 64, 2)), np.zeros((1, 64, 64, 2)))
    with pytest.raises(ValueError, match="data_range"):
        nlpd(a, a, data_range=-1)
    with pytest.raises(ValueError, match="at least"):
        nlpd(a[:, :16, :16], a[:, :16, :16])
    # The smallest accepted side works.
    assert np.isfinite(_np(nlpd(a[:, :17, :17], a[:, :17, :17] + 1))).all()


GRADIENT_CASES = {
    "identical": lambda img: (img, img),
    "zeros": lambda img: (np.zeros_like(img), np.zeros_like(img)),
    "saturated": lambda img: (np.full_like(img, 255.0), np.full_like(img, 255.0)),
    "zeros_vs_white": lambda img: (np.zeros_like(img), np.full_like(img, 255.0)),
    "photo_vs_zeros": lambda img: (img, np.zeros_like(img)),
    "photo_vs_white": lambda img: (img, np.full_like(img, 255.0)),
}


@pytest.mark.parametrize("case", sorted(GRADIENT_CASES))
def test_gradients_are_finite(photo, case):
    x0, y0 = GRADIENT_CASES[case](photo[None, :96, :96].astype(np.float32))
    x, y = tf.constant(x0), tf.constant(y0)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, y])
        v = tf.reduce_sum(nlpd(x, y))
    assert np.isfinite(_np(v)).all()
    for g in tape.gradient(v, [x, y]):
        assert g is not None and np.isfinite(_np(g)).all(), case


NONZERO_CASES = {
    # NLPD has its minimum at y = x (gradient 0 there); one grey level away it already pulls.
    "near_identical": lambda img, rng: img + rng.choice([-1.0, 1.0], img.shape).astype(np.float32),
    "near_black": lambda img, rng: rng.uniform(0, 2, img.shape).astype(np.float32),
    "near_white": lambda img, rng: 255 - rng.uniform(0, 2, img.shape).astype(np.float32),
}


@pytest.mark.parametrize("case", sorted(NONZERO_CASES))
def test_loss_gradient_is_nonzero(photo, case):
    x = tf.constant(photo[None, :96, :96].astype(np.float32))
    y = tf.Variable(NONZERO_CASES[case](x.numpy(), np.random.default_rng(1)))
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(nlpd(x, y))
    g = _np(tape.gradient(loss, y))
    assert np.isfinite(g).all() and np.abs(g).max() > 0, case


def test_gradient_is_zero_at_the_minimum(photo):
    x = tf.constant(photo[None, :96, :96].astype(np.float32))
    y = tf.Variable(x)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(nlpd(x, y))
    assert _np(loss) == 0.0 and np.abs(_np(tape.gradient(loss, y))).max() == 0.0


def test_a_step_against_the_gradient_improves_the_score(photo):
    x = tf.constant(photo[None].astype(np.float32))
    y = tf.Variable(_noisy(photo, 20)[None])
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(nlpd(x, y))
    g = _np(tape.gradient(loss, y))
    assert _np(nlpd(x, y - 4.0 * g / np.abs(g).max()))[0] < _np(loss)


def test_float32_inside_under_mixed_precision(photo):
    x = photo[None].astype(np.float16)
    y = _noisy(photo, 10)[None].round().astype(np.float16)  # integers are exact in float16
    want = _np(nlpd(x.astype(np.float32), y.astype(np.float32)))
    old = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        got = nlpd(ops.convert_to_tensor(x), ops.convert_to_tensor(y))
    finally:
        keras.mixed_precision.set_dtype_policy(old)
    assert "float32" in str(got.dtype)
    np.testing.assert_allclose(_np(got), want, rtol=1e-6)


def test_batch_and_graph_mode(photo):
    x = np.stack([photo, photo[::-1]]).astype(np.float32)
    y = np.stack([_noisy(photo, 5), _noisy(photo[::-1], 30)])
    batch = _np(nlpd(x, y))
    assert batch.shape == (2,)
    np.testing.assert_allclose(batch[1], _np(nlpd(x[1:], y[1:]))[0], rtol=1e-6)
    np.testing.assert_allclose(_np(tf.function(nlpd)(x, y)), batch, rtol=1e-6)


# --- JAX backend ------------------------------------------------------------------------------


def test_same_numbers_under_jax_backend():
    results = jax_results()
    if results is None:
        pytest.skip("jax not installed (pip install jax)")
    x, y = jax_inputs()
    np.testing.assert_allclose(results["nlpd"], _np(nlpd(x, y))[0], rtol=rtol("nlpd/jax"))
