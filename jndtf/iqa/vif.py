"""VIF, Visual Information Fidelity in the wavelet domain (Sheikh & Bovik, IEEE TIP 15(2), 2006).

H. R. Sheikh and A. C. Bovik, "Image information and visual quality", IEEE TIP 15(2), 430-444,
2006, as implemented by LIVE's ``vifvec.m`` (the version with "more subbands, better boundary
handling and a window that resizes itself with the scale"). In each sub-band k the reference is
a Gaussian scale mixture C = s U, U ~ N(0, C_U) on M x M = 3 x 3 neighbourhoods; the distortion
channel is D = g C + V; the visual noise has variance sigma_n^2. The paper's VIF is the
information the distorted image carries about the reference over the reference's own
information; with lambda_j the eigenvalues of C_U (equation numbers are not cited: we could not
check them against the published paper),

    VIF = sum_k sum_b sum_j log2(1 + g_b^2 s_b^2 lambda_j / (sigma_v,b^2 + sigma_n^2))
        / sum_k sum_b sum_j log2(1 + s_b^2 lambda_j / sigma_n^2),

b running over the non-overlapping 3 x 3 blocks of sub-band k. x is the reference, y the distorted
image (the order matters).

Conventions (those of ``vifvec.m``, which reproduces the golden TID2013 values):

- Grey input in 0..255: RGB goes through MATLAB ``rgb2gray`` (full-precision weights); uint8
  input is rounded to grey levels as ``rgb2gray`` does on uint8 (``quantize_grey``: the golden
  values need it). Images are rescaled to 0..255, the scale of sigma_n^2 = 0.4.
- Wavelet: ``buildSpyr(im, 4, 'sp5Filters', 'reflect1')``, the spatial steerable pyramid with
  the fifth-order filters (4 levels x 6 orientations; see :mod:`jndtf.iqa._steerable`).
- Sub-bands ``[4 7 10 13 16 19 22 25]`` of ``ind2wtree``: orientations 1 and 4 (0 and 90
  degrees) of each level, coarsest first; the order of :func:`vif_subbands`' columns.
- Each sub-band is cropped to a multiple of M = 3. Distortion channel (``vifsub_est_M``): local
  statistics over a w x w box, w = 2^(5 - level) + 1 (17, 9, 5, 3 from the finest level, i.e.
  the largest window at the finest level, as the code does), 'reflect1' borders, evaluated at
  the centre of each 3 x 3 block; g = cov / (var_x + 1e-15), sigma_v^2 = (var_y - g cov) / w^2,
  with the original's clean-up (negative variances -> 0; var_x < tol: g = 0, sigma_v^2 =
  var_y; var_y < tol: g = 0, sigma_v^2 = 0; g < 0: sigma_v^2 = var_y, g = 0; sigma_v^2 >= tol).
- Reference (``refparams_vecgsm``): C_U is the covariance (normalised by the count) of all
  overlapping 3 x 3 blocks; s_b^2 = u_b^T C_U^-1 u_b / 9 on the non-overlapping blocks.
- ceil(((w - 1) / 2) / 3) blocks are dropped at every border before the sums.

Safety (deviations that only matter where the original fails or divides 0 by 0): C_U gets
(1e-6 x its mean variance + 1e-6) x (1, 1 + 1/9, ..., 1 + 8/9) added to its diagonal: an
inverse that exists in float32 (MATLAB's ``inv`` returns Inf for a flat or perfectly linear
sub-band, and the score is NaN) and distinct eigenvalues (finite gradients of the
eigen-decomposition); it moves VIF by <= 1e-4 relative on natural images. Masked
divisions never see a zero denominator; eigenvalues and s^2 are clamped at 0; VIF =
(num + 1e-10) / (den + 1e-10), which is 1 for two identical flat images (MATLAB: NaN). The
original refuses images below 72 x 72 (``maxPyrHt``); here anything from 25 x 25 works, and the
coarsest level simply contributes nothing below 65 x 65.
"""

from __future__ import annotations

import numpy as np
from keras import ops

from jndtf.iqa._ops import check_min_size, grey_pair, pad2d
from jndtf.iqa._steerable import min_size, sp5_bands
from jndtf.iqa.vifp import _channel_params

#: sigma_n^2 of ``vifvec.m`` (visual noise variance, 0..255 grey levels squared).
VIF_SIGMA_NSQ = 0.4
#: the tolerance of ``vifvec.m`` for a zero variance.
VIF_TOL = 1e-15
#: side of the GSM neighbourhoods (M x M).
VIF_M = 3
_LEVELS = 4
#: 0-based orientations used at each level (``vifvec``'s sub-bands 25 & 22 at the finest, ...).
_ORIENTATIONS = (0, 3)
_COV_JITTER_REL = 1e-6
_COV_JITTER_ABS = 1e-6
_RATIO_EPS = 1e-10


def _block_vectors(y, m: int, step: int):
    """(N, rows, cols, m*m): the m x m blocks of NHW1 `y` at the given step, column-major order.

    A 'valid' convolution with one-hot kernels (exact: products with 1 and sums of zeros);
    component j*m + k is the block's pixel (row k, column j), MATLAB's ``y(k:..., j:...)`` loop.
    """
    eye = np.zeros((m, m, 1, m * m), dtype=np.float32)
    for j in range(m):
        for k in range(m):
            eye[k, j, 0, j * m + k] = 1.0
    return ops.conv(
        y, ops.convert_to_tensor(eye), strides=step, padding="valid", data_format="channels_last"
    )


def _reference_params(y, m: int):
    """s^2 per non-overlapping block (N, H/m, W/m) and eigenvalues of C_U (N, m*m)."""
    dim = m * m
    u = _block_vectors(y, m, 1)
    u = ops.reshape(u, (-1, u.shape[1] * u.shape[2], dim))
    u = u - ops.mean(u, axis=1, keepdims=True)
    cov = ops.einsum("npa,npb->nab", u, u) / float(u.shape[1])
    # Jitter relative to the mean variance (plus an absolute floor): representable in float32
    # next to the largest entry, so the matrix stays invertible and its eigenvalues distinct.
    scale = _COV_JITTER_REL * ops.trace(cov, axis1=1, axis2=2) / float(dim) + _COV_JITTER_ABS
    ramp = ops.convert_to_tensor(np.diag(1.0 + np.arange(dim, dtype=np.float32) / dim))
    cov = cov + scale[:, None, None] * ramp
    lam = ops.maximum(ops.eigh(cov)[0], 0.0)
    blocks = _block_vectors(y, m, m)  # (N, H/m, W/m, dim)
    proj = ops.einsum("nhwa,nab->nhwb", blocks, ops.inv(cov))
    ss = ops.sum(proj * blocks, axis=-1) / float(dim)
    return ops.maximum(ss, 0.0), lam


def _box_stats(y, yn, win: int, m: int):
    """Sums over w x w boxes ('reflect1') centred on the m x m block centres: var_x, var_y, cov."""
    p = (win - 1) // 2
    n = float(win * win)

    def box_mean(a):
        a = pad2d(a, p, p, p, p, "reflect")[:, m // 2 :, m // 2 :, :]
        # Separable: a column pass then a row pass (the box is a product of two 1-D boxes).
        a = ops.average_pool(
            a, pool_size=(win, 1), strides=(m, 1), padding="valid", data_format="channels_last"
        )
        return ops.average_pool(
            a, pool_size=(1, win), strides=(1, m), padding="valid", data_format="channels_last"
        )

    mx, my = box_mean(y), box_mean(yn)
    sx = n * (box_mean(y * y) - mx * mx)
    sy = n * (box_mean(yn * yn) - my * my)
    sxy = n * (box_mean(y * yn) - mx * my)
    return sx, sy, sxy


def _subband_information(y, yn, level: int, sigma_nsq: float):
    """(num, den) of one sub-band, each (N,); `level` 0 is the finest."""
    m = VIF_M
    h, w = (y.shape[1] // m) * m, (y.shape[2] // m) * m
    y, yn = y[:, :h, :w, :], yn[:, :h, :w, :]
    win = 2 ** (_LEVELS - level) + 1
    sx, sy, sxy = _box_stats(y, yn, win, m)
    g, vv, _ = _channel_params(sx, sy, sxy, VIF_TOL, norm=float(win * win))
    ss, lam = _reference_params(y, m)
    off = -(-((win - 1) // 2) // m)  # ceil(offset / M)
    g = g[:, off : g.shape[1] - off, off : g.shape[2] - off, 0]
    vv = vv[:, off : vv.shape[1] - off, off : vv.shape[2] - off, 0]
    ss = ss[:, off : ss.shape[1] - off, off : ss.shape[2] - off]
    lam = lam[:, None, None, :]
    gain = (g * g * ss)[..., None] * lam / (vv[..., None] + sigma_nsq)
    ref = ss[..., None] * lam / sigma_nsq
    num = ops.sum(ops.log2(1.0 + gain), axis=(1, 2, 3))
    den = ops.sum(ops.log2(1.0 + ref), axis=(1, 2, 3))
    return num, den


def vif_subbands(
    x,
    y,
    data_range: float = 255.0,
    *,
    sigma_nsq: float = VIF_SIGMA_NSQ,
    quantize_grey: bool | None = None,
):
    """Per-sub-band information terms of VIF: ``(num, den)``, each of shape (N, 8).

    Columns follow ``vifvec``'s sub-band list ``[4 7 10 13 16 19 22 25]``: (level 4, 90 deg),
    (level 4, 0 deg), (level 3, 90 deg), ..., (level 1, 0 deg), coarsest first. ``num`` is the
    information the distorted image carries about the reference (bits), ``den`` the reference's
    own information; ``vif = num.sum(-1) / den.sum(-1)``. Arguments as
    :func:`vif`.
    """
    x, y = grey_pair(x, y, data_range, quantize_grey, name="vif", to_255=True)
    check_min_size(x, min_size(_LEVELS), "vif")
    # The sub-bands used are blind to a constant (zero-sum band filters): removing each image's
    # mean changes nothing but float32 round-off (a flat image gives exact zeros).
    x = x - ops.mean(x, axis=(1, 2, 3), keepdims=True)
    y = y - ops.mean(y, axis=(1, 2, 3), keepdims=True)
    # Both pyramids in one pass: the reference and the distorted image as one batch.
    n = ops.shape(x)[0]
    levels = sp5_bands(ops.concatenate([x, y], axis=0), _LEVELS, _ORIENTATIONS)
    nb = len(_ORIENTATIONS)
    nums, dens = [], []
    for level in reversed(range(_LEVELS)):
        # The orientations of a level go through the statistics as one batch (band-major, in
        # vifvec's order: 90 then 0 degrees); one graph per level instead of per sub-band.
        sub = ops.flip(levels[level], axis=-1)
        h, w = sub.shape[1], sub.shape[2]
        ref = ops.reshape(ops.transpose(sub[:n], (3, 0, 1, 2)), (-1, h, w, 1))
        dist = ops.reshape(ops.transpose(sub[n:], (3, 0, 1, 2)), (-1, h, w, 1))
        num, den = _subband_information(ref, dist, level, sigma_nsq)
        nums.append(ops.reshape(num, (nb, -1)))
        dens.append(ops.reshape(den, (nb, -1)))
    num, den = ops.concatenate(nums, axis=0), ops.concatenate(dens, axis=0)
    return ops.transpose(num), ops.transpose(den)


def vif(
    x,
    y,
    data_range: float = 255.0,
    *,
    sigma_nsq: float = VIF_SIGMA_NSQ,
    quantize_grey: bool | None = None,
):
    """Wavelet-domain VIF (LIVE ``vifvec.m``): higher is better, 1 for identical images.

    VIF of Sheikh & Bovik 2006 over the steerable-pyramid sub-bands; formula and conventions in
    the module docstring. A reference without texture carries ~0 bits: VIF is then ill-posed
    (huge for any added detail, steep gradients), as in the original. Values above 1 mean
    contrast enhancement. As a loss use ``1 - vif``.

    Args:
        x: reference, NHWC, RGB (C = 3) or grey (C = 1), values in 0..`data_range`,
            at least 25 x 25.
        y: distorted image, same shape (the order matters).
        data_range: the value of white; images are rescaled to 0..255, the scale of sigma_n^2.
        sigma_nsq: visual noise variance sigma_n^2 in 0..255 units (0.4 in the original).
        quantize_grey: round RGB->grey to 8-bit levels (no gradient); None: only for uint8 input.

    Returns:
        float32 tensor of shape (N,).

    Raises:
        ValueError: shapes differ, are not NHWC with C in (1, 3), or smaller than 25 x 25.

    Example:
        >>> import numpy as np
        >>> ref = np.random.default_rng(0).uniform(0, 255, (1, 64, 64, 3))
        >>> round(float(vif(ref, ref)[0]), 4)
        1.0
    """
    num, den = vif_subbands(x, y, data_range, sigma_nsq=sigma_nsq, quantize_grey=quantize_grey)
    return (ops.sum(num, axis=-1) + _RATIO_EPS) / (ops.sum(den, axis=-1) + _RATIO_EPS)


__all__ = ["VIF_M", "VIF_SIGMA_NSQ", "vif", "vif_subbands"]
