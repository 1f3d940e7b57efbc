"""The four CAM classifiers of DMV-JND-NET (Jin et al., "Just Noticeable Difference for Deep
Machine Vision", seed 002, Sec. IV-A): AlexNet-, VGG-, ResNet- and DenseNet-style networks for
32x32 CIFAR-10 images, each revised for class activation mapping as Zhou et al. 2016 do ("the
revising and setting of CAMs in this paper refer to [28]"): the convolutional trunk, then global
average pooling of the last feature maps ``f_k`` and ONE Dense layer ``w_{k,c}``, so that
``CAM_c(x, y) = sum_k w_{k,c} f_k(x, y)`` (:mod:`jndtf.models.classifiers.activation_maps`).

- Input: NHWC RGB in 0..1 (the ``unit`` normalization of :mod:`jndtf.priors.inputs`, ``x/255``),
  any H, W (dynamic). The first layer ``normalize`` applies the paper's ``((0.5, 0.5, 0.5),
  (0.5, 0.5, 0.5))`` normalization (Sec. V-A): ``(x/255 - 0.5) / 0.5 = 2u - 1``.
- The last feature maps are the output of the layer named :data:`CAM_FEATURES` (after its
  ReLU); the Dense head is named :data:`HEAD` and outputs logits (no softmax).
- Every conv is followed by batch norm, so convs carry no bias (batch norm removes it).

Architectures (preset widths in :mod:`jndtf.models.classifiers.presets`):

- ``alexnet``: AlexNet's five convs (Krizhevsky et al. 2012, widths 64-192-384-256-256) with
  CIFAR-sized kernels 5-5-3-3-3 and a 3x3/2 max pool after conv1 and conv2 (as Zhou et al.,
  the layers after conv5 are removed, the CAM is 8x8 at 32x32), dropout before the head.
- ``vgg``: VGG-16 (Simonyan & Zisserman 2015) with batch norm, the CIFAR variant's 13 convs;
  pool4 and pool5 removed as Zhou et al. remove pool5 (the CAM is 4x4 at 32x32).
- ``resnet``: ResNet-20 for CIFAR (He et al. 2016, Sec. 4.2): a 3x3 conv of 16, three stages
  of n=3 basic blocks of 16, 32, 64 filters (stride 2 at the start of stages 2 and 3), 1x1
  projection shortcuts where the shape changes (option B); the CAM is 8x8.
- ``densenet``: DenseNet-BC, L=100, k=12 (Huang et al. 2017, CIFAR): a 3x3 conv of 2k, three
  dense blocks of 16 bottleneck layers (BN-ReLU-1x1 conv 4k, BN-ReLU-3x3 conv k, concatenated),
  transitions BN-ReLU-1x1 conv (compression 0.5)-2x2 average pool, final BN-ReLU; CAM 8x8.

Example:
    >>> model = build_cam_classifier("resnet")
    >>> logits = model(images / 255.0)     # (N, 10)
"""

from __future__ import annotations

import keras
from keras import layers

from jndtf.models.classifiers.presets import get_preset

#: Name of the layer whose output are the CAM feature maps f_k (last conv features, post ReLU).
CAM_FEATURES = "cam_features"

#: Name of the Dense layer whose kernel holds w_{k,c}.
HEAD = "head"


def _conv_bn_relu(x, filters: int, kernel: int, name: str, stride: int = 1, relu_name=None):
    x = layers.Conv2D(
        filters, kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_conv"
    )(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(name=relu_name or f"{name}_relu")(x)


def _bn_relu_conv(x, filters: int, kernel: int, name: str):
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    x = layers.ReLU(name=f"{name}_relu")(x)
    return layers.Conv2D(filters, kernel, padding="same", use_bias=False, name=f"{name}_conv")(x)


def _alexnet(x, cfg: dict):
    widths, kernels, pools = cfg["widths"], cfg["kernels"], set(cfg["pool_after"])
    last = len(widths) - 1
    for i, (f, k) in enumerate(zip(widths, kernels, strict=True)):
        x = _conv_bn_relu(
            x, int(f), int(k), f"conv{i + 1}", relu_name=CAM_FEATURES if i == last else None
        )
        if i in pools:
            x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"pool{i + 1}")(x)
    return x


def _vgg(x, cfg: dict):
    stages, pools = cfg["stages"], set(cfg["pool_after"])
    for s, widths in enumerate(stages):
        for j, f in enumerate(widths):
            last = s == len(stages) - 1 and j == len(widths) - 1
            x = _conv_bn_relu(
                x, int(f), 3, f"conv{s + 1}_{j + 1}", relu_name=CAM_FEATURES if last else None
            )
        if s in pools:
            x = layers.MaxPooling2D(2, strides=2, padding="same", name=f"pool{s + 1}")(x)
    return x


def _resnet(x, cfg: dict):
    cin = int(cfg["stem_filters"])
    x = _conv_bn_relu(x, cin, 3, "stem")
    stages, blocks = cfg["stage_filters"], int(cfg["blocks_per_stage"])
    for s, f in enumerate(stages):
        f = int(f)
        for b in range(blocks):
            name = f"stage{s + 1}_block{b + 1}"
            stride = 2 if (s > 0 and b == 0) else 1
            y = _conv_bn_relu(x, f, 3, f"{name}_a", stride=stride)
            y = layers.Conv2D(f, 3, padding="same", use_bias=False, name=f"{name}_b_conv")(y)
            y = layers.BatchNormalization(name=f"{name}_b_bn")(y)
            if stride != 1 or cin != f:
                x = layers.Conv2D(f, 1, strides=stride, use_bias=False, name=f"{name}_proj_conv")(x)
                x = layers.BatchNormalization(name=f"{name}_proj_bn")(x)
            x = layers.Add(name=f"{name}_add")([x, y])
            last = s == len(stages) - 1 and b == blocks - 1
            x = layers.ReLU(name=CAM_FEATURES if last else f"{name}_relu")(x)
            cin = f
    return x


def _densenet(x, cfg: dict):
    k, n_layers = int(cfg["growth_rate"]), int(cfg["layers_per_block"])
    blocks = int(cfg["blocks"])
    channels = 2 * k
    x = layers.Conv2D(channels, 3, padding="same", use_bias=False, name="stem_conv")(x)
    for b in range(blocks):
        for i in range(n_layers):
            name = f"block{b + 1}_layer{i + 1}"
            y = _bn_relu_conv(x, int(cfg["bottleneck"]) * k, 1, f"{name}_a")
            y = _bn_relu_conv(y, k, 3, f"{name}_b")
            x = layers.Concatenate(name=f"{name}_concat")([x, y])
            channels += k
        if b < blocks - 1:
            channels = int(channels * float(cfg["compression"]))
            x = _bn_relu_conv(x, channels, 1, f"transition{b + 1}")
            x = layers.AveragePooling2D(
                2, strides=2, padding="same", name=f"transition{b + 1}_pool"
            )(x)
    x = layers.BatchNormalization(name="final_bn")(x)
    return layers.ReLU(name=CAM_FEATURES)(x)


_TRUNKS = {"alexnet": _alexnet, "vgg": _vgg, "resnet": _resnet, "densenet": _densenet}


def build_cam_classifier(preset: str = "resnet", **overrides) -> keras.Model:
    """The CAM classifier of `preset` (:data:`~jndtf.models.classifiers.presets.PRESETS`).

    Args:
        preset: preset name (``alexnet``, ``vgg``, ``resnet``, ``densenet`` or a ``*_tiny``).
        **overrides: preset keys to replace (e.g. ``widths=(32, 64, 96, 64, 64)``,
            ``num_classes=100``).

    Returns:
        A functional ``keras.Model``: ``(N, H, W, 3)`` RGB in 0..1 -> ``(N, num_classes)``
        logits. The CAM feature maps are ``model.get_layer(CAM_FEATURES).output``.

    Raises:
        KeyError: unknown preset or override key.
    """
    cfg = get_preset(preset)
    unknown = set(overrides) - set(cfg)
    if unknown:
        raise KeyError(
            f"unknown setting(s) {sorted(unknown)} for preset {preset!r}; known: {sorted(cfg)}"
        )
    cfg.update(overrides)
    inputs = keras.Input((None, None, 3), name="rgb")
    # (x/255 - 0.5)/0.5 with x/255 = the unit-normalized input: 2u - 1
    x = layers.Rescaling(2.0, offset=-1.0, name="normalize")(inputs)
    x = _TRUNKS[cfg["arch"]](x, cfg)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    if float(cfg.get("dropout", 0.0)) > 0:
        x = layers.Dropout(float(cfg["dropout"]), name="dropout")(x)
    outputs = layers.Dense(int(cfg["num_classes"]), name=HEAD)(x)
    return keras.Model(inputs, outputs, name=f"cam_{preset}")
