"""DMV-JND on the edge (issue 11, "Deployment"): CAM classifiers exported with their CAM output,
the TF-free DMV stage, the machine-vision pre-processing that removes information, and the stream.

References that are not this code: ``scipy.ndimage.uniform_filter`` (the box mean of
:func:`toward_local_mean`), the Keras :func:`jndtf.models.classifiers.cam` (Zhou et al.'s map),
the Keras DMV-JND-NET itself (e), and closed forms (bounds, flat patches).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from jndtf.edge.classifier import normalized_cam
from jndtf.edge.dmv import perturbed, toward_local_mean

#: Tolerances and why.
TOL = {
    # fp32 TFLite vs Keras: float32 reassociation in convs/BN, normalized map in 0..1
    "cam_fp32": 1e-5,
    # fp32 TFLite vs Keras e in pixel units: a few ulps of 255-scaled float32 sums
    "e_fp32": 1e-3,
    # int8 trunk (heads float): the normalized CAM of an untrained tiny net moves by a few
    # quantization steps of its 8x8 map; bilinear upsampling keeps the error below this
    "cam_int8": 0.15,
}


def _frame(h=48, w=64, seed=0):
    """A textured RGB frame: a smooth gradient plus noise (not flat anywhere)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 3.0, yy * 4.0, (xx + yy) * 2.0], -1)
    return np.clip(base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------ closed-form, no TensorFlow


@pytest.mark.parametrize("seed", [0, 1])
def test_local_mean_never_moves_a_pixel_more_than_the_tolerance(seed):
    frame = _frame(seed=seed)
    rng = np.random.default_rng(seed + 10)
    tol = rng.uniform(0, 6, frame.shape).astype(np.float32)
    out = toward_local_mean(frame, tol)
    change = np.abs(out.astype(np.int16) - frame.astype(np.int16))
    assert out.dtype == np.uint8 and out.shape == frame.shape
    assert (change <= tol).all()  # floor(t) for uint8: the bound holds exactly
    assert change.max() > 0  # a textured frame with t up to 6 does change


def test_local_mean_leaves_a_flat_patch_and_zero_tolerance_alone():
    flat = np.full((32, 40, 3), 117, np.uint8)
    assert np.array_equal(toward_local_mean(flat, 9.0), flat)
    frame = _frame()
    assert np.array_equal(toward_local_mean(frame, 0.0), frame)


def test_local_mean_with_a_large_tolerance_is_the_box_mean():
    ndimage = pytest.importorskip("scipy.ndimage")
    frame = _frame()
    out = toward_local_mean(frame, 255.0, size=5)
    ref = ndimage.uniform_filter(frame.astype(np.float64), size=(5, 5, 1), mode="mirror")
    # rint of the float32 box mean vs the float64 one: ties may round apart by one level
    assert np.abs(out.astype(np.float64) - np.rint(ref)).max() <= 1


def test_local_mean_removes_jpeg_bytes_on_a_noisy_frame():
    frame = _frame(96, 128)
    out = toward_local_mean(frame, 4.0)

    def nbytes(im):
        return len(cv2.imencode(".jpg", im[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])[1])

    assert nbytes(out) < nbytes(frame)


def test_perturbed_is_eq4_rounded_and_clipped():
    frame = np.array([[[0, 100, 255]]], np.uint8)
    e = np.array([[[-3.0, 2.4, 7.0]]], np.float32)
    assert perturbed(frame, e).tolist() == [[[0, 102, 255]]]
    assert perturbed(frame, e, 0.5).tolist() == [[[0, 101, 255]]]


def test_normalized_cam_spans_zero_to_one_and_a_flat_map_is_zero():
    raw = np.array([[0.0, 1.0], [2.0, 3.0]], np.float32)
    up = normalized_cam(raw, (8, 4))
    assert up.shape == (4, 8) and up.min() == 0.0 and up.max() == 1.0
    assert not normalized_cam(np.full((2, 2), 5.0, np.float32), (8, 8)).any()


def test_stream_settings_check_the_machine_vision_options():
    from jndtf.edge.stream import StreamSettings

    with pytest.raises(ValueError, match="--dmv needs --classifier"):
        StreamSettings(source="x", model="yang2005", dmv=Path("d.tflite"))
    with pytest.raises(ValueError, match="--mv-method"):
        StreamSettings(source="x", model="m", classifier=Path("c"), classifier_mode="blur")
    with pytest.raises(ValueError, match="give --dmv"):
        StreamSettings(source="x", model="m", classifier=Path("c"), classifier_mode="perturb")


# ------------------------------------------------------------------ with TensorFlow (exports)


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """An untrained resnet_tiny exported with its CAM (fp32 and int8), the same without the CAM
    output, and an untrained dmv_tiny E-D (fp32, dynamic size) with a dmv_jnd manifest."""
    keras = pytest.importorskip("keras")
    from jndtf.edge.classifier import write_classifier_manifest
    from jndtf.export.cam import export_cam_classifier
    from jndtf.export.quantization import QuantizationConfig
    from jndtf.export.tflite import convert_saved_model, export_saved_model

    from jndtf.models.classifiers import build_cam_classifier
    from jndtf.models.dmv.network import build_dmv_net

    folder = tmp_path_factory.mktemp("dmv-edge")
    keras.utils.set_random_seed(0)
    clf = build_cam_classifier("resnet_tiny")
    fp32 = export_cam_classifier(clf, folder / "clf-fp32.tflite", int8=False, num_calibration=4)
    int8 = export_cam_classifier(clf, folder / "clf-int8.tflite", int8=True, num_calibration=8)
    dmv = build_dmv_net("dmv_tiny")
    plain = folder / "plain.tflite"
    fixed = folder / "dmv32.tflite"
    for model, path, channels, hw in (
        (dmv, folder / "dmv.tflite", 4, None),
        (dmv, fixed, 4, (32, 32)),
        (clf, plain, 3, None),
    ):
        saved = export_saved_model(model, folder / f"sm-{path.stem}", hw, channels)
        path.write_bytes(convert_saved_model(saved, QuantizationConfig.none()))
    for name in ("dmv.json", "dmv32.json"):
        (folder / name).write_text(json.dumps({"outputs": {"kind": "dmv_jnd"}}))
    write_classifier_manifest(plain, input_size=(32, 32), output="logits")
    return {
        "clf": clf,
        "dmv": dmv,
        "fp32": fp32,
        "int8": int8,
        "ed": folder / "dmv.tflite",
        "plain": plain,
        "fixed": fixed,
        "folder": folder,
    }


@pytest.mark.tf
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_edge_cam_equals_keras_cam(exports, seed):
    from jndtf.edge.classifier import Classifier

    from jndtf.models.classifiers import cam

    frame = _frame(32, 32, seed)
    x = frame[None].astype(np.float32) / 255.0
    label_k = int(np.argmax(np.asarray(exports["clf"](x, training=False))[0]))
    with Classifier(exports["fp32"]) as clf:
        label, _, c = clf.classify_with_cam(frame)
        assert clf.classify(frame)[0] == label
    assert label == label_k
    assert np.abs(c - cam(exports["clf"], x, label_k)[0]).max() <= TOL["cam_fp32"]


@pytest.mark.tf
def test_int8_cam_export_records_its_parity(exports):
    from jndtf.edge.classifier import Classifier

    m = json.loads(exports["int8"].with_suffix(".json").read_text())
    assert m["task"] == "classification" and m["cam"]["outputs"]["logits"] == [1, 10]
    parity = m["cam"]["parity"]
    assert parity["crops"] == 4 and 0.0 <= parity["label_agreement"] <= 1.0
    frame = _frame(32, 32)
    with Classifier(exports["int8"]) as q, Classifier(exports["fp32"]) as f:
        lq, _, cq = q.classify_with_cam(frame)
        lf, _, cf = f.classify_with_cam(frame)
    if lq == lf:  # two classes' maps are not comparable
        assert np.abs(cq - cf).max() <= TOL["cam_int8"]


@pytest.mark.tf
def test_dmv_e_equals_keras_on_the_edge_cam(exports):
    from jndtf.edge.dmv import DmvJnd

    frame = _frame(40, 56)  # not a multiple of 8: the E-D's crop path
    with DmvJnd(exports["ed"], [exports["fp32"]]) as dmv:
        r = dmv.compute(frame)
    assert r.e.shape == frame.shape and r.cam.shape == frame.shape[:2]
    assert 0.0 <= r.cam.min() and r.cam.max() <= 1.0
    x = np.concatenate([frame / 255.0, r.cam[..., None]], -1)[None].astype(np.float32)
    e_keras = np.asarray(exports["dmv"](x, training=False))[0]
    assert np.abs(r.e - e_keras).max() <= TOL["e_fp32"]


@pytest.mark.tf
def test_scaled_ed_is_the_half_size_e_upsampled(exports):
    from jndtf.edge.dmv import DmvError, DmvJnd

    frame = _frame(48, 64, 7)
    half = cv2.resize(frame, (32, 24), interpolation=cv2.INTER_AREA)
    with (
        DmvJnd(exports["ed"], exports["fp32"], scale=0.5) as a,
        DmvJnd(exports["ed"], exports["fp32"]) as b,
    ):
        r = a.compute(frame)
        e_half = b.compute(half).e
    assert r.e.shape == frame.shape and r.cam.shape == frame.shape[:2]
    up = cv2.resize(e_half, (64, 48), interpolation=cv2.INTER_LINEAR)
    assert np.allclose(r.e, up, atol=1e-5)
    with pytest.raises(DmvError, match="scale must be"):
        DmvJnd(exports["ed"], exports["fp32"], scale=0)
    with pytest.raises(DmvError, match="frame layout"):
        DmvJnd(exports["ed"], exports["fp32"], scale=0.5, layout="tiles")


@pytest.mark.tf
def test_tiles_layout_on_one_tile_is_the_frame_layout(exports):
    from jndtf.edge.dmv import DmvJnd

    frame = _frame(32, 32, 3)
    with (
        DmvJnd(exports["ed"], exports["fp32"]) as a,
        DmvJnd(exports["ed"], exports["fp32"], layout="tiles") as b,
    ):
        ra, rb = a.compute(frame), b.compute(frame)
        assert np.array_equal(ra.cam, rb.cam) and np.allclose(ra.e, rb.e, atol=1e-5)
        big = _frame(50, 70, 4)  # padded to 64x96 tiles, cropped back
        assert b.compute(big).e.shape == big.shape


@pytest.mark.tf
def test_fixed_size_ed_runs_per_tile_and_names_the_size_it_needs(exports):
    from jndtf.edge.dmv import DmvError, DmvJnd

    frame = _frame(64, 64, 6)
    with (
        DmvJnd(exports["fixed"], exports["fp32"], layout="tiles") as tiles,
        DmvJnd(exports["fixed"], exports["fp32"]) as whole,
    ):
        e = tiles.compute(frame).e
        for y in (0, 32):
            for x in (0, 32):  # each tile on its own through the frame layout at 32x32
                tile_e = whole.compute(np.ascontiguousarray(frame[y : y + 32, x : x + 32])).e
                assert np.allclose(e[y : y + 32, x : x + 32], tile_e, atol=1e-5)
        with pytest.raises(DmvError, match="--size 64x64"):
            whole.compute(frame)


@pytest.mark.tf
def test_dmv_refuses_what_it_cannot_use(exports, tmp_path):
    from jndtf.edge.dmv import DmvError, DmvJnd

    with pytest.raises(DmvError, match="no CAM output"):
        DmvJnd(exports["ed"], exports["plain"])
    with pytest.raises(DmvError, match="describes an image classifier"):
        DmvJnd(exports["plain"], exports["fp32"])
    no_manifest = tmp_path / "no_manifest.tflite"
    no_manifest.write_bytes(exports["plain"].read_bytes())
    with pytest.raises(DmvError, match="takes 3 channels"):
        DmvJnd(no_manifest, exports["fp32"])
    bad = tmp_path / "jnd.tflite"
    bad.write_bytes(exports["ed"].read_bytes())
    bad.with_suffix(".json").write_text(json.dumps({"outputs": {"kind": "jnd_map"}}))
    with pytest.raises(DmvError, match="'jnd_map', not 'dmv_jnd'"):
        DmvJnd(bad, exports["fp32"])


@pytest.mark.tf
@pytest.mark.parametrize("mode", ["eq14", "smooth", "quantize", "perturb"])
def test_stage_with_dmv_moves_pixels_within_factor_half_e(exports, mode):
    from jndtf.edge.dmv import DmvJnd
    from jndtf.edge.machine import MachineVisionStage

    frame = _frame(48, 64, 5)
    with DmvJnd(exports["ed"], exports["int8"]) as dmv:
        e = dmv.compute(frame).e
    factor = 3.0
    with MachineVisionStage(exports["int8"], mode=mode, factor=factor, dmv=exports["ed"]) as st:
        out, rec = st.process(frame, None)
        assert np.array_equal(st.last_map, np.abs(e))
        s = st.summary()
    change = np.abs(out.astype(np.float64) - frame)
    slack = 0.5 if mode == "perturb" else 0.0  # rounding x + e to uint8
    assert (change <= factor / 2 * np.abs(e) + slack + 1e-4).all()
    assert rec.max_abs_change == change.max() and s.frames == 1 and s.jnd == "dmv"


@pytest.mark.tf
def test_stream_with_classifier_and_dmv_reports_rca_beside_bytes(exports, tmp_path):
    from jndtf.edge.stream import StreamSettings, run_stream

    src = tmp_path / "frames"
    src.mkdir()
    for i in range(3):
        cv2.imwrite(str(src / f"{i}.png"), _frame(64, 96, i)[..., ::-1])
    settings = StreamSettings(
        source=str(src),
        model="unused",
        classifier=exports["int8"],
        dmv=exports["ed"],
        classifier_mode="smooth",
        equal_quality=False,
        ms_ssim_every=0,
        stats_path=tmp_path / "stats.jsonl",
    )
    report = run_stream(settings)
    mv = report.machine_vision
    assert report.frames == 3 and mv["frames"] == 3 and mv["byte_frames"] == 3
    assert mv["bytes_original"] == report.bytes_original
    assert report.jnd["model"] == "dmv-jnd" and report.jnd["layout"] == "frame"
    assert any("resized to that" in w and "upsampled back to 96x64" in w for w in report.warnings)
    line = report.comparison["lines"][-1]
    assert "RCA" in line and "bytes" in line and f"/{mv['frames']} frames" in line
    records = [json.loads(x) for x in (tmp_path / "stats.jsonl").read_text().splitlines()]
    frames = [r for r in records if r.get("type") == "frame"]
    assert len(frames) == 3 and all("dmv" in r["latency_ms"] for r in frames)


@pytest.mark.tf
def test_dmv_stage_runs_with_tensorflow_and_keras_blocked(exports):
    """The DMV-JND edge path is TF-free: a fresh interpreter with tensorflow/keras blocked runs
    the CAM classifier, the E-D and every mode."""
    import subprocess
    import sys
    import textwrap

    from test_import_boundary import BLOCKER

    code = BLOCKER + textwrap.dedent(
        f"""
        import sys
        import numpy as np
        from jndtf.edge.machine import MODES, MachineVisionStage
        frame = np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)
        for mode in MODES:
            with MachineVisionStage({str(exports["int8"])!r}, mode=mode,
                                    dmv={str(exports["ed"])!r}) as stage:
                stage.process(frame, None)
            assert stage.summary().frames == 1
        heavy = [m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")]
        assert not heavy, heavy
        print("ok")
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("ok")


@pytest.mark.tf
def test_shipped_names_resolve_to_edge_exports(exports, tmp_path, monkeypatch):
    import shutil

    from jndtf.edge.dmv import DmvError, resolve_edge_model
    from jndtf.edge.machine import MachineVisionStage

    import jndtf.refs

    edge = tmp_path / "weights" / "classifiers" / "edge"
    edge.mkdir(parents=True)
    for src, name in ((exports["int8"], "resnet-cam"), (exports["ed"], "dmv")):
        dst = edge / f"{name}-tflite-int8.tflite"
        shutil.copy(src, dst)
        manifest = json.loads(src.with_suffix(".json").read_text())
        if "file" in manifest:
            manifest["file"] = dst.name
        dst.with_suffix(".json").write_text(json.dumps(manifest))
    monkeypatch.setattr(jndtf.refs, "WEIGHTS_ROOT", tmp_path / "weights")
    assert resolve_edge_model("resnet", "--classifier").name == "resnet-cam-tflite-int8.tflite"
    with MachineVisionStage("resnet", mode="smooth", dmv="dmv") as stage:
        stage.process(_frame(), None)
        assert stage.dmv.path.name == "dmv-tflite-int8.tflite"
    with pytest.raises(DmvError, match=r"--dmv nope: no such file.*\(dmv, resnet-cam\)"):
        resolve_edge_model("nope", "--dmv")


def test_the_edge_package_exports_the_dmv_runtime():
    """``from jndtf.edge import DmvJnd`` (lazily, like JndMapper) is edge/dmv.py's class."""
    import jndtf.edge
    from jndtf.edge import dmv

    for name in ("DmvJnd", "DmvResult", "DmvError"):
        assert name in jndtf.edge.__all__ and getattr(jndtf.edge, name) is getattr(dmv, name)
