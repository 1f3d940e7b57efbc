"""Chou & Li 1995: the first pixel-domain JND profile (luminance vs texture, maximum).

C.-H. Chou, Y.-C. Li, "A perceptually tuned subband image coder based on the measure of
just-noticeable-distortion profile", IEEE TCSVT 5(6):467-476, 1995::

    bg = filter2(B, I) / 32                 (zero padding, not floored)
    mg = max_k |G_k * I| / 16               (four 5x5 directional kernels, no edge weight)
    f1 = mg (0.0001 bg + 0.115) + 0.5 - 0.01 bg                       spatial masking
    f2 = 17 (1 - sqrt(bg / 127)) + 3 if bg <= 127, else 3/128 (bg - 127) + 3   luminance
    JND = max(f1, f2)

What jndtf follows: the paper's formulas, with the terms computed exactly as Yang's MATLAB
``JND_pixel.m`` computes them in its ``'Chou'`` mode (same ``bg``, unweighted ``Gm``, MATLAB zero
padding). That file combines them with the NAMM; Chou & Li take the maximum, and so does jndtf.
"""

from __future__ import annotations

import numpy as np

from jndtf.baselines._registry import register
from jndtf.priors._input import as_luma
from jndtf.priors.edges import max_gradient_f64
from jndtf.priors.luminance import background_luminance_f64, luminance_threshold_f64
from jndtf.priors.texture import texture_masking_f64


@register(
    "chou_li1995",
    citation=(
        "Chou & Li, A perceptually tuned subband image coder based on the measure of "
        "just-noticeable-distortion profile, IEEE TCSVT 5(6), 1995"
    ),
)
def chou_li1995(image: np.ndarray) -> np.ndarray:
    """Chou & Li 1995 JND map ``max(f1(bg, mg), f2(bg))`` (see the module docstring).

    Args:
        image: uint8 or float (0..255) grey ``HxW`` or RGB ``HxWx3`` (converted to luma).

    Returns:
        float32 ``HxWx1`` JND map in 0..255 pixel units (a luma map, broadcast to RGB).

    Example:
        >>> jnd = chou_li1995(np.full((32, 32), 127, np.uint8))
        >>> round(float(jnd[16, 16, 0]), 4)  # f2(127) = 3 beats f1 = 0.5 - 1.27
        3.0
    """
    luma = as_luma(image)
    bg = background_luminance_f64(luma, floor=False)
    jnd = np.maximum(texture_masking_f64(bg, max_gradient_f64(luma)), luminance_threshold_f64(bg))
    return jnd.astype(np.float32)[..., None]
