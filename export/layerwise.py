"""Per-layer comparison of a TFLite export with its Keras model: where does int8 lose accuracy?

Each Keras layer's output is compared with the TFLite tensor that the same layer produced, on the
same network inputs: the error *accumulated* up to that layer, which is what the map finally
shows. The TFLite tensor of a layer is the output of the last op whose tensor name lies in the
layer's name scope (``.../cnn4_conv3_1/BiasAdd`` -> ``cnn4_conv3``) and whose shape matches; the
model output is matched to the layer that produces it. Integer tensors are dequantized with their
scale and zero point. The interpreter is LiteRT's default one (XNNPACK, as deployed) with every
intermediate tensor kept (``experimental_preserve_all_tensors``; its output is bit-identical to a
plain run's). LiteRT's reference kernels round int8 differently: up to 5 grey levels apart on the
shipped ACoL-JND's map, so compare files on the same runtime.

Per layer (pooled over the inputs):

- ``rmse`` and ``max_abs_err`` in the layer's own units, ``range`` = max - min of the Keras output;
- ``psnr_db`` = ``20·log10(range / rmse)``: the layer's PSNR with its own range as the peak, so
  layers of different scales compare (the last layer of a JND model: the map's PSNR with the peak
  its values reach, not 255);
- ``lost_db``: the PSNR of its worst input layer minus its own, i.e. what this layer added; the
  culprits of a broken export are the rows with a large ``lost_db`` (ACoL-JND's plain int8:
  ``threshold``, 43 dB, its 0/1 mask flipping, and ``jnd``, the output step, 18 dB; see
  :mod:`jndtf.export.quantization`). A layer that shrinks its range (an LReLU whose input is
  mostly negative) loses dB even in float, and a layer fed by a 0/1 mask shows a negative value:
  read ``lost_db`` together with ``dtype`` and the rows before it;
- ``steps``: ``rmse / scale`` of an int8 tensor (how many quantization steps the error spans).

Example:
    >>> rows = compare_layers("acol-tflite-int8.tflite", model, inputs)
    >>> print(format_table(rows))
    >>> worst = max(rows, key=lambda r: r.lost_db).layer        # the layer to keep in float
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class LayerError:
    """The accumulated error of one Keras layer's output in the TFLite model (module docstring).

    Attributes:
        layer: Keras layer name.
        op: TFLite op type whose output was compared.
        tensor: that TFLite tensor's name.
        dtype: its dtype in the TFLite model (``"int8"``: quantized; ``"float32"``: kept float).
        scale: its quantization scale (None for float).
        range: max - min of the Keras output over the inputs.
        rmse: root-mean-square error, the layer's units.
        max_abs_err: largest absolute error.
        psnr_db: ``20·log10(range / rmse)`` (inf when equal).
        lost_db: worst input layer's ``psnr_db`` minus this one (0 for the first layer).
        steps: ``rmse / scale`` for a quantized tensor, else None.
    """

    layer: str
    op: str
    tensor: str
    dtype: str
    scale: float | None
    range: float
    rmse: float
    max_abs_err: float
    psnr_db: float
    lost_db: float
    steps: float | None

    def to_dict(self) -> dict:
        """As plain data (JSON)."""
        return asdict(self)


def _input_layers(layer) -> list[str]:
    """Names of the layers feeding `layer` (functional model)."""
    tensors = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
    names = []
    for t in tensors:
        history = getattr(t, "_keras_history", None)
        if history is not None:
            names.append(history[0].name)
    return names


def _dequantize(value: np.ndarray, detail: dict) -> tuple[np.ndarray, float | None]:
    if np.dtype(detail["dtype"]) == np.float32:
        return value.astype(np.float32), None
    scale, zero = detail["quantization"]
    return (value.astype(np.float32) - zero) * scale, float(scale)


def _quantize_input(x: np.ndarray, detail: dict) -> np.ndarray:
    dtype = np.dtype(detail["dtype"])
    if dtype == np.float32:
        return x
    scale, zero = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)


def compare_layers(
    tflite_model: str | os.PathLike | bytes,
    keras_model,
    inputs: Sequence[np.ndarray],
    *,
    num_threads: int = 2,
) -> list[LayerError]:
    """Compares every Keras layer's output with its TFLite counterpart on `inputs`.

    Args:
        tflite_model: ``.tflite`` path or bytes converted from `keras_model` (any quantization,
            fixed input size matching `inputs`, or dynamic).
        keras_model: the functional Keras model it was converted from (single input/output).
        inputs: ``(1, H, W, C)`` float32 network inputs (real images, e.g. held-back crops).
        num_threads: interpreter threads.

    Returns:
        One :class:`LayerError` per Keras layer found in the TFLite graph, in the Keras model's
        layer order (layers folded away by the converter are left out).

    Raises:
        ValueError: no inputs, an input of the wrong rank, or no layer could be matched (not
            the model the file was converted from).
    """
    import keras
    from jndtf.export.tflite import layer_of_tensor

    from jndtf.litert import interpreter_class

    if not inputs:
        raise ValueError("compare_layers needs at least one network input")
    xs = [np.asarray(x, np.float32) for x in inputs]
    for x in xs:
        if x.ndim != 4 or x.shape[0] != 1:
            raise ValueError(f"inputs must be (1, H, W, C) arrays, got {x.shape}")
    source = (
        {"model_content": bytes(tflite_model)}
        if isinstance(tflite_model, bytes)
        else {"model_path": str(Path(tflite_model))}
    )
    with warnings.catch_warnings():  # "for debugging purposes only": that is what this is
        warnings.simplefilter("ignore", UserWarning)
        interp = interpreter_class()(
            **source, num_threads=int(num_threads), experimental_preserve_all_tensors=True
        )
    in_detail = interp.get_input_details()[0]
    out_index = interp.get_output_details()[0]["index"]
    layers = [  # layers with one output tensor (a split into several has no single match)
        lay
        for lay in keras_model.layers
        if not isinstance(lay, keras.layers.InputLayer)
        and not isinstance(lay.output, (list, tuple))
    ]
    probe = keras.Model(keras_model.inputs, [lay.output for lay in layers])
    out_layer = keras_model.outputs[0]._keras_history[0].name
    sums: dict[str, dict] = {}
    for x in xs:
        sig = [int(s) for s in in_detail["shape_signature"]]
        if -1 in sig[1:3]:
            interp.resize_tensor_input(in_detail["index"], list(x.shape))
        interp.allocate_tensors()
        in_detail = interp.get_input_details()[0]
        interp.set_tensor(in_detail["index"], _quantize_input(x, in_detail))
        interp.invoke()
        tensors = {t["index"]: t for t in interp.get_tensor_details()}
        produced = [
            (op["op_name"], int(o))
            for op in interp._get_ops_details()  # the op graph: no public API
            if op["op_name"] != "DELEGATE"
            for o in op["outputs"]
        ]
        keras_out = probe([x], training=False)
        keras_out = keras_out if isinstance(keras_out, (list, tuple)) else [keras_out]
        for layer, k in zip(layers, keras_out, strict=True):
            k = np.asarray(k, np.float32)
            match = None
            for op_name, idx in produced:
                t = tensors[idx]
                named = layer_of_tensor(t["name"], (layer.name,)) is not None or (
                    layer.name == out_layer and idx == out_index
                )
                if named and tuple(t["shape"]) == k.shape:
                    match = (op_name, t)
            if match is None:
                continue
            op_name, t = match
            value, scale = _dequantize(interp.get_tensor(t["index"]), t)
            acc = sums.setdefault(
                layer.name,
                {
                    "op": op_name,
                    "tensor": t["name"],
                    "dtype": np.dtype(t["dtype"]).name,
                    "scale": scale,
                    "sq": 0.0,
                    "n": 0,
                    "max": 0.0,
                    "lo": math.inf,
                    "hi": -math.inf,
                },
            )
            d = value.astype(np.float64) - k
            acc["sq"] += float(np.sum(d * d))
            acc["n"] += d.size
            acc["max"] = max(acc["max"], float(np.max(np.abs(d))))
            acc["lo"] = min(acc["lo"], float(k.min()))
            acc["hi"] = max(acc["hi"], float(k.max()))
    if not sums:
        raise ValueError(
            "no Keras layer matched a TFLite tensor: was the file converted from this model?"
        )
    psnr: dict[str, float] = {}
    rows = []
    for layer in layers:
        acc = sums.get(layer.name)
        if acc is None:
            continue
        rmse = math.sqrt(acc["sq"] / acc["n"])
        rng = acc["hi"] - acc["lo"]
        p = math.inf if rmse == 0 else 20 * math.log10(max(rng, 1e-30) / rmse)
        psnr[layer.name] = p
        before = [psnr[n] for n in _input_layers(layer) if n in psnr]
        lost = 0.0 if not before or math.isinf(p) else min(before) - p
        rows.append(
            LayerError(
                layer=layer.name,
                op=acc["op"],
                tensor=acc["tensor"],
                dtype=acc["dtype"],
                scale=acc["scale"],
                range=rng,
                rmse=rmse,
                max_abs_err=acc["max"],
                psnr_db=p,
                lost_db=lost,
                steps=None if acc["scale"] is None else rmse / acc["scale"],
            )
        )
    return rows


def compare_export(
    source,
    tflite_path: str | os.PathLike,
    *,
    images: Sequence[np.ndarray] | None = None,
    num: int = 2,
    seed: int = 1,
) -> list[LayerError]:
    """:func:`compare_layers` of an exported file against its source, on held-back crops.

    The crops are made like :func:`jndtf.export.export_model`'s parity inputs (priors on the
    crop, :func:`jndtf.export.parity.parity_images`) at the file's fixed input size (176x176 for
    a dynamic-shape file).

    Args:
        source: what the file was exported from, as for ``export_model``: a registered name
            (``"acol"``), a ``.keras`` path, ``SPEC:PATH`` or a ``LearnedJnd``.
        tflite_path: the ``.tflite`` file.
        images: uint8 RGB photos to crop (default: the held-back sample photo of the export,
            :data:`jndtf.export.quantization.PARITY_IMAGES`).
        num: number of crops.
        seed: seed of the crop positions.

    Example:
        >>> print(format_table(compare_export("acol", "out/acol-tflite-int8.tflite")))
    """
    from jndtf.export.parity import parity_images
    from jndtf.export.quantization import PARITY_IMAGES, load_images
    from jndtf.export.tflite import TFLiteRunner

    from jndtf.evaluate.learned import LearnedJnd, load_learned
    from jndtf.models.inputs import model_input

    learned = source if isinstance(source, LearnedJnd) else load_learned(source)
    runner = TFLiteRunner(tflite_path)
    size = runner.fixed_size or (176, 176)
    photos = load_images(None, PARITY_IMAGES) if images is None else load_images(images)

    def make_input(im):
        return model_input(
            im,
            learned.priors,
            normalization=learned.normalization,
            overrides=learned.prior_overrides,
        )

    _, inputs = parity_images(make_input, photos, size, num=num, seed=seed)
    return compare_layers(tflite_path, learned.model, inputs)


def format_table(rows: Sequence[LayerError]) -> str:
    """The rows as a fixed-width text table (one line per layer)."""
    head = f"{'layer':<18} {'op':<16} {'dtype':<7} {'range':>9} {'rmse':>9} {'psnr_db':>8} "
    head += f"{'lost_db':>8} {'steps':>6}"
    lines = [head, "-" * len(head)]
    for r in rows:
        steps = "" if r.steps is None else f"{r.steps:.2f}"
        lines.append(
            f"{r.layer:<18} {r.op:<16} {r.dtype:<7} {r.range:9.4g} {r.rmse:9.3g} "
            f"{r.psnr_db:8.2f} {r.lost_db:8.2f} {steps:>6}"
        )
    return "\n".join(lines)


__all__ = ["LayerError", "compare_export", "compare_layers", "format_table"]
