"""Reading a photo/mask pair: sizes from the file headers, masks scaled to 0..1, the
photo-against-mask size check (overview and mask rules: :mod:`jndtf.data.saliency_pairs`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from jndtf.data.saliency_pairs.pairing import _SHOW, SaliencyPair
from jndtf.io import ImageError, load_image

#: The smallest photo side accepted (the network itself takes any size; smaller crops would
#: leave the 1/32 top feature of :func:`jndtf.models.saliency.build_poolnet` a single pixel).
MIN_PAIR_SIDE = 16


class SizeMismatchError(ValueError):
    """A photo and its mask differ in height or width (the message names both files)."""


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(height, width)`` of an image file from its header (Pillow), without decoding it;
    falls back to a full OpenCV decode where Pillow cannot read the format.

    Raises:
        ImageError: not a readable image.
    """
    path = Path(path)
    try:
        from PIL import Image

        with Image.open(path) as im:
            w, h = im.size
        return int(h), int(w)
    except Exception:  # any Pillow failure: let OpenCV decide
        data = np.fromfile(path, dtype=np.uint8) if path.is_file() else np.zeros(0, np.uint8)
        arr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
        if arr is None:
            raise ImageError(f"{path}: not a readable image") from None
        return int(arr.shape[0]), int(arr.shape[1])


def _mismatch(pair: SaliencyPair, image_hw, mask_hw) -> str:
    return (
        f"{pair.image} is {image_hw[0]}x{image_hw[1]} but its mask {pair.mask} is "
        f"{mask_hw[0]}x{mask_hw[1]} (height x width)"
    )


def check_sizes(pairs: Sequence[SaliencyPair]) -> None:
    """Checks every photo against its mask from the file headers (fast: nothing is decoded).

    Raises:
        SizeMismatchError: one or more pairs differ in size (up to 10 are named).
        ImageError: a file that is not an image.
    """
    bad = []
    for p in pairs:
        a, b = image_size(p.image), image_size(p.mask)
        if a != b:
            bad.append(_mismatch(p, a, b))
    if bad:
        more = f" ... and {len(bad) - _SHOW} more" if len(bad) > _SHOW else ""
        raise SizeMismatchError(
            f"{len(bad)} photo/mask pair(s) differ in size: " + "; ".join(bad[:_SHOW]) + more
        )


def read_mask(path: str | os.PathLike, *, threshold: float | None = None) -> np.ndarray:
    """Reads a ground-truth mask as float32 ``HxW`` in 0..1 (scaling rules: module docstring).

    Args:
        path: mask file (PNG, BMP, ...; 8 or 16 bit; grey, or RGB(A) with equal colours).
        threshold: None keeps soft values; a number in (0, 1] returns ``mask >= threshold``
            as 0.0 / 1.0.

    Returns:
        float32 ``HxW`` array in 0..1, 1 = salient.

    Raises:
        ImageError: unreadable file, or colour channels that differ (not a grey mask).
        ValueError: `threshold` outside (0, 1].

    Example:
        >>> m = read_mask("DUTS-TR-Mask/ILSVRC2012_test_00000004.png")
        >>> m.dtype, float(m.min()), float(m.max())
        (dtype('float32'), 0.0, 1.0)
    """
    if threshold is not None and not 0.0 < float(threshold) <= 1.0:
        raise ValueError(f"threshold must be in (0, 1] or None, got {threshold!r}")
    path = Path(path)
    data = np.fromfile(path, dtype=np.uint8) if path.is_file() else np.zeros(0, np.uint8)
    if data.size == 0:
        raise ImageError(
            f"{path}: no such file or empty" if not path.is_file() else f"{path}: file is empty"
        )
    arr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ImageError(f"{path}: not a readable mask image")
    if arr.ndim == 3:
        colour = arr[..., :3] if arr.shape[2] >= 3 else arr[..., :1]
        if colour.shape[2] == 3 and not (
            np.array_equal(colour[..., 0], colour[..., 1])
            and np.array_equal(colour[..., 0], colour[..., 2])
        ):
            raise ImageError(
                f"{path}: a colour mask (its channels differ); saliency masks are grey, "
                "0 = background, 255 (or 1) = salient"
            )
        arr = colour[..., 0]
    if arr.dtype == np.uint8:
        top = 1.0 if int(arr.max()) <= 1 else 255.0
    elif arr.dtype == np.uint16:
        top = 65535.0
    elif arr.dtype == np.bool_:
        top = 1.0
    else:
        raise ImageError(f"{path}: unsupported mask pixel type {arr.dtype}")
    mask = arr.astype(np.float32) / np.float32(top)
    if threshold is not None:
        mask = (mask >= np.float32(threshold)).astype(np.float32)
    return mask


def load_pair(
    pair: SaliencyPair, *, threshold: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(photo uint8 RGB HxWx3, mask float32 HxW 0..1)`` of one pair.

    Raises:
        SizeMismatchError: photo and mask differ in size.
        ImageError: an unreadable file or a photo smaller than :data:`MIN_PAIR_SIDE`.
    """
    rgb = load_image(pair.image, min_side=MIN_PAIR_SIDE)
    mask = read_mask(pair.mask, threshold=threshold)
    if rgb.shape[:2] != mask.shape:
        raise SizeMismatchError(_mismatch(pair, rgb.shape[:2], mask.shape))
    return rgb, mask


__all__ = [
    "MIN_PAIR_SIDE",
    "SizeMismatchError",
    "check_sizes",
    "image_size",
    "load_pair",
    "read_mask",
]
