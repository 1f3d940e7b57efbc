"""The loss of hmJND-Net, eq. (2): L1 feature alignment + L2 pixel loss.

Xie, Wang et al., "Just Noticeable Visual Redundancy Forecasting: A Deep Multimodal-Driven
Approach", AAAI 2023, eq. (2)::

    L = λ_fea/(h_f·w_f·c_f) · ‖F_r − F_pr‖_1  +  λ_pix/(h_p·w_p·c_p) · ‖I_rr − I_gt‖²_2

F_r are the RGB features, F_pr the prior-fused features (HMFA alignment), I_rr the predicted
redundancy-removed image and I_gt its ground truth. The normalisations make both terms per-element
means, per image.

Weights: the paper names λ_fea and λ_pix but its text gives no values; jndtf defaults both to 1.
Units: the pixel term is computed on images divided by `data_range` (0..1 for 0..255 inputs, the
scale of the authors' PyTorch tensors), so with the default weights neither term dominates by the
255² factor. Features are compared as they are.
"""

from __future__ import annotations

import keras
from keras import ops

from jndtf.losses._common import SettingsLoss, check_positive, dims_agree, per_sample_mean

#: Default λ_fea and λ_pix (not stated in the paper's text).
LAMBDA_FEA = 1.0
LAMBDA_PIX = 1.0


def _same_shape(a, b, what, name):
    a = ops.cast(ops.convert_to_tensor(a), "float32")
    b = ops.cast(ops.convert_to_tensor(b), "float32")
    sa, sb = tuple(a.shape), tuple(b.shape)
    if len(sa) != len(sb) or not dims_agree(sa, sb):
        raise ValueError(f"{name}: the two {what} must have the same shape, got {sa} and {sb}")
    if len(sa) < 2:
        raise ValueError(f"{name}: {what} need a batch axis, got shape {sa}")
    return a, b


def hmjnd_feature_loss(features_rgb, features_prior):
    """``1/(h·w·c) ‖F_r − F_pr‖_1`` per image, ``(N,)`` (first term of eq. (2) without λ)."""
    f_r, f_pr = _same_shape(features_rgb, features_prior, "feature maps", "hmjnd_feature_loss")
    return per_sample_mean(ops.abs(f_r - f_pr))


def hmjnd_pixel_loss(predicted, target, *, data_range: float = 255.0):
    """``1/(h·w·c) ‖(I_rr − I_gt)/data_range‖²_2`` per image, ``(N,)`` (second term, no λ)."""
    p, t = _same_shape(predicted, target, "images", "hmjnd_pixel_loss")
    d = (p - t) / data_range
    return per_sample_mean(d * d)


def hmjnd_loss(
    predicted,
    target,
    features_rgb,
    features_prior,
    *,
    lambda_fea: float = LAMBDA_FEA,
    lambda_pix: float = LAMBDA_PIX,
    data_range: float = 255.0,
):
    """Eq. (2) of hmJND-Net per image, ``(N,)``.

    Args:
        predicted: I_rr, NHWC, 0..`data_range`.
        target: I_gt, same shape.
        features_rgb: F_r, any ``(N, ...)`` feature tensor.
        features_prior: F_pr, same shape as `features_rgb`.
        lambda_fea, lambda_pix: weights of the two terms.
        data_range: peak of the pixel scale; the pixel term uses images divided by it.

    Example:
        >>> hmjnd_loss(i_rr, i_gt, f_r, f_pr).shape
        TensorShape([N])
    """
    return lambda_fea * hmjnd_feature_loss(features_rgb, features_prior) + (
        lambda_pix * hmjnd_pixel_loss(predicted, target, data_range=data_range)
    )


@keras.saving.register_keras_serializable(package="jndtf")
class HmJNDLoss(SettingsLoss):
    """Eq. (2) of hmJND-Net as a Keras loss.

    ``y_true`` is the ground-truth image I_gt (NHWC, 0..`data_range`); ``y_pred`` is a dict
    ``{"image": I_rr, "features_rgb": F_r, "features_prior": F_pr}`` (a model with three named
    outputs).

    Args:
        lambda_fea, lambda_pix: weights of eq. (2); 1 and 1 (not stated in the paper).
        data_range: peak of the pixel scale.
        **kwargs: `name`, `reduction`, `dtype` of :class:`keras.losses.Loss`.

    Example:
        >>> loss = HmJNDLoss()
        >>> value = loss(i_gt, {"image": i_rr, "features_rgb": f_r, "features_prior": f_pr})
    """

    SETTINGS = ("lambda_fea", "lambda_pix", "data_range")

    def __init__(
        self,
        lambda_fea: float = LAMBDA_FEA,
        lambda_pix: float = LAMBDA_PIX,
        data_range: float = 255.0,
        **kwargs,
    ):
        kwargs.setdefault("name", "hmjnd_loss")
        super().__init__(**kwargs)
        name = "HmJNDLoss"
        self.lambda_fea = check_positive(lambda_fea, "lambda_fea", name=name, allow_zero=True)
        self.lambda_pix = check_positive(lambda_pix, "lambda_pix", name=name, allow_zero=True)
        self.data_range = check_positive(data_range, "data_range", name="HmJNDLoss")

    def call(self, y_true, y_pred):
        keys = ("image", "features_rgb", "features_prior")
        if not isinstance(y_pred, dict) or any(k not in y_pred for k in keys):
            raise ValueError(f"HmJNDLoss: y_pred must be a dict with keys {keys}")
        return hmjnd_loss(
            y_pred["image"],
            y_true,
            y_pred["features_rgb"],
            y_pred["features_prior"],
            lambda_fea=self.lambda_fea,
            lambda_pix=self.lambda_pix,
            data_range=self.data_range,
        )
