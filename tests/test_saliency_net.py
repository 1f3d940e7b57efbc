"""Compact PoolNet saliency network, its pairs loader, training recipe and numpy-facing prior.

What every registered model must do (output shape, dtype and 0..1 range at 32x32, a gradient
for every trainable weight, ``.keras`` round trip, LiteRT fp32 dynamic-shape parity, JAX = TF)
is checked for both PoolNet presets by tests/test_model_harness.py; this file keeps what is
specific to the saliency network (any size down to 5x7, MAC and parameter counts, its loss,
pairs, the prior and training).

Tolerances (why each is what it is):

- ``ATOL_TFLITE = 1e-4`` (probability units): the converter folds batch norm into the convs and
  reorders float32 sums; measured max diff 1.2e-7 on the untrained tiny net here and 2.5e-6 on
  a poolnet_small trained on the toy pairs.
- ``ATOL_LOSS = 1e-6``: float32 evaluation of closed-form losses (log 2, 0).
- MAC and parameter counts are exact integers / exact sums of layer shapes.

The training tests run on :func:`jndtf.data.saliency_pairs.write_toy_pairs` composites:
pipeline checks, not a saliency model.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import cv2
import numpy as np
import pytest
from model_harness import export_litert_fp32

pytestmark = pytest.mark.tf

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from jndtf.data import saliency_pairs as SP  # noqa: E402
from jndtf.io import ImageError, save_image  # noqa: E402
from jndtf.models.registry import available_models, get_model_spec  # noqa: E402
from jndtf.models.saliency.network import build_poolnet  # noqa: E402
from jndtf.models.saliency.presets import PRESETS, macs_per_pixel  # noqa: E402
from jndtf.models.saliency_prior import SaliencyPrior, working_size  # noqa: E402
from jndtf.train import saliency as TS  # noqa: E402

ATOL_TFLITE = 1e-4
ATOL_LOSS = 1e-6


def _x(h: int, w: int, n: int = 1, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, h, w, 3), dtype=np.float32)


@pytest.fixture(scope="module")
def tiny():
    keras.utils.set_random_seed(1)
    return build_poolnet("poolnet_tiny")


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    return SP.write_toy_pairs(root, count=10, size=(64, 64), seed=0)


# --------------------------------------------------------------------------- network


# 32x32 (and 45x33) are in test_model_harness.py with the same checks
@pytest.mark.parametrize("hw", [(37, 50), (20, 44), (5, 7), (70, 33)])
def test_output_shape_and_range_at_any_size(tiny, hw):
    y = np.asarray(tiny(_x(*hw, n=2)))
    assert y.shape == (2, *hw, 1) and y.dtype == np.float32
    assert np.isfinite(y).all() and y.min() >= 0.0 and y.max() <= 1.0


def test_registry_lists_the_presets():
    assert available_models(family="saliency") == ["poolnet_small", "poolnet_tiny"]
    spec = get_model_spec("poolnet_small")
    assert (spec.family, spec.input_channels, spec.output_channels, spec.priors) == (
        "saliency",
        3,
        1,
        (),
    )
    # the built model's (None, None, None, 3) -> (None, None, None, 1): test_model_harness.py


def test_presets_pairs_and_prior_modules_import_no_keras():
    # the registry, the pairs loader and the prior module are numpy-only until a model loads
    code = (
        "import sys; import jndtf.models.saliency.presets as p; "
        "import jndtf.data.saliency_pairs, jndtf.models.saliency_prior, jndtf.models.saliency; "
        "from jndtf.models.registry import available_models; "
        "assert 'poolnet_tiny' in available_models('saliency'); "
        "bad = [m for m in ('keras', 'tensorflow') if m in sys.modules]; "
        "assert not bad, bad; print(round(p.macs_per_pixel('poolnet_tiny')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "399"


def _count_macs(model, side: int) -> float:
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D | keras.layers.DepthwiseConv2D):
            if layer.name == "ggm_global_conv":  # once per image, not per pixel
                continue
            _, h, w, _ = layer.output.shape
            total += h * w * int(np.prod(layer.kernel.shape))
    return total / side**2


@pytest.mark.parametrize(("preset", "params"), [("poolnet_tiny", 40053), ("poolnet_small", 790969)])
def test_mac_count_matches_the_layers_and_params_are_pinned(preset, params):
    model = build_poolnet(preset, input_shape=(256, 256, 3))
    assert macs_per_pixel(preset) == pytest.approx(_count_macs(model, 256), rel=1e-12)
    assert model.count_params() == params
    # GGM and one FAM per level are there (PoolNet §3.1, §3.2)
    names = {ly.name for ly in model.layers}
    assert {"ggm_global", "ggm_pool4", "ggm_pool2", "ggm_fuse"} <= names
    levels = len(PRESETS[preset]["stages"])
    assert {f"fam{i}_pool{w}" for i in range(1, levels + 1) for w in (2, 4, 8)} <= names
    assert {f"ggf{i}" for i in range(1, levels)} <= names


def test_bad_settings_raise():
    with pytest.raises(KeyError, match="poolnet_small"):
        build_poolnet("poolnet_huge")
    with pytest.raises(ValueError, match="input_shape"):
        build_poolnet("poolnet_tiny", input_shape=(None, None, 6))


def test_tflite_file_as_the_prior_gives_the_keras_map(tiny, tmp_path):
    # LiteRT-vs-Keras parity of the network itself: test_model_harness.py (dynamic H, W)
    pytest.importorskip(
        "ai_edge_litert.interpreter", reason='needs the [edge] extra: pip install "jndtf[edge]"'
    )
    path = tmp_path / "tiny.tflite"
    path.write_bytes(export_litert_fp32(tiny, tmp_path))
    img = (np.random.default_rng(2).random((50, 70, 3)) * 255).astype(np.uint8)
    with SaliencyPrior(path, max_side=None, num_threads=1) as lite:
        np.testing.assert_allclose(
            lite(img), SaliencyPrior(tiny, max_side=None)(img), atol=ATOL_TFLITE, rtol=0
        )


# --------------------------------------------------------------------------- loss and metrics


def test_loss_closed_forms_and_class_equals_function():
    g = np.zeros((2, 4, 4, 1), np.float32)
    g[1, :2] = 1.0
    z0 = np.zeros_like(g)
    # BCE at logit 0 is log 2 for any target; soft IoU at p = 1/2: image 0 (empty mask)
    # 1 - 1/(8 + 1), image 1: 1 - (4 + 1)/(8 + 8 + 1 - 4) ... computed below
    np.testing.assert_allclose(np.asarray(TS.saliency_bce(g, z0)), np.log(2.0), atol=ATOL_LOSS)
    p = 0.5
    inter = np.array([0.0, 8 * p])
    union = np.array([16 * p, 16 * p + 8 - 8 * p])
    want_iou = 1.0 - (inter + TS.IOU_EPS) / (union + TS.IOU_EPS)
    np.testing.assert_allclose(np.asarray(TS.soft_iou_loss(g, z0)), want_iou, atol=ATOL_LOSS)
    loss = TS.SaliencyLoss(iou_weight=0.5)
    np.testing.assert_allclose(
        float(loss(g, z0)), float(np.mean(np.log(2.0) + 0.5 * want_iou)), atol=ATOL_LOSS
    )
    clone = TS.SaliencyLoss.from_config(loss.get_config())
    assert clone.iou_weight == 0.5
    with pytest.raises(ValueError):
        TS.SaliencyLoss(iou_weight=-1.0)


@pytest.mark.parametrize("case", ["identical", "zero"])
def test_loss_gradient_is_finite(case):
    # "identical": confident, correct logits (p -> 1 on the mask); "zero": empty mask, logits 0
    g = np.zeros((1, 8, 8, 1), np.float32)
    if case == "identical":
        g[0, 2:6, 2:6] = 1.0
        z = tf.Variable(np.where(g > 0, 30.0, -30.0).astype(np.float32))
    else:
        z = tf.Variable(np.zeros_like(g))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(TS.saliency_loss(g, z, iou_weight=1.0))
    grad = tape.gradient(loss, z).numpy()
    assert np.isfinite(float(loss)) and np.isfinite(grad).all()


def test_metrics_closed_forms():
    gt = np.zeros((4, 4), np.float32)
    gt[:2] = 1.0
    assert TS.mae(gt, gt) == 0.0
    assert TS.max_f_measure([gt], [gt]) == 1.0
    assert TS.mae(np.full((4, 4), 0.25, np.float32), gt) == pytest.approx(0.5)
    # a constant map: every threshold <= 0.5 marks everything -> P = 1/2, R = 1,
    # F = 1.3 * 0.5 / (0.3 * 0.5 + 1) = 0.65 / 1.15
    const = np.full((4, 4), 0.5, np.float32)
    assert TS.max_f_measure([const], [gt]) == pytest.approx(0.65 / 1.15)
    # soft ground truth is binarized at 0.5 for the metrics
    assert TS.mae(gt, gt * 0.6) == 0.0
    with pytest.raises(ValueError):
        TS.mae(np.full((4, 4), 1.5), gt)
    with pytest.raises(ValueError):
        TS.max_f_measure([gt], [])


# --------------------------------------------------------------------------- pairs


def _pair_dirs(tmp_path, stems_img, stems_mask, size=(20, 24), mask_size=None):
    img_dir, mask_dir = tmp_path / "img", tmp_path / "mask"
    img_dir.mkdir()
    mask_dir.mkdir()
    rgb = np.full((*size, 3), 100, np.uint8)
    for s in stems_img:
        save_image(img_dir / f"{s}.jpg", rgb)
    m = np.zeros(mask_size or size, np.uint8)
    m[: m.shape[0] // 2] = 255
    for s in stems_mask:
        save_image(mask_dir / f"{s}.png", m)
    return img_dir, mask_dir


def test_pairs_match_by_stem_and_name_the_unmatched(tmp_path):
    img, mask = _pair_dirs(tmp_path, ["a", "b", "c"], ["a", "b", "d"])
    with pytest.raises(SP.PairingError, match=r"have no mask: c.*have no photo: d"):
        SP.find_pairs(img, mask)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pairs = SP.find_pairs(img, mask, strict=False)
    assert [p.stem for p in pairs] == ["a", "b"]
    assert any("no mask: c" in str(w.message) for w in caught)
    save_image(img / "a.png", np.zeros((20, 24, 3), np.uint8))  # a.jpg and a.png
    with pytest.raises(SP.PairingError, match=r"a\.jpg, a\.png"):
        SP.find_pairs(img, mask)
    with pytest.raises(FileNotFoundError):
        SP.find_pairs(tmp_path / "nope", mask)


def test_size_mismatch_names_both_files(tmp_path):
    img, mask = _pair_dirs(tmp_path, ["a"], ["a"], size=(20, 24), mask_size=(20, 25))
    pairs = SP.find_pairs(img, mask)
    with pytest.raises(
        SP.SizeMismatchError, match=r"a\.jpg is 20x24 but its mask .*a\.png is 20x25"
    ):
        SP.check_sizes(pairs)
    with pytest.raises(SP.SizeMismatchError):
        SP.load_pair(pairs[0])


def test_read_mask_scaling_rules(tmp_path):
    binary = np.array([[0, 255], [255, 0]], np.uint8)
    labels = np.array([[0, 1], [1, 0]], np.uint8)
    soft = np.array([[0, 64], [191, 255]], np.uint8)
    cv2.imwrite(str(tmp_path / "b.png"), binary)
    cv2.imwrite(str(tmp_path / "l.png"), labels)
    cv2.imwrite(str(tmp_path / "s.png"), soft)
    cv2.imwrite(str(tmp_path / "w.png"), binary.astype(np.uint16) * 257)
    cv2.imwrite(str(tmp_path / "rgb.png"), np.repeat(binary[..., None], 3, axis=2))
    colour = np.zeros((2, 2, 3), np.uint8)
    colour[0, 0] = (0, 0, 255)
    cv2.imwrite(str(tmp_path / "c.png"), colour)
    want = np.array([[0, 1], [1, 0]], np.float32)
    for name in ("b", "l", "w", "rgb"):
        m = SP.read_mask(tmp_path / f"{name}.png")
        assert m.dtype == np.float32
        np.testing.assert_array_equal(m, want, err_msg=name)
    np.testing.assert_allclose(SP.read_mask(tmp_path / "s.png"), soft / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(
        SP.read_mask(tmp_path / "s.png", threshold=0.5), np.array([[0, 0], [1, 1]], np.float32)
    )
    with pytest.raises(ImageError, match="colour mask"):
        SP.read_mask(tmp_path / "c.png")
    with pytest.raises(ValueError):
        SP.read_mask(tmp_path / "b.png", threshold=0.0)


def test_batches_are_seeded_and_small_images_are_enlarged(toy):
    pairs = SP.find_pairs(*toy)
    assert len(pairs) == 11  # 10 composites + coins
    ds = SP.SaliencyPairDataset(pairs, crop_size=80, batch_size=3, seed=4)  # crop > 64 px photos
    x, y = ds.batch(1, 2)
    assert x.shape == (3, 80, 80, 3) and y.shape == (3, 80, 80, 1)
    assert x.dtype == y.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0 and 0.0 <= y.min() and y.max() <= 1.0
    x2, y2 = ds.batch(1, 2)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(ds.batch(1, 3)[0], x)
    train, held = SP.split_pairs(pairs, fraction=0.2, seed=0)
    assert len(held) == 2 and not {p.stem for p in train} & {p.stem for p in held}


# --------------------------------------------------------------------------- the prior


def test_saliency_prior_returns_hxw_float32_in_unit_range(tiny):
    prior = SaliencyPrior(tiny, max_side=40)
    rgb = (np.random.default_rng(0).random((60, 90, 3)) * 255).astype(np.uint8)
    for image in (rgb, rgb.astype(np.float32), rgb[..., 0]):
        s = prior(image)
        assert s.shape == (60, 90) and s.dtype == np.float32
        assert 0.0 <= s.min() and s.max() <= 1.0
    assert working_size(60, 90, 40) == (27, 40)
    assert working_size(30, 20, 40) == (30, 20)
    assert working_size(60, 90, None) == (60, 90)
    scaled = SaliencyPrior(tiny, max_side=40, rescale=True)(rgb)
    assert scaled.max() == pytest.approx(1.0) and scaled.min() == pytest.approx(0.0)
    info = prior.describe()
    assert info["max_side"] == 40 and info["backend"] == "keras"
    with pytest.raises(ImageError):
        prior(rgb * 2.0)
    with pytest.raises(ValueError, match="max_side"):
        SaliencyPrior(tiny, max_side=2)
    with pytest.raises(FileNotFoundError):
        SaliencyPrior("missing.keras")
    wrong = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(3, 1)])
    with pytest.raises(ValueError, match="3 -> 3"):
        SaliencyPrior(wrong)


# --------------------------------------------------------------------------- training


def _tiny_config(toy, out, **kw):
    settings = dict(
        output=str(out / "sal.keras"),
        preset="poolnet_tiny",
        epochs=4,
        steps_per_epoch=4,
        batch_size=4,
        crop_size=48,
        learning_rate=5e-3,
        holdout_fraction=0.2,
        iou_weight=0.5,
        eval_max_side=64,
        command="jndtf train saliency (test)",
    )
    settings.update(kw)
    return TS.SaliencyTrainConfig(str(toy[0]), str(toy[1]), **settings)


def test_tiny_training_run_learns_survives_a_crash_and_writes_model_and_manifest(
    toy, tmp_path, monkeypatch
):
    # One training run (tracing the train step costs ~12 s on 2 CPU cores), killed after its
    # last epoch's checkpoint, before the outputs; resuming restores that state and finishes.
    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    real = TS.evaluate_saliency
    monkeypatch.setattr(TS, "evaluate_saliency", crash)
    cfg = _tiny_config(toy, tmp_path)
    with pytest.raises(KeyboardInterrupt):
        TS.train_saliency(cfg)
    ckpt = tmp_path / "sal.ckpt.npz"
    meta, weights, optimizer_state = TS.read_checkpoint(ckpt)
    assert meta["epoch"] == 4 and optimizer_state
    losses = [h["loss"] for h in meta["history"]]
    assert len(losses) == 4 and all(np.isfinite(losses))
    assert losses[-1] < losses[0], losses
    with pytest.raises(FileExistsError, match="resume"):
        TS.train_saliency(cfg)
    with pytest.raises(ValueError, match="crop_size"):
        TS.train_saliency(_tiny_config(toy, tmp_path, crop_size=32, resume=True))
    monkeypatch.setattr(TS, "evaluate_saliency", real)

    result = TS.train_saliency(_tiny_config(toy, tmp_path, resume=True))
    assert result.resumed_from == 4 and [h["loss"] for h in result.history] == losses
    assert result.model_path.is_file() and not ckpt.exists()
    loaded = keras.saving.load_model(result.model_path)
    for got, want in zip(loaded.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(got, want)
    manifest = json.loads(result.manifest_path.read_text())
    assert manifest["family"] == "saliency" and manifest["preset"] == "poolnet_tiny"
    assert manifest["command"] == "jndtf train saliency (test)"
    assert manifest["params"] == 40053
    assert manifest["macs_per_pixel"] == macs_per_pixel("poolnet_tiny")
    assert manifest["training"]["data"]["pairs"] == 11
    assert sorted(manifest["training"]["data"]["heldout_stems"]) == sorted(result.heldout_stems)
    assert len(manifest["training"]["sessions"]) == 2
    metrics = manifest["metrics"]
    assert 0.0 <= metrics["heldout_mae"] <= 1.0 and 0.0 <= metrics["heldout_max_f"] <= 1.0
    assert metrics["heldout_mae"] == result.heldout_mae and metrics["beta2"] == 0.3
    # the written file loads and serves as the prior, reproducing the recorded metrics
    pairs = [p for p in SP.find_pairs(*toy) if p.stem in result.heldout_stems]
    again = TS.evaluate_saliency(result.model_path, pairs, max_side=64)
    assert again["mae"] == pytest.approx(result.heldout_mae, abs=1e-6)
    s = SaliencyPrior(result.model_path)(SP.load_pair(pairs[0])[0])
    assert s.shape == (64, 64) and s.dtype == np.float32


@pytest.mark.slow
def test_resuming_mid_run_gives_the_uninterrupted_weights(toy, tmp_path, monkeypatch):
    straight = TS.train_saliency(_tiny_config(toy, tmp_path / "a", epochs=2))
    real = TS.write_checkpoint

    def write_then_die(path, meta, *args):
        real(path, meta, *args)
        if meta["epoch"] == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(TS, "write_checkpoint", write_then_die)
    with pytest.raises(KeyboardInterrupt):
        TS.train_saliency(_tiny_config(toy, tmp_path / "b", epochs=2))
    monkeypatch.setattr(TS, "write_checkpoint", real)
    resumed = TS.train_saliency(_tiny_config(toy, tmp_path / "b", epochs=2, resume=True))
    assert resumed.resumed_from == 1
    a = keras.saving.load_model(straight.model_path).get_weights()
    b = keras.saving.load_model(resumed.model_path).get_weights()
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, atol=1e-5, rtol=1e-4)


def test_config_validation():
    with pytest.raises(ValueError, match="saliency model"):
        TS.SaliencyTrainConfig("a", "b", preset="acol")
    with pytest.raises(ValueError, match="crop_size"):
        TS.SaliencyTrainConfig("a", "b", crop_size=8)
    with pytest.raises(ValueError, match=r"\.keras"):
        TS.SaliencyTrainConfig("a", "b", output="x.h5")
    with pytest.raises(ValueError, match="masks_dir"):
        TS.SaliencyTrainConfig("a", " ")
    with pytest.raises(ValueError, match="learning_rate"):
        TS.SaliencyTrainConfig("a", "b", learning_rate=0.0)
