"""Prior maps: the classical HVS quantities the JND networks take as extra input channels.

numpy + OpenCV (+ scipy/scikit-image) only; never TensorFlow or Keras, so the training pipeline
and the edge runtime compute identical inputs. Every prior is one function,
``prior(image) -> float32 HxW`` map, on uint8 or 0..255 float, grey ``HxW`` or RGB ``HxWx3``
(RGB is converted to luma with :func:`jndtf.io.to_luma`); ``*_rgb`` variants in
:mod:`jndtf.priors.color` return ``HxWx3`` (one map per channel).
The float64 kernels the classical baselines compose (``max_gradient_f64``,
``luminance_threshold_f64``, ``canny_f64``, ...) carry an ``_f64`` suffix in their modules: they
take an already validated luma (:func:`as_luma`) and return float64, unrounded.

Example:
    >>> from jndtf import priors
    >>> maps = priors.compute_all(image)          # dict name -> HxW float32
    >>> pm = priors.pattern_masking(image)        # one prior
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from jndtf.priors._input import as_luma
from jndtf.priors.color import (
    contrast_masking_rgb,
    luminance_adaptation_rgb,
    pattern_complexity_rgb,
    pattern_masking_rgb,
    per_channel,
)
from jndtf.priors.contrast import contrast_masking, luminance_contrast
from jndtf.priors.edges import edge_protection, edge_weight, max_gradient
from jndtf.priors.luminance import background_luminance, luminance_adaptation

# hmJND-Net's prior modality acquisition (saliency, depth, segmentation providers); importing it
# loads no scikit-image or LiteRT until a provider runs
from jndtf.priors.modalities import ModalityProvider, get_provider, modality_stack
from jndtf.priors.pattern import (
    complexity_transducer,
    orientation_codes,
    pattern_complexity,
    pattern_complexity_count,
    pattern_masking,
)
from jndtf.priors.saliency import SALIENCY_METHODS, centre_bias, saliency, spectral_residual
from jndtf.priors.texture import texture_masking

#: name -> (function of a luma/RGB image, one-line description with units). The order is the
#: order of `jndtf priors` output and of :func:`compute_all`.
PRIORS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], str]] = {
    "luminance_adaptation": (luminance_adaptation, "Wu 2017 LA = 0.7 T(bg), grey levels"),
    "luminance_contrast": (luminance_contrast, "5x5 local standard deviation Lc, grey levels"),
    "contrast_masking": (contrast_masking, "CM = 1.84 Lc^2.4 / (Lc^2 + 26^2), grey levels"),
    "pattern_complexity": (pattern_complexity, "Pc: distinct orientation codes in 3x3, ~1..9"),
    "pattern_masking": (pattern_masking, "PM = Lc * 0.3 Pc^2.7 / (Pc^2 + 1), grey levels"),
    "edge_protect": (edge_protection, "Wu 2017 edge protection, 0 (edge) .. 1"),
    "texture_masking": (texture_masking, "Yang 2005 edge-weighted texture masking, grey levels"),
    "saliency": (saliency, "spectral-residual visual attention (Hou & Zhang 2007), 0..1"),
}


def available() -> list[str]:
    """Prior names, in output order."""
    return list(PRIORS)


def describe() -> dict[str, str]:
    """name -> one-line description with units."""
    return {name: doc for name, (_, doc) in PRIORS.items()}


def check_names(names: Sequence[str]) -> None:
    """Raises KeyError naming the unknown prior(s) and listing the known ones."""
    unknown = [n for n in names if n not in PRIORS]
    if unknown:
        raise KeyError(f"unknown prior(s) {', '.join(unknown)}; available: {', '.join(PRIORS)}")


def compute_all(image: np.ndarray, names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Computes the named prior maps (default: all) of one image.

    Args:
        image: uint8 or float (0..255) grey ``HxW`` or RGB ``HxWx3``.
        names: subset of :func:`available` (in any order; output keeps the registry order).

    Returns:
        dict name -> float32 ``HxW`` map.

    Raises:
        ImageError: not an image in 0..255, or smaller than 32x32.
        KeyError: an unknown name.
    """
    wanted = list(PRIORS) if names is None else list(names)
    check_names(wanted)
    luma = as_luma(image)  # validate and convert once; the priors accept the grey map as is
    out = {}
    for name, (fn, _) in PRIORS.items():
        if name in wanted:
            out[name] = np.asarray(fn(image if name == "saliency" else luma), dtype=np.float32)
    return out


__all__ = [
    "PRIORS",
    "SALIENCY_METHODS",
    "ModalityProvider",
    "as_luma",
    "available",
    "background_luminance",
    "centre_bias",
    "check_names",
    "complexity_transducer",
    "compute_all",
    "contrast_masking",
    "contrast_masking_rgb",
    "describe",
    "edge_protection",
    "edge_weight",
    "get_provider",
    "luminance_adaptation",
    "luminance_adaptation_rgb",
    "luminance_contrast",
    "max_gradient",
    "modality_stack",
    "orientation_codes",
    "pattern_complexity",
    "pattern_complexity_count",
    "pattern_complexity_rgb",
    "pattern_masking",
    "pattern_masking_rgb",
    "per_channel",
    "saliency",
    "spectral_residual",
    "texture_masking",
]
