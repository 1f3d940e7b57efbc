"""Directional gradients, MATLAB-style Canny and disk dilation, edge protection and edge weight.

- Max gradient ``Gm = max_k |G_k * I| / 16`` over the four 5x5 directional kernels of Chou & Li
  (1995) that Yang et al. 2005 and Wu et al. 2017 reuse (MATLAB ``filter2``: correlation, zero
  padding). Wu 2017 calls it the edge height and replaces its 2-pixel frame by a
  ``'symmetric'`` reflection of the interior (``padarray(..., [2 2], 'symmetric')``).
- :func:`canny` reproduces MATLAB's ``edge(I, 'canny', T)`` as current releases compute it
  (written here from its documented behaviour and algorithm, no MATLAB code copied):
  separable derivative-of-Gaussian gradients (sigma sqrt(2), 13 taps, replicate padding), the
  magnitude normalised by its maximum, so ``T`` (high) and ``0.4 T`` (low) are fractions of the
  largest gradient; non-maximum suppression by linear interpolation between the two neighbours
  across the gradient direction; hysteresis keeping the 8-connected weak components that hold a
  strong pixel. The ports use scikit-image's or OpenCV's Canny with absolute thresholds instead.
  Residual differences to MATLAB: floating-point ties in the suppression, and older releases
  (e.g. the 2015 ``edge.m``) built a 16-tap even-length kernel (edges move by up to a pixel).
  Against ``skimage.feature.canny`` given the same thresholds relative to its own largest
  gradient, 96-97% of its edge pixels are found here too on the three reference photos.
- :func:`strel_disk` builds MATLAB's ``strel('disk', r, n)`` neighbourhood, including its
  periodic-line approximation for ``n > 0``: ``strel('disk', 3)`` is a 5x5 square and
  ``strel('disk', 6, 6)`` an 11x11 square, not the Euclidean disks of ``skimage.morphology.disk``.
- Wu 2017 edge protection (``func_edge_protect``): threshold
  ``min(60 / max(edge height), 0.8)``, Canny, dilation by ``strel('disk', 3)``, ``1 - edge``,
  5x5 Gaussian (sigma 0.8, zero padding).
- Yang 2005 edge weight (``JND_pixel.m``): Canny at 0.5, dilation by ``strel('disk', 6, 6)``,
  ``1 - 0.95 edge``, 7x7 Gaussian (sigma 0.8, zero padding).

The ``*_f64`` functions are the kernels the classical baselines share: they take a luma array the
caller has already validated (:func:`jndtf.priors.as_luma`, float64 0..255) and return float64,
so a baseline composes them without re-validating or rounding to float32 between steps. The
names without ``_f64`` validate any image and return float32.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from jndtf.priors._input import as_luma
from jndtf.priors.luminance import filter2, fspecial_gaussian

#: Chou & Li's four 5x5 directional high-pass kernels (G1..G4, used as correlation kernels / 16).
DIRECTIONAL_KERNELS = np.array(
    [
        [[0, 0, 0, 0, 0], [1, 3, 8, 3, 1], [0, 0, 0, 0, 0], [-1, -3, -8, -3, -1], [0, 0, 0, 0, 0]],
        [[0, 0, 1, 0, 0], [0, 8, 3, 0, 0], [1, 3, 0, -3, -1], [0, 0, -3, -8, 0], [0, 0, -1, 0, 0]],
        [[0, 0, 1, 0, 0], [0, 0, 3, 8, 0], [-1, -3, 0, 3, 1], [0, -8, -3, 0, 0], [0, 0, -1, 0, 0]],
        [[0, 1, 0, -1, 0], [0, 3, 0, -3, 0], [0, 8, 0, -8, 0], [0, 3, 0, -3, 0], [0, 1, 0, -1, 0]],
    ],
    dtype=np.float64,
)

#: Wu 2017: edge height that maps to the Canny threshold (``edge_h``) and the threshold's cap.
EDGE_HEIGHT_SCALE = 60.0
EDGE_THRESHOLD_CAP = 0.8

#: MATLAB ``edge(I, 'canny', T)`` defaults: Gaussian sigma and low/high threshold ratio.
CANNY_SIGMA = math.sqrt(2.0)
CANNY_LOW_RATIO = 0.4

#: Largest gradient magnitude (grey levels per pixel) still taken as a flat image. MATLAB
#: normalises by the largest magnitude whatever it is, so on a flat image the ~1e-14 rounding
#: residue of the filters would become "edges"; jndtf returns no edges instead (also the banded
#: Canny of :mod:`jndtf.baselines._bands`).
FLAT_GRADIENT = 1e-9


# --------------------------------------------------------------------------- gradients


def max_gradient_f64(luma: np.ndarray) -> np.ndarray:
    """``Gm = max_k |G_k * I| / 16`` (Chou & Li 1995; Yang et al. 2005) on a validated float64
    luma; float64, MATLAB ``filter2`` zero padding. See :func:`max_gradient`."""
    gm = np.abs(filter2(DIRECTIONAL_KERNELS[0], luma))
    for k in DIRECTIONAL_KERNELS[1:]:
        np.maximum(gm, np.abs(filter2(k, luma)), out=gm)
    return gm / 16.0


def edge_height_f64(luma: np.ndarray) -> np.ndarray:
    """Wu 2017's edge height (``func_edge_height``): :func:`max_gradient_f64` with its 2-pixel
    frame replaced by a ``'symmetric'`` reflection of the interior; float64."""
    return np.pad(max_gradient_f64(luma)[2:-2, 2:-2], 2, mode="symmetric")


def _edge_threshold(edge_height: np.ndarray) -> float:
    peak = float(np.max(edge_height))
    if peak <= 0.0:  # MATLAB: 60 / 0 = Inf, capped to 0.8
        return EDGE_THRESHOLD_CAP
    return min(EDGE_HEIGHT_SCALE / peak, EDGE_THRESHOLD_CAP)


def max_gradient(image: np.ndarray) -> np.ndarray:
    """Maximal weighted average gradient ``Gm = max_k |G_k * I| / 16`` (Chou & Li 1995;
    Yang et al. 2005), with MATLAB's zero padding at the border.

    Args:
        image: uint8 or float (0..255) grey ``HxW`` or RGB ``HxWx3`` (converted to luma).

    Returns:
        float32 ``HxW`` map in grey levels (a vertical step of height h gives h beside it:
        G4's columns sum to 16).

    Example:
        >>> step = np.zeros((32, 32), np.uint8); step[:, 16:] = 160
        >>> float(max_gradient(step)[16, 16])  # (1 + 3 + 8 + 3 + 1) * 160 / 16
        160.0
    """
    return max_gradient_f64(as_luma(image)).astype(np.float32)


def edge_height(image: np.ndarray) -> np.ndarray:
    """Wu 2017's edge height: :func:`max_gradient` with its 2-pixel frame replaced by a MATLAB
    ``'symmetric'`` reflection of the interior (``func_edge_height``). float32 ``HxW``."""
    return edge_height_f64(as_luma(image)).astype(np.float32)


def edge_threshold(edge_height_map: np.ndarray) -> float:
    """Wu 2017's Canny threshold ``min(60 / max(edge height), 0.8)`` (0.8 on a flat image)."""
    return _edge_threshold(np.asarray(edge_height_map, dtype=np.float64))


# --------------------------------------------------------------------------- Canny


def _canny_kernels(sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """1-D Gaussian (sum 1) and derivative-of-Gaussian (positive half sums to 1), 2*ceil(4s)+1
    taps, as MATLAB's ``edge`` builds them."""
    extent = math.ceil(4.0 * sigma)
    x = np.arange(-extent, extent + 1, dtype=np.float64)
    gauss = np.exp(-(x * x) / (2.0 * sigma * sigma))
    gauss /= gauss.sum()
    deriv = np.gradient(gauss)  # central differences, one-sided at the ends (MATLAB gradient)
    deriv /= deriv[: extent + 1].sum()
    return gauss, deriv


def smooth_gradient(luma: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """``dG/dx`` and ``dG/dy`` of the Gaussian-smoothed image (x = columns, y = rows, both
    positive towards brighter pixels), replicate padding. MATLAB convolves; OpenCV correlates,
    so the antisymmetric derivative kernel is flipped."""
    gauss, deriv = _canny_kernels(sigma)
    flipped = np.ascontiguousarray(deriv[::-1])
    gx = cv2.sepFilter2D(luma, cv2.CV_64F, flipped, gauss, borderType=cv2.BORDER_REPLICATE)
    gy = cv2.sepFilter2D(luma, cv2.CV_64F, gauss, flipped, borderType=cv2.BORDER_REPLICATE)
    return gx, gy


def non_maximum_suppression(
    gx: np.ndarray, gy: np.ndarray, mag: np.ndarray, low: float
) -> np.ndarray:
    """Pixels above `low` whose magnitude is >= both values interpolated across the gradient.

    MATLAB's four sectors, written as two choices: the axis neighbours (left/right where
    ``|gx|`` dominates, up/down where ``|gy|`` does) and the diagonal pair (``/`` when gx and gy
    have opposite signs, ``\\`` otherwise), weighted by ``d = min(|gx|, |gy|) / max(...)``.
    Only the candidates above `low` are evaluated (flat indices, as MATLAB's ``find``); the
    1-pixel frame is never a maximum.
    """
    h, w = mag.shape
    keep = np.zeros((h, w), dtype=bool)
    if h < 3 or w < 3:
        return keep
    candidate = mag > low
    candidate[[0, -1], :] = False
    candidate[:, [0, -1]] = False
    idx = np.flatnonzero(candidate)
    m = mag.ravel()
    ix = gx.ravel()[idx]
    iy = gy.ravel()[idx]
    # MATLAB's sectors: 1 = (|x| > |y|, opposite signs or y = 0); 4 = (|x| >= |y|, same signs);
    # 2 = (|y| >= |x|, opposite signs, x != 0); 3 = (|y| > |x|, same signs or x = 0).
    same = (ix > 0) == (iy > 0)
    same &= ix != 0
    same &= iy != 0
    np.abs(ix, out=ix)
    np.abs(iy, out=iy)
    horiz = ix > iy
    horiz |= (ix == iy) & same
    big = np.where(horiz, ix, iy)
    d = np.where(horiz, iy, ix)
    valid = big > 0
    np.divide(d, big, out=d, where=valid)  # d = 0 where both are 0 (never kept)
    step_axis = np.where(horiz, 1, -w)  # east / north
    step_diag = np.where(same, np.where(horiz, w + 1, -w - 1), 1 - w)  # SE / NW / NE
    one_minus_d = 1.0 - d
    c = m[idx]
    ok = valid
    for sign in (1, -1):  # the two sides; MATLAB's rounding: axis * (1 - d) + diag * d
        side = m[idx + sign * step_axis]
        side *= one_minus_d
        diag = m[idx + sign * step_diag]
        diag *= d
        side += diag
        ok &= c >= side
    keep.ravel()[idx[ok]] = True
    return keep


def hysteresis(weak: np.ndarray, strong: np.ndarray) -> np.ndarray:
    """8-connected components of `weak` that contain a `strong` pixel (MATLAB ``bwselect`` /
    ``imreconstruct`` with the strong pixels as markers)."""
    if not strong.any():
        return np.zeros_like(weak)
    n, labels = cv2.connectedComponents(weak.astype(np.uint8), connectivity=8)
    keep = np.zeros(n, dtype=bool)
    keep[labels[strong]] = True
    keep[0] = False
    return keep[labels]


def canny_f64(
    luma: np.ndarray, high: float, low: float | None = None, sigma: float = CANNY_SIGMA
) -> np.ndarray:
    """MATLAB-style Canny (see :func:`canny`) on a validated float64 luma.

    :func:`smooth_gradient`, magnitude normalised by its maximum (no edges when that is at most
    :data:`FLAT_GRADIENT`), :func:`non_maximum_suppression` at ``low`` (default ``0.4 high``),
    :func:`hysteresis` with the pixels above ``high`` as markers. Returns a bool ``HxW`` map.

    Raises:
        ValueError: ``high`` outside (0, 1), ``low`` outside [0, high), or ``sigma <= 0``.
    """
    if not 0.0 < high < 1.0:
        raise ValueError(
            f"the Canny threshold is a fraction of the largest gradient in (0, 1), got {high}"
        )
    low = CANNY_LOW_RATIO * high if low is None else low
    if not 0.0 <= low < high:
        raise ValueError(f"need 0 <= low < high, got low={low}, high={high}")
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    gx, gy = smooth_gradient(luma, sigma)
    mag = gx * gx
    mag += gy * gy
    np.sqrt(mag, out=mag)
    peak = float(mag.max())
    if peak <= FLAT_GRADIENT:  # a flat image: only rounding residue, no edge to find
        return np.zeros(luma.shape, dtype=bool)
    np.divide(mag, peak, out=mag)
    weak = non_maximum_suppression(gx, gy, mag, low)
    return hysteresis(weak, weak & (mag > high))


def canny(
    image: np.ndarray,
    threshold: float,
    *,
    low: float | None = None,
    sigma: float = CANNY_SIGMA,
) -> np.ndarray:
    """MATLAB-style ``edge(I, 'canny', threshold)``: thresholds relative to the largest gradient.

    Canny, "A computational approach to edge detection", IEEE PAMI 8(6), 1986, as MATLAB's
    Image Processing Toolbox computes it (see the module docstring for the steps).

    Args:
        image: uint8 or float (0..255) grey ``HxW`` or RGB ``HxWx3`` (converted to luma).
        threshold: high threshold as a fraction (0, 1) of the largest gradient magnitude.
        low: low threshold (same scale); default ``0.4 * threshold`` as in MATLAB.
        sigma: standard deviation of the Gaussian (MATLAB default sqrt(2)).

    Returns:
        bool ``HxW`` edge map (one pixel wide; never on the 1-pixel frame).

    Raises:
        ValueError: a threshold outside (0, 1) or ``low >= threshold``.

    Example:
        >>> step = np.zeros((32, 32), np.uint8); step[:, 16:] = 200
        >>> np.flatnonzero(canny(step, 0.5)[16])  # the two tied columns beside the step
        array([15, 16])
    """
    return canny_f64(as_luma(image), threshold, low, sigma)


# --------------------------------------------------------------------------- dilation


def _minkowski(offsets: set[tuple[int, int]], line: list[tuple[int, int]]) -> set[tuple[int, int]]:
    return {(r + a, c + b) for r, c in offsets for a, b in line}


def strel_disk(radius: int, n: int = 4) -> np.ndarray:
    """MATLAB's ``strel('disk', radius, n)`` neighbourhood as a bool ``(2m+1)x(2m+1)`` array.

    ``n = 0`` (and any radius below 3) gives the Euclidean disk ``x^2 + y^2 <= r^2``. ``n`` in
    4, 6, 8 gives MATLAB's approximation by periodic lines (Adams 1993; Jones & Soille 1996):
    lines along the basis vectors, each repeated ``floor(k / |v|)`` times with
    ``k = 2r / (cot(pi / 2n) + 1 / sin(pi / 2n))``, then horizontal and vertical lines of length
    ``2 (r - extent - 1) + 1`` when that is 3 or more. So ``strel_disk(3)`` is a 5x5 square and
    ``strel_disk(6, 6)`` an 11x11 square, as in MATLAB.

    Raises:
        ValueError: negative radius or ``n`` not in 0, 4, 6, 8.

    Example:
        >>> strel_disk(3).shape, bool(strel_disk(3).all())
        ((5, 5), True)
    """
    if radius < 0 or int(radius) != radius:
        raise ValueError(f"radius must be a non-negative integer, got {radius}")
    radius = int(radius)
    bases = {
        4: [(1, 0), (1, 1), (0, 1), (-1, 1)],
        6: [(1, 0), (1, 2), (2, 1), (0, 1), (-1, 2), (-2, 1)],
        8: [(1, 0), (2, 1), (1, 1), (1, 2), (0, 1), (-1, 2), (-1, 1), (-2, 1)],
    }
    if n not in (0, *bases):
        raise ValueError(f"n must be 0, 4, 6 or 8, got {n}")
    if radius < 3:
        n = 0
    if n == 0:
        yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
        return xx * xx + yy * yy <= radius * radius
    theta = math.pi / (2 * n)
    k = 2 * radius / (1.0 / math.tan(theta) + 1.0 / math.sin(theta))
    offsets = {(0, 0)}
    for v in bases[n]:
        rp = math.floor(k / math.hypot(*v))
        offsets = _minkowski(offsets, [(i * v[0], i * v[1]) for i in range(-rp, rp + 1)])
    extent = max(r for r, _ in offsets)
    length = 2 * (radius - extent - 1) + 1
    if length >= 3:
        half = (length - 1) // 2
        offsets = _minkowski(offsets, [(0, i) for i in range(-half, half + 1)])
        offsets = _minkowski(offsets, [(i, 0) for i in range(-half, half + 1)])
    m = max(max(abs(r), abs(c)) for r, c in offsets)
    out = np.zeros((2 * m + 1, 2 * m + 1), dtype=bool)
    for r, c in offsets:
        out[r + m, c + m] = True
    return out


def dilate(mask: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """Binary dilation of `mask` by a symmetric `footprint` (MATLAB ``imdilate``; outside = 0)."""
    fp = np.asarray(footprint, dtype=np.uint8)
    return cv2.dilate(
        np.asarray(mask, dtype=np.uint8), fp, borderType=cv2.BORDER_CONSTANT, borderValue=0
    ).astype(bool)


# --------------------------------------------------------------------------- protection


def edge_protection_f64(luma: np.ndarray, threshold: float | None = None) -> np.ndarray:
    """Wu 2017's edge protection (see :func:`edge_protection`) on a validated float64 luma;
    ``threshold`` overrides ``min(60 / max(edge height), 0.8)``. float64."""
    t = _edge_threshold(edge_height_f64(luma)) if threshold is None else threshold
    edges = dilate(canny_f64(luma, t, None, CANNY_SIGMA), strel_disk(3))
    return filter2(fspecial_gaussian(5, 0.8), 1.0 - edges)


def edge_weight_f64(luma: np.ndarray) -> np.ndarray:
    """Yang 2005's edge weight ``gauss7x7_0.8 * (1 - 0.95 dilate(canny(I, 0.5),
    strel('disk', 6, 6)))`` (``JND_pixel.m``) on a validated float64 luma; float64."""
    edges = dilate(canny_f64(luma, 0.5, None, CANNY_SIGMA), strel_disk(6, 6))
    return filter2(fspecial_gaussian(7, 0.8), 1.0 - 0.95 * edges)


def edge_protection(image: np.ndarray) -> np.ndarray:
    """Wu 2017's edge protection ``EP`` (IEEE TIP 26(6); ``func_edge_protect``).

    ``EP = gauss5x5_0.8 * (1 - dilate(canny(I, T), strel('disk', 3)))`` with
    ``T = min(60 / max(edge height), 0.8)``; MATLAB-style Canny and zero-padded filtering.

    Args:
        image: uint8 or float (0..255) grey ``HxW`` or RGB ``HxWx3`` (converted to luma).

    Returns:
        float32 ``HxW`` weight in 0..1: near 0 on and around edges, 1 elsewhere (below 1 in the
        outer 2 pixels because of the zero padding).
    """
    return edge_protection_f64(as_luma(image)).astype(np.float32)


def edge_weight(image: np.ndarray) -> np.ndarray:
    """Yang 2005's edge weight on the max gradient (``JND_pixel.m``, 'Yang' mode).

    ``W = gauss7x7_0.8 * (1 - 0.95 dilate(canny(I, 0.5), strel('disk', 6, 6)))``.

    Args:
        image: uint8 or float (0..255) grey ``HxW`` or RGB ``HxWx3`` (converted to luma).

    Returns:
        float32 ``HxW`` weight in 0.05..1 (lower in the 3-pixel frame by the zero padding).
    """
    return edge_weight_f64(as_luma(image)).astype(np.float32)
