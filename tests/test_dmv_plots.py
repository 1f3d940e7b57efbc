"""The charts and training-history tables of `jndtf eval dmv` (issue #11), without TensorFlow.

Independent references: axis ranges and ticks worked out by hand; where a value is drawn is
the linear (or log10) map of the value onto the plot box, computed here; history tables are
compared with the JSON records this file writes.
"""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest

from jndtf.evaluate import dmv as lib


def test_nice_axis_by_hand():
    # 3..47: step (47 - 3) / 5 = 8.8 -> 10; 0..50
    lo, hi, ticks = lib.nice_axis([3, 47, math.nan])
    assert (lo, hi) == (0, 50) and [t for t, _ in ticks] == [0, 10, 20, 30, 40, 50]
    # 90..100 (an RCA axis): step 2
    lo, hi, ticks = lib.nice_axis([90, 100])
    assert (lo, hi) == (90, 100) and [t for t, _ in ticks] == [90, 92, 94, 96, 98, 100]
    # log: 0.02 .. 5 -> 10^-2 .. 10^1; a zero cannot be drawn and is left out
    lo, hi, ticks = lib.nice_axis([0.02, 5, 0.0], log=True)
    assert (lo, hi) == (-2, 1) and [s for _, s in ticks] == ["0.01", "0.1", "1", "10"]
    # one value: a non-empty range around it
    lo, hi, _ = lib.nice_axis([33.9])
    assert lo <= 33.9 <= hi and hi > lo


def _points(img: np.ndarray, colour) -> np.ndarray:
    """(y, x) of the pixels exactly of `colour` (the markers and lines of one series)."""
    return np.argwhere(np.all(img == np.array(colour, np.uint8), axis=-1))


def _near(points: np.ndarray, y: float, x: float, r: float = 2.5) -> bool:
    return bool(np.any(np.hypot(points[:, 0] - y, points[:, 1] - x) <= r))


@pytest.mark.parametrize(
    ("ys", "y_range", "log", "fractions"),
    [
        ([25.0, 75.0], (0.0, 100.0), False, [0.25, 0.75]),  # a percentage axis
        ([91.0, 99.0], (90.0, 100.0), False, [0.1, 0.9]),  # a zoomed RCA axis
        ([0.1, 10.0], None, True, [0.0, 1.0]),  # log10: -1 .. 1
        # auto: step (45 - 35) / 5 = 2, axis 34 .. 46: 35 -> 1/12, 45 -> 11/12
        ([35.0, 45.0], None, False, [1 / 12, 11 / 12]),
    ],
)
def test_a_value_is_drawn_where_the_linear_map_puts_it(ys, y_range, log, fractions):
    width, height = 720, 420
    img = lib.line_chart(
        [0.0, 1.0],
        {"s": ys},
        title="t",
        x_label="x",
        y_label="y",
        y_range=y_range,
        y_log=log,
        width=width,
        height=height,
    )
    assert img.shape == (height, width, 3) and img.dtype == np.uint8
    left, right, top, bottom = lib.plot_box(width, height)
    pts = _points(img, lib._COLOURS[0])
    for x, f in zip((left, right), fractions, strict=True):
        y = bottom - f * (bottom - top)
        assert _near(pts, y, x), (ys, f)
    # and nothing of that colour above the highest or below the lowest point (+ marker radius)
    inside = pts[(pts[:, 1] >= left - 4) & (pts[:, 1] <= right + 4)]
    ys_px = [bottom - f * (bottom - top) for f in fractions]
    assert inside[:, 0].min() >= min(ys_px) - 4 and inside[:, 0].max() <= max(ys_px) + 4


def _records(n: int) -> list[dict]:
    return [
        {
            "epoch": k,
            "loss": 1.0 / k,
            "l1": 0.5 / k,
            "l2": 0.001 * k,
            "l3": 0.2,
            "val_loss": 2.0 / k,
            "val_rca": {"alexnet": 0.9 + 0.01 * k, "vgg": 1.0},
            "val_mean_rca": (1.9 + 0.01 * k) / 2,
            "val_psnr": 30.0 - k,
            "seconds": 1.5,
        }
        for k in range(1, n + 1)
    ]


def test_history_table_flattens_the_records_and_keeps_every_value():
    records = _records(3)
    rows, fields = lib.history_table(records)
    assert fields[:2] == ["epoch", "loss"]
    assert "val_rca_alexnet" in fields and "val_rca" not in fields
    for row, rec in zip(rows, records, strict=True):
        assert row["val_rca_alexnet"] == rec["val_rca"]["alexnet"]
        assert row["val_psnr"] == rec["val_psnr"] and row["epoch"] == rec["epoch"]
    buf = io.StringIO(lib._csv_bytes(rows, fields).decode())
    back = list(csv.DictReader(buf))
    assert [float(r["loss"]) for r in back] == [rec["loss"] for rec in records]  # repr round trip


def test_history_plots_one_png_per_figure():
    plots = lib.history_plots(_records(5))
    assert set(plots) == {
        "plots/history_loss.png",
        "plots/history_rca.png",
        "plots/history_psnr.png",
    }
    for img in plots.values():
        assert img.ndim == 3 and img.dtype == np.uint8 and img.std() > 0
    # one epoch only (a 1-epoch run): still drawn, no division by a zero x span
    assert set(lib.history_plots(_records(1))) == set(plots)


def test_read_history_where_it_looks_and_what_it_refuses(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    dmv = run / "dmv.keras"
    assert lib.read_history(None, dmv) == ([], None)  # nothing beside: no plots, no error
    (run / "dmv.json").write_text(json.dumps({"training": {"history": _records(2)}}))
    history, path = lib.read_history(None, dmv)
    assert path == run / "dmv.json" and [r["epoch"] for r in history] == [1, 2]
    assert lib.read_history(str(run), dmv)[1] == run / "dmv.json"  # a run folder
    top = tmp_path / "top.json"
    top.write_text(json.dumps({"history": _records(3)}))
    assert len(lib.read_history(str(top), dmv)[0]) == 3
    with pytest.raises(FileNotFoundError, match=r"--history .*nope"):
        lib.read_history(str(tmp_path / "nope.json"), dmv)
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(ValueError, match=r"bad\.json: not readable JSON"):
        lib.read_history(str(bad), dmv)
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"training": {}}))
    with pytest.raises(ValueError, match="no per-epoch 'history'"):
        lib.read_history(str(empty), dmv)
    (run / "dmv.json").write_text("{")  # unreadable beside --dmv: skipped, not an error
    assert lib.read_history(None, dmv) == ([], None)
