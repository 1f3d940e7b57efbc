"""The 4-channel input of DMV-JND-NET's E-D from an RGB image and its merged CAM map (numpy only).

Sec. IV-A of Jin et al. (TCSVT 2022): the merged CAM map c (eq. (2), the mean of the four
classifiers' CAMs, values in [0, 1]) is *stacked* with the image x and fed to the E-D. jndtf's
``"unit"`` normalization: RGB as ``x / 255`` (0..1), then c as it is (0..1). The paper normalizes
the image with mean 0.5, std 0.5 to [-1, 1]; the first conv's batch norm makes the two
equivalent up to an affine change of its weights.

The CAM comes from the classifiers (``jndtf.models.classifiers.cam.merged_cam``), which need
Keras: this builder takes it as an array, so it runs on the edge too.

Example:
    >>> x = dmv_input(rgb_uint8, (), cam=c)          # (H, W, 4) float32
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jndtf.io import check_image

#: Smallest image side: one pixel per encoder level after the three 2x2 max pools of `dmv`.
MIN_SIDE = 8


def dmv_input(
    image: np.ndarray,
    priors: Sequence[str] = (),
    normalization: str = "unit",
    *,
    cam: np.ndarray | None = None,
) -> np.ndarray:
    """``(H, W, 4)`` float32: RGB / 255 stacked with the merged CAM map c.

    Args:
        image: ``(H, W, 3)`` RGB, pixel values 0..255 (uint8 or float).
        priors: must be empty (DMV-JND-NET uses no HVS priors; the registry passes the spec's).
        normalization: ``"unit"`` (the only one).
        cam: merged CAM map c, ``(H, W)`` or ``(H, W, 1)``, values in [0, 1], the image's size.

    Raises:
        ValueError: no CAM, a CAM of another size or outside [0, 1], priors or another
            normalization; each message says what to give instead.
    """
    if tuple(priors):
        raise ValueError(f"DMV-JND-NET takes no prior maps, got priors={tuple(priors)}")
    if normalization != "unit":
        raise ValueError(f"DMV-JND-NET input normalization must be 'unit', got {normalization!r}")
    rgb = check_image(image, min_side=MIN_SIDE)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"DMV-JND-NET needs an RGB image (H, W, 3), got shape {rgb.shape}")
    if cam is None:
        raise ValueError(
            "DMV-JND-NET needs the merged CAM map of the image: pass cam=c (H, W) in [0, 1], "
            "e.g. from jndtf.models.classifiers.cam.merged_cam(classifiers, x, class)"
        )
    c = np.asarray(cam, dtype=np.float32)
    if c.ndim == 3 and c.shape[2] == 1:
        c = c[..., 0]
    if c.shape != rgb.shape[:2]:
        raise ValueError(
            f"the CAM map has shape {c.shape} but the image is {rgb.shape[:2]}; "
            "upsample the CAM to the image size (H, W)"
        )
    if not np.isfinite(c).all() or c.min() < 0.0 or c.max() > 1.0:
        raise ValueError(
            f"CAM values must be finite and in [0, 1] (normalized CAM), got "
            f"{np.nanmin(c)}..{np.nanmax(c)}"
        )
    out = np.empty((*rgb.shape[:2], 4), dtype=np.float32)
    out[..., :3] = rgb.astype(np.float32) / 255.0
    out[..., 3] = c
    return out


__all__ = ["dmv_input"]
