"""Picture-level JND of JPEG compression under a JND-map or PSNR criterion."""

from __future__ import annotations

import numpy as np
import pytest

from jndtf.apply.picture_jnd import (
    jpeg_round_trip,
    picture_jnd_jpeg,
    psnr_db,
    visible_fraction,
)
from jndtf.samples import sample_image


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return sample_image("astronaut")[100:228, 150:278]


def test_stops_at_first_failure(photo):
    jnd = np.full(photo.shape[:2], 3.0)
    res = picture_jnd_jpeg(photo, visible_fraction(jnd), 0.05)
    assert res.quality is not None and res.failed_at == res.quality - 1
    assert all(s <= 0.05 for q, s in res.scores.items() if q >= res.quality)
    assert res.scores[res.failed_at] > 0.05
    decoded, nbytes = jpeg_round_trip(photo, res.quality)
    np.testing.assert_array_equal(res.image, decoded)
    assert res.nbytes == nbytes


def test_psnr_threshold_orders_the_result(photo):
    strict = picture_jnd_jpeg(photo, psnr_db, 40.0, higher_is_better=True)
    loose = picture_jnd_jpeg(photo, psnr_db, 30.0, higher_is_better=True)
    assert strict.quality > loose.quality
    assert strict.nbytes > loose.nbytes
    assert strict.scores[strict.quality] >= 40.0


def test_extremes(photo):
    zero = picture_jnd_jpeg(photo, visible_fraction(np.zeros(photo.shape[:2])), 0.0)
    assert zero.quality is None and zero.failed_at == 100 and zero.image is None
    huge = picture_jnd_jpeg(photo, visible_fraction(np.full(photo.shape[:2], 300.0)), 0.0)
    assert huge.quality == 1 and huge.failed_at is None


def test_luma_map_ignores_chroma_only_error(photo):
    jnd = np.full(photo.shape[:2], 1.0)
    shifted = photo.astype(np.float64)
    # A change with zero BT.601 luma: +R, -G·(0.299/0.587).
    shifted[..., 0] += 10.0
    shifted[..., 1] -= 10.0 * 0.299 / 0.587
    assert visible_fraction(jnd)(photo, shifted) == 0.0
    assert visible_fraction(np.stack([jnd] * 3, axis=-1))(photo, shifted) > 0.5


def test_errors(photo):
    with pytest.raises(ValueError, match="quality"):
        jpeg_round_trip(photo, 0)
    with pytest.raises(ValueError, match="uint8"):
        picture_jnd_jpeg(photo.astype(np.float32), psnr_db, 30.0, higher_is_better=True)
    with pytest.raises(ValueError, match="fit"):
        visible_fraction(np.ones((10, 10)))(photo, photo)
    with pytest.raises(ValueError, match=">= 0"):
        visible_fraction(-np.ones(photo.shape[:2]))
