"""Large images within a memory bound: a pixel limit checked from the file header, and tiling
with overlap and blending for the learned models (numpy + OpenCV only, no TensorFlow).

**The limit.** :func:`check_megapixels` reads an image's size from its header (PIL's lazy
``Image.open``: nothing is decoded) and refuses images above the limit with one line naming the
limit and how to raise it: ``--max-megapixels N`` on ``jndtf jnd`` / ``jndtf baseline``, or the
environment variable ``JNDTF_MAX_MEGAPIXELS``. Default :data:`DEFAULT_MAX_MEGAPIXELS` (120 MP,
so a 10000x10000 photo passes). Within the limit, memory grows by a fixed number of bytes per
pixel (the image, the map and, for the learned models, the whole-image saliency prior), plus one
tile's or band's working set; ``benchmarks/memory_per_mp.py`` measures it per model.

**Tiling** (:func:`tile_starts`, :func:`blend_weights`, :func:`run_tiled`). A learned map is
computed on square tiles of `tile` pixels that overlap by ``2 margin + blend``. A tile's
outermost `margin` pixels next to another tile are never used: their receptive field reaches
past the tile, where the network saw zero padding instead of the image. Over the next `blend`
pixels the tile's weight ramps linearly 0 -> 1 while its neighbour's ramps 1 -> 0 (the weights
are normalised per axis, so they sum to 1 everywhere; at the image border a tile keeps weight
1 to the edge). Tile origins are multiples of `align` (4 for ACoL-JND's two stride-2 convs), so
every tile sees the same conv phase as the whole image.

Example:
    >>> jnd = run_tiled(lambda crop, box: model(crop), image, tile=1024, margin=64, blend=64)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

#: Largest image (megapixels) the CLI accepts unless told otherwise.
DEFAULT_MAX_MEGAPIXELS = 120.0

#: Environment variable that overrides :data:`DEFAULT_MAX_MEGAPIXELS`.
MAX_MEGAPIXELS_ENV = "JNDTF_MAX_MEGAPIXELS"

#: Default tile side of the learned models (pixels) and band size of the classical ones (the
#: band holds about tile^2 pixels).
DEFAULT_TILE = 1024

TileFn = Callable[[np.ndarray, tuple[int, int, int, int]], np.ndarray]
Progress = Callable[[int, int], None] | None


#: The stated memory bound of `jndtf baseline` / `jndtf jnd` (peak resident memory of the whole
#: process: decode, map, .npy and .png written), ``fixed MB + per-MP MB x megapixels``, with the
#: default --tile. From benchmarks/memory_per_mp.py and tests/test_large_images.py (the README
#: lists the values per model), rounded up with headroom. Classical models (except liu2010, whose
#: 310-row halo makes its band ~1240 rows x width x ~110 B): 18-28 MB/MP over 70-190 MB, 939 MB
#: for yang2005 at 50 MP (whole-image before: 92-117 MB/MP). ACoL-JND: 3.9 GB at 4 and at
#: 12 MP (TensorFlow, the model and a 1024-px tile's activations), about 43 MB/MP on top (tiny
#: width at 50 MP: 3.5 GB).
MEMORY_BOUND_MB = {"classical": (400.0, 40.0), "learned": (4500.0, 60.0)}


def memory_bound_mb(kind: str, megapixels: float) -> float:
    """The stated peak-memory bound (MB) of a ``kind`` (``"classical"``/``"learned"``) model on
    an image of `megapixels` at the default tile (see :data:`MEMORY_BOUND_MB`)."""
    fixed, per_mp = MEMORY_BOUND_MB[kind]
    return fixed + per_mp * megapixels


class ImageTooLargeError(ValueError):
    """An image above the pixel limit; the message names the limit and how to raise it."""


def max_megapixels(value: float | None = None) -> float:
    """The pixel limit in megapixels: `value`, else ``$JNDTF_MAX_MEGAPIXELS``, else 120.

    Raises:
        ValueError: a limit that is not a positive number (naming where it came from).
    """
    source = "--max-megapixels"
    if value is None:
        env = os.environ.get(MAX_MEGAPIXELS_ENV)
        if env is None or env.strip() == "":
            return DEFAULT_MAX_MEGAPIXELS
        source = MAX_MEGAPIXELS_ENV
        try:
            value = float(env)
        except ValueError:
            raise ValueError(f"{MAX_MEGAPIXELS_ENV}={env!r}: not a number of megapixels") from None
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{source} must be a positive number of megapixels, got {value}")
    return float(value)


def header_size(path: str | os.PathLike) -> tuple[int, int] | None:
    """``(width, height)`` from the image file's header without decoding the pixels, or None
    when the header cannot be read (the decoder then reports the problem)."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with scikit-image
        return None
    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # only the size is read; PIL's bomb check would refuse it
    try:
        with Image.open(path) as im:
            return int(im.size[0]), int(im.size[1])
    except Exception:
        return None
    finally:
        Image.MAX_IMAGE_PIXELS = old


def _refusal(where: str, w: int, h: int, limit: float) -> ImageTooLargeError:
    return ImageTooLargeError(
        f"{where}: {w}x{h} is {w * h / 1e6:.1f} megapixels, above the limit of {limit:g} MP; "
        f"raise it with --max-megapixels {int(np.ceil(w * h / 1e6))} (or {MAX_MEGAPIXELS_ENV}) "
        "if the machine has the memory (benchmarks/memory_per_mp.py gives bytes per pixel)"
    )


def check_megapixels(path: str | os.PathLike, limit: float | None = None) -> tuple[int, int] | None:
    """Refuses an image file above `limit` megapixels before it is decoded.

    Returns:
        ``(width, height)`` from the header, or None when the header is unreadable.

    Raises:
        ImageTooLargeError: the image is above the limit.
    """
    lim = max_megapixels(limit)
    size = header_size(path)
    if size is not None and size[0] * size[1] > lim * 1e6:
        raise _refusal(str(Path(path)), size[0], size[1], lim)
    return size


def check_array_megapixels(image: np.ndarray, limit: float | None = None, where: str = "image"):
    """:func:`check_megapixels` for an array already in memory."""
    lim = max_megapixels(limit)
    h, w = np.asarray(image).shape[:2]
    if w * h > lim * 1e6:
        raise _refusal(where, w, h, lim)


#: Smallest tile a user may ask for: larger than the learned models' overlap (2 * 64 + 64).
MIN_TILE = 256


def check_tile(tile: int | None) -> int:
    """`tile` (0/None: no tiling) or ValueError naming ``--tile`` and the smallest value."""
    if not tile:
        return 0
    if tile < MIN_TILE:
        raise ValueError(
            f"--tile must be 0 (whole image) or at least {MIN_TILE} pixels, got {tile}"
        )
    return int(tile)


def tile_starts(length: int, tile: int, overlap: int, align: int = 1) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` covering ``0..length`` with tiles of `tile` overlapping by at
    least `overlap`; starts are multiples of `align` and the last tile runs to `length` (it may
    be up to ``align - 1`` longer than `tile`)."""
    if tile <= overlap:
        raise ValueError(f"tile ({tile}) must be larger than the overlap ({overlap})")
    if length <= tile:
        return [(0, length)]
    step = max(align, (tile - overlap) // align * align)
    starts = []
    s = 0
    while s + tile < length:
        starts.append(s)
        s += step
    last = (length - tile) // align * align
    if last > starts[-1]:
        starts.append(last)
    out = [(a, a + tile) for a in starts[:-1]]
    out.append((starts[-1], length))
    return out


def blend_weights(
    spans: list[tuple[int, int]], length: int, margin: int, blend: int
) -> list[np.ndarray]:
    """1-D weight of each span (module docstring), normalised so they sum to 1 everywhere."""
    pos = np.arange(length, dtype=np.float64) + 0.5
    raw = []
    for a, b in spans:
        w = np.zeros(length)
        x = pos[a:b]
        left = np.ones(b - a) if a == 0 else np.clip((x - a - margin) / max(blend, 1), 0.0, 1.0)
        right = (
            np.ones(b - a) if b == length else np.clip((b - margin - x) / max(blend, 1), 0.0, 1.0)
        )
        w[a:b] = left * right
        raw.append(w)
    total = np.sum(raw, axis=0)
    if np.any(total <= 0):
        raise ValueError("tiles leave pixels uncovered: increase the tile or the overlap")
    return [(w / total)[a:b].astype(np.float32) for w, (a, b) in zip(raw, spans, strict=True)]


def run_tiled(
    fn: TileFn,
    image: np.ndarray,
    *,
    tile: int = DEFAULT_TILE,
    margin: int = 64,
    blend: int = 64,
    align: int = 4,
    progress: Progress = None,
) -> np.ndarray:
    """A per-pixel map of `image` computed tile by tile and blended (module docstring).

    Args:
        fn: ``fn(crop, (y0, y1, x0, x1)) -> float32 hxwxC`` map of the crop ``image[y0:y1,
            x0:x1]``.
        image: ``HxW[xC]`` array.
        tile: tile side in pixels (an image no larger is computed in one piece).
        margin: pixels next to a neighbouring tile that are never used (>= the network's
            receptive-field radius).
        blend: width of the linear cross-fade.
        align: tile origins are multiples of this.
        progress: ``progress(done_tiles, total_tiles)``.

    Returns:
        float32 ``HxWxC`` map.
    """
    h, w = np.asarray(image).shape[:2]
    overlap = 2 * margin + blend
    ys = tile_starts(h, tile, overlap, align)
    xs = tile_starts(w, tile, overlap, align)
    wy = blend_weights(ys, h, margin, blend)
    wx = blend_weights(xs, w, margin, blend)
    out: np.ndarray | None = None
    total = len(ys) * len(xs)
    done = 0
    for (y0, y1), vy in zip(ys, wy, strict=True):
        for (x0, x1), vx in zip(xs, wx, strict=True):
            m = np.asarray(fn(image[y0:y1, x0:x1], (y0, y1, x0, x1)), dtype=np.float32)
            if m.ndim == 2:
                m = m[..., None]
            if total == 1:
                return m
            if out is None:
                out = np.zeros((h, w, m.shape[2]), np.float32)
            weight = vy[:, None, None] * vx[None, :, None]
            out[y0:y1, x0:x1] += m * weight
            done += 1
            if progress is not None:
                progress(done, total)
    if out is None:  # pragma: no cover - total >= 1 always
        raise RuntimeError("no tiles")
    return out


__all__ = [
    "DEFAULT_MAX_MEGAPIXELS",
    "DEFAULT_TILE",
    "MAX_MEGAPIXELS_ENV",
    "ImageTooLargeError",
    "blend_weights",
    "check_array_megapixels",
    "check_megapixels",
    "check_tile",
    "header_size",
    "max_megapixels",
    "memory_bound_mb",
    "run_tiled",
    "tile_starts",
]
