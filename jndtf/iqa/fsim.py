"""FSIM and FSIMc, the feature-similarity index (Zhang, Zhang, Mou & Zhang, IEEE TIP 2011).

Reproduces Lin Zhang's ``FeatureSIM.m`` ("FSIM index with automatic downsampling", v1.0, 2010),
including Peter Kovesi's ``phasecong2`` as embedded there. Conventions of the original, kept here:

- Colour: YIQ with the original's rounded matrix, ``Y = 0.299 R + 0.587 G + 0.114 B``,
  ``I = 0.596 R - 0.274 G - 0.322 B``, ``Q = 0.211 R - 0.523 G + 0.312 B`` on 0..255 values
  (not MATLAB's ``rgb2gray``, no rounding). A grey input (C = 1) is taken as Y, and then
  FSIMc = FSIM, as in the original.
- Downsampling: ``F = max(1, round(min(H, W) / 256))`` (MATLAB's round, halves away from zero),
  an F x F box filter with zero padding placed as ``conv2(.., 'same')`` places it, then every F-th
  pixel from the first. For 512x384, F = 2 and the maps are 256x192. (piq rounds with Python's
  ``round``, so it differs from the original when min(H, W) / 256 ends in .5 with an even floor.)
- Phase congruency (``phasecong2``): log-Gabor filters built in the FFT domain with 4 scales
  (minimum wavelength 6, factor 2, sigma_f 0.55) and 4 orientations (dThetaOnSigma 1.2),
  multiplied by a Butterworth low-pass (cutoff 0.45, order 15); circular convolution through the
  FFT of the whole (downsampled) image; noise threshold k = 2 from the median of the smallest
  scale's energy, rescaled by 1/1.7; epsilon 1e-4 in the mean-phase normalisation.
- Gradient: Scharr kernels ``[3 0 -3; 10 0 -10; 3 0 -3] / 16`` and its transpose, zero padding.
- Constants: T1 = 0.85, T2 = 160, T3 = T4 = 200, lambda = 0.03 (for 0..255 images).

Differentiability (these are used as losses): every square root, division and fractional power
has an explicit lower bound (``eps``) and the noise threshold of phase congruency (a median, a
data-dependent threshold like the original's max/argmax logic) is wrapped in ``stop_gradient``:
gradients flow through the filter responses, not through the noise estimate. The chromatic
factor ``real((S_I S_Q) ** lambda)`` of the original (negative products give a complex power) is
``|S_I S_Q| ** lambda * cos(lambda * pi)`` for negative products, exactly its real part.
At a flat image (all zeros, all 255) the luma terms have a kink: the gradient magnitude and the
filter responses are 0 and grow like ``|t|`` along any perturbation ``t v``, so they contribute
the zero sub-gradient there (FSIMc still moves such an image through S_I and S_Q).
Computation is float32 whatever the global dtype policy.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from keras import ops

from jndtf.iqa._ops import check_pair, mean_downsample, safe_sqrt, scharr_magnitude, similarity

#: YIQ rows of FeatureSIM.m (Y, I, Q) applied to R, G, B in 0..255.
YIQ_FSIM = np.array(
    [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], dtype=np.float64
)
T1, T2, T3, T4, LAMBDA = 0.85, 160.0, 200.0, 200.0, 0.03

# phasecong2 settings of FeatureSIM.m
_NSCALE, _NORIENT, _MIN_WAVELENGTH, _MULT = 4, 4, 6, 2
_SIGMA_ONF, _DTHETA_ON_SIGMA, _K_NOISE, _EPSILON = 0.55, 1.2, 2.0, 1e-4
_EPS = 1e-12  # lower bound before sqrt / division (float32 amplitudes are >> this)
_EPS_POW = 1e-6  # lower bound of |S_I S_Q| before the 0.03 power: bounds its derivative


def matlab_round(v: float) -> int:
    """MATLAB's ``round``: halves away from zero (Python's ``round`` rounds halves to even)."""
    return math.floor(abs(v) + 0.5) * (1 if v >= 0 else -1)


def downsample_factor(height: int, width: int) -> int:
    """The original's automatic downsampling factor ``max(1, round(min(H, W) / 256))``."""
    return max(1, matlab_round(min(height, width) / 256.0))


def _centred_range(n: int) -> np.ndarray:
    """Kovesi's frequency coordinates normalised to +/-0.5 (odd and even sizes differ)."""
    if n % 2:
        return np.arange(-(n - 1) / 2, (n - 1) / 2 + 1) / (n - 1)
    return np.arange(-n / 2, n / 2) / n


@functools.lru_cache(maxsize=16)
def _phasecong_filters(rows: int, cols: int):
    """Filters and noise constants of ``phasecong2`` for one image size (float64 numpy).

    Returns:
        filters: (norient * nscale, rows, cols), orientation-major, zero frequency at [0, 0].
        noise_gain: (norient,) such that the noise threshold of orientation o is
            ``noise_gain[o] * sqrt(median(|EO(scale 1, o)|^2))``.
    """
    x, y = np.meshgrid(_centred_range(cols), _centred_range(rows))
    radius_c = np.sqrt(x**2 + y**2)
    lowpass = np.fft.ifftshift(1.0 / (1.0 + (radius_c / 0.45) ** (2 * 15)))
    radius = np.fft.ifftshift(radius_c)
    theta = np.fft.ifftshift(np.arctan2(-y, x))
    radius[0, 0] = 1.0
    sin_t, cos_t = np.sin(theta), np.cos(theta)

    log_gabor = []
    for s in range(_NSCALE):
        fo = 1.0 / (_MIN_WAVELENGTH * _MULT**s)
        g = np.exp(-(np.log(radius / fo) ** 2) / (2 * math.log(_SIGMA_ONF) ** 2)) * lowpass
        g[0, 0] = 0.0
        log_gabor.append(g)

    theta_sigma = math.pi / _NORIENT / _DTHETA_ON_SIGMA
    filters, gains = [], []
    for o in range(_NORIENT):
        angle = o * math.pi / _NORIENT
        ds = sin_t * math.cos(angle) - cos_t * math.sin(angle)
        dc = cos_t * math.cos(angle) + sin_t * math.sin(angle)
        spread = np.exp(-(np.arctan2(ds, dc) ** 2) / (2 * theta_sigma**2))
        per_scale = [g * spread for g in log_gabor]
        filters.extend(per_scale)
        # Noise model of phasecong2: only filter-dependent sums, so constants per orientation.
        spatial = [np.real(np.fft.ifft2(f)) * math.sqrt(rows * cols) for f in per_scale]
        em_n = float(np.sum(per_scale[0] ** 2))
        sum_an2 = float(sum(np.sum(a**2) for a in spatial))
        sum_aiaj = float(
            sum(
                np.sum(spatial[i] * spatial[j])
                for i in range(_NSCALE)
                for j in range(i + 1, _NSCALE)
            )
        )
        # noisePower = median / (-log 0.5) / EM_n; E2 = noisePower (2 sumAn2 + 4 sumAiAj)
        # tau = sqrt(E2 / 2); T = (tau sqrt(pi/2) + k tau sqrt(2 - pi/2)) / 1.7
        tau_per_sqrt_median = math.sqrt((2 * sum_an2 + 4 * sum_aiaj) / 2 / (-math.log(0.5)) / em_n)
        rayleigh = math.sqrt(math.pi / 2) + _K_NOISE * math.sqrt(2 - math.pi / 2)
        gains.append(tau_per_sqrt_median * rayleigh / 1.7)
    return np.stack(filters), np.asarray(gains)


def phase_congruency(grey):
    """Kovesi's phase congruency ``PC_2D`` as computed by ``phasecong2`` in FeatureSIM.m.

    ``PC(x) = sum_o max(E_o(x) - T_o, 0) / sum_o sum_s A_so(x)`` (the 2-D phase congruency of
    the FSIM paper, Sec. II-A, in Kovesi's implementation), with Kovesi's PC_2 energy
    ``E_o = sum_s (e cos(phi) + o sin(phi) - |e sin(phi) - o cos(phi)|)``, ``phi`` the mean
    phase over scales, and the noise threshold ``T_o`` (under ``stop_gradient``).

    Args:
        grey: (N, H, W, 1) float32 luminance in 0..255.

    Returns:
        (N, H, W, 1) phase congruency in 0..1.
    """
    n_h, n_w = int(grey.shape[1]), int(grey.shape[2])
    filters_np, gains_np = _phasecong_filters(n_h, n_w)
    filters = ops.convert_to_tensor(filters_np.astype(np.float32))[None]  # (1, O*S, H, W)
    gains = ops.convert_to_tensor(gains_np.astype(np.float32)[None])  # (1, O)
    img = grey[..., 0]
    f_re, f_im = ops.fft2((img, ops.zeros_like(img)))
    even, odd = ops.ifft2((f_re[:, None] * filters, f_im[:, None] * filters))
    shape = (-1, _NORIENT, _NSCALE, n_h, n_w)
    even, odd = ops.reshape(even, shape), ops.reshape(odd, shape)

    amp2 = even**2 + odd**2
    amplitude = safe_sqrt(amp2, _EPS)
    sum_e = ops.sum(even, axis=2, keepdims=True)
    sum_o = ops.sum(odd, axis=2, keepdims=True)
    x_energy = safe_sqrt(sum_e**2 + sum_o**2, _EPS) + _EPSILON
    mean_e, mean_o = sum_e / x_energy, sum_o / x_energy
    energy = ops.sum(
        even * mean_e + odd * mean_o - ops.abs(even * mean_o - odd * mean_e), axis=2
    )  # (N, O, H, W)

    median_e2n = ops.median(ops.reshape(amp2[:, :, 0], (-1, _NORIENT, n_h * n_w)), axis=-1)
    threshold = ops.stop_gradient(gains * safe_sqrt(median_e2n, _EPS))  # (N, O)
    energy = ops.relu(energy - threshold[:, :, None, None])
    pc = ops.sum(energy, axis=1) / ops.maximum(ops.sum(amplitude, axis=(1, 2)), _EPS)
    return pc[..., None]


def _yiq(x):
    """(N, H, W, C) -> (N, H, W, 3) YIQ for C = 3, or (N, H, W, 1) Y for C = 1."""
    if x.shape[-1] == 1:
        return x
    m = ops.convert_to_tensor(YIQ_FSIM.T.astype(np.float32))  # (3 in, 3 out)
    return ops.matmul(x, m)


def _fsim_parts(x, y, data_range, chromatic, name):
    x, y = check_pair(x, y, name=name)
    if x.shape[-1] not in (1, 3):
        raise ValueError(f"{name}: expected C = 1 (grey) or 3 (RGB), got shape {tuple(x.shape)}")
    if data_range <= 0:
        raise ValueError(f"{name}: data_range must be positive, got {data_range}")
    scale = 255.0 / float(data_range)
    h, w = int(x.shape[1]), int(x.shape[2])
    f = downsample_factor(h, w)
    yiq_x = mean_downsample(_yiq(x * scale), f, "zeros")
    yiq_y = mean_downsample(_yiq(y * scale), f, "zeros")
    lum_x, lum_y = yiq_x[..., :1], yiq_y[..., :1]

    pc_x, pc_y = phase_congruency(lum_x), phase_congruency(lum_y)
    s_pc = similarity(pc_x, pc_y, T1)
    s_g = similarity(scharr_magnitude(lum_x, _EPS), scharr_magnitude(lum_y, _EPS), T2)
    sim = s_pc * s_g
    if chromatic and x.shape[-1] == 3:
        s_i = similarity(yiq_x[..., 1:2], yiq_y[..., 1:2], T3)
        s_q = similarity(yiq_x[..., 2:3], yiq_y[..., 2:3], T4)
        p = s_i * s_q
        real_part = ops.where(p < 0, math.cos(LAMBDA * math.pi), 1.0)
        sim = sim * ops.power(ops.maximum(ops.abs(p), _EPS_POW), LAMBDA) * real_part
    return sim, ops.maximum(pc_x, pc_y)


def fsim_map(x, y, data_range: float = 255.0, chromatic: bool = True):
    """Local similarity map of FSIM(c) at the downsampled resolution.

    ``S_L = S_PC * S_G`` with ``S_PC = (2 PC_x PC_y + T1) / (PC_x^2 + PC_y^2 + T1)`` and
    ``S_G`` the same form on gradient magnitudes with T2 (Zhang et al., IEEE TIP 2011, Sec. III;
    alpha = beta = 1), times ``real((S_I S_Q) ** lambda)`` for FSIMc, ``S_I``, ``S_Q`` the same
    form on the I and Q channels with T3, T4. The score is this map averaged with weights
    ``max(PC_x, PC_y)``.

    Args:
        x: (N, H, W, C) batch, C = 3 (RGB) or 1 (grey), values in 0..`data_range`.
        y: the other batch, same shape.
        data_range: value of white (255 for 8-bit, 1 for [0, 1] floats).
        chromatic: include the I/Q terms (FSIMc) for RGB input; ignored for grey input.

    Returns:
        (N, ceil(H/F), ceil(W/F), 1) float32 similarity in [0, 1], F = ``downsample_factor``.

    Example:
        >>> m = fsim_map(ref, dist)            # (N, 192, 256, 1) for 384x512 inputs
        >>> float(m.numpy().min()) >= 0.0
        True
    """
    sim, _ = _fsim_parts(x, y, data_range, chromatic, "fsim_map")
    return sim


def fsim(x, y, data_range: float = 255.0, chromatic: bool = True):
    """FSIM / FSIMc score per image, as Lin Zhang's FeatureSIM.m computes it.

    ``FSIM = sum_x S_L(x) PC_m(x) / sum_x PC_m(x)`` with ``PC_m = max(PC_x, PC_y)`` (Zhang et
    al., "FSIM: a feature similarity index for image quality assessment", IEEE TIP 20(8), 2011,
    Sec. III); FSIMc multiplies ``S_L`` by ``real((S_I S_Q) ** 0.03)`` (Sec. IV).
    Higher is better, 1 for identical images; use ``1 - fsim`` as a loss. With
    ``chromatic=True`` (default) an RGB input gives FSIMc, the second output of FeatureSIM.m
    and the value in the golden table; ``chromatic=False`` gives its first output, FSIM on Y.

    Args:
        x: (N, H, W, C) batch, C = 3 (RGB) or 1 (grey), values in 0..`data_range`.
        y: the other batch, same shape (the metric is symmetric).
        data_range: value of white (255 for 8-bit, 1 for [0, 1] floats).
        chromatic: FSIMc for RGB input (default); FSIM on luminance when False.

    Returns:
        (N,) float32 scores, 1 for identical images.

    Raises:
        ValueError: rank other than 4, different shapes, C not in {1, 3}, data_range <= 0.

    Example:
        >>> from jndtf.iqa.fsim import fsim
        >>> s = fsim(ref[None], dist[None])          # uint8 or float RGB, 0..255
        >>> loss = 1.0 - s                           # (N,), differentiable
    """
    sim, pcm = _fsim_parts(x, y, data_range, chromatic, "fsim")
    # + eps on both sides: two flat images (PC_m = 0 everywhere, NaN in the original) score 1.
    num = ops.sum(sim * pcm, axis=(1, 2, 3)) + _EPS
    return num / (ops.sum(pcm, axis=(1, 2, 3)) + _EPS)


__all__ = ["downsample_factor", "fsim", "fsim_map", "phase_congruency"]
