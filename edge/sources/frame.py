"""What a frame source hands out: :class:`Frame`, :class:`SourceStats`, :class:`SourceError`, and
the check that turns a decoder's output into a uint8 RGB frame or rejects it as corrupt.

Data contract (DESIGN.md): images cross the public API as uint8 RGB ``HxWx3``; OpenCV's BGR is
converted here, at the I/O boundary, and never leaks past it. Sizes are ``(width, height)``
(OpenCV's ``dsize``, ``--size WIDTHxHEIGHT``), as everywhere in :mod:`jndtf.edge`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


class SourceError(ValueError):
    """A frame source that cannot be opened or was lost for good.

    The message names the spec (camera index, file, folder or URL) and what to check.
    """


@dataclass(frozen=True)
class Frame:
    """One frame as delivered by a source.

    Attributes:
        image: uint8 RGB ``HxWx3`` (converted from OpenCV's BGR; resized if the source was
            opened with ``size=(W, H)``).
        index: 0-based number of the frame among the good frames the source read, counted
            before any backpressure drop: a gap between consecutive indices is a dropped frame.
            Corrupt frames get no index.
        timestamp_ms: milliseconds. Video files: the frame's position in the file (the
            decoder's presentation time). Cameras, URLs, folders and single images: wall-clock
            time since the source was opened (monotonic clock).
        source: the spec the frame came from; for a folder, the image file's path.
        captured_s: ``time.monotonic()`` when the capture thread got the frame, to measure how
            long it waited in the queue (``time.monotonic() - frame.captured_s``).

    Example:
        >>> with open_source("clip.mp4") as src:
        ...     frame = next(iter(src))
        >>> frame.image.shape, frame.index, frame.timestamp_ms
        ((360, 640, 3), 0, 0.0)
    """

    image: np.ndarray
    index: int
    timestamp_ms: float
    source: str
    captured_s: float = 0.0


@dataclass(frozen=True)
class SourceStats:
    """Counters of a source, a consistent snapshot (``src.stats``).

    Attributes:
        read: good frames the capture thread read and queued.
        delivered: frames handed to the consumer.
        dropped: frames thrown away because the queue was full (live mode only; the oldest
            queued frame goes).
        corrupt: frames skipped because they were empty, of the wrong type or shape, or an
            image file in a folder that does not decode.
        reconnects: successful re-openings of a camera or stream after it was lost.
        queued: frames waiting in the queue now; after ``close()``, those never delivered.
            ``read == delivered + dropped + queued`` at every snapshot.
        resized: good frames of another size than the stream's, resized to it
            (``size_change="resize"``).
        refused: good frames of another size than the stream's, skipped
            (``size_change="skip"``).
        expected: frames the video file's container declares (None: not a file, or the
            container does not say).
        ended_early: the file ended before `expected` frames were decoded (truncated file).
    """

    read: int = 0
    delivered: int = 0
    dropped: int = 0
    corrupt: int = 0
    reconnects: int = 0
    queued: int = 0
    resized: int = 0
    refused: int = 0
    expected: int | None = None
    ended_early: bool = False


def check_size(size: tuple[int, int] | None) -> tuple[int, int] | None:
    """Validates an output size ``(W, H)`` in pixels (``None``: keep the source's size)."""
    if size is None:
        return None
    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be (width, height) in pixels, got {size!r}") from None
    if w <= 0 or h <= 0 or (w, h) != tuple(size):
        raise ValueError(f"size must be two positive integers (width, height), got {size!r}")
    return w, h


def decoded_to_rgb(frame: object, *, bgr: bool = True) -> np.ndarray | None:
    """A decoder's frame -> contiguous uint8 RGB ``HxWx3``, or ``None`` if it is not usable.

    Accepts uint8 ``HxW`` (grey, replicated), ``HxWx1``, ``HxWx3`` and ``HxWx4`` (alpha dropped),
    in OpenCV's BGR(A) order when ``bgr`` is true, RGB otherwise. Rejected as corrupt: ``None``,
    an array with no pixels, another dtype than uint8, another rank or channel count.

    Example:
        >>> ok, bgr = cv2.VideoCapture("clip.mp4").read()
        >>> decoded_to_rgb(bgr).shape
        (360, 640, 3)
    """
    if not isinstance(frame, np.ndarray) or frame.size == 0 or frame.dtype != np.uint8:
        return None
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[..., 0]
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    if frame.ndim != 3 or frame.shape[2] not in (3, 4):
        return None
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2RGB if bgr else cv2.COLOR_RGBA2RGB)
    if bgr:
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(frame)


def resize_rgb(image: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """Resizes to ``size=(W, H)``: area averaging when shrinking (no aliasing), bilinear when
    enlarging; returns the image unchanged when it already has that size or ``size`` is None."""
    if size is None:
        return image
    h, w = image.shape[:2]
    if (w, h) == size:
        return image
    shrink = size[0] * size[1] < w * h
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
