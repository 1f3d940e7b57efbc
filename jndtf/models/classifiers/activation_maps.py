"""Class activation maps (Zhou et al. 2016) of the CAM classifiers and their merge, eq. (2) of
Jin et al. ("Just Noticeable Difference for Deep Machine Vision", seed 002, Sec. IV-B).

For a network that ends in global average pooling of its last feature maps ``f_k(x, y)`` and one
Dense layer of weights ``w_{k,c}``, the class activation map of class ``c`` is

    CAM_c(x, y) = sum_k w_{k,c} f_k(x, y)                                  (Zhou et al., eq. 2)

(the Dense bias adds the same constant everywhere and drops out of the normalization). The seed
paper uses CAM maps "from 0 to 1" (Sec. II-C): :func:`cam` upsamples ``CAM_c`` bilinearly to the
input size ("simply upsampling the CAM to the size of the input image", Zhou et al.) and then
min-max normalizes each image's map to [0, 1] (normalizing after upsampling makes the max exactly
1 and the min exactly 0); a constant map has no peak and becomes zeros. The merged map is

    c = 1/4 sum_n c_n                                                     (Jin et al., eq. (2))

over the four classifiers' maps (:func:`merged_cam`, any number of models).

Example:
    >>> maps = merged_cam([alexnet, vgg, resnet, densenet], images / 255.0, labels)  # (N, H, W)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jndtf.models.classifiers.network import CAM_FEATURES, HEAD

#: Images per forward pass (bounds memory on large inputs).
BATCH = 256


def cam_layers(model) -> tuple[object, object]:
    """``(features, head)``: the layers a CAM is made of (:data:`CAM_FEATURES`, :data:`HEAD`).

    Raises:
        ValueError: `model` has not both (it is not a CAM classifier); the message says which
            builder makes one.
    """
    try:
        return model.get_layer(CAM_FEATURES), model.get_layer(HEAD)
    except ValueError:
        raise ValueError(
            f"model {model.name!r} is not a CAM classifier: it needs layers {CAM_FEATURES!r} "
            f"and {HEAD!r} (build it with jndtf.models.classifiers.build_cam_classifier)"
        ) from None


def _check(model, x) -> tuple[np.ndarray, object, np.ndarray]:
    features, head = cam_layers(model)
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"x must be NHWC RGB in 0..1, shape (N, H, W, 3); got {x.shape}")
    kernel = np.asarray(head.kernel, dtype=np.float64)  # (K, C): w_{k,c}
    return x, features, kernel


def _class_indices(class_index, n: int, num_classes: int) -> np.ndarray:
    idx = np.broadcast_to(np.asarray(class_index), (n,)) if np.ndim(class_index) == 0 else None
    if idx is None:
        idx = np.asarray(class_index)
        if idx.shape != (n,):
            raise ValueError(f"class_index must be one int or one per image ({n}); got {idx.shape}")
    if not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"class_index must be integer, got {idx.dtype}")
    if idx.min() < 0 or idx.max() >= num_classes:
        raise ValueError(
            f"class_index must be in 0..{num_classes - 1}; got {idx.min()}..{idx.max()}"
        )
    return idx.astype(np.int64)


def class_activation(model, x, class_index) -> np.ndarray:
    """The raw ``CAM_c = sum_k w_{k,c} f_k`` at the feature maps' resolution, (N, h, w) float32.

    Args:
        model: a CAM classifier (:func:`~jndtf.models.classifiers.network.build_cam_classifier`).
        x: (N, H, W, 3) RGB in 0..1 (``image / 255``).
        class_index: the class c, one int or one per image.

    Raises:
        ValueError: not a CAM classifier, wrong input shape, or class index out of range.
    """
    import keras

    x, features, kernel = _check(model, x)
    idx = _class_indices(class_index, len(x), kernel.shape[1])
    probe = keras.Model(model.input, features.output)
    out = []
    for start in range(0, len(x), BATCH):
        f = np.asarray(probe(x[start : start + BATCH], training=False), dtype=np.float64)
        w = kernel[:, idx[start : start + BATCH]]  # (K, n)
        out.append(np.einsum("nhwk,kn->nhw", f, w))
    return np.concatenate(out).astype(np.float32)


def normalize_maps(maps: np.ndarray) -> np.ndarray:
    """Per-image min-max to [0, 1] of (N, H, W) maps; a constant map becomes zeros (no NaN)."""
    maps = np.asarray(maps, dtype=np.float64)
    lo = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - lo
    safe = np.where(span > 0, span, 1.0)
    return np.where(span > 0, (maps - lo) / safe, 0.0).astype(np.float32)


def cam(model, x, class_index) -> np.ndarray:
    """The class activation map of `class_index`, upsampled to the input size and per image
    min-max normalized to [0, 1]: (N, H, W) float32.

    Upsampling is bilinear with half-pixel centers (TensorFlow's ``resize``, OpenCV's
    ``INTER_LINEAR``), then :func:`normalize_maps`. A map that is constant before upsampling
    (e.g. all features zero) is returned as zeros.

    Raises:
        ValueError: see :func:`class_activation`.
    """
    from keras import ops

    raw = class_activation(model, x, class_index)
    h, w = np.shape(x)[1:3]
    up = np.asarray(
        ops.image.resize(raw[..., None], (h, w), interpolation="bilinear", antialias=False)
    )[..., 0].copy()
    flat = (raw.max(axis=(1, 2)) - raw.min(axis=(1, 2))) == 0
    up[flat] = 0.0  # constant before upsampling: no ulp noise from the resize is stretched
    return normalize_maps(up)


def merged_cam(models: Sequence, x, class_index) -> np.ndarray:
    """Eq. (2) of Jin et al.: ``c = 1/N sum_n c_n``, the mean of :func:`cam` over `models`
    (the paper's four: AlexNet, VGG, ResNet, DenseNet), (N, H, W) float32 in [0, 1].

    Raises:
        ValueError: no models, or see :func:`class_activation`.
    """
    models = list(models)
    if not models:
        raise ValueError("merged_cam needs at least one CAM classifier")
    total = None
    for model in models:
        c = cam(model, x, class_index).astype(np.float64)
        total = c if total is None else total + c
    return (total / len(models)).astype(np.float32)
