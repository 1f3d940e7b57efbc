"""Full-reference scores in numpy + OpenCV (core, no TensorFlow): MSE, PSNR, MS-SSIM and RCA.

The one PSNR of jndtf: injection, picture-level JND, codec tables, the edge stream, export
parity and the benchmarks all score through :func:`psnr` / :func:`psnr_from_mse`, so a number in
one report means the same as in another. The conventions follow the TensorFlow metrics of
:mod:`jndtf.iqa`, so an edge report and an offline evaluation agree:

- :func:`mse`: mean of ``(x - y)^2`` over every element, computed in float64 whatever the input
  dtype (no uint8 wrap-around; uint8 pairs take OpenCV's exact integer sum).
- :func:`psnr`: ``10 log10(L^2 / MSE)`` in dB over every pixel and channel (any shape, also
  NHWC batches), L = `data_range` = 255 for 8-bit frames and for float maps in 0..255;
  ``inf`` for identical inputs. :func:`psnr_from_mse` / :func:`mse_from_psnr` convert.
- :func:`ms_ssim`: MS-SSIM of Wang, Simoncelli & Bovik (Asilomar 2003) as Zhou Wang's MATLAB
  ``msssim.m`` and :func:`jndtf.iqa.ms_ssim` compute it: RGB -> grey with MATLAB ``rgb2gray``
  (rounded for uint8), 5 scales weighted (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), at each scale
  the SSIM statistics of an 11 x 11 Gaussian window (sigma 1.5, ``'valid'``, K1 = 0.01,
  K2 = 0.03), a 2 x 2 average (symmetric border) and every second pixel between scales, score
  ``prod_{j<5} mean(cs_j)^w_j * mean(ssim_5)^w_5`` with every mean clamped at ``1e-6`` before
  its power. It needs ``min(H, W) >= 176`` (the 5th scale must hold the window).
- :func:`relative_classification_accuracy` (eq. (16) of DMV-JND), :func:`rca_from_counts` and
  :func:`mean_rca` (eq. (17)): how often a classifier keeps its own label after processing.

Cost at 640x360 on one core: PSNR ~1 ms, MS-SSIM ~15 ms (OpenCV separable filters, float32),
cheap enough for every frame of the edge stream (:mod:`jndtf.edge.quality` re-exports these).

Example:
    >>> from jndtf.metrics import ms_ssim, psnr
    >>> psnr(frame, decoded), ms_ssim(frame, decoded)
    (38.2, 0.987)
"""

from __future__ import annotations

import math

import cv2
import numpy as np

#: Peak value of the 0..255 pixel scale: the default `data_range` of every PSNR in jndtf.
PEAK = 255.0

#: Scale weights of Wang et al. 2003, finest scale first (as :data:`jndtf.iqa.MS_SSIM_WEIGHTS`).
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)

#: MATLAB ``rgb2gray`` weights (as :data:`jndtf.iqa._ops.RGB2GRAY_MATLAB`).
RGB2GRAY_MATLAB = (0.2989, 0.5870, 0.1140)

#: Side of the Gaussian window and its standard deviation in pixels (Wang et al. 2004).
WINDOW, SIGMA = 11, 1.5

#: Smallest ``min(H, W)`` MS-SSIM accepts: the window must fit the coarsest of the 5 scales.
MS_SSIM_MIN_SIDE = WINDOW * 2 ** (len(MS_SSIM_WEIGHTS) - 1)


def _same_shape(reference, distorted, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Both inputs as arrays of one shape and a numeric (integer or float) dtype."""
    x, y = np.asarray(reference), np.asarray(distorted)
    if x.shape != y.shape:
        raise ValueError(f"{name}: the two frames differ in shape: {x.shape} and {y.shape}")
    if x.size == 0:
        raise ValueError(f"{name}: the inputs are empty (shape {x.shape})")
    for a in (x, y):
        if a.dtype == np.bool_ or not (
            np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)
        ):
            raise ValueError(f"{name}: unsupported dtype {a.dtype}; pass integer or float pixels")
    return x, y


def _pair(reference, distorted, name: str) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_same_shape` plus the frame layout ``HxW`` or ``HxWx1``/``HxWx3``."""
    x, y = _same_shape(reference, distorted, name)
    if x.ndim not in (2, 3) or (x.ndim == 3 and x.shape[2] not in (1, 3)):
        raise ValueError(f"{name}: expected HxW or HxWx1/HxWx3 frames, got shape {x.shape}")
    return x, y


def mse(reference, distorted) -> float:
    """Mean squared error ``mean((x - y)^2)`` over every element, in float64.

    Args:
        reference: array of any shape and any integer or float dtype (uint8 pairs are summed
            exactly by OpenCV, everything else is cast to float64 first, so uint8 never wraps).
        distorted: array of the same shape.

    Returns:
        The MSE in the inputs' units squared (grey levels^2 for 0..255 images).

    Raises:
        ValueError: shapes differ, an input is empty, or a dtype is not integer/float.

    Example:
        >>> mse(np.zeros((2, 2), np.uint8), np.full((2, 2), 3, np.uint8))
        9.0
    """
    x, y = _same_shape(reference, distorted, "mse")
    if x.dtype == np.uint8 and y.dtype == np.uint8:
        # sum of squared differences in double precision, no float copy of the frames
        a = np.ascontiguousarray(x).reshape(-1, 1)
        b = np.ascontiguousarray(y).reshape(-1, 1)
        return float(cv2.norm(a, b, cv2.NORM_L2SQR)) / x.size
    d = x.astype(np.float64) - y.astype(np.float64)
    return float(np.mean(d * d))


def psnr_from_mse(mse: float, data_range: float = PEAK) -> float:
    """PSNR in dB of a mean squared error: ``10 log10(L^2 / MSE)`` (``inf`` for MSE 0).

    Example:
        >>> round(psnr_from_mse(100.0), 4)  # the hmJND-Net injection level (eq. (13), MSE 100)
        28.1308
    """
    if not data_range > 0:
        raise ValueError(f"psnr: data_range must be > 0, got {data_range}")
    return math.inf if mse <= 0 else 10.0 * math.log10(data_range * data_range / mse)


def mse_from_psnr(psnr: float, data_range: float = PEAK) -> float:
    """The mean squared error that has the given PSNR in dB: ``L^2 / 10^(PSNR / 10)``."""
    return data_range * data_range / 10.0 ** (psnr / 10.0)


def psnr(reference, distorted, data_range: float = PEAK) -> float:
    """Peak signal-to-noise ratio ``10 log10(L^2 / MSE)`` in dB, over all pixels and channels.

    Args:
        reference: the original, uint8 or float in 0..`data_range`, any shape (``HxW``,
            ``HxWxC``, an NHWC batch, a JND map).
        distorted: the decoded/distorted array, same shape (its dtype may differ).
        data_range: L, the value of white (255 for 8-bit frames and 0..255 float maps; the
            dtype does not choose it, since jndtf's float images use the 0..255 scale too).

    Returns:
        PSNR in dB (``inf`` when the inputs are identical).

    Raises:
        ValueError: shapes differ, an input is empty, a dtype is not integer/float, or
            ``data_range <= 0``.

    Example:
        >>> psnr(np.zeros((8, 8), np.uint8), np.full((8, 8), 1, np.uint8))  # MSE 1
        48.13080360867911
    """
    x, y = _same_shape(reference, distorted, "psnr")
    if not data_range > 0:
        raise ValueError(f"psnr: data_range must be > 0, got {data_range}")
    return psnr_from_mse(mse(x, y), data_range)


def _grey(image: np.ndarray) -> np.ndarray:
    """float32 grey of an ``HxW``/``HxWx1``/``HxWx3`` frame with MATLAB ``rgb2gray``."""
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        return a.astype(np.float32)
    g = cv2.transform(np.ascontiguousarray(a, dtype=np.float32), _RGB2GRAY)
    return np.round(g) if a.dtype == np.uint8 else g  # rgb2gray on uint8 returns uint8


_RGB2GRAY = np.asarray([RGB2GRAY_MATLAB], dtype=np.float32)


def _gaussian_1d() -> np.ndarray:
    """The 1-D factor of MATLAB ``fspecial('gaussian', 11, 1.5)`` (the 2-D kernel is its outer
    product: the kernel separates, its eps-truncation does not act at this size)."""
    ax = np.arange(WINDOW, dtype=np.float64) - (WINDOW - 1) / 2.0
    g = np.exp(-(ax**2) / (2.0 * SIGMA**2))
    return (g / g.sum()).astype(np.float32)


_KERNEL = _gaussian_1d()
_CROP = (WINDOW - 1) // 2


def _filter_valid(a: np.ndarray) -> np.ndarray:
    """``filter2(gaussian, a, 'valid')``: correlation, then the border the window overhangs cut."""
    out = cv2.sepFilter2D(a, cv2.CV_32F, _KERNEL, _KERNEL, borderType=cv2.BORDER_REFLECT)
    return out[_CROP:-_CROP, _CROP:-_CROP]


def _ssim_cs(x: np.ndarray, y: np.ndarray, data_range: float) -> tuple[float, float]:
    """Means of the SSIM map and of the contrast-structure map (eqs. 6-13 of Wang et al. 2004,
    C3 = C2 / 2), 'valid' windows, float32. The moments are taken around the pair's mean grey
    level (the same variances, ~10x less cancellation in E[x^2] - mu^2 than at 0..255)."""
    m = np.float32(0.5 * (x.mean(dtype=np.float64) + y.mean(dtype=np.float64)))
    xc, yc = x - m, y - m
    mu_x, mu_y = _filter_valid(xc), _filter_valid(yc)
    var_x = _filter_valid(xc * xc) - mu_x * mu_x
    var_y = _filter_valid(yc * yc) - mu_y * mu_y
    cov = _filter_valid(xc * yc) - mu_x * mu_y
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    cs = (2.0 * cov + c2) / (var_x + var_y + c2)
    mu_x += m
    mu_y += m
    lum = (2.0 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1)
    return float(np.mean(lum * cs, dtype=np.float64)), float(np.mean(cs, dtype=np.float64))


def _halve(a: np.ndarray) -> np.ndarray:
    """``imfilter(a, ones(2)/4, 'symmetric')`` then ``a(1:2:end, 1:2:end)``: each output pixel
    averages a 2 x 2 block starting at an even index; an odd last row/column repeats itself."""
    h, w = a.shape
    if h % 2 or w % 2:
        a = np.pad(a, ((0, h % 2), (0, w % 2)), mode="symmetric")
    return 0.25 * (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2])


def ms_ssim(
    reference: np.ndarray,
    distorted: np.ndarray,
    data_range: float = 255.0,
    *,
    floor: float = 1e-6,
) -> float:
    """MS-SSIM of one frame pair, eq. (7) of Wang, Simoncelli & Bovik, Asilomar 2003.

    ``MS-SSIM = [l_M]^w_M * prod_{j=1..M} [cs_j]^w_j`` with M = 5, computed as
    ``prod_{j<M} mean(cs_j)^w_j * mean(ssim_M)^w_M`` (``msssim.m``); the conventions are those
    of :func:`jndtf.iqa.ms_ssim` (see the module docstring), which this matches to ~1e-5.

    Args:
        reference: the original frame, uint8 or float 0..`data_range`, RGB ``HxWx3`` or grey.
        distorted: the decoded frame, same shape.
        data_range: L, the value of white (255 for 8-bit frames).
        floor: lower bound of each scale's mean before its power (``msssim.m`` would return a
            complex number for a negative contrast-structure mean).

    Returns:
        MS-SSIM, unitless, 1 for identical frames, higher is better.

    Raises:
        ValueError: shapes differ, or ``min(H, W) < 176`` (the coarsest scale cannot hold the
            11 x 11 window; ``msssim.m`` returns -Inf there).

    Example:
        >>> ms_ssim(frame, cv2.GaussianBlur(frame, (5, 5), 1.0))
        0.96...
    """
    x, y = _pair(reference, distorted, "ms_ssim")
    if not data_range > 0:
        raise ValueError(f"ms_ssim: data_range must be > 0, got {data_range}")
    if min(x.shape[:2]) < MS_SSIM_MIN_SIDE:
        raise ValueError(
            f"ms_ssim with 5 scales needs frames of at least {MS_SSIM_MIN_SIDE} px on the "
            f"smaller side, got {x.shape[0]}x{x.shape[1]}; use psnr() for smaller frames"
        )
    gx, gy = _grey(x), _grey(y)
    score = 1.0
    last = len(MS_SSIM_WEIGHTS) - 1
    for level, weight in enumerate(MS_SSIM_WEIGHTS):
        ssim_mean, cs_mean = _ssim_cs(gx, gy, float(data_range))
        term = ssim_mean if level == last else cs_mean
        score *= max(term, floor) ** weight
        if level < last:
            gx, gy = _halve(gx), _halve(gy)
    return float(score)


# --------------------------------------------------------------------------- RCA (DMV-JND)


def rca_from_counts(agreed: int, total: int) -> float:
    """Eq. (16) of DMV-JND from counts: ``acc_n = agreed / P`` as a fraction 0..1 (NaN for P = 0).

    Kept as counts so a stream of any length scores in constant memory
    (:class:`jndtf.edge.machine.MachineVisionStage` calls this).

    Raises:
        ValueError: a negative count, or ``agreed > total``.
    """
    if isinstance(agreed, bool) or isinstance(total, bool) or not 0 <= agreed <= total:
        raise ValueError(f"RCA needs 0 <= agreed <= total, got agreed={agreed}, total={total}")
    return agreed / total if total else math.nan


def relative_classification_accuracy(labels_original, labels_processed) -> float:
    """Relative Classification Accuracy of one classifier, eq. (16) of DMV-JND.

    Jin, Zhang, Fu et al., "Just Noticeable Difference for Deep Machine Vision", IEEE TCSVT 2022:
    ``acc_n = 100 % / P · Σ_p pre(l̂_p, l_p)``, ``pre`` = 1 where the label of the processed
    image ``l̂`` equals the label the SAME classifier gives the unprocessed one ``l`` (the paper
    uses classifier-generated labels, not human annotations), 0 otherwise.

    Args:
        labels_original: ``P`` integer labels of the unprocessed images.
        labels_processed: ``P`` integer labels of the processed images, same order.

    Returns:
        RCA as a fraction 0..1 (multiply by 100 for the paper's %); NaN when ``P = 0``.

    Raises:
        ValueError: the two label sequences differ in length or are not 1-D.

    Example:
        >>> relative_classification_accuracy([3, 1, 4, 1], [3, 1, 5, 1])
        0.75
    """
    a, b = np.asarray(labels_original), np.asarray(labels_processed)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(
            f"RCA needs two 1-D label sequences of one length, got {a.shape}, {b.shape}"
        )
    return rca_from_counts(int(np.count_nonzero(a == b)), a.size)


def mean_rca(per_classifier) -> float:
    """Eq. (17) of DMV-JND: ``acc = 1/N · Σ_n acc_n``, the mean of the classifiers' RCAs
    (N = 4 in the paper: AlexNet, VGG, ResNet, DenseNet). Fractions in, fraction out.

    Raises:
        ValueError: no classifier given.

    Example:
        >>> mean_rca([0.9117, 0.9303, 0.9348, 0.9105])  # the paper's testing RCAs: 92.18 %
        0.921825
    """
    values = [float(v) for v in per_classifier]
    if not values:
        raise ValueError("eq. (17) averages the RCAs of at least one classifier; none given")
    return math.fsum(values) / len(values)


__all__ = [
    "MS_SSIM_MIN_SIDE",
    "MS_SSIM_WEIGHTS",
    "PEAK",
    "mean_rca",
    "ms_ssim",
    "mse",
    "mse_from_psnr",
    "psnr",
    "psnr_from_mse",
    "rca_from_counts",
    "relative_classification_accuracy",
]
