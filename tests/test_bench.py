"""jndtf.bench: latency statistics, table and CSV of benchmark rows, and `jndtf bench models`.

No timing is asserted (the machine is shared); the tests check the figures' consistency: the
statistics against numpy's closed forms, GMAC/s = MAC/px * H * W / median, the CSV round trip.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest
from jndtf.export import verify
from rich.console import Console
from typer.testing import CliRunner

from jndtf.bench.frames import frame_from_photo, time_priors
from jndtf.bench.models import (
    ROW_COLUMNS,
    RUNTIMES,
    parse_runtimes,
    parse_size,
    parse_sizes,
)
from jndtf.bench.report import Column, latency_stats, read_csv, render_table, write_csv
from jndtf.bench.source import macs_per_pixel_of


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


# --- jndtf bench models ---------------------------------------------------------------------

pytest_plugins = ("edge_fixtures",)

BLOCK_TF = textwrap.dedent(
    """
    import importlib.abc, sys
    class _Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("tensorflow", "keras", "tf_keras"):
                raise ImportError(f"blocked by test: {name}")
    sys.meta_path.insert(0, _Block())
    """
)


def _cli(args):
    import jndtf.cli.bench  # noqa: F401  (registers `bench models`)
    from jndtf.cli import app

    return CliRunner().invoke(app, ["bench", "models", *args])


def _check_rows(rows, macs):
    """Every row's figures are consistent with each other (no timing is asserted)."""
    for r in rows:
        assert list(r) == list(ROW_COLUMNS)
        h, w = int(r["height"]), int(r["width"])
        assert r["size"] == f"{w}x{h}"
        assert 0 < r["min_ms"] <= r["median_ms"] <= r["p90_ms"] <= r["max_ms"]
        assert r["fps"] == pytest.approx(1000.0 / r["median_ms"], rel=1e-9)
        assert r["mac_per_px"] == macs
        assert r["gmac_per_frame"] == pytest.approx(macs * h * w / 1e9, rel=1e-12)
        assert r["gmac_per_s"] == pytest.approx(
            macs * h * w / 1e9 / (r["median_ms"] / 1000.0), rel=1e-9
        )
        assert 0 < r["priors_ms"] <= r["priors_p90_ms"]


@pytest.mark.parametrize(
    ("text", "size"), [("640x360", (640, 360)), (" 1280X720 ", (1280, 720)), ("96x64", (96, 64))]
)
def test_parse_size_is_width_by_height(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("bad", ["640", "640x", "x360", "640x360x3", "-640x360", "8x8", "axb"])
def test_parse_size_refuses_bad_sizes(bad):
    with pytest.raises(ValueError, match="size"):
        parse_size(bad)


def test_parse_sizes_and_runtimes():
    assert parse_sizes("640x360,1280x720,640x360") == ((640, 360), (1280, 720))
    assert parse_runtimes("onnx, keras") == ("onnx", "keras")
    with pytest.raises(ValueError, match="tflite-int4"):
        parse_runtimes("keras,tflite-int4")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sizes", "640by360"], "WIDTHxHEIGHT"),
        (["--sizes", ""], "no frame size"),
        (["--runtimes", "keras,tensorrt"], "unknown runtime"),
        (["--runs", "0"], "--runs"),
        (["nosuchmodel"], "unknown model"),
        (["--model-file", "missing.tflite"], "no such model file"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(args, message, tmp_path):
    result = _cli([*args, "--csv", str(tmp_path / "r.csv")])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (tmp_path / "r.csv").exists()


def test_mac_count_is_the_family_count():
    from jndtf.models.acol.presets import macs_per_pixel

    assert macs_per_pixel_of("acol", "acol", "default") == macs_per_pixel("acol") == 87147
    assert macs_per_pixel_of("acol", "bl", "tiny") == macs_per_pixel("bl", "tiny")
    assert macs_per_pixel_of("acol", "no_such_preset") is None
    assert macs_per_pixel_of("no_family", "acol") is None
    assert macs_per_pixel_of(None, None) is None


def test_resolve_model_needs_no_tensorflow():
    """The model's priors and MAC count come from the registry and manifest, TF-free."""
    code = BLOCK_TF + textwrap.dedent(
        """
        from jndtf.bench.source import model_source
        from jndtf.models.registry import get_model_spec
        src = model_source("acol")
        assert src.priors == get_model_spec("acol").priors, src
        assert src.macs_per_pixel == 87147 and src.keras_path.name == "acol.keras", src
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr


def test_frame_from_photo_crops_the_centre_to_the_aspect():
    # 100x300 photo whose columns are numbered: a 50x50 frame is the centre 100x100 square.
    photo = np.repeat(np.arange(300, dtype=np.float32)[None, :, None], 100, 0)
    photo = np.repeat(np.clip(photo - 100, 0, 99).astype(np.uint8), 3, 2)
    frame = frame_from_photo(photo, (50, 50))
    assert frame.shape == (50, 50, 3) and frame.dtype == np.uint8
    expected = cv2.resize(photo[:, 100:200], (50, 50), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(frame, expected)
    assert frame_from_photo(photo, (200, 400)).shape == (200, 400, 3)  # enlarges too


def test_priors_are_timed_on_the_model_input():
    from jndtf.bench.source import model_source
    from jndtf.models.inputs import model_input
    from jndtf.samples import sample_image

    src = model_source("acol")
    frame = frame_from_photo(sample_image("motorcycle_left"), (48, 80))
    stats, x = time_priors(frame, src, runs=2, warmup=1)
    assert stats["runs"] == 2 and stats["median_ms"] <= stats["p90_ms"]
    want = model_input(frame, src.priors, normalization=src.normalization)
    np.testing.assert_array_equal(x, want[None])


@pytest.mark.tf
def test_model_files_missing_runtimes_are_skipped_with_a_note(
    exported_acol_fixed, exported_acol_dynamic, tmp_path, monkeypatch
):
    """onnxruntime and Keras 'not installed': one note each, the LiteRT rows still come."""
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    monkeypatch.setitem(sys.modules, "keras", None)
    csv_path = tmp_path / "bench.csv"
    fixed, dynamic = exported_acol_fixed.path, exported_acol_dynamic.path
    result = _cli(
        ["--model-file", str(fixed), "--model-file", str(dynamic), "--sizes", "160x96,96x64",
         "--runs", "2", "--warmup", "1", "--csv", str(csv_path)]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "onnx skipped" in result.output and "jndtf[onnx]" in result.output
    assert "keras skipped" in result.output and "jndtf[train]" in result.output
    rows = read_csv(csv_path)
    got = [(r["runtime"], r["shape"], r["size"], r["file"]) for r in rows]
    assert got == [
        ("tflite-fp32", "fixed", "160x96", fixed.name),
        ("tflite-fp32", "dynamic", "160x96", dynamic.name),
        ("tflite-fp32", "dynamic", "96x64", dynamic.name),
    ]
    _check_rows(rows, 87147.0)
    assert len({r["priors_ms"] for r in rows if r["size"] == "160x96"}) == 1


@pytest.mark.tf
def test_model_files_bench_runs_without_tensorflow(exported_acol_fixed, tmp_path):
    """The edge side: exported files are timed in an interpreter where TF cannot load."""
    code = BLOCK_TF + textwrap.dedent(
        f"""
        from jndtf.bench.models import ModelBenchSettings, bench_models
        s = ModelBenchSettings(None, sizes=((160, 96),), runtimes=("keras", "tflite-fp32"),
                               runs=2, warmup=1, model_files=({str(exported_acol_fixed.path)!r},))
        r = bench_models(s)
        assert [row["runtime"] for row in r.rows] == ["tflite-fp32"], r.rows
        assert any(n.startswith("keras skipped") for n in r.notes), r.notes
        assert "tensorflow" not in sys.modules
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr[-3000:]


@pytest.mark.tf
@pytest.mark.slow
def test_bench_models_every_runtime_end_to_end(tmp_path):
    """Exports, Keras in its own process, LiteRT fp32/fp16/int8 and onnxruntime at 96x64."""
    from jndtf.models.acol.presets import macs_per_pixel

    pytest.importorskip("onnxruntime")
    pytest.importorskip("tf2onnx")
    pytest.importorskip("ai_edge_litert")
    csv_path, exports = tmp_path / "out" / "models.csv", tmp_path / "exports"
    args = ["acol", "--sizes", "96x64", "--runs", "3", "--warmup", "1", "--num-calibration", "2",
            "--export-dir", str(exports), "--csv", str(csv_path)]  # fmt: skip
    result = _cli(args)
    assert result.exit_code == 0, result.output
    rows = read_csv(csv_path)
    assert [r["runtime"] for r in rows] == list(RUNTIMES)
    _check_rows(rows, macs_per_pixel("acol"))
    assert rows[0]["file"] == "acol.keras" and rows[0]["threads"] == 2 and rows[0]["runs"] == 3
    for r in rows[1:]:
        manifest = verify(exports / r["file"])
        assert manifest["format"] == r["runtime"]
        assert manifest["input_size"] == {"policy": "fixed", "height": 64, "width": 96}
    int8 = json.loads((exports / "acol-96x64-tflite-int8.json").read_text())
    assert int8["calibration"]["crops"] == 2 and "parity" not in int8
    assert "timing only" in result.output
    # A second run reuses the kept 96x64 export; the dynamic one is made once for both sizes.
    again_csv = tmp_path / "again.csv"
    again = _cli(
        ["acol", "--sizes", "96x64,64x48", "--runs", "2", "--warmup", "1", "--runtimes",
         "tflite-fp32", "--dynamic", "--export-dir", str(exports), "--csv", str(again_csv)]
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    assert "reused 1 export(s)" in again.output
    rows = read_csv(again_csv)
    assert [(r["shape"], r["size"], r["file"]) for r in rows] == [
        ("fixed", "96x64", "acol-96x64-tflite-fp32.tflite"),
        ("dynamic", "96x64", "acol-dynamic-tflite-fp32.tflite"),
        ("fixed", "64x48", "acol-64x48-tflite-fp32.tflite"),
        ("dynamic", "64x48", "acol-dynamic-tflite-fp32.tflite"),
    ]
    _check_rows(rows, macs_per_pixel("acol"))
    assert verify(exports / rows[1]["file"])["input_size"]["policy"] == "dynamic"
