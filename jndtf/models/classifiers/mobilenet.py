"""A MobileNet-style CAM classifier for 32x32 inputs: the *unseen* fifth classifier of
``jndtf eval dmv --unseen`` (issue #11: does a DMV-JND trained against AlexNet, VGG, ResNet and
DenseNet keep the label of a network of another design?).

Design (Howard et al. 2017, MobileNetV1, sized for CIFAR as the ResNet/DenseNet presets are):
a 3x3 conv stem, then depthwise-separable blocks (3x3 depthwise conv, BN, ReLU, 1x1 pointwise
conv, BN, ReLU), stride 2 where the preset says; global average pooling and one Dense head, so
the CAM of Zhou et al. 2016 is defined as for the four (layer names :data:`CAM_FEATURES`,
:data:`HEAD` of :mod:`jndtf.models.classifiers.network`). Same input convention as the four:
NHWC RGB in 0..1, the first layer applies the paper's (0.5, 0.5) normalization.

Presets (registered as family ``"classifiers"``, output kind ``"classifier"``, when this module
is imported; :mod:`jndtf.models.classifiers.presets` is what the registry imports by itself):

- ``mobilenet``: stem 32, blocks 64, 128/2, 128, 256/2, 256, 512 x 4 (8x8 CAM at 32x32);
- ``mobilenet_small``: stem 32, blocks 64, 128/2, 128, 256/2, 256, 256 (the shipped one);
- ``mobilenet_tiny``: stem 8, blocks 8, 16/2, 16 (tests).

Example:
    >>> model = build_mobilenet("mobilenet")
    >>> logits = model(images / 255.0)     # (N, 10)
"""

from __future__ import annotations

import functools
from types import MappingProxyType

_P = MappingProxyType

MOBILENET_PRESETS = _P(
    {
        "mobilenet": _P(
            {
                "stem_filters": 32,
                "blocks": ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1)) + ((512, 1),) * 4,
                "dropout": 0.2,
                "num_classes": 10,
                "description": "MobileNet-style CAM classifier (depthwise separable; unseen)",
            }
        ),
        # what the package ships: 0.21 M parameters (``mobilenet``: 1.09 M, 4.4 MB of float32)
        # and a CPU epoch like the other shipped classifiers
        "mobilenet_small": _P(
            {
                "stem_filters": 32,
                "blocks": ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (256, 1)),
                "dropout": 0.2,
                "num_classes": 10,
                "description": "MobileNet-style CAM classifier, 256 wide (unseen; shipped)",
            }
        ),
        "mobilenet_tiny": _P(
            {
                "stem_filters": 8,
                "blocks": ((8, 1), (16, 2), (16, 1)),
                "dropout": 0.0,
                "num_classes": 10,
                "description": "MobileNet-style CAM classifier, test width",
            }
        ),
    }
)


def get_mobilenet_preset(name: str) -> dict:
    """A copy of preset `name`'s settings; KeyError lists the known presets."""
    try:
        return dict(MOBILENET_PRESETS[name])
    except KeyError:
        raise KeyError(
            f"unknown MobileNet preset {name!r}; available: {', '.join(MOBILENET_PRESETS)}"
        ) from None


def macs_per_pixel(preset: str | dict = "mobilenet") -> float:
    """Conv multiply-accumulates per input pixel: stem ``27·c``, then per block
    ``9·c_in`` (depthwise) + ``c_in·c_out`` (pointwise), weighted by the block's output area
    relative to the input. BN, pooling and the head are left out.

    Example:
        >>> macs_per_pixel({"stem_filters": 8, "blocks": ((8, 1),)})  # 27*8 + 9*8 + 8*8
        352.0
    """
    cfg = get_mobilenet_preset(preset) if isinstance(preset, str) else dict(preset)
    cin = int(cfg["stem_filters"])
    total, area = 27.0 * cin, 1.0
    for cout, stride in cfg["blocks"]:
        area /= int(stride) ** 2
        total += (9 * cin + cin * int(cout)) * area
        cin = int(cout)
    return float(total)


def build_mobilenet(preset: str = "mobilenet", **overrides):
    """The MobileNet-style CAM classifier: ``(N, H, W, 3)`` RGB 0..1 -> ``(N, classes)`` logits.

    Raises:
        KeyError: unknown preset or override key.
    """
    import keras
    from keras import layers

    from jndtf.models.classifiers.network import CAM_FEATURES, HEAD

    cfg = get_mobilenet_preset(preset)
    unknown = set(overrides) - set(cfg)
    if unknown:
        raise KeyError(f"unknown setting(s) {sorted(unknown)} for {preset!r}; known: {sorted(cfg)}")
    cfg.update(overrides)
    inputs = keras.Input((None, None, 3), name="rgb")
    x = layers.Rescaling(2.0, offset=-1.0, name="normalize")(inputs)
    x = layers.Conv2D(
        int(cfg["stem_filters"]), 3, padding="same", use_bias=False, name="stem_conv"
    )(x)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    blocks = cfg["blocks"]
    for i, (filters, stride) in enumerate(blocks, start=1):
        name = f"block{i}"
        x = layers.DepthwiseConv2D(
            3, strides=int(stride), padding="same", use_bias=False, name=f"{name}_dw"
        )(x)
        x = layers.BatchNormalization(name=f"{name}_dw_bn")(x)
        x = layers.ReLU(name=f"{name}_dw_relu")(x)
        x = layers.Conv2D(int(filters), 1, use_bias=False, name=f"{name}_pw")(x)
        x = layers.BatchNormalization(name=f"{name}_pw_bn")(x)
        x = layers.ReLU(name=CAM_FEATURES if i == len(blocks) else f"{name}_pw_relu")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    if float(cfg.get("dropout", 0.0)) > 0:
        x = layers.Dropout(float(cfg["dropout"]), name="dropout")(x)
    outputs = layers.Dense(int(cfg["num_classes"]), name=HEAD)(x)
    return keras.Model(inputs, outputs, name=f"cam_{preset}")


def _register() -> None:
    from jndtf.models.registry import ExportHooks, register_model

    for name, cfg in MOBILENET_PRESETS.items():
        register_model(
            name,
            "classifiers",
            functools.partial(build_mobilenet, name),
            input_channels=3,
            normalization="unit",
            output_channels=int(cfg["num_classes"]),
            jnd_units="CIFAR-10 class logits (not a JND map)",
            description=str(cfg["description"]),
            output_kind="classifier",
            modalities=("rgb",),
            export=ExportHooks(exportable=False),
            macs=f"{__name__}:macs_per_pixel",
            overwrite=True,
        )


_register()

__all__ = ["MOBILENET_PRESETS", "build_mobilenet", "get_mobilenet_preset", "macs_per_pixel"]
