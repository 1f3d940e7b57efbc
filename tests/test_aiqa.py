"""A-IQA: the distortion-group classifier, its loss and its training recipe.

The classifier's output shape (None, 5) and dtype at 32x32 and 45x33, a gradient for every
trainable weight, config and exact ``.keras`` round trips (both presets), LiteRT fp32 parity and
JAX = TF (aiqa_resnet_tiny) are in tests/test_model_harness.py.

Tolerances: ``ATOL_SAME = 1e-6`` for the same float32 graph evaluated twice (function vs Loss
class, config round trip, save/load); routing tests compare against the metrics evaluated
directly, with the same tolerance.
"""

from __future__ import annotations

import importlib.machinery
import json
import sys
import types

import numpy as np
import pytest

pytestmark = pytest.mark.tf

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from jndtf import iqa  # noqa: E402
from jndtf.data import distortions as D  # noqa: E402
from jndtf.models.aiqa import loss as aiqa_mod  # noqa: E402
from jndtf.models.aiqa.network import DistortionFeatures, build_classifier  # noqa: E402
from jndtf.train import aiqa as train_mod  # noqa: E402

ATOL_SAME = 1e-6
GROUPS = list(D.DEFAULT_GROUPS)


def _mse_score(x, y, data_range=255.0):
    from keras import ops

    d = (ops.cast(x, "float32") - ops.cast(y, "float32")) / data_range
    return 1.0 - ops.mean(d * d, axis=(1, 2, 3))


def _mae(x, y, data_range=255.0):
    from keras import ops

    d = (ops.cast(x, "float32") - ops.cast(y, "float32")) / data_range
    return ops.mean(ops.abs(d), axis=(1, 2, 3))


@pytest.fixture
def metric_names(monkeypatch):
    """Three differentiable metrics: SSIM, GMSD and PSNR once they exist, stand-ins before."""
    have = set(iqa.available())
    if {"ssim", "gmsd", "psnr"} <= have:
        return ["ssim", "gmsd", "psnr"]
    mod = types.ModuleType("_jndtf_test_aiqa_metrics")
    mod.__spec__ = importlib.machinery.ModuleSpec(mod.__name__, None)
    mod.mse_score, mod.mae = _mse_score, _mae
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    for name, fn, hi in (("t_hi", "mse_score", True), ("t_lo", "mae", False)):
        monkeypatch.setitem(iqa._METRICS, name, iqa.MetricInfo(name, mod.__name__, fn, hi, "stub"))
    return ["t_hi", "t_lo", "t_hi"]


def _table(names):
    """A 5-group table with a different weighting per group, so groups give different losses."""
    return {
        g: [(names[0], 0.2 * (i + 1)), (names[1], 1.0), (names[2], 0.01 * (i + 1))]
        for i, g in enumerate(GROUPS)
    }


def _tiny_classifier():
    keras.utils.set_random_seed(1)
    return build_classifier(
        None,
        stem_filters=4,
        stage_filters=(4, 8),
        blocks_per_stage=1,
        residual_gain=8.0,
        num_groups=5,
    )


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(0)
    ref = rng.uniform(20, 235, (4, 32, 32, 3)).astype("float32")
    ref = np.asarray(tf.nn.avg_pool2d(ref, 3, 1, "SAME"))  # some spatial structure
    dist = np.clip(ref + rng.normal(0, 8, ref.shape), 0, 255).astype("float32")
    return ref, dist


@pytest.fixture(scope="module")
def saved_classifier(tmp_path_factory):
    path = tmp_path_factory.mktemp("clf") / "tiny.keras"
    _tiny_classifier().save(path)
    return path


# -------------------------------------------------------------------------------- network


def test_distortion_features_closed_form_and_config():
    layer = DistortionFeatures(residual_gain=4.0)
    ref = np.full((1, 16, 16, 3), 100.0, "float32")
    dist = ref + 5.0
    out = np.asarray(layer([ref, dist]))
    np.testing.assert_allclose(out[..., :3], 105.0 / 255.0, rtol=1e-6)
    np.testing.assert_allclose(out[..., 3:], 4.0 * 5.0 / 255.0, rtol=1e-5)
    clone = DistortionFeatures.from_config(layer.get_config())
    assert clone.residual_gain == 4.0 and clone.data_range == 255.0
    with pytest.raises(ValueError, match="same channels"):
        DistortionFeatures()([ref, dist[..., :1]])


def test_classifier_size_and_presets():
    # output shape, any size >= 16 (global pooling) and the exact save/load: test_model_harness.py
    model = build_classifier("aiqa_resnet_tiny")
    assert model.output_shape == (None, len(GROUPS))
    assert model.count_params() < 200_000
    with pytest.raises(KeyError, match="unknown A-IQA preset"):
        build_classifier("huge")


# ----------------------------------------------------------------------------------- loss


def _direct(table, ref, dist):
    """Per-group, per-image losses straight from the registry: (N, G)."""
    cols = []
    for g in GROUPS:
        total = 0.0
        for name, w in table[g]:
            s = np.asarray(iqa.get(name)(ref, dist, data_range=255.0))
            total = total + w * (1.0 - s if iqa.info(name).higher_is_better else s)
        cols.append(total)
    return np.stack(cols, -1)


def test_routing_picks_the_argmax_group(pair, metric_names):
    ref, dist = pair
    clf = _tiny_classifier()
    table = _table(metric_names)
    direct = _direct(table, ref, dist)
    probs = np.asarray(tf.nn.softmax(clf({"reference": ref, "distorted": dist})))
    g_batch = int(probs.mean(0).argmax())
    g_each = probs.argmax(-1)
    got = np.asarray(aiqa_mod.aiqa_loss(ref, dist, clf, group_metrics=table))
    np.testing.assert_allclose(got, direct[:, g_batch], atol=ATOL_SAME, rtol=1e-5)
    got = np.asarray(aiqa_mod.aiqa_loss(ref, dist, clf, group_metrics=table, routing="sample"))
    np.testing.assert_allclose(got, direct[np.arange(4), g_each], atol=ATOL_SAME, rtol=1e-5)
    assert int(aiqa_mod.route(clf, ref, dist)) == g_batch
    # data_range: the same images in 0..1 route the same way and give the same losses
    got01 = np.asarray(
        aiqa_mod.aiqa_loss(ref / 255, dist / 255, clf, group_metrics=table, data_range=1.0)
    )
    np.testing.assert_allclose(got01, direct[:, g_batch], rtol=1e-4, atol=1e-5)


def test_aiqa_gradient_finite_nonzero_and_route_constant(pair, metric_names, saved_classifier):
    ref, dist = pair
    loss = aiqa_mod.AIQALoss(saved_classifier, group_metrics=_table(metric_names))
    x_o = tf.constant(ref)
    for start in (dist, ref + 3.0):
        x_d = tf.Variable(start)
        with tf.GradientTape() as tape:
            value = loss(x_o, x_d)
        g = tape.gradient(value, x_d).numpy()
        assert np.all(np.isfinite(g)) and np.abs(g).max() > 0
    # identical images and all-zero images (PSNR, infinite there, left out of this table)
    safe = aiqa_mod.AIQALoss(saved_classifier, group_metrics=_table(metric_names[:2] * 2))
    for a, b in ((ref, ref), (np.zeros_like(ref), np.zeros_like(ref))):
        x_d = tf.Variable(b)
        with tf.GradientTape() as tape:
            value = safe(tf.constant(a), x_d)
        assert np.all(np.isfinite(tape.gradient(value, x_d).numpy()))
    # the classifier is frozen: no trainable weights reach the loss
    assert not loss.classifier.trainable_weights
    # routing is a constant: the gradient equals that of the routed group's metrics alone
    g_idx = int(aiqa_mod.route(loss.classifier, ref, dist))
    single = {g: _table(metric_names)[GROUPS[g_idx]] for g in GROUPS}
    x_d = tf.Variable(dist)
    with tf.GradientTape(persistent=True) as tape:
        a = loss(x_o, x_d)
        b = tf.reduce_mean(aiqa_mod.aiqa_loss(x_o, x_d, loss.classifier, group_metrics=single))
    np.testing.assert_allclose(
        tape.gradient(a, x_d).numpy(), tape.gradient(b, x_d).numpy(), rtol=1e-5, atol=1e-9
    )


def test_aiqa_class_equals_function_and_round_trips(pair, metric_names, saved_classifier):
    ref, dist = pair
    table = _table(metric_names)
    loss = aiqa_mod.AIQALoss(str(saved_classifier), group_metrics=table, routing="sample")
    clf = aiqa_mod.load_classifier(saved_classifier)
    want = np.asarray(aiqa_mod.aiqa_loss(ref, dist, clf, group_metrics=table, routing="sample"))
    assert float(loss(ref, dist)) == pytest.approx(want.mean(), abs=ATOL_SAME)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert isinstance(clone, aiqa_mod.AIQALoss) and clone.routing == "sample"
    assert float(clone(ref, dist)) == pytest.approx(want.mean(), abs=ATOL_SAME)
    in_memory = aiqa_mod.AIQALoss(clf, group_metrics=table)
    with pytest.raises(ValueError, match="cannot be serialized"):
        in_memory.get_config()


def test_aiqa_validation(tmp_path, saved_classifier, metric_names):
    table = _table(metric_names)
    with pytest.raises(ValueError, match="routing"):
        aiqa_mod.AIQALoss(saved_classifier, group_metrics=table, routing="vote")
    with pytest.raises(KeyError):
        aiqa_mod.AIQALoss(saved_classifier, group_metrics={"a": ["nope"], "b": ["nope"]})
    with pytest.raises(FileNotFoundError, match="jndtf train aiqa"):
        aiqa_mod.load_classifier(tmp_path / "missing.keras")
    four = dict(list(table.items())[:4])
    with pytest.raises(ValueError, match="5 outputs"):
        aiqa_mod.AIQALoss(saved_classifier, group_metrics=four)(
            np.zeros((1, 16, 16, 3)), np.zeros((1, 16, 16, 3))
        )
    # a manifest naming other groups is refused
    path = tmp_path / "named.keras"
    _tiny_classifier().save(path)
    path.with_suffix(".json").write_text(json.dumps({"group_order": list("abcde")}))
    with pytest.raises(ValueError, match="trained on groups"):
        aiqa_mod.AIQALoss(path, group_metrics=table)


def test_shipped_classifier_loads_and_matches_the_default_groups():
    path = aiqa_mod.default_classifier_path()
    if not path.is_file():
        pytest.skip("shipped A-IQA weights not present")
    clf = aiqa_mod.load_classifier()
    assert clf.output_shape == (None, len(D.DEFAULT_GROUPS))
    manifest = json.loads(aiqa_mod.manifest_path(path).read_text())
    assert manifest["group_order"] == list(D.DEFAULT_GROUPS)
    assert manifest["group_order"] == list(aiqa_mod.DEFAULT_GROUP_METRICS)
    assert 0.0 <= manifest["metrics"]["heldout_accuracy"] <= 1.0


# ------------------------------------------------------------------------------- training


def test_split_is_by_source_image():
    names = [f"img{i}" for i in range(8)]
    train, held = train_mod.split_images(names, fraction=0.25, seed=3)
    assert len(held) == 2 and not set(train) & set(held) and set(train) | set(held) == set(names)
    assert train_mod.split_images(names, fraction=0.25, seed=3) == (train, held)
    assert train_mod.split_images(names, holdout=["img5"])[1] == ("img5",)
    with pytest.raises(ValueError, match="not in the folder"):
        train_mod.split_images(names, holdout=["other"])


def test_config_validation():
    with pytest.raises(ValueError, match="epochs"):
        train_mod.AIQATrainConfig(data_dir="x", epochs=0)
    with pytest.raises(ValueError, match="crop_size"):
        train_mod.AIQATrainConfig(data_dir="x", crop_size=8)
    with pytest.raises(ValueError, match=r"\.keras"):
        train_mod.AIQATrainConfig(data_dir="x", output="model.h5")
    with pytest.raises(ValueError, match="missing types"):
        train_mod.AIQATrainConfig(data_dir="x", groups={"a": D.NAMES[:3], "b": D.NAMES[3:5]})


def test_tiny_training_run_writes_a_loadable_model_and_manifest(tmp_path, monkeypatch):
    from jndtf.io import save_image
    from jndtf.models.aiqa import presets

    tiny = {
        "stem_filters": 4,
        "stage_filters": (4,),
        "blocks_per_stage": 1,
        "residual_gain": 8.0,
        "num_groups": 5,
    }
    monkeypatch.setattr(presets, "PRESETS", {**presets.PRESETS, "test_tiny": tiny})
    rng = np.random.default_rng(0)
    data = tmp_path / "photos"
    for i in range(3):
        img = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
        save_image(
            data / f"p{i}.png", np.asarray(tf.nn.avg_pool2d(img[None] * 1.0, 3, 1, "SAME"))[0]
        )
    out = tmp_path / "out" / "clf.keras"
    cfg = train_mod.AIQATrainConfig(
        data_dir=str(data),
        output=str(out),
        preset="test_tiny",
        epochs=1,
        steps_per_epoch=2,
        batch_size=4,
        crop_size=32,
        val_per_type=1,
        command="pytest",
        verbose=0,
    )
    result = train_mod.train_aiqa(cfg)
    assert result.model_path == out and out.is_file()
    assert not out.with_name("clf.ckpt.keras").exists()
    assert len(result.heldout_images) == 1 and result.heldout_images[0] not in result.train_images
    model = aiqa_mod.load_classifier(out)
    assert model.output_shape == (None, 5)
    manifest = json.loads(out.with_suffix(".json").read_text())
    assert manifest["command"] == "pytest" and manifest["family"] == "aiqa"
    assert manifest["group_order"] == GROUPS
    assert manifest["metrics"]["heldout_patches"] == 17
    assert manifest["metrics"]["heldout_accuracy"] == pytest.approx(result.heldout_accuracy)
    assert manifest["training"]["heldout_images"] == list(result.heldout_images)
    import hashlib

    assert manifest["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()


def test_default_aiqa_and_acol_losses_end_to_end():
    """The shipped classifier with the default metric table, as L1 of ACoL-JND eq. (6)."""
    if not aiqa_mod.default_classifier_path().is_file():
        pytest.skip("shipped A-IQA weights not present")
    needed = {m for ms in aiqa_mod.DEFAULT_GROUP_METRICS.values() for m, _ in ms}
    if not needed <= set(iqa.available()):
        pytest.skip(f"metrics not implemented yet: {sorted(needed - set(iqa.available()))}")
    from jndtf.losses import ACoLJNDLoss
    from jndtf.samples import sample_image

    img = sample_image("astronaut")[:352:2, :352:2].astype("float32")[None]  # 176 x 176
    x_o = tf.constant(img)
    jnd = tf.Variable(np.full(img.shape, 2.0, "float32"))
    loss = ACoLJNDLoss()  # l1 = "aiqa": shipped classifier + DEFAULT_GROUP_METRICS
    with tf.GradientTape() as tape:
        value = loss(x_o, jnd)
    g = tape.gradient(value, jnd).numpy()
    assert np.isfinite(float(value)) and np.all(np.isfinite(g)) and np.abs(g).max() > 0
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert clone.l1.classifier_path is None
    assert float(clone(x_o, jnd)) == pytest.approx(float(value), abs=ATOL_SAME)
    # a JPEG-compressed copy is routed to the compression group
    jpeg = D.distort(img[0].astype(np.uint8), "jpeg", 4, seed=0).astype("float32")[None]
    assert GROUPS[int(aiqa_mod.route(loss.l1.classifier, img, jpeg))] == "compression"
