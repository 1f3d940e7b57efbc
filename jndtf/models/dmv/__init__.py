"""DMV-JND-NET (Jin et al., "Just Noticeable Difference for Deep Machine Vision", TCSVT 2022):
the E-D network that turns an image and its merged CAM map into a machine-vision JND e.

- :mod:`~jndtf.models.dmv.network`: ``build_dmv_net``, ``CropToInput``, ``perturb`` (eq. (4));
- :mod:`~jndtf.models.dmv.presets`: ``PRESETS`` (``dmv``, ``dmv_tiny``), ``macs_per_pixel``
  (pure Python; registers the presets in :mod:`jndtf.models.registry`, family ``"dmv"``);
- :mod:`~jndtf.models.dmv.inputs`: ``dmv_input`` (numpy: RGB + CAM -> the 4-channel input).

The losses, eqs. (7)-(15), are in :mod:`jndtf.losses.dmv`. Attributes load their module on first
access, so importing this package loads no Keras.

Example:
    >>> from jndtf.models.dmv import build_dmv_net
    >>> e = build_dmv_net("dmv_tiny")(x)        # (N, H, W, 4) -> (N, H, W, 3), signed pixels
"""

from __future__ import annotations

from jndtf._lazy import lazy_exports

_EXPORTS = {
    "build_dmv_net": "network",
    "CropToInput": "network",
    "perturb": "network",
    "PIXELS_PER_UNIT": "network",
    "PRESETS": "presets",
    "DEFAULT_PRESET": "presets",
    "get_preset": "presets",
    "macs_per_pixel": "presets",
    "dmv_input": "inputs",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
