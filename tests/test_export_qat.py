"""jndtf.export.qat: QAT int8 export of ACoL-JND in a worker process (tfmot + tf_keras).

References nobody in the QAT code wrote: the Keras 3 model itself (the rebuild must reproduce its
map; the int8 model must stay close to it) and the preset table (the architecture read off a
model must be the preset's). Small inputs (64x64) on purpose: 2 shared cores; the 176x176
measurement against PTQ is ``python -m jndtf.export.qat.compare`` (numbers in the QAT report).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

HAS_QAT = all(importlib.util.find_spec(m) for m in ("tensorflow_model_optimization", "tf_keras"))
needs_qat = pytest.mark.skipif(
    not HAS_QAT, reason='needs the [qat] extra: pip install "jndtf[qat]"'
)

#: Tolerances, each with its reason.
#: rebuild vs Keras 3 (pixel values): the same TF kernels in the same order measured 0.0; 1e-3 is
#: 4e-6 of the 0..255 range (the worker's own REBUILD_TOLERANCE).
REBUILD_TOL = 1e-3
#: int8 QAT map vs the Keras 3 map at 64x64 after a few steps: measured 44-46 dB at 176x176 on
#: held-back crops; 35 dB (RMS error 4.5 grey levels) catches a collapsed map (PTQ's broken
#: head gave 28 dB, an all-zero map of the shipped model ~28 dB).
INT8_PSNR_MIN_DB = 35.0
QAT_MODULES = ("tensorflow_model_optimization", "tf_keras")


def _psnr(a, b) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def _loaded_qat_modules() -> list[str]:
    return [m for m in sys.modules if m.split(".")[0] in QAT_MODULES]


# ------------------------------------------------------------------ no TensorFlow needed


def test_importing_the_package_loads_neither_tfmot_nor_tf_keras():
    code = (
        "import sys, jndtf.export.qat; "
        "print([m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow_model_optimization', 'tf_keras', 'tensorflow', 'keras')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_missing_extra_names_the_pip_command(monkeypatch):
    from jndtf.export.qat import convert_qat

    monkeypatch.setitem(sys.modules, "tensorflow_model_optimization", None)
    with pytest.raises(ImportError, match=r'pip install "jndtf\[qat\]"'):
        convert_qat(object(), [np.zeros((1, 8, 8, 6), np.float32)], input_size=None)


# ------------------------------------------------------------------ Keras 3 side (main process)


@pytest.fixture(scope="module")
def shipped():
    from jndtf.evaluate.learned import load_learned

    return load_learned("acol")


@pytest.fixture(scope="module")
def inputs64(shipped):
    from jndtf.export.quantization import CALIBRATION_IMAGES, load_images, representative_inputs

    from jndtf.models.inputs import model_input

    def make(im):
        return model_input(im, shipped.priors, normalization=shipped.normalization)

    return representative_inputs(make, load_images(None, CALIBRATION_IMAGES), (64, 64), num=8)


@pytest.mark.tf
@pytest.mark.parametrize("preset", ["acol", "bl", "bl_acol", "bl_pmcm"])
def test_architecture_is_the_presets(preset):
    from jndtf.export.qat.architecture import describe_acol

    from jndtf.models.acol import build_acol
    from jndtf.models.acol.presets import get_preset, scaled

    cfg = get_preset(preset)
    arch = describe_acol(build_acol(preset, width="tiny"))
    assert arch["cnn1"] == [[scaled(f, "tiny"), 1] for f in cfg["cnn1_filters"]]
    pairs = zip(cfg["branch_filters"], cfg["branch_strides"], strict=True)
    assert arch["branch"] == [[scaled(f, "tiny"), s] for f, s in pairs]
    assert arch["cnn4"] == [[scaled(f, "tiny"), 1] for f in cfg["cnn4_filters"]] + [[3, 1]]
    assert arch["complementary"] is cfg["complementary"]
    assert arch["channels"] == 3 + len(cfg["priors"])
    assert arch["negative_slope"] == cfg["negative_slope"]
    assert arch["jnd"] == {"activation": "abs", "scale": 255.0, "max_value": 255.0}


@pytest.mark.tf
def test_a_model_that_is_not_acol_is_refused():
    import keras
    from jndtf.export.qat.architecture import NotAnAcolNetwork, describe_acol

    x = keras.Input((None, None, 6), name="inputs")
    model = keras.Model(x, keras.layers.Conv2D(3, 3, padding="same", name="head")(x))
    with pytest.raises(NotAnAcolNetwork, match=r"head.*PTQ"):
        describe_acol(model)


@pytest.mark.tf
@needs_qat
def test_bad_inputs_are_refused_before_any_worker(shipped, inputs64):
    from jndtf.export.qat import convert_qat

    with pytest.raises(ValueError, match="share one shape"):
        convert_qat(shipped, [inputs64[0], inputs64[1][:, :32]], input_size=None)
    with pytest.raises(ValueError, match="input_size is"):
        convert_qat(shipped, inputs64, input_size=(128, 128))
    with pytest.raises(ValueError, match=r"\(1, H, W, 6\)"):
        convert_qat(shipped, [inputs64[0][..., :3]], input_size=None)
    with pytest.raises(ValueError, match="io_dtype"):
        convert_qat(shipped, inputs64, input_size=(64, 64), io_dtype="int4")
    with pytest.raises(ValueError, match="steps"):
        convert_qat(shipped, inputs64, input_size=(64, 64), steps=-1)


# ------------------------------------------------------------------ the worker process


def _job(model, inputs, tmp_path, **settings):
    from jndtf.export.qat import _job as write_job
    from jndtf.export.qat.architecture import describe_acol

    class Learned:
        pass

    learned = Learned()
    learned.model = model
    job = {
        "mode": "rebuild",
        "arch": describe_acol(model),
        "input_size": None,
        "io_dtype": "float32",
        "steps": 0,
        "seed": 0,
        "loss": "distill",
        "learning_rate": 1e-5,
        "batch_size": 2,
        **settings,
    }
    write_job(learned, np.concatenate(inputs), job, tmp_path)
    return tmp_path


def _rebuild_check(model, inputs, tmp_path):
    from jndtf.export.qat import run_worker

    folder = _job(model, inputs, tmp_path)
    result = run_worker(folder)
    rebuilt = np.load(folder / "rebuild.npy")
    keras3 = np.concatenate([np.asarray(model(x, training=False)) for x in inputs[:2]])
    return result, float(np.max(np.abs(rebuilt - keras3)))


@pytest.mark.tf
@needs_qat
def test_rebuild_reproduces_the_shipped_keras3_model(shipped, inputs64, tmp_path):
    result, err = _rebuild_check(shipped.model, inputs64, tmp_path)
    assert err <= REBUILD_TOL
    assert result["rebuild_max_abs_err"] == pytest.approx(err, abs=1e-6)
    assert _loaded_qat_modules() == []


@pytest.mark.tf
@pytest.mark.slow
@needs_qat
@pytest.mark.parametrize(
    "preset, kwargs",
    [("bl", {}), ("acol", {"share_branches": True, "negative_slope": 0.2, "max_jnd": None})],
)
def test_rebuild_reproduces_other_acol_networks(preset, kwargs, inputs64, tmp_path):
    import keras

    from jndtf.models.acol import build_acol

    keras.utils.set_random_seed(3)
    model = build_acol(preset, width="tiny", **kwargs)
    channels = model.inputs[0].shape[-1]
    rng = np.random.default_rng(0)
    inputs = [rng.random((1, 40, 52, channels), dtype=np.float32) for _ in range(2)]
    _, err = _rebuild_check(model, inputs, tmp_path)
    assert err <= REBUILD_TOL


@pytest.mark.tf
@pytest.mark.slow
@needs_qat
def test_worker_refuses_a_rebuild_that_differs(shipped, inputs64, tmp_path, caplog):
    from jndtf.export.qat import QatError, run_worker

    caplog.set_level("INFO", logger="jndtf.export.qat")

    folder = _job(shipped.model, inputs64, tmp_path, mode="qat")
    with np.load(folder / "arrays.npz") as f:
        arrays = dict(f)
    arrays["ref_outputs"] = arrays["ref_outputs"] + 1.0  # as if another network's map
    np.savez(folder / "arrays.npz", **arrays)
    with pytest.raises(QatError, match="differs from the Keras 3 model by 1"):
        run_worker(folder)
    assert not (folder / "model.tflite").exists()
    assert json.loads((folder / "error.json").read_text())["type"] == "QatJobError"
    # the worker's progress reaches the caller's logger as it runs
    assert any("rebuild max |diff| vs Keras 3: 1" in r.getMessage() for r in caplog.records)


@pytest.mark.tf
@pytest.mark.slow
@needs_qat
@pytest.mark.parametrize(
    "io_dtype, size", [("float32", (64, 64)), ("int8", (64, 64)), ("float32", None)]
)
def test_qat_int8_model_is_loadable_finite_and_close_to_keras(shipped, inputs64, io_dtype, size):
    from jndtf.export.parity import parity_images
    from jndtf.export.qat import convert_qat
    from jndtf.export.quantization import PARITY_IMAGES, load_images
    from jndtf.export.tflite import TFLiteRunner

    from jndtf.models.inputs import model_input

    data, quant = convert_qat(shipped, inputs64, input_size=size, io_dtype=io_dtype, steps=3)
    assert _loaded_qat_modules() == []  # tfmot and tf_keras stayed in the worker
    assert quant["mode"] == "int8-qat" and quant["steps"] == 3 and quant["io_dtype"] == io_dtype
    assert quant["rebuild_max_abs_err"] <= REBUILD_TOL
    assert quant["loss"].startswith("distillation")

    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "qat.tflite"
        path.write_bytes(data)
        runner = TFLiteRunner(path)
        interp = runner.interpreter
        dtypes = {t["index"]: np.dtype(t["dtype"]) for t in interp.get_tensor_details()}
        ops = interp._get_ops_details()
        convs = [op for op in ops if op["op_name"] == "CONV_2D"]
        # full-integer: every conv takes int8 activations and int8 weights
        assert convs and all(dtypes[i] == np.int8 for op in convs for i in op["inputs"][:2])
        assert {op["op_name"] for op in ops} >= {"ABS", "GREATER", "RESIZE_BILINEAR"}
        expected = np.int8 if io_dtype == "int8" else np.float32
        assert np.dtype(runner.input["dtype"]) == expected
        assert runner.dynamic is (size is None)
        _, held = parity_images(
            lambda im: model_input(im, shipped.priors, normalization=shipped.normalization),
            load_images(None, PARITY_IMAGES),
            (64, 64) if size else (48, 80),  # a dynamic model runs other sizes too
            num=2,
        )
        for x in held:
            got = runner(x)
            want = np.asarray(shipped.model(x, training=False))
            assert got.shape == want.shape and np.all(np.isfinite(got))
            assert _psnr(got, want) >= INT8_PSNR_MIN_DB
