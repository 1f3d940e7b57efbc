"""The four CAM classifiers of DMV-JND-NET (Jin et al., seed 002; issue #11) and their class
activation maps.

- :mod:`~jndtf.models.classifiers.network`: ``build_cam_classifier``, ``CAM_FEATURES``, ``HEAD``;
- :mod:`~jndtf.models.classifiers.presets`: ``PRESETS``, ``FULL_PRESETS``, ``macs_per_pixel``;
- :mod:`~jndtf.models.classifiers.activation_maps`: ``cam``, ``merged_cam`` (eq. (2)),
  ``class_activation``, ``normalize_maps`` (not in ``cam.py``: a submodule named ``cam`` would
  shadow the function ``cam`` on the package once imported).

Attributes load their module on first access (importing the package loads no Keras).
"""

from __future__ import annotations

from jndtf._lazy import lazy_exports

_EXPORTS = {
    "build_cam_classifier": "network",
    "CAM_FEATURES": "network",
    "HEAD": "network",
    "PRESETS": "presets",
    "FULL_PRESETS": "presets",
    "TINY_PRESETS": "presets",
    "SMALL_PRESETS": "presets",
    "get_preset": "presets",
    "macs_per_pixel": "presets",
    "cam": "activation_maps",
    "merged_cam": "activation_maps",
    "class_activation": "activation_maps",
    "normalize_maps": "activation_maps",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
