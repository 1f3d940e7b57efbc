"""eq. (14) of hmJND-Net at frame rate: JND-guided pre-processing before the encoder, float32.

The same operation as :func:`jndtf.apply.preprocess_jpeg` (the reference, float64 numpy), written
for a 30 fps stream on a small CPU: with ``m`` the mean of the pixel's 8x8 block and ``J`` its JND,
eq. (14) of Xie et al. (AAAI 2023) reads

    out = m       if |x - m| <= J
          x + J   if x - m < -J
          x - J   otherwise

which is ``out = x - clip(x - m, -J, J)``: one subtraction, one clip. Here the block means come
from OpenCV's area resize (exact block averages when the frame is a multiple of the block; a
partial edge block falls back to the reference's means), the arithmetic is float32 on the change
``c = out - x``, and uint8 output is ``x + clip(round(c), -floor(J), floor(J))`` with uint8
saturation (0..255): the nearest integer within ``floor(J)`` of the input, as in the reference.
It agrees with :func:`jndtf.apply.preprocess_jpeg` to within one grey level (float32 against
float64 arithmetic; in luma mode also the rare exact .5 tie, where ``round(x + c)`` and
``x + round(c)`` differ) and keeps its guarantee: no pixel moves by more than its JND.

``channels="luma"`` (default, what JPEG and H.264 code as Y) applies eq. (14) to the BT.601 luma
and adds the change of Y to R, G and B, so the encoder's chroma is untouched; ``"rgb"`` applies it
to each channel with its own block means.

Cost at 640x360 (noisy shared 2-core machine): ~3 ms luma, 10-25 ms RGB, against ~30/50 ms for the
reference.

Example:
    >>> out = preprocess_frame(frame, jnd)           # uint8 RGB, JND HxWx1 in grey levels
    >>> np.all(np.abs(out.astype(int) - frame) <= np.floor(jnd))
    True
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from jndtf.apply.preprocess import LUMA_WEIGHTS, block_means

_LUMA = np.asarray([LUMA_WEIGHTS], dtype=np.float32)


def _block_means(x: np.ndarray, block: int) -> np.ndarray:
    """Block means spread over each block (float32, same shape as `x`)."""
    h, w = x.shape[:2]
    if h % block or w % block:
        return block_means(x, block).astype(np.float32)  # partial edge blocks: the reference
    small = cv2.resize(x, (w // block, h // block), interpolation=cv2.INTER_AREA)
    big = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    return big.reshape(x.shape)


def preprocess_frame(
    frame: np.ndarray,
    jnd: np.ndarray,
    *,
    block: int = 8,
    channels: Literal["rgb", "luma"] = "luma",
) -> np.ndarray:
    """eq. (14) of hmJND-Net on one uint8 RGB frame (fast path of ``preprocess_jpeg``).

    Args:
        frame: uint8 RGB ``HxWx3``.
        jnd: JND map in 0..255 grey levels, float ``HxW``/``HxWx1`` (``"rgb"`` also takes
            ``HxWx3``), finite and >= 0 (the runtime's output; not re-validated per frame
            beyond its shape).
        block: block side in pixels (8: JPEG's DCT block).
        channels: ``"luma"`` or ``"rgb"`` (see the module docstring).

    Returns:
        uint8 RGB ``HxWx3``, each value within ``floor(J)`` of the input.

    Raises:
        ValueError: frame or JND shape/dtype that does not fit.
    """
    x = np.asarray(frame)
    if x.dtype != np.uint8 or x.ndim != 3 or x.shape[2] != 3:
        raise ValueError(f"preprocess_frame takes a uint8 RGB HxWx3 frame, got {x.dtype} {x.shape}")
    if channels not in ("luma", "rgb"):
        raise ValueError(f"channels must be 'luma' or 'rgb', got {channels!r}")
    if not isinstance(block, (int, np.integer)) or block < 1:
        raise ValueError(f"block must be a positive integer, got {block!r}")
    h, w = x.shape[:2]
    j = np.asarray(jnd, dtype=np.float32)
    if j.ndim == 3 and j.shape[2] == 1:
        j = j[..., 0]
    allowed = ((h, w),) if channels == "luma" else ((h, w), (h, w, 3))
    if j.shape not in allowed:
        raise ValueError(
            f"JND map of shape {np.shape(jnd)} does not fit the {h}x{w} frame "
            f"({'HxW or HxWx1' if channels == 'luma' else 'HxW, HxWx1 or HxWx3'} expected)"
        )
    xf = x.astype(np.float32)
    if channels == "luma":
        d = cv2.transform(xf, _LUMA)
        d -= _block_means(d, block)
    else:
        j = j if j.ndim == 3 else np.repeat(j[..., None], 3, axis=2)
        d = xf - _block_means(xf, block)
    # x is an integer, so round(x + c) = x + round(c): the change is rounded and bounded by
    # floor(J) on the map itself (HxW for luma), then added with uint8 saturation (clip 0..255).
    bound = np.floor(j + np.float32(1e-6))
    change = np.minimum(np.maximum(-d, -j, out=d), j, out=d)
    if channels == "rgb":  # means of 64 integers often end in .5: round x + c, as the reference
        change = np.rint(change + xf) - xf
    change = np.rint(change, out=change)
    change = np.minimum(np.maximum(change, -bound, out=change), bound, out=change)
    up = np.maximum(change, 0).astype(np.uint8)
    down = np.maximum(-change, 0).astype(np.uint8)
    if channels == "luma":
        up, down = cv2.merge([up, up, up]), cv2.merge([down, down, down])
    return cv2.subtract(cv2.add(x, up), down)


__all__ = ["preprocess_frame"]
