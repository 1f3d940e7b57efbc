"""A-IQA (Jin et al. 2022): a distortion-group classifier and the adaptive IQA loss it routes.

- :mod:`~jndtf.models.aiqa.network`: ``build_classifier``, ``DistortionFeatures``;
- :mod:`~jndtf.models.aiqa.presets`: ``PRESETS``;
- :mod:`~jndtf.models.aiqa.loss`: ``AIQALoss``, ``aiqa_loss``, ``load_classifier``,
  ``DEFAULT_GROUP_METRICS``.

Train the classifier with :func:`jndtf.train.aiqa.train_aiqa` (``jndtf train aiqa --data DIR``).
Attributes load their module on first access.
"""

from __future__ import annotations

from jndtf._lazy import lazy_exports

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

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
