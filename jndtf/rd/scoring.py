"""BD-rate rows of an ``eval rd`` sweep: each curve against the plain encoder and the anchors.

The scoring step between the sweep (:mod:`jndtf.rd.protocol`) and the written report
(:mod:`jndtf.rd.report`): from the measured points (one dict per encode, as ``points.csv``
holds them) to the rows of ``bdrate.csv``. Per input, metric and interpolation
(:data:`jndtf.codecs.bdrate.METHODS`, cubic and pchip) every curve gets its BD-rate
(:func:`jndtf.codecs.bdrate.bd_rate`: log-rate against quality, integrated over the pair's
overlapping quality range only) against the plain encoder, and each method curve and hull also
against every anchor; then the arithmetic mean of the per-input BD-rates.
"""

from __future__ import annotations

import math

import numpy as np

from jndtf.codecs import bdrate as bd
from jndtf.codecs.quality import UNITS


def metric_unit(metric: str) -> str:
    """The unit of a metric column (``"ssimulacra2@clean"`` has the unit of ``ssimulacra2``)."""
    return UNITS.get(metric.split("@")[0], "")


def point_value(p: dict, metric: str) -> float:
    """A point's value of `metric` (NaN where that metric was not measured)."""
    v = p.get(metric, "")
    return math.nan if v == "" else float(v)


def curve_points(points: list[dict], name: str, label: str, metric: str):
    """``(rates, qualities)`` of curve `label` of input `name`, in sweep order."""
    rows = [p for p in points if p["input"] == name and p["curve"] == label]
    return [p["rate"] for p in rows], [point_value(p, metric) for p in rows]


def hull_points(points, name, method, metric):
    """The method's curve over all its strengths: at each quality the lowest rate any strength
    reaches (:func:`jndtf.codecs.bdrate.best_of`, 64 points on a quality grid)."""
    rows = [p for p in points if p["input"] == name and p["method"] == method]
    curves = []
    for label in dict.fromkeys(p["curve"] for p in rows):
        sel = [p for p in rows if p["curve"] == label]
        curves.append(([p["rate"] for p in sel], [point_value(p, metric) for p in sel]))
    return bd.best_of(curves)


def bd_rate_rows(points, names, method_names, metrics, windows=None) -> list[dict]:
    """BD-rate rows per input (+ means); `windows` ``{metric: (lo, hi)}`` adds rows integrated
    only over that quality range (interpolation written e.g. ``"cubic 60-90"``)."""
    windows = windows or {}
    rows: list[dict] = []
    for name in names:
        labels = list(dict.fromkeys(p["curve"] for p in points if p["input"] == name))
        plain = labels[0]
        anchors = [lab for lab in labels[1:] if "s=" not in lab]
        tests = [(lab, None) for lab in labels[1:]]
        present = {p["method"] for p in points if p["input"] == name}
        tests += [(f"{m} hull", m) for m in method_names if m in present]
        for metric in metrics:
            for label, hull_of in tests:
                if hull_of is None:
                    test = curve_points(points, name, label, metric)
                else:
                    test = hull_points(points, name, hull_of, metric)
                references = [plain]
                if label not in anchors:
                    references += anchors
                for ref in references:
                    anchor = curve_points(points, name, ref, metric)
                    variants = [(i, None) for i in bd.METHODS]
                    if metric in windows:
                        variants += [(i, windows[metric]) for i in bd.METHODS]
                    for interp, window in variants:
                        row = {
                            "input": name,
                            "curve": label,
                            "reference": ref,
                            "metric": metric,
                            "interpolation": interp
                            + ("" if window is None else f" {window[0]:g}-{window[1]:g}"),
                            "bd_rate_percent": "",
                            "overlap_lo": "",
                            "overlap_hi": "",
                            "note": "",
                        }
                        try:
                            r = bd.bd_rate(*anchor, *test, method=interp, window=window)
                            row.update(
                                bd_rate_percent=round(r.percent, 3),
                                overlap_lo=round(r.overlap[0], 4),
                                overlap_hi=round(r.overlap[1], 4),
                            )
                        except ValueError as e:
                            row["note"] = str(e)
                        rows.append(row)
    # means over inputs of the same kind
    keys = list(
        dict.fromkeys((r["curve"], r["reference"], r["metric"], r["interpolation"]) for r in rows)
    )
    means = []
    for key in keys:
        sel = [
            r for r in rows if (r["curve"], r["reference"], r["metric"], r["interpolation"]) == key
        ]
        vals = [r["bd_rate_percent"] for r in sel if r["bd_rate_percent"] != ""]
        mean = {
            "input": "mean",
            "curve": key[0],
            "reference": key[1],
            "metric": key[2],
            "interpolation": key[3],
            "bd_rate_percent": round(float(np.mean(vals)), 3) if vals else "",
            "overlap_lo": round(min(r["overlap_lo"] for r in sel if r["overlap_lo"] != ""), 4)
            if vals
            else "",
            "overlap_hi": round(max(r["overlap_hi"] for r in sel if r["overlap_hi"] != ""), 4)
            if vals
            else "",
            "note": f"{len(vals)} of {len(sel)} inputs have a BD-rate; "
            f"{sum(v < 0 for v in vals)} save",
        }
        means.append(mean)
    return rows + means


__all__ = ["bd_rate_rows", "curve_points", "hull_points", "metric_unit", "point_value"]
