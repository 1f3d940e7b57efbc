"""TID2008 types 14-17, the "other" group: pattern noise, block-wise distortions, mean shift and
contrast change."""

from __future__ import annotations

import numpy as np

from jndtf.data.distortions._common import (
    _BLOCK_FRAC,
    _area_count,
    _cells,
    _count,
    _level_index,
)


def _block_size(x, div: int, lo: int, hi: int) -> int:
    return int(np.clip(min(x.shape[:2]) // div, lo, hi))


def pattern_noise(x, level, rng):
    """Non-eccentricity pattern noise: square fragments (grid cells) replaced by the clean image
    content a few pixels away; a level replaces a share of the cells."""
    i = _level_index(level)
    b = _block_size(x, 8, 4, 16)
    hh, ww = x.shape[:2]
    cells = _cells(x, b, rng)
    shift = rng.integers(b // 2, b + 1, (len(cells), 2)) * rng.choice([-1, 1], (len(cells), 2))
    out = x.copy()
    for k in range(_count(_BLOCK_FRAC[i], len(cells))):
        y0, x0 = cells[k]
        sy = int(np.clip(y0 + shift[k, 0], 0, hh - b))
        sx = int(np.clip(x0 + shift[k, 1], 0, ww - b))
        out[y0 : y0 + b, x0 : x0 + b] = x[sy : sy + b, sx : sx + b]
    return out


_BLOCKS = (1.0, 2.0, 3.0, 5.0, 8.0)  # per 64x64


def block_distortion(x, level, rng):
    """Local block-wise distortions of different intensity: flat blocks (grid cells) filled with
    the block's mean colour shifted by 30-80 grey levels per channel."""
    i = _level_index(level)
    b = _block_size(x, 6, 4, 32)
    cells = _cells(x, b, rng)
    offsets = rng.uniform(30.0, 80.0, (len(cells), 3)) * rng.choice([-1.0, 1.0], (len(cells), 3))
    out = x.copy()
    for k in range(min(len(cells), _area_count(x, _BLOCKS[i]))):
        y0, x0 = cells[k]
        mean = x[y0 : y0 + b, x0 : x0 + b].mean((0, 1))
        out[y0 : y0 + b, x0 : x0 + b] = mean + offsets[k]
    return out


_SHIFT = (6.0, 12.0, 18.0, 26.0, 36.0)


def mean_shift(x, level, rng):
    sign = 1.0 if rng.random() < 0.5 else -1.0
    return x + sign * _SHIFT[_level_index(level)]


_CONTRAST = (0.12, 0.22, 0.32, 0.45, 0.6)


def contrast_change(x, level, rng):
    d = _CONTRAST[_level_index(level)]
    k = 1.0 + d if rng.random() < 0.5 else 1.0 - d
    mean = x.mean()
    return mean + k * (x - mean)
