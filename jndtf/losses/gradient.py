"""The gradient loss of ACoL-JND, eq. (5) (its total loss, eq. (6), is the family's:
:mod:`jndtf.models.acol.loss`, re-exported as ``jndtf.losses.ACoLJNDLoss``).

Yu, Jin, Meng et al., "Adversarial Complementary Learning for Just Noticeable Difference
Estimation", KSII TIIS 2024, Sec. 3.3 (inherited from Jin et al. 2022 "Full RGB JND modelling"
and Wu et al. 2020)::

    L2 = ln(M² + N² + h0) − ln(2·M·N + h0),   h0 = 0.001                     (5)
    L  = δ·L1 + η·L2,   L1 = Q(x_o, x_d) (A-IQA),  δ = 1, η = 0.1            (6)

"M is the gradient of the original image, N the value of the JND map"; the loss "controls the JND
injection to the high gradient region". It is >= 0 and 0 where N = M, so it pulls the JND map
towards the image's gradient magnitude pixel by pixel. Choices the paper leaves open, made here
and configurable:

- **Per pixel, then mean.** L2 is evaluated at every pixel and channel and averaged over H, W, C
  (``reduction="pixel"``), which is what steers the JND *spatially* towards high-gradient regions.
  ``reduction="global"`` instead compares the image means of M and N (the scalar form DMV-JND's
  eq. (13) uses); it only controls the overall magnitude.
- **Units.** M and N are both divided by `data_range`, i.e. measured in units of the full pixel
  range (0..1 for 0..255 images), the scale on which h0 = 0.001 is small but not negligible.
- **Gradient operator.** Prewitt (kernels ``[1 0 −1]`` over 3 rows, divided by 3, symmetric
  border), the operator of the contrast-masking prior ACoL-JND takes from Wu et al. 2017;
  ``operator="sobel"`` uses Sobel divided by 4. M = sqrt(gx² + gy²) with an eps under the root.
- **Channels.** With a 3-channel JND map (full-RGB models) M is computed per colour channel; with
  a 1-channel map M is computed on the MATLAB ``rgb2gray`` luma of the image.
- **N = |jnd|.** The JND is a magnitude (eq. (7) applies the random sign later); taking |·| keeps
  ``2MN + h0 > 0`` when a network's LReLU output dips below zero.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from jndtf.iqa import _ops
from jndtf.losses._common import (
    SettingsLoss,
    check_positive,
    dims_agree,
    log_ratio_similarity,
    per_sample_mean,
)

#: h0 of eq. (5).
H0 = 1e-3

_KERNELS = {
    "prewitt": np.array([[1.0, 0.0, -1.0]] * 3, dtype=np.float32) / 3.0,
    "sobel": np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]], np.float32) / 4.0,
}
_REDUCTIONS = ("pixel", "global")


def gradient_magnitude(image, *, operator: str = "prewitt", data_range: float = 255.0):
    """Gradient magnitude of an NHWC image batch, per channel, in units of `data_range`.

    ``M = sqrt(gx² + gy² + eps) / data_range`` with gx, gy the correlation with the horizontal and
    vertical `operator` kernels (symmetric border, so the output keeps the input size).

    Args:
        image: NHWC, 0..`data_range`.
        operator: ``"prewitt"`` (default) or ``"sobel"``.
        data_range: peak of the pixel scale.

    Returns:
        NHWC float32, same shape as `image`, ~0..1.4 for 0..`data_range` images.
    """
    if operator not in _KERNELS:
        raise ValueError(f"unknown gradient operator {operator!r}; choose from {sorted(_KERNELS)}")
    x = ops.cast(ops.convert_to_tensor(image), "float32")
    if len(x.shape) != 4:
        raise ValueError(f"gradient_magnitude: expected NHWC, got shape {tuple(x.shape)}")
    kx = _KERNELS[operator]
    gx = _ops.filter2d(x, kx, mode="symmetric")
    gy = _ops.filter2d(x, kx.T, mode="symmetric")
    return _ops.safe_sqrt(gx * gx + gy * gy) / data_range


def _image_and_jnd(image, jnd, name):
    """float32 NHWC image and JND map; the image as MATLAB ``rgb2gray`` luma for a 1-channel map."""
    x = ops.cast(ops.convert_to_tensor(image), "float32")
    n = ops.cast(ops.convert_to_tensor(jnd), "float32")
    if len(x.shape) != 4 or len(n.shape) != 4:
        raise ValueError(
            f"{name}: image and jnd must be NHWC, got shapes {tuple(x.shape)} and {tuple(n.shape)}"
        )
    if n.shape[-1] not in (1, x.shape[-1]):
        raise ValueError(
            f"{name}: the JND map needs 1 channel or as many as the image ({x.shape[-1]}), "
            f"got shape {tuple(n.shape)}"
        )
    if not dims_agree(x.shape[:3], n.shape[:3]):
        raise ValueError(
            f"{name}: image {tuple(x.shape)} and jnd {tuple(n.shape)} differ in N, H or W"
        )
    if n.shape[-1] == 1 and x.shape[-1] != 1:
        x = _ops.rgb_to_grey(x)
    return x, n


def gradient_loss_map(
    image,
    jnd,
    *,
    h0: float = H0,
    operator: str = "prewitt",
    data_range: float = 255.0,
):
    """Eq. (5) of ACoL-JND at every pixel: ``ln(M² + N² + h0) − ln(2MN + h0)``.

    Args:
        image: original image x_o, NHWC, 0..`data_range`, RGB or grey.
        jnd: JND map x_j, NHWC with 1 channel (luma model) or the image's channel count, in
            pixel units (0..`data_range`).
        h0: the constant of eq. (5).
        operator: gradient kernels, ``"prewitt"`` or ``"sobel"``.
        data_range: peak of the pixel scale; M and N are divided by it.

    Returns:
        NHWC float32 map, >= 0, the shape of `jnd`.
    """
    x, n = _image_and_jnd(image, jnd, "gradient_loss_map")
    m = gradient_magnitude(x, operator=operator, data_range=data_range)
    return log_ratio_similarity(m, ops.abs(n) / data_range, h0)


def gradient_loss(
    image,
    jnd,
    *,
    h0: float = H0,
    operator: str = "prewitt",
    data_range: float = 255.0,
    reduction: str = "pixel",
):
    """Eq. (5) of ACoL-JND per image, ``(N,)``.

    ``reduction="pixel"`` (default) averages :func:`gradient_loss_map` over H, W, C;
    ``"global"`` applies eq. (5) to the image means of M and |N| (magnitude only).

    Example:
        >>> x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
        >>> gradient_loss(x, np.zeros_like(x)).shape
        TensorShape([2])
    """
    check_positive(h0, "h0", name="gradient_loss")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"unknown reduction {reduction!r}; choose from {_REDUCTIONS}")
    if reduction == "pixel":
        return per_sample_mean(
            gradient_loss_map(image, jnd, h0=h0, operator=operator, data_range=data_range)
        )
    x, n = _image_and_jnd(image, jnd, "gradient_loss")
    m = per_sample_mean(gradient_magnitude(x, operator=operator, data_range=data_range))
    return log_ratio_similarity(m, per_sample_mean(ops.abs(n)) / data_range, h0)


@keras.saving.register_keras_serializable(package="jndtf")
class GradientLoss(SettingsLoss):
    """Eq. (5) of ACoL-JND as a Keras loss: ``y_true`` = original image, ``y_pred`` = JND map.

    Both NHWC in 0..`data_range` pixel units; see :func:`gradient_loss` for the settings.

    Example:
        >>> loss = GradientLoss()
        >>> value = loss(images, jnd_maps)   # scalar, mean over the batch
    """

    SETTINGS = ("h0", "operator", "data_range", "pixel_reduction")

    def __init__(
        self,
        h0: float = H0,
        operator: str = "prewitt",
        data_range: float = 255.0,
        pixel_reduction: str = "pixel",
        **kwargs,
    ):
        kwargs.setdefault("name", "gradient_loss")
        super().__init__(**kwargs)
        self.h0 = check_positive(h0, "h0", name="GradientLoss")
        if operator not in _KERNELS:
            raise ValueError(f"unknown gradient operator {operator!r}; choose {sorted(_KERNELS)}")
        if pixel_reduction not in _REDUCTIONS:
            raise ValueError(f"unknown pixel_reduction {pixel_reduction!r}; choose {_REDUCTIONS}")
        self.operator = operator
        self.data_range = check_positive(data_range, "data_range", name="GradientLoss")
        self.pixel_reduction = pixel_reduction

    def call(self, y_true, y_pred):
        return gradient_loss(
            y_true,
            y_pred,
            h0=self.h0,
            operator=self.operator,
            data_range=self.data_range,
            reduction=self.pixel_reduction,
        )
