"""hmJND-Net (Xie, Wang et al., "Just Noticeable Visual Redundancy Forecasting: A Deep
Multimodal-Driven Approach", AAAI 2023): RGB + saliency, depth and segmentation maps -> the
redundancy-removed image I_rr; the visibility threshold is |I − I_rr|.

- :mod:`~jndtf.models.hmjnd.network`: ``build_hmjnd``, the layers (``SplitModalities``,
  ``ChannelAttention``, ``WindowAttention``, ``ThetaNormalization``) and the window functions
  (``window_partition``, ``window_reverse``, ``relative_position_index``, ``attention_mask``);
- :mod:`~jndtf.models.hmjnd.presets`: ``PRESETS`` (``hmjnd``, ``hmjnd_tiny``),
  ``macs_per_pixel`` (pure Python; registers the presets in :mod:`jndtf.models.registry`,
  family ``"hmjnd"``);
- :mod:`~jndtf.models.hmjnd.inputs`: ``hmjnd_input`` (numpy: RGB + three maps -> 6 channels),
  ``visibility_threshold``.

The loss, eq. (2), is :mod:`jndtf.losses.hmjnd`. Attributes load their module on first access,
so importing this package loads no Keras.

Example:
    >>> from jndtf.models.hmjnd import build_hmjnd
    >>> i_rr = build_hmjnd("hmjnd_tiny")(x)     # (N, H, W, 6) -> (N, H, W, 3), 0..255
"""

from __future__ import annotations

from jndtf._lazy import lazy_exports

_EXPORTS = {
    "build_hmjnd": "network",
    "ChannelAttention": "network",
    "SplitModalities": "network",
    "ThetaNormalization": "network",
    "WindowAttention": "network",
    "attention_mask": "network",
    "relative_position_index": "network",
    "squeeze_excitation": "network",
    "window_partition": "network",
    "window_reverse": "network",
    "PRESETS": "presets",
    "DEFAULT_PRESET": "presets",
    "get_preset": "presets",
    "macs_per_pixel": "presets",
    "hmjnd_input": "inputs",
    "visibility_threshold": "inputs",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
