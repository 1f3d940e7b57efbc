"""Wu 2017 priors and the classical baselines: vectorized steps against per-pixel references,
MATLAB shapes and rules, input validation, output contracts."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.data import astronaut

from jndtf.baselines import _registry
from jndtf.baselines.chou_li1995 import chou_li1995
from jndtf.baselines.wu2017 import COMPONENT_KEYS, namm, wu2017, wu2017_components
from jndtf.baselines.yang2005 import yang2005, yang2005_components
from jndtf.io import ImageError, to_luma
from jndtf.priors import color, contrast, edges, luminance, pattern, texture


@pytest.fixture(scope="module")
def crop() -> np.ndarray:
    """A 96x128 RGB crop of scikit-image's astronaut (face and helmet edges)."""
    return np.ascontiguousarray(astronaut()[40:136, 180:308])


# --------------------------------------------------------------------------- vectorized steps


def test_count_matches_per_pixel_loop():
    rng = np.random.default_rng(0)
    for shape in [(40, 50), (3, 3), (33, 31)]:
        codes = rng.integers(0, 17, size=shape).astype(np.uint8)
        codes[rng.random(shape) < 0.3] = pattern.SMOOTH_CODE
        np.testing.assert_array_equal(
            pattern.count_distinct_codes(codes), pattern._count_distinct_codes_loop(codes)
        )


def test_count_on_a_photo_matches_loop(crop):
    luma = to_luma(crop).astype(np.float64)
    codes = pattern._orientation_codes(luma)
    count = pattern._count_distinct_codes_loop(codes)
    count[codes == pattern.SMOOTH_CODE] = 1
    np.testing.assert_array_equal(pattern.pattern_complexity_count(crop), count)


def _nms_loop(gx, gy, mag, low):
    """MATLAB's per-pixel non-maximum suppression, its four sectors as an if/elif chain."""
    h, w = mag.shape
    out = np.zeros((h, w), bool)
    for r in range(1, h - 1):
        for c in range(1, w - 1):
            m, x, y = mag[r, c], gx[r, c], gy[r, c]
            if m <= low:
                continue
            if (y <= 0 and x > -y) or (y >= 0 and x < -y):
                d = abs(y / x)
                g1 = mag[r, c + 1] * (1 - d) + mag[r - 1, c + 1] * d
                g2 = mag[r, c - 1] * (1 - d) + mag[r + 1, c - 1] * d
            elif (x > 0 and -y >= x) or (x < 0 and -y <= x):
                d = abs(x / y)
                g1 = mag[r - 1, c] * (1 - d) + mag[r - 1, c + 1] * d
                g2 = mag[r + 1, c] * (1 - d) + mag[r + 1, c - 1] * d
            elif (x <= 0 and x > y) or (x >= 0 and x < y):
                d = abs(x / y)
                g1 = mag[r - 1, c] * (1 - d) + mag[r - 1, c - 1] * d
                g2 = mag[r + 1, c] * (1 - d) + mag[r + 1, c + 1] * d
            elif (y < 0 and x <= y) or (y > 0 and x >= y):
                d = abs(y / x)
                g1 = mag[r, c - 1] * (1 - d) + mag[r - 1, c - 1] * d
                g2 = mag[r, c + 1] * (1 - d) + mag[r + 1, c + 1] * d
            else:
                continue
            out[r, c] = m >= g1 and m >= g2
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_non_maximum_suppression_matches_matlab_sectors(seed):
    rng = np.random.default_rng(seed)
    # Small integers: many ties (|gx| = |gy|, zeros, equal magnitudes), the hard cases.
    gx = rng.integers(-3, 4, size=(30, 34)).astype(np.float64)
    gy = rng.integers(-3, 4, size=(30, 34)).astype(np.float64)
    mag = np.sqrt(gx * gx + gy * gy)
    mag /= mag.max()
    low = 0.1
    np.testing.assert_array_equal(
        edges.non_maximum_suppression(gx, gy, mag, low), _nms_loop(gx, gy, mag, low)
    )


def test_canny_thresholds_are_relative(crop):
    grey = to_luma(crop)
    e1 = edges.canny(grey, 0.3)
    e2 = edges.canny(grey * 0.25, 0.3)  # same picture, a quarter of the contrast
    assert e1.any()
    np.testing.assert_array_equal(e1, e2)
    assert edges.canny(grey, 0.6).sum() < e1.sum()  # a higher fraction keeps fewer edges
    assert not e1[0].any() and not e1[:, -1].any()


# --------------------------------------------------------------------------- MATLAB shapes


def test_strel_disk_matches_matlab_shapes():
    assert edges.strel_disk(3).shape == (5, 5) and edges.strel_disk(3).all()
    assert edges.strel_disk(6, 6).shape == (11, 11) and edges.strel_disk(6, 6).all()
    octagon = np.array(
        [
            [0, 0, 1, 1, 1, 0, 0],
            [0, 1, 1, 1, 1, 1, 0],
            [1, 1, 1, 1, 1, 1, 1],
            [1, 1, 1, 1, 1, 1, 1],
            [1, 1, 1, 1, 1, 1, 1],
            [0, 1, 1, 1, 1, 1, 0],
            [0, 0, 1, 1, 1, 0, 0],
        ],
        dtype=bool,
    )
    np.testing.assert_array_equal(edges.strel_disk(4), octagon)  # strel('disk', 4): 37 px
    # Radius below 3 or n = 0: the Euclidean disk.
    assert edges.strel_disk(2).sum() == 13
    assert edges.strel_disk(3, 0).sum() == 29
    with pytest.raises(ValueError, match="n must be"):
        edges.strel_disk(3, 5)
    with pytest.raises(ValueError, match="radius"):
        edges.strel_disk(-1)


def test_fspecial_gaussian_and_filter2():
    g = luminance.fspecial_gaussian(3, 1.0)
    assert g.sum() == pytest.approx(1.0)
    assert g[1, 1] / g[0, 0] == pytest.approx(np.e)
    img = np.arange(25, dtype=np.float64).reshape(5, 5)
    k = np.zeros((3, 3))
    k[0, 1] = 1.0  # correlation: picks the pixel above; zero above row 0
    out = luminance.filter2(k, img)
    np.testing.assert_array_equal(out[1:], img[:-1])
    np.testing.assert_array_equal(out[0], 0)
    with pytest.raises(ValueError, match="odd"):
        luminance.filter2(np.ones((2, 2)), img)


# --------------------------------------------------------------------------- contracts


PRIORS = [
    luminance.luminance_adaptation,
    luminance.background_luminance,
    contrast.luminance_contrast,
    contrast.contrast_masking,
    pattern.pattern_complexity_count,
    pattern.pattern_complexity,
    pattern.pattern_masking,
    edges.max_gradient,
    edges.edge_height,
    edges.edge_protection,
    edges.edge_weight,
    texture.texture_masking,
]


@pytest.mark.parametrize("prior", PRIORS, ids=lambda f: f.__name__)
def test_prior_contract(prior, crop):
    out = prior(crop)
    assert out.shape == crop.shape[:2] and out.dtype == np.float32
    assert np.isfinite(out).all()
    # uint8 RGB goes through OpenCV's rounded grey conversion: the map of that grey image,
    # given as uint8 or as float32 in 0..255.
    grey = to_luma(crop)
    np.testing.assert_array_equal(out, prior(grey))
    np.testing.assert_array_equal(out, prior(grey.astype(np.uint8)))


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((16, 64), np.uint8),  # too small
        np.zeros((64, 64, 2, 2), np.uint8),  # wrong rank
        np.full((64, 64), 300.0),  # outside 0..255
        np.full((64, 64), np.nan),
    ],
    ids=["small", "rank", "range", "nan"],
)
def test_bad_inputs_raise(bad):
    for fn in (luminance.luminance_adaptation, pattern.pattern_masking, wu2017, yang2005):
        with pytest.raises(ImageError):
            fn(bad)


def test_bad_arguments_raise(crop):
    with pytest.raises(ValueError, match="variant"):
        luminance.luminance_adaptation(crop, variant="wu2013")
    with pytest.raises(ValueError, match="threshold"):
        edges.canny(crop, 1.0)
    with pytest.raises(ValueError, match="low"):
        edges.canny(crop, 0.3, low=0.5)
    with pytest.raises(ValueError, match=r"0\.\.31"):
        pattern.count_distinct_codes(np.full((4, 4), 40, np.uint8))
    with pytest.raises(ValueError, match="edge_protect"):
        wu2017_components(crop, edge_protect=np.ones((10, 10)))


def test_per_channel_priors(crop):
    la = color.per_channel(luminance.luminance_adaptation, crop)
    assert la.shape == (*crop.shape[:2], 3) and la.dtype == np.float32
    for c in range(3):
        np.testing.assert_array_equal(la[..., c], luminance.luminance_adaptation(crop[..., c]))
    np.testing.assert_array_equal(
        color.pattern_masking_rgb(crop)[..., 1], pattern.pattern_masking(crop[..., 1])
    )
    grey = to_luma(crop).astype(np.uint8)
    assert color.contrast_masking_rgb(grey).shape == (*grey.shape, 3)
    with pytest.raises(ValueError, match="shape"):
        color.per_channel(lambda g: np.zeros((3, 3)), crop)


def test_wu2017_components_combine(crop):
    parts = wu2017_components(crop)
    assert set(parts) == set(COMPONENT_KEYS)
    vm = np.maximum(parts["contrast_masking"], parts["pattern_masking"] * parts["edge_protect"])
    np.testing.assert_allclose(parts["visual_masking"], vm, atol=1e-5)
    np.testing.assert_allclose(
        parts["jnd"], namm(parts["luminance_adaptation"], parts["visual_masking"]), atol=1e-5
    )
    assert float(parts["edge_threshold"]) == pytest.approx(
        min(60.0 / float(parts["edge_height"].max()), 0.8)
    )
    np.testing.assert_array_equal(wu2017(crop)[..., 0], parts["jnd"])


def test_baselines_registered(crop):
    for name in ("wu2017", "yang2005", "chou_li1995"):
        info = _registry.info(name)
        assert info.channels == 1 and info.citation
        jnd = _registry.get(name)(crop)
        assert jnd.shape == (*crop.shape[:2], 1) and jnd.dtype == np.float32
        assert np.isfinite(jnd).all() and jnd.min() > 0
    y = yang2005_components(crop)
    np.testing.assert_array_equal(yang2005(crop)[..., 0], y["jnd"])
    # Chou & Li: the larger of the two terms, with the unweighted gradient.
    bg = y["background_luminance"]
    tm = texture.texture_masking_from(bg, y["max_gradient"])
    np.testing.assert_allclose(
        chou_li1995(crop)[..., 0], np.maximum(tm, y["luminance_adaptation"]), atol=1e-5
    )


@pytest.mark.slow
def test_wu2017_full_hd():
    import cv2

    grey = cv2.resize(cv2.cvtColor(astronaut(), cv2.COLOR_RGB2GRAY), (1920, 1080))
    jnd = wu2017(grey)
    assert jnd.shape == (1080, 1920, 1) and np.isfinite(jnd).all()
    assert 2.0 < float(jnd.mean()) < 20.0
