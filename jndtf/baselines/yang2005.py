"""Yang et al. 2005: the NAMM pixel-domain JND model.

X. Yang, W. Lin, Z. Lu, E. Ong, S. Yao, "Just noticeable distortion model and its applications
in video coding", Signal Processing: Image Communication 20(7):662-680, 2005 (and IEEE TCSVT
15(6), 2005). Follows the author's MATLAB ``JND_pixel.m`` in its ``'Yang'`` mode::

    bg   = filter2(B, I) / 32                             (zero padding, not floored)
    JNDl = 17 (1 - sqrt(bg / 127)) + 3  if bg <= 127, else 3/128 (bg - 127) + 3
    Gm   = max_k |G_k * I| / 16 * W                       (W: edge weight, jndtf.priors.edges)
    JNDt = Gm (0.0001 bg + 0.115) + 0.5 - 0.01 bg
    JND  = JNDl + JNDt - 0.3 min(JNDl, JNDt)              (NAMM)

The MATLAB downsampling branch for large images is left out, as the released code comments it
out (it allocated its outputs at full size). The texture term is negative where ``bg > 50`` and
the weighted gradient is small, which pulls the JND below the luminance term: the original's
behaviour, kept.
"""

from __future__ import annotations

import numpy as np

from jndtf.baselines._registry import register
from jndtf.baselines.wu2017 import namm
from jndtf.priors._input import as_luma
from jndtf.priors.edges import edge_weight_f64, max_gradient_f64
from jndtf.priors.luminance import background_luminance_f64, luminance_threshold_f64
from jndtf.priors.texture import texture_masking_f64


def yang2005_components(image: np.ndarray) -> dict[str, np.ndarray]:
    """Every intermediate map of Yang 2005, keyed as in ``../shared/data/jnd-reference``.

    Args:
        image: uint8 or float (0..255) grey ``HxW`` or RGB ``HxWx3`` (converted to luma).

    Returns:
        dict of float32 ``HxW`` maps: ``background_luminance``, ``luminance_adaptation``,
        ``max_gradient``, ``edge_weight``, ``max_gradient_edge_weighted``, ``texture_masking``
        and ``jnd`` (grey levels).

    Example:
        >>> parts = yang2005_components(np.full((32, 32), 127, np.uint8))
        >>> round(float(parts["jnd"][16, 16]), 4)  # JNDl = 3, JNDt = 0.5 - 1.27 = -0.77
        2.461
    """
    luma = as_luma(image)
    bg = background_luminance_f64(luma, floor=False)
    la = luminance_threshold_f64(bg)
    gm = max_gradient_f64(luma)
    weight = edge_weight_f64(luma)
    gm_w = gm * weight
    tm = texture_masking_f64(bg, gm_w)
    parts = {
        "background_luminance": bg,
        "luminance_adaptation": la,
        "max_gradient": gm,
        "edge_weight": weight,
        "max_gradient_edge_weighted": gm_w,
        "texture_masking": tm,
        "jnd": namm(la, tm),
    }
    return {k: v.astype(np.float32) for k, v in parts.items()}


@register(
    "yang2005",
    citation=(
        "Yang et al., Just noticeable distortion model and its applications in video coding, "
        "Signal Process. Image Commun. 20(7), 2005"
    ),
)
def yang2005(image: np.ndarray) -> np.ndarray:
    """Yang 2005 NAMM JND map (see the module docstring for the equations).

    Args:
        image: uint8 or float (0..255) grey ``HxW`` or RGB ``HxWx3`` (converted to luma).

    Returns:
        float32 ``HxWx1`` JND map in 0..255 pixel units (a luma map, broadcast to RGB).
    """
    return yang2005_components(image)["jnd"][..., None]
