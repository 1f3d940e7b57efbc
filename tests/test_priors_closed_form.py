"""Closed-form checks of the classical priors on synthetic images.

Every expected value below is worked out by hand from the model's definition (the kernel
weights, the window, the transducer), not by calling the code under test. The images are 64x64:

- a flat field (all values known, including the zero-padded border of MATLAB's filter2);
- a vertical step edge between columns 31 and 32;
- vertical and horizontal sinusoid gratings.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from jndtf.baselines.chou_li1995 import chou_li1995
from jndtf.baselines.wu2017 import wu2017_components
from jndtf.baselines.yang2005 import yang2005_components
from jndtf.priors import contrast, edges, luminance, pattern, texture

N = 64
E5, E1 = math.exp(-0.5), math.exp(-1.0)  # 3x3 Gaussian (sigma 1): edge and corner weights
G3_SUM = 1 + 4 * E5 + 4 * E1


def T(bg: float) -> float:
    """Chou & Li's visibility threshold, written out."""
    return 17 * (1 - math.sqrt(bg / 127)) + 3 if bg <= 127 else 3 / 128 * (bg - 127) + 3


def flat(v: int) -> np.ndarray:
    return np.full((N, N), v, np.uint8)


def step(a: int, b: int) -> np.ndarray:
    img = np.full((N, N), a, np.uint8)
    img[:, 32:] = b
    return img


def grating(period: int, amp: float, mean: float = 128.0, axis: int = 1) -> np.ndarray:
    x = np.arange(N, dtype=np.float64)
    row = mean + amp * np.sin(2 * np.pi * x / period)
    return np.tile(row, (N, 1)) if axis == 1 else np.tile(row[:, None], (1, N))


# --------------------------------------------------------------------------- flat field


@pytest.mark.parametrize("v", [0, 50, 100, 127, 200, 255])
def test_flat_luminance_adaptation(v):
    # Wu 2017: bg = floor(v); dark -> round(32 + v * 95 / 127) (MATLAB halves away from 0).
    bg = v if v > 127 else math.floor(32 + v * 95 / 127 + 0.5)
    la = luminance.luminance_adaptation(flat(v))
    assert la[N // 2, N // 2] == pytest.approx(0.7 * T(bg), abs=1e-6)
    la_yang = luminance.luminance_adaptation(flat(v), variant="yang2005")
    assert la_yang[N // 2, N // 2] == pytest.approx(T(v), abs=1e-6)


def test_flat_background_zero_padding():
    v = 100
    bg = luminance.background_luminance(flat(v))
    assert bg[N // 2, N // 2] == pytest.approx(v)
    # Corner: the visible 3x3 quadrant of B holds 0+2+1 / 2+2+1 / 1+1+1 = 11 of the 32.
    assert bg[0, 0] == pytest.approx(11 * v / 32)
    # Top edge: the bottom three rows of B, 6 + 8 + 5 = 19.
    assert bg[0, N // 2] == pytest.approx(19 * v / 32)
    assert luminance.background_luminance(flat(v), floor=True)[0, 0] == math.floor(11 * v / 32)


def test_flat_contrast_and_pattern():
    img = flat(90)
    assert np.all(contrast.luminance_contrast(img) == 0)
    assert np.all(contrast.contrast_masking(img) == 0)
    assert np.all(pattern.orientation_codes(img) == pattern.SMOOTH_CODE)
    assert np.all(pattern.pattern_complexity_count(img) == 1)
    pc = pattern.pattern_complexity(img)
    assert pc[N // 2, N // 2] == pytest.approx(1.0)
    assert pc[0, 0] == pytest.approx((1 + 2 * E5 + E1) / G3_SUM)  # zero padding
    assert pc[0, N // 2] == pytest.approx((1 + 3 * E5 + 2 * E1) / G3_SUM)
    assert pattern.complexity_transducer(np.array([1.0]))[0] == pytest.approx(0.15)
    assert np.all(pattern.pattern_masking(img) == 0)


def test_flat_edges_and_models():
    v = 100
    img = flat(v)
    assert np.all(edges.edge_height(img) == 0)
    assert edges.edge_threshold(edges.edge_height(img)) == 0.8  # 60 / 0 capped
    assert not edges.canny(img, 0.5).any()
    ep = edges.edge_protection(img)
    assert ep[N // 2, N // 2] == pytest.approx(1.0)
    g5 = luminance.fspecial_gaussian(5, 0.8)
    assert ep[0, 0] == pytest.approx(g5[2:, 2:].sum())  # zero padding of filter2
    # Wu 2017 on a flat field: VM = 0 so JND = LA.
    parts = wu2017_components(img)
    assert parts["jnd"][N // 2, N // 2] == pytest.approx(
        0.7 * T(math.floor(32 + v * 95 / 127 + 0.5))
    )
    # Yang: JNDt = 0.5 - 0.01 v; NAMM with JNDl = T(v).
    tm = 0.5 - 0.01 * v
    la = T(v)
    y = yang2005_components(img)
    assert y["texture_masking"][N // 2, N // 2] == pytest.approx(tm)
    assert y["jnd"][N // 2, N // 2] == pytest.approx(la + tm - 0.3 * min(la, tm))
    assert chou_li1995(img)[N // 2, N // 2, 0] == pytest.approx(max(la, tm))


# --------------------------------------------------------------------------- step edge


@pytest.mark.parametrize(("a", "b"), [(40, 200), (200, 40)])
def test_step_gradients(a, b):
    img = step(a, b)
    r = N // 2
    h = abs(b - a)
    gm = edges.max_gradient(img)[r, 28:36]
    # G4 columns sum to (16, 0, -16); G2/G3 reach a step 2 columns away with weight 1.
    np.testing.assert_allclose(gm, [0, 0, h / 16, h, h, h / 16, 0, 0], atol=1e-9)
    bg = luminance.background_luminance(img)[r, 31]
    assert bg == pytest.approx((19 * a + 13 * b) / 32)  # B's column sums 5, 8, 6 | 8, 5
    lc = contrast.luminance_contrast(img)[r, 28:36]
    expected = h * np.sqrt([0, 0, 0.16, 0.24, 0.24, 0.16, 0, 0])  # p(1 - p) of the 5 columns
    np.testing.assert_allclose(lc, expected, atol=1e-9)
    cm = contrast.contrast_masking(img)[r, 31]
    s = h * math.sqrt(0.24)
    assert cm == pytest.approx(1.84 * s**2.4 / (s * s + 26 * 26), rel=1e-6)
    tex = texture.texture_masking(img, edge_weighted=False)[r, 31]
    assert tex == pytest.approx(h * (0.0001 * bg + 0.115) + 0.5 - 0.01 * bg, rel=1e-6)


@pytest.mark.parametrize(("a", "b"), [(40, 200), (200, 40)])
def test_step_orientation_and_complexity(a, b):
    img = step(a, b)
    codes = pattern.orientation_codes(img)
    # A horizontal gradient is 0 or 180 degrees -> folded to 0 -> +90 -> round(90 / 12) = 8.
    assert np.all(codes[:, 31:33] == 8)
    assert np.all(codes[:, :31] == pattern.SMOOTH_CODE)
    assert np.all(codes[:, 33:] == pattern.SMOOTH_CODE)
    count = pattern.pattern_complexity_count(img)
    assert np.all(count[1:-1, 31:33] == 2)  # {8, smooth}
    assert np.all(count[:, :31] == 1) and np.all(count[:, 33:] == 1)
    pc = pattern.pattern_complexity(img)[N // 2, 31]
    side = (E5 + 2 * E1) / G3_SUM
    centre = (1 + 2 * E5) / G3_SUM
    assert pc == pytest.approx(1 * side + 2 * centre + 2 * side)


def test_step_canny_and_edge_protection():
    img = step(40, 200)
    e = edges.canny(img, 0.5)
    # The step lies between columns 31 and 32: both have the same magnitude (a tie) and both
    # are kept; the 1-pixel frame never is.
    assert np.all(e[1:-1, 31:33])
    assert e.sum() == 2 * (N - 2)
    ep = edges.edge_protection(img)
    # Dilation by strel('disk', 3) = 5x5 square: columns 29..34 are edge everywhere, so the
    # 5x5 Gaussian sees no non-edge pixel at columns 31, 32 and EP is 0 there.
    assert np.all(ep[:, 31:33] == 0)
    assert ep[N // 2, 10] == pytest.approx(1.0)


# --------------------------------------------------------------------------- gratings


def test_vertical_grating_contrast_and_gradient():
    period, amp = 8, 60.0
    img = grating(period, amp)
    x = np.arange(N)
    r = N // 2
    for c in range(4, 12):
        window = 128 + amp * np.sin(2 * np.pi * (x[c - 2 : c + 3]) / period)
        assert contrast.luminance_contrast(img)[r, c] == pytest.approx(window.std(), rel=1e-6)
        d1 = amp * (np.sin(2 * np.pi * (c - 1) / period) - np.sin(2 * np.pi * (c + 1) / period))
        d2 = amp * (np.sin(2 * np.pi * (c - 2) / period) - np.sin(2 * np.pi * (c + 2) / period))
        expected = max(abs(16 * d1), abs(11 * d1 + d2)) / 16  # G4 vs G2/G3 column sums
        assert edges.max_gradient(img)[r, c] == pytest.approx(expected, rel=1e-6, abs=1e-5)
        w = np.array([5, 8, 6, 8, 5]) / 32  # column sums of B
        bg = float(w @ (128 + amp * np.sin(2 * np.pi * x[c - 2 : c + 3] / period)))
        assert luminance.background_luminance(img)[r, c] == pytest.approx(bg, rel=1e-6)
        la = luminance.luminance_adaptation(img, variant="yang2005")[r, c]
        assert la == pytest.approx(T(bg), abs=1e-5)


def test_horizontal_grating_keeps_codes_0_and_15_apart():
    # Gradients along +y give 90 degrees -> 180 -> code 15; along -y, -90 -> 0 -> code 0.
    # MATLAB bins them apart although both are horizontal edges; so does jndtf.
    img = grating(8, 60.0, axis=0)
    codes = pattern.orientation_codes(img)[:, N // 2]
    rising = [r for r in range(2, N - 2) if img[r + 1, 0] - img[r - 1, 0] > 15]
    falling = [r for r in range(2, N - 2) if img[r + 1, 0] - img[r - 1, 0] < -15]
    assert rising and falling
    assert np.all(codes[rising] == 15)
    assert np.all(codes[falling] == 0)


def test_matlab_round_and_threshold_curve():
    np.testing.assert_array_equal(
        luminance.round_half_away(np.array([0.5, 1.5, 2.5, -0.5, -2.5, 2.4999])),
        [1, 2, 3, -1, -3, 2],
    )
    np.testing.assert_allclose(
        luminance.luminance_threshold(np.array([0.0, 127.0, 255.0])), [20.0, 3.0, 6.0]
    )
    np.testing.assert_allclose(
        luminance.dark_background_remap(np.array([0.0, 127.0, 200.0])), [32.0, 127.0, 200.0]
    )
