"""`jndtf stream` (jndtf.edge.stream): JND-guided pre-processing + encoding on streams.

Independent references: the encoded files read back by OpenCV (JPEG files, MP4 frame count)
and PyAV, scikit-image's PSNR on those decoded files, the clip read by cv2.VideoCapture, and a
real SIGINT sent to a child process. The model is the classical yang2005 (fast, no TensorFlow);
the machine-vision and sha256 checks use TensorFlow-made fixtures (marked tf).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.metrics
import typer.testing
from jndtf.edge.stream import StreamSettings, rss_mb, run_stream
from video_io import decoded_frames
from video_io import frame_count as _mp4_frames

import jndtf.cli.stream  # noqa: F401  (registers `jndtf stream` and `jndtf bench stream`)
from jndtf.cli import app
from jndtf.samples import clip_frames, synthesize_clip

pytest_plugins = ("edge_fixtures", "mv_classifier")

#: (width, height): small for 2 shared cores, >= 176 px high so MS-SSIM is defined.
SIZE = (256, 176)
FRAMES = 12


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("stream-clip")
    return synthesize_clip(
        folder / "clip.mp4", seconds=FRAMES / 10, fps=10, size=SIZE, scene_seconds=0.6
    ).path


def _read_stats(path: Path) -> tuple[list[dict], dict]:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[-1]["type"] == "summary"
    assert all(rec["type"] == "frame" for rec in lines[:-1])
    return lines[:-1], lines[-1]


def test_jpeg_stream_bytes_and_quality_match_the_written_files(clip, tmp_path):
    """Per-frame bytes are the JPEG files' sizes; eq. (14) saves bytes on real frames at the
    same quality; the PSNR reported is scikit-image's on the files as decoded by OpenCV."""
    out = tmp_path / "out"
    settings = StreamSettings(
        source=str(clip),
        model="yang2005",
        codec="jpeg",
        quality=90,
        out_dir=out,
        stats_path=out / "stats.jsonl",
        ms_ssim_every=4,
        save_maps="png",
    )
    report = run_stream(settings)
    originals = decoded_frames(clip)
    assert report.frames == len(originals) == FRAMES
    assert not report.interrupted
    assert report.bytes_saved > 0 and report.saving > 0
    records, summary = _read_stats(out / "stats.jsonl")
    assert [r["frame"] for r in records] == list(range(FRAMES))
    assert summary["bytes_processed"] == report.bytes_processed
    assert sum(r["bytes"]["processed"] for r in records) == report.bytes_processed
    assert sum(r["bytes"]["original"] for r in records) == report.bytes_original
    for rec in records:
        jpg = out / "processed_jpeg" / f"{rec['frame']:06d}.jpg"
        assert jpg.stat().st_size == rec["bytes"]["processed"]
        decoded = cv2.cvtColor(cv2.imread(str(jpg)), cv2.COLOR_BGR2RGB)
        ref = skimage.metrics.peak_signal_noise_ratio(
            originals[rec["frame"]], decoded, data_range=255
        )
        assert rec["psnr"]["processed"] == pytest.approx(ref, abs=1e-9)
        assert ("ms_ssim" in rec) == (rec["frame"] % 4 == 0)
        assert (out / "jnd_maps" / f"{rec['frame']:06d}.png").exists()
    # pre-processing changes pixels by at most their JND: the processed frames stay close
    assert 30.0 < report.psnr_processed < report.psnr_original
    assert 0.9 < report.ms_ssim_processed <= report.ms_ssim_original <= 1.0
    assert report.maps_computed + report.maps_reused == FRAMES
    assert report.jnd["jnd_scale"] == 0.5 and report.jnd["reuse"] == 2


def test_h264_stream_writes_playable_files(clip, tmp_path):
    pytest.importorskip("av", reason='PyAV missing: pip install "jndtf[edge]"')
    out = tmp_path / "out"
    report = run_stream(
        StreamSettings(
            source=str(clip),
            model="yang2005",
            codec="h264",
            crf=26,
            preset="ultrafast",
            jnd_scale=1.0,
            reuse=1,
            out_dir=out,
            stats_path=out / "stats.jsonl",
            save_maps="video",
            preview=True,
        )
    )
    assert report.frames == FRAMES and report.maps_computed == FRAMES
    assert _mp4_frames(out / "processed.mp4") == FRAMES
    assert _mp4_frames(out / "jnd_map.mp4") == FRAMES
    assert _mp4_frames(out / "preview.mp4") == FRAMES
    assert cv2.VideoCapture(str(out / "preview.mp4")).get(cv2.CAP_PROP_FRAME_WIDTH) == 3 * 128
    records, _ = _read_stats(out / "stats.jsonl")
    assert sum(r["bytes"]["processed"] for r in records) == report.bytes_processed
    assert report.bytes_original > 0
    assert not [p for p in out.iterdir() if "partial" in p.name]


def test_no_compare_encodes_once(clip):
    report = run_stream(
        StreamSettings(source=str(clip), model="yang2005", compare=False, max_frames=5)
    )
    assert report.frames == 5
    assert report.bytes_processed > 0 and report.bytes_original == 0
    assert np.isnan(report.saving) and np.isnan(report.psnr_original)


def test_stream_from_loopback_mjpeg_camera():
    """A network camera (MJPEG over HTTP on 127.0.0.1) end to end, live mode."""
    from mjpeg_server import MJPEGServer

    frames = list(clip_frames(seconds=1.0, fps=10, size=(192, 176)))
    with MJPEGServer(frames, fps=30) as server:
        report = run_stream(
            StreamSettings(source=server.url, model="yang2005", max_frames=8, ms_ssim_every=0)
        )
    assert report.frames == 8
    assert report.bytes_processed > 0 and report.saving > 0
    assert report.source["delivered"] == 8


_CHILD = textwrap.dedent(
    """
    import sys
    import jndtf.cli.stream
    from jndtf.cli import app
    app(sys.argv[1:])
    """
)


@pytest.mark.parametrize("sig, code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_sigint_finishes_the_frame_and_closes_every_file(tmp_path, sig, code):
    """A child `jndtf stream` gets SIGINT (SIGTERM) mid-stream: it exits with 130 (143) like
    every other command (the shell's 128 + signal number), the MP4 plays with every frame the
    stats list, and the stats end with a complete summary. Its stderr is a pipe, not a
    terminal: status lines stream while it runs."""
    pytest.importorskip("av", reason='PyAV missing: pip install "jndtf[edge]"')
    long_clip = synthesize_clip(tmp_path / "long.mp4", seconds=60, fps=10, size=(176, 96)).path
    out = tmp_path / "out"
    stats = out / "stats.jsonl"
    cmd = [
        sys.executable, "-c", _CHILD, "stream", str(long_clip), "--model", "yang2005",
        "--codec", "h264", "--preset", "ultrafast", "--out", str(out), "--stats", str(stats),
        "--save-maps", "--ms-ssim-every", "0",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    child = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        first_line = child.stderr.readline()  # blocks until the child prints one
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and child.poll() is None:
            if stats.exists() and stats.read_text().count("\n") >= 5:
                break
            time.sleep(0.05)
        assert child.poll() is None, child.communicate()
        child.send_signal(getattr(signal, sig))
        stdout, stderr = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == code, first_line + stderr
    assert first_line.startswith("stream: frame 1:"), first_line  # printed before the end
    records, summary = _read_stats(stats)
    assert summary["interrupted"] is True and sig in summary["stop_reason"]
    assert 5 <= summary["frames"] < 600
    assert [r["frame"] for r in records] == list(range(summary["frames"]))
    assert _mp4_frames(out / "processed.mp4") == summary["frames"]
    assert _mp4_frames(out / "jnd_map.mp4") == summary["frames"]
    assert f"stopped: {sig}" in stdout


def test_cli_help_lists_the_options():
    runner = typer.testing.CliRunner()
    result = runner.invoke(app, ["stream", "--help"])
    assert result.exit_code == 0
    for option in ("--model", "--codec", "--crf", "--jnd-scale", "--reuse", "--stats",
                   "--classifier", "--preview", "--save-maps", "--max-frames"):  # fmt: skip
        assert option in result.output
    result = runner.invoke(app, ["bench", "stream", "--help"])
    assert result.exit_code == 0 and "--seconds" in result.output


def test_cli_bad_model_and_source_exit_2(clip, tmp_path):
    runner = typer.testing.CliRunner()
    result = runner.invoke(
        app, ["stream", str(clip), "--model", "no_such_model", "-o", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "no_such_model" in result.output
    assert list(tmp_path.iterdir()) == []  # refused before anything was written
    result = runner.invoke(app, ["stream", str(tmp_path / "missing.mp4"), "--model", "yang2005"])
    assert result.exit_code == 2 and "missing.mp4" in result.output
    result = runner.invoke(app, ["stream", str(clip), "--model", "yang2005", "--save-maps"])
    assert result.exit_code == 2 and "--out" in result.output


def test_cli_runs_a_clip(clip, tmp_path):
    runner = typer.testing.CliRunner()
    result = runner.invoke(
        app,
        ["stream", str(clip), "--model", "yang2005", "--max-frames", "4", "--stats",
         str(tmp_path / "s.jsonl")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "frames 4" in result.output and "fewer bytes than plain JPEG q90" in result.output
    # never a bare saving (issue 13.4): the quality change is printed beside the bytes
    assert "saved" not in result.output and "PSNR" in result.output
    records, summary = _read_stats(tmp_path / "s.jsonl")
    assert len(records) == 4 == summary["frames"]


@pytest.mark.tf
def test_sha256_mismatch_refuses_to_start(exported_acol_fixed, clip, tmp_path):
    """A .tflite whose bytes no longer match its manifest's sha256 is refused (exit 2) before
    the source or any output is opened."""
    model = tmp_path / "acol.tflite"
    shutil.copy(exported_acol_fixed.path, model)
    shutil.copy(exported_acol_fixed.manifest_path, model.with_suffix(".json"))
    data = bytearray(model.read_bytes())
    data[-1] ^= 0xFF
    model.write_bytes(bytes(data))
    out = tmp_path / "out"
    result = typer.testing.CliRunner().invoke(
        app, ["stream", str(clip), "--model", str(model), "-o", str(out)]
    )
    assert result.exit_code == 2
    assert "sha256" in result.output
    assert not out.exists()


@pytest.mark.tf
def test_exported_model_and_classifier_stream(exported_acol_fixed, mv_classifier, clip):
    """The exported ACoL-JND (fixed 96x160) drives the stream; with a classifier the frames go
    through the DMV-JND machine-vision stage and its RCA is reported."""
    report = run_stream(
        StreamSettings(
            source=str(clip),
            model=str(exported_acol_fixed.path),
            classifier=mv_classifier.float_path,
            max_frames=6,
            ms_ssim_every=0,
        )
    )
    assert report.jnd["jnd_scale"] == 1.0  # a fixed-size model runs at its own size
    assert report.frames == 6
    mv = report.machine_vision
    assert mv["frames"] == 6 and mv["byte_frames"] == 6 and 0.0 <= mv["rca"] <= 1.0
    assert mv["bytes_original"] == report.bytes_original


@pytest.mark.slow
def test_soak_10000_frames_memory_stays_flat(tmp_path):
    """10,000 small frames through the whole pipeline (H.264 with decode, quality, stats):
    resident memory after warm-up and at the end differ by less than a generous bound."""
    pytest.importorskip("av", reason='PyAV missing: pip install "jndtf[edge]"')
    clip_path = synthesize_clip(
        tmp_path / "soak.mp4", seconds=400, fps=25, size=(64, 48), scene_seconds=2
    ).path
    samples: dict[int, float] = {}

    def progress(_text: str, done: int, _total) -> None:
        if done in (500, 10_000):
            samples[done] = rss_mb()

    start = rss_mb()
    report = run_stream(
        StreamSettings(
            source=str(clip_path),
            model="yang2005",
            codec="h264",
            preset="ultrafast",
            stats_path=tmp_path / "soak.jsonl",
            ms_ssim_every=0,
        ),
        progress=progress,
    )
    end = rss_mb()
    print(f"RSS start {start:.1f} MB, after 500 frames {samples.get(500, 0):.1f} MB, "
          f"after 10,000 frames {samples.get(10_000, 0):.1f} MB, end {end:.1f} MB")  # fmt: skip
    assert report.frames == 10_000
    assert samples[10_000] - samples[500] < 40.0


def test_json_lines_writer_lines_are_whole_and_nan_is_null(tmp_path):
    from jndtf.edge.outputs import JsonLinesWriter

    path = tmp_path / "s.jsonl"
    writer = JsonLinesWriter(path)
    writer.write({"type": "frame", "psnr": float("inf"), "x": np.float32(1.5)})
    assert path.read_text().endswith("\n")  # flushed whole before close
    writer.close({"type": "summary", "saving": float("nan")})
    writer.close()  # idempotent
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines == [
        {"type": "frame", "psnr": None, "x": 1.5},
        {"type": "summary", "saving": None},
    ]


def test_map_to_grey_scales_by_vmax():
    from jndtf.edge.outputs import map_to_grey

    jnd = np.array([[0.0, 8.0], [16.0, 64.0]], np.float32)[..., None]
    np.testing.assert_array_equal(map_to_grey(jnd, vmax=16.0), [[0, 128], [255, 255]])


def test_bench_stream_rows(tmp_path):
    """`jndtf bench stream` on a tiny clip: one row per setting; the full-resolution per-frame
    setting reproduces the reference maps exactly (inf dB), cheaper ones lose map PSNR."""
    from jndtf.bench.report import read_csv

    csv_path = tmp_path / "stream.csv"
    result = typer.testing.CliRunner().invoke(
        app,
        ["bench", "stream", "--model", "yang2005", "--seconds", "0.6", "--size", "192x176",
         "--method", "eq14", "--csv", str(csv_path)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = {r["setting"]: r for r in read_csv(csv_path)}
    assert set(rows) == {"full", "half", "default", "cheap"}
    assert rows["full"]["map_psnr_db"] == float("inf")
    assert rows["full"]["map_psnr_db"] > rows["default"]["map_psnr_db"]
    assert rows["half"]["map_psnr_db"] > rows["cheap"]["map_psnr_db"]
    assert all(r["frames"] == 9 and r["fps"] > 0 for r in rows.values())
    assert {r["method"] for r in rows.values()} == {"eq. (14) s=0.5"}  # --method reaches every row


def test_bench_stream_default_model_is_the_shipped_fixed_size_export(tmp_path):
    """The default model (acol, int8 at a fixed 320x180) cannot change its inference size, so the
    settings vary the reuse interval only; reusing maps costs map PSNR, never adds it."""
    from jndtf.bench.report import read_csv

    csv_path = tmp_path / "stream.csv"
    args = ["bench", "stream", "--seconds", "0.6", "--size", "320x180", "--csv", str(csv_path)]
    result = typer.testing.CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = {r["setting"]: r for r in read_csv(csv_path)}
    assert set(rows) == {"full", "default", "reuse-4"}
    assert {r["jnd_scale"] for r in rows.values()} == {1.0}
    assert rows["full"]["map_psnr_db"] == float("inf")
    assert rows["full"]["map_psnr_db"] >= rows["default"]["map_psnr_db"]
    assert rows["default"]["map_psnr_db"] >= rows["reuse-4"]["map_psnr_db"]
