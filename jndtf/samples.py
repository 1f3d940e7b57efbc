"""Sample data jndtf ships or generates: nothing is downloaded.

- :func:`sample_images`: real colour photographs bundled inside scikit-image's wheel
  (``skimage/data/*.png|jpg``, no pooch download), as uint8 RGB ``HxWx3``.
- :func:`write_samples`: the same photos written as PNG files, for the CLI and examples.
- :func:`clip_frames` / :func:`synthesize_clip`: a short synthesized "camera" clip, a slow pan
  and zoom over those photos with a hard scene cut between photos, deterministic frame for frame,
  to test video sources, temporal reuse and scene-cut handling with no video file in the repository.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

#: The bundled real colour photographs (name -> pixel size HxW), all shipped in scikit-image's
#: wheel: astronaut (NASA), chelsea (a cat), coffee (a cup), rocket (a launch), motorcycle_left
#: (left view of the Middlebury 2014 "motorcycle" stereo pair).
SAMPLE_NAMES = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle_left")

#: The photos the synthesized clip cycles through, one scene each.
CLIP_SCENES = ("astronaut", "coffee", "chelsea", "rocket", "motorcycle_left")


def _load(name: str) -> np.ndarray:
    import skimage.data as skd

    if name not in SAMPLE_NAMES:
        raise ValueError(f"unknown sample {name!r}; available: {', '.join(SAMPLE_NAMES)}")
    img = skd.stereo_motorcycle()[0] if name == "motorcycle_left" else getattr(skd, name)()
    img = np.asarray(img)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise RuntimeError(f"scikit-image's {name} is {img.dtype} {img.shape}, not uint8 RGB")
    return np.ascontiguousarray(img)


def sample_image(name: str) -> np.ndarray:
    """One bundled photo as uint8 RGB ``HxWx3`` (names in :data:`SAMPLE_NAMES`)."""
    return _load(name)


def sample_images(names: Sequence[str] = SAMPLE_NAMES) -> dict[str, np.ndarray]:
    """The bundled real colour photos, read from scikit-image's wheel (no download).

    Args:
        names: which photos, from :data:`SAMPLE_NAMES` (default: all five).

    Returns:
        dict name -> uint8 RGB ``HxWx3`` array (fresh copies, safe to modify).

    Example:
        >>> imgs = sample_images()
        >>> imgs["astronaut"].shape, imgs["astronaut"].dtype
        ((512, 512, 3), dtype('uint8'))
    """
    return {name: _load(name) for name in names}


def write_samples(folder: str | os.PathLike, names: Sequence[str] = SAMPLE_NAMES) -> list[Path]:
    """Writes the bundled photos as ``<folder>/<name>.png`` (lossless, atomic writes).

    Returns:
        The written paths, in the order of `names`.
    """
    from jndtf.io import save_image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, img in sample_images(names).items():
        path = folder / f"{name}.png"
        save_image(path, img)
        paths.append(path)
    return paths


@dataclass(frozen=True)
class ClipInfo:
    """What :func:`synthesize_clip` wrote.

    Attributes:
        path: the mp4 file.
        frames: number of frames.
        fps: frames per second.
        size: ``(width, height)`` in pixels, OpenCV's order.
        cuts: indices of the frames that start a new scene (the first frame, 0, excluded).
        scenes: the photo shown in each scene, in order.
    """

    path: Path
    frames: int
    fps: float
    size: tuple[int, int]
    cuts: tuple[int, ...]
    scenes: tuple[str, ...]


def _check_clip_args(seconds: float, fps: float, size: tuple[int, int], scene_seconds: float):
    w, h = (int(v) for v in size)
    if w < 16 or h < 16 or w % 2 or h % 2:
        raise ValueError(f"size must be (width, height), even and >= 16, got {size}")
    n = round(seconds * fps)
    if fps <= 0 or n < 1:
        raise ValueError(f"seconds={seconds} at fps={fps} gives no frame")
    per_scene = max(1, round(scene_seconds * fps))
    return w, h, n, per_scene


def clip_plan(
    *,
    seconds: float = 3.0,
    fps: float = 15.0,
    size: tuple[int, int] = (640, 360),
    scene_seconds: float = 1.0,
    scenes: Sequence[str] = CLIP_SCENES,
) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """The scene cuts (frame indices) and the photo of each scene of :func:`clip_frames`."""
    _, _, n, per_scene = _check_clip_args(seconds, fps, size, scene_seconds)
    count = -(-n // per_scene)
    cuts = tuple(range(per_scene, n, per_scene))
    return cuts, tuple(scenes[i % len(scenes)] for i in range(count))


def clip_frames(
    *,
    seconds: float = 3.0,
    fps: float = 15.0,
    size: tuple[int, int] = (640, 360),
    scene_seconds: float = 1.0,
    scenes: Sequence[str] = CLIP_SCENES,
) -> Iterator[np.ndarray]:
    """Yields the frames of the synthesized camera clip in memory (uint8 RGB ``HxWx3``).

    Each scene shows one photo through a virtual camera of the clip's aspect ratio that pans
    diagonally over the photo and zooms in from 1.0x to 1.15x (sub-pixel motion by an affine
    warp, bilinear); scenes last `scene_seconds` and follow each other with a hard cut, cycling
    through `scenes`. Fully deterministic: the same arguments give bit-identical frames.

    Args:
        seconds: clip length; ``round(seconds * fps)`` frames.
        fps: frame rate.
        size: ``(width, height)`` of the frames (OpenCV's order), even numbers.
        scene_seconds: length of one scene (a cut every ``round(scene_seconds * fps)`` frames).
        scenes: photos from :data:`SAMPLE_NAMES`, used in turn.

    Example:
        >>> frames = list(clip_frames(seconds=1, fps=10, size=(160, 90)))
        >>> len(frames), frames[0].shape
        (10, (90, 160, 3))
    """
    w, h, n, per_scene = _check_clip_args(seconds, fps, size, scene_seconds)
    photos = {name: _load(name) for name in dict.fromkeys(scenes)}
    for i in range(n):
        scene, k = divmod(i, per_scene)
        photo = photos[scenes[scene % len(scenes)]]
        length = min(per_scene, n - scene * per_scene)
        t = k / (length - 1) if length > 1 else 0.0
        yield _camera_view(photo, w, h, t, direction=scene % 2)


def _camera_view(photo: np.ndarray, w: int, h: int, t: float, direction: int) -> np.ndarray:
    ph, pw = photo.shape[:2]
    # The largest window of the output's aspect ratio that fits, shrunk by the zoom.
    base = min(pw / w, ph / h)
    s = base / (1.0 + 0.15 * t)  # source pixels per output pixel
    half_w, half_h = 0.5 * w * s, 0.5 * h * s
    # Pan the window centre over the middle 20 % of the free room, left-to-right or
    # right-to-left per scene, and slightly down.
    u = 0.4 + 0.2 * (t if direction == 0 else 1.0 - t)
    cx = half_w + u * (pw - 2 * half_w)
    cy = half_h + (0.4 + 0.2 * t) * (ph - 2 * half_h)
    # Output pixel (x, y) samples source (cx + (x - w/2 + 0.5) s - 0.5, cy + ...).
    m = np.array(
        [
            [s, 0.0, cx - (0.5 * w - 0.5) * s - 0.5],
            [0.0, s, cy - (0.5 * h - 0.5) * s - 0.5],
        ],
        dtype=np.float64,
    )
    src = photo
    if s > 1.5:  # pre-shrink with area averaging so the bilinear warp does not alias
        src = cv2.resize(photo, None, fx=1.0 / s, fy=1.0 / s, interpolation=cv2.INTER_AREA)
        ry, rx = src.shape[0] / ph, src.shape[1] / pw
        for row, r in ((0, rx), (1, ry)):
            m[row, :2] *= r
            m[row, 2] = (m[row, 2] + 0.5) * r - 0.5
    return cv2.warpAffine(
        src,
        m,
        (w, h),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REFLECT101,
    )


def synthesize_clip(
    path: str | os.PathLike,
    *,
    seconds: float = 3.0,
    fps: float = 15.0,
    size: tuple[int, int] = (640, 360),
    scene_seconds: float = 1.0,
    scenes: Sequence[str] = CLIP_SCENES,
) -> ClipInfo:
    """Writes the synthesized camera clip of :func:`clip_frames` as an MPEG-4 Part 2 file.

    Encoded by ``cv2.VideoWriter`` with the ``mp4v`` FourCC (OpenCV's bundled FFmpeg): lossy, so
    decoded frames are close to, not equal to, :func:`clip_frames`. The default 3 s at 640x360,
    15 fps is well under 1 MB. Written to a temporary file in the same folder, then renamed.

    Returns:
        :class:`ClipInfo` (frame count, size, the frames where scenes cut).

    Raises:
        ValueError: bad size/length arguments.
        RuntimeError: OpenCV cannot open an mp4v writer on this system.

    Example:
        >>> info = synthesize_clip("camera.mp4")
        >>> info.frames, info.size, info.cuts
        (45, (640, 360), (15, 30))
    """
    w, h, n, _ = _check_clip_args(seconds, fps, size, scene_seconds)
    cuts, scene_names = clip_plan(
        seconds=seconds, fps=fps, size=size, scene_seconds=scene_seconds, scenes=scenes
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".mp4")
    os.close(fd)
    writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (w, h))
    try:
        if not writer.isOpened():
            raise RuntimeError(f"{path}: OpenCV cannot open an mp4v video writer")
        for frame in clip_frames(
            seconds=seconds, fps=fps, size=size, scene_seconds=scene_seconds, scenes=scenes
        ):
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        writer.release()
        os.replace(tmp, path)
    except BaseException:
        writer.release()
        Path(tmp).unlink(missing_ok=True)
        raise
    return ClipInfo(path=path, frames=n, fps=float(fps), size=(w, h), cuts=cuts, scenes=scene_names)
