"""TID2008 types 8-11: Gaussian blur, image denoising (blur group), JPEG and JPEG 2000
(compression group)."""

from __future__ import annotations

import cv2
import numpy as np

from jndtf.data.distortions._common import _blur, _jpeg, _jpeg2000, _level_index, _to_u8

# ------------------------------------------------------------------------------ 8-9: blur

_BLUR = (0.7, 1.0, 1.5, 2.2, 3.2)


def gaussian_blur(x, level, rng):
    return _blur(x, _BLUR[_level_index(level)])


_DENOISE_SIGMA = (6.0, 10.0, 15.0, 22.0, 30.0)


def image_denoising(x, level, rng):
    s = _DENOISE_SIGMA[_level_index(level)]
    noisy = _to_u8(x + s * rng.standard_normal(x.shape))
    out = cv2.fastNlMeansDenoisingColored(noisy, None, s, s, 5, 9)
    return out.astype(np.float64)


# ----------------------------------------------------------------------- 10-11: compression

_JPEG_Q = (50, 30, 18, 10, 5)
_JP2K_RATE = (300, 150, 80, 40, 20)


def jpeg(x, level, rng):
    return _jpeg(x, _JPEG_Q[_level_index(level)])


def jpeg2000(x, level, rng):
    return _jpeg2000(x, _JP2K_RATE[_level_index(level)])
