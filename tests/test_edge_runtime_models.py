"""jndtf.edge.JndMapper on the less common exports: int8 input/output tensors, and a learned
saliency net named by the manifest (``inputs.prior_overrides``) in place of the classical f_va.

Tolerances (why each is what it is):

- int8 I/O vs float I/O of the same int8 model (same calibration crops, same seed, so the same
  scales): the runtime quantizes the input and dequantizes the output with the interpreter's
  scale and zero point, where the float-I/O model has LiteRT's own QUANTIZE/DEQUANTIZE ops, so
  the maps agree to one output step ``scale`` (rounding ties may fall the other way) plus
  float32 round-off, except where the int8 output saturates at ``(127 - zero_point) * scale``
  (the float-I/O model dequantizes an earlier tensor with a wider range): those pixels are left
  out (0.1-0.7 % of the pixels of these frames with the seeded untrained net; elsewhere the
  max difference measured half a step). The int8-I/O map
  also equals, bit for bit, the same file run by :class:`jndtf.export.tflite.TFLiteRunner`
  (the export side's own quantize/dequantize code).
- learned f_va: the input's f_va channel against the Keras saliency net, ``ATOL_SALIENCY =
  1e-5`` (probability units; measured 1.2e-7 here, the converter's float32 reordering, and
  2.5e-6 for a trained poolnet_small in tests/test_saliency_net.py; on the tiny ACoL net, 0..0.8
  outputs, Keras, XNNPACK, LiteRT's built-in and its reference kernels - the summation orders
  other CPUs give - were up to 2.1e-6 apart, so 1e-6 could fail on another ISA); the map
  against the same ``.tflite`` run by hand on that input: exact. Not against the Keras ACoL-JND
  map: ACoL's thresholding ``i5 = [i4 > mean(i4)]`` (§3.4) is a step, so where the untrained
  net's nearly constant f_va (0.496..0.509) puts many i4 values next to their mean, 1e-7 float
  differences flip mask bits, and LiteRT vs Keras measured a max abs diff of 0.068 on 9 % of the
  pixels (1.4e-4 with the classical f_va on the same frame): a property of the network, seen by
  any runtime.

Small on purpose (2 shared cores): the tiny untrained ACoL width at 64x64 for int8, the
session's 96x160 acol export for the saliency override.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from jndtf.edge import JndMapper, JndMapperOptions, RunningMode

from jndtf.samples import clip_frames

pytest_plugins = ("edge_fixtures",)
pytestmark = pytest.mark.tf

ATOL_SALIENCY = 1e-5


@pytest.fixture(scope="module")
def int8_pair(tmp_path_factory):
    pytest.importorskip("keras", reason='needs the [train] extra: pip install "jndtf[train]"')
    from jndtf.export import export_model

    from jndtf.models.registry import get_model_spec
    from jndtf.train._common import atomic_save_model

    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    src = tmp_path_factory.mktemp("int8-src") / "tiny.keras"
    atomic_save_model(get_model_spec("acol").build(width="tiny"), src)
    out = {}
    for int8_io in (True, False):
        (res,) = export_model(
            f"acol:{src}",
            ["tflite-int8"],
            out_dir=tmp_path_factory.mktemp(f"int8-io-{int8_io}"),
            input_size=(64, 64),
            num_calibration=4,
            int8_io=int8_io,
            parity=False,
            seed=0,
        )
        out[int8_io] = res
    return out


@pytest.mark.slow  # two int8 conversions with calibration: ~25 s on the 2 shared cores
def test_int8_io_is_quantized_with_the_manifest_scales(int8_pair, tmp_path):
    from jndtf.export.tflite import TFLiteRunner

    q, f = int8_pair[True], int8_pair[False]
    priors = tuple(q.manifest["inputs"]["priors"])

    def model_input(x):
        from jndtf.models.inputs import model_input as build

        return build(x, priors)[None]

    io = q.manifest["quantization"]["io"]
    assert io["input"]["dtype"] == "int8" and io["output"]["dtype"] == "int8"
    frames = list(clip_frames(seconds=0.3, fps=10, size=(64, 64)))
    with (
        JndMapper.create_from_model_path(q.path) as mq,
        JndMapper.create_from_model_path(f.path) as mf,
    ):
        pairs = [(mq.process(x).jnd, mf.process(x).jnd) for x in frames]
    step, zero = float(io["output"]["scale"]), int(io["output"]["zero_point"])
    top = (127 - zero) * step  # the largest value int8 output can carry
    for (got, want), x in zip(pairs, frames, strict=True):
        assert got.shape == want.shape == (64, 64, 3)
        # the same interpreter run by the export side's runner (its own (de)quantization)
        np.testing.assert_array_equal(got, TFLiteRunner(q.path)(model_input(x))[0])
        inside = got < top - step / 2  # int8 output saturates where float output need not
        assert inside.mean() > 0.9
        np.testing.assert_allclose(got[inside], want[inside], atol=step * 1.001 + 1e-5, rtol=0)
    # a manifest whose scale disagrees with the interpreter is refused
    model = tmp_path / q.path.name
    shutil.copy(q.path, model)
    data = dict(q.manifest)
    data["quantization"] = json.loads(json.dumps(q.manifest["quantization"]))
    data["quantization"]["io"]["output"]["scale"] = step * 2
    (tmp_path / q.manifest_path.name).write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"output quantization .* differs from the manifest"):
        JndMapper.create_from_model_path(model)


@pytest.fixture(scope="module")
def saliency_tflite(tmp_path_factory):
    keras = pytest.importorskip("keras")
    from jndtf.export.quantization import QuantizationConfig
    from jndtf.export.tflite import convert_model

    from jndtf.models.saliency.network import build_poolnet

    keras.utils.set_random_seed(3)
    path = tmp_path_factory.mktemp("saliency") / "poolnet_tiny.tflite"
    net = build_poolnet("poolnet_tiny")
    path.write_bytes(convert_model(net, None, 3, QuantizationConfig.none()))
    return path, net


def test_learned_saliency_override_from_the_manifest(
    exported_acol_fixed, saliency_tflite, tmp_path
):
    from jndtf.edge.backends import TFLiteJnd
    from jndtf.edge.interpreter import LiteRTModel

    from jndtf.data.image_folder import file_sha256
    from jndtf.models.inputs import model_input
    from jndtf.models.saliency_prior import SaliencyPrior

    net_path, net = saliency_tflite
    model = tmp_path / exported_acol_fixed.path.name
    shutil.copy(exported_acol_fixed.path, model)
    sal = tmp_path / "f_va.tflite"
    shutil.copy(net_path, sal)
    data = json.loads(exported_acol_fixed.manifest_path.read_text())
    data["inputs"]["prior_overrides"] = {
        "saliency": {"model": sal.name, "model_sha256": file_sha256(sal), "max_side": None}
    }
    mpath = tmp_path / exported_acol_fixed.manifest_path.name
    mpath.write_text(json.dumps(data))

    frame = next(iter(clip_frames(seconds=0.2, fps=10, size=(160, 96))))
    priors = tuple(data["inputs"]["priors"])
    backend = TFLiteJnd(model, num_threads=1)
    x = backend.prepare(frame)
    backend.close()
    classical = model_input(frame, priors)
    va = 3 + priors.index("saliency")
    np.testing.assert_array_equal(np.delete(x[0], va, axis=-1), np.delete(classical, va, axis=-1))
    keras_va = SaliencyPrior(net, max_side=None)(frame)
    np.testing.assert_allclose(x[0, ..., va], keras_va, atol=ATOL_SALIENCY, rtol=0)
    opts = JndMapperOptions(model=model, running_mode=RunningMode.VIDEO, num_threads=1)
    with JndMapper.create_from_options(opts) as m:
        got = m.process(frame).jnd
    np.testing.assert_array_equal(got, LiteRTModel(model, num_threads=1).run(x)[0])
    with JndMapper.create_from_model_path(exported_acol_fixed.path) as plain:
        assert np.abs(plain.process(frame).jnd - got).max() > 1e-2  # the net made a difference

    sal.write_bytes(sal.read_bytes() + b"\0")
    with pytest.raises(ValueError, match=r"f_va.tflite: sha256 .* refusing to load"):
        JndMapper.create_from_model_path(model)
    sal.unlink()
    with pytest.raises(FileNotFoundError, match=r"saliency net f_va.tflite beside it, .* missing"):
        JndMapper.create_from_model_path(model)
    keras_file = tmp_path / "f_va.keras"
    keras_file.write_bytes(b"x")
    data["inputs"]["prior_overrides"]["saliency"].update(
        model=keras_file.name, model_sha256=file_sha256(keras_file)
    )
    mpath.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"not a .tflite file; the edge runtime runs no Keras"):
        JndMapper.create_from_model_path(model)
