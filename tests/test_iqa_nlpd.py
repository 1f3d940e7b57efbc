"""NLPD against the authors' MATLAB values, closed-form pyramid properties and the JAX backend.

Golden numbers: ../shared/data/iqa-golden/reference_values.csv, row ``nlpd`` (TID2013 I03, I04,
I06; Laparra et al.'s ``NLP_dist.m``, 15 digits). No independent NLPD runs here (pyiqa's needs
torchvision; piq has none), so the full-precision golden values carry the cross-check. Every
tolerance comes from tests/iqa_tolerances.py.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from iqa_common import (
    GOLDEN_IMAGES,
    GRADIENT_CASES_WITH_WHITE,
    assert_data_range_invariance,
    assert_float32_under_mixed_precision,
    assert_gradients_finite,
    noisy,
    to_np,
)
from iqa_jax import jax_pair
from iqa_tolerances import rtol

pytestmark = pytest.mark.tf
pytest_plugins = ("iqa_fixtures",)  # golden, jax_numbers
JAX_JOB = "vif_vifp_nlpd"

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from jndtf.iqa.nlpd import (  # noqa: E402
    NLPD_LEVELS,
    laplacian_pyramid,
    nlpd,
    nlpd_scales,
    normalized_laplacian_pyramid,
)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A real photo (scikit-image's astronaut), 192x192 RGB uint8 crop with texture and edges."""
    from skimage import data

    return data.astronaut()[40:232, 160:352]


# --- golden: the original MATLAB values -------------------------------------------------------


@pytest.mark.parametrize("image", GOLDEN_IMAGES)
def test_nlpd_matches_matlab_golden(golden, image):
    pairs, values = golden
    x, y = pairs[image]
    # uint8 input: rgb2gray rounds to grey levels, then im2double (/ 255), as NLP_dist's callers.
    np.testing.assert_allclose(
        to_np(nlpd(x, y))[0], values["nlpd"][image], rtol=rtol("nlpd/golden")
    )


def test_golden_needs_the_grey_rounding(golden):
    """I04 is a chromatic distortion: unrounded grey moves NLPD by ~30 % (see the docstring)."""
    pairs, values = golden
    x, y = pairs["I04"]
    unrounded = to_np(nlpd(x, y, quantize_grey=False))[0]
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
    np.testing.assert_allclose(to_np(rec), img, atol=1e-5)
    sides = [(p.shape[1], p.shape[2]) for p in pyr]
    assert sides[1] == (-(-shape[0] // 2), -(-shape[1] // 2))


def test_scales_and_pyramid_agree_with_the_score(photo):
    x, y = photo[None].astype(np.float32), noisy(photo, 10)[None]
    scales = to_np(nlpd_scales(x, y))
    assert scales.shape == (1, NLPD_LEVELS) and (scales > 0).all()
    np.testing.assert_allclose(scales.mean(-1), to_np(nlpd(x, y)), rtol=1e-6)
    px, py = normalized_laplacian_pyramid(x), normalized_laplacian_pyramid(y)
    rms = [np.sqrt(np.mean((to_np(a) - to_np(b)) ** 2)) for a, b in zip(px, py, strict=True)]
    np.testing.assert_allclose(rms, scales[0], rtol=1e-5)


# --- properties -------------------------------------------------------------------------------


def test_identity_is_zero_symmetric_and_monotone_in_noise(photo):
    x = photo[None].astype(np.float32)
    assert to_np(nlpd(x, x))[0] == 0.0
    noisier = [noisy(photo, s)[None] for s in (4, 8, 16, 32, 64)]
    scores = [to_np(nlpd(x, n))[0] for n in noisier]
    assert all(a < b for a, b in itertools.pairwise(scores)), scores
    np.testing.assert_allclose(to_np(nlpd(noisier[2], x)), to_np(nlpd(x, noisier[2])), rtol=1e-6)


def test_data_range_invariance(photo):
    assert_data_range_invariance(nlpd, photo, rtol("nlpd/range"), uint8=True)


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
    assert np.isfinite(to_np(nlpd(a[:, :17, :17], a[:, :17, :17] + 1))).all()


@pytest.mark.parametrize("case", sorted(GRADIENT_CASES_WITH_WHITE))
def test_gradients_are_finite(photo, case):
    x0, y0 = GRADIENT_CASES_WITH_WHITE[case](photo[None, :96, :96].astype(np.float32))
    assert_gradients_finite(nlpd, x0, y0, case)


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
    g = to_np(tape.gradient(loss, y))
    assert np.isfinite(g).all() and np.abs(g).max() > 0, case


def test_gradient_is_zero_at_the_minimum(photo):
    x = tf.constant(photo[None, :96, :96].astype(np.float32))
    y = tf.Variable(x)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(nlpd(x, y))
    assert to_np(loss) == 0.0 and np.abs(to_np(tape.gradient(loss, y))).max() == 0.0


def test_a_step_against_the_gradient_improves_the_score(photo):
    x = tf.constant(photo[None].astype(np.float32))
    y = tf.Variable(noisy(photo, 20)[None])
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(nlpd(x, y))
    g = to_np(tape.gradient(loss, y))
    assert to_np(nlpd(x, y - 4.0 * g / np.abs(g).max()))[0] < to_np(loss)


def test_float32_inside_under_mixed_precision(photo):
    assert_float32_under_mixed_precision(nlpd, photo)


def test_batch_and_graph_mode(photo):
    x = np.stack([photo, photo[::-1]]).astype(np.float32)
    y = np.stack([noisy(photo, 5), noisy(photo[::-1], 30)])
    batch = to_np(nlpd(x, y))
    assert batch.shape == (2,)
    np.testing.assert_allclose(batch[1], to_np(nlpd(x[1:], y[1:]))[0], rtol=1e-6)
    np.testing.assert_allclose(to_np(tf.function(nlpd)(x, y)), batch, rtol=1e-6)


# --- JAX backend ------------------------------------------------------------------------------


def test_same_numbers_under_jax_backend(jax_numbers):
    x, y = jax_pair(JAX_JOB)
    np.testing.assert_allclose(jax_numbers["nlpd"], to_np(nlpd(x, y))[0], rtol=rtol("nlpd/jax"))
