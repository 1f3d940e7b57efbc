"""int8 TFLite export with the output head and threshold inputs in float (issue #5).

Fast tests use the tiny ACoL width at 64x64 (2 shared cores); the slow test exports the shipped
``acol`` at 176x176 and measures it against Keras on held-back photos, computing the PSNR here
with the LiteRT interpreter directly (not the export module's runner or parity code).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

#: Issue #5: int8 JND map >= 35 dB from Keras fp32 on real photos, file <= 30 % of fp32.
TARGET_PSNR_DB = 35.0
MAX_SIZE_RATIO = 0.30

#: The head and threshold ops of ACoL-JND (Fig. 1: CNN4's last conv -> Up2 -> output step;
#: §3.4: i4 = Up1(branch A) compared with its mean). Read from the network, not from the code.
ACOL_HEAD_LAYERS = ("cnn4_conv3", "cnn4_lrelu3", "up2", "jnd")
ACOL_THRESHOLD_LAYERS = ("branch_a_conv6", "branch_a_lrelu6", "up1", "threshold")


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def _run_litert(model: bytes | str, x: np.ndarray) -> np.ndarray:
    """Independent of jndtf.export.tflite: plain LiteRT, (de)quantizing by hand."""
    from ai_edge_litert.interpreter import Interpreter

    kw = {"model_content": model} if isinstance(model, bytes) else {"model_path": str(model)}
    it = Interpreter(**kw, num_threads=2)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    if inp["dtype"] != np.float32:
        s, z = inp["quantization"]
        x = np.clip(np.round(x / s + z), -128, 127).astype(inp["dtype"])
    it.set_tensor(inp["index"], x)
    it.invoke()
    y = it.get_tensor(out["index"])
    if out["dtype"] != np.float32:
        s, z = out["quantization"]
        y = (y.astype(np.float32) - z) * s
    return y


def _tensor_dtypes(model: bytes) -> dict[str, str]:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=model)
    return {t["name"]: np.dtype(t["dtype"]).name for t in it.get_tensor_details()}


# ------------------------------------------------------------------ config (no TensorFlow)


def test_for_int8_defaults_to_selective_and_stays_call_compatible():
    from jndtf.export.quantization import (
        FLOAT_HEAD_RULE,
        FLOAT_THRESHOLD_RULE,
        QuantizationConfig,
    )

    data = [np.zeros((1, 8, 8, 6), np.float32)]
    q = QuantizationConfig.for_int8(data, io_dtype="int8", num_samples=1)  # export_model's call
    assert q.selective and q.float_head and q.float_thresholds
    d = q.describe()
    assert d["float_head"] == FLOAT_HEAD_RULE and d["float_thresholds"] == FLOAT_THRESHOLD_RULE
    assert d["kept_float"] == [] and d["io_dtype"] == "int8"  # filled by the conversion
    plain = QuantizationConfig.for_int8(data, float_head=False, float_thresholds=False)
    assert not plain.selective
    assert plain.describe()["method"] == "post-training full-integer (TFLITE_BUILTINS_INT8)"
    assert "kept_float" not in plain.describe()


def test_float_selection_is_validated():
    from jndtf.export.quantization import QuantizationConfig

    data = [np.zeros((1, 8, 8, 6), np.float32)]
    with pytest.raises(ValueError, match="capitals"):
        QuantizationConfig.for_int8(data, float_ops=("abs",))
    with pytest.raises(ValueError, match="tuple of names"):
        QuantizationConfig.for_int8(data, float_layers="jnd")
    with pytest.raises(ValueError, match="need mode='int8'"):
        QuantizationConfig("float16", float_head=True)


def test_layer_of_tensor_reads_keras_name_scopes():
    from jndtf.export.tflite import layer_of_tensor

    fused = "acol_1/cnn4_conv3_1/BiasAdd;acol_1/cnn4_conv3_1/convolution;acol_1/cnn4_conv3_1/Sq"
    assert layer_of_tensor(fused, ("cnn4_conv3",)) == "cnn4_conv3"
    assert layer_of_tensor("acol_1/up2_1/resize/ResizeBilinear", ("up1", "up2")) == "up2"
    # a prefix is not a scope: cnn4_conv3 is not cnn4_conv (nor conv3_1 a layer "conv3")
    assert layer_of_tensor(fused, ("cnn4_conv", "conv3")) is None
    assert layer_of_tensor("StatefulPartitionedCall_1:0", ("jnd",)) is None


# ------------------------------------------------------------------ tiny ACoL, 64x64


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny ACoL, its fp32 TFLite bytes and four real-photo calibration inputs."""
    import keras
    from jndtf.export.quantization import QuantizationConfig, load_images, representative_inputs
    from jndtf.export.tflite import convert_saved_model, export_saved_model

    from jndtf.models.inputs import model_input
    from jndtf.models.registry import get_model_spec

    keras.utils.set_random_seed(0)
    spec = get_model_spec("acol")
    model = spec.build(width="tiny")
    sm = export_saved_model(model, tmp_path_factory.mktemp("tiny") / "sm", (64, 64), 6)
    images = load_images(None, ("coffee", "rocket"))

    def make(im):
        return model_input(im, spec.priors, normalization="unit")

    calib = representative_inputs(make, images, (64, 64), num=4, seed=0)
    fp32 = convert_saved_model(sm, QuantizationConfig.none())
    return {"model": model, "sm": sm, "calib": calib, "fp32": fp32}


@pytest.mark.tf
def test_float_nodes_finds_head_and_threshold_inputs(tiny):
    from jndtf.export.tflite import float_nodes, layer_of_tensor

    kept = float_nodes(tiny["fp32"])
    layers = ACOL_HEAD_LAYERS + ACOL_THRESHOLD_LAYERS
    by_layer = {}
    for k in kept:
        layer = layer_of_tensor(k["tensor"], layers) or ("jnd" if k["op"] == "MINIMUM" else None)
        assert layer is not None, f"{k} is neither head nor threshold input"
        by_layer.setdefault(layer, set()).add(k["op"])
    assert set(by_layer) == set(layers)
    assert by_layer["cnn4_conv3"] == {"CONV_2D"} and by_layer["branch_a_conv6"] == {"CONV_2D"}
    assert {"ABS", "MUL", "MINIMUM"} <= by_layer["jnd"]
    assert {"MEAN", "GREATER"} <= by_layer["threshold"]
    assert {k["why"] for k in kept} == {"head", "threshold"}
    # nothing before the last weighted layer of each walk
    assert not any(layer_of_tensor(k["tensor"], ("cnn4_conv2", "branch_a_conv5")) for k in kept)
    assert float_nodes(tiny["fp32"], head=False, thresholds=False) == []
    extra = float_nodes(tiny["fp32"], head=False, thresholds=False, layers=("cnn1_conv1",))
    assert [(k["op"], k["why"]) for k in extra] == [("CONV_2D", "layer cnn1_conv1")]
    with pytest.raises(ValueError, match=r"match no op.*CONV_2D"):
        float_nodes(tiny["fp32"], layers=("cnn1_conv9",))
    with pytest.raises(ValueError, match="match no op"):
        float_nodes(tiny["fp32"], op_types=("SOFTMAX",))


@pytest.mark.tf
@pytest.mark.parametrize("io_dtype", ["float32", "int8"])
def test_selective_int8_keeps_exactly_those_ops_float(tiny, io_dtype):
    from jndtf.export.quantization import QuantizationConfig
    from jndtf.export.tflite import convert_saved_model, float_nodes

    q = QuantizationConfig.for_int8(tiny["calib"], io_dtype=io_dtype, num_samples=4)
    model = convert_saved_model(tiny["sm"], q)
    kept = q.describe()["kept_float"]
    assert kept == float_nodes(tiny["fp32"])  # the same ops, named alike before and after
    dtypes = _tensor_dtypes(model)
    for k in kept:
        if k["op"] != "MINIMUM" or io_dtype == "float32":  # int8 I/O renames the output
            assert dtypes[k["tensor"]] in ("float32", "bool"), k
    convs = [n for n, d in dtypes.items() if "convolution" in n and d == "int8"]
    assert len(convs) >= 10, "the body's convolutions must stay int8"
    x = tiny["calib"][0]
    keras_map = np.asarray(tiny["model"](x))
    assert _psnr(_run_litert(model, x), keras_map) > 35.0  # calibration input, untrained net


@pytest.mark.tf
def test_selective_int8_with_dynamic_height_and_width(tiny, tmp_path):
    """A ``[1, -1, -1, C]`` export: the head walk skips the int32 shape ops of the resizes."""
    from jndtf.export.quantization import QuantizationConfig
    from jndtf.export.tflite import TFLiteRunner, convert_saved_model, export_saved_model

    from jndtf.models.inputs import model_input
    from jndtf.models.registry import get_model_spec
    from jndtf.samples import sample_image

    sm = export_saved_model(tiny["model"], tmp_path / "sm", None, 6)
    q = QuantizationConfig.for_int8(tiny["calib"], num_samples=4)
    path = tmp_path / "dyn.tflite"
    path.write_bytes(convert_saved_model(sm, q))
    assert {k["op"] for k in q.kept_float} >= {"CONV_2D", "ABS", "GREATER", "RESIZE_BILINEAR"}
    runner = TFLiteRunner(path)
    assert runner.dynamic
    image = sample_image("motorcycle_left")[100:148, 200:280]
    x = model_input(image, get_model_spec("acol").priors, normalization="unit")[None]
    assert _psnr(runner(x), np.asarray(tiny["model"](x))) > 35.0


@pytest.mark.tf
def test_layerwise_gives_finite_numbers_for_every_layer(tiny):
    import keras
    from jndtf.export.layerwise import compare_layers, format_table
    from jndtf.export.quantization import QuantizationConfig
    from jndtf.export.tflite import convert_saved_model

    q = QuantizationConfig.for_int8(tiny["calib"], num_samples=4)
    model = convert_saved_model(tiny["sm"], q)
    rows = compare_layers(model, tiny["model"], tiny["calib"][:2])
    names = [r.layer for r in rows]
    layers = tiny["model"].layers
    want = [lay.name for lay in layers if not isinstance(lay, keras.layers.InputLayer)]
    assert names == want, set(want) - set(names)
    for r in rows:
        assert all(math.isfinite(v) for v in (r.rmse, r.max_abs_err, r.range, r.psnr_db)), r
        assert (r.steps is None) == (r.dtype != "int8") and (r.scale is None) == (r.steps is None)
    dtype = {r.layer: r.dtype for r in rows}
    assert dtype["cnn1_conv1"] == "int8" and dtype["cnn4_conv3"] == "float32"
    # the last row is the model output: its rmse is the map's, computed here independently
    x = tiny["calib"][:2]
    d = [_run_litert(model, xi) - np.asarray(tiny["model"](xi)) for xi in x]
    assert rows[-1].rmse == pytest.approx(float(np.sqrt(np.mean(np.square(d)))), rel=0.05)
    assert format_table(rows).count("\n") == len(rows) + 1
    fp32_rows = compare_layers(tiny["fp32"], tiny["model"], x[:1])
    assert min(r.psnr_db for r in fp32_rows) > 80  # the float export: every layer equal


# ------------------------------------------------------------------ the shipped ACoL-JND


@pytest.mark.tf
@pytest.mark.slow
def test_shipped_acol_int8_reaches_35_db_on_held_back_photos(tmp_path):
    """Issue #5 on the shipped weights at 176x176: calibrated on four sample photos, measured
    on the held-back motorcycle_left and on scikit-image's immunohistochemistry photo (ihc),
    which neither training nor calibration saw. Measured: ~49 dB (plain full-integer int8:
    ~29 dB), 27-29 % of the fp32 file."""
    import skimage.data
    from jndtf.export import export_model
    from jndtf.export.layerwise import compare_export, compare_layers
    from jndtf.export.parity import parity_images
    from jndtf.export.quantization import (
        CALIBRATION_IMAGES,
        QuantizationConfig,
        load_images,
        representative_inputs,
    )
    from jndtf.export.tflite import convert_model

    from jndtf.evaluate.learned import load_learned
    from jndtf.models.inputs import model_input
    from jndtf.samples import sample_image

    fp32, int8 = export_model(
        "acol",
        ["tflite-fp32", "tflite-int8"],
        out_dir=tmp_path,
        input_size=(176, 176),
        num_calibration=32,
        parity=False,
    )
    assert int8.size_bytes <= MAX_SIZE_RATIO * fp32.size_bytes, (int8.size_bytes, fp32.size_bytes)
    kept = int8.manifest["quantization"]["kept_float"]
    assert {k["op"] for k in kept} >= {"CONV_2D", "ABS", "MUL", "MINIMUM", "GREATER"}

    learned = load_learned("acol")

    def make(im):
        return model_input(im, learned.priors, normalization=learned.normalization)

    held = [sample_image("motorcycle_left"), skimage.data.immunohistochemistry()]
    _, xs = parity_images(make, held, (176, 176), num=4, seed=1)
    psnrs = [_psnr(_run_litert(str(int8.path), x), learned.model(x)) for x in xs]
    assert min(psnrs) >= TARGET_PSNR_DB, psnrs

    calib = representative_inputs(
        make, load_images(None, CALIBRATION_IMAGES), (176, 176), num=32, seed=0
    )
    plain = convert_model(
        learned.model,
        (176, 176),
        6,
        QuantizationConfig.for_int8(
            calib, num_samples=32, float_head=False, float_thresholds=False
        ),
    )
    plain_psnr = [_psnr(_run_litert(plain, x), learned.model(x)) for x in xs]
    assert np.mean(psnrs) > np.mean(plain_psnr) + 3, (psnrs, plain_psnr)

    # the per-layer tool names the two culprits of plain int8: the output step (the map
    # collapses) and the §3.4 threshold (mask pixels flip)
    rows = sorted(compare_layers(plain, learned.model, xs[:1]), key=lambda r: -r.lost_db)
    assert {r.layer for r in rows[:2]} == {"jnd", "threshold"}, [
        (r.layer, round(r.lost_db, 1)) for r in rows
    ]
    # ... and on the default file (crops of the export's held-back photo), the mask flips less
    # and the map's layers run in float
    after = {r.layer: r for r in compare_export("acol", int8.path)}
    before = {r.layer: r for r in rows}
    assert after["jnd"].dtype == "float32" and before["jnd"].dtype == "float32"  # dequantized
    assert after["cnn4_conv3"].dtype == "float32" and before["cnn4_conv3"].dtype == "int8"
    assert after["threshold"].psnr_db > before["threshold"].psnr_db + 6
    assert after["jnd"].psnr_db > before["jnd"].psnr_db + 10
