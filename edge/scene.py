"""Map reuse across video frames: when the last JND map is still good enough to reuse.

A JND map changes slowly while the camera pans over one scene and completely at a cut, so the
runtime recomputes it every ``reuse_interval`` frames **or** as soon as the frame differs from
the one the map was computed on by more than ``threshold``:

    d(a, b) = mean |Y_a - Y_b| / 255

over luma thumbnails (BT.601 ``Y = 0.299 R + 0.587 G + 0.114 B`` of the frame area-averaged to
at most :data:`THUMB_SIDE` px on its long side), so d is in 0..1, noise-tolerant, and costs
well under a millisecond per frame. The reference is the frame the map was computed on, not
the previous frame, so a slow pan that drifts the content away from the map also triggers.

Measured on the synthesized camera clip (:func:`jndtf.samples.clip_frames`, 640x360, 15 fps,
pan + zoom over each photo, cuts at frames 15 and 30): d between frames k apart in one scene has
median 0.015 / 0.040 / 0.059 and max 0.049 / 0.113 / 0.154 for k = 1 / 3 / 5; across the two cuts
d = 0.270 and 0.214. Hence the default threshold 0.1: every cut recomputes, and on that (fast)
pan a map is kept for about 3-6 frames when ``reuse_interval`` allows it.

Example:
    >>> policy = ReusePolicy(interval=5, threshold=0.1)
    >>> policy.decide(frame0)       # True: no map yet -> compute
    >>> policy.decide(frame1)       # False: same scene, 1 frame since the map -> reuse
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from jndtf.apply.preprocess import LUMA_WEIGHTS

#: Long side of the luma thumbnail the scene measure compares, pixels.
THUMB_SIDE = 64

#: Default scene-change threshold on :func:`scene_difference` (0..1).
DEFAULT_THRESHOLD = 0.1

_BT601 = np.array(LUMA_WEIGHTS, np.float32)


def luma_thumbnail(frame: np.ndarray) -> np.ndarray:
    """BT.601 luma of a uint8 RGB ``HxWx3`` frame, area-averaged to <= THUMB_SIDE px (float32
    0..255)."""
    h, w = frame.shape[:2]
    s = min(1.0, THUMB_SIDE / max(h, w))
    size = (max(1, round(w * s)), max(1, round(h * s)))
    small = frame if s == 1.0 else cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    return small.astype(np.float32) @ _BT601


def scene_difference(a: np.ndarray, b: np.ndarray) -> float:
    """d = mean |a - b| / 255 of two luma thumbnails (0 = identical, 1 = black vs white)."""
    if a.shape != b.shape:
        return 1.0
    return float(np.mean(np.abs(a - b))) / 255.0


@dataclass
class ReuseDecision:
    """Why a frame gets a fresh map or the last one.

    Attributes:
        compute: True: run priors + inference; False: reuse the last map.
        reason: ``"first"``, ``"interval"``, ``"scene_change"``, ``"size_change"``,
            ``"every_frame"`` or ``"reuse"``.
        difference: :func:`scene_difference` to the frame of the last map (None when not
            measured).
    """

    compute: bool
    reason: str
    difference: float | None


class ReusePolicy:
    """Decides per frame, in frame order, whether to compute a new map or reuse the last.

    Args:
        interval: recompute at least every `interval` frames (1: every frame, no reuse).
        threshold: recompute when :func:`scene_difference` to the frame of the last map exceeds
            it (None: interval only).

    Not thread-safe: call :meth:`decide` from one thread, in frame order.
    """

    def __init__(self, interval: int = 1, threshold: float | None = DEFAULT_THRESHOLD):
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise ValueError(f"reuse_interval must be an integer >= 1, got {interval!r}")
        if threshold is not None and not (0.0 <= float(threshold) <= 1.0):
            raise ValueError(
                f"scene_change_threshold must be in 0..1 (mean abs luma difference / 255) or "
                f"None, got {threshold!r}"
            )
        self.interval = interval
        self.threshold = None if threshold is None else float(threshold)
        self.reset()

    def reset(self) -> None:
        """Forgets the last map (the next frame computes)."""
        self._ref: np.ndarray | None = None
        self._shape: tuple[int, ...] | None = None
        self._since = 0

    def decide(self, frame: np.ndarray) -> ReuseDecision:
        """The decision for the next frame (uint8 RGB ``HxWx3``), updating the state."""
        if self.interval == 1:
            return ReuseDecision(True, "every_frame", None)
        thumb = luma_thumbnail(frame)
        if self._ref is None:
            reason, diff = "first", None
        elif frame.shape != self._shape:
            reason, diff = "size_change", None
        else:
            diff = scene_difference(thumb, self._ref)
            if self.threshold is not None and diff > self.threshold:
                reason = "scene_change"
            elif self._since + 1 >= self.interval:
                reason = "interval"
            else:
                self._since += 1
                return ReuseDecision(False, "reuse", diff)
        self._ref, self._shape, self._since = thumb, frame.shape, 0
        return ReuseDecision(True, reason, diff)


__all__ = [
    "DEFAULT_THRESHOLD",
    "THUMB_SIDE",
    "ReuseDecision",
    "ReusePolicy",
    "luma_thumbnail",
    "scene_difference",
]
