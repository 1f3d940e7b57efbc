"""The CAM classifiers of DMV-JND-NET (issue #11): class activation maps against their closed
form (Zhou et al. 2016, CAM_c = sum_k w_{k,c} f_k), the merge of eq. (2) of Jin et al. (seed 002),
the paper's input normalization, and the preset table against the published sizes.

The shared harness (tests/test_model_harness.py) covers shapes, gradients and round trips of
every preset; this file checks what is specific to the family.

Tolerances: float32 convs and the float32 bilinear resize against float64 numpy / OpenCV
float32 on values of order 1: 1e-5 absolute (a few float32 ulps, 1.2e-7 relative, over sums of at
most a few dozen terms; the same on AVX2 and AVX-512 kernels).
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.tf

keras = pytest.importorskip("keras")
cv2 = pytest.importorskip("cv2")

from jndtf.models.classifiers import (  # noqa: E402
    CAM_FEATURES,
    HEAD,
    build_cam_classifier,
    cam,
    class_activation,
    macs_per_pixel,
    merged_cam,
    normalize_maps,
)

ATOL = 1e-5  # float32 vs float64 on values of order 1 (module docstring)
POOL = 4  # the hand model's feature stride: a 16x16 input gives a 4x4 CAM


def _hand_model(w_feat: np.ndarray, w_head: np.ndarray, b_head: np.ndarray) -> keras.Model:
    """A CAM classifier whose features are set by hand: a 4x4 average pool, a 1x1 conv of
    weights `w_feat` (3, K) and a ReLU (the f_k), global average pooling, Dense `w_head` (K, C)."""
    k, c = w_head.shape
    inp = keras.Input((None, None, 3))
    x = keras.layers.AveragePooling2D(POOL)(inp)
    x = keras.layers.Conv2D(k, 1, use_bias=False, name="feat")(x)
    x = keras.layers.ReLU(name=CAM_FEATURES)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(c, name=HEAD)(x)
    model = keras.Model(inp, out)
    model.get_layer("feat").set_weights([w_feat[None, None].astype(np.float32)])
    model.get_layer(HEAD).set_weights([w_head.astype(np.float32), b_head.astype(np.float32)])
    return model


def _closed_form(x: np.ndarray, w_feat: np.ndarray, w_head: np.ndarray, cls) -> np.ndarray:
    """sum_k w_{k,c} f_k in float64 numpy, f_k = relu(4x4 block mean of x @ w_feat)."""
    n, h, w, _ = x.shape
    pooled = x.astype(np.float64).reshape(n, h // POOL, POOL, w // POOL, POOL, 3).mean((2, 4))
    f = np.maximum(pooled @ w_feat, 0.0)  # (N, h, w, K)
    cls = np.broadcast_to(np.asarray(cls), (n,))
    return np.einsum("nhwk,nk->nhw", f, w_head[:, cls].T)


def _upsample_normalize(raw: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """OpenCV bilinear (half-pixel centers) to `size`, then per-image min-max by hand."""
    out = []
    for m in raw:
        up = cv2.resize(m.astype(np.float32), size[::-1], interpolation=cv2.INTER_LINEAR)
        out.append((up - up.min()) / (up.max() - up.min()))
    return np.stack(out)


@pytest.fixture(scope="module")
def hand():
    rng = np.random.default_rng(0)
    w_feat = rng.normal(size=(3, 5))
    w_head = rng.normal(size=(5, 10))
    b_head = rng.normal(size=10)
    x = rng.random((3, 16, 24, 3)).astype(np.float32)
    return _hand_model(w_feat, w_head, b_head), x, w_feat, w_head


def test_raw_cam_is_the_weighted_sum_of_the_feature_maps(hand):
    model, x, w_feat, w_head = hand
    for cls in (0, 7, [2, 9, 4]):
        got = class_activation(model, x, cls)
        assert got.shape == (3, 4, 6) and got.dtype == np.float32
        np.testing.assert_allclose(got, _closed_form(x, w_feat, w_head, cls), atol=ATOL)


def test_cam_is_the_upsampled_min_max_normalized_closed_form(hand):
    model, x, w_feat, w_head = hand
    got = cam(model, x, [2, 9, 4])
    want = _upsample_normalize(_closed_form(x, w_feat, w_head, [2, 9, 4]), (16, 24))
    assert got.shape == (3, 16, 24) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=ATOL)
    assert got.min(axis=(1, 2)).tolist() == [0.0] * 3 and got.max(axis=(1, 2)).tolist() == [1.0] * 3


def test_constant_cam_is_zeros_not_nan():
    model = _hand_model(np.zeros((3, 2)), np.ones((2, 10)), np.zeros(10))
    x = np.random.default_rng(1).random((2, 16, 16, 3)).astype(np.float32)
    got = cam(model, x, 3)
    assert np.isfinite(got).all() and not got.any()
    # and the normalization alone, on hand values
    maps = np.array([[[1.0, 3.0], [5.0, 9.0]], [[4.0, 4.0], [4.0, 4.0]]])
    np.testing.assert_array_equal(normalize_maps(maps), [[[0, 0.25], [0.5, 1.0]], [[0, 0], [0, 0]]])


def test_merged_cam_is_the_mean_of_the_maps_eq2():
    rng = np.random.default_rng(2)
    x = rng.random((2, 16, 16, 3)).astype(np.float32)
    models, want = [], []
    for _ in range(4):  # the paper's four classifiers
        # |w_feat|: positive features on positive pixels, so no map is constant
        w_feat, w_head = np.abs(rng.normal(size=(3, 4))), rng.normal(size=(4, 10))
        models.append(_hand_model(w_feat, w_head, np.zeros(10)))
        want.append(_upsample_normalize(_closed_form(x, w_feat, w_head, 5), (16, 16)))
    got = merged_cam(models, x, 5)
    np.testing.assert_allclose(got, np.mean(want, axis=0), atol=ATOL)  # c = 1/4 sum_n c_n


@pytest.mark.parametrize("preset", ["alexnet_tiny", "vgg_tiny", "resnet_tiny", "densenet_tiny"])
def test_logits_are_the_mean_of_the_cam_plus_bias(preset):
    # Zhou et al.: S_c = sum_k w_kc mean(f_k) + b_c = mean(CAM_c) + b_c (inference mode)
    keras.utils.set_random_seed(3)
    model = build_cam_classifier(preset)
    x = np.random.default_rng(4).random((2, 32, 32, 3)).astype(np.float32)
    logits = np.asarray(model(x, training=False))
    bias = np.asarray(model.get_layer(HEAD).bias)
    for c in (0, 9):
        raw = class_activation(model, x, c).astype(np.float64)
        # 1e-5 relative: float32 GAP + Dense vs float64 mean of the map
        np.testing.assert_allclose(raw.mean((1, 2)) + bias[c], logits[:, c], rtol=1e-5, atol=1e-6)


def test_input_normalization_is_the_papers():
    # Sec. V-A: normalize((0.5,0.5,0.5),(0.5,0.5,0.5)) of x/255; the model gets u = x/255
    model = build_cam_classifier("resnet_tiny")
    probe = keras.Model(model.input, model.get_layer("normalize").output)
    rgb = np.random.default_rng(5).integers(0, 256, (1, 8, 8, 3)).astype(np.float32)
    want = (rgb / 255.0 - 0.5) / 0.5
    np.testing.assert_allclose(np.asarray(probe(rgb / 255.0)), want, atol=1e-6)  # float32 ulps


@pytest.mark.parametrize(
    ("preset", "params", "tol"),
    [
        ("resnet", 0.27e6, 0.02),  # He et al. 2016, Table 6: ResNet-20 0.27M
        ("densenet", 0.8e6, 0.02),  # Huang et al. 2017, Table 2: DenseNet-BC L=100 k=12 0.8M
    ],
)
def test_full_presets_have_the_published_size(preset, params, tol):
    # tol 2 %: the papers round to two digits; option-B projections add 2.6k weights to ResNet-20
    assert build_cam_classifier(preset).count_params() == pytest.approx(params, rel=tol)


def test_macs_match_a_hand_count():
    # resnet_tiny: stem 3->8, stage 1 one block 8->8 at 1/1, stage 2 one block 8->16 at 1/4
    want = 9 * 3 * 8 + (9 * 8 * 8 + 9 * 8 * 8) + (9 * 8 * 16 + 9 * 16 * 16 + 8 * 16) / 4
    assert macs_per_pixel("resnet_tiny") == want
    # densenet_tiny: k=4, bottleneck 16; block 1 (8, 12 channels in), transition 16->8, block 2
    k, mid = 4, 16
    block1 = (8 * mid + 9 * mid * k) + (12 * mid + 9 * mid * k) + 16 * 8
    block2 = ((8 * mid + 9 * mid * k) + (12 * mid + 9 * mid * k)) / 4
    assert macs_per_pixel("densenet_tiny") == 27 * 8 + block1 + block2


def test_errors_name_what_to_fix(hand):
    model, x, *_ = hand
    with pytest.raises(ValueError, match=r"shape \(N, H, W, 3\)"):
        cam(model, x[..., :2], 0)
    with pytest.raises(ValueError, match=r"class_index must be in 0..9"):
        cam(model, x, 10)
    with pytest.raises(ValueError, match="one per image"):
        cam(model, x, [1, 2])
    plain = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.GlobalAveragePooling2D()])
    with pytest.raises(ValueError, match="not a CAM classifier"):
        cam(plain, x[:, :8, :8], 0)
    with pytest.raises(ValueError, match="at least one"):
        merged_cam([], x, 0)
    with pytest.raises(KeyError, match="unknown setting"):
        build_cam_classifier("resnet", widths=(1,))
