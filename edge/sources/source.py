"""A frame source: a capture thread feeding a bounded queue, with live and file back-pressure
policies and reconnection of lost cameras and streams.

Policies (``mode``):

- ``"live"`` (default for cameras and URLs): the capture thread never waits for the consumer.
  When the queue is full the oldest queued frame is dropped and counted (``stats.dropped``), so
  the consumer always gets the freshest frames and latency stays bounded by ``queue_size``.
  A video file or folder opened in live mode plays at its nominal fps, as a camera would
  deliver it (as fast as it decodes when the fps is unknown).
- ``"file"`` (default for video files, folders and images): the capture thread waits while the
  queue is full; nothing is dropped, every frame is delivered in order.

Reconnection (cameras and URLs, ``reconnect=True``): when a read fails (camera unplugged,
connection dropped, no data within ``timeout_s``) the capture is released and reopened after
``backoff[0]``, ``2*backoff[0]``, ``4*backoff[0]``, ... seconds, capped at ``backoff[1]``.
``max_reconnects`` attempts in a row may fail (the count restarts once a frame is read; ``None``
tries forever); after that the iteration raises :class:`SourceError`, once the frames already
queued are delivered. With ``reconnect=False`` a lost live source ends the iteration quietly.

Corrupt frames (``None``, no pixels, wrong dtype or shape; image files that do not decode or
are under 32x32 pixels) are skipped and counted (``stats.corrupt``); 25 in a row from a camera or
stream count as a lost source. Every frame has one size: ``size=`` if given, else the first good
frame's. A frame of another size (an image of its own size in a folder, a stream that changes
resolution) is resized to it (``size_change="resize"``, counted in ``stats.resized``) or skipped
(``"skip"``, ``stats.refused``). Each skipped file and each resize is a note naming the file
(``on_note``, and :attr:`FrameSource.problems`).

A video file whose container declares a frame count and that ends sooner (a truncated file, a
broken download) is flagged: ``stats.ended_early``, ``stats.expected``, and a note.

``close()`` may be called from any thread or a signal handler: the iteration ends at once (a
consumer waiting for a frame wakes within 0.1 s), queued frames are discarded (and reported as
``stats.queued``), and the capture thread is stopped and joined; a thread stuck in a network
read ends by itself within ``timeout_s`` and releases its capture.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable

from jndtf.edge.sources.frame import Frame, SourceError, SourceStats, check_size, resize_rgb
from jndtf.edge.sources.readers import RawRead, open_reader
from jndtf.edge.sources.spec import parse_spec

#: Consecutive corrupt frames from a camera or stream after which it counts as lost.
MAX_CORRUPT_IN_A_ROW = 25

#: How long a waiting consumer or file-mode capture thread sleeps between checks of close().
_POLL_S = 0.1

#: The ``size_change`` policies: what a frame of another size than the stream's becomes.
SIZE_CHANGE = ("resize", "skip")

#: Notes kept in :attr:`FrameSource.problems` (the count goes on in the stats).
MAX_PROBLEMS = 1000

#: A file "ends early" when it delivers fewer than ``expected - tolerance`` frames, with
#: tolerance ``max(1, EARLY_END_TOLERANCE * expected)``: OpenCV estimates the count from the
#: duration when a container lists no frame count, which can be off by a frame.
EARLY_END_TOLERANCE = 0.01


def _log_note(text: str) -> None:
    logging.getLogger("jndtf.edge.sources").warning("%s", text)


class FrameSource:
    """A camera, video file, stream or image folder read by a background thread.

    Made by :func:`open_source`; iterate it for :class:`Frame` objects, use it as a context
    manager or call :meth:`close`.

    Attributes:
        kind: ``"camera"``, ``"file"``, ``"url"`` or ``"folder"`` (a single image is a file).
        mode: ``"live"`` or ``"file"``, the back-pressure policy in force.
        fps: nominal frames per second reported by the decoder, ``None`` if unknown.
        frame_size: ``(W, H)`` of the delivered frames (the ``size`` asked for, else the
            source's own), ``None`` if the backend does not say before the first frame.
        spec: the spec's label (camera index, path or URL).
    """

    def __init__(
        self,
        spec: int | str | os.PathLike,
        *,
        mode: str = "auto",
        queue_size: int = 4,
        max_frames: int | None = None,
        reconnect: bool = True,
        max_reconnects: int | None = 10,
        backoff: tuple[float, float] = (0.5, 8.0),
        size: tuple[int, int] | None = None,
        timeout_s: float = 10.0,
        size_change: str = "resize",
        on_note: Callable[[str], None] | None = None,
    ) -> None:
        if mode not in ("auto", "live", "file"):
            raise ValueError(f"mode must be 'auto', 'live' or 'file', got {mode!r}")
        if size_change not in SIZE_CHANGE:
            raise ValueError(f"size_change must be 'resize' or 'skip', got {size_change!r}")
        if isinstance(queue_size, bool) or not isinstance(queue_size, int) or queue_size < 1:
            raise ValueError(f"queue_size must be an integer >= 1, got {queue_size!r}")
        if max_frames is not None and (not isinstance(max_frames, int) or max_frames < 0):
            raise ValueError(f"max_frames must be None or an integer >= 0, got {max_frames!r}")
        if max_reconnects is not None and (
            not isinstance(max_reconnects, int) or max_reconnects < 0
        ):
            raise ValueError(
                f"max_reconnects must be None or an integer >= 0, got {max_reconnects!r}"
            )
        try:
            first, cap = (float(b) for b in backoff)
        except (TypeError, ValueError):
            raise ValueError(f"backoff must be (first_s, max_s), got {backoff!r}") from None
        if not 0 <= first <= cap:
            raise ValueError(
                f"backoff must be (first_s, max_s) with 0 <= first_s <= max_s, got {backoff!r}"
            )
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s!r}")
        self._size = check_size(size)
        parsed = parse_spec(spec)
        self._reader = open_reader(parsed, timeout_s=timeout_s)

        self.spec = parsed.label
        self.kind = parsed.kind
        self.mode = ("live" if parsed.live else "file") if mode == "auto" else mode
        self.fps = self._reader.fps
        self.frame_size = self._size or self._reader.frame_size
        self.queue_size = queue_size
        self.max_frames = max_frames
        self.reconnect = reconnect and parsed.live
        self.max_reconnects = max_reconnects
        self.backoff = (first, cap)
        self.timeout_s = float(timeout_s)
        self._live_kind = parsed.live
        self.size_change = size_change
        self._on_note = on_note or _log_note
        #: ``{"source", "reason", "action"}`` of each skipped or resized frame (the first
        #: :data:`MAX_PROBLEMS`), in the order they happened
        self.problems: list[dict] = []
        self._stream_size = self._size  # fixed by the first good frame when size is None

        self._cond = threading.Condition(threading.RLock())
        self._queue: collections.deque[Frame] = collections.deque()
        self._stats = SourceStats(expected=getattr(self._reader, "expected_frames", None))
        self._stop = threading.Event()
        self._finished = False
        self._closed = False
        self._error: BaseException | None = None
        self._reader_ident: int | None = None  # the thread inside read(), if any
        self._thread = threading.Thread(
            target=self._capture_loop, name=f"jndtf-source[{self.spec}]", daemon=True
        )
        self._thread.start()

    # -- consumer side -----------------------------------------------------------------------

    @property
    def stats(self) -> SourceStats:
        """A consistent snapshot of the counters (:class:`SourceStats`)."""
        return self._stats  # replaced whole under the lock, so one read is a consistent copy

    def read(self, timeout: float | None = None) -> Frame | None:
        """The next frame, waiting for it; ``None`` once the source has ended or was closed.

        Raises:
            TimeoutError: no frame within ``timeout`` seconds (the source is still open).
            SourceError: a live source was lost and could not be reopened (raised after the
                frames queued before the loss are delivered).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._reader_ident = threading.get_ident()
            try:
                return self._next_frame(deadline, timeout)
            finally:
                self._reader_ident = None

    def _next_frame(self, deadline: float | None, timeout: float | None) -> Frame | None:
        with self._cond:
            while True:
                if self._closed:
                    return None
                if self.max_frames is not None and self._stats.delivered >= self.max_frames:
                    self._stop.set()
                    return None
                if self._queue:
                    frame = self._queue.popleft()
                    self._count(delivered=1, queued=-1)
                    self._cond.notify_all()
                    return frame
                if self._finished:
                    if self._error is not None:
                        error, self._error = self._error, None
                        raise error
                    return None
                wait = _POLL_S
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TimeoutError(f"{self.spec}: no frame within {timeout:g} s")
                    wait = min(wait, left)
                self._cond.wait(wait)

    def __iter__(self) -> FrameSource:
        return self

    def __next__(self) -> Frame:
        frame = self.read()
        if frame is None:
            raise StopIteration
        return frame

    def close(self) -> None:
        """Stops capture and ends the iteration; idempotent, safe from any thread or a signal
        handler. Frames still queued are discarded (counted in ``stats.queued``)."""
        self._stop.set()
        with self._cond:
            self._closed = True
            self._queue.clear()
            self._cond.notify_all()
        thread = self._thread
        if self._reader_ident == threading.get_ident() or self._cond._is_owned():
            # A signal handler interrupted this thread inside read() (or anywhere it holds the
            # lock): read() returns None next. Joining here would wait on a capture thread
            # that is itself waiting for the lock this thread holds, until the join times out.
            return
        if thread is not threading.current_thread() and thread.is_alive():
            # Bounded: a capture thread stuck in a network read finishes on its own within
            # timeout_s and releases the capture itself (it is a daemon thread).
            thread.join(timeout=min(self.timeout_s, 2.0) + 1.0)

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"FrameSource({self.spec!r}, kind={self.kind!r}, mode={self.mode!r}, "
            f"fps={self.fps}, frame_size={self.frame_size}, stats={self.stats})"
        )

    # -- capture side ------------------------------------------------------------------------

    def _count(self, **deltas: int) -> None:
        s = self._stats
        self._stats = dataclasses.replace(s, **{k: getattr(s, k) + v for k, v in deltas.items()})

    def _capture_loop(self) -> None:
        try:
            self._capture()
        except BaseException as exc:  # handed to the consumer, raised from read()
            with self._cond:
                self._error = exc
        finally:
            try:
                self._reader.close()
            finally:
                with self._cond:
                    self._finished = True
                    self._cond.notify_all()

    def _capture(self) -> None:
        # Live mode on a file or folder plays it at its nominal fps, as a camera would.
        pace_fps = self.fps if self.mode == "live" and not self._live_kind else None
        started = time.monotonic()
        corrupt_in_a_row = 0
        failures = 0  # reopen attempts since the last good frame
        while not self._stop.is_set():
            if self.mode == "file" and self.max_frames is not None:
                if self._stats.read >= self.max_frames:
                    return
            raw = self._reader.read()
            if raw.status == "end":
                self._check_end()
                return
            if raw.status == "corrupt":
                with self._cond:
                    self._count(corrupt=1)
                if not self._live_kind or corrupt_in_a_row == 0:
                    self._note(raw.source, raw.reason or f"{raw.source}: corrupt frame", "skipped")
                corrupt_in_a_row += 1
                if not (self._live_kind and corrupt_in_a_row >= MAX_CORRUPT_IN_A_ROW):
                    continue
                raw = RawRead("lost", source=raw.source)
            if raw.status == "lost":
                corrupt_in_a_row = 0
                if not self.reconnect:
                    return
                failures = self._reopen(failures)
                continue
            corrupt_in_a_row = 0
            failures = 0
            if pace_fps:
                index = self._stats.read + self._stats.corrupt
                if self._stop.wait(max(0.0, started + index / pace_fps - time.monotonic())):
                    return
            self._enqueue(raw)

    def _note(self, source: str, reason: str, action: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append({"source": source, "reason": reason, "action": action})
        try:
            self._on_note(reason)
        except Exception:  # a failing printer must not stop the capture
            logging.getLogger("jndtf.edge.sources").exception("on_note failed")

    def _check_end(self) -> None:
        """A file that ends before its container's frame count: flag it (module docstring)."""
        expected = self._stats.expected
        if expected is None:
            return
        seen = self._stats.read + self._stats.corrupt + self._stats.refused
        if seen >= expected - max(1.0, EARLY_END_TOLERANCE * expected):
            return
        with self._cond:
            self._stats = dataclasses.replace(self._stats, ended_early=True)
        self._note(
            self.spec,
            f"{self.spec}: the file ended after {seen} of the {expected} frames its container "
            "declares: it is probably truncated (an interrupted copy or download); what it "
            "holds was read",
            "ended early",
        )

    def _fit_size(self, raw: RawRead):
        """The frame at the stream's size, or None when it is skipped (module docstring)."""
        h, w = raw.image.shape[:2]
        if self._stream_size is None:
            self._stream_size = (w, h)
            return raw.image
        if (w, h) == self._stream_size or self._size is not None:
            return resize_rgb(raw.image, self._stream_size)  # size= asked for: no note
        sw, sh = self._stream_size
        if self.size_change == "skip":
            with self._cond:
                self._count(refused=1)
            self._note(
                raw.source,
                f"{raw.source}: {w}x{h} pixels, the stream is {sw}x{sh} (its first frame): "
                "skipped (--size-change resize would resize it)",
                "skipped",
            )
            return None
        with self._cond:
            self._count(resized=1)
        self._note(
            raw.source,
            f"{raw.source}: {w}x{h} pixels, the stream is {sw}x{sh} (its first frame): resized "
            "to it (the aspect ratio may change; --size-change skip would skip it)",
            "resized",
        )
        return resize_rgb(raw.image, self._stream_size)

    def _enqueue(self, raw: RawRead) -> None:
        image = self._fit_size(raw)
        if image is None:
            return
        captured = time.monotonic()
        with self._cond:
            if self.mode == "file":
                while len(self._queue) >= self.queue_size and not self._stop.is_set():
                    self._cond.wait(_POLL_S)
            if self._stop.is_set():
                return
            if len(self._queue) >= self.queue_size:
                self._queue.popleft()
                self._count(dropped=1, queued=-1)
            frame = Frame(image, self._stats.read, raw.timestamp_ms, raw.source, captured)
            self._queue.append(frame)
            self._count(read=1, queued=1)
            self._cond.notify_all()

    def _reopen(self, failures: int) -> int:
        """Waits out the backoff and reopens; returns the failed attempts so far (raises
        SourceError when ``max_reconnects`` attempts in a row have failed)."""
        first, cap = self.backoff
        last: SourceError | None = None
        while not self._stop.is_set():
            if self.max_reconnects is not None and failures >= self.max_reconnects:
                raise SourceError(
                    f"{self.spec}: lost, and {failures} attempt(s) in a row to reopen it failed "
                    f"(backoff {first:g}..{cap:g} s). Last error: {last or 'the read failed'}. "
                    "Check the cable or network and that the sender still runs; raise "
                    "max_reconnects (None retries forever) to wait longer"
                )
            if self._stop.wait(min(first * 2**failures, cap)):
                return failures
            failures += 1
            try:
                self._reader.reopen()
            except SourceError as exc:
                last = exc
                continue
            with self._cond:
                self._count(reconnects=1)
            return failures
        return failures


def open_source(
    spec: int | str | os.PathLike,
    *,
    mode: str = "auto",
    queue_size: int = 4,
    max_frames: int | None = None,
    reconnect: bool = True,
    max_reconnects: int | None = 10,
    backoff: tuple[float, float] = (0.5, 8.0),
    size: tuple[int, int] | None = None,
    timeout_s: float = 10.0,
    size_change: str = "resize",
    on_note: Callable[[str], None] | None = None,
) -> FrameSource:
    """Opens a camera, video file, image folder or network stream and starts its capture thread.

    Args:
        spec: camera index (``0`` or ``"0"``; or a device such as ``/dev/video2``), a video
            file, a single image file (one frame), a folder of images (sorted by name), or a
            stream URL (``rtsp://``, ``http(s)://`` MJPEG, ``udp://``, ``tcp://``, ...).
        mode: ``"live"`` (drop the oldest frame when the queue is full), ``"file"`` (wait, drop
            nothing) or ``"auto"`` (live for cameras and URLs, file otherwise).
        queue_size: frames buffered between the capture thread and the consumer.
        max_frames: end the iteration after this many delivered frames (``None``: no limit).
        reconnect: reopen a lost camera or stream (live kinds only).
        max_reconnects: reopen attempts in a row before giving up with :class:`SourceError`
            (``None``: forever).
        backoff: ``(first_s, max_s)`` of the exponential wait before each reopen attempt.
        size: ``(W, H)`` to resize every frame to (area averaging when shrinking).
        timeout_s: streams: how long opening or one read may take before the stream is lost.
        size_change: a frame of another size than the stream's (``size``, else the first
            frame's): ``"resize"`` it (a note names it) or ``"skip"`` it.
        on_note: called (from the capture thread) with one line naming the file for every
            skipped or resized frame and for a file that ends early; default: a warning on
            the ``jndtf.edge.sources`` logger.

    Returns:
        a started :class:`FrameSource`.

    Raises:
        SourceError: the spec does not exist or cannot be opened (the message says what to
            check), or a camera index with no camera behind it.
        ValueError: a bad argument.

    Example:
        >>> with open_source("clip.mp4", size=(320, 180)) as src:
        ...     for frame in src:
        ...         process(frame.image)          # uint8 RGB 180x320x3
        ...     print(src.stats)
        SourceStats(read=45, delivered=45, dropped=0, corrupt=0, reconnects=0, queued=0)
    """
    return FrameSource(
        spec,
        mode=mode,
        queue_size=queue_size,
        max_frames=max_frames,
        reconnect=reconnect,
        max_reconnects=max_reconnects,
        backoff=backoff,
        size=size,
        timeout_s=timeout_s,
        size_change=size_change,
        on_note=on_note,
    )
