"""jndtf.metrics, the one numpy PSNR: against scikit-image's peak_signal_noise_ratio and cases
computed by hand; every former copy (apply, codecs, edge) is this function."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio

from jndtf.metrics import mse, mse_from_psnr, psnr, psnr_from_mse

# Tolerances: skimage sums the same float64 squares in another order (numpy mean vs OpenCV's
# integer sum); 1e-10 dB is ~1e6 times the relative rounding of a float64 sum of 1e5 terms.
SKIMAGE_DB = 1e-10


@pytest.fixture(scope="module")
def pair() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    x = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    noise = rng.integers(-9, 10, x.shape)
    return x, np.clip(x.astype(int) + noise, 0, 255).astype(np.uint8)


def test_hand_computed_case():
    # one pixel of four off by 2, by 4 and by 6: MSE = (4 + 16 + 36 + 0) / 4 = 14
    a = np.array([[10, 20], [30, 40]], np.uint8)
    b = np.array([[12, 16], [36, 40]], np.uint8)
    assert mse(a, b) == 14.0
    # 65025 / 14 = 4644.64..., log10 = 3.666952...: 36.6695 dB (4 decimals, hence 1e-4)
    assert psnr(a, b) == pytest.approx(36.6695, abs=1e-4)


def test_uint8_does_not_wrap():
    # 0 - 255 in uint8 would wrap to 1; the squared error is 255^2, PSNR exactly 0 dB
    assert psnr(np.zeros((4, 4), np.uint8), np.full((4, 4), 255, np.uint8)) == 0.0


def test_identical_is_inf_and_conversions_invert():
    x = np.arange(64, dtype=np.uint8).reshape(8, 8)
    assert psnr(x, x) == math.inf
    assert psnr_from_mse(0.0) == math.inf
    assert mse_from_psnr(psnr_from_mse(160.9)) == pytest.approx(160.9, rel=1e-12)


def test_matches_skimage_uint8_float_and_range(pair):
    x, y = pair
    assert psnr(x, y) == pytest.approx(peak_signal_noise_ratio(x, y), abs=SKIMAGE_DB)
    assert mse(x, y) == pytest.approx(mean_squared_error(x, y), rel=1e-12)
    # float 0..255 (jndtf's convention) and float 0..1 with its own data range
    xf, yf = x.astype(np.float32), y.astype(np.float32)
    ref = peak_signal_noise_ratio(xf, yf, data_range=255)
    assert psnr(xf, yf) == pytest.approx(ref, abs=SKIMAGE_DB)
    ref01 = peak_signal_noise_ratio(xf / 255, yf / 255, data_range=1.0)
    assert psnr(xf / 255, yf / 255, data_range=1.0) == pytest.approx(ref01, abs=1e-6)  # f32 /255
    # uint16 with a 12-bit range, mixed dtypes (a float map against a uint8 image)
    x16, y16 = x.astype(np.uint16) * 16, y.astype(np.uint16) * 16
    assert psnr(x16, y16, 4095) == pytest.approx(
        peak_signal_noise_ratio(x16, y16, data_range=4095), abs=SKIMAGE_DB
    )
    assert psnr(x, yf) == pytest.approx(peak_signal_noise_ratio(xf, yf, data_range=255), abs=1e-9)


def test_any_shape_batches(pair):
    x, y = pair
    batch_x, batch_y = np.stack([x, x]), np.stack([y, x])  # NHWC, half the error
    assert psnr(batch_x, batch_y) == pytest.approx(psnr(x, y) + 10 * math.log10(2), abs=1e-9)


def test_refusals():
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(np.zeros((8, 8), np.uint8), np.zeros((8, 9), np.uint8))
    with pytest.raises(ValueError, match="data_range must be > 0"):
        psnr(np.zeros((8, 8)), np.ones((8, 8)), data_range=0)
    with pytest.raises(ValueError, match="unsupported dtype bool"):
        psnr(np.zeros((8, 8), bool), np.ones((8, 8), bool))
    with pytest.raises(ValueError, match="empty"):
        psnr(np.zeros((0, 8)), np.zeros((0, 8)))


def test_former_copies_are_this_function(pair):
    import importlib

    inject = importlib.import_module("jndtf.apply.inject")  # the package re-exports inject()
    codecs_quality = importlib.import_module("jndtf.codecs.quality")
    edge_quality = importlib.import_module("jndtf.edge.quality")
    picture_jnd = importlib.import_module("jndtf.apply.picture_jnd")
    assert edge_quality.psnr is psnr
    assert inject.psnr_from_mse is psnr_from_mse and inject.mse_from_psnr is mse_from_psnr
    x, y = pair
    assert picture_jnd.psnr_db(x, y) == psnr(x, y) == codecs_quality.psnr(x, y)


def test_core_module_imports_no_edge_and_no_tensorflow():
    code = (
        "import sys, jndtf.metrics, jndtf.apply, jndtf.codecs.quality\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')\n"
        "       or m.startswith('jndtf.edge')]\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_rca_eq16_hand_count_and_eq17_paper_figures():
    from jndtf.metrics import mean_rca, rca_from_counts, relative_classification_accuracy

    # 5 frames, labels kept on frames 0, 2 and 3: 3 / 5
    assert relative_classification_accuracy([7, 2, 2, 9, 0], [7, 5, 2, 9, 1]) == 3 / 5
    assert math.isnan(relative_classification_accuracy([], []))
    assert math.isnan(rca_from_counts(0, 0))
    # DMV-JND §IV-B: testing RCAs 91.17, 93.03, 93.48, 91.05 % average to "92.18 %" (eq. 17);
    # the paper rounds to 2 decimals, hence 0.005 points
    assert 100 * mean_rca([0.9117, 0.9303, 0.9348, 0.9105]) == pytest.approx(92.18, abs=0.005)
    with pytest.raises(ValueError, match="one length"):
        relative_classification_accuracy([1, 2], [1])
    with pytest.raises(ValueError, match="agreed <= total"):
        rca_from_counts(3, 2)
    with pytest.raises(ValueError, match="at least one classifier"):
        mean_rca([])
