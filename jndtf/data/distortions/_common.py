"""What the distortion generators share: levels, the :class:`Distortion` record, codecs, cells."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

LEVELS = (1, 2, 3, 4, 5)
MIN_SIDE = 16

Generator = np.random.Generator
_Fn = Callable[[np.ndarray, int, Generator], np.ndarray]


@dataclass(frozen=True)
class Distortion:
    """One distortion type: its TID2008 number and title and the function that makes it."""

    name: str
    tid2008: int
    title: str
    fn: _Fn


# ------------------------------------------------------------------------------------ helpers


def _level_index(level: int) -> int:
    if isinstance(level, bool) or int(level) != level or int(level) not in LEVELS:
        raise ValueError(f"level must be an integer in {LEVELS[0]}..{LEVELS[-1]}, got {level!r}")
    return int(level) - 1


def _unit_rms(noise: np.ndarray) -> np.ndarray:
    rms = float(np.sqrt(np.mean(noise * noise)))
    return noise / max(rms, 1e-12)


def _luma(x: np.ndarray) -> np.ndarray:
    return 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]


def _to_u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def _codec(x: np.ndarray, ext: str, params: list[int]) -> np.ndarray:
    bgr = cv2.cvtColor(_to_u8(x), cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(ext, bgr, params)
    if not ok:
        raise RuntimeError(f"OpenCV could not encode {ext}")
    out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if out is None:
        raise RuntimeError(f"OpenCV could not decode its own {ext} stream")
    return cv2.cvtColor(out, cv2.COLOR_BGR2RGB).astype(np.float64)


def _jpeg(x: np.ndarray, quality: int) -> np.ndarray:
    return _codec(x, ".jpg", [cv2.IMWRITE_JPEG_QUALITY, int(quality)])


def _jpeg2000(x: np.ndarray, rate_x1000: int) -> np.ndarray:
    return _codec(x, ".jp2", [cv2.IMWRITE_JPEG2000_COMPRESSION_X1000, int(rate_x1000)])


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(x, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT)


def _area_count(x: np.ndarray, per_4096: float) -> int:
    """A count per 64x64 pixels, scaled to the image area (at least 1)."""
    return max(1, round(per_4096 * x.shape[0] * x.shape[1] / 4096.0))


# ------------------------------------------------------- grid cells (types 12-15 touch cells)

_BLOCK_FRAC = (0.03, 0.06, 0.1, 0.15, 0.22)  # share of the 8x8 blocks (12) / cells (13-15)


def _cells(x, size: int, rng: Generator) -> np.ndarray:
    """Top-left corners of a grid of non-overlapping `size` cells (random offset), shuffled.

    Distortions that touch n cells take the first n: the cells of a lower level are a subset of
    those of a higher one and never overlap, so the error only grows with the level.
    """
    hh, ww = x.shape[:2]
    oy, ox = rng.integers(0, size), rng.integers(0, size)
    ys = np.arange(oy, hh - size + 1, size)
    xs = np.arange(ox, ww - size + 1, size)
    if len(ys) == 0 or len(xs) == 0:
        ys, xs = np.arange(0, hh - size + 1, size), np.arange(0, ww - size + 1, size)
    grid = np.stack(np.meshgrid(ys, xs, indexing="ij"), -1).reshape(-1, 2)
    return grid[rng.permutation(len(grid))]


def _count(frac: float, total: int) -> int:
    return int(min(total, max(1, round(frac * total))))
