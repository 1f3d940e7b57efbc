"""GMSD, gradient magnitude similarity deviation (Xue, Zhang, Mou & Bovik, IEEE TIP 23(2), 2014).

Conventions (those of the authors' MATLAB ``GMSD.m``, which reproduces the golden TID2013 values
to 1e-15 in float64):

- RGB -> grey with MATLAB ``rgb2gray`` (full-precision weights); uint8 input is rounded to
  grey levels as ``rgb2gray`` does on uint8 (``quantize_grey``; the near-identical golden pairs
  need it). Grey input is used as it is. Inputs are rescaled to 0..255, the scale of c = 170.
- ``conv2(Y, ones(2)/4, 'same')`` then ``Y(1:2:end, 1:2:end)``: the mean of each 2 x 2 block
  (zero padding for an odd last row/column), i.e. half resolution.
- Prewitt gradients ``conv2(Y, [1 0 -1; 1 0 -1; 1 0 -1]/3, 'same')`` and its transpose, zero
  padding; m = sqrt(gx^2 + gy^2) (eq. (2)-(3)).
- GMS = (2 m_r m_d + c) / (m_r^2 + m_d^2 + c), c = 170 (eq. (4)); GMSD = std2(GMS) with the
  N - 1 normalisation of MATLAB's ``std2`` (eq. (6)); piq divides by N.
- Safety: both square roots (gradient magnitude and standard deviation) take their argument
  through ``safe_sqrt`` (lower bound `eps`, piq#308), so gradients are finite for flat regions
  and identical images. GMSD of identical images is sqrt(1e-20) = 1e-10, not exactly 0.
"""

from __future__ import annotations

import numpy as np
from keras import ops

from jndtf.iqa._ops import filter2d, grey_pair, mean_downsample, safe_sqrt

#: c of eq. (4) for 0..255 images.
GMSD_C = 170.0

_PREWITT_X = np.array([[1.0, 0.0, -1.0]] * 3) / 3.0


def _gradient_magnitude(z, eps: float):
    gx = filter2d(z, _PREWITT_X, mode="zeros")
    gy = filter2d(z, _PREWITT_X.T, mode="zeros")
    return safe_sqrt(gx * gx + gy * gy, eps)


def gmsd_map(
    x,
    y,
    data_range: float = 255.0,
    *,
    c: float = GMSD_C,
    quantize_grey: bool | None = None,
    eps: float = 1e-12,
):
    """Gradient magnitude similarity map, eq. (4) of Xue et al., IEEE TIP 2014.

    GMS(i) = (2 m_r(i) m_d(i) + c) / (m_r(i)^2 + m_d(i)^2 + c), m the Prewitt gradient magnitude
    of the half-resolution grey image; conventions in the module docstring.

    Args:
        x: reference, NHWC, RGB (C = 3) or grey (C = 1), values in 0..`data_range`.
        y: distorted image, same shape.
        data_range: the value of white; images are rescaled to 0..255 first.
        c: the constant c of eq. (4) in 0..255 units (170 in the paper).
        quantize_grey: round RGB->grey to 8-bit levels (no gradient); None: only for uint8 input.
        eps: lower bound inside the gradient-magnitude sqrt, in (grey level)^2.

    Returns:
        float32 (N, ceil(H/2), ceil(W/2), 1) in (0, 1], 1 where the gradients agree.

    Raises:
        ValueError: rank or shape mismatch, C not 1 or 3, non-positive data_range or c.

    Example:
        >>> from jndtf.iqa.gmsd import gmsd_map
        >>> m = gmsd_map(ref, dist)         # (N, H/2, W/2, 1)
        >>> where_worst = 1.0 - m
    """
    if not data_range > 0:
        raise ValueError(f"data_range must be > 0, got {data_range}")
    if not c > 0:
        raise ValueError(f"c must be > 0, got {c}")
    x, y = grey_pair(x, y, data_range, quantize_grey, name="gmsd", to_255=True)
    x, y = mean_downsample(x, 2, "zeros"), mean_downsample(y, 2, "zeros")
    m_x = _gradient_magnitude(x, eps)
    m_y = _gradient_magnitude(y, eps)
    return (2.0 * m_x * m_y + c) / (m_x * m_x + m_y * m_y + c)


def gmsd(
    x,
    y,
    data_range: float = 255.0,
    *,
    c: float = GMSD_C,
    quantize_grey: bool | None = None,
    eps: float = 1e-12,
):
    """GMSD per image: the standard deviation of the GMS map, eq. (6) of Xue et al., IEEE TIP 2014.

    GMSD = sqrt(sum_i (GMS(i) - mean(GMS))^2 / (N - 1)) (MATLAB ``std2``). Lower is better,
    0 for identical images (1e-10 here, the bound inside the sqrt); usable as a loss directly.
    Arguments as :func:`gmsd_map`.

    Returns:
        float32 (N,), unitless.

    Example:
        >>> from jndtf.iqa.gmsd import gmsd
        >>> d = gmsd(ref_uint8, dist_uint8)             # MATLAB GMSD.m on rgb2gray(uint8)
        >>> loss = ops.mean(gmsd(y_true, y_pred, data_range=1.0))
    """
    q = gmsd_map(x, y, data_range, c=c, quantize_grey=quantize_grey, eps=eps)
    n = ops.cast(ops.shape(q)[1] * ops.shape(q)[2], "float32")
    mean = ops.mean(q, axis=(1, 2, 3), keepdims=True)
    var = ops.sum(ops.square(q - mean), axis=(1, 2, 3)) / ops.maximum(n - 1.0, 1.0)
    return safe_sqrt(var, 1e-20)


__all__ = ["GMSD_C", "gmsd", "gmsd_map"]
