"""The total training loss of ACoL-JND, eq. (6): ``L = δ·L1 + η·L2``.

Yu, Jin, Meng et al., "Adversarial Complementary Learning for Just Noticeable Difference
Estimation", KSII TIIS 2024, Sec. 3.3::

    L = δ·L1 + η·L2,   L1 = Q(x_o, x_d) (A-IQA),  δ = 1, η = 0.1            (6)

with L2 the gradient loss of eq. (5) (:func:`jndtf.losses.gradient_loss`, shared with other
families) and L1 the A-IQA loss (:class:`jndtf.models.aiqa.loss.AIQALoss`) or any
:mod:`jndtf.iqa` metric. The family's loss, so it lives in its folder; ``jndtf.losses``
re-exports :func:`acol_loss` and :class:`ACoLJNDLoss` (serialized as ``"jndtf>ACoLJNDLoss"``,
unchanged). The QAT export fine-tunes with it through the family's ``qat_task_loss`` hook.
"""

from __future__ import annotations

import keras
from keras import ops

from jndtf.losses._common import check_positive, per_sample_mean
from jndtf.losses.gradient import H0, GradientLoss, gradient_loss

# ---------------------------------------------------------------------------------------------
# Eq. (6): L = δ·L1 + η·L2


def _l1_values(l1, reference, distorted):
    """Per-image values ``(N,)`` of a loss object or a callable ``fn(ref, dist)``."""
    if isinstance(l1, keras.losses.Loss):
        values = l1.call(reference, distorted)
    else:
        values = l1(reference, distorted)
    return per_sample_mean(ops.cast(values, "float32"))


def acol_loss(
    image,
    jnd,
    l1,
    *,
    delta: float = 1.0,
    eta: float = 0.1,
    h0: float = H0,
    operator: str = "prewitt",
    data_range: float = 255.0,
    reduction: str = "pixel",
):
    """Eq. (6) of ACoL-JND per image: ``δ·L1(x_o, x_o + x_j) + η·L2(x_o, x_j)``.

    The distorted image is x_d = x_o + x_j (eq. (3), element-wise addition, no clipping, so the
    gradient reaches every pixel); a 1-channel JND map is broadcast over the colour channels.

    Args:
        image: original image x_o, NHWC, 0..`data_range`.
        jnd: JND map x_j, NHWC, pixel units.
        l1: eq. (4) ``L1 = Q(x_o, x_d)``: a :class:`keras.losses.Loss` (its unreduced ``call``
            is used, e.g. ``AIQALoss`` or ``IQALoss("ssim")``) or a callable
            ``fn(reference, distorted) -> (N,)``.
        delta, eta: the weights δ and η of eq. (6) (paper: 1 and 0.1).
        h0, operator, data_range, reduction: settings of :func:`gradient_loss`.

    Returns:
        ``(N,)`` float32.
    """
    x = ops.cast(ops.convert_to_tensor(image), "float32")
    j = ops.cast(ops.convert_to_tensor(jnd), "float32")
    distorted = x + j
    l1_value = _l1_values(l1, x, distorted)
    l2_value = gradient_loss(
        x, j, h0=h0, operator=operator, data_range=data_range, reduction=reduction
    )
    return delta * l1_value + eta * l2_value


def _build_l1(l1):
    """``"aiqa"`` -> AIQALoss with the shipped classifier; a metric name -> IQALoss; a Loss
    object or a serialized one -> that loss."""
    if isinstance(l1, keras.losses.Loss):
        return l1
    if isinstance(l1, dict):
        return keras.saving.deserialize_keras_object(l1)
    if isinstance(l1, str):
        if l1 == "aiqa":
            from jndtf.models.aiqa.loss import AIQALoss

            return AIQALoss()
        from jndtf.losses.iqa_loss import IQALoss

        return IQALoss(l1)
    raise TypeError(
        f"l1 must be 'aiqa', a jndtf.iqa metric name or a keras Loss, got {type(l1).__name__}"
    )


@keras.saving.register_keras_serializable(package="jndtf")
class ACoLJNDLoss(keras.losses.Loss):
    """Eq. (6) of ACoL-JND, ``L = δ·L1 + η·L2``: ``y_true`` = original image, ``y_pred`` = JND map.

    Args:
        l1: eq. (4)'s quality term on (x_o, x_o + x_j). ``"aiqa"`` (default, the paper's A-IQA
            module with jndtf's shipped distortion classifier), any :mod:`jndtf.iqa` metric name
            (wrapped in :class:`~jndtf.losses.IQALoss`), or a :class:`keras.losses.Loss` object.
        delta, eta: δ = 1 and η = 0.1 in the paper.
        h0, operator, data_range, pixel_reduction: settings of :func:`gradient_loss`.
        **kwargs: `name`, `reduction`, `dtype` of :class:`keras.losses.Loss`.

    Example:
        >>> loss = ACoLJNDLoss(l1="ssim")
        >>> model.compile(optimizer=keras.optimizers.Adam(1e-5), loss=loss)  # model -> JND map
    """

    def __init__(
        self,
        l1="aiqa",
        delta: float = 1.0,
        eta: float = 0.1,
        h0: float = H0,
        operator: str = "prewitt",
        data_range: float = 255.0,
        pixel_reduction: str = "pixel",
        **kwargs,
    ):
        kwargs.setdefault("name", "acol_jnd_loss")
        super().__init__(**kwargs)
        self.l1 = _build_l1(l1)
        self.delta = check_positive(delta, "delta", name="ACoLJNDLoss", allow_zero=True)
        self.eta = check_positive(eta, "eta", name="ACoLJNDLoss", allow_zero=True)
        self.gradient = GradientLoss(
            h0=h0, operator=operator, data_range=data_range, pixel_reduction=pixel_reduction
        )

    def call(self, y_true, y_pred):
        g = self.gradient
        return acol_loss(
            y_true,
            y_pred,
            self.l1,
            delta=self.delta,
            eta=self.eta,
            h0=g.h0,
            operator=g.operator,
            data_range=g.data_range,
            reduction=g.pixel_reduction,
        )

    def get_config(self):
        config = super().get_config()
        g = self.gradient
        config.update(
            {
                "l1": keras.saving.serialize_keras_object(self.l1),
                "delta": self.delta,
                "eta": self.eta,
                "h0": g.h0,
                "operator": g.operator,
                "data_range": g.data_range,
                "pixel_reduction": g.pixel_reduction,
            }
        )
        return config


__all__ = ["ACoLJNDLoss", "acol_loss"]
