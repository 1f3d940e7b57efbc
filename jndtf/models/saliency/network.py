"""A compact PoolNet (Liu, Hou, Cheng, Feng & Jiang, CVPR 2019) in Keras 3: salient-object
detection, the visual-attention prior f_va of ACoL-JND (its ref. [33]).

See :func:`build_poolnet` for the structure and where it departs from the paper.

Example:
    >>> model = build_poolnet("poolnet_small")
    >>> s = model(rgb[None] / 255.0)           # (1, H, W, 1), saliency probability 0..1
"""

from __future__ import annotations

import keras
from keras import layers

from jndtf.models.layers import ResizeLike
from jndtf.models.saliency.presets import DEFAULT_PRESET, check_preset, get_preset

#: Name of the layer that outputs the logits at input resolution (training uses them).
LOGITS_LAYER = "logits"

#: Name of the output layer (sigmoid).
OUTPUT_LAYER = "saliency"


#: Batch-norm momentum of the moving statistics: PyTorch's default (0.1 update), as PoolNet's
#: code; Keras' 0.99 leaves them near their initial values after a short run.
BN_MOMENTUM = 0.9


def _conv_bn(x, filters, kernel, stride, prefix, *, act=True):
    x = layers.Conv2D(
        filters, kernel, strides=stride, padding="same", use_bias=False, name=f"{prefix}_conv"
    )(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{prefix}_bn")(x)
    if act:
        x = layers.ReLU(max_value=6.0, name=f"{prefix}_relu6")(x)
    return x


def _inverted_residual(x, cin: int, cout: int, stride: int, expansion: int, k: int, prefix: str):
    """MobileNetV2 block: 1x1 expand (ReLU6), kxk depthwise (ReLU6), 1x1 linear projection;
    a residual connection when the shape is kept."""
    y = x
    hidden = cin * expansion
    if expansion != 1:
        y = _conv_bn(y, hidden, 1, 1, f"{prefix}_expand")
    y = layers.DepthwiseConv2D(
        k, strides=stride, padding="same", use_bias=False, name=f"{prefix}_dw_conv"
    )(y)
    y = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{prefix}_dw_bn")(y)
    y = layers.ReLU(max_value=6.0, name=f"{prefix}_dw_relu6")(y)
    y = _conv_bn(y, cout, 1, 1, f"{prefix}_project", act=False)
    if stride == 1 and cin == cout:
        y = layers.Add(name=f"{prefix}_add")([x, y])
    return y


def _conv(x, filters, kernel, name, *, relu=False):
    x = layers.Conv2D(filters, kernel, padding="same", name=name)(x)
    return layers.ReLU(name=f"{name}_relu")(x) if relu else x


def _fam(x, channels: int, windows, k: int, prefix: str):
    """§3.2 FAM, first half: ``ReLU(x + Σ_w Up(conv_kxk(AvgPool_w(x))))`` at x's size."""
    terms = [x]
    for w in windows:
        y = layers.AveragePooling2D(w, strides=w, padding="same", name=f"{prefix}_pool{w}")(x)
        y = _conv(y, channels, k, f"{prefix}_pool{w}_conv")
        terms.append(ResizeLike(name=f"{prefix}_pool{w}_up")([y, x]))
    return layers.ReLU(name=f"{prefix}_relu")(layers.Add(name=f"{prefix}_sum")(terms))


def build_poolnet(
    preset: str = DEFAULT_PRESET,
    *,
    input_shape: tuple = (None, None, 3),
    name: str | None = None,
) -> keras.Model:
    """Builds the compact PoolNet saliency network as a functional Keras model.

    **Structure** (Liu et al., CVPR 2019, Fig. 2; widths in :mod:`~jndtf.models.saliency.presets`):

    1. *Encoder* (replaces PoolNet's pretrained VGG/ResNet, which cannot be downloaded here):
       a 3x3 stride-2 stem and four stages of MobileNetV2 inverted-residual blocks, each stage
       starting with stride 2, giving features C2..C5 at 1/4, 1/8, 1/16 and 1/32 of the input.
    2. *Laterals*: 1x1 conv + ReLU on C2..C5 to the decoder widths (PoolNet's "convert" layers).
    3. *Global Guidance Module*, §3.1: a pyramid pooling module on the top lateral: the feature
       itself, its global average and average pools of ``ppm_windows`` feature pixels, each
       branch 1x1 conv + ReLU, upsampled (bilinear) back and concatenated, then 3x3 conv + ReLU.
       The *global guiding flows* carry this map to every finer level: bilinear resize to the
       level, 3x3 conv + ReLU to the level's width.
    4. *Top-down path with Feature Aggregation Modules*, §3.2, coarse to fine: at each level,
       ``r = ReLU(m + Σ_w Up(conv3x3(AvgPool_w(m))))`` (windows 2, 4, 8), resized to the next
       finer level, 3x3 conv (``conv_sum``), then ``m' = conv3x3(r + lateral + guidance)``
       (``conv_sum_c``), as PoolNet's ``DeepPoolLayer``; the last FAM ends with ``conv_sum``.
    5. *Score*: 1x1 conv to one channel at 1/4 resolution, bilinear resize to the input size
       (layer ``"logits"``), sigmoid (layer ``"saliency"``).

    **Departures from the paper**, all forced by edge deployment or offline training: the
    encoder (above); the GGM's adaptive 3x3 / 5x5 bins become fixed pool windows so H, W stay
    dynamic (presets module); bilinear resizes use half-pixel centres (``tf.image.resize``)
    instead of PyTorch's ``align_corners=True``; convs of the decoder carry a bias; the joint
    edge-detection branch of §3.3 is left out (PoolNet reports it as an optional extra).
    Every resize goes through :class:`jndtf.models.layers.ResizeLike`, so the model
    converts to TFLite with a ``[1, -1, -1, 3]`` input.

    **Input sizes.** Any H, W >= 1. Strided convs and pools use 'same' padding (``ceil``
    sizes, padded pixels excluded from the averages), and every resize targets the exact size
    of a finer feature or of the input, so odd sizes need no padding; H, W multiples of 32 keep
    the feature grids aligned with the image.

    Args:
        preset: ``"poolnet_tiny"`` or ``"poolnet_small"`` (:data:`~.presets.PRESETS`).
        input_shape: ``(H, W, 3)``; None for a dynamic side (default both), or fixed integers
            for a fixed-shape export.
        name: model name (default: the preset's).

    Returns:
        A :class:`keras.Model`: input ``"inputs"`` ``(N, H, W, 3)`` float32 RGB in 0..1 (NHWC),
        output ``(N, H, W, 1)`` float32 saliency probability in 0..1 (1 = salient object).

    Raises:
        KeyError: unknown preset.
        ValueError: an input shape that is not ``(H, W, 3)`` with positive or None sides.

    Example:
        >>> model = build_poolnet("poolnet_tiny")
        >>> model(np.zeros((1, 37, 50, 3), "float32")).shape
        TensorShape([1, 37, 50, 1])
    """
    cfg = get_preset(preset)
    check_preset(cfg)
    shape = tuple(input_shape)
    if (
        len(shape) != 3
        or shape[2] != 3
        or not all(s is None or (isinstance(s, int) and s >= 1) for s in shape[:2])
    ):
        raise ValueError(f"input_shape must be (H, W, 3) with H, W >= 1 or None, got {shape}")
    k = int(cfg["kernel_size"])

    inputs = keras.Input(shape, name="inputs")
    x = _conv_bn(inputs, int(cfg["stem_filters"]), k, 2, "stem")
    cin = int(cfg["stem_filters"])
    feats = []
    for s, (c, n, t) in enumerate(cfg["stages"], start=1):
        for b in range(int(n)):
            stride = 2 if b == 0 else 1
            x = _inverted_residual(x, cin, int(c), stride, int(t), k, f"enc{s}_block{b + 1}")
            cin = int(c)
        feats.append(x)

    d = [int(f) for f in cfg["decoder_filters"]]
    g = int(cfg["ggm_filters"])
    lat = [
        _conv(f, dl, 1, f"lateral{i + 1}", relu=True)
        for i, (f, dl) in enumerate(zip(feats, d, strict=True))
    ]

    # §3.1 Global Guidance Module: pyramid pooling on the top feature
    top = lat[-1]
    gap = layers.GlobalAveragePooling2D(keepdims=True, name="ggm_global")(top)
    branches = [
        top,
        ResizeLike(name="ggm_global_up")([_conv(gap, g, 1, "ggm_global_conv", relu=True), top]),
    ]
    for w in cfg["ppm_windows"]:
        y = layers.AveragePooling2D(w, strides=w, padding="same", name=f"ggm_pool{w}")(top)
        y = _conv(y, g, 1, f"ggm_pool{w}_conv", relu=True)
        branches.append(ResizeLike(name=f"ggm_pool{w}_up")([y, top]))
    ggm = layers.Concatenate(name="ggm_concat")(branches)
    ggm = _conv(ggm, g, k, "ggm_fuse", relu=True)
    # global guiding flows to every finer level
    guide = [
        _conv(ResizeLike(name=f"ggf{i + 1}_up")([ggm, lat[i]]), d[i], k, f"ggf{i + 1}", relu=True)
        for i in range(len(d) - 1)
    ]

    # §3.2 top-down path with Feature Aggregation Modules
    merge = top
    windows = cfg["fam_windows"]
    for i in range(len(d) - 1, 0, -1):
        r = _fam(merge, d[i], windows, k, f"fam{i + 1}")
        r = ResizeLike(name=f"fam{i + 1}_up")([r, lat[i - 1]])
        r = _conv(r, d[i - 1], k, f"fam{i + 1}_conv_sum")
        fused = layers.Add(name=f"fam{i + 1}_fuse")([r, lat[i - 1], guide[i - 1]])
        merge = _conv(fused, d[i - 1], k, f"fam{i + 1}_conv_sum_c")
    r = _fam(merge, d[0], windows, k, "fam1")
    r = _conv(r, d[0], k, "fam1_conv_sum")
    score = layers.Conv2D(int(cfg["output_channels"]), 1, name="score")(r)
    logits = ResizeLike(name=LOGITS_LAYER)([score, inputs])
    out = layers.Activation("sigmoid", dtype="float32", name=OUTPUT_LAYER)(logits)
    return keras.Model(inputs, out, name=name or preset)


def logits_model(model: keras.Model) -> keras.Model:
    """The same network (shared weights) returning the logits before the sigmoid, for a
    numerically stable binary cross-entropy in training.

    Example:
        >>> net = build_poolnet("poolnet_tiny")
        >>> train_net = logits_model(net)          # (N, H, W, 1) logits, any real value
    """
    return keras.Model(
        model.inputs[0], model.get_layer(LOGITS_LAYER).output, name=f"{model.name}_logits"
    )


__all__ = ["LOGITS_LAYER", "OUTPUT_LAYER", "build_poolnet", "logits_model"]
