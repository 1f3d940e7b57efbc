"""`jndtf stream` on bad input and hard stops (issue 15.4-15.7), and its honest summary (13.4).

Independent references: OpenCV's own decode of the files the stream wrote (frame counts),
PyAV writing the test videos (a faststart MP4 cut with plain file I/O), a real SIGKILL sent to
a child process, and closed-form cases for the byte/quality comparison (an identity
pre-processing costs exactly 0 % at equal PSNR; log-linear interpolation of an exactly
log-linear curve). The model is the classical yang2005 (fast, no TensorFlow).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import typer.testing
from jndtf.edge.compare import EqualQualityProbe, _interpolate, compare
from jndtf.edge.encoders import clean_stale_partials
from jndtf.edge.sources import open_source
from jndtf.edge.stream import StreamSettings, run_stream
from video_io import frame_count as _mp4_frames

import jndtf.cli.stream  # noqa: F401  (registers `jndtf stream`)
from jndtf.cli import app
from jndtf.samples import clip_frames, sample_image, synthesize_clip

#: (width, height) of the folder frames: small for 2 shared cores, even for H.264.
SIZE = (128, 96)


def _summary(path: Path) -> dict:
    last = json.loads(path.read_text().splitlines()[-1])
    assert last["type"] == "summary"
    return last


def _write_rgb(path: Path, image: np.ndarray) -> None:
    assert cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))


@pytest.fixture
def bad_folder(tmp_path) -> Path:
    """4 good 128x96 crops of a real photo, a 1x1 image, a corrupt PNG, a 150x100 image."""
    folder = tmp_path / "frames"
    folder.mkdir()
    photo = sample_image("coffee")
    w, h = SIZE
    for i in range(4):
        _write_rgb(folder / f"{i:02d}.png", np.ascontiguousarray(photo[8 * i : 8 * i + h, :w]))
    _write_rgb(folder / "01a_tiny.png", np.zeros((1, 1, 3), np.uint8))
    (folder / "02a_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    _write_rgb(folder / "02b_other_size.png", np.ascontiguousarray(photo[:100, :150]))
    return folder


# -- 15.4: a folder source with bad files ---------------------------------------------------


def test_folder_stream_names_bad_files_resizes_and_ends_with_a_summary(bad_folder, tmp_path):
    """Before: the 1x1 image aborted the run (exit 2) without naming the file, leaving a
    1-frame MP4 and stats without a summary. Now: each bad file is named and skipped, the image
    of another size is resized (named), every good frame is coded, the stats end with the
    summary, and the exit code is 1 (input skipped, the rest written) as for `jndtf jnd DIR`."""
    pytest.importorskip("av", reason='PyAV missing: pip install "jndtf[edge]"')
    out = tmp_path / "out"
    args = ["stream", str(bad_folder), "--model", "yang2005", "--codec", "h264", "--preset",
            "ultrafast", "-o", str(out), "--stats", str(out / "s.jsonl")]  # fmt: skip
    result = typer.testing.CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())  # rich may wrap long lines
    assert "01a_tiny.png: image is 1x1 pixels" in text
    assert "02a_corrupt.png: not a readable image" in text
    assert "02b_other_size.png: 150x100 pixels, the stream is 128x96" in text and "resized" in text
    assert "2 skipped" in text and "1 resized" in text
    summary = _summary(out / "s.jsonl")
    assert summary["frames"] == 5 and summary["source"]["corrupt"] == 2
    assert {Path(p["source"]).name for p in summary["source_problems"]} == {
        "01a_tiny.png",
        "02a_corrupt.png",
        "02b_other_size.png",
    }
    assert _mp4_frames(out / "processed.mp4") == 5


def test_folder_source_can_skip_frames_of_another_size(bad_folder):
    notes: list[str] = []
    with open_source(bad_folder, size_change="skip", on_note=notes.append) as src:
        frames = list(src)
        stats = src.stats
    assert len(frames) == 4 and {f.image.shape for f in frames} == {(96, 128, 3)}
    assert stats.refused == 1 and stats.corrupt == 2 and stats.resized == 0
    assert any("02b_other_size.png" in n and "skipped" in n for n in notes)
    resized = open_source(bad_folder, on_note=lambda _: None)
    with resized:
        frames = list(resized)
    # the resized image is OpenCV's area resize of the file (the independent reference)
    bgr = cv2.imread(str(bad_folder / "02b_other_size.png"))
    ref = cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), SIZE, interpolation=cv2.INTER_AREA)
    other = [f for f in frames if f.source.endswith("02b_other_size.png")]
    np.testing.assert_array_equal(other[0].image, ref)


def test_an_error_mid_stream_still_writes_the_summary(tmp_path):
    """A frame the mapper refuses mid-stream (here: a second source frame smaller than the
    mapper's minimum, forced through by a stream size of 32x24) ends the run with one clear
    error, after the stats got their summary with the error in it."""
    out = tmp_path / "out"
    folder = tmp_path / "f"
    folder.mkdir()
    photo = sample_image("coffee")
    for i in range(3):
        _write_rgb(folder / f"{i}.png", np.ascontiguousarray(photo[i : i + 96, :128]))
    settings = StreamSettings(
        source=str(folder), model="yang2005", size=(32, 24), stats_path=out / "s.jsonl"
    )
    with pytest.raises(ValueError) as info:
        run_stream(settings, notes=lambda _: None)
    report = info.value.stream_report
    assert report.error is not None and report.stop_reason.startswith("error:")
    summary = _summary(out / "s.jsonl")
    assert summary["error"] == report.error


# -- 15.5: a truncated video ----------------------------------------------------------------


def _faststart_mp4(path: Path, n: int, size=(96, 64), fps: int = 24) -> Path:
    """An H.264 MP4 with its index (moov) at the start, as cameras and web videos have it."""
    av = pytest.importorskip("av", reason='PyAV missing: pip install "jndtf[edge]"')
    frames = list(clip_frames(seconds=n / fps, fps=fps, size=size))[:n]
    assert len(frames) == n
    with av.open(str(path), "w", format="mp4", options={"movflags": "faststart"}) as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = size[0], size[1], "yuv420p"
        s.codec_context.options = {"preset": "ultrafast"}
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts = i
            for p in s.encode(vf):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


def test_truncated_video_is_reported_not_silently_short(tmp_path):
    """Before: an MP4 cut at 60 % streamed part of its frames, exit 0, no word. Now: the
    frames decoded are compared with the container's count; the run warns and exits 1."""
    whole = _faststart_mp4(tmp_path / "whole.mp4", 120)
    cut = tmp_path / "cut.mp4"
    data = whole.read_bytes()
    cut.write_bytes(data[: int(0.6 * len(data))])
    decodable = _mp4_frames(cut)
    assert 0 < decodable < 120  # OpenCV, the reference, sees the cut too
    runner = typer.testing.CliRunner()
    stats = tmp_path / "s.jsonl"
    result = runner.invoke(app, ["stream", str(cut), "--model", "yang2005", "--stats", str(stats)])
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert f"ended after {decodable} of the 120 frames" in text
    assert "WARNING: the source ended early" in text
    summary = _summary(stats)
    assert summary["source"]["ended_early"] is True and summary["source"]["expected"] == 120
    assert summary["frames"] == decodable
    # the whole file is not flagged
    result = runner.invoke(
        app, ["stream", str(whole), "--model", "yang2005", "--max-frames", "200"]
    )
    assert result.exit_code == 0, result.output
    assert "ended early" not in result.output


# -- 15.6: kill -9 ----------------------------------------------------------------------------

_CHILD = textwrap.dedent(
    """
    import sys
    import jndtf.cli.stream
    from jndtf.cli import app
    app(sys.argv[1:])
    """
)


@pytest.mark.slow
def test_kill_9_keeps_the_recording_and_the_next_run_cleans_up(tmp_path):
    """Before: SIGKILL lost the whole H.264 recording and left a hidden .mp4.partial forever.
    Now: the partial file is a fragmented MP4 that OpenCV decodes up to the kill, and the next
    run into the same folder keeps it under a visible name and says so."""
    pytest.importorskip("av", reason='PyAV missing: pip install "jndtf[edge]"')
    clip = synthesize_clip(tmp_path / "long.mp4", seconds=60, fps=10, size=(128, 96)).path
    out = tmp_path / "out"
    stats = out / "stats.jsonl"
    cmd = [sys.executable, "-c", _CHILD, "stream", str(clip), "--model", "yang2005",
           "--codec", "h264", "--preset", "ultrafast", "--out", str(out), "--stats", str(stats),
           "--ms-ssim-every", "0", "--mode", "live", "--save-maps"]  # fmt: skip
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        # live mode plays the clip at 10 fps: 35 frames = 3.5 s = at least 3 fragments of 1 s
        while time.monotonic() < deadline and child.poll() is None:
            if stats.exists() and stats.read_text().count("\n") >= 35:
                break
            time.sleep(0.05)
        assert child.poll() is None, "the child ended before it could be killed"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    partials = list(out.glob(".processed.*.mp4.partial"))
    assert len(partials) == 1 and not (out / "processed.mp4").exists()
    kept = _mp4_frames(partials[0])
    assert kept >= 10  # at least the first 1 s fragment survived the kill
    short = synthesize_clip(tmp_path / "short.mp4", seconds=0.4, fps=10, size=(128, 96)).path
    result = typer.testing.CliRunner().invoke(
        app, ["stream", str(short), "--model", "yang2005", "--codec", "h264", "--preset",
              "ultrafast", "-o", str(out), "--stats", str(stats)]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "interrupted run" in result.output and "kept as" in result.output
    assert not list(out.glob(".processed.*.mp4.partial"))
    (recovered,) = out.glob("processed.interrupted-*.mp4")
    assert _mp4_frames(recovered) == kept
    (maps,) = out.glob("jnd_map.interrupted-*.mp4")  # the map video is fragmented too
    assert _mp4_frames(maps) >= 10
    assert _mp4_frames(out / "processed.mp4") == 4
    # the killed run's stats (no summary line) were kept too, not overwritten
    (old_stats,) = out.glob("stats.interrupted-*.jsonl")
    assert json.loads(old_stats.read_text().splitlines()[-1])["type"] == "frame"
    assert "stats of an interrupted run" in result.output


def test_stale_partial_files_are_kept_or_removed_and_live_ones_left_alone(tmp_path):
    """clean_stale_partials: an unplayable recording and an old unfinished OpenCV video are
    removed; a partial recording locked by a live writer is left alone."""
    pytest.importorskip("av", reason='PyAV missing: pip install "jndtf[edge]"')
    from jndtf.edge.encoders import H264Encoder

    junk = tmp_path / ".processed.abc123.mp4.partial"
    junk.write_bytes(b"\0" * 100)  # nothing playable
    video = tmp_path / ".jnd_map.xyz.partial.mp4"
    video.write_bytes(b"\0" * 100)
    old = time.time() - 3600
    os.utime(video, (old, old))
    live = H264Encoder(tmp_path / "live.mp4", fps=10, size=(64, 48), decode=False)
    try:
        lines = clean_stale_partials(tmp_path)
        assert not junk.exists() and not video.exists()
        assert len(lines) == 2 and all("removed" in line for line in lines)
        assert len(list(tmp_path.glob(".live.*.mp4.partial"))) == 1  # locked: still there
    finally:
        live.close()
    assert (tmp_path / "live.mp4").exists() and not list(tmp_path.glob(".live.*"))


# -- 13.4: bytes never without the quality change ------------------------------------------


def _report(bp, bo, pp, po, mp=0.99, mo=0.99, eq=None) -> dict:
    return {
        "codec": {"codec": "jpeg", "quality": 90},
        "bytes_processed": bp,
        "bytes_original": bo,
        "psnr_processed": pp,
        "psnr_original": po,
        "ms_ssim_processed": mp,
        "ms_ssim_original": mo,
        "equal_quality": eq,
    }


def test_comparison_warns_when_fewer_bytes_come_with_lower_quality():
    """The issue's case: 16.8 % fewer bytes while PSNR drops 44.1 -> 35.6 dB."""
    c = compare(_report(832, 1000, 35.6, 44.1, 0.9836, 0.9993))
    text = "\n".join(c["lines"])
    assert "16.8 % fewer bytes than plain JPEG q90" in text
    assert "BUT quality dropped: PSNR 44.10 -> 35.60 dB, MS-SSIM 0.9993 -> 0.9836" in text
    assert "WARNING: not a saving at equal quality" in text and "jndtf eval rd" in text
    assert "saved" not in text and c["worse"] and not c["larger"]
    c = compare(_report(1300, 1000, 35.6, 44.1))
    assert c["larger"] and c["worse"] and "LARGER and WORSE" in "\n".join(c["lines"])
    c = compare(_report(900, 1000, 44.1, 44.1))  # same quality: the one honest saving
    assert c["verdict"] == "fewer bytes at the same quality"
    assert not any(line.startswith("WARNING") for line in c["lines"])
    c = compare(_report(100_000, 100_000, 44.1, 44.1))  # untouched frames: no "-0.0 % saved"
    assert c["verdict"] == "the same bytes at the same quality" and not c["larger"]
    assert "the same bytes (within 0.05 %) as plain JPEG q90" in c["lines"][0]


def test_equal_quality_interpolation_is_exact_on_a_log_linear_curve():
    """bytes = 1000 * 2^((psnr - 30) / 3): the interpolated value is the closed form."""
    curve = [{"setting": s, "psnr": p, "bytes": 1000 * 2 ** ((p - 30) / 3)}
             for s, p in ((10, 30.0), (50, 36.0), (90, 42.0))]  # fmt: skip
    nbytes, setting = _interpolate(curve, 37.5)
    assert nbytes == pytest.approx(1000 * 2**2.5, rel=1e-12)  # float64 exp/log round trip
    assert setting == pytest.approx(60.0, rel=1e-12)  # a quarter of the way from 36 to 42 dB
    assert _interpolate(curve, 29.0) is None and _interpolate(curve, 43.0) is None


@pytest.mark.parametrize("codec", ["jpeg", "h264"])
def test_identity_preprocessing_costs_nothing_at_equal_quality(codec):
    """With the pre-processed frames equal to the originals, the plain encoder at the
    stream's own setting gives the same bytes at the same PSNR: 0 % at equal quality."""
    if codec == "h264":
        pytest.importorskip("av", reason='PyAV missing: pip install "jndtf[edge]"')
    frames = list(clip_frames(seconds=0.6, fps=10, size=(96, 64)))
    probe = EqualQualityProbe(
        codec,
        {
            "quality": 90,
            "crf": 23,
            "preset": "ultrafast",
            "tune": "zerolatency",
            "fps": 10.0,
            "size": (96, 64),
        },
    )
    for k, f in enumerate(frames):
        probe.add(k, f, f)
    r = probe.result()
    assert r["frames"] == len(frames)
    assert r["processed_bytes"] == r["plain_bytes_same_setting"]
    assert r["change_at_equal_quality"] == pytest.approx(0.0, abs=1e-12)  # same point
    assert r["plain_setting_at_equal_quality"] == pytest.approx(90 if codec == "jpeg" else 23)


def test_stream_summary_puts_quality_beside_bytes_and_measures_equal_quality(tmp_path):
    """eq. (14) at full JND strength on real frames: fewer bytes at the same JPEG quality
    with lower PSNR; the summary says so, with the plain encoder's bytes at equal PSNR."""
    clip = synthesize_clip(tmp_path / "c.mp4", seconds=1.2, fps=10, size=(192, 176)).path
    report = run_stream(StreamSettings(source=str(clip), model="yang2005", quality=90))
    eq = report.equal_quality
    assert eq is not None and eq["frames"] == 12 and eq["metric"] == "psnr"
    # the plain curve is monotone: more bytes buy more PSNR over the quality ladder
    curve = sorted(eq["curve"], key=lambda c: c["setting"])
    assert all(a["bytes"] < b["bytes"] for a, b in itertools.pairwise(curve))
    c = report.comparison
    assert c["psnr_change_db"] == pytest.approx(report.psnr_processed - report.psnr_original)
    if c["worse"]:
        assert any(line.startswith("WARNING") for line in c["lines"])
    change = eq["change_at_equal_quality"]
    if change is not None:
        assert c["saving_at_equal_quality"] is (change < 0)
        assert math.isfinite(eq["plain_bytes_at_equal_quality"])
    assert not any("saved" in line for line in c["lines"])


def test_h264_bytes_count_the_same_with_and_without_a_file(tmp_path):
    """The comparison encode (no file) and the recorded one count a frame's bytes alike: the
    packets PyAV demuxes from the written MP4 (the independent reference) sum to the bytes the
    file-less encoder reports for the same frames. Before, the file-less encoder also counted
    the in-band SPS/PPS of every keyframe (~33 bytes), a bias in favour of pre-processing."""
    av = pytest.importorskip("av", reason='PyAV missing: pip install "jndtf[edge]"')
    from jndtf.edge.encoders import H264Encoder

    frames = list(clip_frames(seconds=2.0, fps=10, size=(128, 96)))
    bare = H264Encoder(None, fps=10, size=(128, 96), decode=False, gop=5)
    coded = [c for i, f in enumerate(frames) for c in bare.encode(f, i)] + bare.close()
    path = tmp_path / "rec.mp4"
    with H264Encoder(path, fps=10, size=(128, 96), decode=False, gop=5) as rec:
        recorded = [c for i, f in enumerate(frames) for c in rec.encode(f, i)] + rec.flush()
    assert [c.nbytes for c in recorded] == [c.nbytes for c in coded]
    with av.open(str(path)) as c:
        demuxed = [p.size for p in c.demux(video=0) if p.size]
    assert len(demuxed) == len(coded) == len(frames)
    # The MP4 stores each NAL unit with a 4-byte length where the encoder's Annex B output may
    # use a 3-byte start code (x264 does for some NAL units): up to 1 byte per NAL unit, and
    # these frames are one slice each (+ x264's SEI in the first): <= 2 bytes per frame.
    assert 0 <= sum(demuxed) - sum(c.nbytes for c in coded) <= 2 * len(frames)


# -- maps drawn by the one renderer ---------------------------------------------------------


def test_map_pngs_are_drawn_by_the_one_renderer_with_one_scale(tmp_path):
    """`--save-maps --maps-format png`: each PNG is jndtf.render's picture of the map (colour
    bar, units) at the stream's fixed vmax, decoded back by OpenCV; the .npy keeps the values."""
    from jndtf.edge.outputs import MAP_VMAX, MapPngWriter

    from jndtf.render import render_map

    rng = np.random.default_rng(0)
    maps = [
        rng.uniform(0, 40, (64, 96, 1)).astype(np.float32),
        np.full((64, 96, 1), 5.0, np.float32),
    ]
    writer = MapPngWriter(tmp_path / "maps", npy=True)
    for i, m in enumerate(maps):
        path = writer.write(m, i)
        png = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        np.testing.assert_array_equal(png, render_map(m, units="grey levels", vmax=MAP_VMAX))
        assert png.shape[0] > m.shape[0]  # the colour bar sits under the map
        np.testing.assert_array_equal(np.load(path.with_suffix(".npy")), m)
