"""Frame encoders of the edge stream: JPEG (OpenCV) and H.264 (libx264 through PyAV).

Both report the size of every coded frame in bytes, so a stream can compare the same encoder at
the same settings with and without JND-guided pre-processing (eq. (14) of hmJND-Net), and both
can hand back the decoded frame, so its quality against the original can be measured.

Sizes are ``(width, height)`` (as everywhere in :mod:`jndtf.edge`); frames are ``HxWx3``.

One interface for both: ``encode(frame_rgb, index) -> list[EncodedFrame]`` returns the frames
whose coding finished during that call (H.264 may return earlier frames, or none, when the
encoder looks ahead or uses B-frames; JPEG always returns the frame just given),
``flush() -> list[EncodedFrame]`` returns the rest, ``close()`` flushes, finishes the output file
and frees the codec. Context managers.

- :class:`JpegEncoder`: ``cv2.imencode(".jpg")`` at a quality 1..100 (4:2:0 chroma, OpenCV's
  libjpeg defaults); optionally each frame written to ``FOLDER/NNNNNN.jpg`` (atomic writes).
- :class:`H264Encoder`: libx264 with a CRF and a preset (default tune ``zerolatency``: no
  look-ahead and no B-frames, one packet out per frame in, as a live stream wants); the frame's
  bytes are the sizes of the packets whose pts is that frame's. With a path, the packets are
  muxed into a *fragmented* MP4 (``movflags=frag_keyframe+empty_moov``, a fragment at every
  keyframe and at least every :data:`FRAGMENT_SECONDS`) written under a temporary name
  (``.NAME.XXXX.mp4.partial``, locked while written) and renamed on :meth:`close`: the file
  that appears is complete and playable (cv2, PyAV, any player), and a run killed with
  ``kill -9`` leaves a partial file that plays up to its last fragment. With ``path=None``
  nothing is written (the byte counts of the comparison encode).

:func:`clean_stale_partials` is what the next run into the same folder does with the partial
files of a killed run: a partial H.264 recording that still plays is kept under a visible name
(``NAME.interrupted-YYYYmmddTHHMMSSZ.mp4``), anything else (OpenCV map/preview videos, whose
index is written only at the end; unfinished atomic writes) is removed; a partial file another
live run holds locked is left alone.

Example:
    >>> with H264Encoder("out.mp4", fps=30, size=(640, 360), crf=23) as enc:
    ...     for i, frame in enumerate(frames):
    ...         for coded in enc.encode(frame, i):
    ...             print(coded.index, coded.nbytes)
    ...     rest = enc.flush()
"""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from jndtf.codecs.video import H264_PRESETS  # one list, in the core


def _temporary_beside(path: Path, suffix: str) -> str:
    """A new empty file in `path`'s folder (created) with the usual permissions (``mkstemp``
    makes 0600), for writing `path` under a temporary name and renaming it on completion."""
    from jndtf.io import _UMASK

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=suffix)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
    finally:
        os.close(fd)
    return tmp


#: Longest stretch (seconds) of an H.264 recording in one MP4 fragment: what a killed run loses
#: at most (besides the frames still inside the encoder).
FRAGMENT_SECONDS = 1.0

#: Muxer options of the recorded MP4 (module docstring).
FRAGMENTED_MP4 = {
    "movflags": "frag_keyframe+empty_moov+default_base_moof",
    "frag_duration": str(int(FRAGMENT_SECONDS * 1_000_000)),
    "flush_packets": "1",
}

#: Live-stream encoder defaults, written once: JPEG quality, x264 CRF, preset and tune
#: (``zerolatency``: one packet per frame, no look-ahead). StreamSettings and make_encoder
#: read them.
DEFAULT_JPEG_QUALITY = 90
DEFAULT_CRF = 23
DEFAULT_PRESET = "veryfast"
DEFAULT_TUNE = "zerolatency"

#: libx264 tunes accepted by :class:`H264Encoder` (None = x264's default).
H264_TUNES = ("film", "animation", "grain", "stillimage", "fastdecode", "zerolatency")


@dataclass(frozen=True)
class EncodedFrame:
    """One coded frame.

    Attributes:
        index: the frame's index as given to ``encode``.
        nbytes: its coded size in bytes (JPEG file size; H.264: the sizes of its packets;
            the SPS/PPS parameter sets, a few tens of bytes stored once in the MP4 header,
            are not counted, with or without a file).
        keyframe: an intra-coded frame (always true for JPEG).
        decoded: the decoded frame, uint8 RGB ``HxWx3``, when the encoder was made with
            ``decode=True``; else None.
    """

    index: int
    nbytes: int
    keyframe: bool
    decoded: np.ndarray | None = None


def _check_frame(frame: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    a = np.asarray(frame)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"encoders take uint8 RGB HxWx3 frames, got {a.dtype} {a.shape}")
    if size is not None and (a.shape[1], a.shape[0]) != tuple(size):
        raise ValueError(
            f"frame is {a.shape[1]}x{a.shape[0]} but the encoder was opened for "
            f"{size[0]}x{size[1]} (width x height); every frame of a stream must have one size"
        )
    return a


class JpegEncoder:
    """Every frame as a baseline JPEG by OpenCV (``cv2.imencode``), at one quality.

    Args:
        quality: JPEG quality 1..100 (OpenCV's default is 95).
        decode: decode each JPEG back (``cv2.imdecode``) into :attr:`EncodedFrame.decoded`.
        folder: if given, each frame is also written to ``folder/NNNNNN.jpg`` (atomic writes).

    Example:
        >>> (coded,) = JpegEncoder(90).encode(frame, 0)
        >>> coded.nbytes
        41233
    """

    codec = "jpeg"

    def __init__(
        self,
        quality: int = DEFAULT_JPEG_QUALITY,
        *,
        decode: bool = True,
        folder: str | os.PathLike | None = None,
    ) -> None:
        if not isinstance(quality, (int, np.integer)) or not 1 <= quality <= 100:
            raise ValueError(f"JPEG quality must be an integer 1..100, got {quality!r}")
        self.quality = int(quality)
        self.decode = decode
        self.folder = Path(folder) if folder is not None else None
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
        self._params = [cv2.IMWRITE_JPEG_QUALITY, self.quality]
        self.closed = False

    @property
    def settings(self) -> dict:
        """The settings that define the bitstream (for reports)."""
        return {"codec": "jpeg", "quality": self.quality}

    def encode_bytes(self, frame: np.ndarray) -> bytes:
        """The JPEG file of one uint8 RGB frame."""
        a = _check_frame(frame)
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(a, cv2.COLOR_RGB2BGR), self._params)
        if not ok:
            raise RuntimeError("OpenCV could not JPEG-encode the frame")
        return buf.tobytes()

    def encode(self, frame: np.ndarray, index: int) -> list[EncodedFrame]:
        """Codes one frame; returns it as a one-element list."""
        if self.closed:
            raise RuntimeError("JpegEncoder is closed")
        data = self.encode_bytes(frame)
        decoded = None
        if self.decode:
            bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            decoded = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        if self.folder is not None:
            from jndtf.io import atomic_write_bytes

            atomic_write_bytes(self.folder / f"{int(index):06d}.jpg", data)
        return [EncodedFrame(int(index), len(data), True, decoded)]

    def flush(self) -> list[EncodedFrame]:
        """JPEG holds nothing back: always empty."""
        return []

    def close(self) -> list[EncodedFrame]:
        """Marks the encoder closed (idempotent); returns nothing pending."""
        self.closed = True
        return []

    def __enter__(self) -> JpegEncoder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _import_av():
    try:
        import av
    except ImportError as err:
        raise ImportError(
            "H.264 encoding needs PyAV (FFmpeg with libx264), which is not installed: run "
            'pip install "jndtf[edge]" (or pip install av), or use the JPEG codec'
        ) from err
    return av


class H264Encoder:
    """H.264 by libx264 through PyAV at a constant rate factor; per-frame coded bytes.

    Frames get ``pts = index`` in a time base of ``1 / fps``; a packet's bytes are counted for
    the frame with its pts (x264 emits one packet per frame). With ``decode=True`` an FFmpeg
    H.264 decoder decodes the packets in step, so each :class:`EncodedFrame` carries the exact
    picture a player shows.

    Args:
        path: the ``.mp4`` to write (folder created), or None to write nothing.
        fps: frame rate (the MP4's timing; with ``crf`` it does not change the quality).
        size: ``(width, height)`` of every frame, both even (4:2:0 chroma).
        crf: libx264 constant rate factor 0..51 (lower = better quality, more bytes; 23 is
            x264's default).
        preset: libx264 preset (:data:`H264_PRESETS`; speed against bytes).
        tune: libx264 tune (:data:`H264_TUNES`) or None; ``"zerolatency"`` (default) codes
            each frame as it arrives.
        decode: decode the packets back into :attr:`EncodedFrame.decoded`.
        threads: encoder threads (0 = libx264's choice).
        gop: frames between keyframes (None = libx264's default, 250).

    Raises:
        ImportError: PyAV is not installed (the message names the pip command).
        ValueError: bad settings.

    Example:
        >>> enc = H264Encoder(None, fps=30, size=(640, 360), crf=28, decode=False)
        >>> sizes = [c.nbytes for f_i, f in enumerate(frames) for c in enc.encode(f, f_i)]
        >>> sizes += [c.nbytes for c in enc.close()]
    """

    codec = "h264"

    def __init__(
        self,
        path: str | os.PathLike | None,
        *,
        fps: float,
        size: tuple[int, int],
        crf: float = DEFAULT_CRF,
        preset: str = DEFAULT_PRESET,
        tune: str | None = DEFAULT_TUNE,
        decode: bool = True,
        threads: int = 1,
        gop: int | None = None,
    ) -> None:
        w, h = (int(v) for v in size)
        if w < 2 or h < 2 or w % 2 or h % 2:
            raise ValueError(
                f"H.264 (4:2:0) needs an even width and height, got {w}x{h}; resize or crop "
                "the stream (e.g. --size) to even numbers"
            )
        if not (isinstance(fps, (int, float)) and 0 < fps <= 1000):
            raise ValueError(f"fps must be a number in (0, 1000], got {fps!r}")
        if not (isinstance(crf, (int, float)) and 0 <= crf <= 51):
            raise ValueError(f"crf must be a number 0..51, got {crf!r}")
        if preset not in H264_PRESETS:
            choices = ", ".join(H264_PRESETS)
            raise ValueError(f"unknown x264 preset {preset!r}; choose from {choices}")
        if tune is not None and tune not in H264_TUNES:
            raise ValueError(f"unknown x264 tune {tune!r}; choose from {', '.join(H264_TUNES)}")
        if gop is not None and (not isinstance(gop, int) or gop < 1):
            raise ValueError(f"gop must be a positive integer, got {gop!r}")
        av = _import_av()
        self._av = av
        self.size = (w, h)
        self.fps = float(fps)
        self.crf = crf
        self.preset = preset
        self.tune = tune
        self.decode = decode
        self.path = Path(path) if path is not None else None
        self.closed = False
        self._pending: dict[int, list] = {}  # pts -> [nbytes, keyframe] of packets not decoded
        self._rate = Fraction(self.fps).limit_denominator(1001)
        options = {"crf": f"{crf:g}", "preset": preset}
        if tune is not None:
            options["tune"] = tune
        if gop is not None:
            options["g"] = str(gop)
        self._container = None
        self._tmp: str | None = None
        self._lock_fd: int | None = None
        if self.path is not None:
            self._tmp = _temporary_beside(self.path, ".mp4.partial")
            self._lock_fd = _lock(self._tmp)
            self._container = av.open(self._tmp, "w", format="mp4", options=FRAGMENTED_MP4)
            stream = self._container.add_stream("libx264", rate=self._rate)
            ctx = stream.codec_context
        else:
            stream = None
            ctx = av.CodecContext.create("libx264", "w")
            ctx.framerate = self._rate
            # SPS/PPS out of band, as in the MP4 (whose muxer sets this flag): a frame's bytes
            # then count the same with and without a file, so the comparison is like for like
            ctx.flags |= int(av.codec.context.Flags.global_header)
        ctx.width, ctx.height = w, h
        ctx.pix_fmt = "yuv420p"
        ctx.time_base = 1 / self._rate
        ctx.thread_count = int(threads)
        ctx.options = options
        self._stream, self._ctx = stream, ctx
        self._decoder = av.CodecContext.create("h264", "r") if decode else None
        self._decoded: dict[int, np.ndarray] = {}

    @property
    def settings(self) -> dict:
        """The settings that define the bitstream (for reports)."""
        return {"codec": "h264", "crf": self.crf, "preset": self.preset, "tune": self.tune}

    def _send(self, frame) -> list:
        coder = self._stream if self._stream is not None else self._ctx
        return list(coder.encode(frame))

    def _collect(self, packets: list) -> list[EncodedFrame]:
        for packet in packets:
            if packet.pts is None:
                raise RuntimeError("libx264 returned a packet without a timestamp")
            index = int(packet.pts)
            entry = self._pending.setdefault(index, [0, False])
            entry[0] += int(packet.size)
            entry[1] = entry[1] or bool(packet.is_keyframe)
            if self._decoder is not None:
                if self._decoder.extradata is None and self._ctx.extradata is not None:
                    self._decoder.extradata = self._ctx.extradata  # SPS/PPS of the MP4 header
                for picture in self._decoder.decode(packet):
                    self._decoded[int(picture.pts)] = picture.to_ndarray(format="rgb24")
            if self._container is not None:
                self._container.mux(packet)
        return self._ready()

    def _ready(self, final: bool = False) -> list[EncodedFrame]:
        """Frames whose bytes are known and (when decoding) whose picture is out, in order."""
        done = []
        for index in sorted(self._pending):
            if self._decoder is not None and index not in self._decoded and not final:
                continue
            nbytes, key = self._pending.pop(index)
            done.append(EncodedFrame(index, nbytes, key, self._decoded.pop(index, None)))
        return done

    def encode(self, frame: np.ndarray, index: int) -> list[EncodedFrame]:
        """Sends one uint8 RGB frame; returns the frames whose coding (and decoding) finished."""
        if self.closed:
            raise RuntimeError("H264Encoder is closed")
        a = _check_frame(frame, self.size)
        picture = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(a), format="rgb24")
        picture.pts = int(index)
        return self._collect(self._send(picture))

    def flush(self) -> list[EncodedFrame]:
        """Drains the encoder (and decoder): every frame still held back, in order. After a
        flush the encoder accepts no more frames (libx264 cannot restart), so call it last."""
        if self.closed:
            return []
        frames = self._collect(self._send(None))
        if self._decoder is not None:
            for picture in self._decoder.decode(None):
                self._decoded[int(picture.pts)] = picture.to_ndarray(format="rgb24")
        self.closed = True
        return frames + self._ready(final=True)

    def close(self) -> list[EncodedFrame]:
        """Flushes, finishes the MP4 (moov atom) and renames it into place; idempotent.

        Returns:
            the frames still held back by the encoder (empty after :meth:`flush`).
        """
        frames: list[EncodedFrame] = []
        try:
            if not self.closed:
                frames = self.flush()
        finally:
            self.closed = True
            if self._container is not None:
                container, self._container = self._container, None
                try:
                    container.close()
                    os.replace(self._tmp, self.path)
                finally:
                    if self._tmp is not None and os.path.exists(self._tmp):
                        os.unlink(self._tmp)
                    self._unlock()
        return frames

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            fd, self._lock_fd = self._lock_fd, None
            os.close(fd)  # closing the descriptor releases the flock

    def abort(self) -> None:
        """Drops the output without finishing it (the temporary file is removed)."""
        self.closed = True
        if self._container is not None:
            container, self._container = self._container, None
            try:
                container.close()
            except Exception:  # the half-written file is removed below either way
                pass
            if self._tmp is not None and os.path.exists(self._tmp):
                os.unlink(self._tmp)
            self._unlock()

    def __enter__(self) -> H264Encoder:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None or issubclass(exc_type, KeyboardInterrupt):
            self.close()
        else:
            self.abort()


def _lock(path: str) -> int:
    """An exclusive flock on `path` held by the returned descriptor (released by the kernel
    when the process dies, even by ``kill -9``): marks a partial file as being written."""
    fd = os.open(path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def _in_use(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return True  # vanished or unreadable: leave it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # also drops the lock just taken
    return False


#: Temporary names of the stream's outputs: H.264 recordings (``.NAME.XXXX.mp4.partial``),
#: OpenCV map/preview videos (``.NAME.XXXX.partial.mp4``) and :func:`jndtf.io.atomic_write_bytes`
#: files (``.NAME.XXXX.tmp``).
_PARTIAL = re.compile(r"^\.(?P<stem>.+?)\.[^.]+(?P<kind>\.mp4\.partial|\.partial\.mp4|\.tmp)$")

#: Seconds a partial file must be untouched before a file without a lock (an OpenCV video, an
#: atomic write) counts as stale: another live run writes its files continually.
STALE_AFTER_S = 60.0


def _playable_frames(path: Path) -> int:
    """Frames OpenCV decodes from a (partial) video, counting up to 2 (enough to know)."""
    import cv2

    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        n = 0
        while n < 2 and cap.isOpened() and cap.read()[0]:
            n += 1
        return n
    finally:
        cap.release()


def clean_stale_partials(folder: str | os.PathLike, *, now: float | None = None) -> list[str]:
    """Deals with the partial files a killed run left in `folder` (module docstring).

    H.264 recordings (``.NAME.XXXX.mp4.partial``) not locked by a live run: kept as
    ``NAME.interrupted-<their mtime, UTC>.mp4`` when they play (a fragmented MP4 up to its last
    fragment), removed otherwise. Other partial files (OpenCV videos, atomic writes and JPEG
    frames in sub-folders) untouched for :data:`STALE_AFTER_S`: removed.

    Returns:
        one line per file, saying what was done (for the run's output).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    now = time.time() if now is None else now
    lines = []
    candidates = [p for p in folder.iterdir() if p.is_file()]
    candidates += [
        p for sub in folder.iterdir() if sub.is_dir() for p in sub.glob(".*.tmp") if p.is_file()
    ]
    for path in sorted(candidates):
        m = _PARTIAL.match(path.name)
        if m is None:
            continue
        if m["kind"] == ".mp4.partial":
            if _in_use(path):
                continue
            if _playable_frames(path) > 0:
                stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(path.stat().st_mtime))
                target = path.with_name(f"{m['stem']}.interrupted-{stamp}.mp4")
                os.replace(path, target)
                lines.append(
                    f"{path}: the partial recording of an interrupted run (killed?) plays; "
                    f"kept as {target}"
                )
                continue
        elif now - path.stat().st_mtime < STALE_AFTER_S:
            continue
        path.unlink(missing_ok=True)
        lines.append(f"{path}: removed a stale partial file of an interrupted run")
    return lines


def make_encoder(
    codec: str,
    *,
    quality: int = DEFAULT_JPEG_QUALITY,
    crf: float = DEFAULT_CRF,
    preset: str = DEFAULT_PRESET,
    tune: str | None = DEFAULT_TUNE,
    fps: float = 30.0,
    size: tuple[int, int] | None = None,
    path: str | os.PathLike | None = None,
    decode: bool = True,
    threads: int = 1,
):
    """A :class:`JpegEncoder` (``codec="jpeg"``, `quality`, `path` a folder of JPEGs) or an
    :class:`H264Encoder` (``codec="h264"``, `crf`, `preset`, `tune`, `fps`, `size`, `path` an
    ``.mp4``)."""
    if codec == "jpeg":
        return JpegEncoder(quality, decode=decode, folder=path)
    if codec == "h264":
        if size is None:
            raise ValueError("an H.264 encoder needs the frame size (width, height)")
        return H264Encoder(
            path,
            fps=fps,
            size=size,
            crf=crf,
            preset=preset,
            tune=tune,
            decode=decode,
            threads=threads,
        )
    raise ValueError(f"unknown codec {codec!r}; choose 'jpeg' or 'h264'")


__all__ = [
    "FRAGMENTED_MP4",
    "FRAGMENT_SECONDS",
    "H264_PRESETS",
    "H264_TUNES",
    "EncodedFrame",
    "H264Encoder",
    "JpegEncoder",
    "clean_stale_partials",
    "make_encoder",
]
