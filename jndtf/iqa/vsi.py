"""VSI, the visual-saliency-induced index (Zhang, Shen & Li, IEEE TIP 23(10), 2014).

Reproduces Lin Zhang's ``VSI.m`` (2013) with its SDSP saliency (Zhang, Gu & Li, ICIP 2013).
Conventions of the original, kept here:

- Saliency (SDSP) on the full-size RGB image in 0..255: each channel resized to 256x256 by
  MATLAB's ``imresize(.., 'bilinear')`` (triangle kernel widened by 1/scale when shrinking, i.e.
  antialiased; mirrored borders), the code's own RGB -> CIELAB (sRGB companding, the D65 sRGB
  matrix, but the D50 white 0.9642 / 1 / 0.8251), a log-Gabor band-pass in the FFT domain
  (omega0 = 0.021, sigma_F = 1.34, zero outside radius 0.5) on L, a, b, the centre prior
  ``exp(-d^2 / 145^2)`` on the 256x256 grid (1-based pixel coordinates, centre 128, 128) and the
  warm-colour prior ``1 - exp(-(a_n^2 + b_n^2) / 0.001^2)`` with a, b min-max normalised; the
  product is resized back to H x W with bilinear ``imresize`` and min-max normalised
  (``mat2gray``).
- Colour: ``L = 0.06 R + 0.63 G + 0.27 B``, ``M = 0.30 R + 0.04 G - 0.35 B``,
  ``N = 0.34 R - 0.60 G + 0.17 B`` on 0..255 values.
- Downsampling of L, M, N and both saliency maps as FSIM (``F = max(1, round(min(H, W) / 256))``,
  F x F box with zero padding placed as ``conv2(.., 'same')``, every F-th pixel).
- Gradient: Scharr ``[3 0 -3; 10 0 -10; 3 0 -3] / 16`` on L, zero padding.
- Constants: C1 (saliency) = 1.27, C2 (gradient) = 386, C3 (chroma) = 130, alpha = 0.40,
  beta (lambda in the code) = 0.02.

Differentiability: bounded sqrt / division / fractional powers; the min and max of the
normalisations pass gradients to the extreme pixels (as order statistics do); the piecewise
sRGB and CIELAB curves are ``where`` on bounded branches. ``real((S_M S_N) ** beta)`` is
``|S_M S_N| ** beta * cos(beta * pi)`` for negative products, the real part the original takes.
Float32 inside whatever the dtype policy. RGB input only (SDSP needs colour).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from keras import ops

from jndtf.iqa._ops import check_pair, mean_downsample, safe_sqrt, scharr_magnitude, similarity
from jndtf.iqa.fsim import downsample_factor

C_VS, C_GM, C_CHROM, ALPHA, BETA = 1.27, 386.0, 130.0, 0.40, 0.020
SIGMA_F, OMEGA0, SIGMA_D, SIGMA_C = 1.34, 0.021, 145.0, 0.001
SDSP_SIZE = 256
#: Opponent colour rows (L, M, N) of VSI.m applied to R, G, B in 0..255.
LMN_VSI = np.array([[0.06, 0.63, 0.27], [0.30, 0.04, -0.35], [0.34, -0.60, 0.17]])
_SRGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
_WHITE_D50 = np.array([0.9642, 1.0, 0.8251])
_EPS = 1e-12
_EPS_POW = 1e-6


def _triangle(x):
    return (1 + x) * ((-1 <= x) & (x < 0)) + (1 - x) * ((0 <= x) & (x <= 1))


@functools.lru_cache(maxsize=32)
def imresize_matrix(in_len: int, out_len: int) -> np.ndarray:
    """MATLAB ``imresize(.., 'bilinear')`` along one axis as an (out_len, in_len) matrix.

    Antialiased when shrinking (kernel ``s * tri(s x)`` of width 2 / s), mirrored borders
    (``[1:n, n:-1:1]``), weights normalised per output pixel, as ``contributions`` does.
    """
    scale = out_len / in_len
    if scale < 1:
        width = 2.0 / scale

        def kernel(x):
            return scale * _triangle(scale * x)
    else:
        width, kernel = 2.0, _triangle
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    taps = math.ceil(width) + 2
    ind = left[:, None] + np.arange(taps)[None, :]
    w = kernel(u[:, None] - ind)
    w = w / w.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(1, in_len + 1), np.arange(in_len, 0, -1)])
    ind = mirror[np.mod(ind - 1, len(mirror)).astype(int)] - 1
    out = np.zeros((out_len, in_len))
    np.add.at(out, (np.repeat(np.arange(out_len), taps), ind.ravel()), w.ravel())
    return out


@functools.lru_cache(maxsize=4)
def _sdsp_constants(size: int = SDSP_SIZE):
    """log-Gabor gain (DC at [0, 0]) and centre prior of SDSP on the size x size grid."""
    u = (np.arange(1, size + 1) - (size // 2 + 1)) / (size - size % 2)
    u1, u2 = np.meshgrid(u, u)
    inside = (u1**2 + u2**2) <= 0.25
    radius = np.fft.ifftshift(np.sqrt((u1 * inside) ** 2 + (u2 * inside) ** 2))
    radius[0, 0] = 1.0
    with np.errstate(divide="ignore"):
        lg = np.exp(-(np.log(radius / OMEGA0) ** 2) / (2 * SIGMA_F**2))
    lg[0, 0] = 0.0
    coords = np.arange(1, size + 1, dtype=np.float64) - size / 2
    centre = np.exp(-(coords[:, None] ** 2 + coords[None, :] ** 2) / SIGMA_D**2)
    return lg, centre


def _srgb_to_lab(rgb):
    """SDSP's RGB2Lab: (N, h, w, 3) in 0..255 -> L, a, b each (N, h, w)."""
    c = rgb / 255.0
    lin = ops.where(
        c <= 0.04045, c / 12.92, ops.power((ops.maximum(c, 0.04045) + 0.055) / 1.055, 2.4)
    )
    xyz = ops.matmul(lin, ops.convert_to_tensor((_SRGB_TO_XYZ.T / _WHITE_D50).astype(np.float32)))
    eps, kappa = 0.008856, 903.3
    f = ops.where(
        xyz > eps, ops.power(ops.maximum(xyz, eps), 1.0 / 3.0), (kappa * xyz + 16.0) / 116.0
    )
    fx, fy, fz = f[..., 0], f[..., 1], f[..., 2]
    return 116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)


def _minmax(v, axes=(1, 2)):
    lo = ops.min(v, axis=axes, keepdims=True)
    hi = ops.max(v, axis=axes, keepdims=True)
    return (v - lo) / ops.maximum(hi - lo, _EPS)


def _resize(v, rows_m, cols_m):
    """(N, h, w) -> (N, H, W) with separable matrices (out, in)."""
    r = ops.convert_to_tensor(rows_m.astype(np.float32))
    c = ops.convert_to_tensor(cols_m.astype(np.float32))
    v = ops.einsum("ij,njk->nik", r, v)
    return ops.einsum("nik,lk->nil", v, c)


def sdsp(rgb):
    """SDSP saliency of an RGB batch (N, H, W, 3) in 0..255 -> (N, H, W) in [0, 1]."""
    h, w = int(rgb.shape[1]), int(rgb.shape[2])
    down_r, down_c = imresize_matrix(h, SDSP_SIZE), imresize_matrix(w, SDSP_SIZE)
    small = ops.stack([_resize(rgb[..., k], down_r, down_c) for k in range(3)], axis=-1)
    lab = _srgb_to_lab(small)
    lg_np, centre_np = _sdsp_constants()
    lg = ops.convert_to_tensor(lg_np.astype(np.float32))
    power = 0.0
    for ch in lab:
        re, im = ops.fft2((ch, ops.zeros_like(ch)))
        filtered = ops.ifft2((re * lg, im * lg))[0]
        power = power + filtered * filtered
    sf = safe_sqrt(power, _EPS)
    a_n, b_n = _minmax(lab[1]), _minmax(lab[2])
    sc = 1.0 - ops.exp(-(a_n**2 + b_n**2) / SIGMA_C**2)
    vs = sf * ops.convert_to_tensor(centre_np.astype(np.float32)) * sc
    vs = _resize(vs, imresize_matrix(SDSP_SIZE, h), imresize_matrix(SDSP_SIZE, w))
    return _minmax(vs)


def _vsi_parts(x, y, data_range, name):
    x, y = check_pair(x, y, name=name)
    if x.shape[-1] != 3:
        raise ValueError(f"{name}: VSI needs RGB input (C = 3), got shape {tuple(x.shape)}")
    if data_range <= 0:
        raise ValueError(f"{name}: data_range must be positive, got {data_range}")
    scale = 255.0 / float(data_range)
    x, y = x * scale, y * scale
    h, w = int(x.shape[1]), int(x.shape[2])
    lmn = ops.convert_to_tensor(LMN_VSI.T.astype(np.float32))
    fx = ops.concatenate([ops.matmul(x, lmn), sdsp(x)[..., None]], axis=-1)  # L, M, N, VS
    fy = ops.concatenate([ops.matmul(y, lmn), sdsp(y)[..., None]], axis=-1)
    f = downsample_factor(h, w)
    fx, fy = mean_downsample(fx, f, "zeros"), mean_downsample(fy, f, "zeros")
    s_vs = similarity(fx[..., 3:4], fy[..., 3:4], C_VS)
    s_gm = similarity(
        scharr_magnitude(fx[..., 0:1], _EPS), scharr_magnitude(fy[..., 0:1], _EPS), C_GM
    )
    s_m = similarity(fx[..., 1:2], fy[..., 1:2], C_CHROM)
    s_n = similarity(fx[..., 2:3], fy[..., 2:3], C_CHROM)
    p = s_m * s_n
    chroma = ops.power(ops.maximum(ops.abs(p), _EPS_POW), BETA)
    chroma = chroma * ops.where(p < 0, math.cos(BETA * math.pi), 1.0)
    sim = ops.power(ops.maximum(s_gm, _EPS), ALPHA) * s_vs * chroma
    return sim, ops.maximum(fx[..., 3:4], fy[..., 3:4])


def vsi_map(x, y, data_range: float = 255.0):
    """Local VSI similarity ``S_GM ** alpha * S_VS * real((S_M S_N) ** beta)``.

    Zhang, Shen & Li, "VSI: a visual saliency-induced index for perceptual image quality
    assessment", IEEE TIP 23(10), 2014, Sec. III; the score is this map averaged with weights
    ``max(VS_x, VS_y)``.

    Args:
        x: (N, H, W, 3) RGB batch in 0..`data_range`.
        y: the other batch, same shape.
        data_range: value of white.

    Returns:
        (N, ceil(H/F), ceil(W/F), 1) float32 map, F = FSIM's ``downsample_factor``.

    Example:
        >>> m = vsi_map(ref, dist)             # (N, 192, 256, 1) for 384x512 inputs
        >>> float(m.numpy().max()) <= 1.0
        True
    """
    sim, _ = _vsi_parts(x, y, data_range, "vsi_map")
    return sim


def vsi(x, y, data_range: float = 255.0):
    """VSI score per image, as Lin Zhang's VSI.m computes it; 1 for identical images.

    ``VSI = sum S(x) VS_m(x) / sum VS_m(x)``, ``S = S_VS * S_GM ** alpha * real((S_M S_N) **
    beta)``, ``VS_m = max(VS_x, VS_y)`` with SDSP saliency maps (Zhang, Shen & Li, IEEE TIP
    23(10), 2014, Sec. III). Higher is better; use ``1 - vsi`` as a loss.

    Args:
        x: (N, H, W, 3) RGB batch in 0..`data_range` (uint8 or float).
        y: the other batch, same shape (the metric is symmetric).
        data_range: value of white (255 for 8-bit, 1 for [0, 1] floats).

    Returns:
        (N,) float32 scores.

    Raises:
        ValueError: rank other than 4, different shapes, C != 3, data_range <= 0.

    Example:
        >>> from jndtf.iqa.vsi import vsi
        >>> s = vsi(ref[None], dist[None])
        >>> loss = 1.0 - s
    """
    sim, weight = _vsi_parts(x, y, data_range, "vsi")
    num = ops.sum(sim * weight, axis=(1, 2, 3)) + _EPS
    return num / (ops.sum(weight, axis=(1, 2, 3)) + _EPS)


__all__ = ["imresize_matrix", "sdsp", "vsi", "vsi_map"]
