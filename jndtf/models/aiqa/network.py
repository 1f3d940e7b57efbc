"""The A-IQA distortion-group classifier: a small ResNet in Keras 3.

Jin et al. 2022 ("Full RGB JND modelling", arXiv:2203.00629; the A-IQA module reused as L1 of
ACoL-JND, eq. (4)) train "a distortion-type classifier using ResNets" that routes a distorted
image to one of the five TID2008 distortion groups of Liu, Lin & Kuo 2013, and then score it with
that group's best three IQA metrics. The paper's network is not specified beyond "ResNet"; jndtf
uses a small one (He et al. 2016 basic blocks) sized for CPU training on a few photos:

- Inputs: ``reference`` and ``distorted``, NHWC RGB in 0..255, any H, W >= 16. The classifier is
  full-reference (the A-IQA loss always has x_o), so :class:`DistortionFeatures` feeds it the
  distorted image *and* the residual ``distorted − reference``: mild distortions are visible in
  the residual even where the image content dominates.
- Stem 3x3 conv at full resolution (it sees the finest noise), then one stage per entry of
  ``stage_filters``, each starting at stride 2, of ``blocks_per_stage`` basic residual blocks
  (conv-BN-ReLU-conv-BN + shortcut, 1x1 projection when the shape changes).
- Global average *and* global max pooling (max pooling keeps local artefacts such as lost JPEG
  blocks or block-wise distortions, which averaging dilutes), then a Dense layer of
  ``num_groups`` logits.

Example:
    >>> model = build_classifier("aiqa_resnet_tiny")
    >>> logits = model({"reference": ref, "distorted": dist})   # (N, 5)
"""

from __future__ import annotations

import keras
from keras import layers, ops

from jndtf.models.aiqa.presets import DEFAULT_PRESET, get_preset

MIN_SIDE = 16


@keras.saving.register_keras_serializable(package="jndtf")
class DistortionFeatures(layers.Layer):
    """``[reference, distorted] -> concat(distorted / R, gain · (distorted − reference) / R)``.

    Inputs are NHWC in 0..`data_range` (R); the output has twice the channels: the distorted image
    in 0..1 and the amplified residual (about −gain..gain). ``keras.ops`` only.

    Args:
        data_range: peak of the input pixel scale (255).
        residual_gain: factor on the residual, so a ±4 grey-level error reaches ±0.13.
        **kwargs: standard :class:`keras.layers.Layer` arguments.
    """

    def __init__(self, data_range: float = 255.0, residual_gain: float = 8.0, **kwargs):
        super().__init__(**kwargs)
        if not data_range > 0:
            raise ValueError(f"data_range must be > 0, got {data_range}")
        self.data_range = float(data_range)
        self.residual_gain = float(residual_gain)

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2:
            raise ValueError(
                f"DistortionFeatures expects [reference, distorted], got input shape {input_shape}"
            )
        ref, dist = (tuple(s) for s in input_shape)
        if len(ref) != 4 or len(dist) != 4 or ref[-1] != dist[-1]:
            raise ValueError(
                f"DistortionFeatures needs two NHWC inputs with the same channels, got {ref} "
                f"and {dist}"
            )
        for side in (*ref[1:3], *dist[1:3]):
            if side is not None and side < MIN_SIDE:
                raise ValueError(f"image sides must be >= {MIN_SIDE}, got {ref} and {dist}")

    def call(self, inputs):
        ref, dist = inputs
        ref = ops.cast(ref, self.compute_dtype)
        dist = ops.cast(dist, self.compute_dtype)
        scale = 1.0 / self.data_range
        return ops.concatenate([dist * scale, (dist - ref) * (scale * self.residual_gain)], axis=-1)

    def compute_output_shape(self, input_shape):
        ref = tuple(input_shape[0])
        return (*ref[:-1], None if ref[-1] is None else 2 * ref[-1])

    def get_config(self):
        config = super().get_config()
        config.update({"data_range": self.data_range, "residual_gain": self.residual_gain})
        return config


def _basic_block(x, filters: int, stride: int, name: str):
    shortcut = x
    y = layers.Conv2D(
        filters, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_c1"
    )(x)
    y = layers.BatchNormalization(name=f"{name}_bn1")(y)
    y = layers.ReLU(name=f"{name}_r1")(y)
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_c2")(y)
    y = layers.BatchNormalization(name=f"{name}_bn2")(y)
    if stride != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False, name=f"{name}_proj")(x)
        shortcut = layers.BatchNormalization(name=f"{name}_proj_bn")(shortcut)
    y = layers.Add(name=f"{name}_add")([y, shortcut])
    return layers.ReLU(name=f"{name}_out")(y)


def build_classifier(
    preset: str | None = DEFAULT_PRESET,
    *,
    stem_filters: int | None = None,
    stage_filters: tuple[int, ...] | None = None,
    blocks_per_stage: int | None = None,
    residual_gain: float | None = None,
    num_groups: int | None = None,
    name: str | None = None,
) -> keras.Model:
    """Builds the distortion-group classifier from a preset, keyword arguments overriding it.

    Args:
        preset: a name from :data:`jndtf.models.aiqa.presets.PRESETS`, or None to give every
            setting explicitly.
        stem_filters, stage_filters, blocks_per_stage, residual_gain, num_groups: the settings
            (see the module docstring).
        name: model name (default: the preset's).

    Returns:
        A functional :class:`keras.Model` with inputs ``{"reference", "distorted"}`` (NHWC RGB,
        0..255, dynamic H, W) and output ``(N, num_groups)`` logits.
    """
    cfg = get_preset(preset) if preset is not None else {}
    overrides = {
        "stem_filters": stem_filters,
        "stage_filters": stage_filters,
        "blocks_per_stage": blocks_per_stage,
        "residual_gain": residual_gain,
        "num_groups": num_groups,
    }
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    missing = [k for k in overrides if k not in cfg]
    if missing:
        raise ValueError(f"build_classifier: missing settings {missing} (no preset given)")
    if int(cfg["num_groups"]) < 2:
        raise ValueError(f"num_groups must be >= 2, got {cfg['num_groups']}")
    if int(cfg["blocks_per_stage"]) < 1 or not cfg["stage_filters"]:
        raise ValueError("need at least one stage with at least one block")

    ref = keras.Input((None, None, 3), name="reference")
    dist = keras.Input((None, None, 3), name="distorted")
    x = DistortionFeatures(residual_gain=cfg["residual_gain"], name="features")([ref, dist])
    x = layers.Conv2D(cfg["stem_filters"], 3, padding="same", use_bias=False, name="stem")(x)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    for s, filters in enumerate(cfg["stage_filters"]):
        for b in range(int(cfg["blocks_per_stage"])):
            stride = 2 if b == 0 else 1
            x = _basic_block(x, int(filters), stride, name=f"s{s}b{b}")
    pooled = layers.Concatenate(name="pool")(
        [layers.GlobalAveragePooling2D(name="gap")(x), layers.GlobalMaxPooling2D(name="gmp")(x)]
    )
    logits = layers.Dense(int(cfg["num_groups"]), name="logits")(pooled)
    return keras.Model(
        {"reference": ref, "distorted": dist}, logits, name=name or preset or "aiqa_classifier"
    )
