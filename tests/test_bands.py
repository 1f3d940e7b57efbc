"""Classical models streamed by bands (jndtf.baselines._bands) equal the whole-image models.

The reference is each registered model run on the whole image (its own tests tie it to the
MATLAB-derived references). A band plus its halo performs, for every kept row, the same float
operations on the same values as the whole image (OpenCV's filters do not depend on the row's
position in the array), so the maps are compared bit for bit; the whole-image quantities
(Canny's peak and hysteresis, Wu 2017's threshold) are computed once, so they agree too.
"""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from jndtf import baselines
from jndtf.baselines._bands import (
    BAND_SPECS,
    _canny_peak,
    _Rows,
    _weak_strong,
    band_rows_for,
    banded_canny,
    run_banded,
)
from jndtf.priors.edges import CANNY_SIGMA, canny_f64, hysteresis


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """300x200 crop of a real photo (scikit-image's astronaut: face, suit, flag, edges)."""
    return np.ascontiguousarray(data.astronaut()[100:400, 150:350])


def test_every_registered_model_has_a_band_declaration():
    assert sorted(BAND_SPECS) == baselines.available()


_CASES = [
    (model, rows)
    for model in ("chou_li1995", "chen2019", "yang2005", "wu2017")
    for rows in (1, 7, 64)
] + [("wu2013", 37)]  # wu2013's AR step costs ~1 s per 0.25 MP: one band size (8 seams)


@pytest.mark.parametrize(("model", "band_rows"), _CASES)
def test_banded_equals_whole_image(photo, model, band_rows):
    whole = baselines.get(model)(photo)
    banded = run_banded(model, photo, band_rows=band_rows)
    assert banded.shape == whole.shape == (300, 200, 1)
    assert banded.dtype == np.float32
    # bit for bit (module docstring): the same operations on the same values per pixel
    np.testing.assert_array_equal(banded, whole)


def test_liu2010_banded_equals_whole_image():
    # TV-L1's halo is 310 rows (300 iterations reach one pixel further each), so the image must
    # be taller than that for a band to see less than all of it: 812x96, bands of 200 rows.
    tall = np.concatenate(
        [data.astronaut()[:, :96], np.repeat(data.camera()[:300, :96, None], 3, axis=2)], 0
    )
    whole = baselines.get("liu2010")(tall)
    banded = run_banded("liu2010", tall, band_rows=200)
    np.testing.assert_array_equal(banded, whole)


def test_grey_and_float_input(photo):
    grey = data.camera()[:120, :90].astype(np.float64) + 0.25
    np.testing.assert_array_equal(
        run_banded("wu2017", grey, band_rows=9), baselines.get("wu2017")(grey)
    )


def _seam_crossing_edge() -> np.ndarray:
    """A vertical step edge whose contrast falls from 120 (top) to 40 (bottom) grey levels: with
    Canny's thresholds 0.5 / 0.2 of the peak, the edge pixels below row ~120 are weak and belong
    to the edge only through the strong pixels many bands above them (hysteresis across seams)."""
    img = np.full((160, 64), 60.0)
    contrast = np.linspace(120.0, 40.0, 160)
    img[:, 32:] += contrast[:, None]
    rng = np.random.default_rng(3)
    img += rng.normal(0, 0.5, img.shape)  # a little texture, far below the edge's contrast
    return np.clip(img, 0, 255)


@pytest.mark.parametrize("band_rows", [1, 5, 16, 200])
def test_banded_canny_equals_matlab_style_canny(band_rows):
    img = _seam_crossing_edge()
    whole = canny_f64(img, 0.5, None, CANNY_SIGMA)
    bits = banded_canny(_Rows(img), 0.5, band_rows=band_rows)
    banded = np.unpackbits(bits, axis=1, count=img.shape[1]).astype(bool)
    np.testing.assert_array_equal(banded, whole)
    # the weak lower part of the edge is kept only through hysteresis across the seams
    assert whole[130:150, 30:34].any(axis=1).all()


def test_without_the_seam_union_the_weak_edge_is_lost():
    """The union across seams is what keeps the weak part: the same weak/strong pixels with
    hysteresis run per band alone drop it (its band holds no strong pixel)."""
    img = _seam_crossing_edge()
    rows = _Rows(img)
    peak = _canny_peak(rows, 40, CANNY_SIGMA)
    parts = []
    for r0 in range(0, 160, 40):
        weak, strong = _weak_strong(rows, r0, r0 + 40, peak, 0.5, 0.2, CANNY_SIGMA)
        parts.append(hysteresis(weak, strong))
    alone = np.concatenate(parts)
    assert not alone[130:150].any()
    assert canny_f64(img, 0.5, None, CANNY_SIGMA)[130:150].any()


def test_band_rows_default_scales_with_width():
    assert band_rows_for("yang2005", 1000, band_pixels=1 << 20) == (1 << 20) // 1000
    assert band_rows_for("liu2010", 100_000) == 2 * BAND_SPECS["liu2010"].halo  # >= 2 halos
    with pytest.raises(KeyError, match="banded"):
        run_banded("nope", np.zeros((40, 40), np.uint8))
    with pytest.raises(ValueError, match="band_rows"):
        run_banded("yang2005", np.zeros((40, 40), np.uint8), band_rows=0)


def test_compute_jnd_uses_bands_above_the_tile_and_matches(photo):
    from jndtf.jobs import compute_jnd

    big = np.ascontiguousarray(np.tile(photo, (2, 2, 1)))  # 600x400 > 256^2 pixels: banded
    np.testing.assert_array_equal(
        compute_jnd(big, "yang2005", tile=256), compute_jnd(big, "yang2005", tile=0)
    )


def test_progress_reports_every_band(photo):
    seen = []
    run_banded("chou_li1995", photo, band_rows=64, progress=lambda done, total: seen.append(done))
    assert seen == [64, 128, 192, 256, 300]
