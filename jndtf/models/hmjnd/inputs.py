"""The 6-channel input of hmJND-Net and its visibility threshold (numpy only: runs on the edge).

Sec. 3.1 of Xie, Wang et al. (AAAI 2023): the network sees the RGB image and three homologous
modalities computed from it (prior modality acquisition, PMA): saliency, depth, segmentation.
jndtf's ``"unit"`` normalization: RGB as ``x / 255`` (0..1), then the three maps as they are,
each one channel, float in [0, 1], the image's H x W.

A map not given is computed from the image by the default provider of
:mod:`jndtf.priors.modalities` (``get_provider(kind, "classical")``), the same code in training,
evaluation and the edge runtime.

Example:
    >>> x = hmjnd_input(rgb_uint8, saliency_map=s, depth=d, segmentation=g)   # (H, W, 6)
    >>> vt = visibility_threshold(rgb_uint8, i_rr)                             # |I - I_rr|
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jndtf.io import check_image

#: Keyword of each modality map (the registry's modality names) -> provider kind.
MAP_KINDS = {"saliency_map": "saliency", "depth": "depth", "segmentation": "segmentation"}

#: Smallest image side (one 3x3 conv needs nothing more; a window is padded).
MIN_SIDE = 1


def _default_map(kind: str, rgb: np.ndarray) -> np.ndarray:
    try:
        from jndtf.priors.modalities import get_provider
    except ImportError as err:
        raise ValueError(
            f"hmJND-Net needs a {kind} map: pass it (H, W) in [0, 1], or install the modality "
            f"providers (jndtf.priors.modalities: {err})"
        ) from None
    return get_provider(kind, "classical")(rgb)


def _check_map(name: str, m, hw: tuple[int, int]) -> np.ndarray:
    a = np.asarray(m, dtype=np.float32)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.shape != hw:
        raise ValueError(
            f"the {name} map has shape {a.shape} but the image is {hw}; give one channel of "
            "the image's size (H, W)"
        )
    if not np.isfinite(a).all():
        raise ValueError(f"the {name} map must be finite and in [0, 1]; it holds NaN or Inf")
    if a.min() < 0.0 or a.max() > 1.0:
        raise ValueError(f"the {name} map must be in [0, 1], got {a.min()}..{a.max()}")
    return a


def hmjnd_input(
    image: np.ndarray,
    priors: Sequence[str] = (),
    normalization: str = "unit",
    *,
    saliency_map: np.ndarray | None = None,
    depth: np.ndarray | None = None,
    segmentation: np.ndarray | None = None,
) -> np.ndarray:
    """``(H, W, 6)`` float32: RGB / 255, then the saliency, depth and segmentation maps.

    Args:
        image: ``(H, W, 3)`` RGB, pixel values 0..255 (uint8 or float).
        priors: must be empty (hmJND-Net takes modalities, not HVS priors).
        normalization: ``"unit"`` (the only one).
        saliency_map, depth, segmentation: ``(H, W)`` or ``(H, W, 1)`` maps in [0, 1] of the
            image's size; None: computed by the classical provider of
            :mod:`jndtf.priors.modalities`.

    Raises:
        ValueError: a map of another size or outside [0, 1], priors, another normalization,
            or a missing map with no provider; each message names the map.
    """
    if tuple(priors):
        raise ValueError(f"hmJND-Net takes no prior maps, got priors={tuple(priors)}")
    if normalization != "unit":
        raise ValueError(f"hmJND-Net input normalization must be 'unit', got {normalization!r}")
    rgb = check_image(image, min_side=MIN_SIDE)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"hmJND-Net needs an RGB image (H, W, 3), got shape {rgb.shape}")
    hw = rgb.shape[:2]
    given = {"saliency_map": saliency_map, "depth": depth, "segmentation": segmentation}
    out = np.empty((*hw, 6), dtype=np.float32)
    out[..., :3] = rgb.astype(np.float32) / 255.0
    for i, (name, m) in enumerate(given.items()):
        kind = MAP_KINDS[name]
        if m is None:
            m = _default_map(kind, np.clip(rgb, 0, 255).astype(np.uint8))
        out[..., 3 + i] = _check_map(kind, m, hw)
    return out


def visibility_threshold(image: np.ndarray, redundancy_removed: np.ndarray) -> np.ndarray:
    """``|I_ori − I_rr|`` (Sec. 4.1, the I_vt of eq. (13)), float32, pixel values.

    Args:
        image: the original image I_ori, 0..255, any shape.
        redundancy_removed: hmJND-Net's output I_rr, 0..255, the same shape.

    Raises:
        ValueError: the shapes differ.
    """
    a = np.asarray(image, dtype=np.float32)
    b = np.asarray(redundancy_removed, dtype=np.float32)
    if a.shape != b.shape:
        raise ValueError(f"visibility_threshold: image {a.shape} and I_rr {b.shape} differ")
    return np.abs(a - b)


__all__ = ["MAP_KINDS", "hmjnd_input", "visibility_threshold"]
