"""hmJND-Net (Xie, Wang et al., AAAI 2023): HMPF eqs. (6)-(9), HMFA eqs. (10)-(12), Swin windows.

Independent references: the relative position index and the shifted-window/padding masks are
hand-written tables; the window partition is checked against Swin's 6-D reshape in numpy; the
window attention against a per-window numpy loop (Swin's slice-built region mask, np.roll,
np.pad); SE attention against a numpy SENet; θ and |I − I_rr| against their definitions; the MAC
count against a hand count and against the conv layers (tests/model_harness.py). The shared
checks (gradients of every weight, config/.keras round trips, JAX = TF) run in
tests/test_model_harness.py for the registered presets.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.tf

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

import model_harness as H  # noqa: E402

from jndtf.losses.hmjnd import HmJNDLoss  # noqa: E402
from jndtf.models.hmjnd import (  # noqa: E402
    ChannelAttention,
    SplitModalities,
    ThetaNormalization,
    WindowAttention,
    attention_mask,
    build_hmjnd,
    hmjnd_input,
    relative_position_index,
    visibility_threshold,
    window_partition,
    window_reverse,
)
from jndtf.models.hmjnd.network import MASK_VALUE  # noqa: E402
from jndtf.models.hmjnd.presets import get_preset, macs_per_pixel  # noqa: E402
from jndtf.models.registry import get_model_spec  # noqa: E402

#: float32 attention: dot products of <= 8 terms, a softmax and a weighted sum of 16 values,
#: computed in another order (matmul kernels vs a numpy loop): a few ulps of values ~1-10.
ATOL_ATTN = 1e-5

#: the SE gate: a mean over H·W, two small matmuls and a sigmoid, reordered sums (ulps of ~1).
ATOL_SE = 1e-6

#: LiteRT vs Keras, as tests/test_model_harness.py's RTOL_LITERT: reordered float32 sums through
#: ~40 layers and a softmax; 1e-4 of the output scale (255). Measured here: ~5e-4 abs.
RTOL_LITERT = 1e-4


@pytest.fixture(scope="module")
def tiny():
    keras.utils.set_random_seed(3)
    return build_hmjnd("hmjnd_tiny")


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


# --------------------------------------------------------------------------- windows


def test_window_partition_matches_swin_reshape_and_reverses_exactly():
    x = np.random.default_rng(0).random((2, 8, 12, 5), dtype=np.float32)
    m = 4
    # Swin's window_partition (Liu et al. 2021, official code) in numpy: 6-D reshape
    ref = x.reshape(2, 8 // m, m, 12 // m, m, 5).transpose(0, 1, 3, 2, 4, 5).reshape(-1, m * m, 5)
    win = _np(window_partition(x, m))
    np.testing.assert_array_equal(win, ref)
    np.testing.assert_array_equal(_np(window_reverse(win, m, 8, 12)), x)


def test_relative_position_index_window_2_is_the_hand_table():
    # positions (0,0),(0,1),(1,0),(1,1); index = (dy+1)*3 + (dx+1), (dy, dx) = p_i - p_j
    want = np.array([[4, 3, 1, 0], [5, 4, 2, 1], [7, 6, 4, 3], [8, 7, 5, 4]])
    np.testing.assert_array_equal(relative_position_index(2), want)


def test_shifted_window_mask_4x4_window_2_shift_1_is_the_hand_mask():
    # region labels of the rolled 4x4 map (Swin's slices (0,-2), (-2,-1), (-1,None)):
    #   0 0 1 2 / 0 0 1 2 / 3 3 4 5 / 6 6 7 8 -> windows [0,0,0,0] [1,2,1,2] [3,3,6,6] [4,5,7,8]
    blocked = np.array(
        [
            np.zeros((4, 4)),
            [[0, 1, 0, 1], [1, 0, 1, 0], [0, 1, 0, 1], [1, 0, 1, 0]],
            [[0, 0, 1, 1], [0, 0, 1, 1], [1, 1, 0, 0], [1, 1, 0, 0]],
            1 - np.eye(4),
        ]
    )
    np.testing.assert_array_equal(_np(attention_mask(4, 4, 2, 1)), MASK_VALUE * blocked)


def test_padding_mask_blocks_the_padded_keys():
    # a 3x3 map padded to 4x4 (window 2, no shift): row 3 and column 3 are padding
    blocked = np.array(
        [
            np.zeros((4, 4)),
            [[0, 1, 0, 1]] * 4,  # window (0,1): tokens (0,3), (1,3) are padding
            [[0, 0, 1, 1]] * 4,  # window (1,0): row 3
            [[0, 1, 1, 1]] * 4,  # window (1,1): only (2,2) is an image pixel
        ]
    )
    np.testing.assert_array_equal(_np(attention_mask(4, 4, 2, 0, 3, 3)), MASK_VALUE * blocked)


def _swin_region_mask(hp, wp, m, s):
    img = np.zeros((hp, wp))
    if s:
        cnt = 0
        for hs in (slice(0, -m), slice(-m, -s), slice(-s, None)):
            for ws in (slice(0, -m), slice(-m, -s), slice(-s, None)):
                img[hs, ws] = cnt
                cnt += 1
    return img


def _np_window_attention(q, k, v, table, m, heads, shift):
    """Cross attention in (shifted) windows, one window and head at a time."""
    n, h, w, c = q.shape
    d = c // heads
    hp, wp = -(-h // m) * m, -(-w // m) * m
    pad = ((0, 0), (0, hp - h), (0, wp - w), (0, 0))
    q, k, v = (np.roll(np.pad(t, pad), (-shift, -shift), axis=(1, 2)) for t in (q, k, v))
    valid = np.roll(np.pad(np.ones((h, w)), pad[1:3]), (-shift, -shift), axis=(0, 1))
    region = _swin_region_mask(hp, wp, m, shift)
    bias = np.empty((heads, m * m, m * m))
    for i in range(m * m):
        for j in range(m * m):
            dy, dx = i // m - j // m, i % m - j % m
            bias[:, i, j] = table[(dy + m - 1) * (2 * m - 1) + dx + m - 1]
    out = np.zeros_like(q)
    for b in range(n):
        for y0 in range(0, hp, m):
            for x0 in range(0, wp, m):
                sl = (slice(y0, y0 + m), slice(x0, x0 + m))
                reg, val = region[sl].ravel(), valid[sl].ravel()
                blocked = (reg[:, None] != reg[None, :]) | (val[None, :] == 0)
                for hd in range(heads):
                    ch = slice(hd * d, (hd + 1) * d)
                    qq, kk, vv = (t[b][sl][..., ch].reshape(m * m, d) for t in (q, k, v))
                    logit = qq @ kk.T / np.sqrt(d) + bias[hd] + np.where(blocked, MASK_VALUE, 0)
                    a = np.exp(logit - logit.max(1, keepdims=True))
                    a /= a.sum(1, keepdims=True)
                    out[b][sl][..., ch] = (a @ vv).reshape(m, m, d)
    out = np.roll(out, (shift, shift), axis=(1, 2))
    return out[:, :h, :w]


@pytest.mark.parametrize(("h", "w", "shift"), [(8, 8, 0), (8, 8, 2), (7, 10, 0), (7, 10, 2)])
def test_window_attention_matches_a_numpy_loop(h, w, shift):
    rng = np.random.default_rng(h * 10 + shift)
    m, heads, c = 4, 2, 8
    q, k, v = (rng.normal(size=(2, h, w, c)).astype(np.float32) for _ in range(3))
    layer = WindowAttention(m, heads, shift)
    layer([q, k, v])
    table = rng.normal(size=((2 * m - 1) ** 2, heads)).astype(np.float32)
    layer.bias_table.assign(table)
    got = _np(layer([q, k, v]))
    want = _np_window_attention(q, k, v, table, m, heads, shift)
    np.testing.assert_allclose(got, want, atol=ATOL_ATTN, rtol=0)


# --------------------------------------------------------------------------- HMPF, θ


def test_se_attention_equals_a_numpy_senet():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 5, 7, 8)).astype(np.float32)
    layer = ChannelAttention(reduction=2)
    layer(x)
    w1, b1, w2, b2 = (rng.normal(size=tuple(v.shape)).astype(np.float32) for v in layer.weights)
    for var, val in zip(layer.weights, (w1, b1, w2, b2), strict=True):
        var.assign(val)
    z = x.mean(axis=(1, 2))
    s = 1 / (1 + np.exp(-(np.maximum(z @ w1 + b1, 0) @ w2 + b2)))
    np.testing.assert_allclose(_np(layer(x)), x * s[:, None, None, :], atol=ATOL_SE, rtol=0)


def test_hmpf_follows_eqs_6_to_9(tiny):
    # F_pr = (SE(F_sum) + F_sum + SE(F_sub) + F_sub) ⊗ γ(F_se) + β(F_se), from the probed parts
    names = ["saliency_emb3", "depth_emb3", "hmpf_gamma2", "hmpf_beta2", "f_pr"]
    probe = keras.Model(tiny.input, [tiny.get_layer(n).output for n in names])
    x = H.make_inputs(tiny, 12, 9, seed=4)
    f_sa, f_de, gamma, beta, f_pr = (_np(t) for t in probe(x))
    se_sum, se_sub = tiny.get_layer("hmpf_se_sum"), tiny.get_layer("hmpf_se_sub")
    f_sum, f_sub = f_sa + f_de, f_sa - f_de
    f_fuse = _np(se_sum(f_sum)) + f_sum + _np(se_sub(f_sub)) + f_sub
    # 1e-5: the same float32 products and sums in another order (values ~1)
    np.testing.assert_allclose(f_pr, f_fuse * gamma + beta, atol=1e-5, rtol=0)


def test_theta_normalization_clips_input_plus_residual_to_0_255():
    image = np.array([[[[0.2, 0.5, 0.9]]]], np.float32)
    residual = np.array([[[[-0.3, 0.25, 0.2]]]], np.float32)
    got = _np(ThetaNormalization()([image, residual]))
    np.testing.assert_allclose(got, [[[[0.0, 191.25, 255.0]]]], atol=1e-4)  # float32 of 0.75


def test_visibility_threshold_is_the_absolute_difference():
    a = np.array([[10, 200], [0, 255]], np.uint8)
    b = np.array([[12.5, 190], [3, 255]], np.float32)
    np.testing.assert_array_equal(visibility_threshold(a, b), [[2.5, 10], [3, 0]])
    with pytest.raises(ValueError, match="differ"):
        visibility_threshold(a, b[:1])


# --------------------------------------------------------------------------- the network


@pytest.mark.parametrize(("h", "w"), [(37, 53), (3, 5), (16, 16)])
def test_any_size_gives_an_output_of_the_input_size(tiny, h, w):
    y = _np(tiny(H.make_inputs(tiny, h, w, n=2, seed=h)))
    assert y.shape == (2, h, w, 3)
    assert np.isfinite(y).all() and y.min() >= 0 and y.max() <= 255


ABLATIONS = [
    {"modalities": ()},
    {"modalities": ("saliency",)},
    {"modalities": ("depth",)},
    {"modalities": ("segmentation",)},
    {"modalities": ("saliency", "depth", "segmentation")},
    {"fusion": "concat"},
    {"alignment": "se_conv"},
    {"fusion": "concat", "alignment": "se_conv"},
]


@pytest.mark.parametrize("overrides", ABLATIONS, ids=lambda o: "-".join(map(str, o.values())))
def test_each_ablation_switch_builds_and_counts_its_macs(overrides):
    keras.utils.set_random_seed(1)
    model = build_hmjnd("hmjnd_tiny", **overrides)
    y = _np(model(H.make_inputs(model, 13, 18, seed=2)))
    assert y.shape == (1, 13, 18, 3) and np.isfinite(y).all()
    cfg = {**get_preset("hmjnd_tiny"), **overrides}
    got = H.conv_macs_per_pixel(model, H.make_inputs(model, 16, 16))
    assert macs_per_pixel(cfg) == pytest.approx(got, rel=1e-9)  # both exact integer sums


def test_a_disabled_modality_is_replaced_by_an_enabled_one():
    x = np.random.default_rng(2).random((1, 4, 5, 6), dtype=np.float32)
    rgb, sa, de, se = (_np(t) for t in SplitModalities(("depth",))(x))
    np.testing.assert_array_equal(rgb, x[..., :3])
    for m in (sa, de, se):
        np.testing.assert_array_equal(m, x[..., 4:5])
    luma = (x[..., :3] * [0.299, 0.587, 0.114]).sum(-1, keepdims=True)
    for m in SplitModalities(())(x)[1:]:
        np.testing.assert_allclose(_np(m), luma, atol=1e-7)  # float32 of a 3-term sum


def test_a_disabled_modality_channel_does_not_change_the_output():
    keras.utils.set_random_seed(4)
    model = build_hmjnd("hmjnd_tiny", modalities=("saliency", "segmentation"))
    x = H.make_inputs(model, 10, 12, seed=3)
    x2 = x.copy()
    x2[..., 4] = 1.0 - x2[..., 4]  # the depth channel
    np.testing.assert_array_equal(_np(model(x)), _np(model(x2)))
    x2[..., 3] = 1.0 - x2[..., 3]  # the saliency channel is used
    assert not np.array_equal(_np(model(x)), _np(model(x2)))


@pytest.mark.parametrize(
    "overrides",
    [{}, {"modalities": ("depth",), "fusion": "concat", "alignment": "se_conv"}],
    ids=["tiny", "ablated"],
)
def test_keras_file_round_trip_is_bit_identical(overrides, tmp_path):
    keras.utils.set_random_seed(6)
    model = build_hmjnd("hmjnd_tiny", with_features=True, **overrides)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    x = H.make_inputs(model, 11, 14, n=2, seed=1)
    want, got = model(x), loaded(x)
    for key in ("image", "features_rgb", "features_prior"):
        np.testing.assert_array_equal(_np(got[key]), _np(want[key]), err_msg=key)


def test_features_feed_eq2_and_reach_every_weight():
    keras.utils.set_random_seed(2)
    model = build_hmjnd("hmjnd_tiny", with_features=True)
    x = H.make_inputs(model, 16, 16, n=2, seed=8)
    target = 255.0 * np.random.default_rng(9).random((2, 16, 16, 3), dtype=np.float32)
    with tf.GradientTape() as tape:
        out = model(x, training=True)
        loss = HmJNDLoss()(target, out)
    assert out["features_rgb"].shape == out["features_prior"].shape == (2, 16, 16, 8)
    grads = tape.gradient(loss, model.trainable_weights)
    assert np.isfinite(float(loss))
    for w, g in zip(model.trainable_weights, grads, strict=True):
        assert g is not None and np.any(_np(g) != 0), w.path


def test_bad_settings_name_themselves():
    with pytest.raises(ValueError, match="heads"):
        build_hmjnd("hmjnd_tiny", heads=3)
    with pytest.raises(ValueError, match="modalities"):
        build_hmjnd("hmjnd_tiny", modalities=("colour",))
    with pytest.raises(ValueError, match="fusion"):
        build_hmjnd("hmjnd_tiny", fusion="sum")
    with pytest.raises(ValueError, match="unknown setting"):
        build_hmjnd("hmjnd_tiny", depth=4)
    with pytest.raises(KeyError, match="hmjnd_tiny"):
        build_hmjnd("hmjnd_huge")


# --------------------------------------------------------------------------- registry, inputs


def test_registration_and_hand_mac_count():
    spec = get_model_spec("hmjnd_tiny")
    assert spec.output_kind == "image" and spec.input_channels == 6
    assert spec.modalities == ("rgb", "saliency_map", "depth", "segmentation")
    # C = 8, MLP ratio 2, n = 2 STA blocks: RGB embedding 9·(3·8 + 2·64) = 1368; three modality
    # embeddings 3·9·(8 + 2·64) = 3672; eq. (9) 2 branches · 2 convs · 9·64 = 2304; F_conv^1..3
    # 3·2·9·64 = 3456; 4 encoders · (4 + 2·2)·64 = 2048; Reshape 9·8·3 = 216
    assert spec.macs_per_pixel() == 1368 + 3672 + 2304 + 3456 + 2048 + 216
    # attention products: 4 encoders · 2·M²·C = 4·2·16·8
    assert macs_per_pixel("hmjnd_tiny", attention=True) == spec.macs_per_pixel() + 4 * 2 * 16 * 8


def test_input_builder_stacks_rgb_over_255_and_the_maps():
    rng = np.random.default_rng(0)
    rgb = (rng.random((6, 7, 3)) * 255).astype(np.uint8)
    maps = {k: rng.random((6, 7)).astype(np.float32) for k in ("saliency_map", "depth")}
    seg = rng.random((6, 7, 1)).astype(np.float32)
    x = get_model_spec("hmjnd").make_input(rgb, segmentation=seg, **maps)
    assert x.shape == (6, 7, 6) and x.dtype == np.float32
    np.testing.assert_array_equal(x[..., :3], rgb.astype(np.float32) / 255)
    np.testing.assert_array_equal(x[..., 3], maps["saliency_map"])
    np.testing.assert_array_equal(x[..., 4], maps["depth"])
    np.testing.assert_array_equal(x[..., 5], seg[..., 0])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"depth": np.zeros((5, 7))}, "depth map has shape"),
        ({"segmentation": np.full((6, 7), 1.5)}, "segmentation map must be in"),
        ({"saliency_map": np.full((6, 7), np.nan)}, "saliency map must be finite"),
    ],
)
def test_input_builder_errors_name_the_map(kwargs, message):
    full = {k: np.zeros((6, 7), np.float32) for k in ("saliency_map", "depth", "segmentation")}
    with pytest.raises(ValueError, match=message):
        hmjnd_input(np.zeros((6, 7, 3), np.uint8), **{**full, **kwargs})
    with pytest.raises(ValueError, match="no prior maps"):
        hmjnd_input(np.zeros((6, 7, 3), np.uint8), ("saliency",), **full)


def test_missing_maps_come_from_the_classical_providers():
    modalities = pytest.importorskip("jndtf.priors.modalities")
    rgb = (np.random.default_rng(3).random((40, 48, 3)) * 255).astype(np.uint8)
    x = hmjnd_input(rgb)
    for i, kind in enumerate(("saliency", "depth", "segmentation")):
        want = modalities.get_provider(kind, "classical")(rgb)
        np.testing.assert_array_equal(x[..., 3 + i], want, err_msg=kind)


def test_input_builder_and_registration_load_no_tensorflow():
    # the edge runs the input builder: numpy only, checked with TF/Keras blocked
    from test_import_boundary import _run

    proc = _run(
        """
        import sys
        import numpy as np
        from jndtf.models.registry import get_model_spec
        m = {k: np.ones((8, 9), np.float32) for k in ("saliency_map", "depth", "segmentation")}
        x = get_model_spec("hmjnd").make_input(np.zeros((8, 9, 3), np.uint8), **m)
        assert x.shape == (8, 9, 6) and x[..., 3:].min() == 1.0
        from jndtf.models.hmjnd import visibility_threshold
        assert visibility_threshold(x, x).max() == 0
        assert not [m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")]
        print("ok")
        """
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("ok")


@pytest.mark.slow
def test_litert_fp32_matches_keras_at_two_sizes_with_attention_ops(tmp_path):
    # the network alone (jndtf export with its inputs: tests/test_export_families.py) converts
    # with builtins only (softmax, batch matmul, layer norm as mean/rsqrt, the bias gather
    # folded into a constant), dynamic H, W
    litert = pytest.importorskip("ai_edge_litert.interpreter", reason="needs the [edge] extra")
    from litert_parity import dynamic_parity

    keras.utils.set_random_seed(8)
    model = build_hmjnd("hmjnd_tiny")
    interp = litert.Interpreter(model_content=H.export_litert_fp32(model, tmp_path), num_threads=1)
    ops = {d["op_name"] for d in interp._get_ops_details()}
    assert {"SOFTMAX", "BATCH_MATMUL", "GELU"} <= ops, sorted(ops)
    sizes = ((48, 64), (37, 53))

    def make(h, w):
        return H.make_inputs(model, h, w, n=1, seed=h)

    dynamic_parity(interp, model, sizes, make, 3, RTOL_LITERT * 255.0)
