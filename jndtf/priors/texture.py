"""Texture (spatial) masking of Yang et al. 2005 and Chou & Li 1995.

Chou & Li, "A perceptually tuned subband image coder based on the measure of just-noticeable-
distortion profile", IEEE TCSVT 5(6), 1995; Yang et al., "Just noticeable distortion
model and its applications in video coding", Signal Process. Image Commun. 20(7), 2005::

    JNDt = Gm * (0.0001 bg + 0.115) + (0.5 - 0.01 bg)

with ``bg`` the unfloored background luminance and ``Gm`` the max directional gradient. Yang
weights ``Gm`` by an edge map (:func:`jndtf.priors.edges.edge_weight`) to protect edges; Chou &
Li use ``Gm`` as is. As in the original MATLAB (``JND_pixel.m``), the term is negative where
``bg > 50`` and the weighted gradient is small: that is the model's behaviour, kept as is.
"""

from __future__ import annotations

import numpy as np

from jndtf.priors._input import as_luma
from jndtf.priors.edges import edge_weight_f64, max_gradient_f64
from jndtf.priors.luminance import background_luminance_f64

#: Slope and offset of the gradient gain ``alpha(bg) = 0.0001 bg + 0.115``.
ALPHA_SLOPE = 0.0001
ALPHA_OFFSET = 0.115
#: ``beta(bg) = lambda - 0.01 bg`` with lambda = 1/2.
BETA_LAMBDA = 0.5
BETA_SLOPE = 0.01


def texture_masking_from(bg: np.ndarray, gm: np.ndarray) -> np.ndarray:
    """``Gm (0.0001 bg + 0.115) + 0.5 - 0.01 bg`` on given ``bg`` and ``Gm`` maps (float32)."""
    bg = np.asarray(bg, dtype=np.float64)
    gm = np.asarray(gm, dtype=np.float64)
    if bg.shape != gm.shape:
        raise ValueError(f"bg and Gm must have the same shape, got {bg.shape} and {gm.shape}")
    return texture_masking_f64(bg, gm).astype(np.float32)


def texture_masking_f64(bg: np.ndarray, gm: np.ndarray) -> np.ndarray:
    """``JNDt = Gm (0.0001 bg + 0.115) + (0.5 - 0.01 bg)`` (Chou & Li 1995; Yang 2005)
    in float64, no shape check. See :func:`texture_masking_from`."""
    return gm * (ALPHA_SLOPE * bg + ALPHA_OFFSET) + (BETA_LAMBDA - BETA_SLOPE * bg)


def texture_masking(image: np.ndarray, *, edge_weighted: bool = True) -> np.ndarray:
    """Texture masking ``JNDt`` of Yang et al. 2005 or Chou & Li 1995.

    Args:
        image: uint8 or float (0..255) grey ``HxW`` or RGB ``HxWx3`` (converted to luma).
        edge_weighted: multiply ``Gm`` by Yang's edge weight (True, Yang 2005) or not (False,
            Chou & Li 1995).

    Returns:
        float32 ``HxW`` map in grey levels (can be negative, as in the original; see module).

    Example:
        >>> t = texture_masking(np.full((32, 32), 100, np.uint8))
        >>> round(float(t[16, 16]), 6)  # Gm = 0: 0.5 - 0.01 * 100
        -0.5
    """
    luma = as_luma(image)
    gm = max_gradient_f64(luma)
    if edge_weighted:
        gm = gm * edge_weight_f64(luma)
    return texture_masking_f64(background_luminance_f64(luma, floor=False), gm).astype(np.float32)
