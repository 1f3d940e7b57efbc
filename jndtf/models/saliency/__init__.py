"""Salient-object detection for the visual-attention prior f_va of ACoL-JND (its ref. [33]):
a compact PoolNet (Liu, Hou, Cheng, Feng & Jiang, "A Simple Pooling-Based Design for Real-Time
Salient Object Detection", CVPR 2019) that jndtf trains from scratch.

- :mod:`~jndtf.models.saliency.network`: ``build_poolnet``, ``logits_model``;
- :mod:`~jndtf.models.saliency.presets`: ``PRESETS`` (``poolnet_tiny``, ``poolnet_small``),
  ``macs_per_pixel`` (pure Python; registers the presets in :mod:`jndtf.models.registry`,
  family ``"saliency"``).

Training: :func:`jndtf.train.saliency.train_saliency`; data: :mod:`jndtf.data.saliency_pairs`;
the numpy-facing prior: :class:`jndtf.models.saliency_prior.SaliencyPrior`. Attributes load
their module on first access, so importing this package loads no Keras.

Example:
    >>> from jndtf.models.saliency import build_poolnet
    >>> model = build_poolnet("poolnet_tiny")
    >>> s = model(x)                     # x: (1, H, W, 3) RGB 0..1 -> (1, H, W, 1) 0..1
"""

from __future__ import annotations

from jndtf._lazy import lazy_exports

_EXPORTS = {
    "build_poolnet": "network",
    "logits_model": "network",
    "LOGITS_LAYER": "network",
    "OUTPUT_LAYER": "network",
    "PRESETS": "presets",
    "DEFAULT_PRESET": "presets",
    "get_preset": "presets",
    "macs_per_pixel": "presets",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
