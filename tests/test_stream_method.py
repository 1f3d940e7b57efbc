"""`jndtf stream --method NAME --strength S`: the stream runs `jndtf compress`'s methods, each
checked against the library function it stands for (:mod:`jndtf.apply.methods`), on three frames
of a synthetic clip, with the codec's default and the errors a user meets."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import typer.testing
from jndtf.edge.stream import StreamSettings, run_stream
from jndtf.edge.stream_stage import (
    TEMPORAL_METHODS,
    FrameMethod,
    MethodJpegEncoder,
    default_method,
    stream_methods,
)

import jndtf.cli.stream  # noqa: F401  (registers `jndtf stream`)
from jndtf.apply.methods import (
    DEFAULT_CLIP_METHOD,
    DEFAULT_METHOD,
    TemporalFilter,
    available_methods,
    get_method,
)
from jndtf.apply.preprocess import preprocess_jpeg
from jndtf.baselines import get as baseline
from jndtf.cli import app
from jndtf.samples import clip_frames, synthesize_clip

SIZE = (128, 96)  # (width, height): small, a multiple of the 8x8 and 16x16 grids


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("method-clip")
    return synthesize_clip(folder / "clip.mp4", seconds=0.3, fps=10, size=SIZE).path


@pytest.fixture(scope="module")
def frames_and_maps():
    frames = [
        np.ascontiguousarray(f) for f in list(clip_frames(seconds=0.3, fps=10, size=SIZE))[:3]
    ]
    maps = [np.asarray(baseline("yang2005")(f), np.float32) for f in frames]
    return frames, maps


def test_the_methods_are_compress_methods_plus_the_rd_temporal_filters():
    from jndtf.rd.protocol import TEMPORAL_METHODS as RD_TEMPORAL

    assert TEMPORAL_METHODS is RD_TEMPORAL  # one table in the core
    assert stream_methods() == [*available_methods(), *RD_TEMPORAL]


def test_default_per_codec_is_compress_default():
    assert default_method("jpeg") == DEFAULT_METHOD
    assert default_method("h264") == DEFAULT_CLIP_METHOD
    assert StreamSettings(source="x", model="yang2005").method_name == DEFAULT_METHOD
    h264 = StreamSettings(source="x", model="yang2005", codec="h264")
    assert h264.method_name == DEFAULT_CLIP_METHOD


@pytest.mark.parametrize("name", ["none", "eq14", "smooth", *TEMPORAL_METHODS])
def test_frame_method_is_the_library_method(name, frames_and_maps):
    frames, maps = frames_and_maps
    s = 0.7
    ours = FrameMethod(name, s, channels="rgb")
    if name in TEMPORAL_METHODS:
        mode, block = TEMPORAL_METHODS[name]
        ref = TemporalFilter(s, mode=mode, block=block)
        expected = [ref(f, j) for f, j in zip(frames, maps, strict=True)]
    elif name == "eq14":
        # the edge fast path against the float64 reference on the map times s
        expected = [
            preprocess_jpeg(f, j * np.float32(s)) for f, j in zip(frames, maps, strict=True)
        ]
    else:
        expected = [get_method(name).apply(f, j, s) for f, j in zip(frames, maps, strict=True)]
    for f, j, e in zip(frames, maps, expected, strict=True):
        out = ours.process(f, j)
        diff = np.abs(out.astype(int) - e.astype(int))
        # eq14: float32 against float64 arithmetic, within one grey level (edge/preprocess.py)
        assert diff.max() <= (1 if name == "eq14" else 0)
        # every method keeps each pixel within s·JND of the input (+1: eq14's rounding tie)
        bound = np.floor(s * j + 1e-6) + (1 if name == "eq14" else 0)
        assert np.all(np.abs(out.astype(int) - f.astype(int)) <= bound)


def test_dct_encoder_writes_the_library_file(frames_and_maps):
    frames, maps = frames_and_maps
    enc = MethodJpegEncoder(FrameMethod("dct", 0.5), 85)
    (coded,) = enc.encode_with(frames[0], maps[0], 0)
    data = get_method("dct").encode(frames[0], maps[0], 0.5, 85, "libjpeg-turbo")
    assert coded.nbytes == len(data)
    ref = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), 4)
    np.testing.assert_array_equal(coded.decoded, ref)
    with pytest.raises(RuntimeError, match="encode_with"):
        enc.encode(frames[0], 1)


def _stream(clip, tmp_path, **kw):
    out = tmp_path / "out"
    report = run_stream(
        StreamSettings(
            source=str(clip),
            model="yang2005",
            max_frames=3,
            jnd_scale=1.0,
            reuse=1,
            out_dir=out,
            stats_path=out / "stats.jsonl",
            **kw,
        ),
        notes=lambda _: None,
    )
    lines = [json.loads(x) for x in (out / "stats.jsonl").read_text().splitlines()]
    return report, [r for r in lines if r["type"] == "frame"], out


@pytest.mark.parametrize("name", stream_methods())
def test_each_method_streams_three_jpeg_frames(name, clip, tmp_path):
    report, records, out = _stream(clip, tmp_path, codec="jpeg", quality=80, method=name)
    assert report.frames == 3 and [r["frame"] for r in records] == [0, 1, 2]
    assert report.method == FrameMethod(name, 0.5).label
    for r in records:
        jpg = out / "processed_jpeg" / f"{r['frame']:06d}.jpg"
        assert jpg.stat().st_size == r["bytes"]["processed"]
        assert np.isfinite(r["psnr"]["processed"])
    if name == "none":  # the plain encoder on the same frames: the same files, no verdict
        assert all(r["bytes"]["processed"] == r["bytes"]["original"] for r in records)
        assert report.equal_quality is None
        assert not any(line.startswith("WARNING") for line in report.comparison["lines"])
    else:
        assert report.equal_quality["frames"] == 3
    assert report.comparison["lines"]  # bytes are printed beside the quality change


@pytest.mark.parametrize("name", stream_methods())
def test_strength_zero_is_the_plain_picture(name, clip, tmp_path):
    """s = 0: every method gives the input frame (dct: the plain file's pixels, its Huffman
    tables rewritten), so the decoded stream has exactly the plain stream's PSNR."""
    _, records, _ = _stream(clip, tmp_path, codec="jpeg", quality=80, method=name, strength=0.0)
    for r in records:
        assert r["psnr"]["processed"] == r["psnr"]["original"]


@pytest.mark.parametrize("name", ["none", "temporal"])
def test_pixel_and_temporal_methods_stream_h264(name, clip, tmp_path):
    pytest.importorskip("av", reason='PyAV missing: pip install "jndtf[edge]"')
    report, _, out = _stream(clip, tmp_path, codec="h264", crf=30, preset="ultrafast", method=name)
    assert report.frames == 3 and (out / "processed.mp4").stat().st_size > 0
    assert report.method == FrameMethod(name, 0.5).label
    assert (report.equal_quality is None) == (name == "none")


def test_unknown_method_names_the_choices():
    with pytest.raises(ValueError, match=r"unknown method 'blur'.*eq14.*temporal-mb"):
        StreamSettings(source="x", model="yang2005", method="blur")
    with pytest.raises(ValueError, match=r"inside the JPEG encoder.*--codec h264.*smooth"):
        StreamSettings(source="x", model="yang2005", codec="h264", method="dct")
    with pytest.raises(ValueError, match="strength"):
        StreamSettings(source="x", model="yang2005", strength=float("nan"))
    with pytest.raises(ValueError, match="--classifier"):
        StreamSettings(source="x", model="yang2005", method="eq14", classifier="c.tflite")


def test_cli_method_options(clip):
    runner = typer.testing.CliRunner()
    r = runner.invoke(app, ["stream", "--help"], env={"COLUMNS": "200"})
    assert r.exit_code == 0 and "--method" in r.output and "--strength" in r.output
    r = runner.invoke(app, ["stream", str(clip), "--model", "yang2005", "--method", "blur"])
    assert r.exit_code == 2 and "unknown method 'blur'" in r.output and "dct" in r.output
    r = runner.invoke(
        app,
        ["stream", str(clip), "--model", "yang2005", "--max-frames", "2", "--method", "smooth"],
    )
    assert r.exit_code == 0, r.output
    assert "smooth s=0.5 + JPEG q90" in r.output
