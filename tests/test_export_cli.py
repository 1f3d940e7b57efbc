"""`jndtf export`: flags -> formats, errors (exit 2, nothing half-written), end to end on the tiny
ACoL width (64x64 fixed, 176x176 parity crops when dynamic), dynamic ONNX/TFLite at two sizes
against Keras, the manifest's fields (learned saliency net beside the export), the QAT wiring.

Small on purpose (2 shared cores): the tiny network, one or two parity crops, 4-8 calibration
crops. The real QAT run is tests/test_export_qat.py's; here a stand-in only checks the wiring.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import jndtf.cli.export  # noqa: F401  (registers `jndtf export`)
from jndtf.cli import app
from jndtf.cli.export import parse_size, select_formats

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, ["export", *[str(a) for a in args]])


# ----------------------------------------------------------------------------- no TensorFlow


def test_help_lists_the_flags():
    r = invoke("--help")
    assert r.exit_code == 0, r.output
    for flag in ("--int8", "--fp16", "--qat", "--onnx", "--tensorrt", "--calib-data", "--out"):
        assert flag in r.output


def test_flags_select_formats():
    assert select_formats() == ["tflite-fp32"]
    assert select_formats(int8=True) == ["tflite-int8"]
    assert select_formats(fp16=True, int8=True, onnx=True) == ["tflite-fp16", "tflite-int8", "onnx"]
    assert select_formats(tensorrt=True) == ["tensorrt"]
    assert select_formats(int8=True, fp16=True, tensorrt=True) == [
        "tflite-fp16",
        "tflite-int8",
        "tensorrt-fp16",
        "tensorrt-int8",
    ]
    assert select_formats(qat=True, formats=("onnx", "tflite-int8-qat")) == [
        "tflite-int8-qat",
        "onnx",
    ]


def test_parse_size():
    assert parse_size("640x360") == (640, 360)  # WIDTHxHEIGHT in, (width, height) out
    assert parse_size("96X64") == (96, 64)
    for bad in ("360", "axb", "360x640x3", "16x64"):
        with pytest.raises(ValueError, match="--size"):
            parse_size(bad)


def test_list_formats():
    r = invoke("--list-formats")
    assert r.exit_code == 0, r.output
    for name in ("tflite-fp32", "tflite-int8-qat", "onnx", "tensorrt-int8"):
        assert name in r.output


@pytest.mark.parametrize(
    "args, message",
    [
        ((), "give the MODEL"),
        (("acol", "--size", "big"), "is not WIDTHxHEIGHT"),
        (("acol", "--size", "16x16"), ">= 32 pixels"),
        (("acol", "--size", "64x64", "--dynamic"), "exclude each other"),
        (("acol", "--format", "tflite-int4"), "unknown export format 'tflite-int4'"),
        (("acol", "--calib-data", "/no/such/folder"), "not a folder of images"),
    ],
)
def test_bad_arguments_exit_2(args, message, tmp_path):
    r = invoke(*args, "-o", tmp_path / "out")
    assert r.exit_code == 2, r.output
    assert message in r.output and "Traceback" not in r.output
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- TensorFlow


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny ACoL width, untrained, as SPEC:PATH, and the Keras model."""
    from jndtf.models.registry import get_model_spec
    from jndtf.train._common import atomic_save_model

    model = get_model_spec("acol").build(width="tiny")
    path = tmp_path_factory.mktemp("src") / "tiny.keras"
    atomic_save_model(model, path)
    return f"acol:{path}", model


@pytest.mark.tf
def test_bad_model_exit_2(tmp_path):
    r = invoke("nosuchmodel", "-o", tmp_path)
    assert r.exit_code == 2
    assert "unknown model 'nosuchmodel'" in r.output and "acol" in r.output
    r = invoke(tmp_path / "missing.keras", "-o", tmp_path)
    assert r.exit_code == 2 and "no such model file" in r.output


@pytest.mark.tf
def test_default_format_end_to_end(tiny, tmp_path):
    from jndtf.export import verify

    ref, _ = tiny
    out = tmp_path / "out"
    r = invoke(ref, "--size", "64x64", "--num-parity", "1", "-o", out)
    assert r.exit_code == 0, r.output
    assert "tflite-fp32" in r.output and "PSNR" in r.output and "MS-SSIM" in r.output
    assert sorted(p.name for p in out.iterdir()) == [
        "tiny-tflite-fp32.json",
        "tiny-tflite-fp32.tflite",
    ]
    m = verify(out / "tiny-tflite-fp32.tflite")
    assert m["input_size"] == {"policy": "fixed", "height": 64, "width": 64}
    assert m["parity"]["map_psnr_db"] > 80  # same float graph (measured: inf / ~1e-6 abs)
    assert m["family"] == "acol" and m["jndtf_version"]
    assert m["inputs"]["prior_overrides"] == {}  # classical priors: nothing travels along
    assert set(m["inputs"]["prior_settings"]["priors"]) == set(m["inputs"]["priors"])
    assert m["parity"]["images"].startswith("held-back sample photo motorcycle_left")


def _exportable_presets() -> list[str]:
    """One preset per exportable family of the registry, the cheapest (fewest MAC per pixel):
    a new family is exported here by registering itself."""
    from jndtf.models.registry import available_families, available_models, get_model_spec

    out = []
    for family in available_families():
        specs = [get_model_spec(n) for n in available_models(family)]
        specs = [s for s in specs if s.export.exportable]  # e.g. the unseen MobileNet is not
        if specs:
            out.append(min(specs, key=lambda s: s.macs_per_pixel() or 0.0).name)
    return out


@pytest.mark.tf
@pytest.mark.parametrize("preset", _exportable_presets())
def test_every_registered_family_exports(preset, tmp_path):
    """Every family the registry says is exportable goes through `jndtf export` (fp32 TFLite,
    parity against Keras) with the contract of its spec in the manifest, its input built by the
    family's own builder (jndtf.export.inputs) and its channels named."""
    from jndtf.export import verify
    from jndtf.export.inputs import channel_names

    from jndtf.models.registry import get_model_spec
    from jndtf.train._common import atomic_save_model

    spec = get_model_spec(preset)
    path = tmp_path / "net.keras"
    atomic_save_model(spec.build(), path)
    if "cam" in spec.modalities:  # DMV-JND-NET: the classifiers its manifest names give the CAM
        folder = tmp_path / "classifiers"
        for arch in ("alexnet", "vgg", "resnet", "densenet"):
            atomic_save_model(get_model_spec(f"{arch}_tiny").build(), folder / f"{arch}.keras")
        record = {"family": spec.family, "preset": preset, "classifiers": {"folder": str(folder)}}
        path.with_suffix(".json").write_text(json.dumps(record))
    # a classifier's default is its CAM export (jndtf.export.cam); this is the generic contract
    no_cam = ["--no-cam"] if spec.family == "classifiers" else []
    r = invoke(f"{preset}:{path}", "--size", "64x64", "--num-parity", "1", "-o", tmp_path, *no_cam)
    assert r.exit_code == 0, r.output
    m = verify(tmp_path / "net-tflite-fp32.tflite")
    got = (m["family"], m["inputs"]["channels"], m["outputs"]["channels"])
    assert got == (spec.family, spec.input_channels, spec.output_channels)
    assert m["inputs"]["channel_names"] == channel_names(spec)
    assert len(m["inputs"]["channel_names"]) == spec.input_channels
    assert m["outputs"]["jnd_units"] == spec.jnd_units
    assert m["outputs"]["kind"] == spec.output_kind  # the edge refuses what is not a JND map
    assert m["parity"]["map_psnr_db"] > 80  # same float graph (measured: inf / ~1e-6 abs)


def test_the_registry_names_the_exportable_families():
    """A-IQA's classifier (used only inside a loss) says it is not exported; the map families,
    hmJND-Net, DMV-JND-NET's E-D and the CAM classifiers are (each through its own input
    builder)."""
    from jndtf.models.registry import family_spec

    for family in ("saliency", "acol", "hmjnd", "dmv", "classifiers"):
        assert family_spec(family).export.exportable, family
    assert not family_spec("aiqa").export.exportable
    presets = set(_exportable_presets())
    assert presets >= {"poolnet_tiny", "hmjnd_tiny", "dmv_tiny"}
    assert presets & {"alexnet_tiny", "vgg_tiny", "resnet_tiny", "densenet_tiny"}


@pytest.mark.tf
def test_onnx_dynamic_two_sizes_and_tamper(tiny, tmp_path):
    pytest.importorskip("tf2onnx", reason='needs the [onnx] extra: pip install "jndtf[onnx]"')
    pytest.importorskip("onnxruntime", reason='needs the [onnx] extra: pip install "jndtf[onnx]"')
    from jndtf.export import verify
    from jndtf.export.onnx import OnnxRunner

    ref, model = tiny
    r = invoke(ref, "--onnx", "--dynamic", "--no-parity", "-o", tmp_path)
    assert r.exit_code == 0, r.output
    path = tmp_path / "tiny-onnx.onnx"
    m = verify(path)
    assert m["input_size"]["policy"] == "dynamic" and m["format"] == "onnx"
    assert m["quantization"]["io"]["input"]["shape"][1:3] == [None, None]
    onnx = OnnxRunner(path, num_threads=1)
    rng = np.random.default_rng(0)
    for h, w in ((48, 80), (72, 56)):
        x = rng.random((1, h, w, 6), np.float32)
        y = onnx(x)
        assert y.shape == (1, h, w, 3)
        # onnxruntime vs Keras, both float32: DESIGN.md measured 5e-7 on the probe net
        np.testing.assert_allclose(y, np.asarray(model(x)), atol=1e-4)
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(ValueError, match=r"sha256 .* refusing to load"):
        verify(path)


@pytest.mark.tf
def test_dynamic_tflite_two_real_sizes(tiny, tmp_path):
    """A dynamic TFLite export run at two sizes on real inputs (priors of a photo) vs Keras."""
    import skimage.data
    from jndtf.export.tflite import TFLiteRunner

    from jndtf.models.inputs import ACOL_PRIORS, model_input

    ref, model = tiny
    r = invoke(ref, "--fp32", "--dynamic", "--no-parity", "-o", tmp_path)
    assert r.exit_code == 0, r.output
    lite = TFLiteRunner(tmp_path / "tiny-tflite-fp32.tflite", num_threads=1)
    photo = skimage.data.coffee()
    for h, w in ((64, 96), (96, 48)):
        x = model_input(photo[:h, :w], ACOL_PRIORS)[None]
        # float32 summation order only: <= 2.1e-6 between any two kernel sets on this net
        np.testing.assert_allclose(lite(x), np.asarray(model(x)), atol=1e-4)


@pytest.mark.tf
def test_calib_data_folder_holds_back_parity_images(tiny, tmp_path):
    import skimage.data
    from jndtf.export import verify

    from jndtf.io import save_image

    photos = tmp_path / "photos"
    photos.mkdir()
    save_image(photos / "a_cat.png", skimage.data.chelsea()[:120, :160])
    save_image(photos / "b_cup.png", skimage.data.coffee()[:120, :160])
    save_image(photos / "c_rocket.png", skimage.data.rocket()[:120, :160])
    ref, _ = tiny
    r = invoke(
        ref, "--int8", "--int8-io", "--size", "64x64", "--calib-data", photos, "--num-calib", "4",
        "--num-parity", "1", "-o", tmp_path / "out",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    m = verify(tmp_path / "out" / "tiny-tflite-int8.tflite")
    assert m["calibration"]["images"] == f"{photos} (2 images)"
    assert m["calibration"]["crops"] == 4
    assert m["parity"]["images"].startswith(f"held back from {photos}: c_rocket.png")
    io = m["quantization"]["io"]
    assert io["input"]["dtype"] == "int8" and io["input"]["scale"] > 0  # --int8-io


@pytest.mark.tf
def test_failed_conversion_leaves_nothing_half_written(tiny, tmp_path, monkeypatch):
    import jndtf.export.onnx as onnx_mod
    from jndtf.export import verify

    def broken(saved_model, path):
        path.write_bytes(b"half an onnx file")  # what a crashing converter leaves behind
        raise RuntimeError("tf2onnx failed (1): simulated")

    monkeypatch.setattr(onnx_mod, "export_onnx", broken)
    ref, _ = tiny
    r = invoke(ref, "--fp32", "--onnx", "--size", "64x64", "--no-parity", "-o", tmp_path)
    assert r.exit_code == 1
    assert "tf2onnx failed" in r.output
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["tiny-tflite-fp32.json", "tiny-tflite-fp32.tflite"]  # no .onnx, no .tmp
    verify(tmp_path / "tiny-tflite-fp32.tflite")  # the finished one is whole


@pytest.mark.tf
def test_qat_flag_reaches_convert_qat(tiny, tmp_path, monkeypatch):
    """Wiring only: --qat calls jndtf.export.qat.convert_qat with the calibration inputs and
    the options, and its bytes + description land in the file and manifest."""
    import jndtf.export.qat as qat
    from jndtf.export import verify
    from jndtf.export.quantization import QuantizationConfig
    from jndtf.export.tflite import convert_model

    ref, _ = tiny
    calls = []

    def fake_convert_qat(learned, calib_inputs, *, input_size, io_dtype, steps, seed, family=None):
        calls.append((learned, list(calib_inputs), input_size, io_dtype, steps, seed))
        data = convert_model(learned.model, input_size, 6, QuantizationConfig.none())
        return data, {"mode": "int8-qat", "io_dtype": io_dtype, "steps": steps}

    monkeypatch.setattr(qat, "convert_qat", fake_convert_qat)
    monkeypatch.setattr(qat, "require_qat", lambda: None)
    r = invoke(
        ref, "--qat", "--size", "64x64", "--num-calib", "3", "--qat-steps", "5", "--seed", "7",
        "--num-parity", "1", "-o", tmp_path,
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    (learned, calib, size, io_dtype, steps, seed) = calls[0]
    assert len(calls) == 1 and learned.priors == ("pattern_masking", "contrast_masking", "saliency")
    assert [x.shape for x in calib] == [(1, 64, 64, 6)] * 3
    assert (size, io_dtype, steps, seed) == ((64, 64), "float32", 5, 7)
    m = verify(tmp_path / "tiny-tflite-int8-qat.tflite")
    assert m["quantization"]["mode"] == "int8-qat" and m["quantization"]["steps"] == 5
    assert m["calibration"]["crops"] == 3
    assert m["parity"]["map_psnr_db"] > 80  # the stand-in returned the float model


@pytest.fixture(scope="module")
def tiny_with_saliency_net(tmp_path_factory):
    """The tiny ACoL with a manifest naming a learned f_va (poolnet_tiny), as training writes."""
    import keras

    from jndtf.data.image_folder import file_sha256
    from jndtf.models.registry import get_model_spec
    from jndtf.models.saliency import build_poolnet
    from jndtf.train._common import atomic_save_model

    keras.utils.set_random_seed(3)
    folder = tmp_path_factory.mktemp("with_sal")
    sal = folder / "poolnet_tiny.keras"
    atomic_save_model(build_poolnet("poolnet_tiny"), sal)
    path = folder / "tinysal.keras"
    atomic_save_model(get_model_spec("acol").build(width="tiny"), path)
    manifest = {
        "preset": "acol",
        "inputs": {
            "prior_overrides": {
                "saliency": {"model": str(sal), "model_sha256": file_sha256(sal), "max_side": 64}
            }
        },
    }
    path.with_suffix(".json").write_text(json.dumps(manifest))
    return path


@pytest.mark.tf
@pytest.mark.slow  # ~30 s here: converts and compares the saliency net too
def test_manifest_fields_and_learned_prior_net(tiny_with_saliency_net, tmp_path):
    import skimage.data
    from jndtf.edge.manifest import read_model_spec
    from jndtf.export import verify

    import jndtf
    from jndtf.data.image_folder import file_sha256
    from jndtf.models.saliency_prior import SaliencyPrior

    r = invoke(tiny_with_saliency_net, "--size", "64x64", "--num-parity", "1", "-o", tmp_path)
    assert r.exit_code == 0, r.output
    model = tmp_path / "tinysal-tflite-fp32.tflite"
    m = verify(model, prior_nets=True)
    # what issue #5 lists
    assert m["family"] == "acol" and m["preset"] == "acol"
    assert m["input_size"]["policy"] == "fixed"
    assert m["inputs"]["priors"] == ["pattern_masking", "contrast_masking", "saliency"]
    settings = m["inputs"]["prior_settings"]
    assert settings["priors"]["pattern_masking"]["constants"]["CT_EXPONENT"] == 2.7
    assert settings["priors"]["saliency"]["defaults"]["method"] == "spectral_residual"
    assert "inputs.prior_overrides.saliency" in settings["priors"]["saliency"]["overridden_by"]
    assert len(settings["code_sha256"]) == 64
    assert m["inputs"]["normalization"]["channels"][4]["name"] == "contrast_masking"
    assert m["outputs"]["jnd_units"] == "pixel values 0..255"
    assert m["quantization"]["io"]["input"]["dtype"] == "float32"
    assert m["sha256"] == file_sha256(model)
    assert m["source"]["sha256"] == file_sha256(tiny_with_saliency_net)
    assert m["jndtf_version"] == jndtf.__version__ == m["versions"]["jndtf"]
    assert "whole held-back image" in m["parity"]["inputs"]
    # the learned f_va travels beside the export, as TFLite, sha256-recorded
    rec = m["inputs"]["prior_overrides"]["saliency"]
    net = tmp_path / rec["model"]
    assert rec["model"] == "tinysal-saliency.tflite" and net.is_file()
    assert rec["model_sha256"] == file_sha256(net) and rec["max_side"] == 64
    assert rec["max_abs_err"] < 1e-4  # TFLite vs Keras f_va, float32 both (0..1 map)
    # the edge runtime's reading of the same manifest finds that file
    (override,) = read_model_spec(model).prior_overrides
    assert override.path == net.resolve() and override.sha256 == rec["model_sha256"]
    # and the converted net computes the Keras net's map on a photo
    keras_net = SaliencyPrior(rec["source"]["model"], max_side=64)
    photo = skimage.data.astronaut()[::4, ::4]
    # 0..1 map, float32 summation order only (measured <= 2.5e-6, tests/test_saliency_net.py)
    np.testing.assert_allclose(SaliencyPrior(net, max_side=64)(photo), keras_net(photo), atol=1e-4)
    net.write_bytes(net.read_bytes() + b"\0")
    with pytest.raises(ValueError, match=r"tinysal-saliency\.tflite: sha256 .* refusing to load"):
        verify(model, prior_nets=True)
    net.unlink()
    with pytest.raises(FileNotFoundError, match=r"tinysal-saliency\.tflite beside it"):
        verify(model, prior_nets=True)


def test_classifiers_flag_reaches_export_model(tmp_path, monkeypatch):
    """Wiring only: --classifiers (DMV-JND-NET's CAM source) is passed to export_model."""
    import jndtf.export as export_pkg

    seen = {}

    def fake(source, formats, **kw):
        seen.update(kw, source=source, formats=formats)
        return []

    monkeypatch.setattr(export_pkg, "export_model", fake)
    clf = tmp_path / "clf"
    clf.mkdir()
    r = invoke("dmv_tiny", "--fp32", "--classifiers", clf, "-o", tmp_path / "out")
    assert r.exit_code == 0, r.output
    assert seen["classifiers"] == clf and seen["source"] == "dmv_tiny"
