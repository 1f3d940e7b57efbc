"""ACoL-JND student: a small network distilled from ACoL-JND for the edge (issue #14, point 4).

- :mod:`~jndtf.models.acol_student.network`: ``build_acol_student``;
- :mod:`~jndtf.models.acol_student.presets`: ``PRESETS``, ``macs_per_pixel``, ``layer_macs``
  (pure Python; registers ``acol_student`` in :mod:`jndtf.models.registry`).

The input is the teacher's (RGB + pattern masking, contrast masking, saliency, built by
:func:`jndtf.priors.inputs.model_input`), so the edge runtime builds it unchanged. Training:
``jndtf train acol_student --teacher acol`` (:mod:`jndtf.train.acol_student`). Attributes
load their module on first access, so importing this package loads no Keras.

Example:
    >>> from jndtf.models.acol_student import build_acol_student
    >>> model = build_acol_student()
    >>> jnd = model(x[None])                    # x = model_input(image, priors): (1, H, W, 3)
"""

from __future__ import annotations

from jndtf._lazy import lazy_exports

_EXPORTS = {
    "build_acol_student": "network",
    "PRESETS": "presets",
    "DEFAULT_PRESET": "presets",
    "get_preset": "presets",
    "layer_macs": "presets",
    "macs_per_pixel": "presets",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
