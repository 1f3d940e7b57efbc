"""`jndtf pjnd` and its library (:mod:`jndtf.apply.picture_jnd`): the bisection against an
exhaustive scan, the refusal, the H.264 path and the command's outputs, each re-measured here
with the codecs directly."""

from __future__ import annotations

import csv
import itertools
import json

import numpy as np
import pytest
import skimage.data
from typer.testing import CliRunner

import jndtf.cli.pjnd  # noqa: F401  (registers `pjnd` before the lead adds it to jndtf.cli)
from jndtf.apply.picture_jnd import (
    PjndRefused,
    bisect_settings,
    default_setting,
    exceed_map,
    jpeg_round_trip,
    picture_jnd,
    picture_jnd_jpeg,
    psnr_db,
    visible_fraction,
)
from jndtf.cli import app
from jndtf.codecs.image import decode_image, encode_jpeg
from jndtf.io import save_image

runner = CliRunner()


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.ascontiguousarray(skimage.data.chelsea()[60:124, 150:214])  # 64x64 real photo


def scan(order, score, passes):
    """The exhaustive answer: every setting scored; the strongest passing setting whose
    gentler settings all pass (None when the gentlest fails)."""
    best = None
    for s in order:
        if not passes(score(s)):
            break
        best = s
    return best


@pytest.mark.parametrize("seed", range(20))
def test_bisection_equals_a_scan_for_any_monotone_step(seed):
    rng = np.random.default_rng(seed)
    order = list(range(100, 0, -1))
    badness = np.cumsum(rng.random(len(order)))  # strictly increasing with compression
    score = dict(zip(order, badness, strict=True)).__getitem__
    t = float(rng.uniform(badness[0] - 1, badness[-1] + 1))
    calls = []
    found = bisect_settings(order, lambda q: calls.append(q) or score(q), lambda v: v <= t)
    assert found.best == scan(order, score, lambda v: v <= t)
    assert len(calls) == len(set(calls)) <= 9  # 2 ends + ceil(log2(99)) = 7 halvings
    assert found.warnings == ()


def test_a_non_monotone_criterion_is_warned_about():
    # badness 0, 5, 1, 9 from the gentlest setting to the strongest, threshold 6: bisection
    # tries 0 (pass), 3 (fail), 1 (pass, 5), 2 (pass, 1): setting 2 scores better than the
    # gentler 1 -- the order the search assumes is broken, and the result says so.
    order = ["a", "b", "c", "d"]
    badness = {"a": 0.0, "b": 5.0, "c": 1.0, "d": 9.0}
    found = bisect_settings(range(4), lambda i: badness[order[i]], lambda v: v <= 6.0)
    assert found.best == 2 and found.failed_at == 3  # b passes, c passes, d fails
    assert len(found.warnings) == 1 and "setting 2" in found.warnings[0]


def test_bisection_equals_an_exhaustive_jpeg_scan_on_a_monotone_criterion(photo):
    # PSNR of this photo's JPEGs falls monotonically from q100 down to q40 (checked here by
    # the exhaustive scan itself; below q40 one step goes up by 0.03 dB), so on that range
    # bisection must give the scan's answer for every threshold.
    qualities = list(range(100, 39, -1))
    raw = {q: psnr_db(photo, jpeg_round_trip(photo, q)[0]) for q in qualities}
    assert all(raw[a] >= raw[b] for a, b in itertools.pairwise(qualities))
    for threshold in np.linspace(raw[40] - 1, raw[100] + 1, 25):
        res = picture_jnd_jpeg(
            photo, psnr_db, threshold, higher_is_better=True, qualities=qualities
        )
        assert res.quality == scan(qualities, raw.__getitem__, lambda v, t=threshold: v >= t)
        assert res.warnings == () and len(res.scores) <= 8  # 2 ends + ceil(log2(60))


def test_visible_search_matches_an_independent_check(photo):
    jnd = np.full((*photo.shape[:2], 1), 4.0, np.float32)
    res = picture_jnd([photo], jnds=[jnd], strength=1.0, threshold=0.05)
    q, nxt = res.chosen.setting, res.failed.setting
    assert nxt == q - 1
    for setting, passes in ((q, True), (nxt, False)):
        dec = decode_image(encode_jpeg(photo, setting))
        luma_err = np.abs((dec.astype(float) - photo.astype(float)) @ [0.299, 0.587, 0.114])
        assert bool(np.mean(luma_err > 4.0) <= 0.05) == passes
        assert res.scores[setting] == pytest.approx(np.mean(luma_err > 4.0))
    assert res.default.setting == 90
    assert res.default.nbytes == len(encode_jpeg(photo, 90))
    assert res.saving_percent == pytest.approx(100 * (1 - res.chosen.nbytes / res.default.nbytes))


def test_refused_when_even_quality_100_fails(photo):
    tiny = np.full(photo.shape[:2], 0.01, np.float32)  # any rounding error is "visible"
    with pytest.raises(PjndRefused, match=r"even quality 100 fails.*--strength"):
        picture_jnd([photo], jnds=[tiny], threshold=0.0)
    res = picture_jnd_jpeg(photo, visible_fraction(tiny), 0.0)
    assert res.quality is None and res.failed_at == 100 and list(res.scores) == [100]


def test_exceed_map_is_the_error_beyond_the_limit():
    x = np.zeros((2, 2, 3), np.uint8)
    y = x.copy()
    y[0, 0] = 10  # luma error 10
    y[1, 1, 0] = 3  # luma error 0.897
    m = exceed_map(x, y, np.full((2, 2, 1), 2.0))
    np.testing.assert_allclose(m, [[8.0, 0.0], [0.0, 0.0]], atol=1e-5)  # float32 rounding
    m3 = exceed_map(x, y, np.full((2, 2, 3), 2.0))
    np.testing.assert_allclose(m3, [[8.0, 0.0], [0.0, 1.0]], atol=1e-5)


def test_defaults_are_the_edge_runtimes():
    from jndtf.edge.encoders import DEFAULT_CRF, DEFAULT_JPEG_QUALITY

    assert default_setting("jpeg") == DEFAULT_JPEG_QUALITY
    assert default_setting("h264") == DEFAULT_CRF


def test_h264_on_a_tiny_clip(photo):
    from jndtf.codecs.video import encode_h264

    rng = np.random.default_rng(0)
    frames = [
        np.clip(photo.astype(int) + rng.integers(-3, 4, photo.shape), 0, 255).astype(np.uint8)
        for _ in range(3)
    ]
    jnds = [np.full((*photo.shape[:2], 1), 3.0, np.float32)] * 3
    res = picture_jnd(frames, codec="h264", jnds=jnds, threshold=0.05, preset="ultrafast")
    assert 0 <= res.chosen.setting < 51 and res.failed.setting == res.chosen.setting + 1
    assert res.default.setting == 23 and len(res.scores) <= 8  # 2 ends + ceil(log2(51))
    for crf, passes in ((res.chosen.setting, True), (res.failed.setting, False)):
        clip = encode_h264(frames, crf, preset="ultrafast")
        assert clip.nbytes == (res.chosen if passes else res.failed).nbytes
        frac = np.mean(
            [
                np.mean(np.abs((d.astype(float) - f) @ [0.299, 0.587, 0.114]) > 3.0)
                for f, d in zip(frames, clip.decoded, strict=True)
            ]
        )
        assert bool(frac <= 0.05) == passes


def test_cli_help():
    r = runner.invoke(app, ["pjnd", "--help"])
    assert r.exit_code == 0 and "bisection" in r.output and "--max-visible" in r.output


def test_cli_writes_summary_maps_and_the_file(photo, tmp_path):
    src = tmp_path / "cat.png"
    save_image(src, photo)
    out = tmp_path / "out"
    r = runner.invoke(app, ["pjnd", str(src), "-o", str(out), "--jnd", "yang2005"])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert len(rows) == 1 and rows[0]["status"] == "ok"
    q = int(rows[0]["setting"])
    data = (out / "cat" / f"pjnd_q{q}.jpg").read_bytes()
    assert data == encode_jpeg(photo, q) and int(rows[0]["bytes"]) == len(data)
    assert int(rows[0]["default_bytes"]) == len(encode_jpeg(photo, 90))
    for name in ("jnd", "exceed", "exceed_next"):
        assert (out / "cat" / f"{name}.png").is_file()
    exceed = np.load(out / "cat" / "exceed.npy")
    assert np.mean(exceed > 0) == pytest.approx(float(rows[0]["score"]))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows"][0]["setting"] == q and summary["settings"]["codec"] == "jpeg"
    assert f"PJND q{q}" in r.output and "SSIMULACRA2" in r.output and "default q90" in r.output


def test_cli_refusal_and_bad_input(photo, tmp_path):
    src = tmp_path / "cat.png"
    save_image(src, photo)
    out = tmp_path / "out"
    args = ["pjnd", str(src), str(tmp_path / "nope.png"), "-o", str(out), "--jnd", "yang2005"]
    r = runner.invoke(app, [*args, "--strength", "0.001", "--max-visible", "0"])
    assert r.exit_code == 1
    assert "REFUSED" in r.output and "nope.png: no such file" in r.output
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [row["status"] for row in rows] == ["refused", "failed"]
    r = runner.invoke(app, [*args, "--strength", "-1"])
    assert r.exit_code == 2 and "--strength" in r.output
    r = runner.invoke(app, [*args, "--codec", "vp9"])
    assert r.exit_code == 2 and "--codec" in r.output


def test_cli_strength_auto_is_the_recorded_calibration(photo, tmp_path):
    from jndtf.apply.calibrate import resolve_strength

    src = tmp_path / "cat.png"
    save_image(src, photo)
    out = tmp_path / "out"
    args = ["pjnd", str(src), "-o", str(out), "--jnd", "yang2005", "--strength", "auto"]
    r = runner.invoke(app, [*args, "--max-visible", "0.5"])
    assert r.exit_code == 0, r.output
    (row,) = csv.DictReader((out / "summary.csv").open())
    assert float(row["strength"]) == resolve_strength("yang2005", "auto")
