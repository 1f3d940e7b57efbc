"""What ``eval rd`` measures: photos (optionally centre-cropped) and clips (lists of frames).

Clips come from video files (read by OpenCV) or are made in memory by :func:`noisy_clip`: a still
or panning camera view of a photo with sensor noise added on linear light by a Poisson-Gaussian
model, so a sweep sees what a camera's encoder sees.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from jndtf.io import IMAGE_SUFFIXES, ImageError, check_image, load_image

#: File suffixes read as clips.
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".y4m", ".m4v")


@dataclass
class RDInput:
    """One item of a sweep: an image (one frame) or a clip (``is_clip``, frames at ``fps``)."""

    name: str
    frames: list[np.ndarray] = field(repr=False)
    is_clip: bool = False
    fps: float = 30.0
    note: str = ""
    #: the noise-free frames of a synthetic clip (quality is also measured against them)
    clean: list[np.ndarray] | None = field(default=None, repr=False)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the frames."""
        h, w = self.frames[0].shape[:2]
        return w, h


def centre_crop(image: np.ndarray, crop: tuple[int, int] | None) -> np.ndarray:
    """The centre ``min(W, cw) x min(H, ch)`` window of `image` (no resampling) for `crop` =
    ``(cw, ch)`` = (width, height), or the image when `crop` is None."""
    if crop is None:
        return image
    h, w = image.shape[:2]
    cw, ch = min(w, int(crop[0])), min(h, int(crop[1]))
    y, x = (h - ch) // 2, (w - cw) // 2
    return np.ascontiguousarray(image[y : y + ch, x : x + cw])


def read_clip(path: str | os.PathLike, max_frames: int | None = None) -> tuple[list, float]:
    """The frames (uint8 RGB) and frame rate of a video file.

    Raises:
        ImageError: the file cannot be opened or holds no frame (names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    cap = cv2.VideoCapture(str(path))
    frames: list[np.ndarray] = []
    try:
        if not cap.isOpened():
            raise ImageError(f"{path}: OpenCV cannot open this video file")
        fps = float(cap.get(cv2.CAP_PROP_FPS)) or 30.0
        while max_frames is None or len(frames) < max_frames:
            ok, bgr = cap.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    finally:
        cap.release()
    if not frames:
        raise ImageError(f"{path}: no frame could be decoded (not a video, or truncated)")
    return frames, fps


def load_inputs(
    paths: Iterable[str | os.PathLike],
    *,
    crop: tuple[int, int] | None = None,
    max_frames: int | None = None,
) -> list[RDInput]:
    """Images and clips from files and folders (a folder: its images and videos, sorted).

    Args:
        paths: image files, video files, folders.
        crop: ``(width, height)`` of a centre crop applied to every image and frame (never a
            resize; a smaller side stays as it is).
        max_frames: read at most this many frames of each clip.

    Raises:
        ImageError: a missing or unreadable file, or an empty folder (names it).
    """
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = [
                f
                for f in sorted(p.iterdir())
                if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES
            ]
            if not found:
                raise ImageError(f"{p}: the folder holds no image or video file")
            files += found
        elif p.exists():
            files.append(p)
        else:
            raise ImageError(f"{p}: no such file or folder")
    inputs = []
    for f in files:
        if f.suffix.lower() in VIDEO_SUFFIXES:
            frames, fps = read_clip(f, max_frames)
            frames = [centre_crop(fr, crop) for fr in frames]
            inputs.append(RDInput(f.stem, frames, True, fps))
        else:
            inputs.append(RDInput(f.stem, [centre_crop(load_image(f), crop)]))
    names = [i.name for i in inputs]
    if len(set(names)) != len(names):
        raise ImageError("two inputs share a file name stem; give them distinct names")
    return inputs


def from_arrays(
    name: str,
    frames: Sequence[np.ndarray],
    fps: float = 30.0,
    clean: Sequence[np.ndarray] | None = None,
) -> RDInput:
    """An in-memory image (one frame) or clip (several frames) as an :class:`RDInput`;
    `clean`: the same frames without noise, if known (synthetic clips)."""
    checked = [check_image(f, source=name) for f in frames]
    if any(f.dtype != np.uint8 for f in checked):
        raise ImageError(f"{name}: frames must be uint8")
    if clean is not None:
        clean = [check_image(f, source=name) for f in clean]
        if len(clean) != len(checked) or any(
            c.shape != f.shape for c, f in zip(clean, checked, strict=True)
        ):
            raise ImageError(f"{name}: the clean frames do not match the frames")
    return RDInput(name, checked, len(checked) > 1, float(fps), clean=clean)


def _srgb_to_linear(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(v: np.ndarray) -> np.ndarray:
    v = np.clip(v, 0.0, 1.0)
    return np.where(v <= 0.0031308, 12.92 * v, 1.055 * v ** (1 / 2.4) - 0.055)


def add_sensor_noise(
    frame: np.ndarray, rng: np.random.Generator, *, full_well: float = 1000.0, read: float = 3.0
) -> np.ndarray:
    """Poisson-Gaussian sensor noise on linear light: ``e = Poisson(L·full_well) + N(0, read²)``
    electrons per channel (L = linear value 0..1 of the sRGB pixel), back to sRGB 8 bit.

    With ``full_well=1000`` e- and ``read=3`` e- a mid-grey pixel (L≈0.21) has SNR≈14.5
    (σ≈3.3 grey levels after the sRGB curve), a dark one (L≈0.01) σ≈4.5 levels: a small
    sensor in good indoor light.
    """
    lin = _srgb_to_linear(frame.astype(np.float64) / 255.0)
    electrons = rng.poisson(lin * full_well) + rng.normal(0.0, read, size=lin.shape)
    out = _linear_to_srgb(electrons / full_well) * 255.0
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def noisy_clip(
    kind: str,
    *,
    frames: int = 24,
    size: tuple[int, int] = (640, 360),
    photo: str = "astronaut",
    full_well: float = 1000.0,
    read: float = 3.0,
    seed: int = 0,
    with_clean: bool = False,
):
    """A synthetic camera clip with sensor noise (:func:`add_sensor_noise`, fresh each frame).

    Returns the noisy frames, or ``(noisy, clean)`` with ``with_clean=True``.

    Args:
        kind: ``"still"`` (a fixed camera: the same view every frame, only the noise changes) or
            ``"pan"`` (the pan-and-zoom camera of :func:`jndtf.samples.clip_frames`, one scene).
        frames: number of frames.
        size: ``(width, height)``.
        photo: a scikit-image sample photo (:data:`jndtf.samples.SAMPLE_NAMES`).
    """
    from jndtf.samples import _camera_view, sample_image

    if kind not in ("still", "pan"):
        raise ValueError(f"clip kind must be 'still' or 'pan', got {kind!r}")
    w, h = size
    image = sample_image(photo)
    rng = np.random.default_rng(seed)
    out, clean = [], []
    for i in range(frames):
        t = 0.0 if kind == "still" else i / max(frames - 1, 1)
        view = _camera_view(image, w, h, t, direction=0)
        clean.append(view)
        out.append(add_sensor_noise(view, rng, full_well=full_well, read=read))
    return (out, clean) if with_clean else out
