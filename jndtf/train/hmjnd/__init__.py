"""Training recipe of hmJND-Net (``jndtf train hmjnd --data DIR --mode distill|self|pairs``).

Xie, Wang et al., "Just Noticeable Visual Redundancy Forecasting: A Deep Multimodal-Driven
Approach", AAAI 2023, Sec. 4.1: 224 x 224 patches, an 8:1:1 split, Adam 1e-4 with linear decay,
loss eq. (2) ``λ_fea·mean|F_r − F_pr| + λ_pix·mean((I_rr − I_gt)/255)²``
(:mod:`jndtf.losses.hmjnd`). The paper's I_gt comes from SHEN2020 (images and the VVC-coded
version subjects chose as redundancy-removed); with no such data, two documented offline ways.
The mode is recorded in the manifest:

- **pairs** (the paper's): ``DATA/originals/NAME`` and ``DATA/redundancy_removed/NAME``, the same
  file names and sizes; a file without its partner is an error naming it. Loss eq. (2).
- **distill**: I_gt = the image pre-processed by eq. (14) (``jndtf.apply.methods`` ``eq14``:
  every pixel moves toward its 8x8 block mean by at most ``s·JND``) under the JND map of another
  jndtf model (``--teacher yang2005|wu2017|acol|PATH``, ``--teacher-strength s`` or ``auto``, the
  calibrated s). Loss eq. (2). hmJND-Net learns to forecast the redundancy that model removes,
  from the image and its three modalities; it cannot beat its teacher on the teacher's own
  terms, only generalise it (and be scored by the MS-SSIM-at-MSE-100 protocol, where a map
  shape, not its level, matters).
- **self** (self-supervised, as ACoL-JND trains: no ground truth): the output I_rr is asked to
  differ from I as much as possible while an IQA metric of (I, I_rr) stays at a target::

      L = λ_fea·L_fea + w_q·max(0, q* − Q(I, I_rr))² − w_e·[Q >= q*]·mean|d − box₇(d)| / 255

  with d = I − I_rr and box₇ the 7 x 7 local mean.

  Q is ``--quality-metric`` (default SSIM, :mod:`jndtf.iqa`; a lower-is-better metric gets the
  hinge the other way), q* ``--quality-target`` (0.95), w_q = 100, w_e = 1. Why this form: the
  energy reward alone would push I_rr to the clip; a one-sided squared hinge is a penalty for
  the constraint "quality at least q*" (zero above the target, so at equilibrium the removed
  energy is the largest the metric tolerates, "maximise the energy at equal perceptual
  quality"). The reward counts only for images that meet the target ([·], no gradient through
  it): an untrained residual changes I by ~100 grey levels, where SSIM is flat, and an
  always-on reward then beat the hinge (a 3-epoch run settled at SSIM 0.67, mean change 90
  grey levels); gated, the hinge first brings I_rr back within the target, the reward then
  pushes out to it. The local mean is taken out of the rewarded change because SSIM forgives a
  brightness shift: rewarding the raw change, 3 epochs on 8 photos reached SSIM 0.975 by
  shifting I by ~50 grey levels. The energy is the mean absolute change, not its square, so
  its pull does not fade as I_rr nears I (a squared energy's gradient, 2(I − I_rr), vanishes
  there). SSIM by default: cheap at 224 x 224 and differentiable everywhere in
  :mod:`jndtf.iqa`. ACoL-JND's A-IQA loss (``jndtf.losses.AIQALoss``) is not wired in: its
  classifier routes each batch to a weighted mix of metrics of different scales, so no single
  target value q* means one quality level. L_fea keeps eq. (2)'s feature alignment.

Common to all modes: images (not patches) are split 8:1:1 (seeded; the test images are listed in
the manifest and never seen), each image is cut by the adaptive partition (``ceil(W/224) x
ceil(H/224)`` patches spread evenly, no padding), the modality maps (saliency, depth,
segmentation from :mod:`jndtf.priors.modalities` providers, ``--saliency/--depth/--segmentation``
``classical`` or a ``.tflite``/``.keras`` file) and the teacher's map are computed once per whole
image and cached (keyed by the image's sha256 and the provider's ``describe()`` / the teacher's
sha256). After every epoch: the loss on the validation patches, and the paper's protocol on the
whole validation images, MS-SSIM of I against I + eq. (13) noise shaped by |I − I_rr| at MSE 100
(SSIM when a validation image is under 176 px), with the uniform map's (and the teacher's) value
on the same images as references in the manifest.

Outputs in the run folder: ``hmjnd.keras`` (I_rr only), ``hmjnd.json`` (mode, teacher with its
sha256 and strength, the providers' ``describe_stack``, data files with sha256 and the split,
losses and validation numbers per epoch, command, versions, sha256), ``logs/`` (TensorBoard) and,
while training, ``hmjnd.ckpt.npz`` (rewritten atomically after every epoch; resume is exact).

Example:
    >>> cfg = HmjndTrainConfig(data_dir="photos", mode="distill", teacher="yang2005",
    ...                        preset="hmjnd_tiny", epochs=2, output_dir="runs/hmjnd")
    >>> result = train_hmjnd(cfg)
    >>> result.val_quality, result.val_metric
"""

from __future__ import annotations

from jndtf.train.hmjnd.config import (
    MODES,
    PAIRS_ORIGINALS,
    PAIRS_TARGETS,
    RESUMABLE_CHANGES,
    HmjndProgress,
    HmjndTrainConfig,
    HmjndTrainResult,
    checkpoint_file,
    parse_split,
    progress_fields,
    report,
)
from jndtf.train.hmjnd.data import list_images, patch_origins, split_indices
from jndtf.train.hmjnd.loop import VAL_MSE, quality_at_mse, train_hmjnd

__all__ = [
    "MODES",
    "PAIRS_ORIGINALS",
    "PAIRS_TARGETS",
    "RESUMABLE_CHANGES",
    "VAL_MSE",
    "HmjndProgress",
    "HmjndTrainConfig",
    "HmjndTrainResult",
    "checkpoint_file",
    "list_images",
    "parse_split",
    "patch_origins",
    "progress_fields",
    "quality_at_mse",
    "report",
    "split_indices",
    "train_hmjnd",
]
