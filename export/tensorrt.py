"""TensorRT engines built from the ONNX export, with the TensorRT 10 Python API.

TF-TRT is compiled out of the TensorFlow wheel (DESIGN.md), so a TensorRT engine is built from
the ``onnx`` export of the same run, on the machine with the NVIDIA GPU that will run it (an
engine is specific to the GPU model and the TensorRT version that built it):

1. ``trt.Builder(logger)``, ``builder.create_network(0)`` (TensorRT 10 networks are always
   explicit-batch) and ``trt.OnnxParser(network, logger).parse(onnx_bytes)``;
2. one optimization profile (:func:`profile_shapes`): a fixed-size export gets min = opt = max;
   a dynamic one ``[1, -1, -1, C]`` gets min 32x32 (the priors' smallest image), opt and max
   sizes given by the caller (default 360x640 and 1080x1920);
3. precision: ``fp32`` (no flag), ``fp16`` (``BuilderFlag.FP16``: FP16 kernels allowed) or
   ``int8`` (``BuilderFlag.INT8`` + ``FP16``, an ``IInt8EntropyCalibrator2`` fed batch by batch
   with the same representative network inputs as the TFLite int8 export, and a fixed-shape
   calibration profile at their size);
4. ``builder.build_serialized_network(network, config)`` -> the engine bytes.

Version note: TensorRT 10 deprecates the calibrators (10.1, "superseded by explicit
quantization") and TensorRT 11 removed ``BuilderFlag.FP16``/``INT8`` and
``IBuilderConfig.int8_calibrator``; so ``fp16``/``int8`` engines need TensorRT 10.x, an ``fp32``
engine builds with 10 or later. The calibrator's device buffer and the engine runner
(:mod:`jndtf.export.tensorrt_runner`) use ``cuda-python`` (``cudaMalloc``/``cudaMemcpy``).

The parts that need no GPU (:class:`CalibrationBatches`, :func:`profile_shapes`,
:func:`tensorrt_unavailable`) are plain numpy and are unit-tested on any machine.

Example:
    >>> engine = build_engine("acol-onnx.onnx", precision="int8", input_size=None,
    ...                       calib_inputs=calib)          # on the GPU machine
    >>> atomic_write_bytes("acol-tensorrt-int8.engine", engine)
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PRECISIONS = ("fp32", "fp16", "int8")

#: export format quantization -> engine precision.
PRECISION_OF_MODE = {"none": "fp32", "float16": "fp16", "int8": "int8"}

#: Smallest H, W of a dynamic profile: the priors' windows need 32x32 (jndtf.io.check_image).
MIN_SIDE = 32
#: Default opt / max (width, height) of a dynamic profile.
DEFAULT_OPT_SIZE = (640, 360)
DEFAULT_MAX_SIZE = (1920, 1080)
#: Builder workspace memory pool limit, bytes.
DEFAULT_WORKSPACE = 2 << 30

INSTALL = (
    "`pip install tensorrt` (TensorRT 10.x for fp16/int8 engines: TensorRT 11 removed the "
    "FP16/INT8 builder flags and calibrators) and `pip install cuda-python`, on a machine with an "
    "NVIDIA GPU and driver: a TensorRT engine is built on, and only runs on, the GPU model that "
    "runs it"
)


def tensorrt_unavailable(reason: str = "") -> ImportError:
    """The ImportError raised when TensorRT cannot build here; it says what to install."""
    why = f" ({reason})" if reason else ""
    return ImportError(
        f"format 'tensorrt' needs NVIDIA TensorRT{why}: {INSTALL}. Without it, export 'onnx' "
        "here and build the engine there with `trtexec --onnx=NAME.onnx --saveEngine=NAME.engine`"
        " or jndtf.export.tensorrt.build_engine"
    )


def require_tensorrt(precision: str = "fp32"):
    """Imports ``tensorrt`` (and ``cuda-python`` for int8) and checks the version suits
    `precision`; returns the ``tensorrt`` module.

    Raises:
        ImportError: not installed, or a version without what `precision` needs (the message
            names ``pip install tensorrt``, the version and that a GPU is needed).
        ValueError: an unknown precision.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"TensorRT precision must be one of {PRECISIONS}, got {precision!r}")
    try:
        import tensorrt as trt
    except ImportError as err:
        raise tensorrt_unavailable(f"import tensorrt failed: {err}") from None
    version = str(getattr(trt, "__version__", "0"))
    major = int(version.split(".")[0]) if version.split(".")[0].isdigit() else 0
    if major < 10:
        raise tensorrt_unavailable(f"found TensorRT {version}; this builder uses the 10.x API")
    if precision != "fp32" and major >= 11:
        raise tensorrt_unavailable(
            f"found TensorRT {version}, which has no {precision.upper()} builder flag; "
            "build 'tensorrt' (fp32) or install TensorRT 10.x"
        )
    if precision == "int8":
        cuda_runtime()
    return trt


def cuda_runtime():
    """cuda-python's runtime module (``cudart``), either layout (>= 12.6 or older)."""
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart
        except ImportError:
            raise tensorrt_unavailable(
                "cuda-python is missing: the INT8 calibrator and the engine runner copy arrays "
                "to the GPU with it"
            ) from None
    return cudart


def cuda_check(result):
    """Unwraps a cuda-python call's ``(err, *values)``; RuntimeError on a CUDA error."""
    err, *values = result if isinstance(result, tuple) else (result,)
    if int(getattr(err, "value", err)) != 0:
        raise RuntimeError(f"CUDA error: {err}")
    return values[0] if len(values) == 1 else values


@dataclass(frozen=True)
class ProfileShapes:
    """The shapes of one TensorRT optimization profile (NHWC, batch 1).

    Attributes:
        min, opt, max: ``(1, H, W, C)`` tuples, ``min <= opt <= max`` element-wise.
    """

    min: tuple[int, int, int, int]
    opt: tuple[int, int, int, int]
    max: tuple[int, int, int, int]

    @property
    def dynamic(self) -> bool:
        """True when min != max (H, W chosen at run time)."""
        return self.min != self.max

    def to_dict(self) -> dict:
        """As manifest data."""
        return {"min": list(self.min), "opt": list(self.opt), "max": list(self.max)}


def _size_hw(value, what: str) -> tuple[int, int]:
    """A public ``(width, height)`` -> the private ``(h, w)`` of the NHWC shapes."""
    try:
        w, h = (int(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be (width, height), got {value!r}") from None
    if h < MIN_SIDE or w < MIN_SIDE:
        raise ValueError(f"{what} {w}x{h} is under the {MIN_SIDE}x{MIN_SIDE} the priors need")
    return h, w


def profile_shapes(
    network_shape: Sequence[int],
    *,
    opt_size: tuple[int, int] | None = None,
    max_size: tuple[int, int] | None = None,
) -> ProfileShapes:
    """The optimization profile of a network input of shape `network_shape` (``-1`` = dynamic).

    A fixed ``[1, H, W, C]`` input gets min = opt = max = itself (sizes given are ignored);
    ``[1, -1, -1, C]`` gets min ``32x32``, opt `opt_size` and max `max_size`, each
    ``(width, height)`` (default 640x360 and 1920x1080, WIDTHxHEIGHT); the returned shapes are
    NHWC. A dynamic batch is pinned to 1 (jndtf exports batch 1).

    Raises:
        ValueError: not NHWC, dynamic channels, sizes under 32 or opt > max.

    Example:
        >>> profile_shapes((1, -1, -1, 6)).to_dict()["max"]
        [1, 1080, 1920, 6]
    """
    shape = [int(s) for s in network_shape]
    if len(shape) != 4 or shape[3] < 1:
        raise ValueError(f"the network input must be NHWC with known channels, got {shape}")
    if shape[0] not in (1, -1):
        raise ValueError(f"jndtf engines take batch 1, the ONNX input has batch {shape[0]}")
    c = shape[3]
    if shape[1] > 0 and shape[2] > 0:
        fixed = (1, shape[1], shape[2], c)
        return ProfileShapes(fixed, fixed, fixed)
    oh, ow = _size_hw(opt_size or DEFAULT_OPT_SIZE, "opt_size")
    mh, mw = _size_hw(max_size or DEFAULT_MAX_SIZE, "max_size")
    if oh > mh or ow > mw:
        raise ValueError(f"opt_size {ow}x{oh} exceeds max_size {mw}x{mh} (WIDTHxHEIGHT)")
    lo_h = shape[1] if shape[1] > 0 else MIN_SIDE
    lo_w = shape[2] if shape[2] > 0 else MIN_SIDE
    hi_h, hi_w = (shape[1] if shape[1] > 0 else mh), (shape[2] if shape[2] > 0 else mw)
    op_h, op_w = (shape[1] if shape[1] > 0 else oh), (shape[2] if shape[2] > 0 else ow)
    return ProfileShapes((1, lo_h, lo_w, c), (1, op_h, op_w, c), (1, hi_h, hi_w, c))


class CalibrationBatches:
    """Representative network inputs cut into the calibrator's batches (numpy only).

    Args:
        inputs: ``(1, H, W, C)`` (or ``(H, W, C)``) float32 network inputs, all one shape,
            priors applied (:func:`jndtf.export.quantization.representative_inputs`).
        batch_size: inputs per batch; a last incomplete batch is dropped (TensorRT asks for
            exactly ``get_batch_size()`` per batch).

    Raises:
        ValueError: no inputs, mixed shapes, non-finite values, batch_size < 1 or more than
            there are inputs.

    Example:
        >>> b = CalibrationBatches([np.zeros((1, 8, 8, 6), np.float32)] * 5, batch_size=2)
        >>> b.num_batches, b.shape
        (2, (2, 8, 8, 6))
    """

    def __init__(self, inputs: Sequence[np.ndarray], batch_size: int = 1):
        if isinstance(batch_size, bool) or int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        arrays = [np.asarray(x, np.float32) for x in inputs]
        if not arrays:
            raise ValueError("no calibration inputs: INT8 calibration needs real network inputs")
        arrays = [x[None] if x.ndim == 3 else x for x in arrays]
        first = arrays[0].shape
        for i, x in enumerate(arrays):
            if x.ndim != 4 or x.shape[0] != 1 or x.shape != first:
                raise ValueError(
                    f"calibration input {i} has shape {x.shape}; all must be (1, H, W, C) like "
                    f"the first, {first}"
                )
            if not np.all(np.isfinite(x)):
                raise ValueError(f"calibration input {i} holds NaN or Inf")
        if int(batch_size) > len(arrays):
            raise ValueError(f"batch_size {batch_size} exceeds the {len(arrays)} inputs")
        self.batch_size = int(batch_size)
        self._data = np.concatenate(arrays)
        self.num_batches = len(arrays) // self.batch_size
        self.num_used = self.num_batches * self.batch_size
        self.shape = (self.batch_size, *first[1:])
        self.nbytes = int(np.prod(self.shape)) * 4
        self._next = 0

    def reset(self) -> None:
        """Starts again from the first batch."""
        self._next = 0

    def next_batch(self) -> np.ndarray | None:
        """The next C-contiguous float32 batch, or None when all were handed out."""
        if self._next >= self.num_batches:
            return None
        i = self._next * self.batch_size
        self._next += 1
        return np.ascontiguousarray(self._data[i : i + self.batch_size])

    def __iter__(self) -> Iterator[np.ndarray]:
        self.reset()
        while (batch := self.next_batch()) is not None:
            yield batch

    def __len__(self) -> int:
        return self.num_batches


def make_calibrator(trt, batches: CalibrationBatches, cache_path: str | os.PathLike | None = None):
    """An ``IInt8EntropyCalibrator2`` that copies `batches` to one GPU buffer batch by batch.

    ``get_batch(names)`` returns ``[device pointer]`` per batch and None at the end, as
    TensorRT's Python calibrator interface asks; the calibration cache is read from / written to
    `cache_path` when given.
    """
    cudart = cuda_runtime()

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self):
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.batches = batches
            self.cache_path = None if cache_path is None else Path(cache_path)
            self.device = cuda_check(cudart.cudaMalloc(batches.nbytes))
            batches.reset()

        def get_batch_size(self):
            return batches.batch_size

        def get_batch(self, names):
            batch = batches.next_batch()
            if batch is None:
                return None
            kind = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
            cuda_check(cudart.cudaMemcpy(self.device, batch.ctypes.data, batch.nbytes, kind))
            return [int(self.device)]

        def read_calibration_cache(self):
            if self.cache_path is not None and self.cache_path.is_file():
                return self.cache_path.read_bytes()
            return None

        def write_calibration_cache(self, cache):
            if self.cache_path is not None:
                from jndtf.io import atomic_write_bytes

                atomic_write_bytes(self.cache_path, bytes(cache))

        def free(self):
            if self.device is not None:
                cudart.cudaFree(self.device)
                self.device = None

    return EntropyCalibrator()


def build_engine(
    onnx_path: str | os.PathLike,
    *,
    precision: str = "fp32",
    calib_inputs: Sequence[np.ndarray] | None = None,
    opt_size: tuple[int, int] | None = None,
    max_size: tuple[int, int] | None = None,
    workspace_bytes: int = DEFAULT_WORKSPACE,
    calibration_cache: str | os.PathLike | None = None,
) -> tuple[bytes, dict]:
    """Builds a serialized TensorRT engine from an ONNX file (module docstring for the steps).

    Args:
        onnx_path: the ``onnx`` export (``[1, H, W, C]`` or ``[1, -1, -1, C]`` input).
        precision: ``"fp32"``, ``"fp16"`` or ``"int8"``.
        calib_inputs: int8 only: ``(1, h, w, C)`` float32 network inputs, one shape.
        opt_size, max_size: ``(width, height)`` of a dynamic profile (:func:`profile_shapes`).
        workspace_bytes: builder workspace limit.
        calibration_cache: int8 only: calibration cache file to reuse or write.

    Returns:
        ``(engine_bytes, description)``; the description (manifest data) holds the TensorRT
        version, precision, flags, profile and calibration.

    Raises:
        ImportError: TensorRT/cuda-python missing (names ``pip install tensorrt``).
        ValueError: bad precision or calibration inputs, or an ONNX file TensorRT cannot parse.
        RuntimeError: the builder produced no engine.
    """
    trt = require_tensorrt(precision)
    if precision == "int8" and not calib_inputs:
        raise ValueError("an int8 engine needs calib_inputs (real network inputs, priors applied)")
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise ValueError(f"{onnx_path}: TensorRT cannot parse it: " + "; ".join(errors))
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_bytes))
    inp = network.get_input(0)
    shapes = profile_shapes(tuple(inp.shape), opt_size=opt_size, max_size=max_size)
    if any(int(s) < 0 for s in inp.shape):
        profile = builder.create_optimization_profile()
        profile.set_shape(inp.name, shapes.min, shapes.opt, shapes.max)
        config.add_optimization_profile(profile)
    flags = []
    if precision in ("fp16", "int8"):
        config.set_flag(trt.BuilderFlag.FP16)
        flags.append("FP16")
    calibrator, calibration = None, None
    if precision == "int8":
        batches = CalibrationBatches(calib_inputs, batch_size=1)
        config.set_flag(trt.BuilderFlag.INT8)
        flags.append("INT8")
        calibrator = make_calibrator(trt, batches, calibration_cache)
        config.int8_calibrator = calibrator
        if shapes.dynamic:
            calib_profile = builder.create_optimization_profile()
            calib_profile.set_shape(inp.name, batches.shape, batches.shape, batches.shape)
            config.set_calibration_profile(calib_profile)
        calibration = {
            "calibrator": "IInt8EntropyCalibrator2",
            "inputs": batches.num_used,
            "batch_shape": list(batches.shape),
        }
    try:
        serialized = builder.build_serialized_network(network, config)
    finally:
        if calibrator is not None:
            calibrator.free()
    if serialized is None:
        raise RuntimeError(f"TensorRT built no engine from {onnx_path} (see its log above)")
    return bytes(serialized), {
        "tensorrt": str(trt.__version__),
        "precision": precision,
        "flags": flags,
        "profile": shapes.to_dict(),
        "calibration": calibration,
        "workspace_bytes": int(workspace_bytes),
    }


__all__ = [
    "DEFAULT_MAX_SIZE",
    "DEFAULT_OPT_SIZE",
    "PRECISIONS",
    "PRECISION_OF_MODE",
    "CalibrationBatches",
    "ProfileShapes",
    "build_engine",
    "cuda_check",
    "cuda_runtime",
    "make_calibrator",
    "profile_shapes",
    "require_tensorrt",
    "tensorrt_unavailable",
]
