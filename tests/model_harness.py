"""Helpers of the shared model test suite (tests/test_model_harness.py).

Every check here works from the Keras model and its :class:`jndtf.models.registry.ModelSpec`
alone, never from a family's name, so a new family passes through the same checks by
registering itself. The checks follow keras-hub's ``TestCase.run_layer_test`` /
``run_model_saving_test`` / ``run_litert_export_test``: shape and dtype of a small call, a
gradient step, config and ``.keras`` round trips, LiteRT fp32 export parity; plus JAX = TF.

Inputs are random float32 in 0..1 (the ``unit`` normalization of the map families; the A-IQA
classifier, made for 0..255, runs on them just as well for shape, gradient and parity checks);
a model with several inputs (a dict of named Keras inputs) gets one array per input.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

#: ``output_kind`` values whose output is a map the size of the input, (N, H, W, C).
MAP_KINDS = frozenset({"jnd_map", "dmv_jnd", "image", "saliency"})

#: Value range each map kind promises (jndtf.models.registry.OUTPUT_KINDS' descriptions):
#: a JND map is in pixel values 0..255, a saliency map a probability 0..1.
KIND_RANGES = {"jnd_map": (0.0, 255.0), "saliency": (0.0, 1.0)}


def is_map(spec) -> bool:
    """True where the model outputs an input-sized map (N, H, W, output_channels)."""
    return spec.output_kind in MAP_KINDS


def make_inputs(model, h: int, w: int, n: int = 1, seed: int = 0):
    """Random 0..1 float32 inputs for `model` at h x w: one array, or a dict for named inputs."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for tensor in model.inputs:
        channels = int(tensor.shape[-1])
        arrays[tensor.name] = rng.random((n, h, w, channels), dtype=np.float32)
    if len(arrays) == 1:
        return next(iter(arrays.values()))
    return arrays


def modality_inputs(spec, h: int, w: int, seed: int = 0) -> dict:
    """Keyword arguments ``spec.make_input`` needs beyond the image, from the spec's
    ``modalities``: ``cam`` (DMV-JND-NET's merged CAM map) as a random (h, w) map in 0..1."""
    rng = np.random.default_rng(seed)
    return {"cam": rng.random((h, w), dtype=np.float32)} if "cam" in spec.modalities else {}


def first(x) -> np.ndarray:
    """The first array of a model output (a tensor, a list or a dict of them) as numpy."""
    if isinstance(x, dict):
        x = x[sorted(x)[0]]
    elif isinstance(x, list | tuple):
        x = x[0]
    return np.asarray(x)


def gradient_report(model, inputs, seed: int = 1) -> tuple[list[str], list[str]]:
    """Gradients of ``Σ_outputs mean((y - t)²)`` (random targets t) for every trainable weight, in
    training mode. A non-linear loss on purpose: the gradient of a loss linear in a batch
    norm's output vanishes for the weights before it (the normalization removes the shift).

    Returns:
        (``missing``, ``bad``): paths of weights with no gradient, and of weights whose
        gradient is non-finite or zero everywhere.
    """
    import tensorflow as tf
    from keras import tree

    x = {k: tf.constant(v) for k, v in inputs.items()} if isinstance(inputs, dict) else inputs
    rng = np.random.default_rng(seed)
    with tf.GradientTape() as tape:
        loss = 0.0
        for y in tree.flatten(model(x, training=True)):  # every output of the model
            target = rng.random(tuple(y.shape), dtype=np.float32)
            loss += tf.reduce_mean(tf.square(tf.cast(y, tf.float32) - target))
    grads = tape.gradient(loss, model.trainable_weights)
    missing, bad = [], []
    for weight, grad in zip(model.trainable_weights, grads, strict=True):
        if grad is None:
            missing.append(weight.path)
            continue
        g = np.asarray(tf.convert_to_tensor(grad))
        if not np.isfinite(g).all() or not np.any(g != 0):
            bad.append(weight.path)
    return missing, bad


def export_litert_fp32(model, out_dir: Path) -> bytes:
    """The model as an fp32 ``.tflite`` with dynamic H, W (Keras 3 ``export`` to a SavedModel,
    then the TFLite converter, builtins only: pitfalls.md, keras-team/keras#19108)."""
    import tensorflow as tf

    saved = Path(out_dir) / "saved"
    model.export(str(saved), format="tf_saved_model", verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter.convert()


def run_litert(interp, inputs) -> np.ndarray:
    """Runs a LiteRT interpreter on `inputs` (one array or a dict matched by input name),
    resizing its inputs to theirs; returns the first output."""
    details = interp.get_input_details()
    if isinstance(inputs, dict):
        arrays = []
        for d in details:
            match = [v for k, v in inputs.items() if k in d["name"]]
            if len(match) != 1:
                raise AssertionError(f"LiteRT input {d['name']!r} matches {len(match)} inputs")
            arrays.append(match[0])
    else:
        arrays = [inputs]
    for d, a in zip(details, arrays, strict=True):
        interp.resize_tensor_input(d["index"], list(a.shape))
    interp.allocate_tensors()
    for d, a in zip(details, arrays, strict=True):
        interp.set_tensor(d["index"], a)
    interp.invoke()
    return interp.get_tensor(interp.get_output_details()[0]["index"])


def conv_macs_per_pixel(model, inputs) -> float:
    """Multiply-accumulates per input pixel of every Conv2D and DepthwiseConv2D of `model`
    (each call of a layer counted), from the output sizes of one run on `inputs`:
    ``prod(kernel shape)`` per output pixel; a Conv2DTranspose costs ``prod(kernel shape)``
    per pixel of its *input* (each input pixel writes one kernel-sized block). Dense layers,
    pools, resizes and activations are left out, as the families' own ``macs_per_pixel``
    counts leave them out."""
    import keras

    counted, outputs = [], []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D | keras.layers.DepthwiseConv2D):
            for node in layer._inbound_nodes:
                counted.append(int(np.prod(layer.kernel.shape)))
                outputs.append(node.output_tensors[0])
        elif isinstance(layer, keras.layers.Conv2DTranspose):  # the kernel per INPUT pixel
            for node in layer._inbound_nodes:
                counted.append(int(np.prod(layer.kernel.shape)))
                outputs.append(node.input_tensors[0])
    probe = keras.Model(model.input, outputs)
    x = next(iter(inputs.values())) if isinstance(inputs, dict) else inputs
    pixels = x.shape[1] * x.shape[2]
    total = sum(k * y.shape[1] * y.shape[2] for k, y in zip(counted, probe(inputs), strict=True))
    return total / pixels


def layer_classes(model) -> set[str]:
    """``module.Class`` of every layer inside the model (nested ones included)."""
    return {
        f"{type(layer).__module__}.{type(layer).__qualname__}"
        for layer in model._flatten_layers(include_self=False)
    }


def jndtf_modules(model) -> list[str]:
    """The jndtf modules that define the model's layer classes: what a fresh process must
    import so ``load_model`` finds the registered serializables."""
    mods = {type(layer).__module__ for layer in model._flatten_layers(include_self=False)}
    return sorted(m for m in mods if m.split(".")[0] == "jndtf")


def have_jax() -> bool:
    return importlib.util.find_spec("jax") is not None


_JAX_SCRIPT = textwrap.dedent(
    """
    import importlib, sys
    import numpy as np
    import keras
    assert keras.backend.backend() == "jax", keras.backend.backend()
    model_path, x_path, y_path, modules = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    for m in modules:  # registers the custom layers
        importlib.import_module(m)
    # Loading builds every layer, and JAX compiles each random initializer once per kernel
    # shape (seconds each on a busy CPU) for values the file's weights then replace.
    zeros = lambda self, shape, dtype=None: keras.ops.zeros(shape, dtype=dtype)
    for cls in (keras.initializers.GlorotUniform, keras.initializers.HeUniform,
                keras.initializers.HeNormal, keras.initializers.GlorotNormal):
        cls.__call__ = zeros
    import jax
    model = keras.saving.load_model(model_path)
    data = np.load(x_path)
    x = data["x"] if "x" in data.files else {k: data[k] for k in data.files}
    # One XLA compile of the whole graph is faster than eager JAX's compile per op.
    run = jax.jit(lambda tv, ntv, x: model.stateless_call(tv, ntv, x)[0])
    tv = [v.value for v in model.trainable_variables]
    ntv = [v.value for v in model.non_trainable_variables]
    y = run(tv, ntv, x)
    y = y[sorted(y)[0]] if isinstance(y, dict) else y
    np.save(y_path, np.asarray(y))
    """
)


def run_in_jax(model_path: Path, inputs, modules: list[str], workdir: Path, timeout: int = 600):
    """Loads `model_path` under ``KERAS_BACKEND=jax`` in a subprocess and returns its output on
    `inputs`; raises AssertionError with the subprocess's stderr tail when it fails."""
    x_path, y_path = Path(workdir) / "x.npz", Path(workdir) / "y.npy"
    if isinstance(inputs, dict):
        np.savez(x_path, **inputs)
    else:
        np.savez(x_path, x=inputs)
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run(
        [sys.executable, "-c", _JAX_SCRIPT, str(model_path), str(x_path), str(y_path), *modules],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    if proc.returncode != 0:
        raise AssertionError(f"JAX subprocess failed:\n{proc.stderr[-3000:]}")
    return np.load(y_path)
