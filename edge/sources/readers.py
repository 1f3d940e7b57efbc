"""Blocking frame readers, one per kind of source; the capture thread in ``source.py`` drives them.

Each reader's :meth:`read` returns a :class:`RawRead` whose ``status`` is

- ``"frame"``: a good uint8 RGB ``HxWx3`` image;
- ``"corrupt"``: the decoder returned nothing usable (``None``, no pixels, wrong dtype or shape)
  or an image file in a folder does not decode: skip it and count it;
- ``"end"``: a file or folder is exhausted;
- ``"lost"``: a camera or stream stopped answering (unplugged, connection dropped, read timeout):
  the caller may :meth:`reopen` it.

Cameras, video files and streams go through ``cv2.VideoCapture`` (streams through its FFmpeg
backend, with open and read timeouts so that a dead stream is noticed). Folders and single
images go through :func:`jndtf.io.load_image`.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
from jndtf.edge.sources.frame import SourceError, decoded_to_rgb
from jndtf.edge.sources.spec import SourceSpec

from jndtf.io import IMAGE_SUFFIXES, MIN_SIDE, ImageError, iter_images, load_image


class RawRead(NamedTuple):
    status: str
    image: np.ndarray | None = None
    timestamp_ms: float = 0.0
    source: str = ""
    reason: str = ""  # why a "corrupt" read was skipped (names the file for folders)


class CaptureReader:
    """A camera, video file or network stream read through ``cv2.VideoCapture``.

    Args:
        spec: a resolved spec of kind ``"camera"``, ``"file"`` or ``"url"``.
        timeout_s: for streams, how long opening and each read may take before the stream
            counts as lost (FFmpeg's open/read timeouts).

    Raises:
        SourceError: OpenCV cannot open it; the message says what to check.
    """

    def __init__(self, spec: SourceSpec, *, timeout_s: float = 10.0) -> None:
        self.spec = spec
        self.timeout_s = float(timeout_s)
        self._t0 = time.monotonic()
        self._cap = self._open()
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps: float | None = float(fps) if math.isfinite(fps) and fps > 0 else None
        w = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        h = int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.frame_size: tuple[int, int] | None = (w, h) if w > 0 and h > 0 else None
        #: frames the container declares (video files; None when it does not say), to tell a
        #: file that ends early (truncated, a broken download) from one read to its end
        self.expected_frames: int | None = None
        if spec.kind == "file":
            count = self._cap.get(cv2.CAP_PROP_FRAME_COUNT)
            if math.isfinite(count) and count > 0:
                self.expected_frames = round(count)

    def _open(self) -> cv2.VideoCapture:
        spec = self.spec
        if spec.kind == "url":
            ms = max(1, round(self.timeout_s * 1000))
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
            cap = cv2.VideoCapture(spec.target, cv2.CAP_FFMPEG, params)
        else:
            cap = cv2.VideoCapture(spec.target)
        if cap.isOpened():
            return cap
        cap.release()
        if spec.kind == "camera":
            raise SourceError(
                f"{spec.label}: no camera could be opened there. Check that a camera is "
                "connected and powered, that the index is right (0 is the first; "
                "`v4l2-ctl --list-devices` lists them on Linux), that this user may open it "
                "(group `video`) and that no other program holds it"
            )
        if spec.kind == "url":
            raise SourceError(
                f"{spec.label}: OpenCV's FFmpeg backend could not open this stream within "
                f"{self.timeout_s:g} s. Check the address, port, path and credentials, that the "
                "sender is running and reachable from here (try the URL in ffplay or VLC), "
                "and that it serves a format FFmpeg reads (RTSP, MJPEG over HTTP, MPEG-TS, ...)"
            )
        raise SourceError(
            f"{spec.label}: OpenCV cannot open this file as a video (not a video, truncated, "
            "or a codec this OpenCV build lacks). Check that it plays in ffplay or VLC; image "
            f"files are read as one frame when they end in {', '.join(IMAGE_SUFFIXES)}"
        )

    def read(self) -> RawRead:
        ok, bgr = self._cap.read()
        wall_ms = (time.monotonic() - self._t0) * 1000.0
        if not ok:
            return RawRead("lost" if self.spec.live else "end", source=self.spec.label)
        rgb = decoded_to_rgb(bgr)
        if rgb is None:
            reason = f"{self.spec.label}: the decoder returned an unusable frame, skipped"
            return RawRead("corrupt", timestamp_ms=wall_ms, source=self.spec.label, reason=reason)
        ts = wall_ms
        if self.spec.kind == "file":
            pos = self._cap.get(cv2.CAP_PROP_POS_MSEC)
            ts = float(pos) if math.isfinite(pos) and pos >= 0 else wall_ms
        return RawRead("frame", rgb, ts, self.spec.label)

    def reopen(self) -> None:
        """Releases the capture and opens the same spec again (raises SourceError if it can't)."""
        self._cap.release()
        self._cap = self._open()

    def close(self) -> None:
        self._cap.release()


class ImageFilesReader:
    """The image files of a folder (sorted by name, non-recursive) or one image file.

    Files that do not decode (corrupt, truncated, not an image) or are smaller than
    :data:`jndtf.io.MIN_SIDE` pixels on a side are reported as ``"corrupt"`` with the reason
    (which names the file) and skipped; images keep their own size here (the source makes
    every frame the size of the first, or ``size=``, by its ``size_change`` policy).

    Raises:
        SourceError: the folder holds no image file, or none of them decodes.
    """

    def __init__(self, spec: SourceSpec) -> None:
        self.spec = spec
        self.fps: float | None = None
        self._t0 = time.monotonic()
        if spec.kind == "folder":
            self.paths = list(iter_images(spec.target))
            if not self.paths:
                raise SourceError(
                    f"{spec.label}: this folder holds no image files (looked for "
                    f"{', '.join(IMAGE_SUFFIXES)}, not in sub-folders)"
                )
        else:
            self.paths = [Path(spec.target)]
        self._next = 0
        self.expected_frames: int | None = None
        self._first: tuple[int, np.ndarray] | None = None
        reasons = []
        for i, path in enumerate(self.paths):
            image, reason = self._load(path)
            if image is not None:
                self._first = (i, image)
                break
            reasons.append(reason)
        if self._first is None:
            if spec.kind == "folder":
                first = f" ({reasons[0]})" if reasons else ""
                raise SourceError(
                    f"{spec.label}: none of its {len(self.paths)} image files can be used "
                    f"(corrupt, truncated, not images, or under {MIN_SIDE}x{MIN_SIDE} pixels)"
                    f"{first}; check them with an image viewer"
                )
            raise SourceError(reasons[0] if reasons else f"{spec.label}: cannot be read")
        h, w = self._first[1].shape[:2]
        self.frame_size: tuple[int, int] | None = (w, h)
        self._skipped_before_first = [
            (str(p), r) for p, r in zip(self.paths, reasons, strict=False)
        ]

    @staticmethod
    def _load(path: Path) -> tuple[np.ndarray | None, str]:
        """(image, "") or (None, why it cannot be used, naming the file)."""
        try:
            image = load_image(path)
        except ImageError as err:
            return None, str(err)
        except OSError as err:
            return None, f"{path}: cannot be read ({err.strerror or err})"
        if image.dtype != np.uint8:
            return None, f"{path}: not an 8/16-bit image ({image.dtype}), skipped"
        return image, ""

    def read(self) -> RawRead:
        if self._next >= len(self.paths):
            return RawRead("end", source=self.spec.label)
        i = self._next
        self._next += 1
        path = self.paths[i]
        reason = ""
        if self._first is not None and self._first[0] == i:
            image, self._first = self._first[1], None
        elif self._first is not None:  # a file before the first usable one: already tried
            image, reason = None, self._skipped_before_first[i][1]
        else:
            image, reason = self._load(path)
        ts = (time.monotonic() - self._t0) * 1000.0
        if image is None:
            return RawRead("corrupt", timestamp_ms=ts, source=str(path), reason=reason)
        return RawRead("frame", image, ts, str(path))

    def reopen(self) -> None:
        raise SourceError(f"{self.spec.label}: image files cannot be reopened")

    def close(self) -> None:
        self._first = None


def open_reader(spec: SourceSpec, *, timeout_s: float = 10.0) -> CaptureReader | ImageFilesReader:
    """The reader for a resolved spec (opens it now; raises :class:`SourceError` if it can't)."""
    if spec.kind == "folder" or spec.single_image:
        return ImageFilesReader(spec)
    return CaptureReader(spec, timeout_s=timeout_s)
