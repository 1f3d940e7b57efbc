"""Losses of the JND papers in ``keras.ops`` (needs the [train] extra).

Every loss is a function returning one value per image, ``(N,)``, and a thin
:class:`keras.losses.Loss` around it (serializable under the ``jndtf`` package):

============================  =====================================  ==============================
function                      Loss class                             source
============================  =====================================  ==============================
``metric_loss``               ``IQALoss(metric)``                    any :mod:`jndtf.iqa` metric
``gradient_loss``             ``GradientLoss``                       ACoL-JND eq. (5)
``acol_loss``                 ``ACoLJNDLoss(l1="aiqa")``             ACoL-JND eq. (6)
``dmv_cross_entropy``         ``DMVCrossEntropyLoss``                DMV-JND eqs. (8)-(9)
``dmv_magnitude_loss``        ``DMVMagnitudeLoss``                   DMV-JND eqs. (10)-(13)
``dmv_spatial_loss``          ``DMVSpatialLoss``                     DMV-JND eqs. (14)-(15)
``dmv_loss``                  ``DMVJNDLoss``                         DMV-JND eq. (7)
``hmjnd_loss``                ``HmJNDLoss``                          hmJND-Net eq. (2)
============================  =====================================  ==============================

A family's own total loss lives in its folder and is re-exported here: ACoL-JND's eq. (6) in
:mod:`jndtf.models.acol.loss`, the A-IQA loss (Jin et al. 2022, L1 of ACoL-JND) with its
classifier in :mod:`jndtf.models.aiqa.loss` (``AIQALoss`` / ``aiqa_loss``).
Submodules load on first attribute access.
"""

from __future__ import annotations

from jndtf._deps import require_installed
from jndtf._lazy import lazy_exports

require_installed("keras", "the losses")  # a missing [train] extra names its pip command

_EXPORTS = {
    "metric_loss": "iqa_loss",
    "IQALoss": "iqa_loss",
    "gradient_magnitude": "gradient",
    "gradient_loss_map": "gradient",
    "gradient_loss": "gradient",
    "GradientLoss": "gradient",
    "acol_loss": "jndtf.models.acol.loss",
    "ACoLJNDLoss": "jndtf.models.acol.loss",
    "dmv_cross_entropy": "dmv",
    "dmv_magnitude_loss": "dmv",
    "dmv_spatial_loss": "dmv",
    "dmv_loss": "dmv",
    "DMVCrossEntropyLoss": "dmv",
    "DMVMagnitudeLoss": "dmv",
    "DMVSpatialLoss": "dmv",
    "DMVJNDLoss": "dmv",
    "hmjnd_feature_loss": "hmjnd",
    "hmjnd_pixel_loss": "hmjnd",
    "hmjnd_loss": "hmjnd",
    "HmJNDLoss": "hmjnd",
    "AIQALoss": "jndtf.models.aiqa.loss",
    "aiqa_loss": "jndtf.models.aiqa.loss",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
