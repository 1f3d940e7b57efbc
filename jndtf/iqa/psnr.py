"""PSNR, peak signal-to-noise ratio in decibels.

Conventions: computed over all the channels given (RGB stays RGB, as in the golden TID2013
table, which is PSNR over the 8-bit RGB channels), one mean squared error per image over
H x W x C, peak = `data_range`. No colour conversion, no rounding.
"""

from __future__ import annotations

from keras import ops

from jndtf.iqa._ops import check_pair

#: The MSE is bounded below by this fraction of data_range^2, so PSNR <= 100 dB.
MSE_FLOOR = 1e-10


def mse(x, y):
    """Mean squared error per image over H, W and C: (N,), in (input units)^2."""
    x, y = check_pair(x, y, name="mse")
    return ops.mean(ops.square(x - y), axis=(1, 2, 3))


def psnr(x, y, data_range: float = 255.0):
    """PSNR per image: 10 log10(L^2 / MSE), L = `data_range` (e.g. Wang & Bovik, IEEE SPM 2009).

    The MSE is taken over all pixels and channels of each image and bounded below by
    1e-10 L^2, so identical images give 100 dB (not inf) and the gradient stays finite.

    Args:
        x: reference, NHWC, any number of channels, values in 0..`data_range`.
        y: distorted image, same shape.
        data_range: L, the peak value (255 for 8-bit images, 1 for [0, 1] floats).

    Returns:
        float32 (N,), decibels, higher is better.

    Raises:
        ValueError: rank or shape mismatch, non-positive data_range.

    Example:
        >>> from jndtf.iqa.psnr import psnr
        >>> db = psnr(ref_uint8, dist_uint8)    # (N,) dB over RGB
        >>> db1 = psnr(ref / 255.0, dist / 255.0, data_range=1.0)  # the same numbers
    """
    if not data_range > 0:
        raise ValueError(f"data_range must be > 0, got {data_range}")
    x, y = check_pair(x, y, name="psnr")
    peak2 = float(data_range) ** 2
    err = ops.maximum(ops.mean(ops.square(x - y), axis=(1, 2, 3)), MSE_FLOOR * peak2)
    return 10.0 * ops.log10(peak2 / err)


__all__ = ["MSE_FLOOR", "mse", "psnr"]
