"""jndtf.export: TFLite fp32/int8 conversion, manifest, sha256 check, parity, dynamic shape.

Small on purpose (2 shared cores): the tiny ACoL width at 64x64 for the conversions; the shipped
weights are measured by hand at 176x176 (numbers in the export report), not here.
"""

from __future__ import annotations

import json

import numpy as np
import pytest


@pytest.fixture(scope="module")
def tiny_keras(tmp_path_factory):
    from jndtf.models.registry import get_model_spec
    from jndtf.train._common import atomic_save_model

    model = get_model_spec("acol").build(width="tiny")
    path = tmp_path_factory.mktemp("src") / "tiny.keras"
    atomic_save_model(model, path)
    return f"acol:{path}"


@pytest.fixture(scope="module")
def fixed(tiny_keras, tmp_path_factory):
    from jndtf.export import export_model

    out = tmp_path_factory.mktemp("fixed")
    return export_model(
        tiny_keras,
        ["tflite-fp32", "tflite-int8"],
        out_dir=out,
        input_size=(64, 64),
        num_calibration=8,
        num_parity=2,
    )


@pytest.mark.tf
def test_format_table_and_config():
    from jndtf.export import QuantizationConfig, export_formats, get_format

    assert [r["name"] for r in export_formats()] == [
        "tflite-fp32",
        "tflite-fp16",
        "tflite-dynamic",
        "tflite-int8",
        "tflite-int8-qat",
        "onnx",
        "tensorrt",
        "tensorrt-fp16",
        "tensorrt-int8",
    ]
    with pytest.raises(ValueError, match="unknown export format"):
        get_format("tflite-int4")
    with pytest.raises(ValueError, match="representative_data"):
        QuantizationConfig("int8")
    assert QuantizationConfig.for_float16().describe()["mode"] == "float16"


@pytest.mark.tf
def test_fp32_parity_and_int8_size(fixed):
    fp32, int8 = fixed
    # measured 0 here (same float graph); any float32 kernel set (XNNPACK, LiteRT built-in or
    # reference, as other CPUs sum) measured <= 2.1e-6 from float64 on this tiny net's maps
    assert fp32.parity.max_abs_err < 1e-3
    assert fp32.parity.map_psnr_db > 80
    # The tiny net has ~27k weights, so the graph's fixed overhead weighs in: measured 40 %
    # (48.5 kB vs 122 kB). The shipped full-width acol (438k weights) measured far lower.
    assert int8.size_bytes <= 0.45 * fp32.size_bytes
    # Untrained tiny net: its map is small and smooth; PTQ int8 measured ~ 40 dB here. 25 dB
    # is a floor that catches a broken conversion (garbage maps score < 10 dB).
    assert int8.parity.map_psnr_db > 25, int8.parity
    assert int8.manifest["quantization"]["mode"] == "int8"
    assert int8.manifest["quantization"]["io"]["input"]["dtype"] == "float32"


@pytest.mark.tf
def test_manifest_round_trip_and_tamper(fixed):
    from jndtf.export import read_manifest, verify

    fp32 = fixed[0]
    m = verify(fp32.path)
    assert m == read_manifest(fp32.path) == fp32.manifest
    assert m["input_size"] == {"policy": "fixed", "height": 64, "width": 64}
    assert m["inputs"]["priors"] == ["pattern_masking", "contrast_masking", "saliency"]
    assert m["inputs"]["normalization"]["channels"][3]["name"] == "pattern_masking"
    assert m["resize"]["half_pixel_centers"] is True
    assert len(m["source"]["sha256"]) == 64
    data = bytearray(fp32.path.read_bytes())
    data[-1] ^= 0xFF
    fp32.path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="sha256"):
        verify(fp32.path)
    bad = dict(m, file="other.tflite")
    fp32.manifest_path.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="describes"):
        verify(fp32.path)


@pytest.mark.tf
def test_dynamic_shape_runs_at_two_sizes(tiny_keras, tmp_path):
    from jndtf.export import export_model
    from jndtf.export.tflite import TFLiteRunner

    from jndtf.evaluate.learned import load_learned

    (res,) = export_model(
        tiny_keras, "tflite-fp32", out_dir=tmp_path, input_size=None, parity=False
    )
    assert res.manifest["input_size"]["policy"] == "dynamic"
    runner = TFLiteRunner(res.path)
    model = load_learned(tiny_keras).model
    rng = np.random.default_rng(0)
    for h, w in ((40, 52), (64, 96)):
        x = rng.random((1, h, w, 6), np.float32)
        y = runner(x)
        assert y.shape == (1, h, w, 3)
        # float32 summation order only: <= 2.1e-6 between any two kernel sets on this net
        np.testing.assert_allclose(y, np.asarray(model(x)), atol=1e-4)


@pytest.mark.tf
def test_tensorrt_names_what_to_install(tiny_keras, tmp_path):
    from jndtf.export import export_model

    try:
        import tensorrt  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install tensorrt"):
            export_model(tiny_keras, ["tensorrt"], out_dir=tmp_path)


def test_parity_crops_take_priors_of_the_whole_image():
    """The parity input of a crop is the crop of the whole image's input (as calibration and
    training make theirs), not the input computed on the crop."""
    from jndtf.export.parity import parity_images

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)

    def make_input(im):  # channel 3: column index in the image it is given; 4: its mean
        cols = np.broadcast_to(np.arange(im.shape[1], dtype=np.float32), im.shape[:2])
        mean = np.full(im.shape[:2], im.mean(), np.float32)
        return np.dstack([im / 255.0, cols, mean]).astype(np.float32)

    crops, xs = parity_images(make_input, [image], (20, 30), num=3, seed=4)
    for crop, x in zip(crops, xs, strict=True):
        assert x.shape == (1, 20, 30, 5) and crop.shape == (20, 30, 3)
        x0 = int(x[0, 0, 0, 3])  # where the crop sits in the whole image
        y0 = next(y for y in range(31) if np.array_equal(image[y : y + 20, x0 : x0 + 30], crop))
        want = (image[y0 : y0 + 20, x0 : x0 + 30] / 255.0).astype(np.float32)
        np.testing.assert_array_equal(x[0, ..., :3], want)
        np.testing.assert_allclose(x[0, ..., 4], image.mean(), rtol=1e-6)  # whole-image value
    small = parity_images(make_input, [image[:10, :10]], (20, 30), num=1)[1][0]
    assert small.shape == (1, 20, 30, 5)  # upscaled first


def test_held_back_split():
    from jndtf.export.parity import held_back_split

    imgs = [np.full((40, 40, 3), i, np.uint8) for i in range(9)]
    names = [f"{i}.png" for i in range(9)]
    calib, held, held_names = held_back_split(imgs, names)
    assert held_names == ["0.png", "8.png"] and len(calib) == 7
    assert {int(im[0, 0, 0]) for im in calib}.isdisjoint({int(im[0, 0, 0]) for im in held})
    calib, held, held_names = held_back_split(imgs[:2], names[:2])
    assert (len(calib), held_names) == (1, ["1.png"])
    with pytest.raises(ValueError, match="--no-parity"):
        held_back_split(imgs[:1], names[:1])


@pytest.mark.tf
def test_a_recorded_strength_calibration_travels_into_the_export(tiny_keras, tmp_path):
    # `jndtf calibrate MODEL --record` writes strength_calibration into the source manifest; the
    # export carries it so `--strength auto` works on the edge without the .keras file.
    import shutil

    from jndtf.export import export_model

    from jndtf.manifest import CALIBRATION_KEY, read_manifest

    src = tmp_path / "calibrated.keras"
    shutil.copyfile(tiny_keras.split(":", 1)[1], src)
    record = {"proxy": "ssimulacra2", "target": 90.0, "s": 0.25, "per_image": [], "images": []}
    (tmp_path / "calibrated.json").write_text(
        json.dumps({"family": "acol", "preset": "acol", CALIBRATION_KEY: record})
    )
    (res,) = export_model(
        f"acol:{src}", "tflite-fp32", out_dir=tmp_path / "out", input_size=(32, 32), parity=False
    )
    assert read_manifest(res.path)[CALIBRATION_KEY]["s"] == 0.25
    (bare,) = export_model(
        tiny_keras, "tflite-fp32", out_dir=tmp_path / "bare", input_size=(32, 32), parity=False
    )
    assert CALIBRATION_KEY not in read_manifest(bare.path)
