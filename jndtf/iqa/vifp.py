"""VIFp, pixel-domain Visual Information Fidelity (LIVE ``vifp_mscale.m``, Sheikh & Bovik 2006).

The multi-scale pixel-domain, scalar-GSM simplification that LIVE released beside the wavelet VIF
of H. R. Sheikh and A. C. Bovik, "Image information and visual quality", IEEE TIP 15(2),
430-444, 2006 (the paper describes only the wavelet version, see :mod:`jndtf.iqa.vif`). At each
of four scales s = 1..4, with a Gaussian window w of size N = 2^(5-s) + 1 and sigma N / 5
(``fspecial``), local statistics in 'valid' positions (``filter2``):

    g = sigma_xy / (sigma_x^2 + 1e-10),      sigma_v^2 = sigma_y^2 - g sigma_xy,
    num_s = sum log10(1 + g^2 sigma_x^2 / (sigma_v^2 + sigma_n^2)),
    den_s = sum log10(1 + sigma_x^2 / sigma_n^2),          sigma_n^2 = 2,
    VIFp = sum_s num_s / sum_s den_s,

x the reference, y the distorted image (the order matters). Before scales 2..4 both images are
filtered 'valid' with that scale's window and decimated, ``ref(1:2:end, 1:2:end)``.

Conventions (those of ``vifp_mscale.m``):

- Grey input in 0..255: RGB goes through MATLAB ``rgb2gray`` (full-precision weights); uint8
  input is rounded to grey levels as ``rgb2gray`` does on uint8 (``quantize_grey``); images are
  rescaled to 0..255 first, the scale of sigma_n^2 = 2.
- The original's clean-up of impossible estimates, with its tolerance 1e-10: negative variances
  -> 0; where sigma_x^2 < 1e-10: g = 0, sigma_v^2 = sigma_y^2; where sigma_y^2 < 1e-10: g = 0,
  sigma_v^2 = 0; where g < 0: sigma_v^2 = sigma_y^2, g = 0; sigma_v^2 >= 1e-10.
- Safety (a deviation only where the original divides 0 by 0): the masked divisions never see a
  zero denominator (so gradients are finite), and VIFp = (num + 1e-10) / (den + 1e-10), which is
  1 for two identical flat images (MATLAB: NaN).
- Images must be at least 41 x 41 (four 'valid' scales, as piq requires).
"""

from __future__ import annotations

from keras import ops

from jndtf.iqa._ops import check_min_size, filter2d, gaussian_kernel, grey_pair

#: sigma_n^2 of ``vifp_mscale.m`` (visual noise variance, 0..255 grey levels squared).
VIFP_SIGMA_NSQ = 2.0
#: the tolerance of ``vifp_mscale.m`` for a zero variance.
VIFP_TOL = 1e-10
#: smallest side: four 'valid' Gaussian scales (17, 9, 5, 3) with decimation.
VIFP_MIN_SIZE = 41
_SCALES = 4
_RATIO_EPS = 1e-10


def _channel_params(sx, sy, sxy, tol: float, norm: float = 1.0):
    """g and sigma_v^2 with the LIVE clean-up rules, gradient-safe (no 0/0 in any branch).

    ``norm`` divides the regression residual only, as ``vifvec.m`` does with its box sums
    (``vv = (ss_y - g.*cov_xy) / sum(win(:))``, while the masked entries take ``ss_y`` as is).
    """
    sx = ops.maximum(sx, 0.0)
    sy = ops.maximum(sy, 0.0)
    small_x = sx < tol
    g = sxy / ops.where(small_x, 1.0, sx + tol)
    sv = (sy - g * sxy) / norm
    g = ops.where(small_x, 0.0, g)
    sv = ops.where(small_x, sy, sv)
    sx = ops.where(small_x, 0.0, sx)
    small_y = sy < tol
    g = ops.where(small_y, 0.0, g)
    sv = ops.where(small_y, 0.0, sv)
    negative = g < 0
    sv = ops.where(negative, sy, sv)
    g = ops.where(negative, 0.0, g)
    sv = ops.maximum(sv, tol)
    return g, sv, sx


def vifp_scales(
    x,
    y,
    data_range: float = 255.0,
    *,
    sigma_nsq: float = VIFP_SIGMA_NSQ,
    quantize_grey: bool | None = None,
):
    """Per-scale information terms of VIFp: ``(num, den)``, each of shape (N, 4), fine first.

    ``num[:, s]`` is the information the distorted image carries about the reference at scale s,
    ``den[:, s]`` the reference's own information (log10 units, summed over positions);
    ``vifp = num.sum(-1) / den.sum(-1)``. Arguments as :func:`vifp`.
    """
    x, y = grey_pair(x, y, data_range, quantize_grey, name="vifp", to_255=True)
    check_min_size(x, VIFP_MIN_SIZE, "vifp")
    # (Co)variances do not change when each image is shifted by a constant (the windows sum to
    # 1): centring keeps E[x^2] - E[x]^2 from cancelling catastrophically in float32.
    x = x - ops.mean(x, axis=(1, 2, 3), keepdims=True)
    y = y - ops.mean(y, axis=(1, 2, 3), keepdims=True)
    # Speed: x and y travel as two channels of one tensor, and the five local moments of a scale
    # as five channels of one filtering; filter2d runs the Gaussian as two 1-D passes.
    xy = ops.concatenate([x, y], axis=-1)
    nums, dens = [], []
    for s in range(1, _SCALES + 1):
        n = 2 ** (_SCALES - s + 1) + 1
        win = gaussian_kernel(n, n / 5.0)
        if s > 1:
            xy = filter2d(xy, win, mode="valid", stride=2)
        x, y = xy[..., :1], xy[..., 1:]
        moments = filter2d(ops.concatenate([xy, x * x, y * y, x * y], axis=-1), win, "valid")
        mu_x, mu_y = moments[..., 0:1], moments[..., 1:2]
        sx = moments[..., 2:3] - mu_x * mu_x
        sy = moments[..., 3:4] - mu_y * mu_y
        sxy = moments[..., 4:5] - mu_x * mu_y
        g, sv, sx = _channel_params(sx, sy, sxy, VIFP_TOL)
        num = ops.log10(1.0 + g * g * sx / (sv + sigma_nsq))
        den = ops.log10(1.0 + sx / sigma_nsq)
        nums.append(ops.sum(num, axis=(1, 2, 3)))
        dens.append(ops.sum(den, axis=(1, 2, 3)))
    return ops.stack(nums, axis=-1), ops.stack(dens, axis=-1)


def vifp(
    x,
    y,
    data_range: float = 255.0,
    *,
    sigma_nsq: float = VIFP_SIGMA_NSQ,
    quantize_grey: bool | None = None,
):
    """Pixel-domain VIF (LIVE ``vifp_mscale.m``): higher is better, 1 for identical images.

    VIFp = sum_s num_s / sum_s den_s over four Gaussian scales; formula and conventions in the
    module docstring. Values above 1 mean contrast enhancement. As a loss use ``1 - vifp``.

    Args:
        x: reference, NHWC, RGB (C = 3) or grey (C = 1), values in 0..`data_range`,
            at least 41 x 41.
        y: distorted image, same shape (the order matters).
        data_range: the value of white; images are rescaled to 0..255, the scale of sigma_n^2.
        sigma_nsq: visual noise variance sigma_n^2 in 0..255 units (2 in the original).
        quantize_grey: round RGB->grey to 8-bit levels (no gradient); None: only for uint8 input.

    Returns:
        float32 tensor of shape (N,).

    Raises:
        ValueError: shapes differ, are not NHWC with C in (1, 3), or smaller than 41 x 41.

    Example:
        >>> import numpy as np
        >>> ref = np.random.default_rng(0).uniform(0, 255, (1, 64, 64, 3))
        >>> round(float(vifp(ref, ref)[0]), 4)
        1.0
    """
    num, den = vifp_scales(x, y, data_range, sigma_nsq=sigma_nsq, quantize_grey=quantize_grey)
    return (ops.sum(num, axis=-1) + _RATIO_EPS) / (ops.sum(den, axis=-1) + _RATIO_EPS)


__all__ = ["VIFP_SIGMA_NSQ", "vifp", "vifp_scales"]
