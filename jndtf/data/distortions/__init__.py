"""The 17 distortion types of TID2008, synthesized from any clean image (numpy + OpenCV).

TID2008 (Ponomarenko et al., "TID2008 — a database for evaluation of full-reference visual quality
assessment metrics", Advances of Modern Radioelectronics 10(4), 2009) distorts 25 images with 17
types at 4 levels. jndtf uses them to train the distortion-group classifier of the A-IQA loss
(Jin et al. 2022, used as L1 of ACoL-JND), so what matters is the *kind* of artefact, at a range of
strengths; the generators below are written from the TID2008 descriptions, not copied from its
(unpublished) scripts.

Levels are 1..5 (TID2013's five; 1 is mildest). For a fixed seed the levels are *nested*: the same
noise field is scaled, the same random blocks are taken in the same order and more of them are used,
so severity (e.g. MSE) rises with the level by construction.

=====  ==============================  ==========================================================
 TID   name                            generator (parameter per level 1..5)
=====  ==============================  ==========================================================
  1    additive_gaussian_noise         i.i.d. N(0, σ²) per RGB sample, σ = 4, 6, 9, 13, 18
  2    colour_noise                    noise in YCbCr: σ/3 on Y, σ·1.5 on Cb, Cr (same σ)
  3    spatially_correlated_noise      white noise low-passed (Gaussian, s = 1.2 px), RMS σ
  4    masked_noise                    white noise × local activity (5x5 std of luma), RMS σ
  5    high_frequency_noise            white noise minus its Gaussian blur (s = 1 px), RMS σ
  6    impulse_noise                   samples set to 0 or 255, p = 0.5, 1, 2, 4, 8 %
  7    quantization_noise              uniform quantizer per channel, step 8, 12, 18, 26, 36
  8    gaussian_blur                   Gaussian blur, s = 0.7, 1.0, 1.5, 2.2, 3.2 px
  9    image_denoising                 noise σ = 6, 10, 15, 22, 30 + OpenCV non-local means
 10    jpeg                            cv2 JPEG, quality 50, 30, 18, 10, 5
 11    jpeg2000                        cv2 (OpenJPEG) JPEG 2000, rate x1000 = 300, 150, 80, 40, 20
 12    jpeg_transmission_errors        JPEG q75 + runs of 8x8 blocks decoded wrong (colour offset
                                       and foreign texture until the next "restart"); 3, 6, 10,
                                       15, 22 % of the blocks
 13    jpeg2000_transmission_errors    JPEG 2000 + local wavelet-like ringing blobs, amplitude
                                       15..50; 1, 1, 2, 3, 4 blobs per 64x64
 14    pattern_noise                   TID's "non-eccentricity pattern noise": blocks replaced by
                                       their neighbourhood shifted a few pixels; 3..22 % of the
                                       blocks
 15    block_distortion                "local block-wise distortions of different intensity":
                                       flat blocks of a shifted mean colour; 1, 2, 3, 5, 8 blocks
                                       per 64x64
 16    mean_shift                      ± 6, 12, 18, 26, 36 grey levels (sign from the seed)
 17    contrast_change                 around the mean, × (1 ± 0.12, 0.22, 0.32, 0.45, 0.6)
=====  ==============================  ==========================================================

Types 12 and 13 are simulated in the pixel domain: flipping bytes of a real code stream makes the
decoders print to stderr, sometimes fail, and gives a severity that does not follow the level.

**Groups.** The A-IQA module routes each image to one of five distortion groups, following the
context-dependent multi-method fusion (CD-MMF) of Liu, Lin & Kuo, "Image quality assessment using
multi-method fusion", IEEE TIP 22(5), 2013, which splits TID2008's 17 types into five groups by the
nature of the artefact. :data:`DEFAULT_GROUPS`: noise (1-7), blur (8, 9), compression (10, 11),
transmission errors (12, 13), other local/global changes (14-17). Any other mapping can be passed
as ``groups=`` (every type exactly once; see :func:`check_groups`).

Layout: the generators by group in :mod:`.noise` (1-7), :mod:`.blur_compression` (8-11),
:mod:`.transmission` (12-13) and :mod:`.other` (14-17), their shared helpers in ``_common``; the
table of types and the groups in :mod:`.registry`; :func:`distort` here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jndtf.data.distortions._common import LEVELS, MIN_SIDE, Distortion, Generator, _level_index
from jndtf.data.distortions.registry import (
    DEFAULT_GROUPS,
    DISTORTIONS,
    NAMES,
    check_groups,
    group_index,
    group_of,
)


def _rng(seed) -> Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def distort(image: np.ndarray, name: str, level: int, *, seed=None) -> np.ndarray:
    """Applies distortion `name` at `level` (1..5) to an RGB image.

    Args:
        image: ``HxWx3`` uint8 or float in 0..255 (sides >= 16).
        name: one of :data:`NAMES` (TID2008 order; see the module table).
        level: 1 (mildest) .. 5.
        seed: int, None or a ``numpy.random.Generator``; the same seed gives the same output.

    Returns:
        The distorted image, same shape and dtype as `image`, clipped to 0..255 (rounded for
        uint8).

    Example:
        >>> out = distort(img, "jpeg", 3, seed=0)
        >>> out.shape == img.shape and out.dtype == img.dtype
        True
    """
    if name not in DISTORTIONS:
        raise KeyError(f"unknown distortion {name!r}; known: {', '.join(NAMES)}")
    _level_index(level)
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"distort: expected an HxWx3 RGB image, got shape {arr.shape}")
    if min(arr.shape[:2]) < MIN_SIDE:
        raise ValueError(f"distort: image sides must be >= {MIN_SIDE}, got {arr.shape[:2]}")
    if not (arr.dtype == np.uint8 or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"distort: expected uint8 or float pixels, got {arr.dtype}")
    x = arr.astype(np.float64)
    if arr.dtype != np.uint8 and (not np.all(np.isfinite(x)) or x.min() < 0 or x.max() > 255):
        raise ValueError("distort: float images must be finite and in 0..255")
    out = DISTORTIONS[name].fn(x, int(level), _rng(seed))
    out = np.clip(out, 0.0, 255.0)
    if arr.dtype == np.uint8:
        return np.round(out).astype(np.uint8)
    return out.astype(arr.dtype)


def random_distortion(
    image: np.ndarray,
    rng: Generator,
    *,
    names: Sequence[str] = NAMES,
    levels: Sequence[int] = LEVELS,
) -> tuple[np.ndarray, str, int]:
    """Draws a type from `names` and a level from `levels` uniformly and applies it.

    Returns:
        ``(distorted, name, level)``.
    """
    name = names[int(rng.integers(len(names)))]
    level = int(levels[int(rng.integers(len(levels)))])
    return distort(image, name, level, seed=rng), name, level


__all__ = [
    "DEFAULT_GROUPS",
    "DISTORTIONS",
    "LEVELS",
    "NAMES",
    "Distortion",
    "check_groups",
    "distort",
    "group_index",
    "group_of",
    "random_distortion",
]
