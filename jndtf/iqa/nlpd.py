"""NLPD, Normalized Laplacian Pyramid Distance (Laparra, Ballé, Berardino & Simoncelli, HVEI 2016).

V. Laparra, J. Ballé, A. Berardino and E. P. Simoncelli, "Perceptual image quality assessment
using a normalized Laplacian pyramid", Human Vision and Electronic Imaging, 2016, as implemented
by the authors' ``NLP_dist.m`` (the first, 2016 version with hand-fitted constants). The image
goes through a Laplacian pyramid L_k (Burt & Adelson 1983), k = 1..6, and each coefficient is
divided by a weighted sum of its neighbours' amplitudes (divisive normalisation):

    Y_k = L_k / (sigma_k + P_k * |L_k|),

with ``*`` MATLAB's ``conv2(., P_k, 'same')`` (zero borders). The distance is a root mean square
per level, averaged over the levels (the paper's Minkowski pooling with exponents 2 within a
level and 1 across levels, as in the code):

    NLPD = 1/6 sum_k sqrt(mean((Y_k(x) - Y_k(y))^2)).

Conventions (those of ``NLP_dist.m``, which reproduces the golden TID2013 values to 1e-15 in
float64 and about 1e-6 here in float32):

- Grey in 0..1: RGB goes through MATLAB ``rgb2gray`` (full-precision weights), uint8 input rounded
  to grey levels as ``rgb2gray`` does on uint8 (``quantize_grey``; the golden values need it: the
  chromatic golden pairs I04/I06 change by 30 % without it), then divided by 255
  (``im2double``); sigma_k are in these units.
- Pyramid (``laplacian_pyramid_s``): 6 levels; low-pass f' f with f = [.05 .25 .4 .25 .05];
  down = ``imfilter(I, f'f, 'symmetric')`` then ``(1:2:end, 1:2:end)``; up = 1-pixel
  'replicate' border, zero insertion with 4 x the values, ``imfilter`` with zero borders, crop
  back to the finer level's size; L_k = J_k - up(down(J_k)); L_6 is the low-pass residual.
- sigma = [0.0248 0.0185 0.0179 0.0191 0.0220 0.2782] and the 5 x 5 neighbour weights P_k of
  ``DN_filters`` (learned on the McGill data set), applied by convolution (kernel flipped).
- Safety: the denominator is >= sigma_k > 0; the per-level RMS takes sqrt(max(m, 1e-12)) where
  the mean square m > 1e-12 and m / 1e-6 below (exactly 0 for identical images, with a finite,
  zero gradient there; at most 1e-6 off where the RMS is below 1e-6).
- Only H and W known when the function is traced (the pyramid's crops use static shapes);
  images must be at least 17 x 17 (the 2-pixel 'symmetric' border of the fifth reduction needs
  a side of 2 there).
"""

from __future__ import annotations

import numpy as np
from keras import ops

from jndtf.iqa._ops import check_min_size, filter2d, grey_pair

#: number of pyramid levels of ``NLP_dist.m``.
NLPD_LEVELS = 6
#: sigma_k of ``DN_filters`` (grey in 0..1).
NLPD_SIGMAS = (0.0248, 0.0185, 0.0179, 0.0191, 0.0220, 0.2782)
#: smallest side: the fifth level (side / 16, rounded up) must be at least 2 for the
#: 'symmetric' border of the last reduction.
NLPD_MIN_SIZE = 17

_F = np.array([0.05, 0.25, 0.4, 0.25, 0.05])
_LOWPASS = np.outer(_F, _F)


def _dn_filters() -> list[np.ndarray]:
    """The 5 x 5 neighbour weights P_k of ``DN_filters`` (MATLAB orientation, for ``conv2``)."""
    inner = (
        ((0, 0.0757, 0), (0.1986, 0, 0.1846), (0, 0.0837, 0)),
        ((0, 0.0477, 0), (0.2138, 0, 0.2243), (0, 0.0467, 0)),
        ((0, 0, 0), (0.2503, 0, 0.2616), (0, 0, 0)),
        ((0, 0, 0), (0.2598, 0, 0.2552), (0, 0, 0)),
        ((0, 0, 0), (0.2215, 0, 0.0717), (0, 0, 0)),
    )
    first = np.zeros((5, 5))
    first[1, 2], first[2, 1], first[2, 3], first[2, 4], first[3, 2] = (
        0.1011,
        0.1493,
        0.1460,
        0.0072,
        0.1015,
    )
    out = [first]
    for k in inner:
        p = np.zeros((5, 5))
        p[1:4, 1:4] = k
        out.append(p)
    return out


_DN_FILTERS = _dn_filters()


def _downsample(j):
    return filter2d(j, _LOWPASS, mode="symmetric", stride=2)


def _upsample(i, height: int, width: int):
    """``upsample`` of ``laplacian_pyramid_s``, cropped to `height` x `width`."""
    # padarray(I, [1 1], 'replicate'); slices, as keras.ops.pad has no "edge" mode on TF.
    i = ops.concatenate([i[:, :1], i, i[:, -1:]], axis=1)
    i = ops.concatenate([i[:, :, :1], i, i[:, :, -1:]], axis=2)
    n, h, w, c = ops.shape(i)[0], i.shape[1], i.shape[2], i.shape[3]
    z = ops.zeros_like(i)
    i = ops.reshape(ops.stack([4.0 * i, z], axis=2), (n, 2 * h, w, c))
    z = ops.zeros_like(i)
    i = ops.reshape(ops.stack([i, z], axis=3), (n, 2 * h, 2 * w, c))
    r = filter2d(i, _LOWPASS, mode="zeros")
    return r[:, 2 : 2 + height, 2 : 2 + width, :]


def laplacian_pyramid(grey, levels: int = NLPD_LEVELS):
    """``laplacian_pyramid_s`` of ``NLP_dist.m``: `levels` NHWC tensors, finest first."""
    pyr = []
    j = grey
    for _ in range(levels - 1):
        i = _downsample(j)
        pyr.append(j - _upsample(i, j.shape[1], j.shape[2]))
        j = i
    pyr.append(j)
    return pyr


def normalized_laplacian_pyramid(
    x, data_range: float = 255.0, *, quantize_grey: bool | None = None
):
    """The normalised pyramid Y_k = L_k / (sigma_k + P_k * |L_k|) of one NHWC batch.

    Args:
        x: NHWC, RGB (C = 3) or grey (C = 1), values in 0..`data_range`, at least 17 x 17.
        data_range: the value of white (grey is brought to 0..1, the scale of sigma_k).
        quantize_grey: round RGB->grey to 8-bit levels (no gradient); None: only for uint8 input.

    Returns:
        A list of 6 NHW1 float32 tensors, finest level first (side H / 2^k, rounded up).
    """
    g, _ = grey_pair(x, x, data_range, quantize_grey, name="nlpd", to_255=True)
    check_min_size(g, NLPD_MIN_SIZE, "nlpd")
    return _normalize(laplacian_pyramid(g / 255.0))


def _normalize(pyr):
    out = []
    for lap, sigma, p in zip(pyr, NLPD_SIGMAS, _DN_FILTERS, strict=True):
        a2 = filter2d(ops.abs(lap), p[::-1, ::-1], mode="zeros")  # conv2(|L|, P, 'same')
        out.append(lap / (sigma + a2))
    return out


def _rms(d, eps: float = 1e-12):
    """sqrt(mean(d^2)) per image, exactly 0 with a finite gradient at d = 0 (see module doc)."""
    m = ops.mean(d * d, axis=(1, 2, 3))
    big = m > eps
    root = ops.sqrt(ops.where(big, m, eps))
    return ops.where(big, root, m / np.sqrt(eps))


def nlpd_scales(x, y, data_range: float = 255.0, *, quantize_grey: bool | None = None):
    """Per-level distances sqrt(mean((Y_k(x) - Y_k(y))^2)), shape (N, 6), finest level first.

    ``nlpd = nlpd_scales(...).mean(-1)``. Arguments as :func:`nlpd`.
    """
    x, y = grey_pair(x, y, data_range, quantize_grey, name="nlpd", to_255=True)
    check_min_size(x, NLPD_MIN_SIZE, "nlpd")
    n = ops.shape(x)[0]
    # Both images through one pyramid: the reference and the distorted image as one batch.
    both = _normalize(laplacian_pyramid(ops.concatenate([x, y], axis=0) / 255.0))
    return ops.stack([_rms(level[:n] - level[n:]) for level in both], axis=-1)


def nlpd(x, y, data_range: float = 255.0, *, quantize_grey: bool | None = None):
    """Normalized Laplacian Pyramid Distance (``NLP_dist.m``): lower is better, 0 if identical.

    NLPD = mean over 6 levels of the RMS difference of the normalised Laplacian pyramids
    (Laparra et al. 2016); formula and conventions in the module docstring. Symmetric in x, y.

    Args:
        x: reference, NHWC, RGB (C = 3) or grey (C = 1), values in 0..`data_range`,
            at least 17 x 17.
        y: distorted image, same shape.
        data_range: the value of white (grey is brought to 0..1, the scale of sigma_k).
        quantize_grey: round RGB->grey to 8-bit levels (no gradient); None: only for uint8 input.

    Returns:
        float32 tensor of shape (N,), in the (dimensionless) units of the normalised pyramid.

    Raises:
        ValueError: shapes differ, are not NHWC with C in (1, 3), or smaller than 17 x 17.

    Example:
        >>> import numpy as np
        >>> ref = np.random.default_rng(0).uniform(0, 255, (1, 64, 64, 3))
        >>> float(nlpd(ref, ref)[0])
        0.0
    """
    return ops.mean(nlpd_scales(x, y, data_range, quantize_grey=quantize_grey), axis=-1)


__all__ = [
    "NLPD_LEVELS",
    "NLPD_SIGMAS",
    "laplacian_pyramid",
    "nlpd",
    "nlpd_scales",
    "normalized_laplacian_pyramid",
]
