"""Classical JND models streamed through an image by horizontal bands, peak memory O(band).

Every classical model here is a chain of local filters, so a row of its map depends only on the
luma rows within a fixed distance (the model's *halo*). A band of rows computed with `halo`
extra rows of real image above and below is therefore exactly the whole-image result; the band's
own (artificial) borders disturb only the halo rows, which are dropped. Three models also use
whole-image quantities, computed band by band in a first pass and then handed to every band:

- MATLAB's Canny (:func:`jndtf.priors.edges.canny`) normalises the gradient by its largest value
  and keeps the weak edge segments connected to a strong pixel anywhere in the image
  (hysteresis). :func:`banded_canny` finds the peak in one pass, labels the weak pixels band by
  band and joins the labels across band seams (8-connectivity) with a union over the seam
  pairs, so the edge map equals the whole-image one; it is kept as packed bits (1 bit/pixel).
- Wu 2017's Canny threshold ``min(60 / max(edge height), 0.8)`` needs the largest edge height,
  which is the largest max-gradient inside the 2-pixel frame (the frame only mirrors it).

Halos (rows of context each side), from each model's largest chain of filter supports:

============  =====  =========================================================================
model         halo   derivation
============  =====  =========================================================================
chou_li1995       4  5x5 background and directional-gradient kernels (radius 2), +2 margin
chen2019          4  Chou & Li base (2) and the 5x5 background (2); eccentricity uses the
                     band's true row numbers and the whole image's centre
yang2005         12  edge weight after Canny: disk(6, 6) = 11x11 dilation (5) + 7x7 Gaussian
                     (3) = 8; the rest 2; +4 margin (Canny itself: own pass, halo 7)
wu2017           10  pattern complexity (3x3 gradients, 3x3 code count, 3x3 smoothing: 3),
                     edge protection after Canny (5x5 dilation 2 + 5x5 Gaussian 2 = 4),
                     5x5 std and background (2); +6 margin
wu2013           24  AR prediction: 21x21 search + 7x7 patches (13) with the 7x7 std of the
                     similarity scale at the centre; then the 7x7 Gaussian of the free energy
                     (3) = 16; edge weight 4; +8 margin
liu2010         310  TV-L1 by 300 Chambolle-Pock iterations: each step reaches one pixel
                     further (forward difference in p, backward in div), so 300; + 5x5
                     gradients on u and v (2) and 5x5 background (2); +6 margin
============  =====  =========================================================================

Canny's own banded passes use a halo of 7: its 13-tap derivative-of-Gaussian (radius 6) and the
3x3 non-maximum suppression (1).

Memory: the input image (3 B/px), the output map (float32, 4 B/px), two packed bit maps where
Canny is used (0.25 B/px) and one band's working set (the model's bytes per pixel times
``band_rows + 2 halo`` rows). ``tests/test_bands.py`` checks banded == whole image per model;
``benchmarks/memory_per_mp.py`` measures the bytes per pixel.

Example:
    >>> jnd = run_banded("wu2017", image, band_rows=256)   # == baselines.get("wu2017")(image)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from jndtf.io import to_luma
from jndtf.priors.edges import (
    CANNY_LOW_RATIO,
    CANNY_SIGMA,
    EDGE_HEIGHT_SCALE,
    EDGE_THRESHOLD_CAP,
    FLAT_GRADIENT,
    dilate,
    max_gradient_f64,
    non_maximum_suppression,
    smooth_gradient,
    strel_disk,
)
from jndtf.priors.luminance import filter2, fspecial_gaussian

#: Pixels per band (rows = this / width) unless the caller says otherwise: ~1 MP of working set.
DEFAULT_BAND_PIXELS = 1 << 20

#: Rows of context Canny's banded passes need: 13-tap derivative of Gaussian (6) + NMS (1).
CANNY_HALO = 7

Progress = Callable[[int, int], None] | None


# --------------------------------------------------------------------------- luma rows


class _Rows:
    """Float64 luma of any row range of an image, converted on demand (never the whole image)."""

    def __init__(self, image: np.ndarray):
        arr = np.asarray(image)
        if arr.ndim == 3 and arr.shape[2] == 4:
            arr = arr[..., :3]
        if arr.ndim not in (2, 3):
            raise ValueError(f"expected a grey HxW or RGB HxWx3 image, got shape {arr.shape}")
        self.image = arr
        self.height, self.width = arr.shape[:2]

    def __call__(self, a: int, b: int) -> np.ndarray:
        part = self.image[a:b]
        if part.ndim == 2 or part.shape[2] == 1:
            return part.reshape(part.shape[0], part.shape[1]).astype(np.float64)
        return to_luma(part).astype(np.float64)


def _bands(height: int, band_rows: int):
    for r0 in range(0, height, band_rows):
        yield r0, min(height, r0 + band_rows)


def _with_halo(r0: int, r1: int, halo: int, height: int) -> tuple[int, int]:
    return max(0, r0 - halo), min(height, r1 + halo)


# --------------------------------------------------------------------------- banded Canny


def _gradients(luma: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    gx, gy = smooth_gradient(luma, sigma)
    mag = gx * gx
    mag += gy * gy
    np.sqrt(mag, out=mag)
    return gx, gy, mag


def _canny_peak(rows: _Rows, band_rows: int, sigma: float) -> float:
    """Largest gradient magnitude of the whole image (pass 1 of :func:`banded_canny`)."""
    peak = 0.0
    for r0, r1 in _bands(rows.height, band_rows):
        a, b = _with_halo(r0, r1, CANNY_HALO, rows.height)
        _, _, mag = _gradients(rows(a, b), sigma)
        peak = max(peak, float(mag[r0 - a : r1 - a].max()))
    return peak


def _weak_strong(
    rows: _Rows, r0: int, r1: int, peak: float, high: float, low: float, sigma: float
) -> tuple[np.ndarray, np.ndarray]:
    a, b = _with_halo(r0, r1, CANNY_HALO, rows.height)
    gx, gy, mag = _gradients(rows(a, b), sigma)
    np.divide(mag, peak, out=mag)
    weak = non_maximum_suppression(gx, gy, mag, low)
    strong = weak & (mag > high)
    return weak[r0 - a : r1 - a], strong[r0 - a : r1 - a]


def _labels(weak: np.ndarray) -> tuple[int, np.ndarray]:
    import cv2

    n, labels = cv2.connectedComponents(weak.astype(np.uint8), connectivity=8, ltype=cv2.CV_32S)
    return n, labels


def banded_canny(
    rows: _Rows,
    high: float,
    *,
    band_rows: int,
    low: float | None = None,
    sigma: float = CANNY_SIGMA,
) -> np.ndarray:
    """MATLAB-style Canny of the whole image computed band by band, as packed bits.

    Equals ``jndtf.priors.edges.canny_f64(luma, high, low, sigma)`` (tested): the peak is found
    first, weak/strong pixels per band (halo 7), then the 8-connected weak components are
    labelled per band and joined across seams; a component is kept when any of its pixels is
    strong. The weak map is held as packed bits between the passes.

    Returns:
        uint8 ``H x ceil(W / 8)`` (``np.packbits`` along rows) edge map.
    """
    if not 0.0 < high < 1.0:
        raise ValueError(f"the Canny threshold is a fraction in (0, 1), got {high}")
    low = CANNY_LOW_RATIO * high if low is None else low
    h, w = rows.height, rows.width
    packed_w = (w + 7) // 8
    edges = np.zeros((h, packed_w), np.uint8)
    peak = _canny_peak(rows, band_rows, sigma)
    if peak <= FLAT_GRADIENT:
        return edges
    weak_bits = np.zeros((h, packed_w), np.uint8)
    offsets: list[int] = []
    strong_flags: list[np.ndarray] = []
    seam_a: list[np.ndarray] = []
    seam_b: list[np.ndarray] = []
    total = 0
    prev_last: np.ndarray | None = None
    for r0, r1 in _bands(h, band_rows):
        weak, strong = _weak_strong(rows, r0, r1, peak, high, low, sigma)
        weak_bits[r0:r1] = np.packbits(weak, axis=1)
        n, labels = _labels(weak)
        has_strong = np.zeros(n, bool)
        has_strong[labels[strong]] = True
        has_strong[0] = False
        first = np.where(labels[0] > 0, labels[0] + total, -1)
        if prev_last is not None:
            for d in (-1, 0, 1):  # 8-connectivity across the seam: (r-1, c) ~ (r, c + d)
                lo, hi = max(0, -d), w - max(0, d)
                pa = prev_last[lo:hi]
                pb = first[lo + d : hi + d]
                ok = (pa >= 0) & (pb >= 0)
                seam_a.append(pa[ok])
                seam_b.append(pb[ok])
        prev_last = np.where(labels[-1] > 0, labels[-1] + total, -1)
        offsets.append(total)
        strong_flags.append(has_strong)
        total += n
    keep = np.concatenate(strong_flags)
    if seam_a:
        a = np.concatenate(seam_a)
        b = np.concatenate(seam_b)
        graph = coo_matrix((np.ones(a.size, np.int8), (a, b)), shape=(total, total))
        _, comp = connected_components(graph, directed=False)
        comp_strong = np.zeros(int(comp.max()) + 1, bool)
        np.logical_or.at(comp_strong, comp, keep)
        keep = comp_strong[comp]
    for (r0, r1), off in zip(_bands(h, band_rows), offsets, strict=True):
        weak = np.unpackbits(weak_bits[r0:r1], axis=1, count=w).astype(bool)
        _, labels = _labels(weak)
        edge = keep[labels + off] & weak
        edges[r0:r1] = np.packbits(edge, axis=1)
    return edges


def _unpack(bits: np.ndarray, a: int, b: int, width: int) -> np.ndarray:
    return np.unpackbits(bits[a:b], axis=1, count=width).astype(bool)


# --------------------------------------------------------------------------- per model


@dataclass(frozen=True)
class BandSpec:
    """How to stream one model: its halo, an optional whole-image pass, and the band function.

    ``prepare(rows, band_rows) -> ctx`` computes the whole-image quantities (or None);
    ``band(luma_crop, ctx, a, b) -> HxW`` maps luma rows ``a:b`` of the image (the band with
    its halo) given that context.
    """

    halo: int
    band: Callable[..., np.ndarray]
    prepare: Callable[[_Rows, int], object] | None = None


def _chou_li_band(luma, ctx, a, b, rows=None):
    from jndtf.priors.luminance import background_luminance_f64, luminance_threshold_f64
    from jndtf.priors.texture import texture_masking_f64

    bg = background_luminance_f64(luma, floor=False)
    return np.maximum(texture_masking_f64(bg, max_gradient_f64(luma)), luminance_threshold_f64(bg))


def _chen2019_band(luma, ctx, a, b, rows):
    from jndtf.baselines import chen2019 as m
    from jndtf.priors.luminance import BACKGROUND_KERNEL

    h, w = rows.height, rows.width
    base = _chou_li_band(luma, None, a, b).astype(np.float32).astype(np.float64)  # as chen2019
    v = m.viewing_distance_pixels(m.VIEWING_DISTANCE_CM, m.PIXEL_PITCH_MM)
    centre = ((h - 1) / 2.0 - a, (w - 1) / 2.0)  # the whole image's centre in band rows
    ecc = m.elliptical_eccentricity(luma.shape, [centre], v, k_upper=m.K_UPPER, k_lower=m.K_LOWER)
    bg = filter2(BACKGROUND_KERNEL, luma) / 32.0
    return base * m.foveation_factor(ecc, bg, v)


def _canny_ctx(high: float):
    def prepare(rows: _Rows, band_rows: int):
        return banded_canny(rows, high, band_rows=band_rows)

    return prepare


def _yang2005_band(luma, edge_bits, a, b, rows):
    from jndtf.baselines.wu2017 import namm
    from jndtf.priors.luminance import background_luminance_f64, luminance_threshold_f64
    from jndtf.priors.texture import texture_masking_f64

    edges = _unpack(edge_bits, a, b, rows.width)
    weight = filter2(fspecial_gaussian(7, 0.8), 1.0 - 0.95 * dilate(edges, strel_disk(6, 6)))
    bg = background_luminance_f64(luma, floor=False)
    return namm(
        luminance_threshold_f64(bg), texture_masking_f64(bg, max_gradient_f64(luma) * weight)
    )


def _wu2017_prepare(rows: _Rows, band_rows: int):
    """Wu 2017's Canny threshold from the largest edge height, then the banded Canny."""
    h, w = rows.height, rows.width
    peak = 0.0
    for r0, r1 in _bands(h, band_rows):
        lo, hi = max(r0, 2), min(r1, h - 2)  # the edge height's frame mirrors the interior
        if lo >= hi:
            continue
        a, b = _with_halo(lo, hi, 2, h)
        gm = max_gradient_f64(rows(a, b))
        peak = max(peak, float(gm[lo - a : hi - a, 2 : w - 2].max()))
    t = EDGE_THRESHOLD_CAP if peak <= 0.0 else min(EDGE_HEIGHT_SCALE / peak, EDGE_THRESHOLD_CAP)
    return banded_canny(rows, t, band_rows=band_rows)


def _wu2017_band(luma, edge_bits, a, b, rows):
    from jndtf.baselines.wu2017 import _wu2017

    edges = _unpack(edge_bits, a, b, rows.width)
    ep = filter2(fspecial_gaussian(5, 0.8), 1.0 - dilate(edges, strel_disk(3)))
    return _wu2017(luma, ep)["jnd"]


def _wu2013_band(luma, edge_bits, a, b, rows):
    from jndtf.baselines import wu2013 as m

    edges = _unpack(edge_bits, a, b, rows.width)
    r = m.PATCH_RADIUS
    jnd = m._wu2013_jnd(luma, edges)
    h, w = rows.height, rows.width
    # MATLAB valid_mask(r:row-r, r:col-r) of the whole image, in band rows
    rr = np.arange(a, b)
    jnd[(rr < r - 1) | (rr >= h - r), :] = 0.0
    jnd[:, : r - 1] = 0.0
    jnd[:, w - r :] = 0.0
    return jnd


def _liu2010_band(luma, ctx, a, b, rows):
    from jndtf.baselines import liu2010 as m

    return m._liu2010_maps(luma)["jnd"]


BAND_SPECS: dict[str, BandSpec] = {
    "chou_li1995": BandSpec(4, _chou_li_band),
    "chen2019": BandSpec(4, _chen2019_band),
    "yang2005": BandSpec(12, _yang2005_band, _canny_ctx(0.5)),
    "wu2017": BandSpec(10, _wu2017_band, _wu2017_prepare),
    "wu2013": BandSpec(24, _wu2013_band, _canny_ctx(0.7)),
    "liu2010": BandSpec(310, _liu2010_band),
}


def band_rows_for(model: str, width: int, band_pixels: int = DEFAULT_BAND_PIXELS) -> int:
    """Rows per band: ~`band_pixels` per band, at least twice the model's halo and 16 rows."""
    halo = BAND_SPECS[model].halo
    return max(16, 2 * halo, band_pixels // max(1, width))


def run_banded(
    model: str,
    image: np.ndarray,
    *,
    band_rows: int | None = None,
    progress: Progress = None,
) -> np.ndarray:
    """The registered model's JND map of `image`, computed band by band (module docstring).

    Args:
        model: a name in :data:`BAND_SPECS` (every registered classical model).
        image: uint8 or 0..255 float, grey ``HxW`` or RGB ``HxWx3`` (already validated).
        band_rows: rows per band (default :func:`band_rows_for`); any value >= 1 gives the
            same map.
        progress: ``progress(done_rows, total_rows)`` after each band of the final pass.

    Returns:
        float32 ``HxWx1`` JND map in grey levels, equal to ``baselines.get(model)(image)``
        up to float rounding (exactly, on the models tested).

    Raises:
        KeyError: a model without a band declaration.
    """
    if model not in BAND_SPECS:
        raise KeyError(f"no banded version of {model!r}; banded: {', '.join(sorted(BAND_SPECS))}")
    spec = BAND_SPECS[model]
    rows = _Rows(image)
    h, w = rows.height, rows.width
    if band_rows is None:
        band_rows = band_rows_for(model, w)
    if band_rows < 1:
        raise ValueError(f"band_rows must be >= 1, got {band_rows}")
    ctx = spec.prepare(rows, max(band_rows, 16)) if spec.prepare is not None else None
    out = np.empty((h, w, 1), np.float32)
    for r0, r1 in _bands(h, band_rows):
        a, b = _with_halo(r0, r1, spec.halo, h)
        band = spec.band(rows(a, b), ctx, a, b, rows)
        out[r0:r1, :, 0] = band[r0 - a : r1 - a]
        if progress is not None:
            progress(r1, h)
    return out


__all__ = ["BAND_SPECS", "BandSpec", "band_rows_for", "banded_canny", "run_banded"]
