"""Loss of the PoolNet saliency recipe: per-image BCE from logits plus an optional soft IoU term
(§4.1 of Liu et al., CVPR 2019; overview in :mod:`jndtf.train.saliency`)."""

from __future__ import annotations

import math

import keras
from keras import ops

#: Lower bound of the IoU denominator (an all-background mask with an all-zero prediction).
IOU_EPS = 1.0


def saliency_bce(y_true, logits):
    """Per-image binary cross-entropy ``mean_pixels BCE(g, σ(z))`` from logits (numerically
    stable: ``max(z, 0) − z·g + log(1 + e^−|z|)``).

    Args:
        y_true: ``(N, H, W, 1)`` masks in 0..1 (soft values allowed).
        logits: ``(N, H, W, 1)`` logits.

    Returns:
        ``(N,)`` losses in nats.
    """
    z = ops.convert_to_tensor(logits)
    g = ops.cast(y_true, z.dtype)
    per_pixel = ops.relu(z) - z * g + ops.log1p(ops.exp(-ops.abs(z)))
    return ops.mean(per_pixel, axis=(1, 2, 3))


def soft_iou_loss(y_true, logits, eps: float = IOU_EPS):
    """Per-image soft IoU loss ``1 − (Σ p·g + ε) / (Σ (p + g − p·g) + ε)``, ``p = σ(z)``.

    ``ε`` (one pixel's worth, :data:`IOU_EPS`) bounds the division for an empty mask and an
    empty prediction (loss 0 there) and keeps the gradient finite.

    Returns:
        ``(N,)`` losses in 0..1.
    """
    z = ops.convert_to_tensor(logits)
    g = ops.cast(y_true, z.dtype)
    p = ops.sigmoid(z)
    inter = ops.sum(p * g, axis=(1, 2, 3))
    union = ops.sum(p + g - p * g, axis=(1, 2, 3))
    return 1.0 - (inter + eps) / (union + eps)


def saliency_loss(y_true, logits, iou_weight: float = 0.0):
    """``BCE + iou_weight · IoU`` per image (:func:`saliency_bce`, :func:`soft_iou_loss`).

    Example:
        >>> g = np.ones((1, 4, 4, 1), "float32")
        >>> float(saliency_loss(g, np.full_like(g, 20.0))[0]) < 1e-6
        True
    """
    loss = saliency_bce(y_true, logits)
    if iou_weight:
        loss = loss + float(iou_weight) * soft_iou_loss(y_true, logits)
    return loss


@keras.saving.register_keras_serializable(package="jndtf")
class SaliencyLoss(keras.losses.Loss):
    """Keras loss around :func:`saliency_loss`: ``y_pred`` are logits (train
    :func:`jndtf.models.saliency.logits_model`, not the sigmoid output).

    Args:
        iou_weight: weight of the soft IoU term (0: BCE only, as PoolNet).
        **kwargs: standard :class:`keras.losses.Loss` arguments.

    Example:
        >>> model = logits_model(build_poolnet("poolnet_tiny"))
        >>> model.compile("adam", loss=SaliencyLoss(iou_weight=1.0))
    """

    def __init__(self, iou_weight: float = 0.0, name: str = "saliency_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        if not (math.isfinite(float(iou_weight)) and float(iou_weight) >= 0):
            raise ValueError(f"iou_weight must be a finite number >= 0, got {iou_weight!r}")
        self.iou_weight = float(iou_weight)

    def call(self, y_true, y_pred):
        return saliency_loss(y_true, y_pred, self.iou_weight)

    def get_config(self):
        return {**super().get_config(), "iou_weight": self.iou_weight}


__all__ = ["IOU_EPS", "SaliencyLoss", "saliency_bce", "saliency_loss", "soft_iou_loss"]
