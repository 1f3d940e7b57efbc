"""DMV-JND-NET's E-D (Jin et al., TCSVT 2022, Sec. IV-A, Fig. 4; eqs. (3)-(4), (7)-(15)).

Independent references: the MAC and parameter counts are hand counts of the layer table in
jndtf/models/dmv/network.py; the zero-padded 3x3 conv is checked against OpenCV's filter2D with
a constant (zero) border; the kernel = stride transposed conv against a numpy block painting;
the 4-channel input against its definition (RGB / 255, then c). The shared checks (gradients of
every weight under a plain MSE, round trips, LiteRT, JAX) run in tests/test_model_harness.py.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

pytestmark = pytest.mark.tf

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from jndtf.losses.dmv import dmv_loss  # noqa: E402
from jndtf.models.dmv import build_dmv_net, dmv_input, perturb  # noqa: E402
from jndtf.models.dmv.presets import PRESETS, check_config, get_preset, macs_per_pixel  # noqa: E402
from jndtf.models.registry import get_model_spec  # noqa: E402

#: float32 convolution sums of <= 9·16 products of values <= ~10 reordered by oneDNN vs OpenCV:
#: a few ulps of the largest partial sum (~1e2 · 1.2e-7); 1e-4 leaves margin on AVX2/AVX-512.
ATOL_CONV = 1e-4


@pytest.fixture(scope="module")
def tiny():
    keras.utils.set_random_seed(3)
    return build_dmv_net("dmv_tiny")


def _probe(model, name):
    return keras.Model(model.input, model.get_layer(name).output)


def test_registration_declares_a_signed_4_channel_dmv_jnd():
    for name in ("dmv", "dmv_tiny"):
        spec = get_model_spec(name)
        assert spec.family == "dmv" and spec.output_kind == "dmv_jnd", name
        assert spec.input_channels == 4 and spec.output_channels == 3 and spec.priors == ()
        assert spec.modalities == ("rgb", "cam"), spec.modalities


def test_mac_count_matches_the_hand_count_of_the_layer_table():
    # dmv at 32x32: E1 9·4·64 at 1, E2 9·64·128 at 1/4, E3 9·128·256 at 1/16, B 9·256·256 at
    # 1/64, D1 4·4·256·128 per 4x4 input pixel (1/64), D2 2·2·128·64 per 16x16 pixel (1/4),
    # out 9·64·3 at 1
    hand = (
        9 * 4 * 64
        + 9 * 64 * 128 / 4
        + 9 * 128 * 256 / 16
        + 9 * 256 * 256 / 64
        + 16 * 256 * 128 / 64
        + 4 * 128 * 64 / 4
        + 9 * 64 * 3
    )
    assert macs_per_pixel("dmv") == hand == 66496
    assert get_model_spec("dmv").macs_per_pixel() == hand
    tiny_hand = 9 * 4 * 8 + 9 * 8 * 16 / 4 + 9 * 16 * 16 / 16 + 9 * 16 * 16 / 64
    tiny_hand += 16 * 16 * 8 / 64 + 4 * 8 * 8 / 4 + 9 * 8 * 3
    assert macs_per_pixel("dmv_tiny") == tiny_hand


def test_parameter_count_matches_the_layer_table(tiny):
    def count(enc, bott, dec, strides):
        n, cin = 0, 4
        for f in enc:  # conv (no bias) + BN (gamma, beta, mean, var)
            n, cin = n + 9 * cin * f + 4 * f, f
        n, cin = n + 9 * cin * bott + 4 * bott, bott
        for f, s in zip(dec, strides, strict=True):
            n, cin = n + s * s * cin * f + 4 * f, f
        return n + 9 * cin * 3 + 3  # output conv with bias

    assert tiny.count_params() == count((8, 16, 16), 16, (8, 8), (4, 2)) == 8859
    cfg = get_preset("dmv")
    want = count(
        cfg["encoder_filters"],
        cfg["bottleneck_filters"],
        cfg["decoder_filters"],
        cfg["decoder_strides"],
    )
    assert build_dmv_net("dmv").count_params() == want == 1523139


def test_layers_follow_fig4_caption(tiny):
    # zero padding (1,1,1,1) before every 3x3 conv, 2x2 max pools, BN after the encoder convs
    # and deconvs, kernel = stride transposed convs whose strides multiply to the pools' 8
    kinds = [type(layer).__name__ for layer in tiny.layers]
    assert kinds.count("MaxPooling2D") == 3 and kinds.count("Conv2DTranspose") == 2
    for layer in tiny.layers:
        if isinstance(layer, keras.layers.ZeroPadding2D):
            assert tuple(map(tuple, layer.padding)) == ((1, 1), (1, 1)), layer.name
        if isinstance(layer, keras.layers.MaxPooling2D):
            assert tuple(layer.pool_size) == (2, 2) and tuple(layer.strides) == (2, 2)
        if type(layer) is keras.layers.Conv2D:
            assert tuple(layer.kernel_size) == (3, 3) and tuple(layer.strides) == (1, 1)
            assert layer.padding == "valid", layer.name  # the ZeroPadding2D does the padding
        if isinstance(layer, keras.layers.Conv2DTranspose):
            assert tuple(layer.kernel_size) == tuple(layer.strides), layer.name
    assert [layer.strides[0] for layer in tiny.layers if "deconv" in layer.name] == [4, 2]
    assert PRESETS["dmv"]["encoder_filters"] == (64, 128, 256)


def test_first_conv_is_a_zero_padded_3x3_correlation(tiny):
    x = np.random.default_rng(0).random((1, 16, 24, 4), dtype=np.float32)
    got = np.asarray(_probe(tiny, "enc1_conv")(x))[0]
    kernel = tiny.get_layer("enc1_conv").kernel.numpy()  # (3, 3, 4, 8)
    want = np.zeros_like(got)
    for o in range(kernel.shape[3]):
        for i in range(4):  # filter2D is a correlation, as a Keras conv is
            want[..., o] += cv2.filter2D(
                x[0, ..., i], -1, kernel[:, :, i, o], borderType=cv2.BORDER_CONSTANT
            )
    np.testing.assert_allclose(got, want, atol=ATOL_CONV, rtol=0)


def test_large_stride_deconv_paints_one_block_per_input_pixel(tiny):
    x = np.random.default_rng(1).random((1, 32, 40, 4), dtype=np.float32)
    before = np.asarray(_probe(tiny, "bottleneck_relu")(x))[0]  # (4, 5, 16)
    got = np.asarray(_probe(tiny, "dec1_deconv")(x))[0]  # (16, 20, 8)
    k = tiny.get_layer("dec1_deconv").kernel.numpy()  # (4, 4, out, in)
    want = np.zeros_like(got)
    for r in range(before.shape[0]):
        for c in range(before.shape[1]):
            want[4 * r : 4 * r + 4, 4 * c : 4 * c + 4] = np.einsum("hwoi,i->hwo", k, before[r, c])
    np.testing.assert_allclose(got, want, atol=ATOL_CONV, rtol=0)


@pytest.mark.parametrize(
    ("h", "w", "decoded"), [(32, 32, (32, 32)), (48, 64, (48, 64)), (45, 33, (48, 40))]
)
def test_sizes_multiples_of_8_are_exact_others_are_cropped(tiny, h, w, decoded):
    x = np.random.default_rng(h).random((2, h, w, 4), dtype=np.float32)
    before_crop = np.asarray(_probe(tiny, "e_out")(x))
    assert before_crop.shape == (2, *decoded, 3)  # 8·ceil(H/8) rows from the decoder
    e = np.asarray(tiny(x))
    assert e.shape == (2, h, w, 3) and np.isfinite(e).all()
    # the output is the paper's [-1, 1] units times 127.5, top-left H x W of the decoder
    np.testing.assert_allclose(e, 127.5 * before_crop[:, :h, :w], rtol=1e-6, atol=0)


def test_dmv_input_stacks_rgb_over_255_and_the_cam():
    rng = np.random.default_rng(4)
    rgb = rng.integers(0, 256, (32, 40, 3), dtype=np.uint8)
    cam = rng.random((32, 40), dtype=np.float32)
    x = get_model_spec("dmv_tiny").make_input(rgb, cam=cam)
    assert x.shape == (32, 40, 4) and x.dtype == np.float32
    np.testing.assert_array_equal(x[..., :3], rgb.astype(np.float32) / 255.0)
    np.testing.assert_array_equal(x[..., 3], cam)
    np.testing.assert_array_equal(dmv_input(rgb, cam=cam[..., None]), x)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "needs the merged CAM map"),
        ({"cam": np.zeros((16, 40), np.float32)}, "upsample the CAM"),
        ({"cam": np.full((32, 40), 1.5, np.float32)}, r"in \[0, 1\]"),
    ],
)
def test_dmv_input_errors_say_what_to_give(kwargs, message):
    rgb = np.zeros((32, 40, 3), np.uint8)
    with pytest.raises(ValueError, match=message):
        get_model_spec("dmv").make_input(rgb, **kwargs)


def test_inconsistent_strides_are_refused():
    with pytest.raises(ValueError, match="multiply to 4"):
        check_config({**get_preset("dmv_tiny"), "decoder_strides": (2, 2)})
    with pytest.raises(ValueError, match="unknown setting"):
        build_dmv_net("dmv_tiny", widths=3)


def test_one_step_of_eq7_reaches_every_ed_weight_and_x_hat_is_x_plus_e(tiny):
    # a frozen stand-in classifier (conv + GAP + dense, as the CAM classifiers end): the
    # total loss of eq. (7) (Loss1 + Loss2 + Loss3, eqs. (8)-(15)) from jndtf.losses.dmv
    keras.utils.set_random_seed(5)
    clf = keras.Sequential(
        [
            keras.Input((None, None, 3)),
            keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10),
        ]
    )
    clf.trainable = False
    frozen = [w.numpy().copy() for w in clf.weights]
    rng = np.random.default_rng(6)
    x = rng.integers(0, 256, (4, 32, 32, 3)).astype(np.float32)
    cam = rng.random((4, 32, 32), dtype=np.float32)
    inp = np.stack([dmv_input(xi, cam=ci) for xi, ci in zip(x, cam, strict=True)])
    opt = keras.optimizers.Adam(1e-3)
    with tf.GradientTape() as tape:
        e = tiny(inp, training=True)
        x_hat = perturb(x, e)
        loss = dmv_loss(
            clf(x / 255.0), clf(x_hat / 255.0), cam, e, jnd_unit=127.5, from_logits=True
        )
        total = tf.reduce_mean(loss)
    # eq. (4): x̂ = x + e exactly (one float32 add), clipped only on request
    np.testing.assert_array_equal(np.asarray(x_hat), x + np.asarray(e))
    np.testing.assert_array_equal(
        np.asarray(perturb(x, e, clip=True)), np.clip(x + np.asarray(e), 0, 255)
    )
    grads = tape.gradient(total, tiny.trainable_weights)
    assert not clf.trainable_weights  # frozen: the step only moves the E-D
    for w, g in zip(tiny.trainable_weights, grads, strict=True):
        assert g is not None, f"no gradient reaches {w.path}"
        g = np.asarray(g)
        assert np.isfinite(g).all() and np.any(g != 0), f"bad gradient for {w.path}"
    before = [w.numpy().copy() for w in tiny.trainable_weights]
    opt.apply_gradients(zip(grads, tiny.trainable_weights, strict=True))
    assert all(np.any(w.numpy() != b) for w, b in zip(tiny.trainable_weights, before, strict=True))
    assert all(np.array_equal(w.numpy(), f) for w, f in zip(clf.weights, frozen, strict=True))


@pytest.mark.slow
def test_litert_fp32_matches_keras_at_two_sizes(tmp_path):
    # the network converts as it is (dynamic H, W, the crop as a StridedSlice); jndtf export
    # (tests/test_export_families.py) adds the CAM inputs of calibration and parity. Tolerance as in
    # tests/test_model_harness.py (RTOL_LITERT): BN folding and reordered float32 sums move
    # each result a few ulps; 1e-4 of the output's largest magnitude (measured ~4e-6 abs on
    # outputs up to ~80 pixels)
    litert = pytest.importorskip("ai_edge_litert.interpreter", reason="needs the [edge] extra")
    import model_harness as H
    from litert_parity import dynamic_parity

    keras.utils.set_random_seed(8)
    model = build_dmv_net("dmv_tiny")
    interp = litert.Interpreter(model_content=H.export_litert_fp32(model, tmp_path), num_threads=1)
    sizes = ((32, 32), (45, 33))

    def make(h, w):
        return H.make_inputs(model, h, w, n=1, seed=h)

    scale = max(float(np.abs(np.asarray(model(make(h, w)))).max()) for h, w in sizes)
    dynamic_parity(interp, model, sizes, make, 3, 1e-4 * max(scale, 1e-3))


def test_input_builder_and_registration_load_no_tensorflow():
    # the edge runs the input builder: numpy only (DESIGN.md's one rule), checked with TF/Keras
    # blocked at import time in a fresh interpreter
    from test_import_boundary import _run

    proc = _run(
        """
        import sys
        import numpy as np
        from jndtf.models.registry import get_model_spec
        x = get_model_spec("dmv").make_input(np.zeros((32, 32, 3), np.uint8),
                                             cam=np.ones((32, 32), np.float32))
        assert x.shape == (32, 32, 4) and x[..., 3].min() == 1.0
        assert not [m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")]
        print("ok")
        """
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("ok")
