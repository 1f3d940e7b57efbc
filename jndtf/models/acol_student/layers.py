"""Layers of the ACoL-JND student that no other family uses.

- :func:`reflect_pad1` / :class:`SliceReflectPad`: 1-pixel reflection padding built from slices
  and concatenations.

Why not :class:`jndtf.models.acol.layers.ReflectPad` (``ops.pad(mode="reflect")``, TFLite
``MIRROR_PAD``): LiteRT runs ``MIRROR_PAD`` with its reference kernel outside the XNNPACK
delegate, which splits the graph into one delegate partition per conv; measured here on the int8
student at 640x360 (2 threads, shared CPU) ``invoke`` took 274 ms with ``MIRROR_PAD`` and 14 ms
with these slices. Slices and concatenations are XNNPACK ops, and a 1x1 input (the shape LiteRT
allocates a dynamic model with) gives an empty border instead of an error. The values are
``numpy.pad(x, mode="reflect")``'s for one pixel (the edge row/column is not repeated).

Example:
    >>> reflect_pad1(np.arange(3.0).reshape(1, 1, 3, 1))[0, 1, :, 0]
    [1, 0, 1, 2, 1]
"""

from __future__ import annotations

import keras
from keras import layers, ops


def reflect_pad1(x):
    """Pads H and W of an NHWC tensor by 1 pixel, mirrored without repeating the edge.

    ``[x[1], x[0], ..., x[H-1], x[H-2]]`` along H, then the same along W: equal to
    ``numpy.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")`` for H, W >= 2.

    Args:
        x: ``(N, H, W, C)`` tensor.

    Returns:
        ``(N, H + 2, W + 2, C)`` tensor.
    """
    x = ops.concatenate([x[:, 1:2], x, x[:, -2:-1]], axis=1)
    return ops.concatenate([x[:, :, 1:2], x, x[:, :, -2:-1]], axis=2)


@keras.saving.register_keras_serializable(package="jndtf")
class SliceReflectPad(layers.Layer):
    """:func:`reflect_pad1` as a layer: put before a 'valid' 3x3 conv, a flat input stays flat to
    the edge (no zero-padding lines along the border).

    Example:
        >>> y = SliceReflectPad(name="stem_pad")(x)      # (N, H + 2, W + 2, C)
    """

    def build(self, input_shape):
        shape = tuple(input_shape) if input_shape is not None else ()
        if len(shape) != 4:
            raise ValueError(f"SliceReflectPad expects an NHWC (rank-4) input, got shape {shape}")
        self.built = True

    def call(self, x):
        return reflect_pad1(x)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        return (n, None if h is None else h + 2, None if w is None else w + 2, c)


__all__ = ["SliceReflectPad", "reflect_pad1"]
