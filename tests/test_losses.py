"""jndtf.losses: function == Loss class, closed forms, finite gradients, every term in the gradient.

Tolerances:

- ``ATOL_SAME = 1e-6``: the same float32 graph evaluated twice (function vs Loss class, config
  round trip) — only the reduction order can differ.
- ``ATOL_CLOSED = 1e-5``: closed-form values computed in float64 numpy vs float32 keras.ops.
"""

from __future__ import annotations

import importlib.machinery
import sys
import types

import numpy as np
import pytest

pytestmark = pytest.mark.tf

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from jndtf import iqa  # noqa: E402
from jndtf import losses as L  # noqa: E402

ATOL_SAME = 1e-6
ATOL_CLOSED = 1e-5


def _standin_score(x, y, data_range=255.0):
    """A smooth higher-is-better stand-in metric: 1 − mean((x − y)²)/data_range² per image."""
    from keras import ops

    d = (ops.cast(x, "float32") - ops.cast(y, "float32")) / data_range
    return 1.0 - ops.mean(d * d, axis=(1, 2, 3))


def _standin_distance(x, y, data_range=255.0):
    from keras import ops

    d = (ops.cast(x, "float32") - ops.cast(y, "float32")) / data_range
    return ops.mean(ops.abs(d), axis=(1, 2, 3))


@pytest.fixture
def standin_metrics(monkeypatch):
    """Registers two stand-in metrics (one each way) in the IQA registry for this test."""
    mod = types.ModuleType("_jndtf_test_standin_metrics")
    mod.__spec__ = importlib.machinery.ModuleSpec(mod.__name__, None)
    mod.score = _standin_score
    mod.distance = _standin_distance
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    monkeypatch.setitem(
        iqa._METRICS,
        "standin_hi",
        iqa.MetricInfo("standin_hi", mod.__name__, "score", True, "test stand-in"),
    )
    monkeypatch.setitem(
        iqa._METRICS,
        "standin_lo",
        iqa.MetricInfo("standin_lo", mod.__name__, "distance", False, "test stand-in"),
    )
    return "standin_hi", "standin_lo"


@pytest.fixture
def metric(standin_metrics):
    """SSIM once jndtf.iqa.ssim exists, the stand-in until then."""
    return "ssim" if "ssim" in iqa.available() else standin_metrics[0]


def _images(n=2, h=32, w=32, c=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 255, (n, h, w, c)).astype("float32")
    y = np.clip(x + rng.normal(0, 10, x.shape), 0, 255).astype("float32")
    return x, y


def _grad(fn, *args, wrt=0):
    """Gradient of sum(fn(*args)) with respect to args[wrt]."""
    args = [tf.convert_to_tensor(a, tf.float32) for a in args]
    with tf.GradientTape() as tape:
        tape.watch(args[wrt])
        value = tf.reduce_sum(fn(*args))
    g = tape.gradient(value, args[wrt])
    assert g is not None
    return g.numpy()


def _finite(g):
    return bool(np.all(np.isfinite(g)))


def _assert_terms_add_up(g_total, g_a, g_b, atol):
    """Each of two loss terms moves the gradient, and their gradients add up to the total's."""
    assert np.abs(g_a).max() > 0 and np.abs(g_b).max() > 0
    assert not np.allclose(g_total, g_a) and not np.allclose(g_total, g_b)
    np.testing.assert_allclose(g_total, g_a + g_b, rtol=1e-4, atol=atol)


# ----------------------------------------------------------------------------------- IQALoss


def test_iqa_loss_function_equals_class_and_round_trips(metric):
    x, y = _images()
    per_image = np.asarray(L.metric_loss(x, y, metric))
    assert per_image.shape == (2,)
    loss = L.IQALoss(metric)
    assert float(loss(x, y)) == pytest.approx(per_image.mean(), abs=ATOL_SAME)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert isinstance(clone, L.IQALoss) and clone.get_config() == loss.get_config()
    assert float(clone(x, y)) == pytest.approx(per_image.mean(), abs=ATOL_SAME)


def test_iqa_loss_direction_follows_registry(standin_metrics):
    hi, lo = standin_metrics
    x, y = _images()
    score_hi = np.asarray(_standin_score(x, y))
    score_lo = np.asarray(_standin_distance(x, y))
    np.testing.assert_allclose(L.metric_loss(x, y, hi), 1.0 - score_hi, atol=ATOL_CLOSED)
    np.testing.assert_allclose(L.metric_loss(x, y, lo), score_lo, atol=ATOL_CLOSED)


def test_iqa_loss_unknown_metric_raises():
    with pytest.raises(KeyError, match="unknown IQA metric"):
        L.IQALoss("no_such_metric")
    with pytest.raises(ValueError, match="data_range"):
        L.IQALoss("psnr", data_range=0)


def test_iqa_loss_gradient_finite_at_identical_and_zero(metric):
    x, _ = _images()
    for ref, dist in ((x, x.copy()), (np.zeros_like(x), np.zeros_like(x))):
        g = _grad(lambda a, b: L.metric_loss(a, b, metric), ref, dist, wrt=1)
        assert _finite(g)


# ------------------------------------------------------------------------ ACoL eq. (5), (6)


def test_gradient_loss_is_zero_when_jnd_equals_gradient_magnitude():
    x, _ = _images()
    m = np.asarray(L.gradient_magnitude(x)) * 255.0
    assert np.asarray(L.gradient_loss(x, m)) == pytest.approx([0.0, 0.0], abs=ATOL_CLOSED)
    assert np.all(np.asarray(L.gradient_loss(x, np.zeros_like(x))) > 0.1)
    # closed form at one pixel, numpy float64
    mm, nn = m / 255.0, np.full_like(m, 7.0) / 255.0
    expected = (np.log(mm**2 + nn**2 + 1e-3) - np.log(2 * mm * nn + 1e-3)).mean(axis=(1, 2, 3))
    got = np.asarray(L.gradient_loss(x, np.full_like(x, 7.0)))
    np.testing.assert_allclose(got, expected, atol=ATOL_CLOSED)


def test_gradient_loss_function_equals_class_and_round_trips():
    x, _ = _images()
    jnd = np.abs(_images(seed=1)[1] - _images(seed=1)[0])
    for red in ("pixel", "global"):
        per_image = np.asarray(L.gradient_loss(x, jnd, reduction=red, operator="sobel"))
        loss = L.GradientLoss(operator="sobel", pixel_reduction=red)
        assert float(loss(x, jnd)) == pytest.approx(per_image.mean(), abs=ATOL_SAME)
        clone = L.GradientLoss.from_config(loss.get_config())
        assert float(clone(x, jnd)) == pytest.approx(per_image.mean(), abs=ATOL_SAME)


def test_gradient_loss_luma_map_and_validation():
    x, _ = _images()
    assert np.asarray(L.gradient_loss_map(x, np.ones((2, 32, 32, 1)))).shape == (2, 32, 32, 1)
    with pytest.raises(ValueError, match="1 channel or as many"):
        L.gradient_loss(x, np.ones((2, 32, 32, 2)))
    with pytest.raises(ValueError, match="operator"):
        L.GradientLoss(operator="canny")


def test_gradient_loss_gradient_finite_at_zero_and_identity():
    x, _ = _images()
    m = np.asarray(L.gradient_magnitude(x)) * 255.0
    for img, jnd in ((np.zeros_like(x), np.zeros_like(x)), (x, m), (x, np.zeros_like(x))):
        for wrt in (0, 1):
            assert _finite(_grad(lambda a, b: L.gradient_loss(a, b), img, jnd, wrt=wrt))


def test_acol_loss_terms_both_reach_the_gradient(standin_metrics):
    hi, _ = standin_metrics
    x, _ = _images()
    jnd = np.full_like(x, 3.0)
    l1 = L.IQALoss(hi)

    def total(delta, eta):
        return lambda a, j: L.acol_loss(a, j, l1, delta=delta, eta=eta)

    g_both = _grad(total(1.0, 0.1), x, jnd, wrt=1)
    g_l1 = _grad(total(1.0, 0.0), x, jnd, wrt=1)
    g_l2 = _grad(total(0.0, 0.1), x, jnd, wrt=1)
    _assert_terms_add_up(g_both, g_l1, g_l2, atol=1e-9)
    # value = δ·L1 + η·L2 exactly
    value = np.asarray(L.acol_loss(x, jnd, l1, delta=1.0, eta=0.1))
    parts = np.asarray(L.metric_loss(x, x + jnd, hi)) + 0.1 * np.asarray(L.gradient_loss(x, jnd))
    np.testing.assert_allclose(value, parts, atol=ATOL_CLOSED)


def test_acol_loss_class_equals_function_and_round_trips(standin_metrics):
    hi, _ = standin_metrics
    x, _ = _images()
    jnd = np.full((2, 32, 32, 1), 2.0, "float32")
    loss = L.ACoLJNDLoss(l1=hi, delta=1.0, eta=0.1)
    expected = np.asarray(L.acol_loss(x, jnd, L.IQALoss(hi))).mean()
    assert float(loss(x, jnd)) == pytest.approx(expected, abs=ATOL_SAME)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert isinstance(clone.l1, L.IQALoss) and clone.l1.metric == hi
    assert float(clone(x, jnd)) == pytest.approx(expected, abs=ATOL_SAME)
    g = _grad(lambda a, j: loss.call(a, j), np.zeros_like(x), np.zeros_like(jnd), wrt=1)
    assert _finite(g)


# ------------------------------------------------------------------------- DMV eqs. (7)-(15)


def _dmv_inputs(seed=0, n=2, h=8, w=8, k=4, classes=10):
    rng = np.random.default_rng(seed)
    s = rng.dirichlet(np.ones(classes), size=(n, k)).astype("float32")
    s_hat = rng.dirichlet(np.ones(classes), size=(n, k)).astype("float32")
    cam = rng.uniform(0, 1, (n, h, w, 1)).astype("float32")
    e = rng.normal(0, 0.3, (n, h, w, 3)).astype("float32")
    return s, s_hat, cam, e


def test_dmv_terms_closed_form():
    s, s_hat, cam, e = _dmv_inputs()
    labels = s.argmax(-1)
    ce = -np.log(np.take_along_axis(s_hat, labels[..., None], -1)[..., 0]).mean(-1)
    np.testing.assert_allclose(L.dmv_cross_entropy(s, s_hat), ce, rtol=1e-5)
    # list-of-K input gives the same
    np.testing.assert_allclose(
        L.dmv_cross_entropy(list(s.transpose(1, 0, 2)), list(s_hat.transpose(1, 0, 2))),
        ce,
        rtol=1e-5,
    )
    n_t = 1.0 - cam.mean(axis=(1, 2, 3))
    n_0 = np.abs(e).mean(axis=(1, 2, 3))
    mag = np.log(n_t**2 + n_0**2 + 1e-10) - np.log(2 * n_t * n_0 + 1e-10)
    np.testing.assert_allclose(L.dmv_magnitude_loss(cam, e), mag, atol=ATOL_CLOSED)
    c = cam.reshape(2, -1)
    v = np.exp(c) / np.exp(c).sum(1, keepdims=True)
    spatial = (v * np.abs(e).mean(-1).reshape(2, -1)).sum(1)
    np.testing.assert_allclose(L.dmv_spatial_loss(cam[..., 0], e), spatial, atol=ATOL_CLOSED)
    total = L.dmv_loss(s, s_hat, cam, e, alpha=0.5, beta=2.0)
    np.testing.assert_allclose(total, ce + 0.5 * mag + 2.0 * spatial, atol=1e-4)
    # eq. (13) is 0 when the mean |e| hits the target N = 1 − mean(c)
    e_on_target = np.ones_like(e) * n_t[:, None, None, None]
    np.testing.assert_allclose(L.dmv_magnitude_loss(cam, e_on_target), 0.0, atol=ATOL_CLOSED)
    # jnd_unit rescales e: 0..255 pixel units
    np.testing.assert_allclose(
        L.dmv_magnitude_loss(cam, e * 127.5, jnd_unit=127.5), mag, atol=ATOL_CLOSED
    )


def test_dmv_each_term_reaches_the_gradient():
    s, s_hat, cam, e = _dmv_inputs()

    def total(alpha, beta):
        return lambda s_hat_, e_: L.dmv_loss(s, s_hat_, cam, e_, alpha=alpha, beta=beta)

    # Loss1 reaches ŝ; Loss2 and Loss3 reach e, each on its own
    assert np.abs(_grad(total(1.0, 1.0), s_hat, e, wrt=0)).max() > 0
    g_full = _grad(total(1.0, 1.0), s_hat, e, wrt=1)
    g_no_mag = _grad(total(0.0, 1.0), s_hat, e, wrt=1)
    g_no_spatial = _grad(total(1.0, 0.0), s_hat, e, wrt=1)
    _assert_terms_add_up(g_full, g_no_mag, g_no_spatial, atol=1e-8)
    # Loss3 weights |e| by softmax(c): pixels with a larger CAM get a larger gradient
    g3 = np.abs(_grad(lambda e_: L.dmv_spatial_loss(cam, e_), e, wrt=0))
    flat_c, flat_g = cam[0].ravel(), g3[0].mean(-1).ravel()
    assert flat_g[flat_c.argmax()] > flat_g[flat_c.argmin()]


def test_dmv_gradients_finite_at_zero_and_identity():
    s, _, cam, e = _dmv_inputs()
    for cam_, e_ in ((np.zeros_like(cam), np.zeros_like(e)), (np.ones_like(cam), np.zeros_like(e))):
        g = _grad(lambda x, c=cam_: L.dmv_loss(s, s, c, x), e_, wrt=0)
        assert _finite(g)
        g = _grad(lambda p, c=cam_, j=e_: L.dmv_loss(s, p, c, j), s, wrt=0)
        assert _finite(g)
    zeros = np.zeros_like(s)
    assert _finite(_grad(lambda p: L.dmv_cross_entropy(zeros, p), zeros, wrt=0))


def test_dmv_classes_equal_functions_and_round_trip():
    s, s_hat, cam, e = _dmv_inputs()
    combined = L.DMVJNDLoss(alpha=0.7, beta=1.3)
    expected = np.asarray(L.dmv_loss(s, s_hat, cam, e, alpha=0.7, beta=1.3)).mean()
    value = combined({"cam": cam, "probs": s}, {"jnd": e, "probs": s_hat})
    assert float(value) == pytest.approx(expected, abs=ATOL_SAME)
    for cls, fn, args in (
        (L.DMVMagnitudeLoss, L.dmv_magnitude_loss, (cam, e)),
        (L.DMVSpatialLoss, L.dmv_spatial_loss, (cam, e)),
        (L.DMVCrossEntropyLoss, L.dmv_cross_entropy, (s, s_hat)),
    ):
        loss = cls()
        clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
        want = np.asarray(fn(*args)).mean()
        assert float(loss(*args)) == pytest.approx(want, abs=ATOL_SAME)
        assert float(clone(*args)) == pytest.approx(want, abs=ATOL_SAME)
    clone = L.DMVJNDLoss.from_config(combined.get_config())
    assert float(clone({"cam": cam, "probs": s}, {"jnd": e, "probs": s_hat})) == pytest.approx(
        expected, abs=ATOL_SAME
    )
    with pytest.raises(ValueError, match="resize the CAM"):
        L.dmv_magnitude_loss(cam[:, :4], e)


# ------------------------------------------------------------------------------- hmJND eq. (2)


def test_hmjnd_loss_closed_form_class_and_terms():
    rng = np.random.default_rng(3)
    i_rr, i_gt = _images()
    f_r = rng.normal(size=(2, 8, 8, 16)).astype("float32")
    f_pr = rng.normal(size=(2, 8, 8, 16)).astype("float32")
    fea = np.abs(f_r - f_pr).mean(axis=(1, 2, 3))
    pix = (((i_rr - i_gt) / 255.0) ** 2).mean(axis=(1, 2, 3))
    got = L.hmjnd_loss(i_rr, i_gt, f_r, f_pr, lambda_fea=0.3, lambda_pix=2.0)
    np.testing.assert_allclose(got, 0.3 * fea + 2.0 * pix, atol=ATOL_CLOSED)
    loss = L.HmJNDLoss(lambda_fea=0.3, lambda_pix=2.0)
    y_pred = {"image": i_rr, "features_rgb": f_r, "features_prior": f_pr}
    assert float(loss(i_gt, y_pred)) == pytest.approx(np.asarray(got).mean(), abs=ATOL_SAME)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert float(clone(i_gt, y_pred)) == pytest.approx(np.asarray(got).mean(), abs=ATOL_SAME)
    # each term reaches the gradient of the total
    g_feat = _grad(lambda f: L.hmjnd_loss(i_rr, i_gt, f, f_pr), f_r, wrt=0)
    g_pix = _grad(lambda p: L.hmjnd_loss(p, i_gt, f_r, f_pr), i_rr, wrt=0)
    assert np.abs(g_feat).max() > 0 and np.abs(g_pix).max() > 0
    g_pix_only = _grad(lambda f: L.hmjnd_loss(i_rr, i_gt, f, f_pr, lambda_fea=0.0), f_r, wrt=0)
    assert np.abs(g_pix_only).max() == 0
    # finite at identical inputs and at zero
    for a, b in ((i_gt, i_gt), (np.zeros_like(i_gt), np.zeros_like(i_gt))):
        assert _finite(_grad(lambda p, t=b: L.hmjnd_loss(p, t, f_pr, f_pr), a, wrt=0))
        assert _finite(_grad(lambda f, p=a, t=b: L.hmjnd_loss(p, t, f, f_pr), f_pr, wrt=0))
    with pytest.raises(ValueError, match="same shape"):
        L.hmjnd_loss(i_rr, i_gt[:, :16], f_r, f_pr)
