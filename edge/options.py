"""The settings and the results of :class:`jndtf.edge.runtime.JndMapper` (MediaPipe Tasks
style: a running mode, an Options dataclass, a Result dataclass), its counters and the frame
contract it checks (:func:`check_frame`).

Example:
    >>> opts = JndMapperOptions(model="wu2017", running_mode=RunningMode.VIDEO, reuse_interval=4)
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from jndtf.edge.scene import DEFAULT_THRESHOLD, ReusePolicy

#: Smallest side of a frame and of the inference size (the priors' largest window).
MIN_SIDE = 32


def check_frame(frame) -> np.ndarray:
    """The frame as a uint8 RGB ``HxWx3`` array, or a ValueError saying what is wrong."""
    if not isinstance(frame, np.ndarray):
        raise ValueError(f"a frame must be a numpy array (uint8 RGB HxWx3), got {type(frame)}")
    if frame.dtype != np.uint8:
        raise ValueError(
            f"a frame must be uint8 RGB HxWx3, got dtype {frame.dtype}: convert with "
            "np.clip(frame, 0, 255).astype(np.uint8)"
        )
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(
            f"a frame must be RGB HxWx3, got shape {frame.shape}: replicate grey frames with "
            "cv2.cvtColor(f, cv2.COLOR_GRAY2RGB), drop alpha with f[..., :3]"
        )
    if min(frame.shape[:2]) < MIN_SIDE:
        h, w = frame.shape[:2]
        raise ValueError(f"a frame must be at least {MIN_SIDE}x{MIN_SIDE}, got {w}x{h} (WxH)")
    return frame


class RunningMode(enum.Enum):
    """IMAGE: independent pictures; VIDEO: frames in order, :meth:`JndMapper.process`;
    LIVE_STREAM: frames in order, :meth:`JndMapper.process_async` + a result callback."""

    IMAGE = "image"
    VIDEO = "video"
    LIVE_STREAM = "live_stream"


@dataclass(frozen=True)
class JndResult:
    """The JND map of one frame.

    Attributes:
        jnd: float32 ``HxWxC`` (the frame's H, W; C = 1 or 3), pixel units 0..255, read-only.
        frame_index: 0, 1, ... over the frames this mapper accepted (dropped ones excluded).
        timestamp_ms: the caller's timestamp, or None.
        reused: True when the map is the last computed one (no priors, no inference).
        timings_ms: ``priors``, ``inference``, ``resize``, ``total`` (module docstring).
        inference_size: ``(width, height)`` the model ran at (of the frame the map comes
            from); sizes are (width, height) throughout :mod:`jndtf.edge`, arrays ``HxWxC``.
        scene_difference: the reuse policy's measure to the map's frame (None: not measured).
    """

    jnd: np.ndarray
    frame_index: int
    timestamp_ms: int | None
    reused: bool
    timings_ms: dict[str, float]
    inference_size: tuple[int, int]
    scene_difference: float | None = None


@dataclass(frozen=True)
class JndStats:
    """Counters: ``frames`` results produced (= ``inferences`` + ``reused``) and ``dropped``
    frames (LIVE_STREAM: arrived while busy)."""

    frames: int = 0
    inferences: int = 0
    reused: int = 0
    dropped: int = 0


@dataclass(frozen=True)
class JndMapperOptions:
    """Settings of a :class:`JndMapper`.

    Attributes:
        model: an exported ``.tflite`` (manifest beside it) or a classical model name of
            :func:`jndtf.baselines.available` (``"wu2017"`` ...).
        num_threads: LiteRT interpreter threads.
        running_mode: :class:`RunningMode`.
        jnd_scale: inference resolution / frame resolution, in (0, 1]; dynamic-size and
            classical models only.
        reuse_interval: recompute the map at least every N frames (1: every frame); VIDEO and
            LIVE_STREAM only.
        scene_change_threshold: recompute when the mean abs luma difference / 255 to the map's
            frame exceeds it (None: interval only). :mod:`jndtf.edge.scene` has the measurements.
        parallel_priors: compute priors of the next frame while the current one's inference
            runs (VIDEO :meth:`~jndtf.edge.runtime.JndMapper.process_video` and LIVE_STREAM);
            worth it when the interpreter's threads leave a core free.
        result_callback: LIVE_STREAM only (required there): ``fn(result, frame)``, called from
            the inference thread.
    """

    model: str | os.PathLike
    num_threads: int = 2
    running_mode: RunningMode = RunningMode.IMAGE
    jnd_scale: float = 1.0
    reuse_interval: int = 1
    scene_change_threshold: float | None = DEFAULT_THRESHOLD
    parallel_priors: bool = False
    result_callback: Callable[[JndResult, np.ndarray], None] | None = None

    def __post_init__(self):
        if not isinstance(self.running_mode, RunningMode):
            raise ValueError(f"running_mode must be a RunningMode, got {self.running_mode!r}")
        n = self.num_threads
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"num_threads must be an integer >= 1, got {n!r}")
        s = self.jnd_scale
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not 0.0 < s <= 1.0:
            raise ValueError(f"jnd_scale must be a number in (0, 1], got {s!r}")
        ReusePolicy(self.reuse_interval, self.scene_change_threshold)  # ValueError if bad
        live = self.running_mode is RunningMode.LIVE_STREAM
        if live and not callable(self.result_callback):
            raise ValueError("LIVE_STREAM mode needs result_callback=fn(result, frame)")
        if not live and self.result_callback is not None:
            raise ValueError("result_callback is for LIVE_STREAM mode only (process() returns)")
        if self.running_mode is RunningMode.IMAGE and self.reuse_interval != 1:
            raise ValueError(
                "reuse_interval > 1 reuses maps across frames: use RunningMode.VIDEO or "
                "LIVE_STREAM (IMAGE mode treats every picture on its own)"
            )


__all__ = ["MIN_SIDE", "JndMapperOptions", "JndResult", "JndStats", "RunningMode", "check_frame"]
