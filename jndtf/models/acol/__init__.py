"""ACoL-JND (Yu, Jin, Meng, Chen & Zhang, "Adversarial Complementary Learning for Just Noticeable
Difference Estimation", KSII TIIS 18(2), 2024) and its ablations BL, BL+ACoL, BL+PM+CM.

- :mod:`~jndtf.models.acol.network`: ``build_acol``, ``with_distorted_output``;
- :mod:`~jndtf.models.acol.layers`: ``ResizeLike``, ``MeanThresholdMask``, ``Erase``,
  ``JndOutput``, ``InjectJnd`` and the functions they wrap;
- :mod:`~jndtf.models.acol.loss`: ``ACoLJNDLoss``, ``acol_loss`` (eq. (6), the training loss);
- :mod:`~jndtf.models.acol.qat_describe`, :mod:`~jndtf.models.acol.qat_rebuild`: the QAT
  export hooks (the network as data, its ``tf_keras`` twin);
- :mod:`~jndtf.models.acol.presets`: ``PRESETS`` (``acol``, ``bl``, ``bl_acol``, ``bl_pmcm``),
  ``WIDTHS``, ``macs_per_pixel`` (pure Python; registers the presets in
  :mod:`jndtf.models.registry`).

The network input comes from :func:`jndtf.models.inputs.acol_input` (numpy). Attributes load
their module on first access, so importing this package loads no Keras.

Example:
    >>> from jndtf.models.acol import build_acol
    >>> model = build_acol("acol", width="tiny")
    >>> jnd = model(x[None])                     # x = acol_input(image): (1, H, W, 3), 0..255
"""

from __future__ import annotations

from jndtf._lazy import lazy_exports

_EXPORTS = {
    "build_acol": "network",
    "with_distorted_output": "network",
    "ResizeLike": "layers",
    "MeanThresholdMask": "layers",
    "Erase": "layers",
    "JndOutput": "layers",
    "InjectJnd": "layers",
    "resize_like": "layers",
    "mean_threshold_mask": "layers",
    "erase": "layers",
    "jnd_output": "layers",
    "ACoLJNDLoss": "loss",
    "acol_loss": "loss",
    "PRESETS": "presets",
    "DEFAULT_PRESET": "presets",
    "WIDTHS": "presets",
    "get_preset": "presets",
    "macs_per_pixel": "presets",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
