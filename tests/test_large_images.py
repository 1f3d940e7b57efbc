"""Large images: the pixel limit (refused from the header, before decoding), tiling with
overlap and blending for the learned models, and a ~50 MP run within the stated memory bound.

References: closed forms (tile cover, weights summing to 1), OpenCV's whole-image Gaussian
blur for the tiler, the whole-image network for the tiled ACoL-JND map, the kernel's own
accounting of the child process's peak memory (``wait4``'s ``ru_maxrss``) for the bound.
"""

from __future__ import annotations

import itertools
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from jndtf.cli import app
from jndtf.tiling import (
    DEFAULT_MAX_MEGAPIXELS,
    MAX_MEGAPIXELS_ENV,
    ImageTooLargeError,
    blend_weights,
    check_array_megapixels,
    check_tile,
    header_size,
    max_megapixels,
    memory_bound_mb,
    run_tiled,
    tile_starts,
)

runner = CliRunner()


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG with a valid IHDR for width x height and no pixel data: its size can be read, but
    no decoder can decode it, so a refusal that names the size came from the header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    return path


def _jpeg_claiming(path: Path, width: int, height: int) -> Path:
    """A real 64x64 JPEG whose SOF0 header is patched to claim width x height."""
    ok, buf = cv2.imencode(".jpg", np.full((64, 64, 3), 90, np.uint8))
    assert ok
    data = bytearray(buf.tobytes())
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    path.write_bytes(bytes(data))
    return path


# --------------------------------------------------------------------------- the limit


@pytest.mark.parametrize("maker", [_png_header_only, _jpeg_claiming])
@pytest.mark.parametrize("command", [["baseline", "yang2005"], ["jnd", "--model", "yang2005"]])
def test_refused_from_the_header_naming_limit_and_option(tmp_path, maker, command):
    big = maker(tmp_path / ("big.png" if maker is _png_header_only else "big.jpg"), 30000, 20000)
    assert header_size(big) == (30000, 20000)
    res = runner.invoke(app, [command[0], *command[1:], str(big), "-o", str(tmp_path / "o")])
    out = " ".join(res.output.split())
    assert res.exit_code == 1, out
    assert "30000x20000 is 600.0 megapixels" in out
    assert f"limit of {DEFAULT_MAX_MEGAPIXELS:g} MP" in out
    assert "--max-megapixels 600" in out and MAX_MEGAPIXELS_ENV in out
    assert "Traceback" not in out
    assert not (tmp_path / "o").exists()  # nothing written


def test_raising_the_limit_lets_the_header_through_to_the_decoder(tmp_path):
    big = _png_header_only(tmp_path / "big.png", 30000, 20000)
    res = runner.invoke(
        app, ["baseline", "yang2005", str(big), "-o", str(tmp_path), "--max-megapixels", "700"]
    )
    # above the limit no more: the decoder now meets the missing pixel data and says so
    assert res.exit_code == 1
    assert "megapixels" not in res.output and "not a readable image" in res.output


def test_limit_from_the_environment(tmp_path, monkeypatch):
    img = tmp_path / "small.png"
    cv2.imwrite(str(img), np.full((100, 100, 3), 128, np.uint8))
    monkeypatch.setenv(MAX_MEGAPIXELS_ENV, "0.005")
    assert max_megapixels() == 0.005
    res = runner.invoke(app, ["baseline", "chou_li1995", str(img), "-o", str(tmp_path / "o")])
    assert res.exit_code == 1 and "limit of 0.005 MP" in " ".join(res.output.split())
    monkeypatch.setenv(MAX_MEGAPIXELS_ENV, "lots")
    res = runner.invoke(app, ["baseline", "chou_li1995", str(img), "-o", str(tmp_path / "o")])
    assert res.exit_code == 2 and f"{MAX_MEGAPIXELS_ENV}='lots'" in res.output


def test_bad_options_are_one_line_errors(tmp_path):
    img = tmp_path / "small.png"
    cv2.imwrite(str(img), np.full((64, 64, 3), 128, np.uint8))
    res = runner.invoke(app, ["baseline", "yang2005", str(img), "--tile", "100"])
    assert res.exit_code == 2 and "--tile must be 0" in res.output
    res = runner.invoke(app, ["baseline", "yang2005", str(img), "--max-megapixels", "-1"])
    assert res.exit_code == 2 and "--max-megapixels must be a positive" in res.output


def test_array_limit_and_tile_checks():
    check_array_megapixels(np.zeros((1000, 1000, 3), np.uint8), 1.0)  # exactly 1 MP: allowed
    with pytest.raises(ImageTooLargeError, match=r"1001x1000 is 1\.0 megapixels"):
        check_array_megapixels(np.zeros((1000, 1001, 3), np.uint8), 1.0)
    assert check_tile(0) == 0 and check_tile(None) == 0 and check_tile(512) == 512
    with pytest.raises(ValueError, match="at least 256"):
        check_tile(255)


# --------------------------------------------------------------------------- tiling


@pytest.mark.parametrize("length", [256, 257, 1000, 1027, 4099])
def test_tiles_cover_the_axis_aligned_and_overlapping(length):
    spans = tile_starts(length, 512, 192, 4)
    assert spans[0][0] == 0 and spans[-1][1] == length
    for (a0, b0), (a1, _) in itertools.pairwise(spans):
        assert a1 % 4 == 0 and a1 > a0
        assert b0 - a1 >= 192  # overlap at least 2 margin + blend
    assert all(b - a <= 512 + 3 for a, b in spans)


def test_blend_weights_sum_to_one_and_skip_the_margin():
    spans = tile_starts(1000, 400, 192, 4)
    ws = blend_weights(spans, 1000, 64, 64)
    total = np.zeros(1000)
    for (a, b), w in zip(spans, ws, strict=True):
        total[a:b] += w
        if a > 0:
            assert np.all(w[:64] == 0)  # the margin next to a neighbour is never used
        if b < 1000:
            assert np.all(w[-64:] == 0)
    np.testing.assert_allclose(total, 1.0, atol=1e-6)  # float32 weights: 1e-7 relative each


def test_tiled_local_filter_equals_the_whole_image_filter():
    """A filter whose support (radius 10) lies within the margin (64) gives the whole-image
    result: the margin hides the tile borders (OpenCV's whole-image blur is the reference)."""
    rng = np.random.default_rng(0)
    img = rng.random((700, 900)).astype(np.float32) * 255

    def blur(x):
        return cv2.GaussianBlur(x, (21, 21), 4.0, borderType=cv2.BORDER_REFLECT)

    calls = []

    def fn(crop, box):
        calls.append(box)
        return blur(np.ascontiguousarray(crop))

    tiled = run_tiled(fn, img, tile=300, margin=64, blend=64)
    assert len(calls) > 4
    # float32 blending of identical values: weights summing to 1 within 1e-6 (see above)
    np.testing.assert_allclose(tiled[..., 0], blur(img), rtol=0, atol=255 * 2e-6)


def _tiny_acol(seed: int = 0):
    keras = pytest.importorskip("keras")
    from jndtf.evaluate.learned import LearnedJnd
    from jndtf.models.acol.network import build_acol
    from jndtf.models.inputs import ACOL_PRIORS

    keras.utils.set_random_seed(seed)
    return LearnedJnd(build_acol("acol", width="tiny"), priors=ACOL_PRIORS, name="tiny")


def _photo(height: int, width: int) -> np.ndarray:
    from skimage import data

    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    tiles = [cv2.resize(p, (256, 256), interpolation=cv2.INTER_AREA) for p in photos]
    out = np.zeros((height, width, 3), np.uint8)
    k = 0
    for y in range(0, height, 256):
        for x in range(0, width, 256):
            t = tiles[k % 4]
            out[y : y + 256, x : x + 256] = t[: height - y, : width - x]
            k += 1
    return out


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def test_tiled_learned_map_follows_the_whole_image_map():
    """A tiny ACoL-JND (random weights, the full graph: priors, Up1, the §3.4 threshold,
    branch B) on 320x448 in 256-px tiles (2 x 4 tiles): with the whole image's threshold mean
    (two passes) the tiled map matches the whole one; with per-tile means it does not."""
    fn = _tiny_acol()
    img = _photo(320, 448)
    whole = fn(img, tile=None)
    tiled = fn(img, tile=256)
    assert tiled.shape == whole.shape == (320, 448, 3)
    # Measured 120+ dB here: what remains are pixels where i4 equals the mean within float
    # rounding (the tiled mean is summed in float64, TF's in float32) and the convolutions'
    # rounding on other tile sizes; 80 dB is ~0.03 grey levels RMS.
    assert _psnr(tiled, whole) > 80.0
    fn.global_threshold = False
    per_tile = fn(img, tile=256)
    assert _psnr(per_tile, whole) < _psnr(tiled, whole)


@pytest.mark.slow
def test_shipped_acol_tiled_vs_whole_on_1024x768():
    """The shipped ACoL-JND on a 1024x768 photo collage, tiled at 384 px: with the two-pass
    threshold the tiled map is within 80 dB of the whole map (measured 101.9 dB on an AVX-512
    Xeon); the per-tile threshold alone gives 45.4 dB (before the mirrored prior margins of
    c5a581c: 103.0 and 45.8 dB, largest differences 0.09 and 17 grey levels)."""
    from jndtf.jobs import jnd_function

    fn = jnd_function("acol")
    img = _photo(768, 1024)
    whole = fn(img, tile=None)
    tiled = fn(img, tile=384)
    print(f"tiled vs whole: {_psnr(tiled, whole):.1f} dB")
    assert _psnr(tiled, whole) > 80.0  # see the docstring: float rounding only
    fn.global_threshold = False
    try:
        per_tile = fn(img, tile=384)
    finally:
        fn.global_threshold = True
    print(f"per-tile threshold vs whole: {_psnr(per_tile, whole):.1f} dB")
    assert _psnr(per_tile, whole) < _psnr(tiled, whole)


# --------------------------------------------------------------------------- ~50 MP


_WRAPPER = r"""
import os, subprocess, sys
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(p.pid, 0)  # this child's own rusage (ru_maxrss: peak RSS, KB)
print(f"PEAK_KB {usage.ru_maxrss}", file=sys.stderr)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def _run_measured(args: list[str], timeout: float) -> tuple[int, float, str]:
    """Runs ``jndtf ARGS`` in a child; returns its exit code, peak RSS (MB) and stderr."""
    jndtf = str(Path(sys.executable).with_name("jndtf"))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", OMP_NUM_THREADS="2")
    res = subprocess.run(
        [sys.executable, "-c", _WRAPPER, jndtf, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    peak = [line for line in res.stderr.splitlines() if line.startswith("PEAK_KB ")]
    assert peak, res.stderr[-2000:]
    return res.returncode, int(peak[-1].split()[1]) / 1024.0, res.stderr


@pytest.fixture(scope="module")
def image_50mp(tmp_path_factory) -> Path:
    """8660x5774 (50.0 MP) photo collage, written with OpenCV (fast PNG compression)."""
    path = tmp_path_factory.mktemp("big") / "big50.png"
    img = _photo(5774, 8660)
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    del img
    return path


@pytest.mark.slow
def test_50mp_classical_within_the_memory_bound(image_50mp, tmp_path):
    """`jndtf baseline yang2005` on 50 MP: success, the map's size, peak RSS under the bound."""
    code, peak, err = _run_measured(
        ["baseline", "yang2005", str(image_50mp), "-o", str(tmp_path)], timeout=600
    )
    assert code == 0, err[-2000:]
    out = np.load(tmp_path / "big50" / "jnd_yang2005.npy", mmap_mode="r")
    assert out.shape == (5774, 8660, 1)
    bound = memory_bound_mb("classical", 8660 * 5774 / 1e6)
    print(f"yang2005 50 MP: peak {peak:.0f} MB, bound {bound:.0f} MB")
    assert peak < bound


@pytest.fixture(scope="module")
def tiny_acol_file(tmp_path_factory) -> Path:
    """ACoL-JND's whole graph at width "tiny" (random weights) as a .keras file with a
    manifest naming the acol preset: `jndtf jnd --model` runs it exactly as the shipped model
    (priors, tiles, whole-image saliency, the two-pass threshold) at ~1/16 of its convolutions."""
    keras = pytest.importorskip("keras")
    from jndtf.models.acol.network import build_acol

    keras.utils.set_random_seed(0)
    path = tmp_path_factory.mktemp("tiny") / "tiny_acol.keras"
    build_acol("acol", width="tiny").save(path)
    path.with_suffix(".json").write_text('{"preset": "acol"}')
    return path


_HUGE = os.environ.get("JNDTF_TEST_HUGE") == "1"


@pytest.mark.slow
@pytest.mark.parametrize(
    "size",
    [
        (4000, 3000),  # 12 MP (a phone photo): ~70 s on the shared 2-core box, in CI
        pytest.param(
            (8660, 5774),
            marks=pytest.mark.skipif(
                not _HUGE, reason="50 MP learned: ~4-5 min on 2 cores; set JNDTF_TEST_HUGE=1"
            ),
        ),
    ],
    ids=["12mp", "50mp"],
)
def test_learned_within_the_memory_bound(size, tiny_acol_file, tmp_path):
    """`jndtf jnd --model tiny_acol.keras` on a large photo: success, full-size map, peak RSS
    under the learned bound. The tiny width keeps CI short; the per-pixel memory (image,
    whole-image saliency, map, outputs) is the shipped model's, its tile working set smaller
    (the bound's fixed part is the shipped model's). The shipped acol: test below."""
    w, h = size
    path = tmp_path / "big.png"
    cv2.imwrite(
        str(path),
        cv2.cvtColor(_photo(h, w), cv2.COLOR_RGB2BGR),
        [cv2.IMWRITE_PNG_COMPRESSION, 1],
    )
    code, peak, err = _run_measured(
        ["jnd", str(path), "--model", str(tiny_acol_file), "-o", str(tmp_path)], timeout=900
    )
    assert code == 0, err[-2000:]
    out = np.load(tmp_path / "big" / "jnd_tiny_acol.npy", mmap_mode="r")
    assert out.shape == (h, w, 3)
    bound = memory_bound_mb("learned", w * h / 1e6)
    print(f"tiny acol {w}x{h}: peak {peak:.0f} MB, bound {bound:.0f} MB")
    assert peak < bound


@pytest.mark.slow
@pytest.mark.skipif(
    not _HUGE, reason="the shipped ACoL-JND at 50 MP: 8-13 min on 2 cores; set JNDTF_TEST_HUGE=1"
)
def test_50mp_shipped_acol_within_the_memory_bound(image_50mp, tmp_path):
    pytest.importorskip("keras")
    code, peak, err = _run_measured(["jnd", str(image_50mp), "-o", str(tmp_path)], timeout=3600)
    assert code == 0, err[-2000:]
    assert np.load(tmp_path / "big50" / "jnd_acol.npy", mmap_mode="r").shape == (5774, 8660, 3)
    bound = memory_bound_mb("learned", 8660 * 5774 / 1e6)
    print(f"acol 50 MP: peak {peak:.0f} MB, bound {bound:.0f} MB")
    assert peak < bound


def test_tiled_progress_counts_tiles():
    seen = []
    img = np.zeros((600, 600), np.float32)
    run_tiled(
        lambda c, b: c,
        img,
        tile=300,
        margin=64,
        blend=64,
        progress=lambda d, t: seen.append((d, t)),
    )
    assert seen[-1][0] == seen[-1][1] == len(seen) > 1
