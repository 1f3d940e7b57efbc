"""jndtf.edge.quality (numpy/OpenCV PSNR and MS-SSIM) against independent implementations:
scikit-image and OpenCV (PSNR), piq (PyTorch) and jndtf.iqa's TensorFlow MS-SSIM, on real photos."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import skimage.metrics
from jndtf.edge.quality import MS_SSIM_MIN_SIDE, ms_ssim, psnr

from jndtf.samples import sample_image

#: float32 statistics here against float32 (TF) / float64 (piq) elsewhere: agreement to 1e-4
#: is what "the same metric" means for a per-frame report (scores differ in the 2nd decimal
#: between distortion levels).
MS_SSIM_TOL = 1e-4


def _distortions(image: np.ndarray) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    noise = np.clip(image.astype(np.int16) + rng.integers(-20, 21, image.shape), 0, 255)
    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 20])
    assert ok
    return {
        "blur": cv2.GaussianBlur(image, (5, 5), 1.2),
        "noise": noise.astype(np.uint8),
        "jpeg20": cv2.imdecode(jpeg, cv2.IMREAD_UNCHANGED),
        "brighter": np.clip(image.astype(np.int16) + 30, 0, 255).astype(np.uint8),
    }


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    # odd height and width: the symmetric-border halving between scales is exercised
    return sample_image("astronaut")[:301, :257].copy()


def test_psnr_closed_form_and_identical():
    a = np.zeros((8, 8, 3), np.uint8)
    assert psnr(a, a + 1) == pytest.approx(10 * math.log10(255**2))  # MSE 1
    assert psnr(a, a) == math.inf
    assert psnr(a.astype(np.float32), a + 0.5, data_range=1.0) == pytest.approx(
        10 * math.log10(1 / 0.25)
    )


def test_psnr_matches_skimage_and_opencv(photo):
    for name, dist in _distortions(photo).items():
        ours = psnr(photo, dist)
        assert ours == pytest.approx(
            skimage.metrics.peak_signal_noise_ratio(photo, dist, data_range=255), abs=1e-9
        ), name
        assert ours == pytest.approx(cv2.PSNR(photo, dist), abs=1e-9), name


def test_psnr_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9, 3), np.uint8))


def test_ms_ssim_identical_is_one_and_order_follows_distortion(photo):
    assert ms_ssim(photo, photo) == pytest.approx(1.0, abs=1e-12)
    mild = cv2.GaussianBlur(photo, (3, 3), 0.6)
    strong = cv2.GaussianBlur(photo, (9, 9), 3.0)
    assert 1.0 > ms_ssim(photo, mild) > ms_ssim(photo, strong) > 0.0


def test_ms_ssim_refuses_small_frames():
    a = np.zeros((MS_SSIM_MIN_SIDE - 1, 300, 3), np.uint8)
    with pytest.raises(ValueError, match=f"at least {MS_SSIM_MIN_SIDE} px"):
        ms_ssim(a, a)


def test_ms_ssim_matches_piq_on_grey_photos():
    """piq's multi_scale_ssim (PyTorch, float64) on grey 256x256 crops: piq's 2x2 average pool
    equals msssim.m's halving when every scale has even sides."""
    from iqa_piq import require_piq

    (piq_ms_ssim,) = require_piq("ms_ssim")
    import torch

    grey = cv2.cvtColor(sample_image("coffee"), cv2.COLOR_RGB2GRAY)[:256, 100:356]
    for name, dist in _distortions(grey).items():
        ref = piq_ms_ssim(
            torch.from_numpy(grey.astype(np.float64))[None, None],
            torch.from_numpy(dist.astype(np.float64))[None, None],
            data_range=255.0,
        ).item()
        assert ms_ssim(grey, dist) == pytest.approx(ref, abs=MS_SSIM_TOL), name


@pytest.mark.tf
def test_ms_ssim_matches_jndtf_iqa_on_rgb_photos(photo):
    """jndtf.iqa's MS-SSIM (TensorFlow, MATLAB msssim.m conventions) on uint8 RGB, odd sizes."""
    pytest.importorskip("keras")
    from jndtf.iqa.msssim import ms_ssim as tf_ms_ssim

    coffee = sample_image("coffee")[:200, :333]
    for image in (photo, coffee):
        for name, dist in _distortions(image).items():
            ref = float(tf_ms_ssim(image[None], dist[None])[0])
            assert ms_ssim(image, dist) == pytest.approx(ref, abs=MS_SSIM_TOL), name
