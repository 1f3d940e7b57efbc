"""`jndtf export` of a CAM classifier (logits + CAM output, 32x32 by default), of a DMV-JND E-D at
a fixed size, and `jndtf bench dmv` through the CLI (issue 11, deployment).

Small on purpose (2 shared cores): untrained ``*_tiny`` networks, 4 calibration crops. The CAM
is checked against a numpy computation of Zhou et al.'s sum_k w_kc f_k from the Keras model's
``cam_features`` maps and ``head`` kernel, independent of the exported 1x1 convolution.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from typer.testing import CliRunner

import jndtf.cli.bench
import jndtf.cli.export  # noqa: F401  (registers `jndtf export`)
from jndtf.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


# ----------------------------------------------------------------------------- no TensorFlow


def test_is_cam_classifier_by_name_spec_and_run_folder(tmp_path):
    from jndtf.export.cam import is_cam_classifier

    assert is_cam_classifier("resnet") and is_cam_classifier("mobilenet_tiny")
    assert is_cam_classifier(f"vgg:{tmp_path}/any.keras")
    assert not is_cam_classifier("acol") and not is_cam_classifier("dmv")
    bare = tmp_path / "run" / "resnet.keras"
    bare.parent.mkdir()
    bare.write_bytes(b"")  # only its folder is read
    assert not is_cam_classifier(bare)  # a bare .keras: nothing says what it is
    (bare.parent / "classifiers.json").write_text(json.dumps({"family": "classifiers"}))
    assert is_cam_classifier(bare)  # a `jndtf train classifiers` run folder
    assert not is_cam_classifier(tmp_path / "missing.keras")


def test_help_documents_cam_and_bench_dmv():
    r = invoke("export", "--help")
    assert r.exit_code == 0, r.output
    assert "--cam" in r.output and "--no-cam" in r.output
    r = invoke("bench", "dmv", "--help")
    assert r.exit_code == 0, r.output
    for flag in ("--dmv", "--classifiers", "--threads", "--runs", "--csv"):
        assert flag in r.output


def test_bench_dmv_names_a_missing_file(tmp_path):
    r = invoke("bench", "dmv", "--dmv", tmp_path / "nope.tflite")
    assert r.exit_code != 0
    assert "nope.tflite" in r.output and "no such file" in r.output


# ----------------------------------------------------------------------------- TensorFlow


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """An untrained resnet_tiny and dmv_tiny saved as .keras in a classifiers run folder."""
    from jndtf.models.classifiers import build_cam_classifier
    from jndtf.models.dmv.network import build_dmv_net

    folder = tmp_path_factory.mktemp("tiny")
    clf = build_cam_classifier("resnet_tiny")
    clf.save(folder / "resnet_tiny.keras")
    names = [f"c{i}" for i in range(int(clf.output.shape[-1]))]
    (folder / "classifiers.json").write_text(
        json.dumps({"family": "classifiers", "class_names": names})
    )
    build_dmv_net("dmv_tiny").save(folder / "dmv_tiny.keras")
    return folder, clf, names


def _tflite_outputs(path, x):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    (inp,) = it.get_input_details()
    it.set_tensor(inp["index"], x)
    it.invoke()
    return inp["shape"], {
        len(d["shape"]): it.get_tensor(d["index"]) for d in it.get_output_details()
    }


@pytest.mark.tf
def test_export_classifier_writes_the_cam_model_at_32x32(tiny_models, tmp_path):
    import keras

    from jndtf.models.classifiers.network import CAM_FEATURES, HEAD

    folder, clf, names = tiny_models
    out = tmp_path / "out"
    r = invoke("export", folder / "resnet_tiny.keras", "--fp32", "-o", out, "--num-calib", "4")
    assert r.exit_code == 0, r.output
    path = out / "resnet_tiny-cam-tflite-fp32.tflite"  # the name the edge finds `NAME-cam` by
    manifest = json.loads(path.with_suffix(".json").read_text())
    assert manifest["labels"] == names
    assert "CAM parity" in r.output
    x = np.random.default_rng(0).uniform(0, 1, (1, 32, 32, 3)).astype(np.float32)
    shape, outs = _tflite_outputs(path, x)
    assert list(shape) == [1, 32, 32, 3]  # the training size, not the JND models' 176x176
    # CAM_c = sum_k w_kc f_k (Zhou et al. 2016), in numpy from the Keras model's own layers
    features = keras.Model(clf.input, clf.get_layer(CAM_FEATURES).output)(x).numpy()
    kernel = np.asarray(clf.get_layer(HEAD).kernel)
    expected = np.einsum("nhwk,kc->nhwc", features, kernel)
    # float32 export: only the converter's op reordering differs
    np.testing.assert_allclose(outs[4], expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(outs[2], clf(x).numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.tf
def test_export_classifier_no_cam_and_int8_io(tiny_models, tmp_path):
    folder, _, _ = tiny_models
    src = f"resnet_tiny:{folder / 'resnet_tiny.keras'}"
    r = invoke("export", src, "--int8", "--int8-io", "-o", tmp_path)
    assert r.exit_code != 0 and "--no-cam" in r.output  # the CAM export is float I/O
    assert not list(tmp_path.iterdir())  # nothing written
    args = ("--fp32", "--no-cam", "--no-parity", "-o", tmp_path, "--size", "40x36")
    r = invoke("export", src, *args)
    assert r.exit_code == 0, r.output
    shape, outs = _tflite_outputs(
        tmp_path / "resnet_tiny-tflite-fp32.tflite", np.zeros((1, 36, 40, 3), np.float32)
    )
    assert list(shape) == [1, 36, 40, 3] and set(outs) == {2}  # logits only, at --size


@pytest.mark.tf
def test_export_dmv_int8_at_a_frame_size_runs_on_the_edge(tiny_models, tmp_path):
    from jndtf.edge.dmv import DmvJnd

    folder, _, _ = tiny_models
    src = f"dmv_tiny:{folder / 'dmv_tiny.keras'}"
    common = ("-o", tmp_path, "--num-calib", "4", "--num-parity", "1")
    clf_keras = folder / "resnet_tiny.keras"
    r = invoke("export", src, "--int8", "--size", "64x48", "--classifiers", clf_keras, *common)
    assert r.exit_code == 0, r.output
    r = invoke("export", folder / "resnet_tiny.keras", "--int8", *common)
    assert r.exit_code == 0, r.output
    ed = tmp_path / "dmv_tiny-tflite-int8.tflite"
    clf = tmp_path / "resnet_tiny-cam-tflite-int8.tflite"
    frame = np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    with DmvJnd(ed, [clf], num_threads=1) as d:
        result = d.compute(frame)
    assert result.e.shape[:2] == (48, 64) and np.isfinite(result.e).all()


@pytest.mark.tf
def test_bench_dmv_cli_with_given_files(tmp_path):
    from jndtf.bench.dmv import DmvBenchSettings, _classifier_files, _export_fixed_ed

    ed = _export_fixed_ed("dmv_tiny", (32, 32), tmp_path)
    (clf,) = _classifier_files(DmvBenchSettings(classifier_preset="resnet_tiny"), tmp_path)
    out = tmp_path / "dmv.csv"
    r = invoke(
        "bench", "dmv", "--dmv", ed, "--classifiers", clf, "--runs", "1", "--warmup", "1",
        "--threads", "1", "--csv", out,
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    # a 32x32 E-D runs the 32x32 frame and the 640x360 tiles; the 640x360 frame rows are skipped
    assert [(x["layout"], x["size"]) for x in rows] == [("frame", "32x32"), ("tiles", "640x360")]
    assert int(rows[1]["classifier_runs"]) == 20 * 12  # ceil(640/32) * ceil(360/32) tiles
    assert r.output.count("skipped frame 640x360") == 2


@pytest.mark.tf
@pytest.mark.slow
def test_dmv_deploy_script_on_tiny_models(tmp_path):
    """benchmarks/dmv_deploy.py end to end: four CAM classifiers and the E-D exported, the
    sweep's table and the best line printed, the CSV one row per (set, mode, factor)."""
    import subprocess
    import sys
    from pathlib import Path

    import cv2

    from jndtf.models.classifiers import build_cam_classifier
    from jndtf.models.dmv.network import build_dmv_net

    clf = tmp_path / "clf"
    clf.mkdir()
    for arch in ("alexnet", "vgg", "resnet", "densenet"):
        build_cam_classifier(f"{arch}_tiny").save(clf / f"{arch}.keras")
    build_dmv_net("dmv_tiny").save(tmp_path / "dmv.keras")
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (tmp_path / "val" / c).mkdir(parents=True)
        for i in range(6):
            im = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            cv2.imwrite(str(tmp_path / "val" / c / f"{i}.png"), im)
    script = Path(__file__).parents[1] / "benchmarks" / "dmv_deploy.py"
    out = tmp_path / "out"
    args = [sys.executable, str(script), clf, tmp_path / "dmv.keras", tmp_path / "val"]
    args += ["-o", out, "--max", "8", "--num-calib", "4", "--frames", "1", "--threads", "1"]
    args += ["--dmv-spec", "dmv_tiny", "--modes", "eq14,smooth", "--factors", "1,2"]
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "8 measured, 4 for calibration" in r.stdout
    assert "best at RCA >= 99 %" in r.stdout or "keeps RCA >= 99 %" in r.stdout
    with open(out / "dmv_deploy.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * 2 * 2  # (val, frames) x (eq14, smooth) x (1, 2)
    assert {r["images"] for r in rows if r["set"] == "val"} == {"8"}
