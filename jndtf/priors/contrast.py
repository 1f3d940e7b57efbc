"""Luminance contrast and contrast masking (Wu et al. 2017, spatial masking).

Wu et al., "Enhanced just noticeable difference model for images with pattern complexity",
IEEE TIP 26(6), 2017. The luminance contrast ``Lc`` is the local standard deviation over a 5x5
window; its MATLAB code (``func_luminance_contrast``) zeroes a 2-pixel frame (the pixels whose
window leaves the image), and so does jndtf. Contrast masking is the transducer::

    CM = 1.84 * Lc^2.4 / (Lc^2 + 26^2)        (1.84 = 0.115 * 16)
"""

from __future__ import annotations

import cv2
import numpy as np

from jndtf.priors._input import as_luma

#: Half-size of the Lc window (5x5), also the width of the zeroed frame.
CONTRAST_RADIUS = 2

#: Constants of the contrast-masking transducer (``a1 = 0.115 * 16``, ``a2 = 26``).
CM_GAIN = 0.115 * 16
CM_SATURATION = 26.0


def luminance_contrast_f64(luma: np.ndarray, radius: int = CONTRAST_RADIUS) -> np.ndarray:
    """Luminance contrast ``Lc`` of Wu 2017 (its ``func_luminance_contrast``) on a validated
    float64 luma: the population standard deviation over a (2r+1)^2 window, 0 in an r-pixel frame.

    Computed as ``sqrt((n * S2 - S1^2) / n^2)`` from window sums, which is exact for integer
    grey levels (a flat patch gives exactly 0, not a rounding residue).
    """
    if radius < 1:
        raise ValueError(f"radius must be >= 1, got {radius}")
    size = 2 * radius + 1
    n = float(size * size)
    s1 = cv2.boxFilter(luma, cv2.CV_64F, (size, size), normalize=False)
    lc = cv2.boxFilter(luma * luma, cv2.CV_64F, (size, size), normalize=False)
    lc *= n
    s1 *= s1
    lc -= s1  # n * S2 - S1^2 (>= 0 up to rounding for non-integer input)
    np.maximum(lc, 0.0, out=lc)
    lc /= n * n
    np.sqrt(lc, out=lc)
    lc[:radius, :] = 0.0
    lc[-radius:, :] = 0.0
    lc[:, :radius] = 0.0
    lc[:, -radius:] = 0.0
    return lc


def contrast_masking_transducer_f64(lc: np.ndarray) -> np.ndarray:
    """``CM = 1.84 Lc^2.4 / (Lc^2 + 26^2)`` (Wu 2017, the spatial-masking transducer) in float64."""
    lc = np.asarray(lc, dtype=np.float64)
    return CM_GAIN * lc**2.4 / (lc * lc + CM_SATURATION**2)


def luminance_contrast(image: np.ndarray, *, radius: int = CONTRAST_RADIUS) -> np.ndarray:
    """Luminance contrast ``Lc``: the local standard deviation over a 5x5 window (Wu 2017).

    Args:
        image: uint8 or float (0..255) grey ``HxW`` or RGB ``HxWx3`` (converted to luma).
        radius: window half-size (2 in the paper); also the width of the zeroed frame.

    Returns:
        float32 ``HxW`` map in grey levels, 0 within `radius` pixels of the border (as MATLAB).

    Raises:
        ImageError: not an image in 0..255, or smaller than 32x32.

    Example:
        >>> img = np.tile(np.array([0, 255], np.uint8), (32, 16))  # 1-px vertical stripes
        >>> round(float(luminance_contrast(img)[16, 16]), 2)  # 255 sqrt(0.4 * 0.6)
        124.92
    """
    return luminance_contrast_f64(as_luma(image), radius).astype(np.float32)


def contrast_masking_transducer(lc: np.ndarray) -> np.ndarray:
    """``1.84 Lc^2.4 / (Lc^2 + 26^2)`` (Wu 2017) on a given ``Lc`` map (float32)."""
    return contrast_masking_transducer_f64(lc).astype(np.float32)


def contrast_masking(image: np.ndarray) -> np.ndarray:
    """Contrast masking ``CM = 1.84 Lc^2.4 / (Lc^2 + 26^2)`` (Wu et al. 2017, IEEE TIP).

    Args:
        image: uint8 or float (0..255) grey ``HxW`` or RGB ``HxWx3`` (converted to luma).

    Returns:
        float32 ``HxW`` map in grey levels; 0 on flat areas and in the 2-pixel frame.

    Example:
        >>> cm = contrast_masking(np.full((32, 32), 80, np.uint8))
        >>> float(cm.max())
        0.0
    """
    return contrast_masking_transducer_f64(luminance_contrast_f64(as_luma(image))).astype(
        np.float32
    )
