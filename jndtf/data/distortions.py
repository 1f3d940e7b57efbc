"""The 17 distortion types of TID2008, synthesized from any clean image (numpy + OpenCV).

TID2008 (Ponomarenko et al., "TID2008 — a database for evaluation of full-reference visual quality
assessment metrics", Advances of Modern Radioelectronics 10(4), 2009) distorts 25 images with 17
types at 4 levels. jndtf uses them to train the distortion-group classifier of the A-IQA loss
(Jin et al. 2022, used as L1 of ACoL-JND), so what matters is the *kind* of artefact, at a range of
strengths; the generators below are written from the TID2008 descriptions, not copied from its
(unpublished) scripts.

Levels are 1..5 (TID2013's five; 1 is mildest). For a fixed seed the levels are *nested*: the same
noise field is scaled, the same random blocks are taken in the same order and more of them are used,
so severity (e.g. MSE) rises with the level by construction.

=====  ==============================  ==========================================================
 TID   name                            generator (parameter per level 1..5)
=====  ==============================  ==========================================================
  1    additive_gaussian_noise         i.i.d. N(0, σ²) per RGB sample, σ = 4, 6, 9, 13, 18
  2    colour_noise                    noise in YCbCr: σ/3 on Y, σ·1.5 on Cb, Cr (same σ)
  3    spatially_correlated_noise      white noise low-passed (Gaussian, s = 1.2 px), RMS σ
  4    masked_noise                    white noise × local activity (5x5 std of luma), RMS σ
  5    high_frequency_noise            white noise minus its Gaussian blur (s = 1 px), RMS σ
  6    impulse_noise                   samples set to 0 or 255, p = 0.5, 1, 2, 4, 8 %
  7    quantization_noise              uniform quantizer per channel, step 8, 12, 18, 26, 36
  8    gaussian_blur                   Gaussian blur, s = 0.7, 1.0, 1.5, 2.2, 3.2 px
  9    image_denoising                 noise σ = 6, 10, 15, 22, 30 + OpenCV non-local means
 10    jpeg                            cv2 JPEG, quality 50, 30, 18, 10, 5
 11    jpeg2000                        cv2 (OpenJPEG) JPEG 2000, rate x1000 = 300, 150, 80, 40, 20
 12    jpeg_transmission_errors        JPEG q75 + runs of 8x8 blocks decoded wrong (colour offset
                                       and foreign texture until the next "restart"); 3, 6, 10,
                                       15, 22 % of the blocks
 13    jpeg2000_transmission_errors    JPEG 2000 + local wavelet-like ringing blobs, amplitude
                                       15..50; 1, 1, 2, 3, 4 blobs per 64x64
 14    pattern_noise                   TID's "non-eccentricity pattern noise": blocks replaced by
                                       their neighbourhood shifted a few pixels; 3..22 % of the
                                       blocks
 15    block_distortion                "local block-wise distortions of different intensity":
                                       flat blocks of a shifted mean colour; 1, 2, 3, 5, 8 blocks
                                       per 64x64
 16    mean_shift                      ± 6, 12, 18, 26, 36 grey levels (sign from the seed)
 17    contrast_change                 around the mean, × (1 ± 0.12, 0.22, 0.32, 0.45, 0.6)
=====  ==============================  ==========================================================

Types 12 and 13 are simulated in the pixel domain: flipping bytes of a real code stream makes the
decoders print to stderr, sometimes fail, and gives a severity that does not follow the level.

**Groups.** The A-IQA module routes each image to one of five distortion groups, following the
context-dependent multi-method fusion (CD-MMF) of Liu, Lin & Kuo, "Image quality assessment using
multi-method fusion", IEEE TIP 22(5), 2013, which splits TID2008's 17 types into five groups by the
nature of the artefact. :data:`DEFAULT_GROUPS`: noise (1-7), blur (8, 9), compression (10, 11),
transmission errors (12, 13), other local/global changes (14-17). Any other mapping can be passed
as ``groups=`` (every type exactly once; see :func:`check_groups`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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


# ------------------------------------------------------------------------- 1-7: noise group

_SIGMA = (4.0, 6.0, 9.0, 13.0, 18.0)


def additive_gaussian_noise(x, level, rng):
    return x + _SIGMA[_level_index(level)] * rng.standard_normal(x.shape)


_RGB2YCC = np.array(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]]
)
_YCC2RGB = np.linalg.inv(_RGB2YCC)


def colour_noise(x, level, rng):
    s = _SIGMA[_level_index(level)]
    scale = np.array([s / 3.0, 1.5 * s, 1.5 * s])
    ycc = x @ _RGB2YCC.T + rng.standard_normal(x.shape) * scale
    return ycc @ _YCC2RGB.T


def spatially_correlated_noise(x, level, rng):
    n = _blur(rng.standard_normal(x.shape), 1.2)
    return x + _SIGMA[_level_index(level)] * _unit_rms(n)


def masked_noise(x, level, rng):
    y = _luma(x)
    mean = cv2.blur(y, (5, 5), borderType=cv2.BORDER_REFLECT)
    var = cv2.blur(y * y, (5, 5), borderType=cv2.BORDER_REFLECT) - mean * mean
    activity = np.sqrt(np.maximum(var, 0.0)) + 1.0
    n = rng.standard_normal(x.shape) * activity[..., None]
    return x + _SIGMA[_level_index(level)] * _unit_rms(n)


def high_frequency_noise(x, level, rng):
    w = rng.standard_normal(x.shape)
    return x + _SIGMA[_level_index(level)] * _unit_rms(w - _blur(w, 1.0))


_IMPULSE_P = (0.005, 0.01, 0.02, 0.04, 0.08)


def impulse_noise(x, level, rng):
    u = rng.random(x.shape)
    salt = rng.random(x.shape) < 0.5
    hit = u < _IMPULSE_P[_level_index(level)]
    return np.where(hit, np.where(salt, 255.0, 0.0), x)


_QSTEP = (8.0, 12.0, 18.0, 26.0, 36.0)


def quantization_noise(x, level, rng):
    q = _QSTEP[_level_index(level)]
    return np.floor(x / q) * q + q / 2.0


# ------------------------------------------------------------------------------ 8-9: blur

_BLUR = (0.7, 1.0, 1.5, 2.2, 3.2)


def gaussian_blur(x, level, rng):
    return _blur(x, _BLUR[_level_index(level)])


_DENOISE_SIGMA = (6.0, 10.0, 15.0, 22.0, 30.0)


def image_denoising(x, level, rng):
    s = _DENOISE_SIGMA[_level_index(level)]
    noisy = _to_u8(x + s * rng.standard_normal(x.shape))
    out = cv2.fastNlMeansDenoisingColored(noisy, None, s, s, 5, 9)
    return out.astype(np.float64)


# ----------------------------------------------------------------------- 10-11: compression

_JPEG_Q = (50, 30, 18, 10, 5)
_JP2K_RATE = (300, 150, 80, 40, 20)


def jpeg(x, level, rng):
    return _jpeg(x, _JPEG_Q[_level_index(level)])


def jpeg2000(x, level, rng):
    return _jpeg2000(x, _JP2K_RATE[_level_index(level)])


# -------------------------------------------------------------------- 12-13: transmission

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


# ----------------------------------------------------------------------- 14-17: the others


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


# ----------------------------------------------------------------------------- registry

DISTORTIONS: dict[str, Distortion] = {
    d.name: d
    for d in (
        Distortion(
            "additive_gaussian_noise", 1, "Additive Gaussian noise", additive_gaussian_noise
        ),
        Distortion(
            "colour_noise", 2, "Additive noise in color components (more intensive)", colour_noise
        ),
        Distortion(
            "spatially_correlated_noise",
            3,
            "Spatially correlated noise",
            spatially_correlated_noise,
        ),
        Distortion("masked_noise", 4, "Masked noise", masked_noise),
        Distortion("high_frequency_noise", 5, "High frequency noise", high_frequency_noise),
        Distortion("impulse_noise", 6, "Impulse noise", impulse_noise),
        Distortion("quantization_noise", 7, "Quantization noise", quantization_noise),
        Distortion("gaussian_blur", 8, "Gaussian blur", gaussian_blur),
        Distortion("image_denoising", 9, "Image denoising", image_denoising),
        Distortion("jpeg", 10, "JPEG compression", jpeg),
        Distortion("jpeg2000", 11, "JPEG2000 compression", jpeg2000),
        Distortion(
            "jpeg_transmission_errors", 12, "JPEG transmission errors", jpeg_transmission_errors
        ),
        Distortion(
            "jpeg2000_transmission_errors",
            13,
            "JPEG2000 transmission errors",
            jpeg2000_transmission_errors,
        ),
        Distortion("pattern_noise", 14, "Non eccentricity pattern noise", pattern_noise),
        Distortion(
            "block_distortion",
            15,
            "Local block-wise distortions of different intensity",
            block_distortion,
        ),
        Distortion("mean_shift", 16, "Mean shift (intensity shift)", mean_shift),
        Distortion("contrast_change", 17, "Contrast change", contrast_change),
    )
}

#: The 17 names in TID2008 order.
NAMES: tuple[str, ...] = tuple(DISTORTIONS)

#: Five groups after Liu, Lin & Kuo 2013 (CD-MMF), in the order of the classifier's outputs.
DEFAULT_GROUPS: dict[str, tuple[str, ...]] = {
    "noise": NAMES[0:7],
    "blur": NAMES[7:9],
    "compression": NAMES[9:11],
    "transmission": NAMES[11:13],
    "other": NAMES[13:17],
}


def check_groups(groups: Mapping[str, Sequence[str]] | None = None) -> dict[str, tuple[str, ...]]:
    """Validates a group mapping (``None`` -> :data:`DEFAULT_GROUPS`): every one of the 17 types
    in exactly one group, no unknown names, no empty group.

    Raises:
        ValueError: naming the missing, repeated or unknown types.
    """
    if groups is None:
        return dict(DEFAULT_GROUPS)
    out = {str(g): tuple(members) for g, members in groups.items()}
    seen: list[str] = [m for members in out.values() for m in members]
    unknown = sorted(set(seen) - set(NAMES))
    missing = [n for n in NAMES if n not in seen]
    repeated = sorted({m for m in seen if seen.count(m) > 1})
    empty = [g for g, members in out.items() if not members]
    if unknown or missing or repeated or empty or len(out) < 2:
        raise ValueError(
            "invalid distortion groups: "
            + "; ".join(
                f"{what}: {', '.join(v)}"
                for what, v in (
                    ("unknown types", unknown),
                    ("missing types", missing),
                    ("in more than one group", repeated),
                    ("empty groups", empty),
                )
                if v
            )
            + ("" if len(out) >= 2 else "need at least two groups")
        )
    return out


def group_of(name: str, groups: Mapping[str, Sequence[str]] | None = None) -> str:
    """The group of distortion `name` under `groups` (default: the five CD-MMF groups)."""
    for g, members in check_groups(groups).items():
        if name in members:
            return g
    raise KeyError(f"unknown distortion {name!r}; known: {', '.join(NAMES)}")


def group_index(name: str, groups: Mapping[str, Sequence[str]] | None = None) -> int:
    """Index of :func:`group_of` in the mapping's order (the classifier's output index)."""
    checked = check_groups(groups)
    return list(checked).index(group_of(name, checked))


def _rng(seed) -> Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def distort(image: np.ndarray, name: str, level: int, *, seed=None) -> np.ndarray:
    """Applies distortion `name` at `level` (1..5) to an RGB image.

    Args:
        image: ``HxWx3`` uint8 or float in 0..255 (sides >= 16).
        name: one of :data:`NAMES` (TID2008 order; see the module table).
        level: 1 (mildest) .. 5.
        seed: int, None or a ``numpy.random.Generator``; the same seed gives the same output.

    Returns:
        The distorted image, same shape and dtype as `image`, clipped to 0..255 (rounded for
        uint8).

    Example:
        >>> out = distort(img, "jpeg", 3, seed=0)
        >>> out.shape == img.shape and out.dtype == img.dtype
        True
    """
    if name not in DISTORTIONS:
        raise KeyError(f"unknown distortion {name!r}; known: {', '.join(NAMES)}")
    _level_index(level)
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"distort: expected an HxWx3 RGB image, got shape {arr.shape}")
    if min(arr.shape[:2]) < MIN_SIDE:
        raise ValueError(f"distort: image sides must be >= {MIN_SIDE}, got {arr.shape[:2]}")
    if not (arr.dtype == np.uint8 or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"distort: expected uint8 or float pixels, got {arr.dtype}")
    x = arr.astype(np.float64)
    if arr.dtype != np.uint8 and (not np.all(np.isfinite(x)) or x.min() < 0 or x.max() > 255):
        raise ValueError("distort: float images must be finite and in 0..255")
    out = DISTORTIONS[name].fn(x, int(level), _rng(seed))
    out = np.clip(out, 0.0, 255.0)
    if arr.dtype == np.uint8:
        return np.round(out).astype(np.uint8)
    return out.astype(arr.dtype)


def random_distortion(
    image: np.ndarray,
    rng: Generator,
    *,
    names: Sequence[str] = NAMES,
    levels: Sequence[int] = LEVELS,
) -> tuple[np.ndarray, str, int]:
    """Draws a type from `names` and a level from `levels` uniformly and applies it.

    Returns:
        ``(distorted, name, level)``.
    """
    name = names[int(rng.integers(len(names)))]
    level = int(levels[int(rng.integers(len(levels)))])
    return distort(image, name, level, seed=rng), name, level


__all__ = [
    "DEFAULT_GROUPS",
    "DISTORTIONS",
    "LEVELS",
    "NAMES",
    "Distortion",
    "check_groups",
    "distort",
    "group_index",
    "group_of",
    "random_distortion",
]
