"""Training recipe of the compact PoolNet saliency network
(``jndtf train saliency --data IMAGES --masks MASKS``).

Liu, Hou, Cheng, Feng & Jiang, "A Simple Pooling-Based Design for Real-Time Salient Object
Detection", CVPR 2019. The network (:func:`jndtf.models.saliency.build_poolnet`, any preset of
the registry's ``saliency`` family) learns from photo/mask pairs in the DUTS / MSRA-B / ECSSD
layout (:mod:`jndtf.data.saliency_pairs`); it becomes ACoL-JND's visual-attention prior f_va
through :class:`jndtf.models.saliency_prior.SaliencyPrior`.

- **Loss** (§4.1 of PoolNet: standard binary cross-entropy; the IoU term is the optional
  region-level loss of later salient-object work, off by default)::

      L = mean_pixels BCE(g, σ(z)) + λ_IoU · (1 − Σ σ(z)·g / Σ (σ(z) + g − σ(z)·g))

  per image, ``z`` the logits (layer ``"logits"``), ``g`` the mask in 0..1, averaged over the
  batch (:func:`saliency_loss`, :class:`SaliencyLoss`).
- **Metrics** on the held-out pairs (§4.1: MAE and the F-measure with β² = 0.3, the maximum over
  thresholds): each photo goes through the deployment path, :class:`SaliencyPrior` at
  ``eval_max_side``, the map is compared with the mask at the mask's size, the mask binarized at
  0.5 (:func:`mae`, :func:`max_f_measure`).
- **Training**: random ``crop_size`` crops with horizontal flips, AdamW with cosine decay to 0
  over the run (PoolNet fine-tunes a pretrained backbone with Adam at 5e-5; from scratch a larger
  rate is needed); batches are a pure function of ``(seed, epoch, step)``. The split is by
  stem, seeded.

Outputs: ``<output>.keras`` (the network alone, float32, no optimizer state), ``<output>.json``
(manifest: family, preset, input/output contract, MAC per pixel, parameters, data (folders,
pair counts, held-out stems), every setting, the command, per-epoch losses, held-out MAE /
max F-measure, versions, sha256) and, while training, ``<output>.ckpt.npz`` (weights, optimizer
state, position, history) rewritten atomically after every epoch; ``resume=True`` continues from
it after a crash. It is removed when the run completes.

**No salient-object dataset ships with jndtf** and none can be downloaded here. The tests and
the demo train on :func:`jndtf.data.saliency_pairs.write_toy_pairs` composites: they check the
pipeline, they do not make a saliency model. Train on DUTS-TR (10,553 pairs) for a real one.
Measured here (2 shared CPU cores, 70 s): ``write_toy_pairs(count=48, size=(128, 160), seed=1)``,
``poolnet_small``, 12 epochs x 10 steps of 8 crops of 112 px, learning rate 2e-3,
``iou_weight=0.5``: loss 2.84 -> 0.31, held-out (7 composites) MAE 0.044 and max F 0.92, where the
spectral-residual prior scores MAE 0.44 and max F 0.26 on the same pairs. This shows that the
recipe learns a task with exact masks; it says nothing about human attention.

Files: ``losses.py`` (BCE + soft IoU), ``metrics.py`` (MAE, max F, :func:`evaluate_saliency`),
``config.py`` (settings and result), ``checkpoint.py`` (the ``.ckpt.npz``), ``loop.py``
(:func:`train_saliency`); every name is importable from this package.

Example:
    >>> cfg = SaliencyTrainConfig(data_dir="DUTS-TR/DUTS-TR-Image",
    ...                           masks_dir="DUTS-TR/DUTS-TR-Mask", epochs=30)
    >>> result = train_saliency(cfg)
    >>> result.heldout_mae, result.heldout_max_f
"""

from __future__ import annotations

from jndtf.train.saliency.checkpoint import (
    CHECKPOINT_FORMAT,  # noqa: F401 (importable here before the split)
    _listing_sha256,  # noqa: F401 (importable here before the split)
    read_checkpoint,
    write_checkpoint,
)
from jndtf.train.saliency.config import (
    RESUMABLE_CHANGES,
    SaliencyTrainConfig,
    SaliencyTrainResult,
)
from jndtf.train.saliency.loop import train_saliency
from jndtf.train.saliency.losses import (
    IOU_EPS,  # noqa: F401 (importable here before the split)
    SaliencyLoss,
    saliency_bce,
    saliency_loss,
    soft_iou_loss,
)
from jndtf.train.saliency.metrics import (
    F_BETA2,
    F_THRESHOLDS,  # noqa: F401 (importable here before the split)
    _as_pair,  # noqa: F401 (importable here before the split)
    evaluate_saliency,
    mae,
    max_f_measure,
    precision_recall,
)

__all__ = [
    "F_BETA2",
    "RESUMABLE_CHANGES",
    "SaliencyLoss",
    "SaliencyTrainConfig",
    "SaliencyTrainResult",
    "evaluate_saliency",
    "mae",
    "max_f_measure",
    "precision_recall",
    "read_checkpoint",
    "saliency_bce",
    "saliency_loss",
    "soft_iou_loss",
    "train_saliency",
    "write_checkpoint",
]
