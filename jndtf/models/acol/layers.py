"""The non-convolutional operations of ACoL-JND (Fig. 1): Up1/Up2, thresholding, erasing, the
JND output and the injection ⊕ of eq. (3). One function per operation, a thin layer around it.

Tensors are NHWC. The functions use ``keras.ops`` only, with one documented exception: under
the TensorFlow backend :func:`resize_like` calls ``tf.image.resize(x, tf.shape(ref)[1:3])``,
because in Keras 3.15.1 ``keras.ops.image.resize`` and ``UpSampling2D(interpolation="bilinear")``
fail to trace with symbolic height and width (DESIGN.md, "Dynamic H,W"); that call converts to
TFLite with a ``[1, -1, -1, C]`` signature. Other backends (JAX) use ``keras.ops.image.resize``
with the concrete shape of `ref`. Both are bilinear with half-pixel centres and no antialiasing.

Example:
    >>> mask = mean_threshold_mask(i4)            # i5: 1 where i4 > its channel's mean
    >>> i6 = erase(i2, mask)                       # i2 * (1 - i5), eq. (2)
    >>> up = resize_like(i8, x)                    # Up2: i8 resized to x's H, W
"""

from __future__ import annotations

import keras
from keras import layers, ops

# shared with other families (jndtf/models/layers.py); re-exported here, names unchanged
from jndtf.models.layers import (  # noqa: F401
    INTERPOLATIONS,
    ResizeLike,
    _check_nhwc,
    _check_pair,
    _shape,
    resize_like,
)

#: Output activations of :func:`jnd_output`.
OUTPUT_ACTIVATIONS = ("abs", "relu")


# --------------------------------------------------------------------------- functions


def mean_threshold_mask(x):
    """The thresholding of §3.4: ``i5 = [i4 > mean_{h,w}(i4)]`` per sample and channel.

    "The threshold value of each channel is the mean value of each channel after Up1 sampling"
    (§3.4): each channel of each image is compared with its own spatial mean; a pixel *above*
    the mean (where CNN2 responded strongly, the prior-related regions of Fig. 7 (a2)/(a3)) gets
    1, the rest 0 (a constant channel gets no 1s). The mask is a step function, so it carries no
    gradient: the input passes through ``stop_gradient`` and the comparison is cast to the
    input's dtype, under every backend.

    Args:
        x: ``(N, H, W, C)`` tensor (i4).

    Returns:
        ``(N, H, W, C)`` tensor of 0.0 / 1.0, the dtype of `x`.

    Example:
        >>> x = np.array([0, 1, 2, 5], "float32").reshape(1, 2, 2, 1)   # mean 2
        >>> np.asarray(mean_threshold_mask(x)).ravel().tolist()
        [0.0, 0.0, 0.0, 1.0]
    """
    x = ops.stop_gradient(ops.convert_to_tensor(x))
    threshold = ops.mean(x, axis=(1, 2), keepdims=True)
    return ops.cast(ops.greater(x, threshold), x.dtype)


def erase(features, mask):
    """The erasing ⊖ of eq. (2): ``i6 = i2 ⊖ i5 = i2 · (1 − i5)``.

    Written as a product so full-integer int8 conversion keeps it in int8 (SUB, MUL); a
    ``where(mask, 0, x)`` stays float (DESIGN.md). Gradients reach `features` where the mask is
    0; the mask itself gets none.

    Args:
        features: ``(N, H, W, C)`` tensor (i2).
        mask: 0/1 tensor broadcastable to `features` (i5).

    Returns:
        `features` with the masked positions set to 0.

    Example:
        >>> f = np.full((1, 2, 2, 1), 3.0, "float32")
        >>> m = np.array([0, 1, 0, 1], "float32").reshape(f.shape)
        >>> np.asarray(erase(f, m)).ravel().tolist()
        [3.0, 0.0, 3.0, 0.0]
    """
    return features * (1.0 - ops.cast(mask, features.dtype))


def jnd_output(x, activation: str = "abs", scale: float = 255.0, max_value: float | None = 255.0):
    """The JND map in pixel units: ``min(scale · act(x), max_value)``, act = ``|·|`` or ReLU.

    Table 1 ends CNN4 with an LReLU, whose output can be negative; the injection of eq. (7)
    multiplies the map by a random sign R, so only its magnitude carries meaning, and jndtf's
    contract is a non-negative map in 0..255 pixel values. The network works on inputs in 0..1,
    so its raw output is in 0..1 image units; ``scale = 255`` converts it. ``"abs"`` keeps a
    gradient on both sides of 0 (ReLU would leave a pixel whose pre-activation is negative without
    one); ``max_value`` clips the map to the pixel range (None: no clip).

    Args:
        x: ``(N, H, W, C)`` tensor (Up2 of i8).
        activation: ``"abs"`` or ``"relu"``.
        scale: factor to pixel units (255 for inputs normalized by 1/255).
        max_value: upper clip in pixel units, or None.

    Returns:
        Non-negative tensor like `x`, in pixel values.

    Example:
        >>> np.asarray(jnd_output(np.array([-0.01, 0.02, 2.0], "float32"))).round(2).tolist()
        [2.55, 5.1, 255.0]
    """
    if activation not in OUTPUT_ACTIVATIONS:
        raise ValueError(f"activation must be one of {OUTPUT_ACTIVATIONS}, got {activation!r}")
    x = ops.convert_to_tensor(x)
    y = ops.abs(x) if activation == "abs" else ops.relu(x)
    y = y * ops.cast(scale, x.dtype)
    if max_value is not None:
        y = ops.minimum(y, ops.cast(max_value, x.dtype))
    return y


def inject(image, jnd, data_range: float = 255.0):
    """The element-wise addition ⊕ of eq. (3): ``x_d = x_o + x_j`` in pixel values.

    `image` is the network input (RGB in 0..1 first, priors after); ``x_o = data_range ·
    image[..., :3]``. No clipping, as eq. (3) (the evaluation's eq. (7) clips).

    Example:
        >>> x = np.full((1, 2, 2, 6), 0.5, "float32"); j = np.ones((1, 2, 2, 3), "float32")
        >>> float(np.asarray(inject(x, j))[0, 0, 0, 0])
        128.5
    """
    image = ops.convert_to_tensor(image)
    return image[..., :3] * ops.cast(data_range, image.dtype) + ops.cast(jnd, image.dtype)


#: How training injects the JND map into the image before the A-IQA term (eq. (4)).
INJECTIONS = ("signed", "add")


def random_signs(like, seed: int, keys):
    """R of eq. (7) for a batch: +1 or -1 with equal odds, image n's pattern a pure function of
    ``(seed, keys[n])``.

    Stateless (TensorFlow ``stateless_uniform`` / JAX ``fold_in``, one stream per image): the
    same image key always gives the same pattern, whatever batch or replica the image is in, so
    a resumed run, or one split over replicas, draws what a single uninterrupted run would
    (training keys each image by its int32 pixel sum).

    Args:
        like: NHWC tensor whose shape the pattern takes.
        seed: the run's seed.
        keys: ``(N,)`` integers, one per image.

    Returns:
        float32 tensor shaped like `like`, holding -1.0 and +1.0.

    Example:
        >>> r = random_signs(np.zeros((2, 4, 4, 3)), seed=0, keys=np.array([7, 8]))
        >>> sorted(set(np.asarray(r).ravel().tolist()))
        [-1.0, 1.0]
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        like = tf.convert_to_tensor(like)
        size = tf.shape(like)[1:]
        base = tf.constant(int(seed), tf.int64)

        def one(key):
            return tf.random.stateless_uniform(size, seed=tf.stack([base, key]), dtype=tf.float32)

        keys = tf.cast(tf.convert_to_tensor(keys), tf.int64)
        u = tf.map_fn(one, keys, fn_output_signature=tf.float32)
    elif backend == "jax":
        import jax

        base = jax.random.PRNGKey(int(seed))
        size = tuple(like.shape[1:])
        keys = ops.cast(keys, "uint32")
        u = jax.vmap(lambda k: jax.random.uniform(jax.random.fold_in(base, k), size))(keys)
    else:
        raise RuntimeError(f"random_signs supports TensorFlow and JAX, not {backend}")
    return ops.where(u < 0.5, -1.0, 1.0)


def image_keys(originals):
    """``(N,)`` int32 key of each image: the sum of its pixel values (0..255 integers; below
    2^31 for images up to ~8 MP x 3 channels), for :func:`random_signs`."""
    return ops.sum(ops.cast(originals, "int32"), axis=(1, 2, 3))


def inject_signed(original, jnd, signs):
    """``x_d = x_o + R · x_j`` (eq. (7) with λ = 1), pixel values, no clipping.

    The training injection of jndtf's recipe (:data:`INJECTIONS`, ``"signed"``). Eq. (3) read
    literally adds the non-negative map itself, a smooth brightening that the A-IQA metrics are
    nearly blind to (SSIM's luminance term, VIFp, GMSD and MS-SSIM barely react to a mean shift):
    on crops of the sample photos the A-IQA term was ~2.6e-5 for a map of 0.1x the trained one
    and 3.6e-3 for the trained one, against 2.1e-4 and 0.156 with random signs, while
    eta * L2 was ~0.03. The map is evaluated with random signs (eq. (7)): it is trained so too.

    Args:
        original: x_o, NHWC pixel values.
        jnd: x_j, NHWC (1 or 3 channels), pixel values.
        signs: R, ±1, broadcastable to `jnd` (:func:`random_signs`).
    """
    return ops.cast(original, "float32") + ops.cast(signs, "float32") * ops.cast(jnd, "float32")


# --------------------------------------------------------------------------- layers


@keras.saving.register_keras_serializable(package="jndtf")
class MeanThresholdMask(layers.Layer):
    """``i4 -> i5``: 1 where a channel exceeds its spatial mean (§3.4, :func:`mean_threshold_mask`).

    No weights, no gradient (step function behind ``stop_gradient``).

    Args:
        **kwargs: standard :class:`keras.layers.Layer` arguments.

    Example:
        >>> i5 = MeanThresholdMask(name="threshold")(i4)
        >>> i6 = Erase(name="erase")([i2, i5])
    """

    #: the layer compares each channel with a statistic of the WHOLE image, so tiled inference
    #: (jndtf.evaluate.learned) computes that per-channel mean over all tiles first and runs
    #: each tile with it fixed; any family's layer that declares this gets the same treatment
    whole_image_statistic = "channel_mean"

    def build(self, input_shape):
        _check_nhwc(type(self).__name__, input_shape)
        self.built = True

    def call(self, inputs):
        return mean_threshold_mask(inputs)

    def compute_output_shape(self, input_shape):
        return _check_nhwc(type(self).__name__, input_shape)


@keras.saving.register_keras_serializable(package="jndtf")
class Erase(layers.Layer):
    """``[i2, i5] -> i2 · (1 − i5)``: the erasing ⊖ of eq. (2) (:func:`erase`).

    Both inputs NHWC; the mask has the features' channels (or 1) and the same H, W.

    Args:
        **kwargs: standard :class:`keras.layers.Layer` arguments.

    Example:
        >>> i6 = Erase(name="erase")([i2, i5])
        >>> i7 = branch_b(i6)
        >>> stacked = keras.layers.Concatenate()([i3, i7])
    """

    def build(self, input_shape):
        name = type(self).__name__
        feat, mask = _check_pair(name, input_shape, "features, mask")
        for axis, label in ((1, "height"), (2, "width")):
            if feat[axis] is not None and mask[axis] is not None and feat[axis] != mask[axis]:
                raise ValueError(
                    f"{name}: mask {label} differs from the features': features {feat}, mask {mask}"
                )
        if feat[3] is not None and mask[3] is not None and mask[3] not in (1, feat[3]):
            raise ValueError(
                f"{name}: mask channels must be 1 or the features' {feat[3]}: features {feat}, "
                f"mask {mask}"
            )
        self.built = True

    def call(self, inputs):
        features, mask = inputs
        return erase(features, mask)

    def compute_output_shape(self, input_shape):
        feat, _ = _check_pair(type(self).__name__, input_shape, "features, mask")
        return feat


#: Border handling of the 3x3 convs (:func:`jndtf.models.acol.build_acol`'s ``padding``).
PADDINGS = ("zeros", "reflect")


def reflect_pad(x, pad: int):
    """Pads H and W of an NHWC tensor by `pad` pixels, mirrored without repeating the edge.

    Slices and concatenations: the values of ``ops.pad(mode="reflect")``, but LiteRT runs them
    in XNNPACK, where MIRROR_PAD falls back to the reference kernel (int8 ACoL-JND at 320x180:
    338 ms per inference with MIRROR_PAD, 70 ms with zero padding).
    """
    p = int(pad)
    x = ops.concatenate(
        [*(x[:, i : i + 1] for i in range(p, 0, -1)), x,
         *(x[:, -i - 1 : -i] for i in range(1, p + 1))],
        axis=1,
    )  # fmt: skip
    return ops.concatenate(
        [*(x[:, :, i : i + 1] for i in range(p, 0, -1)), x,
         *(x[:, :, -i - 1 : -i] for i in range(1, p + 1))],
        axis=2,
    )  # fmt: skip


@keras.saving.register_keras_serializable(package="jndtf")
class ReflectPad(layers.Layer):
    """Pads H and W of an NHWC tensor by `pad` pixels on each side, mirrored without repeating
    the edge (the values of ``numpy.pad(mode="reflect")``, built from slices so that int8 LiteRT
    keeps it in XNNPACK).

    Put before a 'valid' 3x3 conv (``pad=1``) it replaces the conv's zero padding: a flat input
    stays flat to the edge, so the network draws no lines along the image border.

    Args:
        pad: pixels added on every side (>= 1; H and W must exceed it).
        **kwargs: standard :class:`keras.layers.Layer` arguments.

    Example:
        >>> ReflectPad(1)(np.arange(3.0).reshape(1, 1, 3, 1))[0, 1, :, 0]
        [1, 0, 1, 2, 1]
    """

    def __init__(self, pad: int = 1, **kwargs):
        super().__init__(**kwargs)
        if int(pad) != pad or pad < 1:
            raise ValueError(f"ReflectPad: pad must be an integer >= 1, got {pad!r}")
        self.pad = int(pad)

    def build(self, input_shape):
        _check_nhwc(type(self).__name__, input_shape)
        self.built = True

    def call(self, x):
        return reflect_pad(x, self.pad)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        p = 2 * self.pad
        return (n, None if h is None else h + p, None if w is None else w + p, c)

    def get_config(self):
        config = super().get_config()
        config.update({"pad": self.pad})
        return config


@keras.saving.register_keras_serializable(package="jndtf")
class JndOutput(layers.Layer):
    """Raw network output -> JND map in pixel values (:func:`jnd_output`).

    Args:
        activation: ``"abs"`` (default) or ``"relu"``.
        scale: factor to pixel units (255 for inputs in 0..1).
        max_value: upper clip in pixel values, or None.
        **kwargs: standard :class:`keras.layers.Layer` arguments.

    Example:
        >>> out = JndOutput(name="jnd")
        >>> jnd = out(resize_like(i8, x))            # (N, H, W, 3), 0..255
    """

    def __init__(
        self,
        activation: str = "abs",
        scale: float = 255.0,
        max_value: float | None = 255.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if activation not in OUTPUT_ACTIVATIONS:
            raise ValueError(f"activation must be one of {OUTPUT_ACTIVATIONS}, got {activation!r}")
        if not float(scale) > 0:
            raise ValueError(f"scale must be > 0, got {scale}")
        if max_value is not None and not float(max_value) > 0:
            raise ValueError(f"max_value must be > 0 or None, got {max_value}")
        self.activation = activation
        self.scale = float(scale)
        self.max_value = None if max_value is None else float(max_value)

    def build(self, input_shape):
        _check_nhwc(type(self).__name__, input_shape)
        self.built = True

    def call(self, inputs):
        return jnd_output(inputs, self.activation, self.scale, self.max_value)

    def compute_output_shape(self, input_shape):
        return _check_nhwc(type(self).__name__, input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"activation": self.activation, "scale": self.scale, "max_value": self.max_value}
        )
        return config


@keras.saving.register_keras_serializable(package="jndtf")
class InjectJnd(layers.Layer):
    """``[network input, x_j] -> x_d = x_o ⊕ x_j`` (eq. (3), :func:`inject`), pixel values.

    Args:
        data_range: factor from the input's 0..1 RGB to pixel values (255).
        **kwargs: standard :class:`keras.layers.Layer` arguments.

    Example:
        >>> x_d = InjectJnd(name="distorted")([inputs, jnd])
        >>> loss = aiqa_loss(255 * inputs[..., :3], x_d)
        >>> # eq. (4): L1 = Q(x_o, x_d)
    """

    def __init__(self, data_range: float = 255.0, **kwargs):
        super().__init__(**kwargs)
        if not float(data_range) > 0:
            raise ValueError(f"data_range must be > 0, got {data_range}")
        self.data_range = float(data_range)

    def build(self, input_shape):
        name = type(self).__name__
        image, jnd = _check_pair(name, input_shape, "image, jnd")
        if image[3] is not None and image[3] < 3:
            raise ValueError(f"{name}: the image needs >= 3 channels (RGB first), got {image}")
        if jnd[3] is not None and jnd[3] not in (1, 3):
            raise ValueError(f"{name}: the JND map needs 1 or 3 channels, got {jnd}")
        self.built = True

    def call(self, inputs):
        image, jnd = inputs
        return inject(image, jnd, self.data_range)

    def compute_output_shape(self, input_shape):
        image, _ = _check_pair(type(self).__name__, input_shape, "image, jnd")
        return (*image[:3], 3)

    def get_config(self):
        config = super().get_config()
        config.update({"data_range": self.data_range})
        return config


__all__ = [
    "INJECTIONS",
    "INTERPOLATIONS",
    "OUTPUT_ACTIVATIONS",
    "PADDINGS",
    "Erase",
    "InjectJnd",
    "JndOutput",
    "MeanThresholdMask",
    "ReflectPad",
    "ResizeLike",
    "erase",
    "image_keys",
    "inject",
    "inject_signed",
    "jnd_output",
    "mean_threshold_mask",
    "random_signs",
    "reflect_pad",
    "resize_like",
]
