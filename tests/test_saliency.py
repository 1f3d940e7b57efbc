"""Spectral residual saliency (Hou & Zhang 2007) and the centre prior: closed-form properties."""

from __future__ import annotations

import numpy as np
import pytest

from jndtf.io import ImageError
from jndtf.priors.saliency import centre_bias, saliency, spectral_residual


def _blob_image(h: int = 120, w: int = 160, top: int = 30, left: int = 110) -> np.ndarray:
    img = np.full((h, w), 100, np.uint8)
    img[top : top + 8, left : left + 8] = 220
    return img


def test_output_contract_grey_and_rgb():
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (48, 80), dtype=np.uint8)
    for img in (grey, np.repeat(grey[..., None], 3, axis=2), grey.astype(np.float32)):
        s = spectral_residual(img)
        assert s.shape == (48, 80)
        assert s.dtype == np.float32
        assert np.isfinite(s).all()
        assert float(s.min()) == 0.0 and float(s.max()) == 1.0


def test_flat_image_gives_uniform_map():
    for value in (0, 37, 255):
        s = spectral_residual(np.full((64, 96), value, np.uint8))
        assert s.shape == (64, 96)
        assert np.ptp(s) == 0.0


def test_small_bright_blob_is_the_most_salient_area():
    s = spectral_residual(_blob_image())
    y, x = np.unravel_index(int(np.argmax(s)), s.shape)
    # the 8x8 blob spans rows 30..37, cols 110..117: the peak lies on it or at its rim
    assert 26 <= y <= 41 and 106 <= x <= 121, (y, x)
    blob = s[30:38, 110:118].mean()
    far = np.concatenate([s[:, :60].ravel(), s[80:, :].ravel()])
    assert blob > 0.7
    assert blob > 10 * far.mean()


def test_blob_position_follows_the_blob():
    a = spectral_residual(_blob_image(top=80, left=20))
    y, x = np.unravel_index(int(np.argmax(a)), a.shape)
    assert 76 <= y <= 91 and 16 <= x <= 31, (y, x)


def test_invariant_to_brightness_scaling():
    rng = np.random.default_rng(1)
    img = np.clip(rng.normal(120, 30, (72, 96)), 0, 255).astype(np.float32)
    a = spectral_residual(img)
    b = spectral_residual(img * 0.5)
    np.testing.assert_allclose(a, b, atol=1e-5)
    # uint8 scaling rounds the pixels: only small differences remain
    u = np.round(img).astype(np.uint8)
    c = spectral_residual(u)
    d = spectral_residual(np.round(u * 0.8).astype(np.uint8))
    assert np.corrcoef(c.ravel(), d.ravel())[0, 1] > 0.98


def test_centre_bias_peaks_at_the_centre():
    c = centre_bias(65, 97)
    assert c.dtype == np.float32 and c.shape == (65, 97)
    assert float(c[32, 48]) == pytest.approx(1.0)
    assert float(c[0, 0]) < float(c[16, 24]) < float(c[32, 48])
    # symmetric about both axes
    np.testing.assert_allclose(c, c[::-1, ::-1], atol=1e-7)


def test_centre_variant_prefers_the_centre():
    rng = np.random.default_rng(2)
    img = np.full((96, 96), 90, np.uint8)
    img += rng.integers(0, 3, img.shape, dtype=np.uint8)
    img[8:14, 8:14] = 230  # corner blob
    img[45:51, 45:51] = 230  # centre blob, same size and contrast
    plain = saliency(img)
    centred = saliency(img, method="spectral_residual_centre", centre_weight=0.8)
    assert centred.dtype == np.float32 and float(centred.max()) == 1.0
    ratio_plain = plain[45:51, 45:51].mean() / plain[8:14, 8:14].mean()
    ratio_centred = centred[45:51, 45:51].mean() / centred[8:14, 8:14].mean()
    assert ratio_centred > ratio_plain


def test_bad_inputs_raise():
    img = _blob_image()
    with pytest.raises(ValueError):
        saliency(img, method="itti")
    with pytest.raises(ValueError):
        saliency(img, method="spectral_residual_centre", centre_weight=1.5)
    with pytest.raises(ValueError):
        spectral_residual(img, width=4)
    with pytest.raises(ValueError):
        centre_bias(10, 10, sigma=0)
    with pytest.raises(ImageError):
        spectral_residual(np.zeros((10, 10), np.uint8))
    with pytest.raises(ImageError):
        spectral_residual(np.full((40, 40), 300.0))


@pytest.mark.slow
def test_real_photo_runs():
    skimage_data = pytest.importorskip("skimage.data")
    s = saliency(skimage_data.astronaut())
    assert s.shape == (512, 512) and s.dtype == np.float32
    assert 0.0 < float(s.mean()) < 0.6
