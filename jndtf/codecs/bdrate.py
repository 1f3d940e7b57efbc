"""Bjøntegaard-delta rate (BD-rate) as codec engineers compute it, by the ``bjontegaard`` package.

BD-rate (Bjøntegaard, VCEG-M33, 2001) is the average difference of log-rate between a test curve
and an anchor curve, integrated over the quality range both curves cover, as a percentage:

    BD-rate = 10^( (1/(Q2-Q1)) ∫_{Q1}^{Q2} [log10 R_test(Q) - log10 R_anchor(Q)] dQ ) - 1

with ``[Q1, Q2]`` the OVERLAP of the two quality ranges and ``log10 R(Q)`` fitted by a cubic
polynomial (``"cubic"``, the original VCEG-M33 method) or by piecewise-cubic Hermite
interpolation (``"pchip"``, the JVET CTC spreadsheet's method). Negative = the test needs fewer
bits for the same quality. Curves that do not overlap have no BD-rate: :class:`NoOverlapError`
says so with both ranges (the package would warn and return NaN).

Before fitting, each curve keeps only its rate-quality-efficient points (:func:`efficient_points`:
sorted by rate, each point better in quality than every cheaper one), since a point that costs
more for less quality is never the operating point anyone picks, and PCHIP needs a strictly
increasing quality axis.

Example:
    >>> bd_rate([100, 200, 400], [30, 35, 40], [90, 180, 360], [30, 35, 40])
    BDRate(percent=-10.0..., method='cubic', overlap=(30.0, 40.0))
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Interpolation methods offered (both are the ``bjontegaard`` package's).
METHODS = ("cubic", "pchip")


class NoOverlapError(ValueError):
    """The two curves' quality ranges do not overlap, so BD-rate is undefined."""


@dataclass(frozen=True)
class BDRate:
    """A BD-rate: ``percent`` (negative = fewer bits at equal quality), the interpolation
    ``method`` and the quality range ``overlap = (Q1, Q2)`` it was integrated over."""

    percent: float
    method: str
    overlap: tuple[float, float]


def _import_bjontegaard():
    try:
        import bjontegaard
    except ImportError as err:
        raise ImportError(
            "BD-rate needs the bjontegaard package, which is not installed: run "
            'pip install "jndtf[rd]" (or pip install bjontegaard)'
        ) from err
    return bjontegaard


def _curve(rates: Sequence[float], quality: Sequence[float], name: str):
    r = np.asarray(rates, dtype=np.float64).ravel()
    q = np.asarray(quality, dtype=np.float64).ravel()
    if r.size != q.size:
        raise ValueError(f"{name}: {r.size} rates but {q.size} quality values")
    keep = np.isfinite(r) & np.isfinite(q)
    r, q = r[keep], q[keep]
    if np.any(r <= 0):
        raise ValueError(f"{name}: rates must be > 0 (they are taken in log)")
    return r, q


def efficient_points(
    rates: Sequence[float], quality: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """The points no cheaper point beats: sorted by rate, quality strictly increasing.

    Non-finite values (e.g. PSNR = inf of a lossless point) are dropped first.

    Example:
        >>> efficient_points([1, 2, 3], [10, 9, 12])
        (array([1., 3.]), array([10., 12.]))
    """
    r, q = _curve(rates, quality, "curve")
    order = np.lexsort((-q, r))
    kept_r, kept_q = [], []
    for ri, qi in zip(r[order], q[order], strict=True):
        if not kept_q or qi > kept_q[-1]:
            kept_r.append(ri)
            kept_q.append(qi)
    return np.asarray(kept_r), np.asarray(kept_q)


def lower_envelope(
    rates: Sequence[float], quality: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """The convex hull's efficient part (upper-left boundary in rate-quality, i.e. the lower-left
    envelope in rate for each quality) of a cloud of points: a method swept over several
    strengths and codec qualities is worth what this envelope is worth.

    Points are hulled in (log10 rate, quality), the axes BD-rate integrates over.

    Example:
        >>> lower_envelope([1, 2, 4, 2], [10, 25, 30, 12])
        (array([1., 2., 4.]), array([10., 25., 30.]))
    """
    r, q = efficient_points(rates, quality)
    if r.size <= 2:
        return r, q
    x = np.log10(r)
    hull: list[int] = []
    for i in range(x.size):  # Andrew's monotone chain, upper hull (concave quality(log rate))
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            cross = (x[b] - x[a]) * (q[i] - q[a]) - (q[b] - q[a]) * (x[i] - x[a])
            if cross >= 0:
                hull.pop()
            else:
                break
        hull.append(i)
    return r[hull], q[hull]


def best_of(curves: Sequence[tuple[Sequence[float], Sequence[float]]], samples: int = 64):
    """The lower envelope of several rate-quality curves (one method at several strengths): at
    each quality, the lowest rate any curve reaches there, each curve interpolated by PCHIP of
    log-rate over its own efficient points and only within its own quality range. Returned as
    `samples` points on an even quality grid over the union of the ranges, so it is never worse
    than the best curve at any quality (unlike the Pareto points of the cloud, whose zig-zag
    between strengths interpolates below each of them), and a cubic fit through it is stable.

    Example:
        >>> r, q = best_of([([1, 2, 4], [30, 35, 40]), ([1.5, 2.5, 3.5], [30, 36, 41])])
    """
    from scipy.interpolate import PchipInterpolator

    fits = []
    for rates, quality in curves:
        r, q = efficient_points(rates, quality)
        if q.size >= 2:
            fits.append((q.min(), q.max(), PchipInterpolator(q, np.log10(r))))
    if not fits:
        return np.empty(0), np.empty(0)
    grid = np.linspace(min(f[0] for f in fits), max(f[1] for f in fits), samples)
    best = np.full(grid.shape, np.inf)
    for lo, hi, f in fits:
        inside = (grid >= lo) & (grid <= hi)
        best[inside] = np.minimum(best[inside], f(grid[inside]))
    keep = np.isfinite(best)
    return 10 ** best[keep], grid[keep]


def quality_range(quality: Sequence[float]) -> tuple[float, float]:
    """(min, max) of the finite values."""
    q = np.asarray(quality, dtype=np.float64)
    q = q[np.isfinite(q)]
    return (float(q.min()), float(q.max())) if q.size else (math.nan, math.nan)


def bd_rate(
    rate_anchor: Sequence[float],
    quality_anchor: Sequence[float],
    rate_test: Sequence[float],
    quality_test: Sequence[float],
    method: str = "cubic",
    window: tuple[float, float] | None = None,
) -> BDRate:
    """BD-rate of the test curve against the anchor, in percent, over the overlapping quality.

    With a `window` ``(lo, hi)`` the integration range is the overlap intersected with it (e.g.
    SSIMULACRA2 60..90, the range issue 13's targets are stated on); the curves are still
    fitted on all their points, by the package's own interpolators.

    Args:
        rate_anchor, quality_anchor: the anchor's points (bytes, bpp or kbit/s; any quality
            metric where higher is better).
        rate_test, quality_test: the test's points, same units.
        method: ``"cubic"`` or ``"pchip"``.
        window: optional quality range to integrate over (within the overlap).

    Raises:
        NoOverlapError: the quality ranges do not overlap (the message gives both).
        ValueError: fewer than 2 efficient points on a curve (4 for ``cubic``), rates <= 0,
            an unknown method.
        ImportError: the bjontegaard package is missing.
    """
    if method not in METHODS:
        raise ValueError(f"unknown BD-rate method {method!r}; choose from {', '.join(METHODS)}")
    need = 4 if method == "cubic" else 2
    ra, qa = efficient_points(rate_anchor, quality_anchor)
    rt, qt = efficient_points(rate_test, quality_test)
    for name, q in (("anchor", qa), ("test", qt)):
        if q.size < need:
            raise ValueError(
                f"BD-rate ({method}) needs at least {need} rate-quality points on the {name} "
                f"curve where quality rises with rate; it has {q.size}: sweep more qualities"
            )
    lo, hi = max(qa.min(), qt.min()), min(qa.max(), qt.max())
    if not hi > lo:
        raise NoOverlapError(
            f"the quality ranges do not overlap (anchor {qa.min():.4g}..{qa.max():.4g}, "
            f"test {qt.min():.4g}..{qt.max():.4g}), so BD-rate is undefined: extend the "
            "quality sweep of one curve until they overlap"
        )
    if window is not None:
        lo, hi = max(lo, float(window[0])), min(hi, float(window[1]))
        if not hi > lo:
            raise NoOverlapError(
                f"the overlap (anchor {qa.min():.4g}..{qa.max():.4g}, test {qt.min():.4g}.."
                f"{qt.max():.4g}) misses the window {window[0]:g}..{window[1]:g}"
            )
    bj = _import_bjontegaard()
    if window is not None:
        from bjontegaard.interpolation import interpolate

        fa = interpolate(qa, np.log10(ra), method)
        ft = interpolate(qt, np.log10(rt), method)
        avg = (ft.integrate(lo, hi) - fa.integrate(lo, hi)) / (hi - lo)
        percent = float((10**avg - 1) * 100)
        _check_plausible(percent, ra, rt, method)
        return BDRate(percent, method, (float(lo), float(hi)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the overlap is checked above; small overlaps are reported
        value = bj.bd_rate(
            ra, qa, rt, qt, method=method, require_matching_points=False, min_overlap=0
        )
    _check_plausible(float(value), ra, rt, method)
    return BDRate(float(value), method, (float(lo), float(hi)))


def _check_plausible(percent: float, ra: np.ndarray, rt: np.ndarray, method: str) -> None:
    """Both curves rise with quality, so at every quality of the overlap the rate ratio lies in
    ``[min rt / max ra, max rt / min ra]``, and so does its average: a BD-rate outside that
    range can only come from a fit that swings between the points (a cubic through a few
    uneven points). Such a value is refused, never reported."""
    lo, hi = 100.0 * (rt.min() / ra.max() - 1.0), 100.0 * (rt.max() / ra.min() - 1.0)
    if not (math.isfinite(percent) and lo - 1e-9 <= percent <= hi + 1e-9):
        raise ValueError(
            f"BD-rate ({method}) came out {percent:.4g} %, outside the {lo:.3g}..{hi:.3g} % the "
            "points allow: the fit swings between uneven points (use pchip or more points)"
        )
