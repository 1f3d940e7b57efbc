"""A loopback MJPEG-over-HTTP server for tests: the "network camera" the edge sources read.

Serves ``multipart/x-mixed-replace`` (the format of IP cameras, ``motion``, mjpg-streamer and
ESP32-CAM firmware): one HTTP response per client whose body is an endless run of parts, each
``--BOUNDARY`` + ``Content-Type: image/jpeg`` + ``Content-Length: N`` + a JPEG. OpenCV's FFmpeg
backend reads such a URL as a video stream (its ``mpjpeg`` demuxer).

The frames are JPEG-encoded once at start-up (OpenCV ``imencode``, RGB input converted to BGR)
and sent at a fixed pace. Faults a live stream meets can be switched on:

- ``drop_after=N``: each of the first ``drops`` connections is cut after N frames (the socket
  is shut down, optionally in the middle of a JPEG with ``cut_mid_frame=True``), as when a
  camera reboots or Wi-Fi drops; later connections run normally.
- ``loop=False``: the response ends after the last frame (a finite stream).
- ``close()``: the listening socket goes away, so reconnect attempts are refused.

Example:
    >>> frames = [np.full((64, 96, 3), v, np.uint8) for v in (0, 128, 255)]
    >>> with MJPEGServer(frames, fps=30, drop_after=10) as server:
    ...     cap = cv2.VideoCapture(server.url, cv2.CAP_FFMPEG)
    ...     ok, bgr = cap.read()
    >>> server.connections, server.frames_sent
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np

BOUNDARY = "jndtfframe"


def encode_jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    """uint8 RGB ``HxWx3`` -> JPEG bytes (OpenCV, BGR order inside the file as every decoder
    expects)."""
    arr = np.asarray(rgb)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected a uint8 RGB HxWx3 frame, got {arr.dtype} {arr.shape}")
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(arr, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    )
    if not ok:
        raise RuntimeError("OpenCV could not JPEG-encode a frame")
    return buf.tobytes()


class MJPEGServer:
    """An HTTP MJPEG stream on 127.0.0.1 served from a background thread.

    Args:
        frames: uint8 RGB ``HxWx3`` frames, served in order (and again from the start when
            ``loop`` is true). The position is shared by all connections, like a live camera:
            a client that reconnects sees the frames that follow the last one sent.
        fps: frames per second sent to each client (``0`` = as fast as the socket takes them).
        quality: JPEG quality 1..100.
        loop: repeat the frames forever; if false, each response ends after ``len(frames)``
            parts.
        drop_after: cut each of the first ``drops`` connections after this many frames.
        drops: how many connections are cut (default 1).
        cut_mid_frame: when cutting, first send the part headers and half of the next JPEG.
        path: the URL path served (other paths get 404).

    Attributes:
        url: ``http://127.0.0.1:PORT/PATH``, valid once started.
        connections: how many stream requests were answered with 200.
        frames_sent: JPEG parts sent in full, over all connections.
    """

    def __init__(
        self,
        frames: Sequence[np.ndarray],
        *,
        fps: float = 25.0,
        quality: int = 90,
        loop: bool = True,
        drop_after: int | None = None,
        drops: int = 1,
        cut_mid_frame: bool = False,
        path: str = "/stream.mjpg",
    ) -> None:
        if len(frames) == 0:
            raise ValueError("MJPEGServer needs at least one frame")
        if fps < 0:
            raise ValueError(f"fps must be >= 0, got {fps}")
        if drop_after is not None and drop_after < 0:
            raise ValueError(f"drop_after must be >= 0, got {drop_after}")
        self.jpegs = [encode_jpeg(f, quality) for f in frames]
        self.fps = float(fps)
        self.loop = loop
        self.drop_after = drop_after
        self.drops = int(drops)
        self.cut_mid_frame = cut_mid_frame
        self.path = path if path.startswith("/") else "/" + path
        self.connections = 0
        self.frames_sent = 0
        self._position = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("MJPEGServer is not started: call start() or use it as a context")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}{self.path}"

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("MJPEGServer is not started")
        return int(self._httpd.server_address[1])

    def start(self) -> MJPEGServer:
        """Binds a free port on 127.0.0.1 and serves from a daemon thread."""
        if self._httpd is not None:
            return self
        handler = _make_handler(self)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="mjpeg-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stops serving: open responses end within one frame period, new connections are
        refused. Idempotent."""
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> MJPEGServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- used by the handler ---------------------------------------------------------------

    def _next_jpeg(self) -> tuple[int, bytes]:
        with self._lock:
            k = self._position
            self._position += 1
        return k, self.jpegs[k % len(self.jpegs)]

    def _open_connection(self) -> int:
        with self._lock:
            self.connections += 1
            return self.connections

    def _count_sent(self) -> None:
        with self._lock:
            self.frames_sent += 1


def _part_header(jpeg: bytes) -> bytes:
    return (
        f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
    ).encode("ascii")


def _make_handler(server: MJPEGServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, format, *args):
            pass  # keep pytest output clean

        def do_GET(self):
            if self.path.split("?")[0] != server.path:
                self.send_error(404, f"this test server streams {server.path} only")
                return
            conn = server._open_connection()
            self.send_response(200)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.send_header("Cache-Control", "no-cache, no-store")
            self.send_header("Connection", "close")
            self.end_headers()
            cut = server.drop_after if conn <= server.drops else None
            limit = None if server.loop else len(server.jpegs)
            period = 1.0 / server.fps if server.fps > 0 else 0.0
            sent = 0
            next_t = time.monotonic()
            try:
                while not server._stop.is_set():
                    if limit is not None and sent >= limit:
                        self.wfile.write(f"--{BOUNDARY}--\r\n".encode("ascii"))
                        break
                    _, jpeg = server._next_jpeg()
                    if cut is not None and sent >= cut:
                        if server.cut_mid_frame:
                            self.wfile.write(_part_header(jpeg) + jpeg[: len(jpeg) // 2])
                            self.wfile.flush()
                        self._abort()
                        return
                    self.wfile.write(_part_header(jpeg) + jpeg + b"\r\n")
                    self.wfile.flush()
                    server._count_sent()
                    sent += 1
                    if period:
                        next_t += period
                        delay = next_t - time.monotonic()
                        if delay > 0:
                            server._stop.wait(delay)
                        else:
                            next_t = time.monotonic()
            except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
                pass  # the client went away: normal for a stream

        def _abort(self):
            """Cuts the TCP connection at once (RST where the OS allows), like a lost link."""
            try:
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
            except OSError:
                pass
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.close_connection = True

    return _Handler
