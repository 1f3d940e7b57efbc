"""Chen & Wu 2019: asymmetric foveated JND (visual-field inhomogeneities).

Z. Chen and W. Wu, "Asymmetric foveated just-noticeable-difference model for images with visual
field inhomogeneities", IEEE Trans. Circuits Syst. Video Technol., 2019 (vol. 30(11), 2020),
doi:10.1109/TCSVT.2019.2952675.

Visual acuity falls with eccentricity, but not equally in every direction: at the same
eccentricity it is better along the horizontal meridian than along the vertical one
(horizontal-vertical anisotropy, HVA) and better below fixation than above it (vertical-meridian
asymmetry, VMA). Chen & Wu replace the circular iso-acuity contours of earlier foveated JND
models by two hemi-ellipses (one for the upper, one for the lower visual field) and scale a
pixel-domain JND by a foveation factor that grows with this elliptical eccentricity.

The model as jndtf computes it::

    e        = atan(d / v)                     eccentricity in degrees, d = distance to the
                                               fixation in pixels, v = viewing distance in pixels
    e_a      = e * sqrt(cos^2(phi) + k^2 sin^2(phi))   hemi-ellipse eccentricity; phi = polar
                                               angle, k = k_upper above fixation, k_lower below
    f_c(e)   = e2 ln(1 / CT0) / (alpha (e + e2))       cut-off frequency (Geisler & Perry 1998:
                                               CT0 = 1/64, alpha = 0.106, e2 = 2.3 deg)
    f_m(e)   = min(f_c(e), f_d),  f_d = pi v / 360     display Nyquist in cycles/degree
    W(e)     = 1 + (1 - f_m(e_a) / f_m(0))             foveation weight (1 at the fovea)
    gamma    = 0.5 + N(log2(bg + 1); mu = 7, s = 0.8)  luminance-dependent exponent
    JND      = JND_base * W ^ gamma                    (with several fixations: the nearest,
                                               i.e. the smallest e_a, counts)

What is from where:

- The hemi-ellipse iso-acuity contours, HVA and VMA, and the multiplicative foveation of a
  pixel JND are from Chen & Wu 2019 (abstract and method). The paper itself could not be read
  offline and no public code was found, so the fitted ellipse axes are not known here:
  ``k_lower = 1.2`` and ``k_upper = 1.5`` (vertical eccentricities count 1.2x / 1.5x a
  horizontal one) are jndtf's choice: a rough reading of published performance-field
  asymmetries (e.g. Barbot, Xue & Carrasco, "Asymmetries in visual acuity around the visual
  field", J. Vision 21(1), 2021: better acuity on the horizontal than on the lower, and on the
  lower than on the upper vertical meridian, by some tens of percent), not fitted values.
  Set them from the paper's tables where that matters; ``k = 1`` gives the circular model.
- ``f_c``, ``f_m``, ``W`` and ``gamma(bg)`` are the foveation model of Chen & Guillemot
  ("Perceptually-friendly H.264/AVC video coding based on foveated just-noticeable-distortion
  model", IEEE TCSVT 20(6), 2010), which Chen & Wu build on. That paper could not be consulted
  either; the formulas were checked against a public MATLAB draft by the same group
  (diliu1992/VR-JND, ``func_fjnd_bg.m``, read only), which has the same ``f_m`` and a similar
  ``W^gamma`` but writes the offset of ``gamma`` as 0.05 where jndtf uses 0.5 (with 0.05,
  mid-grey backgrounds would get nearly the full factor and dark ones almost none).
- The base JND is Chou & Li 1995 (the spatial JND of Chen & Guillemot) by default; any
  registered jndtf baseline or a precomputed map can be used instead.
- Display defaults (jndtf's choice): a 24-inch 1920x1080 monitor (pixel pitch 0.277 mm) seen
  from 60 cm, i.e. ``v`` = 2166 px, 37.8 px per degree. The fixation defaults to the image
  centre; ``fixation="saliency"`` uses the maximum of the spectral-residual saliency map
  (:func:`jndtf.priors.saliency.saliency`).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Sequence

import numpy as np

from jndtf.baselines import _registry
from jndtf.baselines._registry import register
from jndtf.priors._input import as_luma
from jndtf.priors.luminance import BACKGROUND_KERNEL, filter2

__all__ = [
    "chen2019",
    "chen2019_components",
    "cutoff_frequency",
    "elliptical_eccentricity",
    "foveation_factor",
]

CITATION = (
    "Z. Chen, W. Wu, 'Asymmetric foveated just-noticeable-difference model for images with "
    "visual field inhomogeneities', IEEE TCSVT 30(11), 2020 (doi:10.1109/TCSVT.2019.2952675)"
)

#: Geisler & Perry (1998) contrast-threshold model: minimal contrast threshold, spatial-frequency
#: decay constant, half-resolution eccentricity (degrees).
CT0 = 1.0 / 64.0
ALPHA = 0.106
E2 = 2.3
#: Chen & Guillemot's luminance exponent: Gaussian in log2(bg + 1) around 7 with sigma 0.8.
GAMMA_OFFSET = 0.5
GAMMA_MU = 7.0
GAMMA_SIGMA = 0.8
#: Hemi-ellipse ratios (jndtf's choice, see module docstring): a vertical offset counts this
#: many times a horizontal one below (lower field) and above (upper field) fixation.
K_LOWER = 1.2
K_UPPER = 1.5
#: Display defaults: 60 cm viewing distance, 0.277 mm pixel pitch (24-inch 1920x1080).
VIEWING_DISTANCE_CM = 60.0
PIXEL_PITCH_MM = 0.277

Fixation = str | tuple[float, float] | Sequence[tuple[float, float]]
Base = str | Callable[[np.ndarray], np.ndarray] | np.ndarray


def viewing_distance_pixels(
    viewing_distance_cm: float = VIEWING_DISTANCE_CM, pixel_pitch_mm: float = PIXEL_PITCH_MM
) -> float:
    """Viewing distance in pixels: ``10 * distance_cm / pitch_mm``."""
    if viewing_distance_cm <= 0 or pixel_pitch_mm <= 0:
        raise ValueError(
            f"viewing distance and pixel pitch must be > 0, got {viewing_distance_cm} cm, "
            f"{pixel_pitch_mm} mm"
        )
    return 10.0 * viewing_distance_cm / pixel_pitch_mm


def cutoff_frequency(eccentricity: np.ndarray | float, viewing_distance_px: float) -> np.ndarray:
    """``f_m = min(e2 ln(1/CT0) / (alpha (e + e2)), pi v / 360)`` in cycles per degree.

    The first term is the highest visible frequency at eccentricity ``e`` (degrees; Geisler &
    Perry 1998), the second the display's Nyquist frequency at viewing distance ``v`` pixels.
    """
    e = np.asarray(eccentricity, dtype=np.float64)
    fc = E2 * math.log(1.0 / CT0) / (ALPHA * (e + E2))
    return np.minimum(fc, math.pi * viewing_distance_px / 360.0)


def elliptical_eccentricity(
    shape: tuple[int, int],
    fixations: Sequence[tuple[float, float]],
    viewing_distance_px: float,
    *,
    k_upper: float = K_UPPER,
    k_lower: float = K_LOWER,
) -> np.ndarray:
    """Hemi-ellipse eccentricity (degrees) of every pixel, the smallest over the fixations.

    ``e_a = atan(d / v) * sqrt(cos^2 phi + k^2 sin^2 phi)``, ``phi`` the polar angle of the
    pixel around the fixation, ``k = k_upper`` for pixels above the fixation (smaller row
    index: the upper visual field) and ``k_lower`` below. ``k = 1`` gives circles.

    Args:
        shape: ``(H, W)``.
        fixations: ``(row, col)`` points in pixels (may lie outside the image).
        viewing_distance_px: viewing distance in pixels.
        k_upper: upper-field ratio (>= 1 for the usual VMA/HVA).
        k_lower: lower-field ratio.

    Returns:
        float64 ``HxW`` map in degrees, 0 at each fixation.
    """
    if k_upper <= 0 or k_lower <= 0:
        raise ValueError(f"k_upper and k_lower must be > 0, got {k_upper}, {k_lower}")
    if len(fixations) == 0:
        raise ValueError("need at least one fixation")
    h, w = shape
    rows = np.arange(h, dtype=np.float64)[:, None]
    cols = np.arange(w, dtype=np.float64)[None, :]
    best = np.full((h, w), np.inf)
    for fr, fc in fixations:
        dy = rows - float(fr)  # > 0: below the fixation, the lower visual field
        dx = cols - float(fc)
        d2 = dx * dx + dy * dy
        e = np.degrees(np.arctan(np.sqrt(d2) / viewing_distance_px))
        k = np.where(dy < 0, k_upper, k_lower)
        with np.errstate(invalid="ignore", divide="ignore"):
            sin2 = np.where(d2 > 0, dy * dy / d2, 0.0)
        ea = e * np.sqrt(1.0 + (k * k - 1.0) * sin2)
        np.minimum(best, ea, out=best)
    return best


def foveation_factor(
    eccentricity: np.ndarray, background: np.ndarray, viewing_distance_px: float
) -> np.ndarray:
    """``W(e) ^ gamma(bg)``: 1 at the fovea, up to 2 in the far periphery.

    ``W = 1 + (1 - f_m(e) / f_m(0))`` and ``gamma = 0.5 + exp(-(log2(bg+1) - 7)^2 / (2 * 0.8^2))
    / (sqrt(2 pi) 0.8)`` (Chen & Guillemot 2010).

    Args:
        eccentricity: degrees (e.g. :func:`elliptical_eccentricity`).
        background: background luminance 0..255, same shape.
        viewing_distance_px: viewing distance in pixels.

    Returns:
        float64 array, >= 1.
    """
    fm0 = cutoff_frequency(0.0, viewing_distance_px)
    weight = 1.0 + (1.0 - cutoff_frequency(eccentricity, viewing_distance_px) / fm0)
    lb = np.log2(np.clip(background, 0.0, 255.0) + 1.0)
    gamma = GAMMA_OFFSET + np.exp(-((lb - GAMMA_MU) ** 2) / (2 * GAMMA_SIGMA**2)) / (
        math.sqrt(2 * math.pi) * GAMMA_SIGMA
    )
    return weight**gamma


def _resolve_fixations(fixation: Fixation, image: np.ndarray, shape: tuple[int, int]):
    h, w = shape
    if isinstance(fixation, str):
        if fixation == "centre" or fixation == "center":
            return [((h - 1) / 2.0, (w - 1) / 2.0)]
        if fixation == "saliency":
            from jndtf.priors.saliency import saliency

            s = saliency(image)
            r, c = np.unravel_index(int(np.argmax(s)), s.shape)
            return [(float(r), float(c))]
        raise ValueError(f"fixation must be 'centre', 'saliency' or (row, col), got {fixation!r}")
    arr = np.asarray(fixation, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] == 0:
        raise ValueError(f"fixation points must be (row, col) pairs, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("fixation points must be finite")
    return [(float(r), float(c)) for r, c in arr]


def _base_map(base: Base, image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if isinstance(base, str):
        if base == "chen2019":
            raise ValueError("chen2019 cannot be its own base model")
        try:
            fn = _registry.get(base)
        except KeyError:
            try:
                importlib.import_module(f"jndtf.baselines.{base}")
            except ImportError:
                pass
            fn = _registry.get(base)  # raises KeyError listing the known names
        out = fn(image)
    elif callable(base):
        out = base(image)
    else:
        out = base
    out = np.asarray(out, dtype=np.float64)
    if out.ndim == 3 and out.shape[2] == 1:
        out = out[..., 0]
    if out.shape != shape:
        raise ValueError(f"base JND map has shape {out.shape}, expected {shape} (or HxWx1)")
    if not np.all(np.isfinite(out)):
        raise ValueError("base JND map contains NaN or Inf")
    return out


def chen2019_components(
    image: np.ndarray,
    *,
    fixation: Fixation = "centre",
    base: Base = "chou_li1995",
    viewing_distance_cm: float = VIEWING_DISTANCE_CM,
    pixel_pitch_mm: float = PIXEL_PITCH_MM,
    k_upper: float = K_UPPER,
    k_lower: float = K_LOWER,
) -> dict[str, np.ndarray]:
    """Every map of the asymmetric foveated JND.

    Args:
        image: uint8 or float (0..255) grey ``HxW`` or RGB ``HxWx3`` (luma for ``bg``).
        fixation: ``"centre"`` (default), ``"saliency"`` (argmax of the spectral-residual map),
            one ``(row, col)`` or a sequence of them, in pixels.
        base: the pixel-domain JND to foveate: a registered baseline name (default
            ``"chou_li1995"``), a function ``image -> HxW[x1]`` or a precomputed map.
        viewing_distance_cm: viewing distance in centimetres.
        pixel_pitch_mm: size of one display pixel in millimetres.
        k_upper: hemi-ellipse ratio of the upper visual field (see module docstring).
        k_lower: hemi-ellipse ratio of the lower visual field.

    Returns:
        dict of float32 ``HxW`` maps: ``base`` (grey levels), ``eccentricity`` (degrees,
        hemi-ellipse), ``foveation`` (the factor, >= 1) and ``jnd`` (grey levels).

    Raises:
        ValueError: bad fixation, display parameters or base map; KeyError: unknown base name.

    Example:
        >>> from skimage import data
        >>> maps = chen2019_components(data.camera()[:64, :96], fixation=(10, 10))
        >>> float(maps["foveation"][10, 10])
        1.0
    """
    luma = as_luma(image)
    shape = luma.shape
    v = viewing_distance_pixels(viewing_distance_cm, pixel_pitch_mm)
    points = _resolve_fixations(fixation, image, shape)
    base_map = _base_map(base, image, shape)
    ecc = elliptical_eccentricity(shape, points, v, k_upper=k_upper, k_lower=k_lower)
    bg = filter2(BACKGROUND_KERNEL, luma) / 32.0
    factor = foveation_factor(ecc, bg, v)
    maps = {"base": base_map, "eccentricity": ecc, "foveation": factor, "jnd": base_map * factor}
    return {k: m.astype(np.float32) for k, m in maps.items()}


@register("chen2019", citation=CITATION)
def chen2019(image: np.ndarray) -> np.ndarray:
    """Chen & Wu 2019 asymmetric foveated JND with jndtf's defaults: fixation at the image
    centre, Chou & Li 1995 base, 24-inch 1080p monitor at 60 cm.

    Args:
        image: uint8 or float (0..255) grey ``HxW`` or RGB ``HxWx3``.

    Returns:
        float32 ``HxWx1`` JND in grey levels.

    Example:
        >>> from skimage import data
        >>> chen2019(data.chelsea()).shape
        (300, 451, 1)
    """
    return chen2019_components(image)["jnd"][..., None]
