"""jndtf.export.tensorrt without TensorRT or a GPU: the clear ImportError, the calibrator's
batching (numpy), the optimization profile, and build_engine's calls to the TensorRT 10 API.

TensorRT is not installable here (no NVIDIA GPU). The engine build itself can only run on the
GPU machine; what is tested up to it: the install message (format 'tensorrt' refused before any
file is written), :class:`CalibrationBatches` and :func:`profile_shapes` as plain numpy, and
:func:`build_engine` against a recording stand-in of the ``tensorrt`` and ``cuda-python``
modules, with the names of the TensorRT 10 Python API (Builder, OnnxParser,
create_optimization_profile/set_shape, BuilderFlag.FP16/INT8, IInt8EntropyCalibrator2,
set_calibration_profile, set_memory_pool_limit, build_serialized_network). Its calibrator's
device copies are real memory copies (ctypes), so the bytes TensorRT would read are checked.
"""

from __future__ import annotations

import ctypes
import sys
import types

import numpy as np
import pytest
from jndtf.export.tensorrt import (
    CalibrationBatches,
    build_engine,
    profile_shapes,
    require_tensorrt,
)
from typer.testing import CliRunner

import jndtf.cli.export  # noqa: F401  (registers `jndtf export`)
from jndtf.cli import app


def _inputs(n, h=8, w=8, c=6, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.random((1, h, w, c), np.float32) for _ in range(n)]


# ----------------------------------------------------------------------------- install message


@pytest.fixture
def no_tensorrt(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # `import tensorrt` -> ImportError


def test_missing_tensorrt_names_the_install_and_the_gpu(no_tensorrt):
    with pytest.raises(ImportError) as info:
        require_tensorrt("fp16")
    msg = str(info.value)
    assert "pip install tensorrt" in msg and "GPU" in msg and "trtexec --onnx" in msg


def test_export_model_refuses_before_writing(no_tensorrt, tmp_path):
    from jndtf.export import export_model

    with pytest.raises(ImportError, match="pip install tensorrt"):
        export_model("acol", ["tensorrt-int8"], out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_cli_tensorrt_exit_2(no_tensorrt, tmp_path):
    r = CliRunner().invoke(app, ["export", "acol", "--tensorrt", "-o", str(tmp_path / "out")])
    assert r.exit_code == 2
    assert "pip install tensorrt" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "out").exists()


def test_resolve_formats_puts_onnx_before_the_engine():
    from jndtf.export import resolve_formats

    names = [f.name for f in resolve_formats(["tflite-int8", "tensorrt-int8", "tensorrt"])]
    assert names == ["tflite-int8", "onnx", "tensorrt-int8", "tensorrt"]
    names = [f.name for f in resolve_formats(["tensorrt-fp16", "onnx", "onnx"])]
    assert names == ["tensorrt-fp16", "onnx"]


# ----------------------------------------------------------------------------- numpy pieces


def test_calibration_batches_cover_the_inputs_in_order():
    xs = _inputs(5)
    b = CalibrationBatches(xs, batch_size=2)
    assert (b.num_batches, b.num_used, b.shape, len(b)) == (2, 4, (2, 8, 8, 6), 2)
    assert b.nbytes == 2 * 8 * 8 * 6 * 4
    got = list(b)
    assert all(g.flags.c_contiguous and g.dtype == np.float32 for g in got)
    np.testing.assert_array_equal(np.concatenate(got), np.concatenate(xs[:4]))  # 5th dropped
    assert b.next_batch() is None  # exhausted until reset
    b.reset()
    np.testing.assert_array_equal(b.next_batch(), np.concatenate(xs[:2]))
    one = CalibrationBatches([x[0] for x in xs], batch_size=1)  # (H, W, C) accepted too
    assert one.num_batches == 5 and one.shape == (1, 8, 8, 6)


@pytest.mark.parametrize(
    "inputs, batch, message",
    [
        ([], 1, "no calibration inputs"),
        (_inputs(1) + _inputs(1, h=16), 1, "all must be"),
        ([np.full((1, 8, 8, 6), np.nan, np.float32)], 1, "NaN"),
        (_inputs(2), 3, "exceeds"),
        (_inputs(2), 0, "batch_size"),
    ],
)
def test_calibration_batches_refuse(inputs, batch, message):
    with pytest.raises(ValueError, match=message):
        CalibrationBatches(inputs, batch_size=batch)


def test_profile_shapes():
    fixed = profile_shapes((1, 176, 320, 6))
    assert fixed.min == fixed.opt == fixed.max == (1, 176, 320, 6) and not fixed.dynamic
    dyn = profile_shapes((1, -1, -1, 6))
    assert dyn.to_dict() == {
        "min": [1, 32, 32, 6],
        "opt": [1, 360, 640, 6],
        "max": [1, 1080, 1920, 6],
    }
    assert dyn.dynamic
    custom = profile_shapes((-1, -1, -1, 3), opt_size=(1280, 720), max_size=(1280, 720))  # (W, H)
    assert custom.opt == custom.max == (1, 720, 1280, 3)
    half = profile_shapes((1, 256, -1, 6))  # only W dynamic: H stays
    assert (half.min, half.max) == ((1, 256, 32, 6), (1, 256, 1920, 6))


@pytest.mark.parametrize(
    "shape, kwargs, message",
    [
        ((1, -1, -1), {}, "NHWC"),
        ((2, 64, 64, 6), {}, "batch 1"),
        ((1, -1, -1, 6), {"opt_size": (640, 2000)}, "exceeds"),
        ((1, -1, -1, 6), {"max_size": (16, 16)}, "under the 32x32"),
    ],
)
def test_profile_shapes_refuse(shape, kwargs, message):
    with pytest.raises(ValueError, match=message):
        profile_shapes(shape, **kwargs)


# ----------------------------------------------------------------------------- build_engine


class _Recorder:
    """A stand-in of ``tensorrt`` (10.x names) and ``cuda.bindings.runtime`` that records."""

    def __init__(self, version="10.3.0", input_shape=(1, -1, -1, 6), parse_ok=True, build_ok=True):
        self.log = []
        self.copies = []  # what the calibrator put on the "device", batch by batch
        self.freed = []
        self.buffers = {}
        rec = self

        trt = types.ModuleType("tensorrt")
        trt.__version__ = version

        class Logger:
            WARNING = "warning"

            def __init__(self, severity):
                rec.log.append(("Logger", severity))

        class Input:
            name = "inputs"
            shape = input_shape

        class Network:
            def get_input(self, i):
                return Input()

        class Parser:
            num_errors = 1

            def __init__(self, network, logger):
                rec.log.append(("OnnxParser",))

            def parse(self, data):
                rec.log.append(("parse", len(data)))
                return parse_ok

            def get_error(self, i):
                return "In node 3: unsupported op"

        class Profile:
            def set_shape(self, name, lo, opt, hi):
                rec.log.append(("set_shape", name, tuple(lo), tuple(opt), tuple(hi)))

        class Config:
            int8_calibrator = None

            def set_memory_pool_limit(self, pool, size):
                rec.log.append(("set_memory_pool_limit", pool, size))

            def add_optimization_profile(self, p):
                rec.log.append(("add_optimization_profile",))

            def set_calibration_profile(self, p):
                rec.log.append(("set_calibration_profile",))

            def set_flag(self, flag):
                rec.log.append(("set_flag", flag))

        class Builder:
            def __init__(self, logger):
                rec.log.append(("Builder",))

            def create_network(self, flags):
                rec.log.append(("create_network", flags))
                return Network()

            def create_builder_config(self):
                return Config()

            def create_optimization_profile(self):
                return Profile()

            def build_serialized_network(self, network, config):
                cal = config.int8_calibrator
                if cal is not None:  # what TensorRT does with the calibrator while building
                    size = cal.get_batch_size()
                    while (ptrs := cal.get_batch(["inputs"])) is not None:
                        nbytes = rec.buffers[ptrs[0]]
                        raw = ctypes.string_at(ptrs[0], nbytes)
                        rec.copies.append((size, np.frombuffer(raw, np.float32).copy()))
                    cal.write_calibration_cache(b"calibration table")
                rec.log.append(("build_serialized_network",))
                return b"ENGINE" if build_ok else None

        class Calibrator:
            def __init__(self):
                rec.log.append(("IInt8EntropyCalibrator2.__init__",))

        trt.Logger = Logger
        trt.Builder = Builder
        trt.OnnxParser = Parser
        trt.MemoryPoolType = types.SimpleNamespace(WORKSPACE="WORKSPACE")
        trt.BuilderFlag = types.SimpleNamespace(FP16="FP16", INT8="INT8")
        trt.IInt8EntropyCalibrator2 = Calibrator
        self.trt = trt

        cudart = types.ModuleType("cuda.bindings.runtime")
        keep = []

        def cudaMalloc(n):
            buf = ctypes.create_string_buffer(n)
            keep.append(buf)
            ptr = ctypes.addressof(buf)
            rec.buffers[ptr] = n
            return (0, ptr)

        def cudaMemcpy(dst, src, n, kind):
            assert kind == "H2D" and n <= rec.buffers[dst]
            ctypes.memmove(dst, src, n)
            return (0,)

        def cudaFree(ptr):
            rec.freed.append(ptr)
            return (0,)

        cudart.cudaMalloc, cudart.cudaMemcpy, cudart.cudaFree = cudaMalloc, cudaMemcpy, cudaFree
        cudart.cudaMemcpyKind = types.SimpleNamespace(cudaMemcpyHostToDevice="H2D")
        self.cudart = cudart

    def install(self, monkeypatch):
        bindings = types.ModuleType("cuda.bindings")
        bindings.runtime = self.cudart
        cuda = types.ModuleType("cuda")
        cuda.bindings = bindings
        monkeypatch.setitem(sys.modules, "tensorrt", self.trt)
        monkeypatch.setitem(sys.modules, "cuda", cuda)
        monkeypatch.setitem(sys.modules, "cuda.bindings", bindings)
        monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", self.cudart)
        return self

    def calls(self, name):
        return [c for c in self.log if c[0] == name]


@pytest.fixture
def onnx_file(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"onnx bytes")
    return path


def test_int8_dynamic_engine_calls(monkeypatch, onnx_file, tmp_path):
    rec = _Recorder().install(monkeypatch)
    xs = _inputs(3, h=16, w=24)
    cache = tmp_path / "calib.cache"
    engine, desc = build_engine(
        onnx_file, precision="int8", calib_inputs=xs, calibration_cache=cache
    )
    assert engine == b"ENGINE"
    assert rec.calls("create_network") == [("create_network", 0)]  # explicit batch (TRT 10)
    assert rec.calls("parse") == [("parse", len(b"onnx bytes"))]
    # the dynamic profile, then the calibration profile at the calibration inputs' shape
    assert rec.calls("set_shape") == [
        ("set_shape", "inputs", (1, 32, 32, 6), (1, 360, 640, 6), (1, 1080, 1920, 6)),
        ("set_shape", "inputs", (1, 16, 24, 6), (1, 16, 24, 6), (1, 16, 24, 6)),
    ]
    assert rec.calls("add_optimization_profile") and rec.calls("set_calibration_profile")
    assert rec.calls("set_flag") == [("set_flag", "FP16"), ("set_flag", "INT8")]
    assert rec.calls("set_memory_pool_limit")[0][1] == "WORKSPACE"
    # every calibration input reached the "device", in order, byte for byte
    assert [size for size, _ in rec.copies] == [1, 1, 1]
    for (_, got), x in zip(rec.copies, xs, strict=True):
        np.testing.assert_array_equal(got, x.ravel())
    assert len(rec.freed) == 1 and cache.read_bytes() == b"calibration table"
    assert desc["precision"] == "int8" and desc["flags"] == ["FP16", "INT8"]
    assert desc["calibration"] == {
        "calibrator": "IInt8EntropyCalibrator2",
        "inputs": 3,
        "batch_shape": [1, 16, 24, 6],
    }
    assert desc["profile"]["max"] == [1, 1080, 1920, 6] and desc["tensorrt"] == "10.3.0"


def test_fp16_fixed_engine_calls(monkeypatch, onnx_file):
    rec = _Recorder(input_shape=(1, 64, 64, 6)).install(monkeypatch)
    _, desc = build_engine(onnx_file, precision="fp16")
    assert rec.calls("set_flag") == [("set_flag", "FP16")]
    assert not rec.calls("set_shape") and not rec.calls("add_optimization_profile")
    assert desc["profile"] == {"min": [1, 64, 64, 6], "opt": [1, 64, 64, 6], "max": [1, 64, 64, 6]}
    assert desc["calibration"] is None


def test_fp32_engine_sets_no_precision_flag(monkeypatch, onnx_file):
    rec = _Recorder(version="11.1.0").install(monkeypatch)  # fp32 needs no removed flag
    _, desc = build_engine(onnx_file, precision="fp32", opt_size=(1280, 720))  # (W, H)
    assert not rec.calls("set_flag") and desc["flags"] == []
    assert rec.calls("set_shape")[0][3] == (1, 720, 1280, 6)


@pytest.mark.parametrize(
    "version, precision, message",
    [("11.1.0", "fp16", "TensorRT 10.x"), ("8.6.1", "fp32", "10.x API")],
)
def test_version_checks(monkeypatch, version, precision, message):
    _Recorder(version=version).install(monkeypatch)
    with pytest.raises(ImportError, match=message):
        require_tensorrt(precision)


def test_build_errors(monkeypatch, onnx_file):
    _Recorder(parse_ok=False).install(monkeypatch)
    with pytest.raises(ValueError, match="cannot parse it: In node 3: unsupported op"):
        build_engine(onnx_file)
    _Recorder(build_ok=False).install(monkeypatch)
    with pytest.raises(RuntimeError, match="built no engine"):
        build_engine(onnx_file)
    with pytest.raises(ValueError, match="needs calib_inputs"):
        build_engine(onnx_file, precision="int8")
    with pytest.raises(ValueError, match="precision must be one of"):
        build_engine(onnx_file, precision="int4")


def test_engine_parity_needs_cuda_python(monkeypatch, tmp_path):
    """An fp32 engine builds without cuda-python, but its parity check runs it: refused first."""
    from jndtf.export import export_model

    _Recorder().install(monkeypatch)
    for name in ("cuda", "cuda.bindings", "cuda.bindings.runtime"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match="cuda-python is missing"):
        export_model("acol", ["tensorrt"], out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()
