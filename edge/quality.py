"""Per-frame picture quality of the edge stream: PSNR and MS-SSIM in numpy + OpenCV, no TensorFlow.

The computations live in the core, :mod:`jndtf.metrics` (the one PSNR of jndtf); the edge
runtime imports core, so this module only re-exports them under the names the stream, its
tests and users already import. See :mod:`jndtf.metrics` for the conventions and costs.

Example:
    >>> from jndtf.edge.quality import ms_ssim, psnr
    >>> psnr(frame, decoded), ms_ssim(frame, decoded)
    (38.2, 0.987)
"""

from __future__ import annotations

from jndtf.metrics import (
    MS_SSIM_MIN_SIDE,
    MS_SSIM_WEIGHTS,
    RGB2GRAY_MATLAB,
    SIGMA,
    WINDOW,
    ms_ssim,
    mse,
    psnr,
)

__all__ = [
    "MS_SSIM_MIN_SIDE",
    "MS_SSIM_WEIGHTS",
    "RGB2GRAY_MATLAB",
    "SIGMA",
    "WINDOW",
    "ms_ssim",
    "mse",
    "psnr",
]
