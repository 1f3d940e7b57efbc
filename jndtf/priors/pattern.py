"""Orientation-based pattern complexity and pattern masking (Wu et al. 2017).

Wu et al., "Enhanced just noticeable difference model for images with pattern complexity",
IEEE TIP 26(6), 2017. jndtf follows the rules of the authors' MATLAB code
(``func_JND_modeling_pattern_complexity.m``: ``func_cmlx_num_compute``, ``func_ori_cmlx_compute``),
written independently here:

1. Gradients ``Gx, Gy`` with ``kx = [-1 0 1; -1 0 1; -1 0 1] / 3`` and ``ky = kx'`` on the image
   padded by 1 pixel with ``'symmetric'`` (edge-repeating) reflection.
2. A pixel is smooth when ``sqrt(Gx^2 + Gy^2) < 5``. jndtf tests ``(3Gx)^2 + (3Gy)^2 < 225`` on
   the unscaled integer sums, which is exact for integer grey levels (MATLAB's floating-point
   ``/3`` decides the ~0.2% of pixels whose magnitude is exactly 5 either way).
3. Orientation ``round(atan2(Gy, Gx) * 180 / pi)`` in whole degrees (MATLAB ``round``: halves away
   from zero), folded to [-90, 90] and shifted to [0, 180], then binned ``round(theta / 12)``:
   codes 0..15 (0 and 15 both hold near-horizontal gradients; MATLAB keeps them apart). Smooth
   pixels get the code 16 (``(180 + 12) / 12``).
4. The count is the number of distinct codes among a pixel and its 8 neighbours (1..9); smooth
   pixels and the 1-pixel image frame are set to 1.
5. ``Pc`` = the count filtered by a 3x3 Gaussian of sigma 1 (``fspecial``) with zero padding.
6. Complexity transducer ``C_t = 0.3 Pc^2.7 / (Pc^2 + 1)``; pattern masking ``PM = Lc * C_t``.

The distinct-code count is vectorized: each code becomes one bit of an integer, the 3x3
neighbourhood is OR-ed together (separably, 4 ORs) and ``np.bitwise_count`` gives the count.
"""

from __future__ import annotations

import cv2
import numpy as np

from jndtf.priors._input import as_luma
from jndtf.priors.contrast import luminance_contrast_f64
from jndtf.priors.luminance import filter2, fspecial_gaussian

#: Gradient magnitude below which a pixel counts as smooth (MATLAB: ``Cimg >= 5`` is textured).
SMOOTH_THRESHOLD = 5.0

#: Width of one orientation bin in degrees (``2 * otr``, otr = 6).
ORIENTATION_STEP = 12

#: Code of smooth pixels (``round((180 + 2 * otr) / (2 * otr))``); orientation codes are 0..15.
SMOOTH_CODE = 16

#: Constants of the complexity transducer ``a3 * Pc^a4 / (Pc^2 + a5^2)``.
CT_GAIN = 0.3
CT_EXPONENT = 2.7
CT_OFFSET = 1.0


_KX3 = np.array([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]], dtype=np.float64)


def _gradients3(luma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``3 Gx`` and ``3 Gy`` (unscaled sums, exact for integer grey levels) with MATLAB's
    ``'symmetric'`` padding (OpenCV's BORDER_REFLECT repeats the edge pixel the same way)."""
    gx3 = cv2.filter2D(luma, cv2.CV_64F, _KX3, borderType=cv2.BORDER_REFLECT)
    gy3 = cv2.filter2D(luma, cv2.CV_64F, _KX3.T, borderType=cv2.BORDER_REFLECT)
    return gx3, gy3


def _code_table() -> np.ndarray:
    """Code for every whole-degree angle k in -180..180 (index k + 180): fold to [-90, 90],
    shift to [0, 180], then ``round(theta / 12)`` (theta >= 0 and an integer: halves go up)."""
    k = np.arange(-180, 181)
    folded = np.where(k > 90, k - 180, k)
    folded = np.where(folded < -90, folded + 180, folded) + 90
    return ((folded + ORIENTATION_STEP // 2) // ORIENTATION_STEP).astype(np.uint8)


_CODE_TABLE = _code_table()


def _orientation_codes(luma: np.ndarray) -> np.ndarray:
    gx3, gy3 = _gradients3(luma)
    theta = np.arctan2(gy3, gx3)
    # MATLAB: round(atan2(Gy, Gx) / pi * 180), halves away from zero -> k in -180..180.
    theta /= np.pi
    theta *= 180.0
    sign = np.signbit(theta)
    np.abs(theta, out=theta)
    theta += 0.5
    np.floor(theta, out=theta)
    k = theta.astype(np.int16)
    np.negative(k, out=k, where=sign)
    k += 180
    codes = _CODE_TABLE[k]
    gx3 *= gx3
    gy3 *= gy3
    gx3 += gy3
    codes[gx3 < (3.0 * SMOOTH_THRESHOLD) ** 2] = SMOOTH_CODE  # |G| < 5 <=> |3G|^2 < 225
    return codes


def count_distinct_codes(codes: np.ndarray) -> np.ndarray:
    """Number of distinct values among each pixel and its 8 neighbours, vectorized.

    Args:
        codes: integer ``HxW`` array with values in 0..31.

    Returns:
        uint8 ``HxW`` array (1..9); the 1-pixel frame is 1 (MATLAB's border rule).

    Example:
        >>> c = np.zeros((5, 5), np.uint8); c[2, 3] = 4; c[1, 1] = 7
        >>> int(count_distinct_codes(c)[2, 2])
        3
    """
    c = np.asarray(codes)
    if c.ndim != 2 or not np.issubdtype(c.dtype, np.integer):
        raise ValueError(f"codes must be a 2-D integer array, got {c.dtype} {c.shape}")
    if c.size and (int(c.min()) < 0 or int(c.max()) > 31):
        raise ValueError("codes must lie in 0..31 (one bit each in a 32-bit word)")
    out = np.ones(c.shape, dtype=np.uint8)
    if min(c.shape) < 3:
        return out
    bits = np.left_shift(np.uint32(1), c.astype(np.uint32))
    rows = bits[:, :-2] | bits[:, 1:-1] | bits[:, 2:]
    window = rows[:-2] | rows[1:-1] | rows[2:]
    out[1:-1, 1:-1] = np.bitwise_count(window)
    return out


def _count_distinct_codes_loop(codes: np.ndarray) -> np.ndarray:
    """Straightforward per-pixel version of :func:`count_distinct_codes` (Python loops).

    Kept as the reference the vectorized count is tested against and timed beside
    (benchmarks/bench_wu2017.py); never used on real images.
    """
    c = np.asarray(codes)
    h, w = c.shape
    out = np.ones((h, w), dtype=np.uint8)
    for i in range(1, h - 1):
        for j in range(1, w - 1):
            seen = set()
            for di in (-1, 0, 1):
                for dj in (-1, 0, 1):
                    seen.add(int(c[i + di, j + dj]))
            out[i, j] = len(seen)
    return out


def pattern_complexity_count_f64(luma: np.ndarray) -> np.ndarray:
    """Distinct orientation codes per 3x3 neighbourhood (Wu 2017), 1 on smooth pixels, on a
    validated float64 luma; float64. See :func:`pattern_complexity_count`."""
    codes = _orientation_codes(luma)
    count = count_distinct_codes(codes)
    count[codes == SMOOTH_CODE] = 1
    return count.astype(np.float64)


def smooth_complexity_count_f64(count: np.ndarray) -> np.ndarray:
    """``Pc = imfilter(count, fspecial('gaussian', 3, 1))`` (Wu 2017's MATLAB code, zero
    padding) on a code-count map; float64. See :func:`pattern_complexity`."""
    return filter2(fspecial_gaussian(3, 1.0), count)


def complexity_transducer_f64(pc: np.ndarray) -> np.ndarray:
    """``C_t = 0.3 Pc^2.7 / (Pc^2 + 1)`` (Wu 2017, pattern-masking transducer) in float64."""
    pc = np.asarray(pc, dtype=np.float64)
    return CT_GAIN * pc**CT_EXPONENT / (pc * pc + CT_OFFSET**2)


def orientation_codes(image: np.ndarray) -> np.ndarray:
    """Quantized gradient orientation per pixel (Wu 2017; rules in the module doc).

    Args:
        image: uint8 or float (0..255) grey ``HxW`` or RGB ``HxWx3`` (converted to luma).

    Returns:
        uint8 ``HxW``: 0..15 = orientation bin of 12 degrees, 16 = smooth (gradient below 5).

    Example:
        >>> ramp = np.tile(np.arange(0, 256, 8, dtype=np.uint8), (32, 1))  # bright to the right
        >>> int(orientation_codes(ramp)[16, 16])  # gradient along +x: 0 deg -> 90 -> bin 8
        8
    """
    return _orientation_codes(as_luma(image))


def pattern_complexity_count(image: np.ndarray) -> np.ndarray:
    """Number of distinct orientation codes in each 3x3 neighbourhood (Wu 2017).

    Args:
        image: uint8 or float (0..255) grey ``HxW`` or RGB ``HxWx3`` (converted to luma).

    Returns:
        float32 ``HxW`` in 1..9; 1 on smooth pixels and in the 1-pixel frame (as MATLAB).
    """
    return pattern_complexity_count_f64(as_luma(image)).astype(np.float32)


def pattern_complexity(image: np.ndarray) -> np.ndarray:
    """Pattern complexity ``Pc``: the distinct-code count after a 3x3 Gaussian (sigma 1).

    Wu et al. 2017, IEEE TIP, and the smoothing of its MATLAB code
    (``imfilter(cmlx, fspecial('gaussian', 3, 1))``, zero padding, so the frame drops below 1).

    Args:
        image: uint8 or float (0..255) grey ``HxW`` or RGB ``HxWx3`` (converted to luma).

    Returns:
        float32 ``HxW`` map, about 0.53..9 (1 on flat interior areas).

    Example:
        >>> pc = pattern_complexity(np.full((32, 32), 90, np.uint8))
        >>> round(float(pc[16, 16]), 6), round(float(pc[0, 0]), 4)
        (1.0, 0.527)
    """
    return smooth_complexity_count_f64(pattern_complexity_count_f64(as_luma(image))).astype(
        np.float32
    )


def complexity_transducer(pc: np.ndarray) -> np.ndarray:
    """``C_t = 0.3 Pc^2.7 / (Pc^2 + 1)`` (Wu 2017) on a given ``Pc`` map (float32).

    Example:
        >>> round(float(complexity_transducer(np.array([1.0]))[0]), 6)
        0.15
    """
    return complexity_transducer_f64(pc).astype(np.float32)


def pattern_masking(image: np.ndarray) -> np.ndarray:
    """Pattern masking ``PM = Lc * C_t(Pc)`` (Wu et al. 2017, IEEE TIP).

    ``Lc`` is :func:`jndtf.priors.contrast.luminance_contrast`, ``C_t`` the complexity
    transducer of :func:`pattern_complexity`. Wu 2017 multiplies PM by its edge protection
    before the max with contrast masking; this map is the unprotected PM (the ACoL-JND prior).

    Args:
        image: uint8 or float (0..255) grey ``HxW`` or RGB ``HxWx3`` (converted to luma).

    Returns:
        float32 ``HxW`` map in grey levels; 0 on flat areas and in the 2-pixel frame.
    """
    luma = as_luma(image)
    pc = smooth_complexity_count_f64(pattern_complexity_count_f64(luma))
    return (luminance_contrast_f64(luma) * complexity_transducer_f64(pc)).astype(np.float32)
