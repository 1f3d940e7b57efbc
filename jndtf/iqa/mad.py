"""MAD, Most Apparent Distortion (Larson & Chandler, J. Electronic Imaging 19(1) 011006, 2010).

Reproduces Eric Larson's ``MAD_index.m`` (2011 release: ``hi_index`` with the June-2010 factor
200 on d_detect, ``lo_index``, ``make_csf``, ``gaborconvolve`` and the C helpers ``ical_std.c``
and ``ical_stat.c``). Conventions of the original, kept here:

- Grey: MATLAB ``rgb2gray`` (exact weights). MATLAB returns uint8 for uint8 input, i.e. rounds;
  here a uint8 batch is rounded the same way (evaluation, no gradient through the rounding) and
  a float batch is not (the loss path). C = 1 input is taken as grey.
- Detection stage (``hi_index``): lightness ``0.02874 * I ** (2.2 / 3)`` (I in 0..255); the CSF
  of ``make_csf(M, N, 32)`` (Mannos-Sakrison shape, 0.9809 below 7.8909 cycles/degree, radial
  frequency scaled by ``1 / N`` on both axes and bent by ``w = 0.7`` towards the diagonals)
  applied in the FFT domain, keeping the real part; block statistics of ``ical_std.c``: 16x16
  blocks every 4 pixels, each written to its top-left 4x4 cell, reference contrast from the
  smallest std (N - 1) of the 8x8 blocks at offsets (0, 0), (0, 4), (4, 0), (4, 4) (probes past
  ``dim - 21`` skipped, as in the C loop); mask ``eta = max(0, ln C_err - max(ln C_org, -5))``
  (C_slope = 1, Ci = Cd = -5), 0 where the reference block mean is below G = 0.5; local MSE of
  the grey images with a 16x16 box filter, symmetric padding; ``d_detect`` is 200 times the RMS
  of ``eta * lmse`` over the image without 16 pixels at the top/left and 17 at the bottom/right.
- Appearance stage (``lo_index``): Kovesi's log-Gabor bank of ``gaborconvolve`` (5 scales,
  wavelengths 3, 9, 27, 81, 243 pixels, sigma_f 0.55; 4 orientations, dThetaOnSigma 1.5) on the
  grey images (0..255), circular convolution through the FFT; for each band, the std (N - 1),
  skewness and kurtosis (not excess) of the magnitude over 16x16 blocks every 4 pixels
  (``ical_stat.c``; 0 for a flat block); ``eta = sum_s w_s sum_o (|d std| + 2 |d skew| +
  |d kurt|)`` with scale weights [0.5, 0.75, 1, 5, 6] / 13.25; ``d_appear`` is the RMS of
  ``eta`` over the same cropped window.
- Blend: ``alpha = 1 / (1 + beta1 * d_detect ** beta2)``, ``MAD = d_detect ** alpha *
  d_appear ** (1 - alpha)``, beta1 = exp(-2.55 / 3.35), beta2 = 1 / (ln(10) * 3.35).

Not reproduced: the original's LUT indexes ``LUT(img + 1)`` in uint8 arithmetic, so grey level
255 takes the lightness of 254 (changes I03 of the golden set by 1e-9 relative).

Differentiability: lower bounds before every log, square root, division and fractional power
(the RMS maps are bounded at sqrt(1e-24), so MAD(x, x) is ~3e-10 instead of 0); the minimum over
the four 8x8 standard deviations passes the gradient to the smallest; the threshold tests of the
mask are ``relu`` and ``where`` (sub-gradients, as the original's ``find``
is piecewise). Float32 inside whatever the dtype policy.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from keras import ops

from jndtf.iqa._ops import filter2d, grey_pair, safe_sqrt

# hi_index
K_LIGHTNESS, GAMMA = 0.02874, 2.2
G_LUMINANCE, C_SLOPE, CI_THRESH, CD_THRESH, MS_SCALE = 0.5, 1.0, -5.0, -5.0, 1.0
BSIZE, STRIDE = 16, 4
# sigmoid blend
THRESH1, THRESH2 = 2.55, 3.35
BETA1 = math.exp(-THRESH1 / THRESH2)
BETA2 = 1.0 / (math.log(10.0) * THRESH2)
# lo_index
SCALE_WEIGHTS = np.array([0.5, 0.75, 1.0, 5.0, 6.0]) / 13.25
_NSCALE, _NORIENT = 5, 4

_EPS = 1e-12  # lower bound before log / fractional power
_EPS_NORM = 1e-24  # lower bound of sums of squares before sqrt (RMS of maps)
_EPS_VAR = 1e-6  # block variance (grey levels^2) below which skew/kurtosis are 0 (flat block)
_MIN_SIDE = 2 * BSIZE + 2  # the cropped window mp(17:end-17) must not be empty


# --- constant filters (numpy, float64, cached per size) --------------------------------------


@functools.lru_cache(maxsize=8)
def make_csf(rows: int, cols: int, nfreq: float = 32.0) -> np.ndarray:
    """``make_csf(M, N, nfreq)'`` of MAD_index.m, (rows, cols), zero frequency at the centre."""
    xp, yp = np.meshgrid(np.arange(rows) - rows / 2 + 0.5, np.arange(cols) - cols / 2 + 0.5)
    plane = (xp + 1j * yp) / cols * 2 * nfreq
    w = 0.7
    s = (1 - w) / 2 * np.cos(4 * np.angle(plane)) + (1 + w) / 2
    radfreq = np.abs(plane) / s
    csf = 2.6 * (0.0192 + 0.114 * radfreq) * np.exp(-((0.114 * radfreq) ** 1.1))
    csf[radfreq < 7.8909] = 0.9809
    return csf.T


@functools.lru_cache(maxsize=8)
def _csf_filter(rows: int, cols: int) -> np.ndarray:
    """The CSF as an FFT-domain gain (zero frequency at [0, 0]), Hermitian-symmetrised.

    ``real(ifft2(ifftshift(fftshift(F) .* csf)))`` equals ``ifft2(F .* C)`` with ``C`` the even
    part of ``ifftshift(csf)``, because F is the transform of a real image.
    """
    c = np.fft.ifftshift(make_csf(rows, cols))
    c_neg = np.roll(c[::-1, ::-1], 1, axis=(0, 1))  # c at (-u, -v)
    return 0.5 * (c + c_neg)


@functools.lru_cache(maxsize=8)
def gabor_filters(rows: int, cols: int) -> np.ndarray:
    """``gaborconvolve``'s log-Gabor bank, (scale, orientation, rows, cols), DC at [0, 0]."""
    x = np.ones((rows, 1)) * (np.arange(-cols / 2, cols / 2) / (cols / 2))
    y = (np.arange(-rows / 2, rows / 2) / (rows / 2))[:, None] * np.ones((1, cols))
    radius = np.sqrt(x**2 + y**2)
    centre = (math.floor(rows / 2 + 1.5) - 1, math.floor(cols / 2 + 1.5) - 1)
    radius[centre] = 1.0
    theta = np.arctan2(-y, x)
    sin_t, cos_t = np.sin(theta), np.cos(theta)
    theta_sigma = math.pi / _NORIENT / 1.5
    out = np.zeros((_NSCALE, _NORIENT, rows, cols))
    for o in range(_NORIENT):
        angle = o * math.pi / _NORIENT
        ds = sin_t * math.cos(angle) - cos_t * math.sin(angle)
        dc = cos_t * math.cos(angle) + sin_t * math.sin(angle)
        spread = np.exp(-(np.arctan2(ds, dc) ** 2) / (2 * theta_sigma**2))
        for s in range(_NSCALE):
            rfo = (1.0 / (3 * 3**s)) / 0.5
            lg = np.exp(-(np.log(radius / rfo) ** 2) / (2 * math.log(0.55) ** 2))
            lg[centre] = 0.0
            out[s, o] = np.fft.fftshift(lg * spread)
    return out


# --- block statistics of ical_std.c / ical_stat.c ---------------------------------------------


def _grid(n: int) -> int:
    """Number of 16x16 blocks every 4 pixels along a side of `n` pixels."""
    return (n - BSIZE) // STRIDE + 1


def _block_moments(x, size: int, nr: int, nc: int):
    """Mean and centred power sums of the size x size blocks at (4 i, 4 j), i < nr, j < nc.

    A block is k x k cells of 4x4 pixels (k = size / 4). Moments are taken per cell about the
    cell mean, then moved to the block mean ``mu`` exactly (binomial expansion with
    ``delta = cell mean - mu``): the same numbers as centring every block, in float32 without
    cancellation, at the memory of one image instead of one copy per overlapping block.

    Returns:
        (mean, s2, s3, s4), each (N, nr, nc): ``s_p = sum over the block of (v - mean) ** p``.
    """
    k = size // STRIDE
    hc, wc = nr + k - 1, nc + k - 1
    n = x.shape[0] if x.shape[0] is not None else -1
    cells = ops.reshape(x[:, : hc * STRIDE, : wc * STRIDE], (n, hc, STRIDE, wc, STRIDE))
    cells = ops.reshape(ops.transpose(cells, (0, 1, 3, 2, 4)), (n, hc, wc, STRIDE * STRIDE))
    c_mean = ops.mean(cells, axis=-1)
    d = cells - c_mean[..., None]
    d2 = d * d
    c2, c3, c4 = ops.sum(d2, axis=-1), ops.sum(d2 * d, axis=-1), ops.sum(d2 * d2, axis=-1)

    def part(t, i, j):
        return t[:, i : i + nr, j : j + nc]

    offsets = [(i, j) for i in range(k) for j in range(k)]
    mean = sum(part(c_mean, i, j) for i, j in offsets) / float(k * k)
    m = float(STRIDE * STRIDE)  # pixels per cell
    s2 = s3 = s4 = 0.0
    for i, j in offsets:
        delta = part(c_mean, i, j) - mean
        p2, p3, p4 = part(c2, i, j), part(c3, i, j), part(c4, i, j)
        dd = delta * delta
        s2 = s2 + p2 + m * dd
        s3 = s3 + p3 + 3.0 * delta * p2 + m * dd * delta
        s4 = s4 + p4 + 4.0 * delta * p3 + 6.0 * dd * p2 + m * dd * dd
    return mean, s2, s3, s4


def _block_stats(x, nr: int, nc: int):
    """``ical_stat``: std (N - 1), skewness, kurtosis of 16x16 blocks, each (N, nr, nc)."""
    n = BSIZE * BSIZE
    _, s2, s3, s4 = _block_moments(x, BSIZE, nr, nc)
    std = safe_sqrt(s2 / (n - 1), _EPS_NORM)
    m2 = ops.maximum(s2 / n, _EPS_VAR)  # flat block: 0 / floor = 0, as the C code's stmp == 0
    skew = (s3 / n) / (m2 * ops.sqrt(m2))
    kurt = (s4 / n) / (m2 * m2)
    return std, skew, kurt


def _min_std_of_subblocks(ref, nr: int, nc: int, rows: int, cols: int):
    """``outStdMod`` of ical_std.c: min std (N - 1) of four 8x8 blocks per 16x16 block."""
    _, s2, _, _ = _block_moments(ref, 8, nr, nc)  # 8x8 blocks on the same grid
    t = safe_sqrt(s2 / 63.0, _EPS_NORM)
    big = 1e30
    # Probe (i + 5) is used iff i + 5 < dim - 15, i.e. the next cell's block at 4 (g + 1).
    ok_r = (np.arange(nr) * STRIDE + 5) < rows - 15
    ok_c = (np.arange(nc) * STRIDE + 5) < cols - 15
    down = ops.pad(t[:, 1:, :], [[0, 0], [0, 1], [0, 0]], constant_values=big)
    right = ops.pad(t[:, :, 1:], [[0, 0], [0, 0], [0, 1]], constant_values=big)
    diag = ops.pad(t[:, 1:, 1:], [[0, 0], [0, 1], [0, 1]], constant_values=big)
    out = t
    for shifted, mask in (
        (down, ok_r[:, None] & np.ones(nc, bool)[None, :]),
        (right, np.ones(nr, bool)[:, None] & ok_c[None, :]),
        (diag, ok_r[:, None] & ok_c[None, :]),
    ):
        out = ops.where(ops.convert_to_tensor(mask[None]), ops.minimum(out, shifted), out)
    return out


def _cells_to_cropped(cell_map, rows: int, cols: int):
    """Per-cell map (N, nr, nc) -> pixel map cropped as ``mp(BSIZE+1:end-BSIZE-1, ...)``."""
    m = ops.repeat(ops.repeat(cell_map, STRIDE, axis=1), STRIDE, axis=2)
    return m[:, BSIZE : rows - BSIZE - 1, BSIZE : cols - BSIZE - 1]


def _rms(m):
    n = int(m.shape[1]) * int(m.shape[2])
    return safe_sqrt(ops.sum(m * m, axis=(1, 2)) / n, _EPS_NORM)


# --- the two stages ---------------------------------------------------------------------------


def _fft2_real(img):
    """FFT of a real (N, H, W) batch as (re, im)."""
    return ops.fft2((img, ops.zeros_like(img)))


def _fft_filter(spectrum, gains):
    """``ifft2(spectrum .* gains)``: spectrum (re, im) of (N, H, W), real gains (..., H, W)."""
    re, im = spectrum
    g = ops.convert_to_tensor(gains.astype(np.float32))
    extra = (None,) * (len(gains.shape) - 2)
    re, im = re[(slice(None), *extra)], im[(slice(None), *extra)]
    return ops.ifft2((re * g, im * g))


def _detection_map(ref, dst):
    """``hi_index`` map ``eta * lmse`` over the cropped window: (N, H - 33, W - 33)."""
    rows, cols = int(ref.shape[1]), int(ref.shape[2])
    exponent = GAMMA / 3.0
    lum_r = K_LIGHTNESS * ops.power(ops.maximum(ref, _EPS), exponent)
    lum_d = K_LIGHTNESS * ops.power(ops.maximum(dst, _EPS), exponent)
    csf = _csf_filter(rows, cols)
    lum_r = _fft_filter(_fft2_real(lum_r), csf)[0]
    lum_d = _fft_filter(_fft2_real(lum_d), csf)[0]

    nr, nc = _grid(rows), _grid(cols)
    _, s2_err, _, _ = _block_moments(lum_d - lum_r, BSIZE, nr, nc)
    std_err = safe_sqrt(s2_err / (BSIZE * BSIZE - 1), _EPS_NORM)
    mean_ref = _block_moments(lum_r, BSIZE, nr, nc)[0]
    std_ref = _min_std_of_subblocks(lum_r, nr, nc, rows, cols)

    log_mean = ops.log(ops.maximum(mean_ref, _EPS))
    ci_ref = ops.log(ops.maximum(std_ref, _EPS)) - log_mean
    ci_dst = ops.log(ops.maximum(std_err, _EPS)) - log_mean
    threshold = C_SLOPE * ops.relu(ci_ref - CI_THRESH) + CD_THRESH
    eta = ops.relu(ci_dst - threshold) / MS_SCALE
    eta = ops.where(mean_ref < G_LUMINANCE, 0.0, eta)

    box = np.full((BSIZE, BSIZE), 1.0 / BSIZE**2)
    lmse = filter2d(((ref - dst) ** 2)[..., None], box, mode="symmetric")[..., 0]
    lmse = lmse[:, BSIZE : rows - BSIZE - 1, BSIZE : cols - BSIZE - 1]
    return _cells_to_cropped(eta, rows, cols) * lmse


def _appearance_map(ref, dst):
    """``lo_index`` map of weighted statistic differences over the cropped window."""
    rows, cols = int(ref.shape[1]), int(ref.shape[2])
    nr, nc = _grid(rows), _grid(cols)
    bank = gabor_filters(rows, cols)
    spectrum = _fft2_real(ops.concatenate([ref, dst], axis=0))  # one FFT per image
    eta = 0.0
    for s in range(_NSCALE):  # one scale (4 orientations, both images) at a time: bounded memory
        re, im = _fft_filter(spectrum, bank[s])  # (2N, O, H, W)
        amp = safe_sqrt(re**2 + im**2, _EPS_NORM)
        amp = ops.reshape(amp, (-1, rows, cols))  # (2N * O, H, W)
        std, skw, krt = (
            ops.reshape(t, (2, -1, _NORIENT, nr, nc)) for t in _block_stats(amp, nr, nc)
        )
        diff = ops.abs(std[0] - std[1]) + 2.0 * ops.abs(skw[0] - skw[1]) + ops.abs(krt[0] - krt[1])
        eta = eta + float(SCALE_WEIGHTS[s]) * ops.sum(diff, axis=1)
    return _cells_to_cropped(eta, rows, cols)


def _grey_pair(x, y, data_range, name):
    """(N, H, W) grey pair in 0..255, rounded to grey levels for uint8 input (``rgb2gray``)."""
    gx, gy = grey_pair(x, y, data_range, None, name=name, to_255=True)
    h, w = gx.shape[1], gx.shape[2]
    if h is None or w is None or min(h, w) < _MIN_SIDE:
        raise ValueError(f"{name}: needs static H, W >= {_MIN_SIDE}, got {h}x{w}")
    return gx[..., 0], gy[..., 0]


def _blend(d_detect, d_appear):
    d_detect = ops.maximum(d_detect, _EPS)
    d_appear = ops.maximum(d_appear, _EPS)
    log_hi = ops.log(d_detect)
    alpha = 1.0 / (1.0 + BETA1 * ops.exp(BETA2 * log_hi))
    return ops.exp(alpha * log_hi + (1.0 - alpha) * ops.log(d_appear))


def mad_components(x, y, data_range: float = 255.0):
    """The two stages of MAD and their blend, as ``MAD_index.m`` returns them in ``index``.

    Args:
        x: reference batch (N, H, W, C), C = 3 (RGB) or 1 (grey), 0..`data_range`, H, W >= 34.
        y: distorted batch, same shape.
        data_range: value of white.

    Returns:
        dict with (N,) tensors ``"mad"``, ``"hi"`` (d_detect), ``"lo"`` (d_appear) and
        ``"sig"`` (the blend weight alpha of d_detect).

    Example:
        >>> c = mad_components(ref[None], dist[None])
        >>> c["hi"], c["lo"]                  # detection- and appearance-based indices
        >>> c["mad"]                          # their blend, as mad()
    """
    gx, gy = _grey_pair(x, y, data_range, "mad")
    hi = 200.0 * _rms(_detection_map(gx, gy))
    lo = _rms(_appearance_map(gx, gy))
    hi_b = ops.maximum(hi, _EPS)
    sig = 1.0 / (1.0 + BETA1 * ops.exp(BETA2 * ops.log(hi_b)))
    return {"mad": _blend(hi, lo), "hi": hi, "lo": lo, "sig": sig}


#: Values of ``channels`` in :func:`mad`.
MAD_CHANNELS = ("grey", "rgb_mean")


def mad(x, y, data_range: float = 255.0, *, channels: str = "grey"):
    """Most Apparent Distortion per image; lower is better, 0 for identical images.

    ``MAD = d_detect ** alpha * d_appear ** (1 - alpha)``, ``alpha = 1 / (1 + beta1 d_detect **
    beta2)`` (Larson & Chandler, "Most apparent distortion: full-reference image quality
    assessment and the role of strategy", J. Electron. Imaging 19(1), 2010, Sec. 4), with the
    detection-based ``d_detect`` (Sec. 2: lightness, CSF, local contrast masking, local MSE) and
    the appearance-based ``d_appear`` (Sec. 3: log-Gabor sub-band statistics). Unbounded above
    (hundreds for strong distortions). Not symmetric: `x` is the reference.

    Args:
        x: reference batch (N, H, W, C), C = 3 (RGB) or 1 (grey), 0..`data_range`, H, W >= 34.
            A uint8 pair is converted to grey as MATLAB does (rounded); a float pair is not.
        y: distorted batch, same shape and dtype.
        data_range: value of white (255 for 8-bit, 1 for [0, 1] floats).
        channels: ``"grey"`` (default): ``MAD_index.m``'s convention, MAD of the ``rgb2gray``
            images. ``"rgb_mean"``: the mean over R, G and B of the MAD of each channel taken as
            a grey image, the convention of IQA-PyTorch's ``mad`` (``test_y_channel=False``:
            one MAD per channel, then ``.mean(1)``), from which the tables of learned-JND papers
            and ``../shared/data/iqa-golden/reference_values.csv`` come; it sees chromatic
            distortions that leave the grey image unchanged. Three times the cost.

    Returns:
        (N,) float32 MAD values.

    Raises:
        ValueError: rank other than 4, different shapes, C not in {1, 3} (C = 3 for
            ``"rgb_mean"``), a side < 34 or not static, data_range <= 0, unknown `channels`.

    Example:
        >>> from jndtf.iqa.mad import mad
        >>> d = mad(ref[None], dist[None])            # (1,), e.g. ~150 for strong noise
        >>> loss = mad(ref_batch, output_batch)       # differentiable in output_batch
        >>> mad(ref[None], dist[None], channels="rgb_mean")   # as IQA-PyTorch's tables
    """
    if channels not in MAD_CHANNELS:
        raise ValueError(f"mad: unknown channels {channels!r}; choose from {MAD_CHANNELS}")
    if channels == "grey":
        return mad_components(x, y, data_range)["mad"]
    return mad_rgb_mean(x, y, data_range)


def mad_rgb_mean(x, y, data_range: float = 255.0):
    """MAD per colour channel (each taken as a grey image), averaged over R, G, B: ``(N,)``.

    :func:`mad` with ``channels="rgb_mean"`` (see there). The three channels travel as three
    images of one batch, so the cost is that of MAD on a batch three times as large.
    """
    xt = ops.convert_to_tensor(x)
    yt = ops.convert_to_tensor(y)
    if len(xt.shape) != 4 or xt.shape[-1] != 3 or tuple(xt.shape) != tuple(yt.shape):
        raise ValueError(
            "mad(channels='rgb_mean'): expected two NHWC RGB batches (C = 3) of one shape, got "
            f"{tuple(xt.shape)} and {tuple(yt.shape)}"
        )
    n, h, w = xt.shape[0], xt.shape[1], xt.shape[2]

    def planes(t):  # (N, H, W, 3) -> (3N, H, W, 1), image-major
        return ops.reshape(ops.transpose(t, (0, 3, 1, 2)), (-1, h, w, 1))

    per_channel = mad_components(planes(xt), planes(yt), data_range)["mad"]
    return ops.mean(ops.reshape(per_channel, (-1 if n is None else n, 3)), axis=-1)


def mad_map(x, y, data_range: float = 255.0):
    """Per-pixel MAD map ``hi_map ** alpha * lo_map ** (1 - alpha)`` over the cropped window.

    The original keeps this blend as "reserved for future version" (``adapt_map``); here the
    pixel maps are the detection map ``200 * eta * lmse`` and the appearance map, each the
    quantity whose RMS is ``d_detect`` / ``d_appear``, blended with the image's alpha.

    Args:
        x: reference batch (N, H, W, C), as :func:`mad`.
        y: distorted batch, same shape.
        data_range: value of white.

    Returns:
        (N, H - 33, W - 33, 1) float32 map (the 16 / 17-pixel borders are not scored).

    Example:
        >>> m = mad_map(ref[None], dist[None])
        >>> m.shape                                   # (1, H - 33, W - 33, 1)
    """
    gx, gy = _grey_pair(x, y, data_range, "mad_map")
    hi_map = 200.0 * ops.abs(_detection_map(gx, gy))
    lo_map = _appearance_map(gx, gy)
    hi = _rms(hi_map)
    alpha = 1.0 / (1.0 + BETA1 * ops.exp(BETA2 * ops.log(ops.maximum(hi, _EPS))))
    alpha = alpha[:, None, None]
    log_hi = ops.log(ops.maximum(hi_map, _EPS))
    log_lo = ops.log(ops.maximum(lo_map, _EPS))
    return ops.exp(alpha * log_hi + (1.0 - alpha) * log_lo)[..., None]


__all__ = [
    "MAD_CHANNELS",
    "gabor_filters",
    "mad",
    "mad_components",
    "mad_map",
    "mad_rgb_mean",
    "make_csf",
]
