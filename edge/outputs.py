"""What the edge stream writes on request: JND-map video or PNGs, a preview, JSON-lines stats.

Every writer has ``write(...)`` per frame and ``close()`` (idempotent; context managers), and
closing is what makes a file complete (sizes are ``(width, height)``, as everywhere in
:mod:`jndtf.edge`; frames and maps are ``HxWxC`` arrays):

- :class:`MapVideoWriter`: the JND map of each frame as a grey MP4, grey
  level ``255 · J / vmax`` with one fixed `vmax` for the whole video (default 32 grey levels of
  JND = white), so brightness means the same in every frame. Written under a temporary name and
  renamed on close: the file that appears plays to the end.
  The video stays grey (a grey level *is* the value, readable back from any frame) and has no
  colour bar: a bar would take rows from every frame and a player has no room for a caption.
- :class:`MapPngWriter`: ``FOLDER/NNNNNN.png`` drawn by :func:`jndtf.render.render_map` (the one
  map renderer of jndtf: inferno colours, a colour bar 0..`vmax` labelled "JND (grey levels)",
  the same `vmax` for every frame) and, optionally, ``NNNNNN.npy`` with the map in its real
  units (float32 grey levels); atomic writes.
- :class:`PreviewWriter`: side by side, original | JND map (inferno, as the PNGs:
  :func:`jndtf.render.colourize`) | encoded frame as decoded, at half size; to a window when a
  display exists (``DISPLAY``/``WAYLAND_DISPLAY`` set and an OpenCV with GUI support), else to
  an MP4 file like :class:`MapVideoWriter`.
- :class:`JsonLinesWriter`: one JSON object per line (``{"type": "frame", ...}`` per frame,
  ``{"type": "summary", ...}`` last), each line written whole and flushed, so a reader never
  sees half a record; ``close(summary)`` writes the summary line and fsyncs. NaN and infinity,
  which JSON lacks, are written as null. A stats file left without its summary line by a killed
  run is not overwritten by the next one: :func:`keep_unfinished_stats` renames it first.

Example:
    >>> stats, v = JsonLinesWriter("stats.jsonl"), MapVideoWriter("jnd.mp4", 30, (640, 360))
    >>> with stats, v:
    ...     for i, (frame, jnd) in enumerate(pairs):
    ...         v.write(jnd)
    ...         stats.write({"type": "frame", "index": i, "bytes": 1234})
    ...     stats.close({"type": "summary", "frames": i + 1})
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import cv2
import numpy as np
from jndtf.edge.encoders import _temporary_beside

#: Default JND value shown as white in map videos and PNGs (grey levels).
MAP_VMAX = 32.0


def map_to_grey(jnd: np.ndarray, vmax: float = MAP_VMAX) -> np.ndarray:
    """A JND map (float ``HxW``/``HxWxC`` grey levels) as uint8 ``HxW`` for viewing:
    ``round(255 · J / vmax)`` clipped; a 3-channel map shows its channel mean."""
    m = np.asarray(jnd, dtype=np.float32)
    if m.ndim == 3:
        m = m[..., 0] if m.shape[2] == 1 else m.mean(axis=2)
    if m.ndim != 2:
        raise ValueError(f"a JND map is HxW or HxWxC, got shape {np.shape(jnd)}")
    return cv2.convertScaleAbs(m, alpha=255.0 / float(vmax))


def _check_vmax(vmax: float) -> float:
    if not (isinstance(vmax, (int, float)) and math.isfinite(vmax) and vmax > 0):
        raise ValueError(f"vmax must be a positive number of grey levels, got {vmax!r}")
    return float(vmax)


#: Quality of the map and preview videos when PyAV writes them (x264 CRF; 18 is near
#: transparent for these smooth pictures) and the preset (the cheapest: they are side outputs).
SIDE_VIDEO_CRF, SIDE_VIDEO_PRESET = 18, "ultrafast"


class _Mp4File:
    """An MP4 written to a temporary name and renamed on close.

    With PyAV (the ``[edge]`` extra) and an even size: H.264 by
    :class:`jndtf.edge.encoders.H264Encoder` (x264 CRF :data:`SIDE_VIDEO_CRF`), a fragmented MP4
    while written, so a killed run keeps it up to its last fragment like the encoded stream.
    Otherwise ``mp4v`` by OpenCV (whose file needs its index, written on close).
    """

    def __init__(self, path: str | os.PathLike, fps: float, size: tuple[int, int]) -> None:
        w, h = (int(v) for v in size)
        if w < 2 or h < 2:
            raise ValueError(f"video size must be (width, height) >= 2, got {size}")
        if not (isinstance(fps, (int, float)) and fps > 0):
            raise ValueError(f"fps must be > 0, got {fps!r}")
        self.path = Path(path)
        self.size = (w, h)
        self.frames = 0
        self._h264 = None
        self._writer = None
        if w % 2 == 0 and h % 2 == 0 and fps <= 1000:
            try:
                from jndtf.edge.encoders import H264Encoder

                self._h264 = H264Encoder(
                    self.path,
                    fps=float(fps),
                    size=(w, h),
                    crf=SIDE_VIDEO_CRF,
                    preset=SIDE_VIDEO_PRESET,
                    decode=False,
                )
                return
            except ImportError:  # no PyAV: OpenCV's mp4v below
                pass
        self._tmp = _temporary_beside(self.path, ".partial.mp4")  # OpenCV needs .mp4
        self._writer = cv2.VideoWriter(
            self._tmp, cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (w, h)
        )
        if not self._writer.isOpened():
            os.unlink(self._tmp)
            raise OSError(f"{self.path}: OpenCV cannot open an mp4v video writer here")

    def write_bgr(self, bgr: np.ndarray) -> None:
        if self._writer is None and (self._h264 is None or self._h264.closed):
            raise RuntimeError(f"{self.path} is closed")
        if (bgr.shape[1], bgr.shape[0]) != self.size:
            raise ValueError(
                f"{self.path}: frame of {bgr.shape[1]}x{bgr.shape[0]}, the video is "
                f"{self.size[0]}x{self.size[1]}"
            )
        if self._h264 is not None:
            self._h264.encode(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), self.frames)
        else:
            self._writer.write(bgr)
        self.frames += 1

    def close(self) -> None:
        if self._h264 is not None:
            if self.frames:
                self._h264.close()
            else:  # a video with no frame does not play: write none
                self._h264.abort()
            return
        if self._writer is None:
            return
        writer, self._writer = self._writer, None
        writer.release()
        if self.frames:
            os.replace(self._tmp, self.path)
        else:  # a video with no frame does not play: write none
            os.unlink(self._tmp)


class MapVideoWriter:
    """JND maps as a grey MP4 (module docstring).

    Args:
        path: the ``.mp4``.
        fps: frame rate.
        size: ``(width, height)`` of the maps.
        vmax: JND value (grey levels) shown as white.
    """

    def __init__(
        self, path: str | os.PathLike, fps: float, size: tuple[int, int], vmax: float = MAP_VMAX
    ) -> None:
        self.vmax = _check_vmax(vmax)
        self._file = _Mp4File(path, fps, size)
        self.path = self._file.path

    def write(self, jnd: np.ndarray, index: int | None = None) -> None:
        """Appends the map of the next frame (`index` is ignored: video frames are in order)."""
        self._file.write_bgr(cv2.cvtColor(map_to_grey(jnd, self.vmax), cv2.COLOR_GRAY2BGR))

    def close(self) -> None:
        """Finishes and renames the MP4 (none is written if no frame came)."""
        self._file.close()

    def __enter__(self) -> MapVideoWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class MapPngWriter:
    """JND maps as ``FOLDER/NNNNNN.png`` (:func:`jndtf.render.render_map`: colour map + colour
    bar with units) (+ ``.npy`` in grey levels when `npy`), atomic writes.

    Args:
        folder: created if missing.
        vmax: JND value drawn in the top colour of every PNG (one scale for the stream).
        npy: also save the float32 map.
    """

    def __init__(self, folder: str | os.PathLike, vmax: float = MAP_VMAX, npy: bool = False):
        self.vmax = _check_vmax(vmax)
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.npy = npy

    def write(self, jnd: np.ndarray, index: int) -> Path:
        """Writes the map of frame `index`; returns the PNG's path."""
        from jndtf.io import save_image, save_npy
        from jndtf.render import render_map

        path = self.folder / f"{int(index):06d}.png"
        save_image(path, render_map(jnd, units="grey levels", vmax=self.vmax))
        if self.npy:
            save_npy(path.with_suffix(".npy"), np.asarray(jnd, dtype=np.float32))
        return path

    def close(self) -> None:
        """Nothing is held open (each PNG is complete when written)."""

    def __enter__(self) -> MapPngWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def display_available() -> bool:
    """True when a window can be shown: a display is set and OpenCV has GUI support
    (``opencv-python-headless``, jndtf's default, has none)."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        cv2.namedWindow("jndtf-probe", cv2.WINDOW_NORMAL)
        cv2.destroyWindow("jndtf-probe")
    except cv2.error:
        return False
    return True


class PreviewWriter:
    """Side-by-side preview, original | JND map | decoded, each panel at half size.

    Args:
        path: the ``.mp4`` written when no window can be shown.
        fps: frame rate of the file.
        frame_size: ``(width, height)`` of the stream's frames.
        window: ``"auto"`` (a window if :func:`display_available`, else the file), ``True``
            (a window, ValueError if none can be shown), ``False`` (the file).
        vmax: JND value shown as white.

    Attributes:
        shows_window: True when frames go to a window, False when to :attr:`path`.
    """

    title = "jndtf stream: original | JND map | encoded"

    def __init__(
        self,
        path: str | os.PathLike,
        fps: float,
        frame_size: tuple[int, int],
        *,
        window: bool | str = "auto",
        vmax: float = MAP_VMAX,
    ) -> None:
        w, h = (int(v) for v in frame_size)
        self.panel = (max(2, w // 2 // 2 * 2), max(2, h // 2 // 2 * 2))
        self.vmax = _check_vmax(vmax)
        can_show = display_available() if window in ("auto", True) else False
        if window is True and not can_show:
            raise ValueError(
                "no window can be shown here (no DISPLAY, or OpenCV without GUI support); "
                "the preview can be written to a file instead"
            )
        self.shows_window = can_show
        self.path = Path(path)
        self._file = None if can_show else _Mp4File(path, fps, (3 * self.panel[0], self.panel[1]))

    def compose(self, frame: np.ndarray, jnd: np.ndarray, decoded: np.ndarray) -> np.ndarray:
        """The BGR side-by-side picture of one frame (uint8 ``h/2 x 3w/2 x 3``)."""
        from jndtf.render import colourize

        shrink = lambda a: cv2.resize(a, self.panel, interpolation=cv2.INTER_AREA)  # noqa: E731
        panels = [
            cv2.cvtColor(shrink(frame), cv2.COLOR_RGB2BGR),
            cv2.cvtColor(shrink(colourize(jnd, self.vmax)), cv2.COLOR_RGB2BGR),
            cv2.cvtColor(shrink(decoded), cv2.COLOR_RGB2BGR),
        ]
        return np.hstack(panels)

    def write(self, frame: np.ndarray, jnd: np.ndarray, decoded: np.ndarray) -> None:
        """Shows or appends one frame's preview."""
        picture = self.compose(frame, jnd, decoded)
        if self._file is not None:
            self._file.write_bgr(picture)
        else:
            cv2.imshow(self.title, picture)
            cv2.waitKey(1)

    def close(self) -> None:
        """Finishes the file or closes the window."""
        if self._file is not None:
            self._file.close()
        elif self.shows_window:
            self.shows_window = False
            cv2.destroyWindow(self.title)

    def __enter__(self) -> PreviewWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _json_safe(value):
    """NaN/inf -> None, numpy scalars -> Python numbers, recursively."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def keep_unfinished_stats(path: str | os.PathLike) -> str | None:
    """Renames a stats file that a killed run left without its summary line to
    ``STEM.interrupted-<its mtime, UTC>.jsonl`` so the next run does not overwrite it.

    Returns:
        a line saying what was done, or None (no file, or a finished one).
    """
    import time

    path = Path(path)
    if not path.is_file():
        return None
    last = b""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - 65536))
        lines = [line for line in f.read().splitlines() if line.strip()]
        last = lines[-1] if lines else b""
    try:
        finished = json.loads(last).get("type") == "summary"
    except (ValueError, AttributeError):
        finished = False  # a half line: killed while writing
    if finished or not lines:
        return None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(path.stat().st_mtime))
    target = path.with_name(f"{path.stem}.interrupted-{stamp}{path.suffix}")
    os.replace(path, target)
    return f"{path}: the stats of an interrupted run (no summary line); kept as {target}"


class JsonLinesWriter:
    """Stats as JSON lines (module docstring): every line whole and flushed at once.

    Args:
        path: the ``.jsonl`` file (folder created; an existing file is replaced).

    Example:
        >>> w = JsonLinesWriter("stats.jsonl")
        >>> w.write({"type": "frame", "index": 0, "fps": 29.7})
        >>> w.close({"type": "summary", "frames": 1})
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(self.path, "w", encoding="utf-8")
        self.lines = 0

    def write(self, record: dict) -> None:
        """Writes one record as one line and flushes it."""
        if self._f is None:
            raise RuntimeError(f"{self.path} is closed")
        line = json.dumps(_json_safe(record), allow_nan=False, separators=(",", ":"))
        self._f.write(line + "\n")
        self._f.flush()
        self.lines += 1

    def close(self, summary: dict | None = None) -> None:
        """Writes `summary` (if given) as the last line, fsyncs and closes; idempotent."""
        if self._f is None:
            return
        try:
            if summary is not None:
                self.write(summary)
            os.fsync(self._f.fileno())
        finally:
            f, self._f = self._f, None
            f.close()

    def __enter__(self) -> JsonLinesWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = [
    "MAP_VMAX",
    "JsonLinesWriter",
    "MapPngWriter",
    "MapVideoWriter",
    "PreviewWriter",
    "display_available",
    "keep_unfinished_stats",
    "map_to_grey",
]
