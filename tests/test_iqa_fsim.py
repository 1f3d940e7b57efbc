"""FSIM / FSIMc against Lin Zhang's MATLAB values, piq, and the properties a loss needs.

Golden numbers: ../shared/data/iqa-golden/reference_values.csv, row ``fsim`` (TID2013 I03, I04,
I06; FeatureSIM.m). That row is FSIMc, FeatureSIM.m's second output: FSIM on Y scores the
chromatic pair I04 at 0.9998, not 0.9702. Every tolerance comes from tests/iqa_tolerances.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from iqa_common import GOLDEN_IMAGES, noisy, to_np
from iqa_jax import jax_pair
from iqa_piq import require_piq
from iqa_tolerances import rtol

pytestmark = pytest.mark.tf
pytest_plugins = ("iqa_fixtures",)  # golden, jax_numbers
JAX_JOB = "fsim_mad_vsi"

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")


from jndtf.iqa.fsim import downsample_factor, fsim, fsim_map  # noqa: E402


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """scikit-image's astronaut, a 96x96 RGB crop with face, edges and flat areas."""
    from skimage import data

    return data.astronaut()[60:156, 180:276].astype(np.float32)


# --- against the original --------------------------------------------------------------------


@pytest.mark.parametrize("name", GOLDEN_IMAGES)
def test_golden_fsimc(golden, name):
    pairs, values = golden
    ref, dist = pairs[name]
    ours = float(to_np(fsim(ref, dist))[0])
    np.testing.assert_allclose(ours, values["fsim"][name], rtol=rtol("fsim/golden"))


def test_golden_downsampling_factor():
    # round(384 / 256) = 2 in MATLAB; halves go away from zero (640 -> 3, Python's round gives 2)
    assert downsample_factor(384, 512) == 2
    assert downsample_factor(640, 640) == 3
    assert downsample_factor(100, 700) == 1


@pytest.mark.parametrize("chromatic", [False, True], ids=["fsim", "fsimc"])
def test_against_piq(golden, photo, chromatic):
    (piq_fsim,) = require_piq("fsim")
    import torch

    pairs, _ = golden
    photo_pair = (photo[None], noisy(photo, 15)[None])
    for ref, dist in (pairs["I03"], photo_pair):  # piq in float64 on 512x384 takes seconds
        ours = float(to_np(fsim(ref, dist, chromatic=chromatic))[0])
        t = [torch.from_numpy(a.astype(np.float64)).permute(0, 3, 1, 2) for a in (dist, ref)]
        theirs = float(piq_fsim(*t, data_range=255.0, chromatic=chromatic))
        key = "fsim/piq" if not chromatic else "fsimc/piq"
        np.testing.assert_allclose(ours, theirs, rtol=rtol(key))


# --- properties ------------------------------------------------------------------------------


def test_identity_is_one(photo):
    x = photo[None]
    np.testing.assert_allclose(to_np(fsim(x, x)), [1.0], atol=1e-6)
    np.testing.assert_allclose(to_np(fsim(x, x, chromatic=False)), [1.0], atol=1e-6)
    flat = np.full_like(x, 77.0)  # PC_m = 0 everywhere: 0/0 (NaN) in the original, 1 here
    np.testing.assert_allclose(to_np(fsim(flat, flat)), [1.0], atol=1e-6)


def test_monotone_in_noise(photo):
    x = photo[None]
    batch_x = np.repeat(x, 4, axis=0)
    batch_y = np.concatenate([noisy(x, s, seed=1) for s in (2, 8, 20, 45)])
    scores = to_np(fsim(batch_x, batch_y))
    assert np.all(np.diff(scores) < 0), scores
    assert scores[0] < 1.0 and scores[-1] > 0.0


def test_batch_equals_single(photo):
    x = np.stack([photo, photo[::-1]])
    y = np.stack([noisy(photo, 10), noisy(photo[::-1], 30)])
    both = to_np(fsim(x, y))
    singles = [float(to_np(fsim(x[i : i + 1], y[i : i + 1]))[0]) for i in range(2)]
    np.testing.assert_allclose(both, singles, rtol=1e-6)


def test_data_range_invariance(photo):
    x, y = photo[None], noisy(photo, 12)[None]
    a = to_np(fsim(x, y))
    b = to_np(fsim(x / 255.0, y / 255.0, data_range=1.0))
    np.testing.assert_allclose(a, b, rtol=rtol("fsim/range"))


def test_uint8_and_grey_inputs(photo):
    x, y = photo[None], noisy(photo, 12)[None]
    np.testing.assert_allclose(
        to_np(fsim(x.astype(np.uint8), np.round(y).astype(np.uint8))),
        to_np(fsim(x, np.round(y))),
        rtol=1e-6,
    )
    yw = np.array([0.299, 0.587, 0.114], np.float32)
    gx, gy = (x @ yw)[..., None], (y @ yw)[..., None]
    # grey input: FSIMc = FSIM, and it equals FSIM of the RGB pair (same Y)
    np.testing.assert_allclose(to_np(fsim(gx, gy)), to_np(fsim(x, y, chromatic=False)), rtol=1e-5)


def test_map_shape_and_range(photo):
    x, y = photo[None], noisy(photo, 12)[None]
    m = to_np(fsim_map(x, y))
    assert m.shape == (1, 96, 96, 1)  # 96 / 256 rounds to F = 1
    assert np.all(m <= 1.0 + 1e-6) and np.all(m > 0.0)
    big = np.zeros((1, 601, 520, 3), np.float32)  # F = round(520 / 256) = 2, ceil(601 / 2)
    assert fsim_map(big, big).shape == (1, 301, 260, 1)
    np.testing.assert_allclose(to_np(fsim_map(x, x)), 1.0, atol=1e-6)


def test_validation():
    a = np.zeros((1, 40, 40, 3), np.float32)
    with pytest.raises(ValueError, match="same shape"):
        fsim(a, np.zeros((1, 40, 41, 3), np.float32))
    with pytest.raises(ValueError, match="rank 4"):
        fsim(a[0], a[0])
    with pytest.raises(ValueError, match="C = 1"):
        fsim(np.zeros((1, 40, 40, 2)), np.zeros((1, 40, 40, 2)))
    with pytest.raises(ValueError, match="data_range"):
        fsim(a, a, data_range=0)


def _grad(x, y, **kw):
    xv = tf.Variable(x)
    with tf.GradientTape() as tape:
        losses = 1.0 - fsim(xv, y, **kw)
        loss = tf.reduce_sum(losses)
    return losses.numpy(), tape.gradient(loss, xv).numpy()


@pytest.mark.parametrize("chromatic", [False, True], ids=["fsim", "fsimc"])
def test_gradients_finite(photo, chromatic):
    x = photo[None][:, :48, :48]
    y = noisy(photo, 10)[None][:, :48, :48]
    cases = {
        "identical": (x, x),
        "near_identical": (x + np.float32(0.5) * np.sign(y - x), x),
        "clipped": (np.clip(2.0 * x - 100.0, 0, 255), y),  # many pixels at 0 and at 255
        "zeros": (np.zeros_like(x), y),
        "saturated": (np.full_like(x, 255.0), y),
        "flat_both": (np.full_like(x, 40.0), np.full_like(x, 40.0)),
    }
    names = list(cases)
    losses, grads = _grad(
        np.concatenate([cases[c][0] for c in names]),
        np.concatenate([cases[c][1] for c in names]),
        chromatic=chromatic,
    )  # one batch: FSIM is per image, so are its gradients
    for i, case in enumerate(names):
        g = grads[i]
        assert np.isfinite(losses[i]), case
        assert np.all(np.isfinite(g)), case
        if case in ("near_identical", "clipped") or (chromatic and case in ("zeros", "saturated")):
            assert np.abs(g).max() > 0, case  # the loss can move x from here
        if case == "identical":
            # the optimum: the gradient of a smooth maximum is zero, and must not be NaN
            assert np.abs(g).max() < 1e-4, case
        # A flat x (zeros, saturated) is a kink of luma FSIM: |grad x| and PC of x are 0 and
        # grow like |t| along every direction t * v, so the luma terms give the 0 sub-gradient
        # there (documented in fsim.py); FSIMc still moves x through S_I and S_Q.


def test_mixed_precision_policy(photo):
    x, y = photo[None][:, :48, :48], noisy(photo, 10)[None][:, :48, :48]
    ref = to_np(fsim(x, y))
    old = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        out = fsim(x.astype(np.float16), y.astype(np.float16))
    finally:
        keras.config.set_dtype_policy(old)
    assert "float32" in str(out.dtype)
    np.testing.assert_allclose(to_np(out), ref, rtol=1e-3)  # inputs rounded to float16


def test_jax_backend_same_numbers(jax_numbers):
    ref, dist = jax_pair(JAX_JOB)
    for key, chromatic in (("fsim", False), ("fsimc", True)):
        assert jax_numbers[key + "_grad_finite"], key
        ours = to_np(fsim(dist, ref, chromatic=chromatic))[0]
        np.testing.assert_allclose(jax_numbers[key], ours, rtol=rtol("fsim/jax"), err_msg=key)
