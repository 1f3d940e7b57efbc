"""Training recipe of DMV-JND-NET (``jndtf train dmv --data DATA --classifiers RUN -o OUT``).

Jin et al., "Just Noticeable Difference for Deep Machine Vision", IEEE TCSVT 2022, Sec. IV:

- **Frozen classifiers.** The four CAM classifiers of a ``jndtf train classifiers`` run
  (``alexnet.keras``, ``vgg.keras``, ``resnet.keras``, ``densenet.keras``; a missing one is an
  error that names it) are loaded and never updated.
- **Merged CAM, computed once.** For every image, each classifier's label on the original
  l_n (eq. (6)) and its CAM for that label (Zhou et al. 2016, normalized to [0, 1]) are merged
  by eq. (2), ``c = 1/4 Σ_n c_n``, and cached in ``cam_cache.npz`` (keyed by the sha256 of the
  images and of the four classifier files; a resumed run reuses it). A horizontally flipped
  image gets its cached CAM flipped with it (a CAM of the flipped image would be close, not
  identical: the networks are not exactly flip-equivariant).
- **E-D and loss.** x̂ = x + e (eqs. (3)-(4), unclipped in training), e = E(x, c) from
  :func:`jndtf.models.dmv.build_dmv_net`; Loss = Loss1 + α·Loss2 + β·Loss3 (eq. (7),
  :mod:`jndtf.losses.dmv`, α = β = 1): Loss1 the cross-entropy of each classifier on x̂
  against its own label on x, Loss2 the magnitude term (eq. (13)), Loss3 the CAM-weighted
  spatial term (eq. (15)).
- **Optimizer.** Adam 1e-5 with weight decay 1e-3, batch 50 (Sec. V-A). The decay is added
  to the gradient (L2, as PyTorch's ``Adam(weight_decay=)``), not decoupled as Keras' own.
- **Validation** after every epoch on the held-out split (the same split as the classifiers'
  run for the same ``--data/--max-images/--val-size/--seed``; ``val_unseen_by_classifiers``
  in the manifest says whether it is): RCA per classifier and averaged (eqs. (16)-(17),
  :mod:`jndtf.metrics`) on x̂ clipped to 0..255 and rounded to uint8 (what a user gets; the
  unrounded RCA is recorded beside it), mean PSNR of x̂ vs x, the loss terms.

Outputs in the run folder: ``dmv.keras`` (the E-D alone), ``dmv.json`` (inputs, outputs, the
classifiers' sha256, data sha256 and split, loss and optimizer settings, per-epoch history,
final validation RCA/PSNR, command, versions, sha256), ``cam_cache.npz``, ``logs/``
(TensorBoard scalars) and, while training, ``dmv.ckpt.npz`` (rewritten atomically after every
epoch; resume is exact).

Real training (four full classifiers run on x and x̂ at every step) is a GPU job; the tests
train ``dmv_tiny`` against ``*_tiny`` classifiers on a few hundred images.

Example:
    >>> cfg = DmvTrainConfig(data_dir="cifar10-train-jpg75.tar.gz",
    ...                      classifiers_dir="runs/classifiers", output_dir="runs/dmv")
    >>> result = train_dmv(cfg)
    >>> result.val_mean_rca, result.val_psnr
"""

from __future__ import annotations

from jndtf.train.dmv.config import (
    CLASSIFIER_ARCHS,
    RESUMABLE_CHANGES,
    DmvProgress,
    DmvTrainConfig,
    DmvTrainResult,
    checkpoint_file,
    progress_fields,
    report,
)
from jndtf.train.dmv.loop import (
    cached_cams,
    labeler,
    load_classifiers,
    merged_cams,
    train_dmv,
)

__all__ = [
    "CLASSIFIER_ARCHS",
    "RESUMABLE_CHANGES",
    "DmvProgress",
    "DmvTrainConfig",
    "DmvTrainResult",
    "cached_cams",
    "checkpoint_file",
    "labeler",
    "load_classifiers",
    "merged_cams",
    "progress_fields",
    "report",
    "train_dmv",
]
