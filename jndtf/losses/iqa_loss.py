"""Any metric of :mod:`jndtf.iqa` as a loss: ``1 − score`` or ``score``.

A metric is not a loss (IQA-PyTorch#276): a higher-is-better metric (SSIM, MS-SSIM, VIF, FSIM,
PSNR, ...) becomes ``1 − score``, so that identical images give 0 for the similarity indices
bounded by 1; a lower-is-better metric (GMSD, NLPD, MAD) is used as it is. Which way a metric
points comes from the registry (``iqa.info(name).higher_is_better``).

PSNR is higher-is-better but unbounded (``1 − PSNR`` in dB is negative and infinite at identical
images): prefer a mean squared error as a pixel loss.
"""

from __future__ import annotations

import keras
from keras import ops

from jndtf import iqa
from jndtf.losses._common import SettingsLoss, check_positive


def resolve_metric(metric: str):
    """Looks `metric` up in the registry: ``(fn, higher_is_better)``.

    Raises:
        KeyError: unknown metric, or one not implemented in this version (the message lists the
            available ones).
    """
    if not isinstance(metric, str):
        raise TypeError(f"metric must be a registry name (str), got {type(metric).__name__}")
    record = iqa.info(metric)
    return iqa.get(metric), record.higher_is_better


def metric_loss(y_true, y_pred, metric: str = "ssim", data_range: float = 255.0):
    """Per-image loss from an IQA metric: ``1 − Q(ref, dist)`` or ``Q(ref, dist)``.

    Args:
        y_true: reference images, NHWC, 0..`data_range` (RGB or grey).
        y_pred: distorted images, same shape and scale.
        metric: name in :mod:`jndtf.iqa` (``"ssim"``, ``"gmsd"``, ...).
        data_range: peak value of the pixel scale (255 for 0..255 images).

    Returns:
        ``(N,)`` float32: ``1 − score`` when the metric is higher-is-better, else ``score``.

    Example:
        >>> ref = np.full((1, 32, 32, 3), 128.0, "float32")
        >>> float(metric_loss(ref, ref, "ssim")[0])
        0.0
    """
    fn, higher = resolve_metric(metric)
    score = ops.cast(fn(y_true, y_pred, data_range=data_range), "float32")
    return 1.0 - score if higher else score


@keras.saving.register_keras_serializable(package="jndtf")
class IQALoss(SettingsLoss):
    """Keras loss over a registry metric: ``1 − Q`` (higher-is-better) or ``Q``.

    ``y_true`` is the reference, ``y_pred`` the distorted image, both NHWC in 0..`data_range`.
    The per-image values of :func:`metric_loss` are reduced by the Keras `reduction`.

    Args:
        metric: registry name of the metric (``jndtf.iqa.available()`` lists them).
        data_range: peak of the pixel scale, 255 for 0..255 images.
        **kwargs: `name`, `reduction`, `dtype` of :class:`keras.losses.Loss`.

    Example:
        >>> loss = IQALoss("ssim")
        >>> model.compile(optimizer="adam", loss=loss)   # model outputs the distorted image
    """

    SETTINGS = ("metric", "data_range")

    def __init__(self, metric: str = "ssim", data_range: float = 255.0, **kwargs):
        kwargs.setdefault("name", f"iqa_{metric}")
        super().__init__(**kwargs)
        self.metric = metric
        self.data_range = check_positive(data_range, "data_range", name="IQALoss")
        self._fn, self._higher = resolve_metric(metric)

    def call(self, y_true, y_pred):
        score = ops.cast(self._fn(y_true, y_pred, data_range=self.data_range), "float32")
        return 1.0 - score if self._higher else score
