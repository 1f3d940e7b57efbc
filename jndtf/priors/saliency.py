"""Training-free visual-attention (VA) priors: spectral residual saliency and a centre bias.

The learned saliency networks the papers use (PoolNet, ...) need weights that cannot be
downloaded here (DESIGN.md, "Offline world"), so this module gives classical stand-ins that run
anywhere with numpy + OpenCV:

- :func:`spectral_residual` — Hou & Zhang, "Saliency Detection: A Spectral Residual Approach",
  CVPR 2007 (their published five-line MATLAB recipe): the default VA prior.
- :func:`centre_bias` — a Gaussian centre prior (Judd et al., "Learning to predict where humans
  look", ICCV 2009, observed that fixations on photos cluster near the centre).
- :func:`saliency` — the prior map used by jndtf: spectral residual, optionally blended with the
  centre bias.

Every map is float32 ``HxW`` in 0..1, the size of the input image. 1 marks the most salient area.
"""

from __future__ import annotations

import cv2
import numpy as np

from jndtf.priors._input import as_luma

__all__ = ["SALIENCY_METHODS", "centre_bias", "saliency", "spectral_residual"]

#: Methods :func:`saliency` accepts.
SALIENCY_METHODS = ("spectral_residual", "spectral_residual_centre")

# A luma range below this (grey levels, after downscaling) counts as a flat image. Spectral
# residual is invariant to contrast scaling, so any nonzero range would otherwise be blown up to
# a full 0..1 map of noise. INTER_AREA at a non-integer ratio leaves ~1e-5 of float32 round-off
# on a constant image (a flat 64x80 image came out 0..1 with the former 1e-6), far below a
# thousandth of a grey level.
_FLAT_RANGE = 1e-3


def _normalise(m: np.ndarray) -> np.ndarray:
    """Min-max scaling to 0..1 (MATLAB's ``mat2gray``); a constant map becomes all zeros."""
    lo, hi = float(m.min()), float(m.max())
    if not np.isfinite(hi - lo) or hi - lo <= 1e-12 * max(1.0, abs(hi)):
        return np.zeros(m.shape, np.float32)
    return ((m - lo) / (hi - lo)).astype(np.float32)


def spectral_residual(image: np.ndarray, *, width: int = 64, blur_sigma: float = 2.5) -> np.ndarray:
    """Spectral residual saliency (Hou & Zhang, CVPR 2007).

    With ``A(f)`` and ``P(f)`` the amplitude and phase of the 2-D FFT of the luma image
    downscaled to `width` pixels wide (the paper's 64), the log spectrum ``L = log A`` minus its
    3x3 local mean is the spectral residual ``R = L - h3 * L``, and the saliency map is
    ``S = g * |IFFT(exp(R + iP))|^2``, ``g`` a Gaussian (sigma 2.5 px at 64 px, as in
    the authors' code). ``S`` is upsampled (bilinear) to the input size and scaled to 0..1.

    Because ``R`` removes any constant from ``L``, the map does not change when the image's
    contrast is scaled (exactly for float input, up to rounding for uint8). A flat image has no
    salient region: the result is all zeros.

    **Borders (a departure from the five-line recipe).** The FFT treats the image as periodic,
    so the jump between its left and right (top and bottom) edges reads as a salient line along
    the border (on the sample photos the border averaged 1.3-2.6x the interior). The working
    image therefore gets a mirrored margin of an eighth of its longer side on every side (the
    wrap-around jump then lies at the margin's outer edge), the recipe runs on that, and the
    margin is cut off before the scaling to 0..1. Rejected on the same checks: a full mirror
    extension to twice the size (the map became a centre bump) and a quarter-side margin (an
    object within that distance of the border is mirrored into the margin, and the spectral
    residual discounts the repeated pair).

    Args:
        image: uint8 or float (0..255) image, grey ``HxW`` or RGB ``HxWx3``.
        width: working width in pixels (the height keeps the aspect ratio, at least 8 px).
        blur_sigma: Gaussian sigma in working-resolution pixels.

    Returns:
        float32 ``HxW`` map in 0..1.

    Raises:
        ValueError: `width` < 8 or `blur_sigma` < 0; ImageError for a bad image.

    Example:
        >>> from skimage import data
        >>> s = spectral_residual(data.astronaut())
        >>> s.shape, s.dtype, float(s.max())
        ((512, 512), dtype('float32'), 1.0)
    """
    if width < 8:
        raise ValueError(f"width must be at least 8 pixels, got {width}")
    if blur_sigma < 0:
        raise ValueError(f"blur_sigma must be >= 0, got {blur_sigma}")
    grey = as_luma(image)
    h, w = grey.shape
    small_h = max(8, round(h * width / w))
    small = cv2.resize(grey, (width, small_h), interpolation=cv2.INTER_AREA)
    if float(small.max() - small.min()) <= _FLAT_RANGE:
        return np.zeros((h, w), np.float32)

    sh, sw = small.shape
    # a mirrored margin: the FFT's periodic wrap-around jump falls in the margin, cut off below
    m = max(sh, sw) // 8
    padded = cv2.copyMakeBorder(small, m, m, m, m, cv2.BORDER_REFLECT)
    spectrum = np.fft.fft2(padded)
    amplitude = np.abs(spectrum)
    # log(0) guard: a tiny floor relative to the largest amplitude (the DC term).
    log_amp = np.log(np.maximum(amplitude, amplitude.max() * 1e-12))
    residual = log_amp - cv2.blur(log_amp, (3, 3), borderType=cv2.BORDER_REPLICATE)
    phase = np.angle(spectrum)
    sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * phase))) ** 2
    if blur_sigma > 0:
        sal = cv2.GaussianBlur(sal, (0, 0), blur_sigma, borderType=cv2.BORDER_REFLECT)
    sal = np.ascontiguousarray(sal[m : m + sh, m : m + sw])
    sal = _normalise(sal)
    big = cv2.resize(sal, (w, h), interpolation=cv2.INTER_LINEAR)
    return _normalise(big)


def centre_bias(height: int, width: int, *, sigma: float = 0.25) -> np.ndarray:
    """Gaussian centre prior ``exp(-(dx^2 + dy^2) / (2 sigma^2))``, 1 at the image centre.

    ``dx`` and ``dy`` are offsets from the centre as fractions of the image width and height, so
    the prior stretches with the aspect ratio.

    Args:
        height: map height in pixels (>= 1).
        width: map width in pixels (>= 1).
        sigma: standard deviation as a fraction of the image side (> 0).

    Returns:
        float32 ``height x width`` map in 0..1.

    Example:
        >>> c = centre_bias(64, 96)
        >>> float(c[32, 48]) > float(c[0, 0])
        True
    """
    if height < 1 or width < 1:
        raise ValueError(f"height and width must be >= 1, got {height}x{width}")
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    dy = (np.arange(height, dtype=np.float64) - (height - 1) / 2) / height
    dx = (np.arange(width, dtype=np.float64) - (width - 1) / 2) / width
    g = np.exp(-(dy[:, None] ** 2 + dx[None, :] ** 2) / (2 * sigma**2))
    return g.astype(np.float32)


def saliency(
    image: np.ndarray,
    *,
    method: str = "spectral_residual",
    centre_weight: float = 0.5,
    centre_sigma: float = 0.25,
) -> np.ndarray:
    """The visual-attention prior of jndtf: float32 ``HxW`` in 0..1, 1 = most salient.

    ``"spectral_residual"`` (default) is :func:`spectral_residual`. ``"spectral_residual_centre"``
    weights it by a centre prior: ``S * ((1 - c) + c * G)``, ``G`` from :func:`centre_bias`
    and ``c`` = `centre_weight`, then rescales to 0..1. This is a cheap approximation of the
    centre preference of human fixations, not a fitted model.

    Args:
        image: uint8 or float (0..255) image, grey ``HxW`` or RGB ``HxWx3``.
        method: one of :data:`SALIENCY_METHODS`.
        centre_weight: strength of the centre prior in 0..1 (``"spectral_residual_centre"``).
        centre_sigma: width of the centre prior as a fraction of the image side.

    Returns:
        float32 ``HxW`` map in 0..1.

    Raises:
        ValueError: unknown `method` or `centre_weight` outside 0..1.

    Example:
        >>> from skimage import data
        >>> s = saliency(data.chelsea(), method="spectral_residual_centre")
        >>> s.shape
        (300, 451)
    """
    if method not in SALIENCY_METHODS:
        raise ValueError(f"unknown saliency method {method!r}; choose from {SALIENCY_METHODS}")
    sal = spectral_residual(image)
    if method == "spectral_residual":
        return sal
    if not 0.0 <= centre_weight <= 1.0:
        raise ValueError(f"centre_weight must be in 0..1, got {centre_weight}")
    g = centre_bias(*sal.shape, sigma=centre_sigma)
    return _normalise(sal * ((1.0 - centre_weight) + centre_weight * g))
