"""What a source spec names: a camera, a video or image file, a folder of images, or a stream URL.

Rules, in this order:

1. an ``int`` or a string of digits -> camera index (``0`` is the first camera);
   an existing character device such as ``/dev/video2`` -> that camera;
2. a string starting with ``rtsp://``, ``rtsps://``, ``rtmp://``, ``http://``, ``https://``,
   ``udp://``, ``tcp://`` or ``srt://`` -> network stream, read by OpenCV's FFmpeg backend;
3. an existing folder -> its image files (non-recursive, sorted by name);
4. an existing file -> a video, or one frame if its suffix is an image suffix (``.png``, ...);
5. anything else -> :class:`SourceError`.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from jndtf.edge.sources.frame import SourceError

from jndtf.io import IMAGE_SUFFIXES

#: URL schemes handed to OpenCV's FFmpeg backend as network streams.
URL_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt")

#: The values of ``src.kind``.
KINDS = ("camera", "file", "url", "folder")


@dataclass(frozen=True)
class SourceSpec:
    """A resolved spec.

    Attributes:
        kind: ``"camera"``, ``"file"``, ``"url"`` or ``"folder"``.
        target: what OpenCV opens: a camera index (int), a device path, a file path or a URL.
        label: how messages and :attr:`Frame.source` name it (a URL's password is shown as
            ``***``).
        single_image: a file that is one image, not a video.
    """

    kind: str
    target: int | str
    label: str
    single_image: bool = False

    @property
    def live(self) -> bool:
        """Cameras and streams are live: frames come at the sender's pace and can be lost."""
        return self.kind in ("camera", "url")


def redact_url(url: str) -> str:
    """The URL with its password replaced by ``***`` (for messages and :attr:`Frame.source`).

    Example:
        >>> redact_url("rtsp://admin:secret@10.0.0.5:554/live")
        'rtsp://admin:***@10.0.0.5:554/live'
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.netloc.rsplit('@', 1)[1]}"
    return urlunsplit(parts._replace(netloc=netloc))


def parse_spec(spec: int | str | os.PathLike) -> SourceSpec:
    """Resolves a source spec (rules in the module docstring).

    Raises:
        SourceError: a negative camera index, or a path that does not exist.

    Example:
        >>> parse_spec(0).kind, parse_spec("rtsp://10.0.0.5/live").kind
        ('camera', 'url')
    """
    if isinstance(spec, bool) or not isinstance(spec, int | str | os.PathLike):
        raise SourceError(
            f"source spec {spec!r}: expected a camera index (int), a file or folder path, "
            "or a stream URL (rtsp://, http://, ...)"
        )
    if isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdigit()):
        index = int(spec)
        if index < 0:
            raise SourceError(f"camera {index}: camera indices start at 0")
        return SourceSpec("camera", index, f"camera {index}")
    text = os.fspath(spec)
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme in URL_SCHEMES:
        return SourceSpec("url", text, redact_url(text))
    if scheme:
        raise SourceError(
            f"{text}: unsupported URL scheme {scheme!r}; streams must start with one of "
            f"{', '.join(s + '://' for s in URL_SCHEMES)}"
        )
    path = Path(text).expanduser()
    if path.is_dir():
        return SourceSpec("folder", str(path), str(path))
    if path.is_file():
        single = path.suffix.lower() in IMAGE_SUFFIXES
        return SourceSpec("file", str(path), str(path), single_image=single)
    if path.exists() and stat.S_ISCHR(path.stat().st_mode):
        return SourceSpec("camera", str(path), str(path))
    raise SourceError(
        f"{text}: no such file or folder. A source is a camera index (0, 1, ...), a video or "
        "image file, a folder of images, or a stream URL (rtsp://, http://, udp://, tcp://); "
        "check the path and the current directory"
    )
