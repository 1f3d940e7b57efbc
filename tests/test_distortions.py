"""jndtf.data.distortions: the 17 TID2008 types keep shape and dtype, are seeded, get worse with the
level, and the group mapping is complete. numpy + OpenCV only (no TensorFlow)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from skimage import data as skdata

from jndtf.data import distortions as D


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A 64x80 crop of scikit-image's astronaut (a real photo with edges, texture and flat sky)."""
    return np.ascontiguousarray(skdata.astronaut()[60:124, 180:260])


def _mse(a, b) -> float:
    return float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


def test_there_are_17_types_in_tid2008_order():
    assert len(D.NAMES) == 17
    assert [D.DISTORTIONS[n].tid2008 for n in D.NAMES] == list(range(1, 18))


@pytest.mark.parametrize("name", D.NAMES)
def test_shape_dtype_range_and_seed(photo, name):
    for img in (photo, photo.astype(np.float32)):
        out = D.distort(img, name, 3, seed=7)
        assert out.shape == img.shape and out.dtype == img.dtype
        assert out.min() >= 0 and out.max() <= 255
        np.testing.assert_array_equal(out, D.distort(img, name, 3, seed=7))
    odd = np.ascontiguousarray(photo[:37, :50])
    assert D.distort(odd, name, 5, seed=0).shape == odd.shape


@pytest.mark.parametrize("name", D.NAMES)
def test_severity_rises_with_level(photo, name):
    mse = [_mse(photo, D.distort(photo, name, level, seed=3)) for level in D.LEVELS]
    assert mse[0] > 0
    assert mse[0] < mse[2] < mse[4], f"{name}: MSE by level {mse}"
    assert all(b >= a for a, b in itertools.pairwise(mse)), f"{name}: {mse}"


def test_default_groups_follow_cd_mmf_and_validate():
    groups = D.check_groups()
    assert list(groups) == ["noise", "blur", "compression", "transmission", "other"]
    assert sorted(n for m in groups.values() for n in m) == sorted(D.NAMES)
    assert D.group_of("jpeg") == "compression" and D.group_index("jpeg") == 2
    assert D.group_of("contrast_change") == "other" and D.group_index("impulse_noise") == 0
    custom = {"a": D.NAMES[:10], "b": D.NAMES[10:]}
    assert D.group_index("jpeg2000", custom) == 1
    with pytest.raises(ValueError, match="missing types"):
        D.check_groups({"a": D.NAMES[:10], "b": D.NAMES[10:16]})
    with pytest.raises(ValueError, match="more than one group"):
        D.check_groups({"a": D.NAMES, "b": D.NAMES[:1]})
    with pytest.raises(ValueError, match="unknown types"):
        D.check_groups({"a": (*D.NAMES, "rain"), "b": ()})


def test_validation(photo):
    with pytest.raises(ValueError, match="level"):
        D.distort(photo, "jpeg", 6)
    with pytest.raises(ValueError, match="level"):
        D.distort(photo, "jpeg", 2.5)
    with pytest.raises(KeyError, match="unknown distortion"):
        D.distort(photo, "rain", 1)
    with pytest.raises(ValueError, match="HxWx3"):
        D.distort(photo[..., 0], "jpeg", 1)
    with pytest.raises(ValueError, match=">= 16"):
        D.distort(photo[:8, :8], "jpeg", 1)
    with pytest.raises(ValueError, match=r"0\.\.255"):
        D.distort(photo.astype(np.float32) * 2, "jpeg", 1)


def test_random_distortion_draws_from_the_given_types(photo):
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(20):
        out, name, level = D.random_distortion(photo, rng, names=("jpeg", "mean_shift"))
        assert name in ("jpeg", "mean_shift") and level in D.LEVELS and out.shape == photo.shape
        seen.add(name)
    assert seen == {"jpeg", "mean_shift"}
