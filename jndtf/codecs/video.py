"""H.264 of a clip (a list of RGB frames) by libx264 through PyAV, for rate-quality sweeps.

One call codes the whole clip at a CRF and a preset with x264 parameters, and decodes it back with
FFmpeg's H.264 decoder, so every frame's quality can be measured against the original. Unlike the
live-stream encoder of :mod:`jndtf.edge.encoders` (tune ``zerolatency``), this one keeps x264's
normal look-ahead and B-frames, as an offline encode of the same clip would.

The anchors a user would pick instead of JND pre-processing (:data:`X264_ANCHORS`): x264 with no
perceptual tools (``aq-mode=0:psy=0``, the "plain" encoder), psy-rd alone, and each adaptive
quantization mode with x264's default psy-rd (``aq-mode=1`` is x264's default).

Example:
    >>> clip = encode_h264(frames, crf=23, preset="medium", x264_params="aq-mode=0:psy=0")
    >>> clip.nbytes, len(clip.decoded)
    (81234, 30)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

#: libx264 presets, fastest first (x264 --fullhelp); the edge's live-stream encoder
#: (:mod:`jndtf.edge.encoders`) takes the same names.
#: The x264 preset of offline sweeps and `jndtf compress` on clips (quality over speed).
SWEEP_PRESET = "medium"

H264_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)

#: The plain x264 (no adaptive quantization, no psycho-visual rate-distortion).
X264_PLAIN = "aq-mode=0:psy=0"

#: Anchor name -> x264 parameters (``x264 --fullhelp``); ``x264-plain`` is what methods are
#: measured against.
X264_ANCHORS = {
    "x264-plain": X264_PLAIN,
    "x264-psy": "aq-mode=0",
    "x264-aq1": "aq-mode=1",
    "x264-aq2": "aq-mode=2",
    "x264-aq3": "aq-mode=3",
}


class VideoError(ValueError):
    """A clip the encoder cannot take (the message names the frame)."""


@dataclass(frozen=True)
class EncodedClip:
    """A coded clip: the H.264 elementary stream's ``nbytes``, the bytes of each frame
    (``frame_bytes``, display order, headers in the first), the ``decoded`` frames (uint8 RGB,
    display order) and the settings."""

    nbytes: int
    frame_bytes: tuple[int, ...]
    decoded: list[np.ndarray] = field(repr=False)
    settings: dict = field(default_factory=dict)

    def kbps(self, fps: float) -> float:
        """Average rate in kbit/s at `fps` frames per second."""
        return 8.0 * self.nbytes * fps / len(self.frame_bytes) / 1000.0


def _import_av():
    try:
        import av
    except ImportError as err:
        raise ImportError(
            "H.264 needs PyAV (FFmpeg with libx264), which is not installed: run "
            'pip install "jndtf[edge]" (or pip install av)'
        ) from err
    return av


def check_clip(frames: Sequence[np.ndarray]) -> tuple[int, int]:
    """(height, width) of a clip whose frames are all uint8 RGB of one even size.

    Raises:
        VideoError: no frames, a frame that is not uint8 RGB, an odd side, or a frame whose
            size differs from frame 0's (the message gives its index and both sizes).
    """
    if len(frames) == 0:
        raise VideoError("the clip has no frames")
    h = w = None
    for i, f in enumerate(frames):
        a = np.asarray(f)
        if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
            raise VideoError(f"frame {i} is not uint8 RGB HxWx3 (got {a.dtype} {a.shape})")
        if h is None:
            h, w = a.shape[:2]
            if h % 2 or w % 2:
                raise VideoError(f"frame 0 is {w}x{h}; H.264 4:2:0 needs even sides: crop the clip")
        elif a.shape[:2] != (h, w):
            raise VideoError(
                f"frame {i} is {a.shape[1]}x{a.shape[0]} but frame 0 is {w}x{h}: every frame "
                "of a clip must have one size"
            )
    return h, w


def encode_h264(
    frames: Sequence[np.ndarray],
    crf: float,
    *,
    preset: str = SWEEP_PRESET,
    x264_params: str = X264_PLAIN,
    fps: float = 30.0,
    threads: int = 1,
) -> EncodedClip:
    """Codes a clip with libx264 at a CRF and decodes it back.

    Args:
        frames: uint8 RGB ``HxWx3`` frames of one even size.
        crf: constant rate factor 0..51 (lower = more bytes, better quality).
        preset: x264 preset (``medium`` is x264's default).
        x264_params: ``key=value:key=value`` x264 options (e.g. :data:`X264_ANCHORS` values).
        fps: frame rate (sets the time base; with CRF it changes rate control only slightly).
        threads: encoder threads (1 = deterministic, the setting sweeps use).

    Raises:
        VideoError: an empty clip, odd or changing frame size (names the frame index).
        ValueError: a CRF out of range.
        ImportError: PyAV is missing.
    """
    h, w = check_clip(frames)
    if not (isinstance(crf, (int, float)) and 0 <= crf <= 51):
        raise ValueError(f"crf must be a number 0..51, got {crf!r}")
    if preset not in H264_PRESETS:
        raise ValueError(f"unknown x264 preset {preset!r}; choose from {', '.join(H264_PRESETS)}")
    av = _import_av()
    rate = Fraction(float(fps)).limit_denominator(1001)
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height = w, h
    enc.pix_fmt = "yuv420p"
    enc.framerate = rate
    enc.time_base = 1 / rate
    enc.thread_count = int(threads)
    enc.options = {"crf": f"{crf:g}", "preset": preset, "x264-params": x264_params}
    dec = av.CodecContext.create("h264", "r")
    sizes: dict[int, int] = {}
    decoded: dict[int, np.ndarray] = {}

    def collect(packets) -> None:
        for packet in packets:
            sizes[int(packet.pts)] = sizes.get(int(packet.pts), 0) + int(packet.size)
            for picture in dec.decode(packet):
                decoded[int(picture.pts)] = picture.to_ndarray(format="rgb24")

    for i, f in enumerate(frames):
        picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
        picture.pts = i
        collect(enc.encode(picture))
    collect(enc.encode(None))
    for picture in dec.decode(None):
        decoded[int(picture.pts)] = picture.to_ndarray(format="rgb24")
    n = len(frames)
    if sorted(decoded) != list(range(n)):
        raise RuntimeError(f"libx264 round trip returned {len(decoded)} of {n} frames")
    frame_bytes = tuple(sizes.get(i, 0) for i in range(n))
    settings = {"codec": "h264", "crf": crf, "preset": preset, "x264_params": x264_params}
    return EncodedClip(sum(frame_bytes), frame_bytes, [decoded[i] for i in range(n)], settings)
