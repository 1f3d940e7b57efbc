"""jndtf.models.inputs: the numpy network input shared by training, evaluation and the edge.

No TensorFlow here: the last test runs the inputs and the registry in a fresh interpreter with
tensorflow/keras/jax blocked. Comparisons are exact (the same float32 arithmetic) except the
checkerboard's full-scale contrast masking, which goes through float64 -> float32 (1e-6).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from skimage import data

from jndtf import priors
from jndtf.io import ImageError
from jndtf.models.inputs import (
    ACOL_PRIORS,
    LC_MAX,
    PRIOR_FULL_SCALE,
    PRIOR_MARGIN,
    acol_input,
    model_input,
    normalization_info,
)

CROP = data.astronaut()[100:164, 180:276]  # 64x96 RGB uint8, face and background


def _priors_of_mirror_continued(image, names):
    """The priors the network input takes: of the image continued by its mirror image
    (PRIOR_MARGIN pixels, OpenCV's BORDER_REFLECT repeats the edge), cropped back."""
    import cv2

    m = PRIOR_MARGIN
    maps = priors.compute_all(cv2.copyMakeBorder(image, m, m, m, m, cv2.BORDER_REFLECT), names)
    return {k: v[m:-m, m:-m] for k, v in maps.items()}


def test_shape_dtype_range_and_channel_order():
    x = acol_input(CROP)
    assert x.shape == (64, 96, 6) and x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() <= 1.0
    np.testing.assert_array_equal(x[..., :3], CROP.astype(np.float32) * np.float32(1 / 255))
    maps = _priors_of_mirror_continued(CROP, ACOL_PRIORS)
    for c, name in enumerate(ACOL_PRIORS, start=3):
        expected = maps[name] * np.float32(1 / PRIOR_FULL_SCALE[name])
        np.testing.assert_array_equal(x[..., c], np.clip(expected, 0, 1), err_msg=name)
    # Priors carry information: not constant over a face crop.
    assert all(float(x[..., c].std()) > 0 for c in range(3, 6))


def test_bl_priors_give_five_channels():
    x = model_input(CROP, ("pattern_complexity", "saliency"))
    assert x.shape == (64, 96, 5)
    pc = _priors_of_mirror_continued(CROP, ["pattern_complexity"])["pattern_complexity"]
    pc = pc * np.float32(1 / 9.0)
    np.testing.assert_array_equal(x[..., 3], pc)


def test_uint8_and_equivalent_float_give_identical_input():
    a = acol_input(CROP)
    for dtype in (np.float32, np.float64):
        np.testing.assert_array_equal(acol_input(CROP.astype(dtype)), a, err_msg=str(dtype))
    # Priors are taken on the rounded 8-bit image; RGB keeps the given values.
    shifted = CROP.astype(np.float32) + np.float32(0.25)
    b = acol_input(np.minimum(shifted, 255))
    np.testing.assert_array_equal(b[..., 3:], a[..., 3:])
    assert not np.array_equal(b[..., :3], a[..., :3])


def test_full_scale_constants_are_reached():
    # A 0/255 checkerboard: every interior 5x5 window holds 13 vs 12 pixels, Lc = LC_MAX, so the
    # contrast-masking channel is exactly its full scale there.
    yy, xx = np.mgrid[:40, :40]
    board = np.where((yy + xx) % 2 == 0, 255, 0).astype(np.uint8)
    assert priors.luminance_contrast(board)[20, 20] == pytest.approx(LC_MAX, rel=1e-6)
    x = model_input(board, ("contrast_masking",))
    assert x[20, 20, 3] == pytest.approx(1.0, abs=1e-6)
    assert PRIOR_FULL_SCALE["pattern_masking"] == pytest.approx(175.7619, abs=1e-4)
    assert PRIOR_FULL_SCALE["contrast_masking"] == pytest.approx(12.27894, abs=1e-5)


def test_grey_image_is_replicated():
    grey = CROP[..., 1]
    x = acol_input(grey)
    np.testing.assert_array_equal(x, acol_input(np.repeat(grey[..., None], 3, axis=2)))


@pytest.mark.parametrize(
    ("image", "priors_", "error"),
    [
        (CROP, ("pattern_masking", "nope"), ValueError),
        (CROP, "saliency", ValueError),
        (CROP, ("saliency", "saliency"), ValueError),
        (np.full((64, 64, 3), np.nan, np.float32), ACOL_PRIORS, ImageError),
        (np.full((64, 64, 3), 300.0, np.float32), ACOL_PRIORS, ImageError),
        (np.zeros((16, 64, 3), np.uint8), ACOL_PRIORS, ImageError),
        (np.zeros((64, 64, 5), np.uint8), ACOL_PRIORS, ImageError),
    ],
)
def test_bad_requests_raise(image, priors_, error):
    with pytest.raises(error):
        model_input(image, priors_)


def test_unknown_normalization_raises():
    with pytest.raises(ValueError, match="normalization"):
        acol_input(CROP, normalization="zscore")


def test_normalization_info_lists_every_channel():
    info = normalization_info(ACOL_PRIORS)
    assert [c["name"] for c in info["channels"]] == ["red", "green", "blue", *ACOL_PRIORS]
    assert info["channels"][0]["divisor"] == 255.0
    assert info["channels"][3]["divisor"] == PRIOR_FULL_SCALE["pattern_masking"]


BLOCKER = textwrap.dedent(
    """
    import importlib.abc, sys
    class _Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("tensorflow", "keras", "tf_keras", "jax", "torch"):
                raise ImportError(f"blocked by test: {name}")
    sys.meta_path.insert(0, _Block())
    """
)


def test_inputs_and_registry_run_without_tensorflow_or_keras():
    code = BLOCKER + textwrap.dedent(
        """
        import sys
        import numpy as np
        import skimage.data
        from jndtf.models.inputs import acol_input
        from jndtf.models.registry import available_models, get_model_spec
        img = skimage.data.chelsea()[:48, :64]
        x = acol_input(img)
        assert x.shape == (48, 64, 6) and x.dtype == np.float32, x.shape
        names = available_models(family="acol")
        assert names == ["acol", "bl", "bl_acol", "bl_pmcm"], names
        spec = get_model_spec("bl")
        assert spec.make_input(img).shape == (48, 64, spec.input_channels)
        heavy = [m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "jax")]
        assert not heavy, heavy
        print("ok")
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("ok")


def test_prior_overrides_replace_a_core_prior_and_are_checked():
    img = np.full((40, 48, 3), 120, np.uint8)
    img[10:20, 10:30] = 250

    def half(rgb):
        return np.full(rgb.shape[:2], 0.5, np.float32)

    x = model_input(img, ("pattern_masking", "saliency"), overrides={"saliency": half})
    np.testing.assert_array_equal(x[..., 4], 0.5)
    np.testing.assert_array_equal(
        x[..., :4], model_input(img, ("pattern_masking", "saliency"))[..., :4]
    )
    with pytest.raises(ValueError, match="does not take"):
        model_input(img, ("saliency",), overrides={"contrast_masking": half})
    with pytest.raises(ValueError, match="returned shape"):
        model_input(img, ("saliency",), overrides={"saliency": lambda rgb: np.zeros((3, 3))})
