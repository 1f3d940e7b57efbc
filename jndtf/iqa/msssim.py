"""MS-SSIM, multi-scale structural similarity (Wang, Simoncelli & Bovik, Asilomar 2003).

Conventions (those of Zhou Wang's MATLAB ``msssim.m``):

- RGB -> grey with MATLAB ``rgb2gray`` (full-precision weights); uint8 input is rounded to
  grey levels (``quantize_grey``), grey input is used as it is. No automatic downsampling.
- 5 scales with weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333) (Table/eq. (7) of the paper);
  at every scale the SSIM statistics of :mod:`jndtf.iqa.ssim` (11 x 11 Gaussian, sigma 1.5,
  ``'valid'``, K1 = 0.01, K2 = 0.03, constants scaled by `data_range`).
- Between scales: 2 x 2 average, ``imfilter(..., 'symmetric', 'same')``, then every second
  pixel from the first.
- Score = prod_{j<M} mean(cs_j)^w_j * mean(ssim_M)^w_M (``method = 'product'``): the means are
  taken before the powers, as in ``msssim.m`` and ``tf.image.ssim_multiscale``.
- Safety (not in the original, which returns complex numbers): every mean term is clamped below
  at `floor` before its fractional power, so the score and its gradient stay finite when a
  scale's contrast-structure term is <= 0 (``tf.image.ssim_multiscale`` clamps at 0 with a
  ReLU and gets NaN gradients there, tensorflow#50400). The clamp never acts on images with
  positive structure correlation.
"""

from __future__ import annotations

from keras import ops

from jndtf.iqa._ops import grey_pair, mean_downsample
from jndtf.iqa.ssim import _check_params, ssim_cs_maps

#: Scale weights of Wang et al. 2003, finest scale first.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def ms_ssim(
    x,
    y,
    data_range: float = 255.0,
    *,
    weights=MS_SSIM_WEIGHTS,
    k1: float = 0.01,
    k2: float = 0.03,
    win_size: int = 11,
    sigma: float = 1.5,
    quantize_grey: bool | None = None,
    floor: float = 1e-6,
):
    """MS-SSIM per image, eq. (7) of Wang, Simoncelli & Bovik, Asilomar 2003.

    MS-SSIM = [l_M]^a_M * prod_{j=1..M} [c_j s_j]^w_j with a_M = w_M, computed as
    prod_{j<M} mean(cs_j)^w_j * mean(ssim_M)^w_M (``msssim.m``); see the module docstring.

    Args:
        x: reference, NHWC, RGB (C = 3) or grey (C = 1), values in 0..`data_range`.
        y: distorted image, same shape.
        data_range: L, the value of white (255 for 8-bit images, 1 for [0, 1] floats).
        weights: one exponent per scale, finest first; their number is the number of scales.
        k1: K1 of the luminance constant.
        k2: K2 of the contrast-structure constant.
        win_size: side of the Gaussian window.
        sigma: standard deviation of the window, pixels.
        quantize_grey: round RGB->grey to 8-bit levels (no gradient); None: only for uint8 input.
        floor: lower bound of each scale's term before its power (gradient safety).

    Returns:
        float32 (N,), unitless, 1 for identical images, higher is better (loss: ``1 - ms_ssim``).

    Raises:
        ValueError: shapes, channels, non-positive parameters, or min(H, W) / 2^(M-1) smaller
            than the window (176 px for the defaults; ``msssim.m`` returns -Inf there).

    Example:
        >>> from jndtf.iqa.msssim import ms_ssim
        >>> s = ms_ssim(ref_uint8, dist_uint8)         # (N,), MATLAB msssim.m convention
        >>> loss = 1.0 - ms_ssim(y_true, y_pred, data_range=1.0)
    """
    _check_params(data_range, k1, k2, win_size, sigma)
    weights = tuple(float(w) for w in weights)
    if not weights or any(w < 0 for w in weights) or sum(weights) == 0:
        raise ValueError(f"weights must be non-negative with a positive sum, got {weights}")
    if not floor > 0:
        raise ValueError(f"floor must be > 0, got {floor}")
    x, y = grey_pair(x, y, data_range, quantize_grey, name="ms_ssim")
    levels = len(weights)
    h, w = x.shape[1], x.shape[2]
    if h is not None and w is not None and min(h, w) / 2 ** (levels - 1) < win_size:
        raise ValueError(
            f"ms_ssim with {levels} scales and a {win_size}x{win_size} window needs "
            f"min(H, W) >= {win_size * 2 ** (levels - 1)}, got {h}x{w}"
        )
    score = None
    for level, weight in enumerate(weights):
        ssim_m, cs_m = ssim_cs_maps(x, y, float(data_range), k1, k2, int(win_size), sigma)
        term = ssim_m if level == levels - 1 else cs_m
        term = ops.maximum(ops.mean(term, axis=(1, 2, 3)), floor)
        term = ops.power(term, weight)
        score = term if score is None else score * term
        if level < levels - 1:
            x, y = mean_downsample(x, 2, "symmetric"), mean_downsample(y, 2, "symmetric")
    return score


__all__ = ["MS_SSIM_WEIGHTS", "ms_ssim"]
