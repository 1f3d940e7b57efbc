"""A-IQA (Jin et al. 2022): a distortion-group classifier and the adaptive IQA loss it routes.

- :mod:`~jndtf.models.aiqa.network`: ``build_classifier``, ``DistortionFeatures``;
- :mod:`~jndtf.models.aiqa.presets`: ``PRESETS``;
- :mod:`~jndtf.models.aiqa.loss`: ``AIQALoss``, ``aiqa_loss``, ``load_classifier``,
  ``DEFAULT_GROUP_METRICS``.

Train the classifier with :func:`jndtf.train.aiqa.train_aiqa` (``jndtf train aiqa --data DIR``).
Attributes load their module on first access.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "build_classifier": "network",
    "DistortionFeatures": "network",
    "PRESETS": "presets",
    "DEFAULT_PRESET": "presets",
    "get_preset": "presets",
    "AIQALoss": "loss",
    "aiqa_loss": "loss",
    "load_classifier": "loss",
    "default_classifier_path": "loss",
    "DEFAULT_GROUP_METRICS": "loss",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'jndtf.models.aiqa' has no attribute {name!r}")
    return getattr(importlib.import_module(f"jndtf.models.aiqa.{module}"), name)


def __dir__():
    return __all__
