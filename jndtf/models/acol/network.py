"""The ACoL-JND generator (Yu, Jin, Meng, Chen & Zhang 2024, §3.1, Table 1, Fig. 1) in Keras 3.

See :func:`build_acol` for the reading of Table 1, the output scale and the input sizes.

Example:
    >>> model = build_acol("acol")                      # Table 1 widths, PM+CM+VA priors
    >>> x = acol_input(image)[None]                     # (1, H, W, 6), 0..1
    >>> jnd = model(x)                                  # (1, H, W, 3), pixel values 0..255
"""

from __future__ import annotations

import keras
from keras import layers

from jndtf.models.acol.layers import (
    OUTPUT_ACTIVATIONS,
    PADDINGS,
    Erase,
    InjectJnd,
    JndOutput,
    MeanThresholdMask,
    ReflectPad,
    ResizeLike,
)
from jndtf.models.acol.presets import DEFAULT_PRESET, get_preset, scaled, width_multiplier


def _conv_stack(
    prefix: str, filters, strides, kernel_size: int, slope: float, padding: str = "zeros"
) -> list:
    """Conv2D (3x3) + LeakyReLU pairs, created once so a stack can be applied twice.

    ``padding="zeros"``: the convs pad with zeros ('same'); ``"reflect"``: a
    :class:`ReflectPad` before each 'valid' conv (same output sizes, ``ceil(H / stride)``).
    """
    stack = []
    for i, (f, s) in enumerate(zip(filters, strides, strict=True), start=1):
        if padding == "reflect":
            stack.append(ReflectPad((kernel_size - 1) // 2, name=f"{prefix}_pad{i}"))
        conv = layers.Conv2D(
            int(f),
            kernel_size,
            strides=int(s),
            padding="valid" if padding == "reflect" else "same",
            name=f"{prefix}_conv{i}",
        )
        stack.append(conv)
        stack.append(layers.LeakyReLU(negative_slope=slope, name=f"{prefix}_lrelu{i}"))
    return stack


def _apply(stack: list, x):
    for layer in stack:
        x = layer(x)
    return x


def build_acol(
    preset: str = DEFAULT_PRESET,
    *,
    width: float | str = 1.0,
    complementary: bool | None = None,
    share_branches: bool | None = None,
    negative_slope: float | None = None,
    output_activation: str | None = None,
    jnd_scale: float | None = None,
    max_jnd: float | None = None,
    padding: str | None = None,
    name: str | None = None,
) -> keras.Model:
    """Builds ACoL-JND or one of its ablations as a functional Keras model.

    **Reading of Table 1** (../shared/notes/acol-table1.md; an interpretation, not a quote).
    Read literally, Table 1 and §3.1 disagree: CNN2 ends at 64 x 44 x 44 but Up1 takes
    32 x 44 x 44; the erasing needs i4 with i2's 32 channels; "CNN3" starts at 64 x 44 x 44 and
    numbers its layers 5 E-6 E, continuing CNN2's 1 E-4 E, yet the text feeds it i6
    (32 x 176 x 176); CNN4 takes 64 channels, the stack of i3 and i7. One reading makes every
    shape agree (H, W = input size; widths at ``width=1``):

    1. ``i2 = CNN1(i1)``: 4 convs 6 -> 8 -> 16 -> 16 -> 32, full resolution.
    2. ``i3 = A(i2)``: branch A = CNN2 1 E-4 E then 5 E-6 E: 32 -> 32 -> 64 (stride 2) -> 128
       -> 64 (stride 2) -> 32 -> 32; 32 x H/4 x W/4.
    3. ``i4 = Up1(i3)``: bilinear to H x W.
    4. ``i5 = [i4 > mean_hw(i4)]`` per image and channel (§3.4): the mask.
    5. ``i6 = i2 · (1 − i5)``: eq. (2), the erasing.
    6. ``i7 = B(i6)``: branch B = the same layer stack as A with its own weights (the
       conclusion's "two parallel convolutional networks", as ACoL's classifiers A and B);
       ``share_branches=True`` reuses A's weights instead.
    7. ``i8 = CNN4(stack(i3, i7))``: 64 -> 32 -> 16 -> 3 at H/4 x W/4.
    8. ``x_j = Up2(i8)``: bilinear to H x W, then the output step below.

    Every conv is 3x3 with a bias, followed by LReLU (§3.1, "a leaky rectified linear unit ...
    is used to activate each convolution layer"; slope 0.01). **Borders** (the paper does not
    say): ``padding="zeros"`` (the presets' default, as the shipped weights were trained) pads
    every conv with zeros; through 20 convs this reaches ~50 px into the map (a flat image gets
    a map from 0.3 to 15 grey levels, lines along the border, a frame). ``padding="reflect"``
    mirrors instead (:class:`~jndtf.models.acol.layers.ReflectPad`), so a flat image gives a
    flat map to the edge; ``jndtf train acol`` uses it by default.
    Presets without the complementary branch (``bl``, ``bl_pmcm``) skip steps 3-6 and feed i3
    alone to CNN4 (32 input channels); see :mod:`jndtf.models.acol.presets` for BL.

    **Output scale.** The input is normalized to 0..1 (:func:`jndtf.models.inputs.acol_input`),
    so the raw output is in 0..1 image units; ``JndOutput`` returns
    ``min(255 · |Up2(i8)|, 255)``: the JND map in pixel values 0..255, non-negative as eq. (7)'s
    ``λ · R · J`` expects (R carries the sign). ``|·|`` after Table 1's final LReLU keeps a
    gradient for negative pre-activations (ReLU would not); ``output_activation="relu"`` is the
    alternative. Training adds the map to the image, eq. (3): :func:`with_distorted_output`.

    **Gradients.** The mask is a step function behind ``stop_gradient``: branch A learns through
    i3 -> CNN4 only, branch B through i7, and CNN1 through both i3 and the un-erased part of i6,
    as in ACoL where the erased feature map feeds classifier B. Every trainable weight gets a
    gradient.

    **Input sizes.** Any H, W >= 1 (dynamic in the model and in its TFLite export). The two
    stride-2 convs give ``ceil(ceil(H/2)/2)`` rows; Up1 and Up2 resize to exactly H x W with
    ``tf.image.resize``'s half-pixel bilinear, so when H or W is not a multiple of 4 the coarse
    grid is stretched by ``4·ceil(H/4)/H`` (< 1 % at 720p, ~9 % at 33 px) instead of being padded
    and cropped. Pad the image to a multiple of 4 upstream where exact alignment matters.

    Args:
        preset: ``"acol"``, ``"bl"``, ``"bl_acol"`` or ``"bl_pmcm"``
            (:data:`jndtf.models.acol.presets.PRESETS`).
        width: width multiplier of the hidden layers, or ``"default"`` (1) / ``"tiny"`` (0.25).
        complementary: override: with (True) or without (False) Up1/threshold/erase/branch B.
        share_branches: override: branch B reuses branch A's layers.
        negative_slope: override: LReLU slope.
        output_activation: override: ``"abs"`` or ``"relu"``.
        jnd_scale: override: factor to pixel values (255).
        max_jnd: override: upper clip of the map in pixel values (a number; the preset's 255).
        padding: override: ``"zeros"`` or ``"reflect"`` border handling of the convs.
        name: model name (default: the preset's, ``_tiny`` added at width ``"tiny"``).

    Returns:
        A :class:`keras.Model` with input ``"inputs"`` ``(N, H, W, 3 + len(priors))`` float32
        in 0..1 (NHWC, H and W dynamic) and output ``(N, H, W, 3)`` float32 JND map in pixel
        values 0..255.

    Raises:
        KeyError: unknown preset.
        ValueError: bad width or settings.

    Example:
        >>> model = build_acol("acol", width="tiny")
        >>> model(np.zeros((1, 37, 50, 6), "float32")).shape
        TensorShape([1, 37, 50, 3])
    """
    cfg = get_preset(preset)
    overrides = {
        "complementary": complementary,
        "share_branches": share_branches,
        "negative_slope": negative_slope,
        "output_activation": output_activation,
        "jnd_scale": jnd_scale,
        "max_jnd": max_jnd,
        "padding": padding,
    }
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    if cfg["output_activation"] not in OUTPUT_ACTIVATIONS:
        raise ValueError(
            f"output_activation must be one of {OUTPUT_ACTIVATIONS}, "
            f"got {cfg['output_activation']!r}"
        )
    pad = cfg.get("padding", "zeros")
    if pad not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, got {pad!r}")
    if not float(cfg["negative_slope"]) >= 0:
        raise ValueError(f"negative_slope must be >= 0, got {cfg['negative_slope']}")
    w = width_multiplier(width)
    if len(cfg["branch_filters"]) != len(cfg["branch_strides"]):
        raise ValueError(
            f"branch_filters {cfg['branch_filters']} and branch_strides "
            f"{cfg['branch_strides']} differ in length"
        )
    cnn1 = [scaled(f, w) for f in cfg["cnn1_filters"]]
    branch = [scaled(f, w) for f in cfg["branch_filters"]]
    cnn4 = [scaled(f, w) for f in cfg["cnn4_filters"]] + [int(cfg["output_channels"])]
    if cfg["complementary"] and cnn1[-1] != branch[-1]:
        raise ValueError(
            f"the erasing needs i2 and i4 with equal channels: CNN1 ends at {cnn1[-1]}, the "
            f"branch at {branch[-1]}"
        )
    k = int(cfg["kernel_size"])
    slope = float(cfg["negative_slope"])
    channels = 3 + len(cfg["priors"])

    inputs = keras.Input((None, None, channels), name="inputs")
    i2 = _apply(_conv_stack("cnn1", cnn1, [1] * len(cnn1), k, slope, pad), inputs)
    branch_a = _conv_stack("branch_a", branch, cfg["branch_strides"], k, slope, pad)
    i3 = _apply(branch_a, i2)
    if cfg["complementary"]:
        i4 = ResizeLike(name="up1")([i3, i2])
        i5 = MeanThresholdMask(name="threshold")(i4)
        i6 = Erase(name="erase")([i2, i5])
        if cfg["share_branches"]:
            branch_b = branch_a
        else:
            branch_b = _conv_stack("branch_b", branch, cfg["branch_strides"], k, slope, pad)
        i7 = _apply(branch_b, i6)
        features = layers.Concatenate(axis=-1, name="stack")([i3, i7])
    else:
        features = i3
    i8 = _apply(_conv_stack("cnn4", cnn4, [1] * len(cnn4), k, slope, pad), features)
    up2 = ResizeLike(name="up2")([i8, inputs])
    jnd = JndOutput(
        activation=cfg["output_activation"],
        scale=float(cfg["jnd_scale"]),
        max_value=None if cfg["max_jnd"] is None else float(cfg["max_jnd"]),
        name="jnd",
    )(up2)
    if name is None:
        name = preset + ("_tiny" if width == "tiny" else "")
    return keras.Model(inputs, jnd, name=name)


def with_distorted_output(model: keras.Model, *, data_range: float = 255.0) -> keras.Model:
    """Wraps a JND model so it also returns ``x_d = x_o ⊕ x_j`` (eq. (3)) for training.

    Shares the layers (and weights) of `model`.

    Args:
        model: a model from :func:`build_acol` (input RGB in 0..1 first).
        data_range: factor from the input's RGB to pixel values.

    Returns:
        A model with outputs ``{"jnd": x_j, "distorted": x_d}``, both pixel values.

    Example:
        >>> train_model = with_distorted_output(build_acol("acol"))
        >>> out = train_model(x)
        >>> loss = aiqa_loss(255 * x[..., :3], out["distorted"])      # eq. (4)
    """
    inputs = model.inputs[0]
    jnd = model.outputs[0]
    distorted = InjectJnd(data_range=data_range, name="distorted")([inputs, jnd])
    return keras.Model(inputs, {"jnd": jnd, "distorted": distorted}, name=f"{model.name}_train")


__all__ = ["build_acol", "with_distorted_output"]
