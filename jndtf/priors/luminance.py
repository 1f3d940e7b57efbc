"""Background luminance and luminance adaptation (LA), with the MATLAB conventions they need.

The background luminance is the weighted 5x5 mean of Chou & Li (1995), kernel ``B`` / 32; the
luminance-adaptation threshold is their visibility curve ``T(bg)``, reused by Yang et al. 2005
and Wu et al. 2017::

    T(bg) = 17 * (1 - sqrt(bg / 127)) + 3    if bg <= 127
    T(bg) = 3 / 128 * (bg - 127) + 3         otherwise

Wu et al. 2017 (``func_JND_modeling_pattern_complexity.m``) floors ``bg``, lifts dark
backgrounds to ``round(32 + bg * 95 / 127)`` and scales ``T`` by 0.7; Yang et al. 2005
(``JND_pixel.m``) uses the unfloored ``bg`` and no factor.

MATLAB's ``filter2``/``imfilter`` pad with zeros, so the outer 2 pixels of ``bg`` see a darker
background than the ports that reflect the border; jndtf follows MATLAB (:func:`filter2`). This
module also holds the small MATLAB helpers the other prior modules share (:func:`filter2`,
:func:`fspecial_gaussian`, :func:`round_half_away`).
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from jndtf.priors._input import as_luma

#: Chou & Li's 5x5 background-luminance kernel (weights sum to 32).
BACKGROUND_KERNEL = np.array(
    [
        [1, 1, 1, 1, 1],
        [1, 2, 2, 2, 1],
        [1, 2, 0, 2, 1],
        [1, 2, 2, 2, 1],
        [1, 1, 1, 1, 1],
    ],
    dtype=np.float64,
)

#: Wu 2017's lower bound of the remapped dark background (``min_lum`` in the MATLAB code).
DARK_MIN_LUMINANCE = 32

#: Wu 2017's scale of the luminance-adaptation threshold (``alpha`` in the MATLAB code).
WU2017_LA_FACTOR = 0.7

Variant = Literal["wu2017", "yang2005"]


def filter2(kernel: np.ndarray, image: np.ndarray) -> np.ndarray:
    """MATLAB ``filter2(kernel, image)``: 2-D correlation, output the size of `image`, zero padding.

    Args:
        kernel: 2-D kernel (odd sizes; it is not flipped, as in MATLAB's correlation).
        image: 2-D array (any float scale).

    Returns:
        float64 ``HxW`` array.

    Example:
        >>> float(filter2(np.ones((3, 3)), np.ones((4, 4)))[0, 0])  # corner sees 4 of 9 taps
        4.0
    """
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim != 2 or k.shape[0] % 2 == 0 or k.shape[1] % 2 == 0:
        raise ValueError(f"filter2 needs a 2-D kernel with odd sides, got shape {k.shape}")
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2:
        raise ValueError(f"filter2 needs a 2-D image, got shape {img.shape}")
    return cv2.filter2D(img, cv2.CV_64F, k, borderType=cv2.BORDER_CONSTANT)


def fspecial_gaussian(size: int, sigma: float) -> np.ndarray:
    """MATLAB ``fspecial('gaussian', size, sigma)``: ``exp(-(x^2 + y^2) / (2 sigma^2))`` sampled on
    the integer grid centred on the kernel, normalised to sum 1 (float64 ``size x size``)."""
    if size < 1 or sigma <= 0:
        raise ValueError(f"need size >= 1 and sigma > 0, got size={size}, sigma={sigma}")
    half = (size - 1) / 2.0
    x = np.arange(size, dtype=np.float64) - half
    g = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2.0 * sigma * sigma))
    return g / g.sum()


def round_half_away(x: np.ndarray) -> np.ndarray:
    """MATLAB ``round``: halves go away from zero (``round(2.5) = 3``, ``round(-2.5) = -3``),
    unlike numpy's round-half-to-even."""
    x = np.asarray(x, dtype=np.float64)
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def background_luminance_f64(luma: np.ndarray, floor: bool) -> np.ndarray:
    """``bg = filter2(B, I) / 32`` (Chou & Li 1995; floored as Wu 2017's MATLAB code
    when `floor`) on a validated float64 luma; float64. See :func:`background_luminance`."""
    bg = filter2(BACKGROUND_KERNEL, luma) / 32.0
    return np.floor(bg) if floor else bg


def _dark_remap(bg: np.ndarray, min_lum: float = DARK_MIN_LUMINANCE) -> np.ndarray:
    lifted = round_half_away(min_lum + bg * (127.0 - min_lum) / 127.0)
    return np.where(bg <= 127.0, lifted, bg)


def luminance_threshold_f64(bg: np.ndarray) -> np.ndarray:
    """Chou & Li 1995's visibility threshold, float64: ``17 (1 - sqrt(bg / 127)) + 3``
    for ``bg <= 127``, else ``3/128 (bg - 127) + 3``. See :func:`luminance_threshold`."""
    bg = np.asarray(bg, dtype=np.float64)
    dark = 17.0 * (1.0 - np.sqrt(np.clip(bg, 0.0, 127.0) / 127.0)) + 3.0
    bright = 3.0 / 128.0 * (bg - 127.0) + 3.0
    return np.where(bg <= 127.0, dark, bright)


def _wu2017_table(factor: float) -> np.ndarray:
    """LA for every floored background 0..255 (as MATLAB's ``lum_jnd`` table): remap + T."""
    return factor * luminance_threshold_f64(_dark_remap(np.arange(256, dtype=np.float64)))


def luminance_adaptation_f64(
    luma: np.ndarray, variant: Variant, factor: float | None
) -> np.ndarray:
    """``LA = factor * T(bg)`` (see :func:`luminance_adaptation`) on a validated float64 luma;
    float64. ``factor=None`` takes the variant's (0.7 for wu2017, 1 for yang2005)."""
    if variant == "wu2017":
        # The floored bg is an integer in 0..255: look the remapped threshold up in a table.
        bg = filter2(BACKGROUND_KERNEL, luma)
        bg *= 1.0 / 32.0
        np.floor(bg, out=bg)  # 0..255: B has non-negative weights summing to 32
        index = bg.astype(np.uint8)
        return _wu2017_table(WU2017_LA_FACTOR if factor is None else factor)[index]
    if variant == "yang2005":
        bg = background_luminance_f64(luma, floor=False)
        return (1.0 if factor is None else factor) * luminance_threshold_f64(bg)
    raise ValueError(f"unknown luminance-adaptation variant {variant!r}; use wu2017 or yang2005")


def background_luminance(image: np.ndarray, *, floor: bool = False) -> np.ndarray:
    """Average background luminance ``bg = filter2(B, I) / 32`` (Chou & Li 1995).

    Args:
        image: uint8 or float (0..255) grey ``HxW`` or RGB ``HxWx3`` (converted to luma).
        floor: floor the result, as Wu et al. 2017's MATLAB code does (Yang 2005 does not).

    Returns:
        float32 ``HxW`` in 0..255; the outer 2 pixels are darkened by MATLAB's zero padding.

    Example:
        >>> bg = background_luminance(np.full((32, 32), 100, np.uint8))
        >>> float(bg[16, 16]), float(bg[0, 0])
        (100.0, 34.375)
    """
    return background_luminance_f64(as_luma(image), floor).astype(np.float32)


def dark_background_remap(bg: np.ndarray, *, min_lum: float = DARK_MIN_LUMINANCE) -> np.ndarray:
    """Wu 2017's lift of dark backgrounds: ``round(min_lum + bg * (127 - min_lum) / 127)`` where
    ``bg <= 127`` (MATLAB ``round``, halves away from zero), unchanged elsewhere.

    Args:
        bg: background luminance, 0..255 (usually the floored one).
        min_lum: the value ``bg = 0`` is lifted to (32 in the MATLAB code).

    Returns:
        float32 array shaped like `bg`.
    """
    return _dark_remap(np.asarray(bg, dtype=np.float64), min_lum).astype(np.float32)


def luminance_threshold(bg: np.ndarray) -> np.ndarray:
    """The visibility threshold ``T(bg)`` of Chou & Li 1995, in grey levels.

    ``17 (1 - sqrt(bg / 127)) + 3`` for ``bg <= 127``, else ``3/128 (bg - 127) + 3``.

    Args:
        bg: background luminance array, 0..255.

    Returns:
        float32 array shaped like `bg` (20 at bg = 0, 3 at bg = 127, 6.0 at bg = 255).
    """
    return luminance_threshold_f64(bg).astype(np.float32)


def luminance_adaptation(
    image: np.ndarray, *, variant: Variant = "wu2017", factor: float | None = None
) -> np.ndarray:
    """Luminance-adaptation JND ``LA = factor * T(bg)``.

    ``variant="wu2017"``: Wu et al., "Enhanced just noticeable difference model for
    images with pattern complexity", IEEE TIP 26(6), 2017, as its MATLAB code computes it:
    ``bg = floor(filter2(B, I) / 32)``, dark backgrounds lifted by :func:`dark_background_remap`,
    factor 0.7. ``variant="yang2005"``: Yang et al., "Just noticeable distortion model
    and its applications in video coding", Signal Process. Image Commun. 20(7), 2005:
    ``bg = filter2(B, I) / 32`` (not floored), factor 1.

    Args:
        image: uint8 or float (0..255) grey ``HxW`` or RGB ``HxWx3`` (converted to luma).
        variant: ``"wu2017"`` or ``"yang2005"``.
        factor: overrides the variant's scale (0.7 or 1).

    Returns:
        float32 ``HxW`` map in grey levels (0..255 units).

    Raises:
        ImageError: not an image in 0..255, or smaller than 32x32.
        ValueError: unknown `variant`.

    Example:
        >>> la = luminance_adaptation(np.full((32, 32), 127, np.uint8))
        >>> round(float(la[16, 16]), 4)  # 0.7 * T(127) = 0.7 * 3
        2.1
    """
    return luminance_adaptation_f64(as_luma(image), variant, factor).astype(np.float32)
