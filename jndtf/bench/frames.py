"""The frames a benchmark runs on, and the priors' time on them.

A frame is a real photo at the benchmarked size (:func:`frame_from_photo`: centre-cropped to the
aspect ratio, then resized), by default the bundled ``motorcycle_left`` photo (741x500, a
landscape scene with fine texture). The priors, :func:`jndtf.priors.inputs.model_input`, are
what the edge runtime computes in numpy/OpenCV for every frame before the network runs, so their
time is measured on the same frame (:func:`time_priors`).

Example:
    >>> frame = frame_from_photo(benchmark_photo(), (360, 640))
    >>> stats, x = time_priors(frame, model_source("acol"), runs=20, warmup=3, threads=2)
    >>> stats["median_ms"], x.shape                  # (..., (1, 360, 640, 6))
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from jndtf.bench.report import latency_stats
from jndtf.bench.runners import time_calls
from jndtf.bench.source import ModelSource

#: The bundled photo the frames are made from (landscape, 741x500).
DEFAULT_PHOTO = "motorcycle_left"


def frame_from_photo(photo: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`photo` centre-cropped to the aspect ratio of `size` = (H, W) and resized to it (area
    interpolation when shrinking, bilinear when enlarging): a real picture of that size."""
    import cv2

    h, w = int(size[0]), int(size[1])
    ph, pw = photo.shape[:2]
    if pw * h > ph * w:  # too wide: crop the width
        cw, ch = max(1, round(ph * w / h)), ph
    else:
        cw, ch = pw, max(1, round(pw * h / w))
    y0, x0 = (ph - ch) // 2, (pw - cw) // 2
    crop = photo[y0 : y0 + ch, x0 : x0 + cw]
    interp = cv2.INTER_AREA if ch >= h else cv2.INTER_LINEAR
    return np.ascontiguousarray(cv2.resize(crop, (w, h), interpolation=interp))


def benchmark_photo(image: str | os.PathLike | None = None) -> np.ndarray:
    """The photo the frames are cut from: `image` (any format :func:`jndtf.io.load_image`
    reads) or, when None, the bundled :data:`DEFAULT_PHOTO`, as uint8 RGB ``HxWx3``."""
    if image is not None:
        from jndtf.io import load_image

        return load_image(image)
    from jndtf.samples import sample_image

    return sample_image(DEFAULT_PHOTO)


def time_priors(
    frame: np.ndarray, source: ModelSource, *, runs: int, warmup: int, threads: int | None = None
) -> tuple[dict, np.ndarray]:
    """Latency statistics of :func:`jndtf.priors.inputs.model_input` on `frame` (numpy, plus
    OpenCV limited to `threads` threads while timed; None leaves OpenCV's setting) and the
    network input it built, ``(1, H, W, C)`` float32."""
    from jndtf.priors.inputs import model_input

    return time_input(
        lambda: model_input(frame, source.priors, normalization=source.normalization),
        runs=runs,
        warmup=warmup,
        threads=threads,
    )


def time_input(
    build: Callable[[], np.ndarray], *, runs: int, warmup: int, threads: int | None = None
) -> tuple[dict, np.ndarray]:
    """Latency statistics of `build()` (a network input ``(H, W, C)``, made with OpenCV limited
    to `threads` threads while timed; None leaves OpenCV's setting) and the last input it
    built, ``(1, H, W, C)`` float32."""
    import cv2

    out = []

    def call():
        out[:] = [build()]

    before = cv2.getNumThreads()
    if threads is not None:
        cv2.setNumThreads(int(threads))
    try:
        stats = latency_stats(time_calls(call, runs=runs, warmup=warmup))
    finally:
        cv2.setNumThreads(before)
    return stats, np.ascontiguousarray(out[0][None], np.float32)


__all__ = ["DEFAULT_PHOTO", "benchmark_photo", "frame_from_photo", "time_priors"]
