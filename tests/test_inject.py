"""Eq. (7) (ACoL-JND) / eq. (13) (hmJND) noise injection at a target PSNR or MSE."""

from __future__ import annotations

import math

import numpy as np
import pytest

from jndtf.apply.inject import (
    InjectionError,
    inject,
    mse_from_psnr,
    psnr_from_mse,
    random_signs,
)
from jndtf.samples import sample_image

# Tolerances, and why they are what they are:
#: The operating points of the papers must be met to 0.01 dB (the brief; 0.23 % of the MSE).
TOL_DB = 0.01
#: Without rounding λ is solved in closed form: only float64/float32 round-off remains.
TOL_DB_EXACT = 1e-5

ACOL_PSNR = 26.06  # ACoL-JND, Section 4
HMJND_MSE = 100.0  # hmJND-Net, Section 4.1


def _luminance_jnd(image: np.ndarray) -> np.ndarray:
    """A small stand-in JND (Chou & Li luminance adaptation on a 5x5 mean), HxW float32.

    Only here to give the photos without a reference map a realistic, spatially varying map.
    """
    import cv2

    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    bg = cv2.blur(grey, (5, 5))
    dark = 17.0 * (1.0 - np.sqrt(bg / 127.0)) + 3.0
    bright = 3.0 / 128.0 * (bg - 127.0) + 3.0
    return np.where(bg <= 127, dark, bright).astype(np.float32)


def _reference_jnd(shared_dir, name: str, port: str) -> np.ndarray:
    return np.load(shared_dir / "data" / "jnd-reference" / f"{name}_{port}.npz")["jnd"]


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


# Real photos with the maps of independent ports of Wu 2017 / Yang 2005 / Wu 2013 (plateaus in
# the Wu 2013 map make many pixels round at the same λ), and two photos with the stand-in map.
REFERENCE_CASES = [
    ("astronaut", "wu2017_whakdm"),
    ("coffee", "yang2005_openjnd"),
    ("astronaut", "wu2013_whakdm"),
]


@pytest.mark.parametrize("quantize", [True, False])
@pytest.mark.parametrize(("name", "port"), REFERENCE_CASES)
def test_paper_operating_points_on_reference_maps(shared_dir, name, port, quantize):
    image = sample_image(name)
    jnd = _reference_jnd(shared_dir, name, port)
    tol = TOL_DB if quantize else TOL_DB_EXACT
    for kwargs in ({"psnr": ACOL_PSNR}, {"mse": HMJND_MSE}):
        res = inject(image, jnd, quantize=quantize, **kwargs)
        target = kwargs.get("psnr", psnr_from_mse(kwargs.get("mse", 0.0)))
        measured = _mse(res.image, image)  # measured independently of the result's own numbers
        assert abs(psnr_from_mse(measured) - target) <= tol, (kwargs, measured)
        assert res.mse == pytest.approx(measured, rel=1e-9)
        assert res.image.dtype == (np.uint8 if quantize else np.float32)
        assert res.image.shape == image.shape
        assert res.scale > 0


@pytest.mark.parametrize("name", ["rocket", "chelsea"])
@pytest.mark.parametrize("signs", ["per_channel", "shared"])
def test_operating_points_other_photos(name, signs):
    image = sample_image(name)[::2, ::2]  # half size: still a real photo, 4x faster
    jnd = _luminance_jnd(image)
    for quantize in (True, False):
        res = inject(image, jnd[..., None], psnr=ACOL_PSNR, quantize=quantize, signs=signs)
        assert abs(psnr_from_mse(_mse(res.image, image)) - ACOL_PSNR) <= TOL_DB
        res = inject(image, jnd, mse=HMJND_MSE, quantize=quantize, signs=signs)
        assert abs(psnr_from_mse(_mse(res.image, image)) - psnr_from_mse(HMJND_MSE)) <= TOL_DB


def test_rgb_jnd_map_and_float_image():
    image = sample_image("coffee")[::2, ::2]
    jnd = np.stack([_luminance_jnd(image) * f for f in (1.0, 0.5, 2.0)], axis=-1)
    res = inject(image.astype(np.float32), jnd, psnr=30.0, quantize=False)
    assert abs(res.psnr - 30.0) <= TOL_DB_EXACT
    # Each channel moves in proportion to its own map wherever it is not clipped.
    d = np.abs(res.image - image.astype(np.float32))
    unclipped = (res.image > 0) & (res.image < 255)
    ratio = d[unclipped] / np.broadcast_to(jnd, d.shape)[unclipped]
    np.testing.assert_allclose(ratio, res.scale, rtol=1e-5)


def test_formula_with_fixed_scale():
    image = sample_image("chelsea")
    jnd = _luminance_jnd(image)
    res = inject(image, jnd, scale=1.5, seed=3, quantize=False)
    r = random_signs(image.shape, seed=3)
    expected = np.clip(image + 1.5 * r * jnd[..., None], 0, 255)
    np.testing.assert_allclose(res.image, expected, atol=1e-4)
    assert res.scale == 1.5 and res.seed == 3
    assert res.psnr == pytest.approx(psnr_from_mse(_mse(res.image, image)))
    quantized = inject(image, jnd, scale=1.5, seed=3)
    assert np.abs(quantized.image.astype(np.float64) - expected).max() <= 0.5 + 1e-6


def test_signs_convention():
    r = random_signs((40, 50, 3), seed=1)
    assert r.dtype == np.int8 and set(np.unique(r)) == {-1, 1}
    assert abs(r.mean()) < 0.05
    assert not np.all(r[..., 0] == r[..., 1])  # per channel: independent
    shared = random_signs((40, 50, 3), seed=1, signs="shared")
    assert shared.shape == (40, 50, 1)
    image = np.full((40, 50, 3), 128, np.uint8)
    res = inject(image, np.full((40, 50), 4.0), scale=1.0, signs="shared", quantize=False)
    assert np.all(res.image[..., 0] == res.image[..., 1])
    assert np.all(res.image[..., 1] == res.image[..., 2])


def test_seeded_reproducibility():
    image = sample_image("chelsea")
    jnd = _luminance_jnd(image)
    a = inject(image, jnd, psnr=ACOL_PSNR, seed=7)
    b = inject(image, jnd, psnr=ACOL_PSNR, seed=7)
    c = inject(image, jnd, psnr=ACOL_PSNR, seed=8)
    np.testing.assert_array_equal(a.image, b.image)
    assert a.scale == b.scale
    assert np.any(a.image != c.image)


@pytest.mark.parametrize("quantize", [True, False])
def test_mse_monotone_in_scale(quantize):
    image = sample_image("astronaut")[::4, ::4]
    jnd = _luminance_jnd(image)
    scales = np.linspace(0.0, 40.0, 81)
    mses = [inject(image, jnd, scale=float(s), quantize=quantize).mse for s in scales]
    assert mses[0] == 0.0
    assert np.all(np.diff(mses) >= 0)
    assert mses[-1] > 3000  # heavily clipped at the top of the range


def test_grey_image():
    grey = sample_image("coffee")[..., 1]
    res = inject(grey, np.full(grey.shape, 3.0, np.float32), mse=HMJND_MSE)
    assert res.image.shape == grey.shape
    assert abs(psnr_from_mse(_mse(res.image, grey)) - psnr_from_mse(HMJND_MSE)) <= TOL_DB


def test_conversions():
    assert mse_from_psnr(psnr_from_mse(160.9)) == pytest.approx(160.9)
    assert psnr_from_mse(100.0) == pytest.approx(28.1308, abs=1e-4)
    assert psnr_from_mse(0.0) == math.inf


# Errors -------------------------------------------------------------------------------------


@pytest.fixture
def small():
    image = sample_image("chelsea")[:64, :64]
    return image, np.full((64, 64), 3.0, np.float32)


def test_target_arguments(small):
    image, jnd = small
    with pytest.raises(InjectionError, match="exactly one"):
        inject(image, jnd)
    with pytest.raises(InjectionError, match=r"exactly one.*psnr, mse"):
        inject(image, jnd, psnr=30.0, mse=50.0)
    with pytest.raises(ValueError, match="psnr"):
        inject(image, jnd, psnr=-3.0)
    with pytest.raises(ValueError, match="mse"):
        inject(image, jnd, mse=float("nan"))
    with pytest.raises(ValueError, match="scale"):
        inject(image, jnd, scale=-1.0)
    with pytest.raises(ValueError, match="seed"):
        inject(image, jnd, psnr=30.0, seed=-1)
    with pytest.raises(ValueError, match="signs"):
        inject(image, jnd, psnr=30.0, signs="luma")


def test_bad_jnd(small):
    image, jnd = small
    with pytest.raises(InjectionError, match="shape"):
        inject(image, jnd[:32], psnr=30.0)
    with pytest.raises(InjectionError, match="shape"):
        inject(image, np.ones((64, 64, 2)), psnr=30.0)
    bad = jnd.copy()
    bad[3, 3] = np.nan
    with pytest.raises(InjectionError, match="NaN"):
        inject(image, bad, psnr=30.0)
    bad[3, 3] = -1.0
    with pytest.raises(InjectionError, match="negative"):
        inject(image, bad, psnr=30.0)
    with pytest.raises(InjectionError, match="shape"):
        inject(image[..., :2], jnd, psnr=30.0)
    with pytest.raises(InjectionError, match=r"0\.\.255"):
        inject(image * 2.0, jnd, psnr=30.0)


def test_unreachable_targets(small):
    image, jnd = small
    with pytest.raises(InjectionError, match="zero everywhere"):
        inject(image, np.zeros_like(jnd), psnr=ACOL_PSNR)
    # 3 dB = MSE 32,600: more than pushing every pixel to 0 or 255 can give.
    with pytest.raises(
        InjectionError, match=r"out of reach.*at most MSE [\d.]+ \(PSNR [\d.]+ dB\)"
    ):
        inject(image, jnd, psnr=3.0)
    # A zero scale with a zero map is fine: nothing to solve.
    assert inject(image, np.zeros_like(jnd), scale=1.0).mse == 0.0


def test_rounding_granularity_reported():
    # A 64x64 grey image with a 0.1 JND: rounding moves pixels by 0 or 1 only, and the smallest
    # non-zero MSE is 1/4096; PSNR 80 dB (MSE 6.5e-4) lies between steps.
    image = np.full((64, 64), 100, np.uint8)
    with pytest.raises(InjectionError, match="cannot be met within"):
        inject(image, np.full((64, 64), 0.1), psnr=80.0)
    res = inject(image, np.full((64, 64), 0.1), psnr=80.0, quantize=False)
    # float32 output: 100 ± 0.0255 is stored to ~4e-6, 1e-4 of the deviation itself.
    assert abs(res.psnr - 80.0) <= TOL_DB
