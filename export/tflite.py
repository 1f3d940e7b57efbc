"""TFLite conversion of a Keras 3 model through its SavedModel export, and a LiteRT runner.

Route (DESIGN.md, keras-team/keras#19108): ``model.export(dir, format="tf_saved_model",
input_signature=[TensorSpec((1, H, W, C))])`` then ``TFLiteConverter.from_saved_model``. A fixed
``[1, H, W, C]`` signature is the default (fastest on device); ``input_size=None`` exports
``[1, -1, -1, C]``, resized at run time with ``resize_tensor_input``. A model converted at a fixed
size must never be resized (DESIGN.md): :class:`TFLiteRunner` refuses it.

**Selective int8** (:attr:`QuantizationConfig.selective`, the default of
``QuantizationConfig.for_int8``): the converter only calibrates (``_experimental_calibrate_only``,
float model + activation ranges), :func:`float_nodes` picks the ops to keep in float from that
model, and ``tensorflow.lite.python.convert.mlir_quantize`` quantizes the rest with them
denylisted: the same two calls ``tf.lite.experimental.QuantizationDebugger`` makes for its
``get_nondebug_quantized_model()`` (TF's "selective quantization" recipe), without its debug model.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from jndtf.export.quantization import QuantizationConfig

from jndtf.litert import allocate, interpreter_class, quiet_litert_info

#: TFLite ops with weights: the first one met walking back from an output ends its head.
WEIGHTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV")

#: TFLite comparisons: the hard thresholds whose inputs ``thresholds=True`` keeps in float.
COMPARISON_OPS = ("GREATER", "GREATER_EQUAL", "LESS", "LESS_EQUAL", "EQUAL", "NOT_EQUAL")


def export_saved_model(
    model, directory: str | os.PathLike, input_size: tuple[int, int] | None, channels: int
) -> Path:
    """Writes the SavedModel of `model` with a batch-1 NHWC signature.

    Args:
        model: a Keras 3 model (TensorFlow backend).
        directory: output folder (created).
        input_size: ``(H, W)`` for a fixed shape, None for dynamic H, W.
        channels: input channels C.
    """
    import tensorflow as tf

    h, w = (None, None) if input_size is None else (int(input_size[0]), int(input_size[1]))
    spec = tf.TensorSpec((1, h, w, int(channels)), tf.float32, name="inputs")
    model.export(str(directory), format="tf_saved_model", input_signature=[spec], verbose=False)
    return Path(directory)


def convert_saved_model(saved_model: str | os.PathLike, quantization: QuantizationConfig) -> bytes:
    """Converts a SavedModel to TFLite bytes with `quantization` applied.

    A selective int8 config is calibrated, then quantized with the ops of :func:`float_nodes`
    kept in float; they are recorded in ``quantization.kept_float`` (and so in ``describe()``).
    """
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    quantization.apply(converter)
    if quantization.mode == "int8" and _dynamic_hw(saved_model):
        samples = quantization.samples
        converter.representative_dataset = lambda: ([x] for x in _with_odd_crop(samples()))
    if not quantization.selective:
        return converter.convert()
    converter.inference_input_type = tf.float32  # set by mlir_quantize below instead
    converter.inference_output_type = tf.float32
    converter._experimental_calibrate_only = True  # QuantizationDebugger's route
    calibrated, widened = widen_degenerate_ranges(converter.convert())
    quantization.widened_ranges.clear()
    quantization.widened_ranges.extend(widened)
    kept = float_nodes(
        calibrated,
        head=quantization.float_head,
        thresholds=quantization.float_thresholds,
        layers=quantization.float_layers,
        op_types=quantization.float_ops,
    )
    quantization.kept_float.clear()
    quantization.kept_float.extend(kept)
    return _quantize_calibrated(calibrated, [k["tensor"] for k in kept], quantization.io_dtype)


def _dynamic_hw(saved_model) -> bool:
    """True when the SavedModel's serving signature has an unknown H or W (NHWC input)."""
    from tensorflow.core.protobuf import saved_model_pb2

    sm = saved_model_pb2.SavedModel()
    sm.ParseFromString((Path(saved_model) / "saved_model.pb").read_bytes())
    for graph in sm.meta_graphs:
        sig = graph.signature_def.get("serving_default")
        if sig is None:
            continue
        for t in sig.inputs.values():
            dims = [d.size for d in t.tensor_shape.dim]
            if len(dims) == 4 and (dims[1] < 0 or dims[2] < 0):
                return True
    return False


def _with_odd_crop(samples):
    """The calibration inputs, then the first one cut by one row and one column.

    A dynamic-shape model computes size-dependent tensors at run time (hmJND-Net's padding
    mask: MASK_VALUE on keys beyond the image when the window does not divide H or W). Crops
    that all share one size the windows divide leave that mask at 0 over the whole calibration
    set, so int8 clipped it to ~0 at every other size and padding pixels were attended (I_rr
    4-5 dB further from Keras at 70x102 than at 176x176). One input of an odd size gives such
    tensors their real range."""
    first = None
    for x in samples:
        if first is None:
            first = x
        yield x
    if first is not None and first.shape[1] > 1 and first.shape[2] > 1:
        yield np.ascontiguousarray(first[:, :-1, :-1])


#: A calibrated range narrower than this fraction of the model's widest one is degenerate (the
#: converter records an exactly constant tensor as ``max - min`` of 0 or 1.2e-38; hmjnd_tiny's
#: narrowest real range, a sigmoid's, was 3.7e-3 of a widest 255, i.e. 2**-16).
DEGENERATE_FRACTION = 2.0**-24

#: ... and is widened to this fraction of the widest range (XNNPACK's int8 ADD/SUB/MUL need
#: input/output scale ratios of at least 2**-10: a floor of 2**-8 keeps every ratio legal).
RANGE_FLOOR_FRACTION = 2.0**-8


def widen_degenerate_ranges(calibrated: bytes) -> tuple[bytes, list[dict]]:
    """Gives every tensor whose calibrated range is (nearly) empty a usable one.

    A tensor that is constant over the whole calibration set (a ReLU no calibration input
    activates, e.g. a squeeze-and-excitation hidden unit; a branch fed by an all-zero channel)
    gets ``max - min == 0``; the converter then quantizes it with a scale of ~1e-8 (its 2e-6
    fallback range / 255), and XNNPACK refuses any ADD/MUL whose input/output scale ratio is
    below 2**-10: "failed to create XNNPACK runtime" at ``allocate_tensors``. Such a tensor is
    given the range ``RANGE_FLOOR_FRACTION`` x the model's widest calibrated range, keeping 0
    and its calibrated value(s) inside; its calibration values stay exact (0 is always a level,
    a constant is within half a step), so nothing the calibration saw changes.

    Args:
        calibrated: a TFLite model with calibration statistics (``min``/``max`` per tensor:
            ``_experimental_calibrate_only``).

    Returns:
        ``(model bytes, [{"tensor": name, "calibrated": [lo, hi], "range": [lo, hi]}])``;
        the bytes are `calibrated` itself when nothing was widened.
    """
    from tensorflow.lite.tools import flatbuffer_utils

    m = flatbuffer_utils.read_model_from_bytearray(bytearray(calibrated))
    stats = []
    for graph in m.subgraphs:
        for t in graph.tensors:
            q = t.quantization
            if q is None or q.min is None or q.max is None or len(q.min) != 1:
                continue  # per-channel (weights) or no statistics
            stats.append((t, float(q.min[0]), float(q.max[0])))
    widest = max((hi - lo for _, lo, hi in stats), default=0.0)
    if not np.isfinite(widest) or widest <= 0.0:
        return calibrated, []
    floor = RANGE_FLOOR_FRACTION * widest
    widened = []
    for t, lo, hi in stats:
        if hi - lo >= DEGENERATE_FRACTION * widest:
            continue
        if lo >= 0.0:
            new = (0.0, max(hi, floor))
        elif hi <= 0.0:
            new = (min(lo, -floor), 0.0)
        else:
            new = (min(lo, -floor / 2), max(hi, floor / 2))
        t.quantization.min = np.asarray([new[0]], np.float32)
        t.quantization.max = np.asarray([new[1]], np.float32)
        n = t.name.decode() if isinstance(t.name, bytes) else str(t.name)
        widened.append({"tensor": n, "calibrated": [lo, hi], "range": list(new)})
    if not widened:
        return calibrated, []
    return bytes(flatbuffer_utils.convert_object_to_bytearray(m)), widened


def _quantize_calibrated(calibrated: bytes, denylisted: list[str], io_dtype: str) -> bytes:
    import tensorflow as tf

    try:
        from tensorflow.lite.python import convert
    except ImportError as e:  # pragma: no cover - depends on the TensorFlow build
        raise ImportError(
            f"selective int8 needs tensorflow.lite.python.convert.mlir_quantize ({e}); "
            "use QuantizationConfig.for_int8(..., float_head=False) for plain full-integer int8"
        ) from e
    dtype = {"float32": tf.float32, "int8": tf.int8, "uint8": tf.uint8}[io_dtype]
    # The quantizer prints its settings ("fully_quantize: 0, inference_type: ...") from C++.
    with quiet_litert_info(drop=("fully_quantize: ",)):
        return convert.mlir_quantize(
            calibrated,
            input_data_type=dtype,
            output_data_type=dtype,
            denylisted_nodes=denylisted or None,
        )


def layer_of_tensor(tensor_name: str, layers: tuple[str, ...]) -> str | None:
    """The one of `layers` whose Keras name scope (``.../NAME/...`` or ``.../NAME_1/...``) holds
    a TFLite tensor name (fused ops join several names with ``;``), or None.

    Example:
        >>> layer_of_tensor("acol_1/cnn4_conv3_1/BiasAdd;acol_1/cnn4_conv3_1/conv", ("cnn4_conv3",))
        'cnn4_conv3'
    """
    for part in tensor_name.split(";"):
        scopes = part.split("/")[:-1]
        for layer in layers:
            for scope in scopes:
                if scope == layer or (
                    scope.startswith(layer + "_") and scope[len(layer) + 1 :].isdigit()
                ):
                    return layer
    return None


def float_nodes(
    model: bytes,
    *,
    head: bool = True,
    thresholds: bool = True,
    layers: tuple[str, ...] = (),
    op_types: tuple[str, ...] = (),
) -> list[dict]:
    """The ops of a (calibrated, still float) TFLite model to keep out of int8.

    Both walks go back along float tensors and stop at (including) the first op with weights
    (:data:`WEIGHTED_OPS`) on every path.

    Args:
        model: TFLite flatbuffer bytes.
        head: the output head: the walk back from every graph output.
        thresholds: every comparison (:data:`COMPARISON_OPS`), the ``CAST`` of its result, and
            the walk back from it: the values a hard threshold compares.
        layers: Keras layer names: every op whose output tensor lies in that layer's name scope.
        op_types: TFLite op types (``"ABS"``): every op of that type.

    Returns:
        ``{"op": TYPE, "tensor": output tensor name, "why": "head"|"threshold"|"layer NAME"|
        "op type"}`` per op, in graph order; the tensor names are what ``mlir_quantize``
        denylists.

    Raises:
        ValueError: a layer name or op type matches no op (a misspelt name would otherwise
            silently quantize everything).
    """
    from tensorflow.lite.tools import flatbuffer_utils

    m = flatbuffer_utils.read_model_from_bytearray(bytearray(model))
    graph = m.subgraphs[0]
    float32 = 0  # schema TensorType.FLOAT32

    def name(t: int) -> str:
        n = graph.tensors[t].name
        return n.decode() if isinstance(n, bytes) else str(n)

    ops = [(flatbuffer_utils.opcode_to_name(m, op.opcodeIndex), op) for op in graph.operators]
    producer = {int(t): i for i, (_, op) in enumerate(ops) for t in op.outputs}
    why: dict[int, str] = {}

    def walk_back(start: list[int], reason: str) -> None:
        stack = list(start)
        while stack:
            i = stack.pop()
            if i in why:
                continue
            kind, op = ops[i]
            why[i] = reason
            if kind in WEIGHTED_OPS:
                continue
            for t in op.inputs:
                t = int(t)
                if t >= 0 and t in producer and graph.tensors[t].type == float32:
                    stack.append(producer[t])

    if head:
        walk_back([producer[int(t)] for t in graph.outputs if int(t) in producer], "head")
    if thresholds:
        compares = [i for i, (kind, _) in enumerate(ops) if kind in COMPARISON_OPS]
        walk_back(compares, "threshold")
        results = {int(t) for i in compares for t in ops[i][1].outputs}
        for i, (kind, op) in enumerate(ops):
            if kind == "CAST" and any(int(t) in results for t in op.inputs):
                why.setdefault(i, "threshold")
    used_layers, used_types = set(), set()
    for i, (kind, op) in enumerate(ops):
        if not len(op.outputs):
            continue
        layer = layer_of_tensor(name(int(op.outputs[0])), tuple(layers))
        if layer is not None:
            used_layers.add(layer)
            why.setdefault(i, f"layer {layer}")
        if kind in op_types:
            used_types.add(kind)
            why.setdefault(i, "op type")
    missing = [x for x in layers if x not in used_layers]
    missing += [x for x in op_types if x not in used_types]
    if missing:
        kinds = sorted({k for k, _ in ops})
        raise ValueError(
            f"float_layers/float_ops {missing} match no op of the model; op types present: "
            f"{', '.join(kinds)} (layer names are the Keras model's, e.g. 'cnn4_conv3')"
        )
    return [
        {"op": ops[i][0], "tensor": name(int(ops[i][1].outputs[0])), "why": why[i]}
        for i in sorted(why)
    ]


def convert_model(
    model, input_size: tuple[int, int] | None, channels: int, quantization: QuantizationConfig
) -> bytes:
    """Keras model -> TFLite bytes (SavedModel in a temporary folder)."""
    with tempfile.TemporaryDirectory(prefix="jndtf-export-") as tmp:
        sm = export_saved_model(model, Path(tmp) / "saved_model", input_size, channels)
        return convert_saved_model(sm, quantization)


def _qparams(detail: dict) -> dict:
    q = detail.get("quantization_parameters") or {}
    scales = np.asarray(q.get("scales", []), np.float64).ravel().tolist()
    zeros = np.asarray(q.get("zero_points", []), np.int64).ravel().tolist()
    return {
        "name": detail["name"],
        "dtype": np.dtype(detail["dtype"]).name,
        "shape": [int(s) for s in detail["shape_signature"]],
        "scale": scales[0] if len(scales) == 1 else scales or None,
        "zero_point": zeros[0] if len(zeros) == 1 else zeros or None,
    }


class TFLiteRunner:
    """Runs a TFLite JND model on network inputs with the LiteRT interpreter.

    Quantizes float input and dequantizes int output when the model has integer I/O, and resizes
    the input tensor of a dynamic-shape model to each input's H, W.

    Args:
        path: the ``.tflite`` file.
        num_threads: interpreter threads.
    """

    def __init__(self, path: str | os.PathLike, num_threads: int = 2):
        self.path = Path(path)
        self.interpreter = interpreter_class()(model_path=str(self.path), num_threads=num_threads)
        allocate(self.interpreter)  # a dynamic model at a sane size first, not LiteRT's 1x1
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        sig = [int(s) for s in self.input["shape_signature"]]
        self.dynamic = sig[1] == -1 or sig[2] == -1
        self.fixed_size = None if self.dynamic else (sig[1], sig[2])
        self._shape = tuple(int(s) for s in self.input["shape"])

    def io_details(self) -> dict:
        """Name, dtype, shape signature, scale and zero point of the input and output tensors."""
        return {"input": _qparams(self.input), "output": _qparams(self.output)}

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """``(1, H, W, C)`` float32 network input -> ``(1, H, W, C_out)`` float32 map."""
        x = np.asarray(x, np.float32)
        if x.ndim != 4 or x.shape[0] != 1:
            raise ValueError(f"input must be (1, H, W, C), got {x.shape}")
        if self.fixed_size is not None and tuple(x.shape[1:3]) != self.fixed_size:
            raise ValueError(
                f"{self.path.name} was exported at the fixed size {self.fixed_size}; got an input "
                f"of {tuple(x.shape[1:3])} (export with input_size=None for dynamic H, W)"
            )
        if self.dynamic and tuple(x.shape) != self._shape:
            self.interpreter.resize_tensor_input(self.input["index"], list(x.shape))
            self.interpreter.allocate_tensors()
            self.input = self.interpreter.get_input_details()[0]
            self.output = self.interpreter.get_output_details()[0]
            self._shape = tuple(x.shape)
        dtype = np.dtype(self.input["dtype"])
        if dtype != np.float32:
            scale, zero = self.input["quantization"]
            info = np.iinfo(dtype)
            x = np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)
        self.interpreter.set_tensor(self.input["index"], x)
        self.interpreter.invoke()
        y = self.interpreter.get_tensor(self.output["index"])
        if np.dtype(self.output["dtype"]) != np.float32:
            scale, zero = self.output["quantization"]
            y = (y.astype(np.float32) - zero) * scale
        return np.asarray(y, np.float32)


__all__ = [
    "COMPARISON_OPS",
    "DEGENERATE_FRACTION",
    "RANGE_FLOOR_FRACTION",
    "WEIGHTED_OPS",
    "TFLiteRunner",
    "convert_model",
    "convert_saved_model",
    "export_saved_model",
    "float_nodes",
    "layer_of_tensor",
    "widen_degenerate_ranges",
]
