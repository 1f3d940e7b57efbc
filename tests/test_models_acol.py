"""ACoL-JND network (jndtf.models.acol) and the model registry.

What every registered model must do (output shape, dtype and 0..255 range, a gradient for every
trainable weight, ``.keras`` and config round trips for all four presets; LiteRT fp32
dynamic-shape parity and JAX = TF on bl_acol, which holds every ACoL layer class) is checked by
tests/test_model_harness.py; this file keeps what is specific to ACoL-JND, including the
shared-branch variant (``share_branches=True``, not a registered preset).

Tolerances (why each is what it is):

- ``ATOL_SAME = 0``: the same Keras graph on the same weights (save/load, layer vs function) is
  bit-identical on one machine.
- MAC and parameter counts are exact integers from Table 1.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.tf

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from jndtf.models.acol import layers as L  # noqa: E402
from jndtf.models.acol.network import build_acol, with_distorted_output  # noqa: E402
from jndtf.models.acol.presets import PRESETS, macs_per_pixel  # noqa: E402
from jndtf.models.registry import (  # noqa: E402
    available_models,
    get_model_spec,
    register_model,
)

ATOL_SAME = 0.0


def _x(h: int, w: int, c: int = 6, n: int = 1, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, h, w, c), dtype=np.float32)


@pytest.fixture(scope="module")
def tiny():
    keras.utils.set_random_seed(1)
    return build_acol("acol", width="tiny")


# --------------------------------------------------------------------------- shapes and counts


@pytest.mark.parametrize("hw", [(32, 32), (37, 50), (20, 44), (5, 7)])
def test_output_shape_any_size_including_non_multiples_of_4(tiny, hw):
    y = np.asarray(tiny(_x(*hw, n=2)))
    assert y.shape == (2, *hw, 3)
    assert np.isfinite(y).all() and y.min() >= 0.0 and y.max() <= 255.0


@pytest.mark.parametrize("preset", list(PRESETS))
def test_each_preset_builds_and_runs(preset):
    spec = get_model_spec(preset)
    model = spec.build(width="tiny")
    assert model.input_shape == (None, None, None, spec.input_channels)
    assert model.output_shape == (None, None, None, 3)
    y = np.asarray(model(_x(24, 28, c=spec.input_channels)))
    assert y.shape == (1, 24, 28, 3) and y.min() >= 0.0
    convs = [ly for ly in model.layers if isinstance(ly, keras.layers.Conv2D)]
    complementary = PRESETS[preset]["complementary"]
    assert len(convs) == (4 + 6 + 6 + 3 if complementary else 4 + 6 + 3)
    assert (model.get_layer("erase") is not None) if complementary else True
    leaky = [ly for ly in model.layers if isinstance(ly, keras.layers.LeakyReLU)]
    assert len(leaky) == len(convs)  # an LReLU after every conv (§3.1)


def test_mac_and_parameter_counts_follow_table1():
    # Table 1 under notes/acol-table1.md: CNN1 9*(6*8 + 8*16 + 16*16 + 16*32) = 8496;
    # branch 9*(32*32 + 32*64/4 + 64*128/4 + 128*64/16 + 64*32/16 + 32*32/16) = 38592 (x2);
    # CNN4 9*(64*32 + 32*16 + 16*3)/16 = 1467.
    assert macs_per_pixel("acol") == 8496 + 2 * 38592 + 1467 == 87147
    assert macs_per_pixel("bl_pmcm") == 8496 + 38592 + 9 * (32 * 32 + 32 * 16 + 16 * 3) / 16
    model = build_acol("acol")
    weights = 9 * (6 * 8 + 8 * 16 + 16 * 16 + 16 * 32) + (8 + 16 + 16 + 32)
    weights += 2 * (9 * (32 * 32 + 32 * 64 + 64 * 128 + 128 * 64 + 64 * 32 + 32 * 32) + 352)
    weights += 9 * (64 * 32 + 32 * 16 + 16 * 3) + (32 + 16 + 3)
    assert model.count_params() == weights == 438299


def test_shared_branches_reuse_branch_a():
    model = build_acol("acol", width="tiny", share_branches=True)
    names = [ly.name for ly in model.layers]
    assert not any(n.startswith("branch_b") for n in names)
    separate = build_acol("acol", width="tiny")
    branch = sum(int(np.prod(w.shape)) for w in separate.weights if "branch_b" in w.path)
    assert model.count_params() == separate.count_params() - branch
    assert np.asarray(model(_x(16, 16))).shape == (1, 16, 16, 3)


# --------------------------------------------------------------------------- §3.4 and layers


def test_threshold_and_erase_on_a_hand_made_tensor():
    # Two images, two channels. Image 0 channel 0: values 0..5 (mean 2.5) -> 3, 4, 5 masked;
    # channel 1 constant -> nothing above its mean. Image 1 channel 0 has its own mean (0.25).
    i4 = np.zeros((2, 2, 3, 2), np.float32)
    i4[0, ..., 0] = np.arange(6).reshape(2, 3)
    i4[0, ..., 1] = 7.0
    i4[1, ..., 0] = [[0, 0, 1], [0, 0, 0.5]]
    i4[1, ..., 1] = [[-1, 2, -1], [-1, -1, -1]]
    mask = np.asarray(L.mean_threshold_mask(i4))
    expected = np.zeros_like(i4)
    expected[0, ..., 0] = [[0, 0, 0], [1, 1, 1]]
    expected[1, ..., 0] = [[0, 0, 1], [0, 0, 1]]
    expected[1, ..., 1] = [[0, 1, 0], [0, 0, 0]]
    np.testing.assert_array_equal(mask, expected)
    np.testing.assert_array_equal(np.asarray(L.MeanThresholdMask()(i4)), expected)

    i2 = np.full_like(i4, 3.0)
    i6 = np.asarray(L.Erase()([i2, mask]))
    np.testing.assert_array_equal(i6, np.where(expected == 1, 0.0, 3.0))

    # Gradient: i2 gets (1 - mask); the mask's input gets none (step + stop_gradient).
    a, b = tf.Variable(i2), tf.Variable(i4)
    with tf.GradientTape(persistent=True) as tape:
        out = tf.reduce_sum(L.erase(a, L.mean_threshold_mask(b)))
    np.testing.assert_array_equal(tape.gradient(out, a).numpy(), 1.0 - expected)
    gb = tape.gradient(out, b)
    assert gb is None or not np.any(gb.numpy())


def test_resize_like_matches_tf_bilinear_and_keeps_constants():
    x = _x(5, 7, c=3)
    ref = np.zeros((1, 19, 26, 1), np.float32)
    y = np.asarray(L.ResizeLike()([x, ref]))
    np.testing.assert_array_equal(y, tf.image.resize(x, (19, 26), method="bilinear").numpy())
    const = np.asarray(L.resize_like(np.full((1, 3, 4, 2), 2.5, np.float32), ref))
    np.testing.assert_allclose(const, 2.5, atol=1e-6)


def test_jnd_output_closed_form():
    x = np.array([-0.01, 0.02, 2.0], np.float32).reshape(1, 1, 3, 1)
    np.testing.assert_allclose(np.asarray(L.JndOutput()(x)).ravel(), [2.55, 5.1, 255.0], rtol=1e-6)
    np.testing.assert_allclose(
        np.asarray(L.jnd_output(x, "relu", 255.0, None)).ravel(), [0.0, 5.1, 510.0], rtol=1e-6
    )


@pytest.mark.parametrize(
    ("layer", "shape", "match"),
    [
        (L.ResizeLike(), [(1, 4, 4, 2)], r"\[x, ref\]"),
        (L.ResizeLike(), [(1, 4, 4, 2), (1, 8, 8)], r"\(1, 8, 8\)"),
        (L.MeanThresholdMask(), (1, 4, 4), r"\(1, 4, 4\)"),
        (L.Erase(), [(1, 4, 4, 8), (1, 4, 4, 3)], r"\(1, 4, 4, 3\)"),
        (L.Erase(), [(1, 4, 4, 8), (1, 4, 5, 8)], "width"),
        (L.InjectJnd(), [(1, 4, 4, 2), (1, 4, 4, 3)], r"\(1, 4, 4, 2\)"),
        (L.JndOutput(), (4, 4), r"\(4, 4\)"),
    ],
)
def test_build_rejects_bad_shapes_and_names_them(layer, shape, match):
    with pytest.raises(ValueError, match=match):
        layer.build(shape)


@pytest.mark.parametrize(
    "layer",
    [
        L.ResizeLike(interpolation="nearest", name="r"),
        L.MeanThresholdMask(name="t"),
        L.Erase(name="e"),
        L.JndOutput(activation="relu", scale=2.0, max_value=None, name="j"),
        L.InjectJnd(data_range=1.0, name="i"),
    ],
)
def test_layer_config_round_trip(layer):
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


def test_bad_settings_raise():
    with pytest.raises(ValueError):
        L.JndOutput(activation="sigmoid")
    with pytest.raises(ValueError):
        L.ResizeLike(interpolation="bicubic")
    with pytest.raises(ValueError):
        build_acol("acol", width=0)
    with pytest.raises(ValueError):
        build_acol("acol", width="huge")
    with pytest.raises(KeyError, match="bl_acol"):
        build_acol("acoll")


# --------------------------------------------------------------------------- training side


# share=False (the registered presets): test_model_harness.py
@pytest.mark.parametrize("share", [True])
def test_every_trainable_weight_gets_a_gradient(share):
    keras.utils.set_random_seed(3)
    model = build_acol("acol", width="tiny", share_branches=share)
    x = tf.constant(_x(24, 20, n=2, seed=3))
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(model(x, training=True))
    grads = tape.gradient(loss, model.trainable_weights)
    for w, g in zip(model.trainable_weights, grads, strict=True):
        assert g is not None, w.path
        g = g.numpy()
        assert np.isfinite(g).all() and np.any(g != 0), w.path


def test_distorted_output_is_eq3(tiny):
    train = with_distorted_output(tiny)
    x = _x(20, 24)
    out = train(x)
    jnd, xd = np.asarray(out["jnd"]), np.asarray(out["distorted"])
    np.testing.assert_array_equal(jnd, np.asarray(tiny(x)))
    np.testing.assert_allclose(xd, 255.0 * x[..., :3] + jnd, rtol=1e-6, atol=1e-5)


# share=False (the registered presets): test_model_harness.py
@pytest.mark.parametrize("share", [True])
def test_keras_file_round_trip_is_identical(tmp_path, share):
    keras.utils.set_random_seed(4)
    model = build_acol("acol", width="tiny", share_branches=share)
    path = tmp_path / "acol.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = _x(21, 30, n=2, seed=4)
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), atol=ATOL_SAME, rtol=0)


# --------------------------------------------------------------------------- registry


def test_registry_lists_the_presets_with_their_inputs():
    assert {"acol", "bl", "bl_acol", "bl_pmcm"} <= set(available_models())
    assert available_models(family="acol") == ["acol", "bl", "bl_acol", "bl_pmcm"]
    spec = get_model_spec("acol")
    assert spec.family == "acol" and spec.input_channels == 6 and spec.output_channels == 3
    assert spec.priors == ("pattern_masking", "contrast_masking", "saliency")
    assert get_model_spec("bl").priors == ("pattern_complexity", "saliency")
    with pytest.raises(KeyError, match="bl_pmcm"):
        get_model_spec("nope")
    with pytest.raises(ValueError, match="already registered"):
        register_model("acol", "other", lambda: None, input_channels=6)
    with pytest.raises(ValueError, match="input_channels"):
        register_model("x_test", "other", lambda: None, input_channels=4, priors=("a", "b"))
