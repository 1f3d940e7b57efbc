"""TID2008 types 12-13, transmission errors of JPEG and JPEG 2000, drawn in the pixel domain on
the decoded image (the package docstring says why)."""

from __future__ import annotations

import numpy as np

from jndtf.data.distortions._common import (
    _BLOCK_FRAC,
    _area_count,
    _cells,
    _count,
    _jpeg,
    _jpeg2000,
    _level_index,
)


def jpeg_transmission_errors(x, level, rng):
    """JPEG at quality 75, then runs of 8x8 blocks along block rows decoded wrong: each block of a
    run keeps its place but takes the run's colour offset and the texture of another block, the
    look of a corrupted entropy-coded segment up to the next restart marker. Runs sit on distinct
    block rows (2-8 blocks each); a level corrupts a share of all blocks, taken run by run."""
    i = _level_index(level)
    base = _jpeg(x, 75)
    out = base.copy()
    h, w = x.shape[0] // 8, x.shape[1] // 8
    if h == 0 or w == 0:
        return out
    blocks: list[tuple[int, int, int]] = []  # (row, col, run)
    for run, r in enumerate(rng.permutation(h)):
        length = int(rng.integers(2, 9))
        c0 = int(rng.integers(0, max(1, w - length + 1)))
        blocks += [(int(r), c, run) for c in range(c0, min(w, c0 + length))]
    offsets = rng.uniform(25.0, 70.0, (h, 3)) * rng.choice([-1.0, 1.0], (h, 3))
    src = rng.integers(0, [h, w], (len(blocks), 2))
    for k in range(_count(_BLOCK_FRAC[i], h * w)):
        if k >= len(blocks):
            break
        r, c, run = blocks[k]
        blk = base[r * 8 : r * 8 + 8, c * 8 : c * 8 + 8]
        sr, sc = src[k]
        tex = base[sr * 8 : sr * 8 + 8, sc * 8 : sc * 8 + 8]
        out[r * 8 : r * 8 + 8, c * 8 : c * 8 + 8] = tex - tex.mean((0, 1)) + blk.mean((0, 1))
        out[r * 8 : r * 8 + 8, c * 8 : c * 8 + 8] += offsets[run]
    return out


_BLOBS = (1.0, 1.0, 2.0, 3.0, 4.0)  # per 64x64
_BLOB_AMP = (15.0, 25.0, 30.0, 40.0, 50.0)


def jpeg2000_transmission_errors(x, level, rng):
    """JPEG 2000 (rate 0.3), then wavelet-like blobs: Gaussian-windowed oriented cosines with a
    random colour, the ringing of a corrupted code block; one blob per grid cell."""
    i = _level_index(level)
    out = _jpeg2000(x, 300)
    hh, ww = x.shape[:2]
    size = int(np.clip(min(hh, ww) // 3, 8, 48))
    cells = _cells(x, size, rng)
    n_max = len(cells)
    theta = rng.uniform(0, np.pi, n_max)
    freq = rng.uniform(0.12, 0.35, n_max)
    phase = rng.uniform(0, 2 * np.pi, n_max)
    colour = rng.uniform(-1.0, 1.0, (n_max, 3))
    colour /= np.maximum(np.abs(colour).max(1, keepdims=True), 1e-6)
    yy, xx = np.mgrid[0:hh, 0:ww].astype(np.float64)
    for k in range(min(n_max, _area_count(x, _BLOBS[i]))):
        dy = yy - (cells[k, 0] + size / 2.0)
        dx = xx - (cells[k, 1] + size / 2.0)
        window = np.exp(-(dx * dx + dy * dy) / (2.0 * (size / 5.0) ** 2))
        arg = 2 * np.pi * freq[k] * (dx * np.cos(theta[k]) + dy * np.sin(theta[k])) + phase[k]
        out = out + _BLOB_AMP[i] * (window * np.cos(arg))[..., None] * colour[k]
    return out
