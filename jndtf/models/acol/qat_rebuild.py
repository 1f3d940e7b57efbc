"""ACoL-JND rebuilt with ``tf_keras`` from :func:`~jndtf.models.acol.qat_describe.describe_acol`
(the family's ``qat_rebuild`` export hook, :class:`jndtf.models.registry.ExportHooks`).

tensorflow-model-optimization 0.8.1 only accepts ``tf_keras`` models (DESIGN.md; tfmot#1119), so
the QAT worker rebuilds the network of :func:`jndtf.models.acol.build_acol` layer for layer:
the same Conv2D (3x3, 'same', bias) + LeakyReLU stacks, and the four non-convolutional layers
of Fig. 1 (Up1/Up2, the §3.4 threshold, the erasing of eq. (2), the JND output) as ``tf_keras``
layers whose ``call()`` runs the very functions of :mod:`jndtf.models.acol.layers` (only the
base class differs, so there is one definition of the maths).
:func:`jndtf.export.qat.rebuild.load_weights` copies the
trained weights by layer name; the worker checks the rebuilt float model against the Keras 3
model's maps before any QAT step.

Imports ``tf_keras`` (and Keras 3 for the shared functions): import it only in the QAT worker
process (:mod:`jndtf.export.qat.worker`), never in the main process.

Example:
    >>> model = build_tf_keras_acol(arch)               # arch = describe_acol(keras3_model)
    >>> load_weights(model, weights)                    # weights = weights_of(keras3_model)
    >>> jnd = model(x)                                  # (1, H, W, 3), pixel values 0..255
"""

from __future__ import annotations

import tf_keras

from jndtf.models.acol import layers as shared


class ResizeLike(tf_keras.layers.Layer):
    """``[x, ref] -> x`` resized to ref's H, W: Up1/Up2 (:func:`jndtf.models.acol.resize_like`).

    Example:
        >>> y = ResizeLike(name="up2")([i8, inputs])
    """

    def __init__(self, interpolation: str = "bilinear", **kwargs):
        super().__init__(**kwargs)
        if interpolation not in shared.INTERPOLATIONS:
            raise ValueError(
                f"interpolation must be one of {shared.INTERPOLATIONS}, got {interpolation!r}"
            )
        self.interpolation = interpolation

    def call(self, inputs):
        x, ref = inputs
        return shared.resize_like(x, ref, self.interpolation)

    def get_config(self):
        return {**super().get_config(), "interpolation": self.interpolation}


class MeanThresholdMask(tf_keras.layers.Layer):
    """``i4 -> i5 = [i4 > mean_hw(i4)]`` (§3.4, :func:`jndtf.models.acol.mean_threshold_mask`).

    Example:
        >>> i5 = MeanThresholdMask(name="threshold")(i4)
    """

    def call(self, inputs):
        return shared.mean_threshold_mask(inputs)


class Erase(tf_keras.layers.Layer):
    """``[i2, i5] -> i2 · (1 − i5)``, eq. (2) (:func:`jndtf.models.acol.erase`).

    Example:
        >>> i6 = Erase(name="erase")([i2, i5])
    """

    def call(self, inputs):
        features, mask = inputs
        return shared.erase(features, mask)


class ReflectPad(tf_keras.layers.Layer):
    """Mirror padding before a 'valid' conv (:func:`jndtf.models.acol.layers.reflect_pad`).

    Example:
        >>> y = ReflectPad(1, name="cnn1_pad1")(x)     # (N, H + 2, W + 2, C)
    """

    def __init__(self, pad: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.pad = int(pad)

    def call(self, inputs):
        return shared.reflect_pad(inputs, self.pad)

    def get_config(self):
        return {**super().get_config(), "pad": self.pad}


class JndOutput(tf_keras.layers.Layer):
    """``min(scale · act(x), max_value)``: the map in pixel values (:func:`jnd_output`).

    Example:
        >>> jnd = JndOutput(name="jnd")(up2)           # 0..255
    """

    def __init__(self, activation="abs", scale=255.0, max_value=255.0, **kwargs):
        super().__init__(**kwargs)
        if activation not in shared.OUTPUT_ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {shared.OUTPUT_ACTIVATIONS}, got {activation!r}"
            )
        self.activation = activation
        self.scale = float(scale)
        self.max_value = None if max_value is None else float(max_value)

    def call(self, inputs):
        # scale first: |s·x| = s·|x| and relu(s·x) = s·relu(x) for s > 0, the same map; in int8
        # the activation then sees the map's own range (0..255) instead of the raw 0..0.2, which
        # the TFLite converter gives ABS the output scale of the whole layer (measured: the
        # map collapsed to ~0, 28 dB) when the scale comes after it.
        return shared.jnd_output(inputs * self.scale, self.activation, 1.0, self.max_value)

    def get_config(self):
        return {
            **super().get_config(),
            "activation": self.activation,
            "scale": self.scale,
            "max_value": self.max_value,
        }


#: The custom layers, for ``quantize_scope`` / ``custom_object_scope``.
CUSTOM_LAYERS = {
    c.__name__: c for c in (ResizeLike, MeanThresholdMask, Erase, JndOutput, ReflectPad)
}


def _stack(prefix: str, spec, kernel_size: int, slope: float, wrap, reflect: bool) -> list:
    out = []
    for i, (filters, stride) in enumerate(spec, start=1):
        if reflect:
            out.append(wrap(ReflectPad((kernel_size - 1) // 2, name=f"{prefix}_pad{i}")))
        conv = tf_keras.layers.Conv2D(
            int(filters),
            kernel_size,
            strides=int(stride),
            padding="valid" if reflect else "same",
            name=f"{prefix}_conv{i}",
        )
        out.append(wrap(conv))
        out.append(wrap(tf_keras.layers.LeakyReLU(alpha=slope, name=f"{prefix}_lrelu{i}")))
    return out


def _apply(stack: list, x):
    for layer in stack:
        x = layer(x)
    return x


def build_tf_keras_acol(arch: dict, *, input_size=None, wrap=None) -> tf_keras.Model:
    """The ``tf_keras`` twin of :func:`jndtf.models.acol.build_acol` for description `arch`.

    Same graph as network.py: ``i2 = CNN1(x)``, ``i3 = A(i2)``, ``i4 = Up1(i3)``,
    ``i5 = [i4 > mean(i4)]``, ``i6 = i2 · (1 − i5)`` (eq. (2)), ``i7 = B(i6)``,
    ``i8 = CNN4(stack(i3, i7))``, ``x_j = min(255 · |Up2(i8)|, 255)``; without the
    complementary branch CNN4 takes i3 alone.

    Args:
        arch: :func:`jndtf.models.acol.qat_describe.describe_acol` data.
        input_size: ``(H, W)`` of the input, or None for dynamic H, W.
        wrap: called on every layer as it is created (e.g. ``quantize_annotate_layer`` with a
            per-layer config); identity by default.

    Returns:
        A ``tf_keras.Model``: input ``"inputs"`` ``(N, H, W, C)`` float32 0..1, output the JND
        map ``(N, H, W, 3)`` in pixel values 0..255; layer names as in the Keras 3 model.
    """
    wrap = wrap or (lambda layer: layer)
    k, slope = int(arch["kernel_size"]), float(arch["negative_slope"])
    reflect = arch.get("padding", "zeros") == "reflect"  # older descriptions: zero padding
    h, w = (None, None) if input_size is None else (int(input_size[0]), int(input_size[1]))
    inputs = tf_keras.Input((h, w, int(arch["channels"])), name="inputs")
    i2 = _apply(_stack("cnn1", arch["cnn1"], k, slope, wrap, reflect), inputs)
    branch_a = _stack("branch_a", arch["branch"], k, slope, wrap, reflect)
    i3 = _apply(branch_a, i2)
    if arch["complementary"]:
        interp = arch["interpolation"]
        i4 = wrap(ResizeLike(interp["up1"], name="up1"))([i3, i2])
        i5 = wrap(MeanThresholdMask(name="threshold"))(i4)
        i6 = wrap(Erase(name="erase"))([i2, i5])
        branch_b = (
            branch_a
            if arch["share_branches"]
            else _stack("branch_b", arch["branch"], k, slope, wrap, reflect)
        )
        i7 = _apply(branch_b, i6)
        features = wrap(tf_keras.layers.Concatenate(axis=-1, name="stack"))([i3, i7])
    else:
        features = i3
    i8 = _apply(_stack("cnn4", arch["cnn4"], k, slope, wrap, reflect), features)
    up2 = wrap(ResizeLike(arch["interpolation"]["up2"], name="up2"))([i8, inputs])
    jnd = wrap(JndOutput(**arch["jnd"], name="jnd"))(up2)
    return tf_keras.Model(inputs, jnd, name=f"{arch['name']}_tf_keras")


#: The rebuild protocol of :mod:`jndtf.export.qat` (``ExportHooks.qat_rebuild``): ``build``,
#: ``CUSTOM_LAYERS`` and ``QUANTIZE_CONFIGS``.
build = build_tf_keras_acol

#: How tfmot treats each custom layer, by layer name: ``"output"`` fake-quantizes the layer's
#: output; ``"noop"`` none (int8 RESIZE_BILINEAR keeps its input's scale, so the converter
#: carries the range through). Standard layers get tfmot's default 8-bit scheme.
QUANTIZE_CONFIGS = {
    "up1": "noop",
    "up2": "noop",
    "threshold": "output",
    "erase": "output",
    "jnd": "output",
    # reflection pads move values only: their output keeps the input's scale
    **{
        f"{s}_pad{i}": "noop"
        for s in ("cnn1", "branch_a", "branch_b", "cnn4")
        for i in range(1, 33)
    },
}


__all__ = [
    "CUSTOM_LAYERS",
    "QUANTIZE_CONFIGS",
    "Erase",
    "JndOutput",
    "MeanThresholdMask",
    "ReflectPad",
    "ResizeLike",
    "build",
    "build_tf_keras_acol",
]
