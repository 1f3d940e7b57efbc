"""tfmot quantization-aware model of a family's ``tf_keras`` rebuild (its ``qat_rebuild``
export hook; ACoL-JND's is the example below), its ranges and its full-integer int8 TFLite
conversion.

What gets fake-quantized (int8, as the TFLite kernels will run it):

- Conv2D, LeakyReLU, Concatenate: tfmot's default 8-bit scheme (per-channel symmetric weights,
  asymmetric per-tensor activations), annotated with ``quantize_annotate_layer``;
- the custom layers of Fig. 1, inside ``quantize_scope``: the §3.4 threshold mask, the erasing
  of eq. (2) and the JND output get an output quantizer (:class:`OutputQuantizeConfig`); Up1
  and Up2 (bilinear resize) get none (:class:`NoOpQuantizeConfig`): TFLite's int8
  RESIZE_BILINEAR keeps its input's scale, so the converter carries the range through.

**Ranges before training.** tfmot starts every activation range at [-6, 6] and moves it by an
EMA with decay 0.999, far too slowly for a network whose last conv outputs ~0.03 (the map is
255 · that): an uncalibrated QAT model maps everything to 0. :func:`calibrate_ranges` sets every
activation range to the min/max of the float model's layer outputs over the calibration inputs
(what the PTQ calibrator measures), then one training-mode pass sets the weight ranges.

Imports tensorflow-model-optimization: the QAT worker process only.

Example:
    >>> qat = build_qat_model(arch, weights)
    >>> calibrate_ranges(qat, float_model, inputs)
    >>> tflite_bytes = convert_to_int8(qat, inputs, input_size=(176, 176), io_dtype="float32")
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_model_optimization as tfmot
import tf_keras
from jndtf.export.qat.rebuild import load_weights

_q = tfmot.quantization.keras


class NoOpQuantizeConfig(_q.QuantizeConfig):
    """No fake quantization in or after the layer (its output keeps its input's range)."""

    def get_weights_and_quantizers(self, layer):
        return []

    def get_activations_and_quantizers(self, layer):
        return []

    def set_quantize_weights(self, layer, quantize_weights):
        pass

    def set_quantize_activations(self, layer, quantize_activations):
        pass

    def get_output_quantizers(self, layer):
        return []

    def get_config(self):
        return {}


class OutputQuantizeConfig(NoOpQuantizeConfig):
    """int8 fake quantization of the layer's output (asymmetric, per tensor, EMA range)."""

    def get_output_quantizers(self, layer):
        return [
            _q.quantizers.MovingAverageQuantizer(
                num_bits=8, per_axis=False, symmetric=False, narrow_range=False
            )
        ]


#: A rebuild's ``QUANTIZE_CONFIGS`` values -> QuantizeConfig class (standard layers use
#: tfmot's defaults).
CONFIG_KINDS = {"noop": NoOpQuantizeConfig, "output": OutputQuantizeConfig}


def rebuild_module(path: str | None = None):
    """The family's rebuild module (``ExportHooks.qat_rebuild``): ``build(arch, *,
    input_size=None, wrap=None)``, ``CUSTOM_LAYERS``, ``QUANTIZE_CONFIGS``; None: the one
    family that registers QAT hooks (:func:`jndtf.export.qat.job_hooks`)."""
    import importlib

    from jndtf.export.qat import job_hooks

    return importlib.import_module(path or job_hooks({}).qat_rebuild)


def _scope(module):
    return _q.quantize_scope(
        {
            **module.CUSTOM_LAYERS,
            "NoOpQuantizeConfig": NoOpQuantizeConfig,
            "OutputQuantizeConfig": OutputQuantizeConfig,
        }
    )


def build_qat_model(
    arch: dict, weights: dict[str, np.ndarray], rebuild: str | None = None
) -> tf_keras.Model:
    """The quantization-aware network (dynamic H, W) with the trained weights.

    Args:
        arch: the family's ``qat_describe`` data (ACoL-JND:
            :func:`jndtf.models.acol.qat_describe.describe_acol`).
        weights: :func:`jndtf.export.qat.architecture.weights_of` arrays.
        rebuild: the family's rebuild module path (None: see :func:`rebuild_module`).

    Returns:
        A tfmot QAT ``tf_keras.Model``; its wrappers are named ``quant_<layer>``.
    """
    module = rebuild_module(rebuild)
    configs = {name: CONFIG_KINDS[kind] for name, kind in module.QUANTIZE_CONFIGS.items()}

    def annotate(layer):
        config = configs.get(layer.name)
        return _q.quantize_annotate_layer(layer, config() if config else None)

    with _scope(module):
        annotated = module.build(arch, wrap=annotate)
        load_weights(annotated, weights)
        return _q.quantize_apply(annotated)


def float_ranges(float_model: tf_keras.Model, inputs: np.ndarray, batch: int = 8) -> dict:
    """``layer name -> (min, max)`` of every layer output (and ``"inputs"``) over `inputs`,
    widened to contain 0 (TFLite's rule); a layer applied twice pools both outputs."""
    outs, names = [], []
    for layer in float_model.layers[1:]:
        for i in range(len(layer._inbound_nodes)):
            outs.append(layer.get_output_at(i))
            names.append(layer.name)
    probe = tf_keras.Model(float_model.inputs, outs)
    ranges = {"inputs": (min(0.0, float(inputs.min())), max(0.0, float(inputs.max())))}
    for start in range(0, len(inputs), batch):
        ys = probe(inputs[start : start + batch], training=False)
        for name, y in zip(names, ys, strict=True):
            lo, hi = ranges.get(name, (0.0, 0.0))
            ranges[name] = (min(lo, float(tf.reduce_min(y))), max(hi, float(tf.reduce_max(y))))
    return ranges


def calibrate_ranges(qat_model: tf_keras.Model, float_model: tf_keras.Model, inputs) -> int:
    """Sets the QAT model's activation ranges from the float model, then its weight ranges.

    Every ``*_min``/``*_max`` range variable of a wrapper ``quant_<layer>`` other than the
    kernel's gets ``<layer>``'s output min/max from :func:`float_ranges` (the input quantizer
    gets the input's); one training-mode forward pass on one input then sets the per-channel
    kernel ranges (tfmot's "last value" rule) and moves the activation EMAs by 0.1 % of that
    input's ranges.

    Returns:
        The number of activation range variables set.

    Raises:
        RuntimeError: a range variable whose layer has no float output (a rebuild mismatch).
    """
    inputs = np.asarray(inputs, np.float32)
    ranges = float_ranges(float_model, inputs)
    count = 0
    for layer in qat_model.layers:
        if layer.name == "quantize_layer":
            source = "inputs"
        elif hasattr(layer, "layer"):
            source = layer.layer.name
        else:
            continue
        for var in layer.non_trainable_weights:
            base = var.name.split("/")[-1].split(":")[0]
            if base.startswith("kernel") or not base.endswith(("_min", "_max")):
                continue
            if source not in ranges:
                raise RuntimeError(f"no float output for range variable {var.name}")
            value = ranges[source][0 if base.endswith("_min") else 1]
            var.assign(tf.fill(tf.shape(var), tf.cast(value, var.dtype)))
            count += 1
    qat_model(inputs[:1], training=True)
    return count


def convert_to_int8(
    qat_model: tf_keras.Model,
    representative: np.ndarray,
    *,
    input_size: tuple[int, int] | None,
    io_dtype: str = "float32",
) -> bytes:
    """Full-integer int8 TFLite (TFLITE_BUILTINS_INT8) of the QAT model.

    The fake-quant ranges learnt in training are used where they exist; the representative
    inputs only fill the tensors tfmot leaves without one (e.g. the resize outputs).

    Args:
        qat_model: from :func:`build_qat_model`, fine-tuned.
        representative: ``(N, H, W, C)`` float32 network inputs.
        input_size: fixed ``(H, W)`` of the exported input, or None for ``[1, -1, -1, C]``.
        io_dtype: ``"float32"``, ``"int8"`` or ``"uint8"`` input/output tensors.

    Returns:
        The ``.tflite`` flatbuffer.
    """
    channels = int(qat_model.inputs[0].shape[-1])
    h, w = (None, None) if input_size is None else (int(input_size[0]), int(input_size[1]))
    fn = tf.function(lambda x: qat_model(x, training=False))
    concrete = fn.get_concrete_function(tf.TensorSpec([1, h, w, channels], tf.float32))
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], qat_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    reps = np.asarray(representative, np.float32)
    converter.representative_dataset = lambda: ([reps[i : i + 1]] for i in range(len(reps)))
    if io_dtype != "float32":
        dtype = {"int8": tf.int8, "uint8": tf.uint8}[io_dtype]
        converter.inference_input_type = dtype
        converter.inference_output_type = dtype
    return converter.convert()


__all__ = [
    "CONFIG_KINDS",
    "NoOpQuantizeConfig",
    "OutputQuantizeConfig",
    "build_qat_model",
    "calibrate_ranges",
    "convert_to_int8",
    "float_ranges",
    "rebuild_module",
]
