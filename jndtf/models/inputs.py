"""Moved to :mod:`jndtf.priors.inputs` (core: the numpy input builder shared by training,
evaluation and the edge runtime); this module re-exports it for older imports and keeps
ACoL-JND's default priors (:data:`ACOL_PRIORS`, :func:`acol_input`), which are the family's, not
the core's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jndtf.priors.inputs import (  # noqa: F401  re-export
    LC_MAX,
    NORMALIZATIONS,
    PC_MAX,
    PRIOR_FULL_SCALE,
    PRIOR_MARGIN,
    _check_request,
    model_input,
    normalization_info,
)

#: Priors of ACoL-JND (eq. (1), §3.2), in channel order 3, 4, 5.
ACOL_PRIORS = ("pattern_masking", "contrast_masking", "saliency")


def acol_input(
    image: np.ndarray,
    priors: Sequence[str] = ACOL_PRIORS,
    *,
    normalization: str = "unit",
) -> np.ndarray:
    """The 6-channel ACoL-JND input ``[R, G, B, f_pm, f_cm, f_va]`` (eq. (1)), 0..1 float32.

    :func:`model_input` with ACoL-JND's priors as default; the ablations pass theirs (``bl``:
    ``("pattern_complexity", "saliency")``).

    Example:
        >>> img = np.zeros((40, 40, 3), np.uint8)
        >>> acol_input(img).shape
        (40, 40, 6)
    """
    return model_input(image, priors, normalization=normalization)


__all__ = [
    "ACOL_PRIORS",
    "NORMALIZATIONS",
    "PRIOR_FULL_SCALE",
    "PRIOR_MARGIN",
    "acol_input",
    "model_input",
    "normalization_info",
]
