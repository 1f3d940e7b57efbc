"""SSIM, the structural similarity index (Wang, Bovik, Sheikh & Simoncelli, IEEE TIP 13(4), 2004).

Conventions (those of Zhou Wang's MATLAB code, ``ssim_index.m`` 2003 and ``ssim.m`` 2009):

- RGB input is turned into grey with MATLAB ``rgb2gray`` (full-precision weights
  0.298936, 0.587043, 0.114021); uint8 input is rounded to grey levels as ``rgb2gray`` does on
  uint8 (``quantize_grey``). Grey (C = 1) input is used as it is.
- Automatic downsampling (``ssim.m``): f = max(1, round(min(H, W) / 256)), MATLAB rounding (half
  away from zero: 640 px gives f = 3, where Python's ``round`` and piq give 2); an f x f average
  filter (``imfilter(..., 'symmetric', 'same')``) and then every f-th pixel from the first.
  ``downsample=False`` is ``ssim_index.m``, which has no downsampling.
- 11 x 11 Gaussian window, sigma = 1.5 (``fspecial``), ``'valid'`` filtering: the map is
  (H' - 10) x (W' - 10) for the downsampled size H' x W'. Local moments are population moments
  (weights sum to 1), as in the original; scikit-image needs ``use_sample_covariance=False``.
- C1 = (K1 L)^2, C2 = (K2 L)^2 with K1 = 0.01, K2 = 0.03 and L = `data_range`.

Which original: the TID2013 golden values in ``shared/data/iqa-golden`` are ``ssim_index.m``
(``downsample=False`` reproduces them to the table's 4 decimals); the default follows the later
``ssim.m`` and gives 0.6423 instead of 0.6993 on the 512x384 pair I03 (f = 2). Images whose
smaller side is below 384 px are not downsampled, so the two agree there.
"""

from __future__ import annotations

import math

import numpy as np
from keras import ops

from jndtf.iqa._ops import filter2d, gaussian_kernel, grey_pair, mean_downsample


def _check_params(data_range: float, k1: float, k2: float, win_size: int, sigma: float) -> None:
    if not data_range > 0:
        raise ValueError(f"data_range must be > 0, got {data_range}")
    if not (k1 > 0 and k2 > 0):
        raise ValueError(f"k1 and k2 must be > 0 (they keep the ratios finite), got {k1}, {k2}")
    if int(win_size) != win_size or win_size < 1:
        raise ValueError(f"win_size must be a positive integer, got {win_size}")
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")


def downsample_factor(height: int | None, width: int | None) -> int:
    """Wang's ``ssim.m`` factor f = max(1, round(min(H, W) / 256)), rounding half away from 0."""
    if height is None or width is None:
        raise ValueError(
            "automatic SSIM downsampling needs a static height and width; pass downsample=False "
            "or an integer factor"
        )
    return max(1, math.floor(min(height, width) / 256 + 0.5))


def _resolve_factor(downsample, height, width) -> int:
    if downsample is True or downsample == "auto":
        return downsample_factor(height, width)
    if downsample is False or downsample is None:
        return 1
    if isinstance(downsample, int) and downsample >= 1:
        return downsample
    raise ValueError(f"downsample must be 'auto', True, False or an integer >= 1, got {downsample}")


def ssim_cs_maps(x, y, data_range: float, k1: float, k2: float, win_size: int, sigma: float):
    """The SSIM map and the contrast-structure map of two float32 NHWC batches.

    SSIM = l * cs, l = (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1),
    cs = (2 sigma_xy + C2) / (sigma_x^2 + sigma_y^2 + C2): eqs. (6)-(13) of Wang et al. 2004 with
    alpha = beta = gamma = 1 and C3 = C2 / 2. Both denominators are >= C1, C2 > 0.

    Raises:
        ValueError: the image is smaller than the window.
    """
    h, w = x.shape[1], x.shape[2]
    if h is not None and w is not None and (h < win_size or w < win_size):
        raise ValueError(
            f"images of {h}x{w} (after any downsampling) are smaller than the {win_size}x"
            f"{win_size} window"
        )
    k = gaussian_kernel(win_size, sigma).astype(np.float64)
    col, row = k.sum(axis=1, keepdims=True), k.sum(axis=0, keepdims=True)  # k == col @ row
    c = x.shape[-1]
    # The moments are those of x - m, y - m for the image's mean grey m: the same variances and
    # covariance, with ~10x less float32 cancellation in E[x^2] - mu^2 than at 0..255.
    m = ops.stop_gradient(ops.mean(x + y, axis=(1, 2, 3), keepdims=True) * 0.5)
    xc, yc = x - m, y - m
    stacked = ops.concatenate([xc, yc, xc * xc, yc * yc, xc * yc], axis=-1)
    filtered = filter2d(filter2d(stacked, col), row)
    mu_xc, mu_yc, e_xx, e_yy, e_xy = (filtered[..., i * c : (i + 1) * c] for i in range(5))
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    var_x = e_xx - mu_xc * mu_xc
    var_y = e_yy - mu_yc * mu_yc
    cov = e_xy - mu_xc * mu_yc
    mu_x, mu_y = mu_xc + m, mu_yc + m
    cs = (2.0 * cov + c2) / (var_x + var_y + c2)
    lum = (2.0 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1)
    return lum * cs, cs


def ssim_map(
    x,
    y,
    data_range: float = 255.0,
    *,
    k1: float = 0.01,
    k2: float = 0.03,
    win_size: int = 11,
    sigma: float = 1.5,
    downsample: bool | int | str = "auto",
    quantize_grey: bool | None = None,
):
    """Local SSIM map of two image batches, eq. (13) of Wang et al., IEEE TIP 2004.

    SSIM(x, y) = (2 mu_x mu_y + C1)(2 sigma_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 +
    sigma_y^2 + C2)), local statistics under an 11 x 11 Gaussian window (sigma 1.5),
    C1 = (0.01 L)^2, C2 = (0.03 L)^2, L = `data_range`. Colour, downsampling and border
    conventions are those of Wang's MATLAB ``ssim.m``: see the module docstring.

    Args:
        x: reference, NHWC, RGB (C = 3) or grey (C = 1), values in 0..`data_range`.
        y: distorted image, same shape.
        data_range: L, the value of white (255 for 8-bit images, 1 for [0, 1] floats).
        k1: K1 of the luminance constant.
        k2: K2 of the contrast-structure constant.
        win_size: side of the Gaussian window.
        sigma: standard deviation of the window, pixels.
        downsample: "auto"/True: Wang's factor max(1, round(min(H, W) / 256)); False: none
            (``ssim_index.m``, ``tf.image.ssim``, scikit-image); an int: that factor.
        quantize_grey: round RGB->grey to 8-bit levels (no gradient); None: only for uint8 input.

    Returns:
        float32 (N, H'', W'', 1), unitless, 1 where the images agree; H'' = ceil(H / f) - 10.

    Raises:
        ValueError: rank or shape mismatch, C not 1 or 3, image smaller than the window,
            non-positive parameters.

    Example:
        >>> from jndtf.iqa.ssim import ssim_map
        >>> m = ssim_map(ref, dist)          # (N, H'', W'', 1) in 0..255 inputs
        >>> worst = m.min()
    """
    _check_params(data_range, k1, k2, win_size, sigma)
    x, y = grey_pair(x, y, data_range, quantize_grey, name="ssim")
    f = _resolve_factor(downsample, x.shape[1], x.shape[2])
    x, y = mean_downsample(x, f, "symmetric"), mean_downsample(y, f, "symmetric")
    return ssim_cs_maps(x, y, float(data_range), k1, k2, int(win_size), sigma)[0]


def ssim(
    x,
    y,
    data_range: float = 255.0,
    *,
    k1: float = 0.01,
    k2: float = 0.03,
    win_size: int = 11,
    sigma: float = 1.5,
    downsample: bool | int | str = "auto",
    quantize_grey: bool | None = None,
):
    """Mean SSIM per image, eq. (17) of Wang et al., IEEE TIP 2004 (MSSIM, ``mean2(ssim_map)``).

    Same arguments and conventions as :func:`ssim_map`. Higher is better, 1 for identical images;
    as a loss use ``1 - ssim``. Gradients are finite everywhere (both denominators >= C1, C2).

    Returns:
        float32 (N,).

    Example:
        >>> from jndtf.iqa.ssim import ssim
        >>> s = ssim(ref_uint8, dist_uint8)  # MATLAB ssim.m on rgb2gray(uint8) images
        >>> loss = 1.0 - ssim(y_true, y_pred, data_range=1.0)
    """
    m = ssim_map(
        x,
        y,
        data_range,
        k1=k1,
        k2=k2,
        win_size=win_size,
        sigma=sigma,
        downsample=downsample,
        quantize_grey=quantize_grey,
    )
    return ops.mean(m, axis=(1, 2, 3))


__all__ = ["ssim", "ssim_map"]
