"""Per-channel (full-RGB) versions of the luma priors.

The full-RGB networks (ACoL-JND, hmJND-Net) take one prior map per colour channel: each luma
prior is run on R, G and B as if each were a grey image, and the three maps are stacked to
``HxWx3``. The Wu 2017 demo does the same ("operating it on the three channel separately for
colorful result").
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from jndtf.io import MIN_SIDE, check_image
from jndtf.priors.contrast import contrast_masking
from jndtf.priors.luminance import luminance_adaptation
from jndtf.priors.pattern import pattern_complexity, pattern_masking

PriorFunction = Callable[..., np.ndarray]


def per_channel(prior: PriorFunction, image: np.ndarray, **kwargs) -> np.ndarray:
    """Applies a luma prior to each RGB channel and stacks the results.

    Args:
        prior: a function ``prior(grey HxW, **kwargs) -> HxW`` (or ``HxWx1``) map, e.g.
            :func:`jndtf.priors.luminance.luminance_adaptation`.
        image: uint8 or float (0..255) RGB ``HxWx3`` (a grey image is replicated to 3 channels).
        **kwargs: passed to `prior`.

    Returns:
        float32 ``HxWx3`` map, channel c computed from channel c of `image`.

    Raises:
        ImageError: not an image in 0..255, or smaller than 32x32.
        ValueError: `prior` returned a map of another size.

    Example:
        >>> rgb = np.zeros((32, 32, 3), np.uint8); rgb[..., 0] = 255
        >>> la = per_channel(luminance_adaptation, rgb)
        >>> la.shape, float(la[16, 16, 0]) < float(la[16, 16, 1])  # bright R: lower LA
        ((32, 32, 3), True)
    """
    rgb = check_image(image, min_side=MIN_SIDE)
    h, w = rgb.shape[:2]
    out = np.empty((h, w, 3), dtype=np.float32)
    for c in range(3):
        m = np.asarray(prior(rgb[..., c], **kwargs), dtype=np.float32)
        if m.ndim == 3 and m.shape[2] == 1:
            m = m[..., 0]
        if m.shape != (h, w):
            raise ValueError(f"prior returned shape {m.shape} for a {h}x{w} channel")
        out[..., c] = m
    return out


def luminance_adaptation_rgb(image: np.ndarray, **kwargs) -> np.ndarray:
    """Per-channel :func:`~jndtf.priors.luminance.luminance_adaptation` (float32 ``HxWx3``)."""
    return per_channel(luminance_adaptation, image, **kwargs)


def contrast_masking_rgb(image: np.ndarray) -> np.ndarray:
    """Per-channel :func:`~jndtf.priors.contrast.contrast_masking` (float32 ``HxWx3``)."""
    return per_channel(contrast_masking, image)


def pattern_complexity_rgb(image: np.ndarray) -> np.ndarray:
    """Per-channel :func:`~jndtf.priors.pattern.pattern_complexity` (float32 ``HxWx3``)."""
    return per_channel(pattern_complexity, image)


def pattern_masking_rgb(image: np.ndarray) -> np.ndarray:
    """Per-channel :func:`~jndtf.priors.pattern.pattern_masking` (float32 ``HxWx3``)."""
    return per_channel(pattern_masking, image)
