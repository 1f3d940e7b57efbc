"""`jndtf bench dmv` (jndtf/bench/dmv.py): the rows are complete and count the classifier runs of
each layout; no timing is asserted (timings on a shared machine are noise)."""

from __future__ import annotations

import math

import pytest


@pytest.mark.tf
def test_bench_dmv_rows_with_untrained_tiny_models():
    from jndtf.bench.dmv import ROW_COLUMNS, DmvBenchSettings, bench_dmv

    settings = DmvBenchSettings(
        classifier_preset="resnet_tiny", dmv_preset="dmv_tiny", runs=1, warmup=1
    )
    cases = (("frame", (32, 32)), ("tiles", (70, 40)))
    rows = bench_dmv(settings, cases=cases)
    assert [(r["layout"], r["size"]) for r in rows] == [("frame", "32x32"), ("tiles", "70x40")]
    for r in rows:
        assert set(ROW_COLUMNS) <= set(r)
        assert r["weights"].startswith("untrained")
        assert math.isfinite(r["total_ms_median"]) and r["total_ms_median"] > 0
    # 70x40 in 32x32 tiles: ceil(70/32) * ceil(40/32) = 3 * 2 classifier runs per frame
    assert rows[0]["classifier_runs"] == 1 and rows[1]["classifier_runs"] == 6


def test_bench_settings_name_a_missing_file(tmp_path):
    from jndtf.bench.dmv import DmvBenchSettings

    with pytest.raises(ValueError, match=r"--classifiers .*nope\.tflite: no such file"):
        DmvBenchSettings(classifiers=f"{tmp_path}/nope.tflite")
