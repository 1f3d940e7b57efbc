"""`jndtf compress` and `jndtf eval rd` as a user meets them (typer's CliRunner): files on disk,
figures that an independent re-measurement confirms, one-line errors."""

from __future__ import annotations

import re

import numpy as np
import pytest
import skimage.data
from typer.testing import CliRunner

from jndtf.cli import app
from jndtf.codecs.image import decode_image, encode_jpeg
from jndtf.codecs.quality import ssimulacra2
from jndtf.io import load_image, save_image

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("c") / "cat.png"
    save_image(path, skimage.data.chelsea()[60:156, 150:246])  # 96x96 real photo
    return path


@pytest.mark.parametrize("command", [["compress"], ["eval", "rd"]])
def test_help(command):
    r = invoke(*command, "--help")
    assert r.exit_code == 0 and "Usage" in r.output


def test_compress_at_a_quality_prints_bytes_beside_plain_at_equal_quality(photo, tmp_path):
    out = tmp_path / "cat.jpg"
    r = invoke(
        "compress", photo, "-o", out, "--method", "eq14", "--strength", "0.5", "--quality", "80"
    )
    assert r.exit_code == 0, r.output
    data = out.read_bytes()
    assert f"{len(data)} bytes" in r.output
    image = load_image(photo)
    score = ssimulacra2(image, decode_image(data))  # re-measured here
    assert f"SSIMULACRA2 {score:.2f}" in r.output
    m = re.search(
        r"at equal quality \(q(\d+), SSIMULACRA2 ([\d.]+) >= ([\d.]+)\): (\d+) bytes", r.output
    )
    assert m, r.output
    q_plain, nbytes = int(m.group(1)), int(m.group(4))
    plain = encode_jpeg(image, q_plain)
    assert len(plain) == nbytes
    assert ssimulacra2(image, decode_image(plain)) >= score
    if q_plain > 1:  # the smallest such plain file: one quality lower falls short
        lower = decode_image(encode_jpeg(image, q_plain - 1))
        assert ssimulacra2(image, lower) < score


def test_compress_to_a_ssimulacra2_target_finds_the_smallest_file(photo, tmp_path):
    out = tmp_path / "t.jpg"
    r = invoke("compress", photo, "-o", out, "--method", "none", "--ssimulacra2", "50")
    assert r.exit_code == 0, r.output
    image = load_image(photo)
    q = int(re.search(r"libjpeg-turbo q(\d+):", r.output).group(1))
    assert out.read_bytes() == encode_jpeg(image, q)
    assert ssimulacra2(image, decode_image(out.read_bytes())) >= 50
    assert ssimulacra2(image, decode_image(encode_jpeg(image, q - 1))) < 50


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--quality", "80", "--ssimulacra2", "70"], "exactly one of"),
        ([], "exactly one of"),
        (["--crf", "23"], "is an image"),
        (["--quality", "80", "--method", "magic"], "unknown method 'magic'"),
        (["--quality", "80", "--encoder", "mozjpeg"], "unknown JPEG encoder"),
        (["--ssimulacra2", "101"], "not reached"),
    ],
)
def test_compress_errors_are_one_line(photo, tmp_path, args, message):
    out = tmp_path / "x.jpg"
    r = invoke("compress", photo, "-o", out, "--method", "none", *args)
    assert r.exit_code == 2, r.output
    assert message in r.output and "Traceback" not in r.output
    assert not out.exists()  # nothing half-written


def test_compress_refuses_missing_input_and_wrong_suffix(photo, tmp_path):
    r = invoke("compress", tmp_path / "nope.png", "-o", tmp_path / "a.jpg", "--quality", "80")
    assert r.exit_code == 2 and "no such file" in r.output
    r = invoke("compress", photo, "-o", tmp_path / "a.png", "--quality", "80")
    assert r.exit_code == 2 and "written as .jpg" in r.output


def _write_clip(path, n=5):
    import cv2

    frames = [
        np.ascontiguousarray(skimage.data.astronaut()[100:164, 100 + i : 196 + i]) for i in range(n)
    ]
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (96, 64))
    for f in frames:
        w.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    w.release()


def test_compress_clip_without_method_uses_the_clip_default(tmp_path):
    # The image default (dct) works inside JPEG; a clip must fall back to the clip default
    # instead of refusing the user's plain `--crf` call.
    from jndtf.apply.methods import DEFAULT_CLIP_METHOD

    src, out = tmp_path / "clip.mp4", tmp_path / "o.mp4"
    _write_clip(src)
    r = invoke("compress", src, "-o", out, "--crf", "30", "--preset", "veryfast")
    assert r.exit_code == 0, r.output
    assert f"{DEFAULT_CLIP_METHOD} s=" in r.output and out.stat().st_size > 0


def test_compress_clip_writes_an_mp4(tmp_path):
    import cv2

    src = tmp_path / "clip.mp4"
    frames = [
        np.ascontiguousarray(skimage.data.astronaut()[100:164, 100 + i : 196 + i]) for i in range(5)
    ]
    w = cv2.VideoWriter(str(src), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (96, 64))
    for f in frames:
        w.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    w.release()
    out = tmp_path / "o.mp4"
    r = invoke(
        "compress", src, "-o", out, "--method", "eq14", "--crf", "30", "--preset", "veryfast"
    )
    assert r.exit_code == 0, r.output
    cap = cv2.VideoCapture(str(out))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 5
    assert "kbit/s" in r.output and "equal quality" in r.output


def test_eval_rd_cli_small_run(photo, tmp_path):
    out = tmp_path / "rd"
    r = invoke(
        "eval",
        "rd",
        photo,
        "--method",
        "eq14",
        "--strength",
        "0.5",
        "--quality",
        "40:90:10",
        "--metrics",
        "psnr",
        "--no-plots",
        "-o",
        out,
    )
    assert r.exit_code == 0, r.output
    assert "jpegli" in r.output and "vs libjpeg-turbo" in r.output
    assert (out / "report.md").is_file() and (out / "bdrate.csv").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--quality", "90:30:5"], "START:STOP:STEP"),
        (["--metrics", "vmaf"], "unknown quality metric"),
        (["--crop", "10x10"], "--crop"),
        (["--anchors", "mozjpeg"], "unknown JPEG encoder"),
    ],
)
def test_eval_rd_errors_are_one_line(photo, tmp_path, args, message):
    r = invoke("eval", "rd", photo, "--metrics", "psnr", *args, "-o", tmp_path / "rd")
    assert r.exit_code == 2, r.output
    assert message in r.output and "Traceback" not in r.output
