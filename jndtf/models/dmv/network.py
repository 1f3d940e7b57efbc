"""DMV-JND-NET's E-D: the hybrid convolutional autoencoder of Jin et al. (TCSVT 2022), Fig. 4.

Sec. IV-A: "a convolution plus pooling structure encoder and a large stride deconvolution
structure decoder", with batch normalization and zero padding (1,1,1,1); max pooling (2,2). The
figure itself is not in the text; jndtf's reading of it, with the widths of preset ``dmv``
(``encoder_filters=(64, 128, 256)``, ``bottleneck_filters=256``, ``decoder_filters=(128, 64)``,
``decoder_strides=(4, 2)``; every width is a setting):

====  =========================================================  ==============  ===========
#     layer                                                      output (32x32)  name
====  =========================================================  ==============  ===========
in    RGB / 255 stacked with the merged CAM c (eq. (2))          32x32x4         ``x_c``
E1    ZeroPadding (1,1,1,1), 64x3/1 conv, BN, ReLU, maxpool 2x2  16x16x64        ``enc1_*``
E2    ZeroPadding (1,1,1,1), 128x3/1 conv, BN, ReLU, maxpool     8x8x128         ``enc2_*``
E3    ZeroPadding (1,1,1,1), 256x3/1 conv, BN, ReLU, maxpool     4x4x256         ``enc3_*``
B     ZeroPadding (1,1,1,1), 256x3/1 conv, BN, ReLU              4x4x256         ``bottleneck_*``
D1    128x4/4 transposed conv (large stride), BN, ReLU           16x16x128       ``dec1_*``
D2    64x2/2 transposed conv, BN, ReLU                           32x32x64        ``dec2_*``
out   ZeroPadding (1,1,1,1), 3x3/1 conv (linear, with bias)      32x32x3         ``e_out``
crop  to the input's H, W (no-op at multiples of 8)              32x32x3         ``crop``
px    x 127.5: the paper's [-1, 1] units -> pixel units          32x32x3         ``e``
====  =========================================================  ==============  ===========

Convolutions followed by batch norm have no bias (the norm's shift replaces it, and a bias there
gets a zero gradient). Transposed convolutions use kernel = stride: each coarse pixel paints one
non-overlapping block (no checkerboard), so the decoder's output is exactly ``stride`` times its
input.

**Output.** e, signed, in pixel units of a 0..255 image (``output_kind="dmv_jnd"``), for all
three colour channels. The last conv works in the units of the paper's [-1, 1]-normalized
images and a fixed ``Rescaling(127.5)`` turns them into pixels, so train with the losses of
:mod:`jndtf.losses.dmv` at ``jnd_unit=127.5``. e is not bounded by the network.

**x̂ = x + e** (eqs. (3)-(4)) is formed outside the network, by :func:`perturb`: *not clipped*
in training (clipping would zero the gradient of Loss1 wherever x + e leaves 0..255, and the
paper's eq. (4) has no clip), clipped to 0..255 (and rounded to uint8) only where an image is
written or handed to a user's classifier (``perturb(..., clip=True)``).

**Sizes.** 32x32 (CIFAR) is the paper's setting. Any H, W >= 1 works: each max pool uses "same"
padding (``ceil(H/2)``), the decoder returns ``8·ceil(H/8)`` rows and :class:`CropToInput` cuts
them back to H (dynamic H, W also in TFLite). At multiples of the total stride (8 for three
pools) no pool pads and no row is cropped, so every output pixel sees a full receptive field;
elsewhere the last block of rows/columns comes from a partly zero-padded pool.

Example:
    >>> model = build_dmv_net("dmv_tiny")
    >>> e = model(dmv_input_batch)               # (N, H, W, 4) -> (N, H, W, 3), signed pixels
    >>> x_hat = perturb(x_255, e)                # eq. (4), unclipped
"""

from __future__ import annotations

import keras
from keras import layers, ops

from jndtf.models.dmv.presets import (
    DEFAULT_PRESET,
    INPUT_CHANNELS,
    OUTPUT_CHANNELS,
    check_config,
    get_preset,
)

#: Pixel units per unit of the paper's [-1, 1]-normalized images (std 0.5 of 0..1 -> 255/2).
PIXELS_PER_UNIT = 127.5


@keras.saving.register_keras_serializable(package="jndtf")
class CropToInput(layers.Layer):
    """``[x, ref] -> x[:, :H_ref, :W_ref]``: cuts the decoder's ``stride·ceil(H/stride)`` rows
    back to the input's H, W (dynamic H, W; a StridedSlice in TFLite).

    Args:
        **kwargs: standard :class:`keras.layers.Layer` arguments.
    """

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2:
            raise ValueError(f"CropToInput expects [x, ref], got input shape {input_shape}")
        for s in input_shape:
            if len(tuple(s)) != 4:
                raise ValueError(f"CropToInput expects NHWC inputs, got {input_shape}")
        self.built = True

    def call(self, inputs):
        x, ref = inputs
        shape = ops.shape(ref)
        return x[:, : shape[1], : shape[2], :]

    def compute_output_shape(self, input_shape):
        x, ref = (tuple(s) for s in input_shape)
        return (x[0], ref[1], ref[2], x[3])


def build_dmv_net(preset: str = DEFAULT_PRESET, **overrides) -> keras.Model:
    """DMV-JND-NET's E-D: ``(N, H, W, 4)`` (RGB/255 + CAM) -> e ``(N, H, W, 3)`` in pixels.

    Args:
        preset: a name of :data:`jndtf.models.dmv.presets.PRESETS` (``dmv``, ``dmv_tiny``).
        **overrides: network settings replacing the preset's: ``encoder_filters`` (one conv
            + 2x2 max pool per entry), ``bottleneck_filters``, ``decoder_filters`` and
            ``decoder_strides`` (one transposed conv each; the strides must multiply to
            ``2 ** len(encoder_filters)``); ``name`` of the model.

    Raises:
        KeyError: unknown preset. ValueError: an unknown or inconsistent setting.
    """
    name = overrides.pop("name", preset)
    cfg = get_preset(preset)
    unknown = sorted(set(overrides) - set(cfg))
    if unknown:
        raise ValueError(f"build_dmv_net: unknown setting(s) {unknown}; known: {sorted(cfg)}")
    cfg = check_config({**cfg, **overrides})

    inp = keras.Input((None, None, INPUT_CHANNELS), name="x_c")

    def conv_bn_relu(t, filters, prefix):
        t = layers.ZeroPadding2D(((1, 1), (1, 1)), name=f"{prefix}_pad")(t)
        t = layers.Conv2D(filters, 3, use_bias=False, name=f"{prefix}_conv")(t)
        t = layers.BatchNormalization(name=f"{prefix}_bn")(t)
        return layers.ReLU(name=f"{prefix}_relu")(t)

    t = inp
    for i, filters in enumerate(cfg["encoder_filters"], start=1):
        t = conv_bn_relu(t, filters, f"enc{i}")
        t = layers.MaxPooling2D(2, padding="same", name=f"enc{i}_pool")(t)
    t = conv_bn_relu(t, cfg["bottleneck_filters"], "bottleneck")
    for i, (filters, stride) in enumerate(
        zip(cfg["decoder_filters"], cfg["decoder_strides"], strict=True), start=1
    ):
        t = layers.Conv2DTranspose(
            filters, stride, strides=stride, use_bias=False, name=f"dec{i}_deconv"
        )(t)
        t = layers.BatchNormalization(name=f"dec{i}_bn")(t)
        t = layers.ReLU(name=f"dec{i}_relu")(t)
    t = layers.ZeroPadding2D(((1, 1), (1, 1)), name="e_pad")(t)
    t = layers.Conv2D(OUTPUT_CHANNELS, 3, name="e_out")(t)
    t = CropToInput(name="crop")([t, inp])
    e = layers.Rescaling(PIXELS_PER_UNIT, name="e")(t)
    return keras.Model(inp, e, name=name)


def perturb(x, e, *, clip: bool = False):
    """Eq. (4): x̂ = x + e on 0..255 pixel values; `clip` bounds it to 0..255 (for writing an
    image or feeding a user's classifier; never in training, where the clip would stop the
    gradient). Works on numpy arrays and tensors (``keras.ops``)."""
    x_hat = ops.add(ops.cast(x, "float32"), ops.cast(e, "float32"))
    return ops.clip(x_hat, 0.0, 255.0) if clip else x_hat


__all__ = ["PIXELS_PER_UNIT", "CropToInput", "build_dmv_net", "perturb"]
