"""Wu et al. 2017: the pattern-complexity JND model (ref. [20] of the ACoL-JND paper).

J. Wu, L. Li, W. Dong, G. Shi, W. Lin, C.-C. J. Kuo, "Enhanced just noticeable difference model
for images with pattern complexity", IEEE Trans. Image Processing 26(6):2682-2693, 2017.

Follows the authors' MATLAB code (``func_JND_modeling_pattern_complexity.m``; read, not copied:
research-only licence) rather than the Python ports: zero padding in every ``filter2``/
``imfilter``, MATLAB rounding, ``strel('disk', 3)`` and MATLAB's Canny with thresholds relative
to the largest gradient (see :mod:`jndtf.priors.edges`, :mod:`jndtf.priors.pattern`)::

    LA = 0.7 T(bg)                                   luminance adaptation
    CM = 1.84 Lc^2.4 / (Lc^2 + 26^2)                 contrast masking
    PM = Lc * 0.3 Pc^2.7 / (Pc^2 + 1)                pattern masking
    VM = max(CM, PM * EP)                            visual masking with edge protection
    JND = LA + VM - 0.3 min(LA, VM)                  NAMM combination
"""

from __future__ import annotations

import numpy as np

from jndtf.baselines._registry import register
from jndtf.priors._input import as_luma
from jndtf.priors.contrast import contrast_masking_transducer_f64, luminance_contrast_f64
from jndtf.priors.edges import (
    CANNY_SIGMA,
    canny_f64,
    dilate,
    edge_height_f64,
    edge_threshold,
    strel_disk,
)
from jndtf.priors.luminance import filter2, fspecial_gaussian, luminance_adaptation_f64
from jndtf.priors.pattern import (
    complexity_transducer_f64,
    pattern_complexity_count_f64,
    smooth_complexity_count_f64,
)

#: NAMM overlap coefficient between luminance adaptation and visual masking.
NAMM_OVERLAP = 0.3

#: The keys of :func:`wu2017_components`, in computation order (the reference .npz keys).
COMPONENT_KEYS = (
    "luminance_adaptation",
    "luminance_contrast",
    "contrast_masking",
    "pattern_complexity_count",
    "pattern_complexity",
    "complexity_transducer",
    "pattern_masking",
    "edge_height",
    "edge_threshold",
    "edge_protect",
    "pattern_masking_protected",
    "visual_masking",
    "jnd",
)


def namm(a: np.ndarray, b: np.ndarray, overlap: float = NAMM_OVERLAP) -> np.ndarray:
    """Nonlinear additivity model for masking: ``a + b - overlap * min(a, b)`` (Yang 2005)."""
    return a + b - overlap * np.minimum(a, b)


def _wu2017(luma: np.ndarray, edge_protect: np.ndarray | None) -> dict[str, np.ndarray]:
    """All maps of the model in float64 (the working type; cast once by the callers)."""
    la = luminance_adaptation_f64(luma, "wu2017", None)
    lc = luminance_contrast_f64(luma)
    cm = contrast_masking_transducer_f64(lc)
    count = pattern_complexity_count_f64(luma)
    pc = smooth_complexity_count_f64(count)
    ct = complexity_transducer_f64(pc)
    pm = lc * ct
    out: dict[str, np.ndarray] = {}
    if edge_protect is None:
        eh = edge_height_f64(luma)
        t = edge_threshold(eh)
        edges = dilate(canny_f64(luma, t, None, CANNY_SIGMA), strel_disk(3))
        ep = filter2(fspecial_gaussian(5, 0.8), 1.0 - edges)
        out["edge_height"] = eh
        out["edge_threshold"] = np.asarray(t)
    else:
        ep = np.asarray(edge_protect, dtype=np.float64)
        if ep.shape != luma.shape:
            raise ValueError(f"edge_protect has shape {ep.shape}, the image {luma.shape}")
    pm_p = pm * ep
    vm = np.maximum(cm, pm_p)
    out.update(
        luminance_adaptation=la,
        luminance_contrast=lc,
        contrast_masking=cm,
        pattern_complexity_count=count,
        pattern_complexity=pc,
        complexity_transducer=ct,
        pattern_masking=pm,
        edge_protect=ep,
        pattern_masking_protected=pm_p,
        visual_masking=vm,
        jnd=namm(la, vm),
    )
    return out


def wu2017_components(
    image: np.ndarray, *, edge_protect: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Every intermediate map of Wu 2017, keyed as in ``../shared/data/jnd-reference``.

    Args:
        image: uint8 or float (0..255) grey ``HxW`` or RGB ``HxWx3`` (converted to luma).
        edge_protect: an ``HxW`` edge-protection map to use instead of jndtf's own (e.g. a
            reference port's, to compare everything else); the edge maps are then not computed
            and ``edge_height``/``edge_threshold`` are left out.

    Returns:
        dict of float32 ``HxW`` maps (``edge_threshold`` a 0-d float32 array) with the keys of
        :data:`COMPONENT_KEYS`; ``jnd`` is the final map in grey levels.

    Raises:
        ImageError: not an image in 0..255, or smaller than 32x32.
        ValueError: `edge_protect` of the wrong shape.

    Example:
        >>> parts = wu2017_components(np.full((32, 32), 127, np.uint8))
        >>> round(float(parts["jnd"][16, 16]), 4)  # flat: LA only, 0.7 * 3
        2.1
    """
    out = _wu2017(as_luma(image), edge_protect)
    return {k: np.asarray(out[k], dtype=np.float32) for k in COMPONENT_KEYS if k in out}


@register(
    "wu2017",
    citation=(
        "Wu et al., Enhanced just noticeable difference model for images with pattern "
        "complexity, IEEE TIP 26(6), 2017"
    ),
)
def wu2017(image: np.ndarray) -> np.ndarray:
    """Wu 2017 pattern-complexity JND map (see the module docstring for the equations).

    Args:
        image: uint8 or float (0..255) grey ``HxW`` or RGB ``HxWx3`` (converted to luma).

    Returns:
        float32 ``HxWx1`` JND map in 0..255 pixel units (a luma map, broadcast to RGB).

    Example:
        >>> from skimage.data import astronaut
        >>> wu2017(astronaut()).shape
        (512, 512, 1)
    """
    return _wu2017(as_luma(image), None)["jnd"].astype(np.float32)[..., None]
