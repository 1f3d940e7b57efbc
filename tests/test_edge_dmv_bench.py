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


@pytest.mark.tf
def test_bench_skips_the_cases_a_fixed_size_ed_cannot_run(tmp_path):
    from jndtf.bench.dmv import DmvBenchSettings, _export_fixed_ed, bench_dmv

    ed = _export_fixed_ed("dmv_tiny", (32, 32), tmp_path)
    settings = DmvBenchSettings(dmv=ed, classifier_preset="resnet_tiny", runs=1, warmup=1)
    notes = []
    cases = (("frame", (32, 32)), ("frame", (64, 48)), ("tiles", (64, 48)))
    rows = bench_dmv(settings, cases=cases, notes=notes)
    assert [(r["layout"], r["size"]) for r in rows] == [("frame", "32x32"), ("tiles", "64x48")]
    assert rows[0]["dmv_shape"] == "fixed 32x32" and rows[0]["weights"].startswith("untrained")
    assert len(notes) == 1 and "skipped frame 64x48" in notes[0] and "--size 64x48" in notes[0]


def test_bench_settings_name_a_missing_file(tmp_path):
    from jndtf.bench.dmv import DmvBenchSettings

    with pytest.raises(ValueError, match=r"--classifiers .*nope\.tflite: no such file"):
        DmvBenchSettings(classifiers=f"{tmp_path}/nope.tflite")


def test_best_at_rca_picks_the_largest_saving_that_keeps_the_labels():
    from jndtf.bench.dmv import best_at_rca

    rows = [
        {"mode": "a", "rca": 1.0, "bytes_change_pct": -3.0},
        {"mode": "b", "rca": 0.99, "bytes_change_pct": -8.0},
        {"mode": "c", "rca": 0.95, "bytes_change_pct": -20.0},
    ]
    assert best_at_rca(rows, 0.99)["mode"] == "b"
    assert best_at_rca(rows, 1.0)["mode"] == "a"
    assert best_at_rca(rows, 1.01) is None


@pytest.mark.tf
def test_rca_bytes_sweep_rows(tmp_path):
    import cv2
    import numpy as np
    from jndtf.edge.dmv import DmvJnd

    from jndtf.bench.dmv import (
        SWEEP_COLUMNS,
        DmvBenchSettings,
        _export_untrained,
        rca_bytes_sweep,
    )

    settings = DmvBenchSettings(classifier_preset="resnet_tiny", dmv_preset="dmv_tiny")
    dmv, (clf,) = _export_untrained(settings, tmp_path)
    rng = np.random.default_rng(0)
    folder = tmp_path / "imgs" / "cat"  # class-per-folder, as the CIFAR split
    folder.mkdir(parents=True)
    frames = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(3)]
    for i, f in enumerate(frames):
        cv2.imwrite(str(folder / f"{i}.png"), f[..., ::-1])
    rows = rca_bytes_sweep(clf, dmv, tmp_path / "imgs", factors=(1.0, 2.0), num_threads=1)
    assert len(rows) == 4 * 2 and all(set(SWEEP_COLUMNS) <= set(r) for r in rows)
    with DmvJnd(dmv, clf) as d:
        e_max = max(float(np.abs(d.compute(f).e).max()) for f in frames)
    b0 = {r["bytes_original"] for r in rows}
    assert len(b0) == 1  # every row codes the same originals at the same quality
    for r in rows:
        assert r["images"] == 3 and 0.0 <= r["rca"] <= 1.0
        slack = 0.5 if r["mode"] == "perturb" else 0.0  # rounding x + e to uint8
        assert r["max_abs_change"] <= r["factor"] / 2 * e_max + slack + 1e-4
