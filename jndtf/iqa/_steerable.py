"""Spatial steerable pyramid of matlabPyrTools (``buildSpyr`` with ``sp5Filters``) in ``keras.ops``.

This is the wavelet of the LIVE ``vifvec.m`` (VIF, Sheikh & Bovik 2006), which calls
``buildSpyr(im, 4, 'sp5Filters', 'reflect1')``. The transform is Simoncelli & Freeman, "The
Steerable Pyramid: A Flexible Architecture for Multi-Scale Derivative Computation", ICIP 1995;
the filters are those of Karasaridis & Simoncelli, ICASSP 1996, as printed (8 decimals) in
matlabPyrTools ``sp5Filters.m``: a 5x5 initial low-pass ``lo0filt``, a 9x9 low-pass ``lofilt``
(the file multiplies its table by 2) and six 7x7 oriented band-pass filters ``bfilts`` (fifth
derivative order, orientations k*30 degrees).

Conventions reproduced from matlabPyrTools:

- ``corrDn``: correlation (not convolution) with the filter's origin at its centre, and the
  'reflect1' border (reflection about the edge pixel, which is not repeated: numpy's "reflect").
- ``buildSpyr``: ``lo0 = corrDn(im, lo0filt)``; at each level the six bands are
  ``corrDn(lo, reshape(bfilts(:, b), 7, 7))`` (MATLAB's column-major reshape), then
  ``lo = corrDn(lo, lofilt, 'reflect1', [2 2], [1 1])``: keep rows/columns 0, 2, 4, ...
  (0-based), so a level of size n gives ceil(n / 2).
- The high-pass residual ``hi0`` and the final low-pass residual are not computed: VIF uses
  neither.

Tables are stored as integers in units of 1e-8, i.e. exactly the printed decimals; the 8-fold
symmetric low-pass filters as the lower triangle of their top-left quadrant.
"""

from __future__ import annotations

import numpy as np
from keras import ops

from jndtf.iqa._ops import filter2d, pad2d

# lo0filt (5x5): rows r = 0..2 of the top-left quadrant, columns 0..r.
_LO0_TRI = ((341614,), (-1551246, 5586982), (-3848215, 15925570, 40304148))

# lofilt / 2 (9x9), as printed inside ``lofilt = 2*[...]``.
_LO_HALF_TRI = (
    (85404,),
    (-244917, -523281),
    (-387812, -661117, 1396746),
    (-944432, 410600, 3277038, 6426333),
    (-962054, 1002988, 3981393, 8169618, 10096540),
)

# bfilts: one entry per band, seven printed lines of seven values each. MATLAB stores each band
# as a column of 49 and reshapes it column-major, so printed line j is column j of the filter.
_BFILTS_LINES = (
    (
        (277643, 496194, 1026699, 1455399, 1026699, 496194, 277643),
        (-986904, -893064, 1189859, 2755155, 1189859, -893064, -986904),
        (-1021852, -3075356, -8226445, -11732297, -8226445, -3075356, -1021852),
        (0, 0, 0, 0, 0, 0, 0),
        (1021852, 3075356, 8226445, 11732297, 8226445, 3075356, 1021852),
        (986904, 893064, -1189859, -2755155, -1189859, 893064, 986904),
        (-277643, -496194, -1026699, -1455399, -1026699, -496194, -277643),
    ),
    (
        (-343249, -640815, -73141, 1124321, 182078, 285723, 1166982),
        (-358461, -1977507, -4084211, -228219, 3930573, 1161195, 128000),
        (1047717, 1486305, -4819057, -12227230, -5394139, 853965, -459034),
        (790407, 4435647, 9454202, 0, -9454202, -4435647, -790407),
        (459034, -853965, 5394139, 12227230, 4819057, -1486305, -1047717),
        (-128000, -1161195, -3930573, 228219, 4084211, 1977507, 358461),
        (-1166982, -285723, -182078, -1124321, 73141, 640815, 343249),
    ),
    (
        (343249, 358461, -1047717, -790407, -459034, 128000, 1166982),
        (640815, 1977507, -1486305, -4435647, 853965, 1161195, 285723),
        (73141, 4084211, 4819057, -9454202, -5394139, 3930573, 182078),
        (-1124321, 228219, 12227230, 0, -12227230, -228219, 1124321),
        (-182078, -3930573, 5394139, 9454202, -4819057, -4084211, -73141),
        (-285723, -1161195, -853965, 4435647, 1486305, -1977507, -640815),
        (-1166982, -128000, 459034, 790407, 1047717, -358461, -343249),
    ),
    (
        (-277643, 986904, 1021852, 0, -1021852, -986904, 277643),
        (-496194, 893064, 3075356, 0, -3075356, -893064, 496194),
        (-1026699, -1189859, 8226445, 0, -8226445, 1189859, 1026699),
        (-1455399, -2755155, 11732297, 0, -11732297, 2755155, 1455399),
        (-1026699, -1189859, 8226445, 0, -8226445, 1189859, 1026699),
        (-496194, 893064, 3075356, 0, -3075356, -893064, 496194),
        (-277643, 986904, 1021852, 0, -1021852, -986904, 277643),
    ),
    (
        (-1166982, -128000, 459034, 790407, 1047717, -358461, -343249),
        (-285723, -1161195, -853965, 4435647, 1486305, -1977507, -640815),
        (-182078, -3930573, 5394139, 9454202, -4819057, -4084211, -73141),
        (-1124321, 228219, 12227230, 0, -12227230, -228219, 1124321),
        (73141, 4084211, 4819057, -9454202, -5394139, 3930573, 182078),
        (640815, 1977507, -1486305, -4435647, 853965, 1161195, 285723),
        (343249, 358461, -1047717, -790407, -459034, 128000, 1166982),
    ),
    (
        (-1166982, -285723, -182078, -1124321, 73141, 640815, 343249),
        (-128000, -1161195, -3930573, 228219, 4084211, 1977507, 358461),
        (459034, -853965, 5394139, 12227230, 4819057, -1486305, -1047717),
        (790407, 4435647, 9454202, 0, -9454202, -4435647, -790407),
        (1047717, 1486305, -4819057, -12227230, -5394139, 853965, -459034),
        (-358461, -1977507, -4084211, -228219, 3930573, 1161195, 128000),
        (-343249, -640815, -73141, 1124321, 182078, 285723, 1166982),
    ),
)


def _from_quadrant_triangle(tri) -> np.ndarray:
    """Full (2c+1)^2 filter from the lower triangle of its 8-fold symmetric top-left quadrant."""
    c = len(tri) - 1
    n = 2 * c + 1
    d = c - np.abs(np.arange(n) - c)  # distance from the border, 0..c
    hi, lo = np.maximum.outer(d, d), np.minimum.outer(d, d)
    out = np.empty((n, n), dtype=np.float64)
    for i in range(n):
        for j in range(n):
            out[i, j] = tri[hi[i, j]][lo[i, j]]
    return out * 1e-8


def sp5_filters() -> dict[str, np.ndarray]:
    """The ``sp5Filters.m`` filters as float64 arrays in MATLAB's orientation.

    Returns:
        ``{"lo0filt": (5, 5), "lofilt": (9, 9), "bfilts": (6, 7, 7)}``; ``bfilts[b]`` is
        ``reshape(bfilts(:, b + 1), 7, 7)`` of MATLAB.
    """
    bfilts = np.stack([np.asarray(lines, dtype=np.float64).T for lines in _BFILTS_LINES]) * 1e-8
    return {
        "lo0filt": _from_quadrant_triangle(_LO0_TRI),
        "lofilt": 2.0 * _from_quadrant_triangle(_LO_HALF_TRI),
        "bfilts": bfilts,
    }


_FILTERS = sp5_filters()


def min_size(height: int) -> int:
    """Smallest image side for which every 'reflect1' border of a `height`-level pyramid fits.

    A reflected border must be shorter than the signal: the 7x7 band filters need a side of at
    least 4 at every level, the 9x9 low-pass at least 5 on the levels it reduces (a level of
    side n has side ceil(n / 2) below it).
    """
    n = 3  # the 5x5 lo0filt
    while True:
        sides = [-(-n // 2**lev) for lev in range(height)]
        if all(s >= 4 for s in sides) and all(s >= 5 for s in sides[:-1]):
            return n
        n += 1


def sp5_bands(grey, height: int = 4, bands=(0, 1, 2, 3, 4, 5)):
    """Oriented sub-bands of ``buildSpyr(im, height, 'sp5Filters', 'reflect1')``.

    Args:
        grey: NHW1 float tensor (one channel; the pyramid is linear, so any scale).
        height: number of levels (``vifvec`` uses 4).
        bands: which of the six orientations to return, 0-based (band ``b`` is MATLAB's
            ``bfilts(:, b + 1)``, orientation b * 30 degrees).

    Returns:
        A list of `height` tensors, finest level first, level l of shape
        ``(N, ceil(H / 2**l), ceil(W / 2**l), len(bands))``.

    Raises:
        ValueError: more than one channel, or a side too small for the 'reflect1' borders.
    """
    if grey.shape[-1] != 1:
        raise ValueError(f"sp5_bands expects one channel (NHW1), got shape {tuple(grey.shape)}")
    h, w = grey.shape[1], grey.shape[2]
    need = min_size(height)
    if h is not None and w is not None and min(h, w) < need:
        raise ValueError(
            f"a {height}-level steerable pyramid needs images of at least {need}x{need}, "
            f"got {h}x{w}"
        )
    bank = np.stack([_FILTERS["bfilts"][b] for b in bands], axis=-1)  # (7, 7, nb)
    bank = ops.convert_to_tensor(bank[:, :, None, :].astype(np.float32))
    lo = filter2d(grey, _FILTERS["lo0filt"], mode="reflect")
    levels = []
    for lev in range(height):
        padded = pad2d(lo, 3, 3, 3, 3, "reflect")
        levels.append(
            ops.conv(padded, bank, strides=1, padding="valid", data_format="channels_last")
        )
        if lev + 1 < height:
            lo = filter2d(lo, _FILTERS["lofilt"], mode="reflect", stride=2)
    return levels


__all__ = ["min_size", "sp5_bands", "sp5_filters"]
