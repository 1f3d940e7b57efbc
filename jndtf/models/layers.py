"""Keras layers and functions that more than one model family uses.

- :func:`resize_like` / :class:`ResizeLike`: ``[x, ref] -> x`` resized to ref's H, W (ACoL-JND's
  Up1/Up2, every resize of the PoolNet saliency net).

Tensors are NHWC. Under the TensorFlow backend :func:`resize_like` calls
``tf.image.resize(x, tf.shape(ref)[1:3])``, because in Keras 3.15.1 ``keras.ops.image.resize``
and ``UpSampling2D(interpolation="bilinear")`` fail to trace with symbolic height and width
(DESIGN.md, "Dynamic H,W"); that call converts to TFLite with a ``[1, -1, -1, C]`` signature.
Other backends (JAX) use ``keras.ops.image.resize`` with the concrete shape of `ref`. Both are
bilinear with half-pixel centres and no antialiasing.

The layers are registered as ``"jndtf>ClassName"`` (``register_keras_serializable(package=
"jndtf")``), the names the shipped ``.keras`` files hold: moving a layer between modules must
keep its package and class name. Family-specific layers stay in the family's folder
(``jndtf/models/acol/layers.py``, which re-exports these).

Example:
    >>> up = resize_like(i8, x)                    # i8 resized to x's H, W
"""

from __future__ import annotations

import keras
from keras import layers, ops

#: Interpolations :func:`resize_like` accepts (the same names in keras.ops and tf.image).
INTERPOLATIONS = ("bilinear", "nearest")


def _shape(s) -> tuple:
    return tuple(s) if s is not None else ()


def _check_nhwc(layer: str, shape, what: str = "input") -> tuple:
    shape = _shape(shape)
    if len(shape) != 4:
        raise ValueError(f"{layer} expects an NHWC (rank-4) {what}, got shape {shape}")
    return shape


def _check_pair(layer: str, input_shape, names: str) -> tuple[tuple, tuple]:
    if (
        not isinstance(input_shape, (list, tuple))
        or len(input_shape) != 2
        or not all(isinstance(s, (list, tuple)) for s in input_shape)
    ):
        raise ValueError(f"{layer} expects two inputs [{names}], got input shape {input_shape}")
    a, b = (_check_nhwc(layer, s) for s in input_shape)
    return a, b


# --------------------------------------------------------------------------- functions


def resize_like(x, ref, interpolation: str = "bilinear"):
    """Resizes NHWC `x` to the height and width of NHWC `ref` (Up1 and Up2 of Fig. 1).

    Args:
        x: ``(N, h, w, C)`` tensor.
        ref: ``(N, H, W, *)`` tensor whose spatial size is the target (only its shape is used).
        interpolation: ``"bilinear"`` (Table 1) or ``"nearest"``.

    Returns:
        ``(N, H, W, C)`` tensor, the dtype of `x`.

    Example:
        >>> y = resize_like(np.ones((1, 11, 12, 3), "float32"), np.ones((1, 44, 45, 6)))
        >>> tuple(y.shape)
        (1, 44, 45, 3)
    """
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf  # the documented exception: dynamic H, W under TF (DESIGN.md)

        x = tf.convert_to_tensor(x)
        out = tf.image.resize(x, tf.shape(ref)[1:3], method=interpolation)
        return ops.cast(out, x.dtype)
    shape = ops.shape(ref)
    out = ops.image.resize(
        x, (int(shape[1]), int(shape[2])), interpolation=interpolation, data_format="channels_last"
    )
    return ops.cast(out, x.dtype)


# --------------------------------------------------------------------------- layers


@keras.saving.register_keras_serializable(package="jndtf")
class ResizeLike(layers.Layer):
    """``[x, ref] -> x`` resized to ref's H, W (:func:`resize_like`): Up1 and Up2 of Fig. 1.

    Works with dynamic H, W (a ``[1, -1, -1, C]`` TFLite signature) under TensorFlow, and with
    ``keras.ops`` under JAX.

    Args:
        interpolation: ``"bilinear"`` (Table 1) or ``"nearest"``.
        **kwargs: standard :class:`keras.layers.Layer` arguments.

    Example:
        >>> up = ResizeLike(name="up2")
        >>> y = up([i8, x])                           # (N, H, W, 3) from (N, H/4, W/4, 3)
    """

    def __init__(self, interpolation: str = "bilinear", **kwargs):
        super().__init__(**kwargs)
        if interpolation not in INTERPOLATIONS:
            raise ValueError(
                f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}"
            )
        self.interpolation = interpolation

    def build(self, input_shape):
        _check_pair(type(self).__name__, input_shape, "x, ref")
        self.built = True

    def call(self, inputs):
        x, ref = inputs
        return resize_like(x, ref, self.interpolation)

    def compute_output_shape(self, input_shape):
        x, ref = _check_pair(type(self).__name__, input_shape, "x, ref")
        return (x[0], ref[1], ref[2], x[3])

    def get_config(self):
        config = super().get_config()
        config.update({"interpolation": self.interpolation})
        return config


__all__ = ["INTERPOLATIONS", "ResizeLike", "resize_like"]
