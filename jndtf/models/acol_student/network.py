"""The ACoL-JND student network in Keras 3 (layers and MACs: :mod:`.presets`).

Example:
    >>> model = build_acol_student()
    >>> x = model_input(image, ("pattern_masking", "contrast_masking", "saliency"))[None]
    >>> jnd = model(x)                                  # (1, H, W, 3), pixel values 0..255
"""

from __future__ import annotations

import keras
from keras import layers

from jndtf.models.acol.layers import JndOutput
from jndtf.models.acol_student.layers import SliceReflectPad
from jndtf.models.acol_student.presets import DEFAULT_PRESET, get_preset, layer_table
from jndtf.models.layers import ResizeLike


def build_acol_student(
    preset: str = DEFAULT_PRESET,
    *,
    width: float | str = 1.0,
    name: str | None = None,
) -> keras.Model:
    """Builds the ACoL-JND student as a functional Keras model.

    A three-level encoder (stride-2 3x3 convs to 1/8 of the input side), a decoder that
    resizes the coarser features to the finer level's size (:class:`ResizeLike`, bilinear,
    half-pixel), concatenates the skip, mixes with a 1x1 and a 3x3 conv, and a 3-channel conv at
    1/2 resolution resized to H x W. Each 3x3 conv is a 1-pixel
    :class:`~jndtf.models.acol_student.layers.SliceReflectPad` (slices: LiteRT's
    ``MIRROR_PAD`` runs outside XNNPACK) and a 'valid' conv, so the map of a flat image is flat
    to the edge and any H, W >= 2 works (stride 2 gives ``ceil(H / 2)`` rows; every resize goes
    to the exact size of its skip).
    Hidden activations are ReLU; the output is ``min(255 · |x|, 255)`` as ACoL-JND's
    (:class:`jndtf.models.acol.layers.JndOutput`), in pixel values.

    Args:
        preset: ``"acol_student"`` (:data:`jndtf.models.acol_student.presets.PRESETS`).
        width: width multiplier of the hidden layers, ``"default"`` (1) or ``"tiny"`` (0.5).
        name: model name (default: the preset's, ``_tiny`` added at width ``"tiny"``).

    Returns:
        :class:`keras.Model`: input ``"inputs"`` ``(N, H, W, 6)`` float32 in 0..1 (RGB / 255,
        then the priors / their full scale: :func:`jndtf.priors.inputs.model_input`), output
        ``(N, H, W, 3)`` float32 JND map in pixel values 0..255.

    Raises:
        KeyError: unknown preset.
        ValueError: bad width.

    Example:
        >>> build_acol_student()(np.zeros((1, 33, 45, 6), "float32")).shape
        TensorShape([1, 33, 45, 3])
    """
    cfg = get_preset(preset)
    table = {row[0]: row for row in layer_table(cfg, width)}

    def conv(x, lname, relu=True):
        _, k, _, cout, _ = table[lname]
        stride = 2 if lname.startswith("down") else 1
        if k == 3:
            x = SliceReflectPad(name=f"{lname}_pad")(x)
        elif k != 1:
            raise ValueError(f"{lname}: the student has 1x1 and 3x3 convs only, got {k}x{k}")
        x = layers.Conv2D(cout, k, strides=stride, padding="valid", name=lname)(x)
        return layers.ReLU(name=f"{lname}_relu")(x) if relu else x

    inputs = keras.Input((None, None, table["stem"][2]), name="inputs")
    x = conv(inputs, "stem")
    skips = {}
    for level in (1, 2, 3):
        x = conv(x, f"down{level}")
        for lname in (r for r in table if r[:3] in ("mid", "dee") and table[r][4] == level):
            x = conv(x, lname)
        skips[level] = x
    for level in (2, 1):
        up = ResizeLike(name=f"up{level}")([x, skips[level]])
        x = layers.Concatenate(axis=-1, name=f"skip{level}")([skips[level], up])
        x = conv(x, f"fuse{level}")
        x = conv(x, f"refine{level}")
    x = conv(x, "out", relu=False)
    x = ResizeLike(name="up0")([x, inputs])
    jnd = JndOutput(
        activation="abs",
        scale=float(cfg["jnd_scale"]),
        max_value=None if cfg["max_jnd"] is None else float(cfg["max_jnd"]),
        name="jnd",
    )(x)
    if name is None:
        name = preset + ("_tiny" if width == "tiny" else "")
    return keras.Model(inputs, jnd, name=name)


__all__ = ["build_acol_student"]
