"""Input handling shared by every prior: one place that says what a prior accepts."""

from __future__ import annotations

import numpy as np

from jndtf.io import MIN_SIDE, ImageError, check_image, to_luma


def as_luma(image: np.ndarray, *, min_side: int = MIN_SIDE) -> np.ndarray:
    """Any accepted image -> float64 luma ``HxW`` in 0..255 (the classical models' working type).

    Accepts uint8 or float (0..255) arrays shaped ``HxW`` (already grey, used as is),
    ``HxWx1`` or ``HxWx3`` (RGB, converted with :func:`jndtf.io.to_luma`).

    Raises:
        ImageError: bad shape, values outside 0..255, NaN, or a side shorter than `min_side`.
    """
    arr = np.asarray(image)
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 1):
        grey = arr.reshape(arr.shape[0], arr.shape[1])
        check_image(grey, min_side=min_side)  # validates range, NaN and size
        return grey.astype(np.float64)
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        rgb = check_image(arr, min_side=min_side)
        return to_luma(rgb).astype(np.float64)
    raise ImageError(f"expected a grey HxW or RGB HxWx3 image, got shape {arr.shape}")
