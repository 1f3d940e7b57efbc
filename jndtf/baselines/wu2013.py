"""Wu et al. 2013: JND estimation with the free-energy principle.

J. Wu, G. Shi, W. Lin, A. Liu and F. Qi, "Just noticeable difference estimation for images with
free-energy principle", IEEE Trans. Multimedia 15(7), pp. 1705-1710, 2013.

The brain predicts the ordered part of the input with an internal generative model; what it
cannot predict (the free energy, the "disorder") adds uncertainty that masks distortions. The
model, computed the way the authors' MATLAB ``code/`` does, is below. The paper itself could not
be consulted offline, so its equation numbers are not cited; the steps and constants are those of
the MATLAB code (read, not copied; research-only licence) and the team's notes:

1. **AR prediction** (the internal generative model): each pixel is predicted from the pixels
   of a 21x21 search window, weighted by the similarity of their 7x7 neighbourhoods,
   ``w = exp(-||patch(x) - patch(y)||^2 / 49 / sigma^2(x)``). The pixel itself gets the largest
   of its neighbours' weights. ``sigma = LA(x)`` floored at 8, reduced to
   ``sigma * sqrt(sigma / std)`` where the 7x7 standard deviation is larger than ``sigma``.
   The image is extended by symmetric reflection (MATLAB ``padarray(..., 'symmetric')``) and
   the prediction is rounded to integers as MATLAB's ``uint8()`` does (halves up, clipped).
2. **Free energy** ``|I - I_p|``; **disorder masking**: the free energy, replaced by
   its 7x7 Gaussian mean (sigma 7/3) where that is smaller and the 7x7 standard deviation of the
   image is below 10, times an edge weight ``1 - 0.8 * dilate(Canny(I, 0.7), disk(2))`` smoothed
   by a 5x5 Gaussian (sigma 0.8).
3. **Ordered part** on the prediction: luminance adaptation ``T(bg)`` (Chou & Li curve, dark
   backgrounds lifted to 32..127, no 0.7 factor) and contrast masking
   ``|G' (0.0001 bg + 0.115) + 0.5 - 0.01 bg|`` with the log-compressed gradient
   ``G' = 80 log10(1 + Gm / 80) / log10(4)`` (Gm: Yang's four 5x5 directional gradients / 16).
4. Two NAMM steps with 0.3 (Yang et al. 2005): ``order = LA + CM - 0.3 min(LA, CM)``,
   ``JND = order + disorder - 0.3 min(order, disorder)``; the frame MATLAB's ``valid_mask``
   leaves out (2 pixels at the top and left, 3 at the bottom and right) is set to 0.

All filters pad with zeros as MATLAB's ``filter2``/``imfilter`` do. The AR step loops over the
440 offsets of the search window and computes each patch distance for the whole image at once
with a box filter (one filter serves the offsets o and -o), so its cost is ~440 whole-image
passes: about 1 s of CPU for 512x512 and 9 s for 1920x1080 on the team's 2-core VM.

Departures from the MATLAB code, both only where MATLAB's arithmetic breaks down:

- Where every weight of a pixel underflows (a 7x7 patch unlike anything in its window, e.g. in
  strong noise), MATLAB divides 0 by 0 and ``uint8(NaN)`` gives a prediction of 0. jndtf
  divides the weights of every pixel whose best weight is below ``exp(-600)`` by that best
  weight (a second pass over those pixels only) and so returns the weighted mean that MATLAB's
  formula tends to. ``stable=False`` puts MATLAB's zeros back where all of MATLAB's weights are
  exactly 0. Weights below ``exp(-700)`` are floored there: that keeps ``exp`` on its fast
  path (near the subnormal range it is ~15x slower) and changes no other pixel's sums.
- The local standard deviation is clipped at 0 before the square root (MATLAB takes the square
  root of tiny negative rounding residues and keeps the real part).

The port whakdm/HVS-jnd-AR, which ``../shared/data/jnd-reference`` holds, truncates the
prediction instead of rounding it and uses other borders and another Canny; the README there
lists the differences.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from jndtf.baselines._registry import register
from jndtf.priors._input import as_luma
from jndtf.priors.edges import canny, dilate, max_gradient_f64, strel_disk
from jndtf.priors.luminance import (
    BACKGROUND_KERNEL,
    DARK_MIN_LUMINANCE,
    filter2,
    fspecial_gaussian,
    luminance_threshold,
    round_half_away,
)

__all__ = [
    "COMPONENT_KEYS",
    "ar_predict",
    "wu2013",
    "wu2013_components",
]

CITATION = (
    "J. Wu, G. Shi, W. Lin, A. Liu, F. Qi, 'Just noticeable difference estimation for images "
    "with free-energy principle', IEEE Trans. Multimedia 15(7):1705-1710, 2013"
)

#: Keys of :func:`wu2013_components`, the same as the reference files' ``*_wu2013_whakdm.npz``.
COMPONENT_KEYS = (
    "grey",
    "ar_prediction",
    "free_energy",
    "luminance_adaptation",
    "contrast_masking",
    "disorder_masking",
    "jnd_order",
    "jnd",
)

#: The demo's constants: floor of the AR sigma, patch radius (7x7), search radius (21x21).
MIN_SIGMA = 8.0
PATCH_RADIUS = 3
SEARCH_RADIUS = 10

#: NAMM overlap of both combination steps.
NAMM_OVERLAP = 0.3

#: Canny threshold of the disorder edge mask (MATLAB ``edge(I, 'canny', 0.7)``).
EDGE_THRESHOLD = 0.7

#: Below this 7x7 standard deviation the disorder term is the smaller of the free energy and
#: its Gaussian mean.
SMOOTH_STD = 10.0

#: Log compression of the gradient in the contrast masking: ``80 log10(1 + G/80) / log10(4)``.
GRADIENT_KNEE = 80.0

_ROUNDINGS = ("matlab", "truncate", "none")

# Weights below exp(-700) are floored there: numpy's vectorized exp() leaves its fast path just
# above the subnormal range (exp(-708) costs ~15x exp(-700)), and MATLAB's subnormal weights
# are lossy anyway. Pixels whose best
# exponent is below _RESCUE_EXPONENT get their weights rescaled by the best one. In MATLAB, a
# pixel whose exponents are all below -745.13 gets 0 / 0 (every exp() underflows to 0).
_EXP_FLOOR = -700.0
_RESCUE_EXPONENT = -600.0
_MATLAB_ZERO_EXPONENT = -1075.0 * math.log(2.0)  # exp() rounds to 0 below half of 2^-1074


def _namm(a: np.ndarray, b: np.ndarray, overlap: float = NAMM_OVERLAP) -> np.ndarray:
    """Nonlinear additivity model for masking (Yang et al. 2005): ``a + b - c min(a, b)``."""
    return a + b - overlap * np.minimum(a, b)


def _local_std_zero_pad(luma: np.ndarray, radius: int) -> np.ndarray:
    """Wu 2013's ``func_statistic_value``: ``sqrt(mean(I^2) - mean(I)^2)`` over a (2r+1)^2
    window, both means by ``imfilter`` with zero padding (so the border sees dark pixels)."""
    k = np.full((2 * radius + 1, 2 * radius + 1), 1.0 / (2 * radius + 1) ** 2)
    mean = filter2(k, luma)
    mean_sq = filter2(k, luma * luma)
    return np.sqrt(np.maximum(mean_sq - mean * mean, 0.0))


def _wu_luminance_threshold(luma: np.ndarray) -> np.ndarray:
    """``T(bg)`` on ``bg = floor(filter2(B, I) / 32)`` with dark backgrounds lifted to
    ``round(32 + bg * 95 / 127)``: Wu 2013's ``func_bg_lum_jnd`` (no 0.7 factor)."""
    bg = np.floor(filter2(BACKGROUND_KERNEL, luma) / 32.0)
    lifted = round_half_away(DARK_MIN_LUMINANCE + bg * (127.0 - DARK_MIN_LUMINANCE) / 127.0)
    bg = np.where(bg <= 127.0, lifted, bg)
    return luminance_threshold(bg).astype(np.float64)


def _nonlocal_sums(
    luma: np.ndarray,
    padded: np.ndarray,
    sigma2: np.ndarray,
    r: int,
    search: int,
    shift: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted sums of the AR predictor over every offset of the search window.

    `padded` is `luma` padded by ``search + r`` on each side. The patch distance of offset
    ``-o`` at pixel ``p`` is that of offset ``o`` at ``p - o``, so one box filter of the squared
    differences over a slightly larger area serves both (half the filtering).

    Weights are ``exp(max(-d / sigma2 - shift, _EXP_FLOOR))``: the floor keeps exp() out of its
    slow range near the subnormals and changes no sum by a relative 1e-40 for pixels whose best
    exponent is above ``_RESCUE_EXPONENT`` (the others are rescaled by `shift`).

    Returns ``(numerator, denominator, best_exponent)``, the best exponent before the shift.
    """
    h, w = luma.shape
    n = 2 * r + 1
    big = search  # offset of the r-padded image inside `padded`
    neg_inv = -1.0 / sigma2
    reco = np.zeros((h, w))
    wsum = np.zeros((h, w))
    wmax = np.zeros((h, w))
    best = np.full((h, w), -np.inf)
    expo = np.empty((h, w))

    def accumulate(dist: np.ndarray, du: int, dv: int) -> None:
        np.multiply(dist, neg_inv, out=expo)
        np.maximum(best, expo, out=best)
        if shift is not None:
            expo[...] -= shift
        np.maximum(expo, _EXP_FLOOR, out=expo)
        simi = np.exp(expo, out=expo)
        moved = padded[big + r + du : big + r + du + h, big + r + dv : big + r + dv + w]
        cv2.accumulateProduct(moved, simi, reco)
        np.add(wsum, simi, out=wsum)
        np.maximum(wmax, simi, out=wmax)

    for u in range(0, search + 1):
        for v in range(-search, search + 1):
            if u == 0 and v <= 0:
                continue
            # rows/cols of the squared differences that both o = (u, v) and -o need
            r0, r1 = big + min(0, -u), big + h + 2 * r + max(0, -u)
            c0, c1 = big + min(0, -v), big + w + 2 * r + max(0, -v)
            diff = padded[r0:r1, c0:c1] - padded[r0 + u : r1 + u, c0 + v : c1 + v]
            np.multiply(diff, diff, out=diff)
            # 7x7 mean of the squared differences: MATLAB filter2(ones/49, d, 'valid')
            box = cv2.boxFilter(diff, -1, (n, n), normalize=True)
            a, b = big - r0 + r, big - c0 + r
            accumulate(box[a : a + h, b : b + w], u, v)
            a, b = big - u - r0 + r, big - v - c0 + r
            accumulate(box[a : a + h, b : b + w], -u, -v)
    return reco + wmax * luma, wsum + wmax, best


def _ar_raw(luma: np.ndarray, min_sigma: float, r: int, search: int, stable: bool) -> np.ndarray:
    """Unrounded AR prediction (float64; NaN where MATLAB divides 0 by 0 and not `stable`)."""
    sigma = np.maximum(_wu_luminance_threshold(luma), min_sigma)
    vari = _local_std_zero_pad(luma, r)
    over = vari > sigma
    # MATLAB: (s .* (s ./ vari).^0.5).^2 where vari > s, else s.^2
    sigma2 = np.where(over, (sigma * np.sqrt(sigma / np.where(over, vari, 1.0))) ** 2, sigma**2)
    pad = search + r
    padded = np.pad(luma, pad, mode="symmetric")
    num, den, best = _nonlocal_sums(luma, padded, sigma2, r, search, None)
    pred = num / den
    low = best < _RESCUE_EXPONENT
    if low.any():
        # second pass over the bounding box of the pixels whose weights all (nearly) underflow,
        # each weight divided by the pixel's best one
        rows = np.flatnonzero(low.any(axis=1))
        cols = np.flatnonzero(low.any(axis=0))
        r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        box = (slice(r0, r1), slice(c0, c1))
        num2, den2, _ = _nonlocal_sums(
            luma[box],
            padded[r0 : r1 + 2 * pad, c0 : c1 + 2 * pad],
            sigma2[box],
            r,
            search,
            np.where(low[box], best[box], 0.0),
        )
        sub = pred[box]
        sub[low[box]] = num2[low[box]] / den2[low[box]]
    if not stable:
        pred[best < _MATLAB_ZERO_EXPONENT] = np.nan  # MATLAB: every exp() is 0, 0 / 0
    return pred


def _matlab_uint8(x: np.ndarray) -> np.ndarray:
    """MATLAB ``uint8()`` of a double: round halves up (values are >= 0 here), clip to 0..255,
    NaN -> 0. Returned as float64."""
    out = np.floor(np.clip(x, 0.0, 255.0) + 0.5)
    out[np.isnan(x)] = 0.0
    return out


def _check_params(min_sigma: float, patch_radius: int, search_radius: int) -> None:
    if not min_sigma > 0:
        raise ValueError(f"min_sigma must be > 0, got {min_sigma}")
    if patch_radius < 1 or search_radius < 1:
        raise ValueError(
            f"patch_radius and search_radius must be >= 1, got {patch_radius}, {search_radius}"
        )


def ar_predict(
    image: np.ndarray,
    *,
    min_sigma: float = MIN_SIGMA,
    patch_radius: int = PATCH_RADIUS,
    search_radius: int = SEARCH_RADIUS,
    rounding: str = "matlab",
    stable: bool = True,
) -> np.ndarray:
    """Autoregressive (non-local) prediction of the image, step 1 of Wu et al. 2013.

    Args:
        image: uint8 or float (0..255) grey ``HxW`` or RGB ``HxWx3`` (converted to luma with
            :func:`jndtf.priors._input.as_luma`).
        min_sigma: floor of the similarity scale (8 in the authors' demo).
        patch_radius: half-size of the compared patches (3: 7x7).
        search_radius: half-size of the search window (10: 21x21).
        rounding: ``"matlab"``: round as MATLAB's ``uint8()`` (integers 0..255, the model's
            prediction); ``"truncate"``: cut to integers as numpy's ``astype(uint8)`` does
            (what the port whakdm/HVS-jnd-AR does, for comparisons with it); ``"none"``: the
            unrounded weighted mean.
        stable: rescale the weights where all of them underflow (see the module docstring);
            ``False`` reproduces MATLAB's prediction of 0 there.

    Returns:
        float32 ``HxW`` prediction in grey levels.

    Raises:
        ValueError: bad parameters; ImageError for a bad image.

    Example:
        >>> from skimage import data
        >>> pred = ar_predict(data.camera()[:64, :64])
        >>> pred.shape, pred.dtype
        ((64, 64), dtype('float32'))
    """
    _check_params(min_sigma, patch_radius, search_radius)
    if rounding not in _ROUNDINGS:
        raise ValueError(f"rounding must be one of {_ROUNDINGS}, got {rounding!r}")
    luma = as_luma(image)
    raw = _ar_raw(luma, float(min_sigma), patch_radius, search_radius, stable)
    if rounding == "matlab":
        raw = _matlab_uint8(raw)
    elif rounding == "truncate":
        raw = np.floor(np.nan_to_num(np.clip(raw, 0.0, 255.0), nan=0.0))
    return raw.astype(np.float32)


def _contrast_masking(pred: np.ndarray) -> np.ndarray:
    """Wu 2013's ``func_contrast_mask_jnd`` on the prediction (zero padding throughout)."""
    # float32 as the public max_gradient returns it (the reference outputs were made so);
    # the private one skips the 32x32 size check, so a band of rows can be passed
    gm = max_gradient_f64(pred).astype(np.float32).astype(np.float64)
    compressed = GRADIENT_KNEE * np.log10(1.0 + gm / GRADIENT_KNEE) / np.log10(4.0)
    bg = np.floor(filter2(BACKGROUND_KERNEL, pred) / 32.0)
    return np.abs(compressed * (0.0001 * bg + 0.115) + 0.5 - 0.01 * bg)


def edge_weight_f64(luma: np.ndarray, edges: np.ndarray | None = None) -> np.ndarray:
    """``filter2(gauss(5, 0.8), 1 - 0.8 * dilate(edge(I, 'canny', 0.7), disk(2)))``; `edges`:
    that Canny map precomputed (e.g. for the whole image by :mod:`jndtf.baselines._bands`)."""
    if edges is None:
        edges = canny(luma, EDGE_THRESHOLD)
    edges = dilate(edges, strel_disk(2)).astype(np.float64)
    return filter2(fspecial_gaussian(5, 0.8), 1.0 - 0.8 * edges)


def _disorder_masking(
    luma: np.ndarray, free_energy: np.ndarray, r: int, edges: np.ndarray | None = None
) -> np.ndarray:
    """Wu 2013's ``func_disorder_jnd``."""
    n = 2 * r + 1
    mean = filter2(fspecial_gaussian(n, n / 3.0), free_energy)
    smooth = _local_std_zero_pad(luma, 3) < SMOOTH_STD
    dis = np.where(smooth, np.minimum(mean, free_energy), free_energy)
    return dis * edge_weight_f64(luma, edges)


def _wu2013_jnd(luma: np.ndarray, edges: np.ndarray | None = None) -> np.ndarray:
    """The default model's JND before the MATLAB frame is zeroed (float64 ``HxW``); `edges`
    as in :func:`edge_weight_f64`. The banded runner zeroes the whole image's frame itself."""
    r = PATCH_RADIUS
    pred = _matlab_uint8(_ar_raw(luma, MIN_SIGMA, r, SEARCH_RADIUS, True))
    free_energy = np.abs(luma - pred)
    order = _namm(_wu_luminance_threshold(pred), _contrast_masking(pred))
    return _namm(order, _disorder_masking(luma, free_energy, r, edges))


def wu2013_components(
    image: np.ndarray,
    *,
    min_sigma: float = MIN_SIGMA,
    patch_radius: int = PATCH_RADIUS,
    search_radius: int = SEARCH_RADIUS,
    stable: bool = True,
    prediction: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Every map of the Wu 2013 model, keyed as :data:`COMPONENT_KEYS`.

    Args:
        image: uint8 or float (0..255) grey ``HxW`` or RGB ``HxWx3``.
        min_sigma: floor of the AR similarity scale (8).
        patch_radius: AR patch half-size (3); also the radius of the disorder smoothing and of
            the zeroed frame, as in the authors' demo (``r = 3``).
        search_radius: AR search half-size (10).
        stable: see :func:`ar_predict`.
        prediction: an AR prediction ``HxW`` (0..255) to use instead of computing one, e.g.
            another implementation's, to compare the later steps on the same input.

    Returns:
        dict of float32 ``HxW`` maps in grey levels: ``grey`` (the luma input),
        ``ar_prediction``, ``free_energy``, ``luminance_adaptation`` and
        ``contrast_masking`` (on the prediction), ``disorder_masking``, ``jnd_order`` and
        ``jnd`` (frame zeroed).

    Example:
        >>> from skimage import data
        >>> maps = wu2013_components(data.camera()[:64, :64])
        >>> sorted(maps) == sorted(COMPONENT_KEYS)
        True
    """
    _check_params(min_sigma, patch_radius, search_radius)
    luma = as_luma(image)
    r = patch_radius
    if prediction is None:
        pred = _matlab_uint8(_ar_raw(luma, float(min_sigma), r, search_radius, stable))
    else:
        pred = np.asarray(prediction, dtype=np.float64)
        if pred.shape != luma.shape:
            raise ValueError(f"prediction shape {pred.shape} != image shape {luma.shape}")
        if not np.all(np.isfinite(pred)) or pred.min() < 0 or pred.max() > 255:
            raise ValueError("prediction must be finite and within 0..255")
    free_energy = np.abs(luma - pred)
    la = _wu_luminance_threshold(pred)
    cm = _contrast_masking(pred)
    disorder = _disorder_masking(luma, free_energy, r)
    order = _namm(la, cm)
    jnd = _namm(order, disorder)
    h, w = luma.shape
    valid = np.zeros((h, w))
    valid[r - 1 : h - r, r - 1 : w - r] = 1.0  # MATLAB valid_mask(r:row-r, r:col-r)
    jnd = jnd * valid
    maps = {
        "grey": luma,
        "ar_prediction": pred,
        "free_energy": free_energy,
        "luminance_adaptation": la,
        "contrast_masking": cm,
        "disorder_masking": disorder,
        "jnd_order": order,
        "jnd": jnd,
    }
    return {k: maps[k].astype(np.float32) for k in COMPONENT_KEYS}


@register("wu2013", citation=CITATION)
def wu2013(image: np.ndarray) -> np.ndarray:
    """Wu et al. 2013 free-energy JND map (IEEE TMM 15(7)) with the authors' demo settings.

    Args:
        image: uint8 or float (0..255) grey ``HxW`` or RGB ``HxWx3`` (luma is used).

    Returns:
        float32 ``HxWx1`` JND in grey levels (0..255 units), 0 in the MATLAB frame.

    Example:
        >>> from skimage import data
        >>> jnd = wu2013(data.chelsea())
        >>> jnd.shape, jnd.dtype
        ((300, 451, 1), dtype('float32'))
    """
    return wu2013_components(image)["jnd"][..., None]
