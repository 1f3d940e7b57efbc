"""The calibrated strength (issue 13, point 2): the bisection against closed forms, its
refusals, the records (calibration.json, the export manifest) and ``--strength auto``."""

from __future__ import annotations

import itertools
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from typer.testing import CliRunner

import jndtf.cli.calibrate  # noqa: F401  (registers `jndtf calibrate` until cli/__init__ does)
from jndtf import manifest as M
from jndtf.apply import calibrate as C
from jndtf.cli import app
from jndtf.io import save_image

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
SHIPPED_TFLITE = sorted((ROOT / "jndtf" / "weights").glob("**/*.tflite"))


def psnr_float(original, distorted) -> float:
    """PSNR (dB, peak 255) on the unrounded output: the closed-form proxy."""
    d = np.asarray(distorted, np.float64) - np.asarray(original, np.float64)
    return 10.0 * math.log10(255.0**2 / float(np.mean(d * d)))


def closed_form_s(jnd: np.ndarray, target_db: float) -> float:
    """Without clipping, eq. (7) moves every element by exactly s·JND (R = ±1), so
    MSE(s) = s² mean(JND²) and the s reaching PSNR T is sqrt(255² 10^(-T/10) / mean(JND²))."""
    return math.sqrt(
        255.0**2 * 10 ** (-target_db / 10) / float(np.mean(jnd.astype(np.float64) ** 2))
    )


@pytest.fixture(scope="module")
def flat():
    """An image far from 0 and 255 and a varying map: no clipping for s <= 8."""
    rng = np.random.default_rng(3)
    image = rng.integers(100, 156, size=(48, 40, 3), dtype=np.uint8)
    jnd = rng.uniform(0.5, 3.0, size=(48, 40, 1)).astype(np.float32)
    return image, jnd


# ---------------------------------------------------------------------------- the bisection


@pytest.mark.parametrize("target", [30.0, 38.0, 45.0])
def test_bisection_finds_the_closed_form_strength(flat, target):
    image, jnd = flat
    got = C.calibrate_image(
        image, jnd, proxy=psnr_float, target=target, quantize=False, tol=1e-9, rtol=1e-12
    )
    want = closed_form_s(jnd, target)
    # 1e-7 relative: the float32 map and float64 PSNR; the solver stops at 1e-9 dB
    assert got.s == pytest.approx(want, rel=1e-7)
    assert got.value == pytest.approx(target, abs=1e-6)
    assert got.monotone and got.evaluations == len(got.trace) <= 40


def test_the_proxy_falls_with_s_and_a_higher_target_gives_a_smaller_s(flat):
    image, jnd = flat
    got = C.calibrate_image(image, jnd, proxy=psnr_float, target=38.0, quantize=False)
    values = [v for _, v in sorted(got.trace)]
    assert all(b < a for a, b in itertools.pairwise(values))  # strictly falling
    s = [
        C.calibrate_image(image, jnd, proxy=psnr_float, target=t, quantize=False, tol=1e-6).s
        for t in (32.0, 36.0, 40.0)
    ]
    assert s[0] > s[1] > s[2]


def test_ssimulacra2_on_a_real_photo_is_monotone_and_reaches_its_target():
    from jndtf.codecs.quality import ssimulacra2
    from jndtf.jobs import compute_jnd

    photo = skimage.data.chelsea()[60:188, 150:278]  # 128x128 real photo
    jnd = compute_jnd(photo, "yang2005")
    got = [C.calibrate_image(photo, jnd, target=t) for t in (85.0, 92.0)]
    assert all(g.monotone for g in got)
    assert got[0].s > got[1].s
    for g, t in zip(got, (85.0, 92.0), strict=True):
        # re-measured here with the package's own file-based entry point
        from jndtf.apply.inject import inject

        again = ssimulacra2(photo, inject(photo, jnd, scale=g.s, seed=0).image)
        assert again == pytest.approx(g.value, abs=1e-6)
        assert abs(again - t) <= C.TOL


def test_monotone_flag_on_hand_made_traces():
    # evaluations in bisection order; sorted by s the proxy must not rise (beyond the slack)
    assert C._is_monotone(
        [(0.01, 100.0), (8.0, -80.0), (0.3, 85.0), (0.2, 85.0 + C.MONOTONE_SLACK)]
    )
    assert not C._is_monotone([(0.01, 100.0), (8.0, -80.0), (0.3, 85.0), (0.4, 88.0)])


def test_unreachable_targets_are_refused_with_the_option_to_change(flat):
    image, jnd = flat
    # s_min = 0.01 gives PSNR 20 log10(255 / (0.01 rms JND)) ~ 81 dB < 120 dB
    with pytest.raises(C.CalibrationError, match=r"smallest strength s = 0\.01.*lower --s-min"):
        C.calibrate_image(image, jnd, proxy=psnr_float, target=120.0, quantize=False)
    # s_max = 8 keeps PSNR ~ 20 dB > 5 dB
    with pytest.raises(C.CalibrationError, match=r"largest strength s = 8 .*raise --s-max"):
        C.calibrate_image(image, jnd, proxy=psnr_float, target=5.0, quantize=False)
    with pytest.raises(C.CalibrationError, match="near zero"):
        C.calibrate_image(image, np.zeros_like(jnd), target=90.0)
    with pytest.raises(C.CalibrationError, match="s_min < s_max"):
        C.calibrate_image(image, jnd, s_min=2.0, s_max=1.0)
    with pytest.raises(C.CalibrationError, match="no default target"):
        C.calibrate_image(image, jnd, proxy="psnr")
    with pytest.raises(C.CalibrationError, match="unknown proxy 'vmaf'"):
        C.calibrate_image(image, jnd, proxy="vmaf")


def test_the_calibrated_s_is_the_median_and_the_record_is_json(flat):
    image, jnd = flat
    maps = [jnd, 2 * jnd, 4 * jnd]  # closed-form s: s*, s*/2, s*/4 -> median s*/2
    cal = C.calibrate(
        [image] * 3, maps, names=["a", "b", "c"], proxy=psnr_float, target=40.0,
        quantize=False, tol=1e-9, rtol=1e-12,
    )  # fmt: skip
    want = closed_form_s(jnd, 40.0)
    assert [p.name for p in cal.per_image] == ["a", "b", "c"]
    assert cal.s == pytest.approx(want / 2, rel=1e-7)
    assert cal.spread == pytest.approx((want / 4, want), rel=1e-7)
    rec = json.loads(json.dumps(cal.with_info(model="toy", command="jndtf calibrate").to_record()))
    assert rec["s"] == cal.s and rec["target"] == 40.0 and rec["model"] == "toy"
    assert rec["images"] == [p["sha256"] for p in rec["per_image"]] and len(rec["images"]) == 3
    assert {"proxy", "target", "s", "per_image", "images", "command", "jndtf_version"} <= set(rec)
    assert M.check_calibration(rec, "here") is rec


# ---------------------------------------------------------------------------- records


def _record(s: float, **extra) -> dict:
    return {"proxy": "ssimulacra2", "target": 90.0, "s": s, **extra}


def test_calibration_file_round_trip_keeps_other_models(tmp_path):
    path = tmp_path / "calibration.json"
    C.record_calibration("yang2005", _record(0.2), path)
    C.record_calibration("flat=wu2017", _record(0.3), path)  # a LABEL= is not part of the key
    C.record_calibration("yang2005", _record(0.25), path)
    assert set(C.read_calibrations(path)) == {"yang2005", "wu2017"}
    assert C.resolve_strength("yang2005", "auto", path=path) == 0.25
    assert C.resolve_strength("wu2017", "AUTO", path=path) == 0.3
    assert [p.name for p in tmp_path.iterdir()] == ["calibration.json"]  # no temp file left
    with pytest.raises(ValueError, match=r"calibration\.s must be a finite number > 0"):
        C.record_calibration("yang2005", _record(-1.0), path)
    with pytest.raises(C.CalibrationError, match="its own manifest"):
        C.record_calibration("runs/x.keras", _record(0.2), path)


def test_strength_auto_without_a_record_names_the_command(tmp_path):
    path = tmp_path / "none.json"
    with pytest.raises(
        C.CalibrationError,
        match=r"no calibration is recorded for 'wu2013'.*jndtf calibrate wu2013 --data",
    ):
        C.resolve_strength("wu2013", "auto", path=path)
    assert C.resolve_strength("wu2013", "0.75", path=path) == 0.75
    assert C.resolve_strength("wu2013", 1, path=path) == 1.0
    for bad in ("strong", "-1", "nan"):
        with pytest.raises(ValueError, match="--strength"):
            C.resolve_strength("wu2013", bad, path=path)


def test_a_record_for_other_weights_is_refused(tmp_path):
    path = tmp_path / "calibration.json"
    C.record_calibration("acol", _record(0.3, model_sha256="0" * 64), path)
    with pytest.raises(C.CalibrationError, match=r"other weights.*jndtf calibrate acol"):
        C.resolve_strength("acol", "auto", path=path)
    now = C.model_file_sha256("acol")
    C.record_calibration("acol", _record(0.3, model_sha256=now), path)
    assert C.resolve_strength("acol", "auto", path=path) == 0.3


def test_the_shipped_calibration_file_checks_and_its_s_is_the_median_of_its_images():
    models = C.read_calibrations()
    assert {"yang2005", "wu2017"} <= set(models)
    for name, rec in models.items():
        M.check_calibration(rec, name)
        per = [p["s"] for p in rec["per_image"]]
        assert rec["s"] == pytest.approx(float(np.median(per)), rel=1e-12), name
        assert rec["command"].startswith(f"jndtf calibrate {name} ")
        # every image reached the target within the tolerance it was run with
        assert all(
            abs(p["value"] - rec["target"]) <= rec["settings"]["tol"] for p in rec["per_image"]
        ), name
        assert C.resolve_strength(name, "auto") == rec["s"]


@pytest.fixture
def exported(tmp_path) -> Path:
    assert SHIPPED_TFLITE, "no shipped .tflite under jndtf/weights"
    src = SHIPPED_TFLITE[0]
    dst = tmp_path / src.name
    shutil.copy(src, dst)
    shutil.copy(src.with_suffix(".json"), dst.with_suffix(".json"))
    return dst


def test_export_manifest_round_trip_with_and_without_calibration(exported):
    before = json.loads(exported.with_suffix(".json").read_text())
    before.pop(M.CALIBRATION_KEY, None)
    exported.with_suffix(".json").write_text(json.dumps(before))
    spec = M.read_deploy_spec(exported)
    assert spec.calibration is None  # an old manifest still loads
    with pytest.raises(C.CalibrationError, match="in its manifest"):
        C.resolve_strength(str(exported), "auto")
    rec = _record(0.4, per_image=[{"image": "042", "s": 0.4}])
    M.write_calibration(exported, rec)
    after = json.loads(exported.with_suffix(".json").read_text())
    assert after == {**before, M.CALIBRATION_KEY: rec}  # nothing else changed
    assert M.read_deploy_spec(exported).calibration == rec
    assert M.verify(exported)[M.CALIBRATION_KEY] == rec
    assert C.resolve_strength(str(exported), "auto") == 0.4
    # a broken record is refused on write and on read, naming the key
    with pytest.raises(ValueError, match=r"calibration\.proxy"):
        M.write_calibration(exported, {"target": 90, "s": 0.4})
    after[M.CALIBRATION_KEY]["s"] = "big"
    exported.with_suffix(".json").write_text(json.dumps(after))
    with pytest.raises(ValueError, match=r"calibration\.s is missing or not a number"):
        M.verify(exported)


def test_write_calibration_refuses_a_model_that_does_not_verify(exported):
    exported.write_bytes(exported.read_bytes() + b"x")
    with pytest.raises(ValueError, match="sha256"):
        M.write_calibration(exported, _record(0.4))


# ---------------------------------------------------------------------------- --strength auto


def test_eval_rd_parses_and_resolves_auto(tmp_path, monkeypatch):
    from jndtf.cli.rd import parse_strengths
    from jndtf.rd import run_rd

    assert parse_strengths("0.25:0.75:0.25") == (0.25, 0.5, 0.75)
    assert parse_strengths("auto,0.5") == ("auto", 0.5)
    with pytest.raises(ValueError, match="--strength"):
        parse_strengths("auto,strong")
    path = tmp_path / "calibration.json"
    C.record_calibration("yang2005", _record(0.3), path)
    monkeypatch.setattr(C, "CALIBRATION_FILE", path)
    res = run_rd(
        [_photo(tmp_path)], jnd_model="yang2005", methods=["eq14"], strengths=["auto", 0.3, 1.0],
        qualities=[50, 90], metrics=["psnr"], anchors=[], out_dir=tmp_path / "rd", plots=False,
    )  # fmt: skip
    assert res.settings["strengths"] == [0.3, 1.0] and res.settings["strength_auto"] == 0.3
    assert "'auto' = 0.3" in (tmp_path / "rd" / "report.md").read_text()
    with pytest.raises(ValueError, match="jndtf calibrate wu2013"):
        run_rd([_photo(tmp_path)], jnd_model="wu2013", methods=["eq14"], strengths=["auto"])


def _photo(tmp_path: Path) -> Path:
    path = tmp_path / "cat.png"
    if not path.exists():
        save_image(path, skimage.data.chelsea()[60:156, 150:246])  # 96x96 real photo
    return path


def test_compress_strength_auto(tmp_path, monkeypatch):
    path = tmp_path / "calibration.json"
    C.record_calibration("yang2005", _record(0.3), path)
    monkeypatch.setattr(C, "CALIBRATION_FILE", path)
    photo, out = _photo(tmp_path), tmp_path / "cat.jpg"
    r = runner.invoke(
        app,
        ["compress", str(photo), "-o", str(out), "--jnd", "yang2005", "--method", "eq14",
         "--strength", "auto", "--quality", "80"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "eq14 s=0.3 (calibrated, --strength auto) +" in r.output and out.is_file()
    r = runner.invoke(
        app,
        ["compress", str(photo), "-o", str(out), "--jnd", "wu2013", "--method", "eq14",
         "--strength", "auto", "--quality", "80"],
    )  # fmt: skip
    assert r.exit_code == 2 and "jndtf calibrate wu2013 --data" in r.output


# ---------------------------------------------------------------------------- the command


def test_calibrate_help():
    r = runner.invoke(app, ["calibrate", "--help"])
    assert r.exit_code == 0 and "--record" in r.output and "--target" in r.output


def test_calibrate_command_writes_what_the_library_computes(tmp_path, monkeypatch):
    from jndtf.jobs import compute_jnd

    folder = tmp_path / "photos"
    folder.mkdir()
    photos = [skimage.data.chelsea()[60:156, 150:246], skimage.data.coffee()[100:196, 200:296]]
    for i, p in enumerate(photos):
        save_image(folder / f"{i}.png", p)
    path = tmp_path / "calibration.json"
    monkeypatch.setattr(C, "CALIBRATION_FILE", path)
    args = ["calibrate", "yang2005", "--data", str(folder), "--proxy", "psnr", "--target", "40"]
    r = runner.invoke(app, [*args, "--out", str(tmp_path / "rec.json"), "--record"])
    assert r.exit_code == 0, r.output
    rec = json.loads((tmp_path / "rec.json").read_text())
    lib = C.calibrate(
        photos, [compute_jnd(p, "yang2005") for p in photos], proxy="psnr", target=40.0
    )
    assert rec["s"] == pytest.approx(lib.s, rel=1e-12)
    assert C.read_calibrations(path)["yang2005"] == rec
    assert f"calibrated s = {lib.s:.4f}" in r.output
    r = runner.invoke(app, [*args[:4], "--proxy", "psnr"])
    assert r.exit_code == 2 and "no default target" in r.output
    r = runner.invoke(app, [*args, "--s-min", "2", "--s-max", "1"])
    assert r.exit_code == 2 and "--s-min" in r.output


def test_calibrate_an_exported_model_records_into_its_manifest(exported, tmp_path):
    from jndtf.edge import JndMapper

    folder = tmp_path / "photos"
    folder.mkdir()
    photo = skimage.data.chelsea()[60:156, 150:246]
    save_image(folder / "cat.png", photo)
    args = ["calibrate", str(exported), "--data", str(folder), "--proxy", "psnr", "--target", "40"]
    r = runner.invoke(app, [*args, "--record"])
    assert r.exit_code == 0, r.output
    jnd = JndMapper.create_from_model_path(exported).process(photo).jnd  # as deployed
    lib = C.calibrate([photo], [jnd], proxy="psnr", target=40.0)
    spec = M.read_deploy_spec(exported)  # still verifies: the model file was not touched
    assert spec.calibration["s"] == pytest.approx(lib.s, rel=1e-12)
    assert C.resolve_strength(str(exported), "auto") == spec.calibration["s"]
    r = runner.invoke(app, ["calibrate", "runs/x.keras", "--data", str(folder), "--record"])
    assert r.exit_code == 2 and "not an exported .tflite" in r.output
