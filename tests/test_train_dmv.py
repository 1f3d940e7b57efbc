"""train_dmv (``jndtf train dmv``): eq. (7) decreases, the validation RCA and PSNR in the
manifest match a recomputation from the saved files (OpenCV's PSNR), the merged-CAM cache is
eq. (2) with each classifier's own label, exact resume, a missing classifier is named, --help.

The classifiers are the four ``*_tiny`` presets, seeded and untrained, saved as a ``jndtf train
classifiers`` run folder would hold them: DMV-JND-NET only needs their labels and CAMs, and the
label agreement RCA measures is defined for any classifier. The images are the four pattern
classes of ``test_train_classifiers``.
"""

from __future__ import annotations

import dataclasses
import json
import shutil

import cv2
import numpy as np
import pytest
from test_train_classifiers import patterns, write_tree
from typer.testing import CliRunner

pytestmark = pytest.mark.tf
keras = pytest.importorskip("keras")

from jndtf.cli import app  # noqa: E402
from jndtf.models.classifiers import build_cam_classifier, cam  # noqa: E402
from jndtf.train._state import TrainingInterrupted  # noqa: E402
from jndtf.train.classifiers import prepare_data  # noqa: E402
from jndtf.train.dmv import CLASSIFIER_ARCHS, DmvTrainConfig, train_dmv  # noqa: E402


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return write_tree(tmp_path_factory.mktemp("dmv_patterns") / "train", *patterns(30, seed=1))


@pytest.fixture(scope="module")
def classifiers(tmp_path_factory):
    folder = tmp_path_factory.mktemp("classifiers")
    for n, arch in enumerate(CLASSIFIER_ARCHS):
        keras.utils.set_random_seed(n)
        build_cam_classifier(f"{arch}_tiny").save(folder / f"{arch}.keras")
    return folder


def config(tree, classifiers, out, **kw) -> DmvTrainConfig:
    settings = dict(
        data_dir=str(tree),
        classifiers_dir=str(classifiers),
        output_dir=str(out),
        preset="dmv_tiny",
        epochs=2,
        batch_size=20,
        learning_rate=1e-3,  # the paper's 1e-5 barely moves in the few steps a test can afford
        val_size=40,
        tensorboard=False,
        command="test",
    )
    settings.update(kw)
    return DmvTrainConfig(**settings)


@pytest.mark.slow  # three training sessions of four classifiers + E-D, ~40 s on 2 busy cores
def test_loss_decreases_manifest_recomputes_and_resume_is_exact(tree, classifiers, tmp_path):
    out = tmp_path / "straight"
    result = train_dmv(config(tree, classifiers, out))
    h = result.history
    assert h[-1]["loss"] < h[0]["loss"] and h[-1]["val_loss"] < h[0]["val_loss"], h
    manifest = json.loads((out / "dmv.json").read_text())
    assert not (out / "dmv.ckpt.npz").exists()
    assert manifest["training"]["history"][-1]["val_rca"] == result.val_rca

    # the merged CAM cache: eq. (2), each classifier's CAM for its own label on x
    data = prepare_data(tree, max_images=None, val_size=40, seed=0)
    models = [keras.saving.load_model(classifiers / f"{a}.keras") for a in CLASSIFIER_ARCHS]
    with np.load(out / "cam_cache.npz") as z:
        cams, labels = z["cams"], z["labels"]
    assert cams.shape == (120, 32, 32) and 0.0 <= cams.min() and cams.max() <= 1.0
    x = data.images[:8].astype(np.float32) / 255.0
    own = [np.argmax(np.asarray(m(x, training=False)), -1) for m in models]
    np.testing.assert_array_equal(labels[:8], np.stack(own, 1))
    expected = np.mean([cam(m, x, lab) for m, lab in zip(models, own, strict=True)], axis=0)
    np.testing.assert_allclose(cams[:8], expected, atol=1e-6)  # float32 sum order only

    # validation RCA (eq. (16)) and PSNR from the saved E-D, on the rounded x̂
    net = keras.saving.load_model(out / "dmv.keras")
    xv, cv = data.images[data.val_idx], cams[data.val_idx]
    e = np.asarray(net(np.concatenate([xv / 255.0, cv[..., None]], -1).astype(np.float32)))
    x_hat = np.round(np.clip(xv + e, 0, 255)).astype(np.uint8)
    last = manifest["metrics"]
    for n, arch in enumerate(CLASSIFIER_ARCHS):
        before = labels[data.val_idx, n]
        after = np.argmax(np.asarray(models[n](x_hat / 255.0, training=False)), -1)
        # eager vs traced forward passes may round one pixel of x̂ differently: one image
        assert abs(np.mean(before == after) - last["val_rca"][arch]) <= 1 / 40, arch
    psnr = np.mean([cv2.PSNR(a, b) for a, b in zip(xv, x_hat, strict=True)])
    assert last["val_psnr"] == pytest.approx(psnr, abs=0.05)  # same rounding caveat

    # resume after the first epoch ends with the uninterrupted run's weights, bit for bit
    def ctrl_c(p):
        if p.phase == "epoch" and p.epoch == 1:
            raise KeyboardInterrupt

    resumed = tmp_path / "resumed"
    with pytest.raises(TrainingInterrupted, match=r"dmv\.ckpt\.npz"):
        train_dmv(config(tree, classifiers, resumed), ctrl_c)
    with pytest.raises(FileExistsError, match="--resume"):
        train_dmv(config(tree, classifiers, resumed))
    again = train_dmv(config(tree, classifiers, resumed, resume=True))
    assert again.resumed_from == 1
    with np.load(resumed / "cam_cache.npz") as z:
        np.testing.assert_array_equal(z["cams"], cams)
    b = keras.saving.load_model(resumed / "dmv.keras")
    for va, vb in zip(net.weights, b.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(va), np.asarray(vb), err_msg=va.path)
    assert [r["loss"] for r in again.history] == [r["loss"] for r in h]


def test_short_run_lowers_the_loss_and_writes_model_and_manifest(tree, classifiers, tmp_path):
    cfg = config(tree, classifiers, tmp_path, epochs=3, max_images=80, val_size=20)
    result = train_dmv(dataclasses.replace(cfg, tensorboard=True))
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    manifest = json.loads((tmp_path / "dmv.json").read_text())
    assert manifest["family"] == "dmv" and manifest["inputs"]["modalities"] == ["rgb", "cam"]
    assert set(manifest["classifiers"]) == {"folder", *CLASSIFIER_ARCHS}
    assert manifest["training"]["optimizer"]["weight_decay"] == 1e-3
    assert manifest["training"]["data"]["val_images"] == 20
    record = manifest["training"]["history"][0]
    for key in ("loss", "l1", "l2", "l3", "val_mean_rca", "val_psnr", "seconds"):
        assert np.isfinite(record[key]), key
    assert result.val_mean_rca == pytest.approx(np.mean(list(result.val_rca.values())))
    # TensorBoard scalars: read back with TensorFlow's own event-file reader
    tf = pytest.importorskip("tensorflow")
    pytest.importorskip("tensorboard")
    scalars = {}
    for events in (tmp_path / "logs").glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(events)):
            for v in event.summary.value:
                scalars[(v.tag, event.step)] = float(tf.make_ndarray(v.tensor))
    for r in result.history:
        # float32 in the event file
        assert scalars[("loss", r["epoch"])] == pytest.approx(r["loss"], rel=1e-6)
        assert scalars[("val_mean_rca", r["epoch"])] == pytest.approx(r["val_mean_rca"])


def test_train_images_subsets_training_only(tree, classifiers, tmp_path):
    cfg = config(tree, classifiers, tmp_path, epochs=1, max_images=60, val_size=20)
    train_dmv(dataclasses.replace(cfg, train_images=20))
    data = json.loads((tmp_path / "dmv.json").read_text())["training"]["data"]
    assert data["train_images_used"] == 20 and data["val_images"] == 20
    # the validation split is the one the full run (and the classifiers' run) uses
    from jndtf.train.classifiers.data import prepare_data

    full = prepare_data(str(tree), max_images=60, val_size=20, seed=0)
    assert data["val_indices_sha256"] == full.record["val_indices_sha256"]
    with pytest.raises(ValueError, match="--train-images"):
        config(tree, classifiers, tmp_path, train_images=3)


def test_missing_classifier_is_named(tree, classifiers, tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(classifiers, partial)
    (partial / "vgg.keras").unlink()
    with pytest.raises(FileNotFoundError, match=r"vgg\.keras") as info:
        train_dmv(config(tree, partial, tmp_path / "out"))
    assert "alexnet.keras" not in str(info.value)  # only the missing one
    r = CliRunner().invoke(
        app,
        ["train", "dmv", "--data", str(tree), "--classifiers", str(partial), "-o", str(tmp_path)],
    )
    assert r.exit_code != 0 and "vgg.keras" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "dmv.keras").exists()


def test_cli_help():
    r = CliRunner().invoke(app, ["train", "dmv", "--help"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    for text in ("--data", "--classifiers", "--lr", "--weight-decay", "--alpha", "--resume"):
        assert text in r.output, text
