"""Training recipe of the four CAM classifiers of DMV-JND (``jndtf train classifiers``).

Jin et al., "Just Noticeable Difference for Deep Machine Vision", IEEE TCSVT 2022, Sec. IV-A:
DMV-JND-NET uses four pre-trained classifiers (AlexNet, VGG, ResNet, DenseNet) twice, frozen:
their class activation maps (Zhou et al. 2016) merged by eq. (2) guide and weigh the JND, and
their labels on x and x̂ = x + e give Loss1. The networks are
:func:`jndtf.models.classifiers.build_cam_classifier` (registry family ``classifiers``).

- **Data.** Any labelled set :func:`jndtf.data.classification.read_classification` reads
  (class-per-folder tree, its ``.tar.gz``, CIFAR-10 binary or python batches); ``max_images``
  keeps a stratified subset; ``val_size`` (default 10 %: 45,000 / 5,000 of CIFAR-10's training
  set) is held out, stratified, fixed seed, and no training step sees it.
- **Inputs.** RGB / 255; the model's first layer applies the paper's normalization
  ``((0.5,)*3, (0.5,)*3)``: ``(u - 0.5) / 0.5``. Horizontal flip with p = 0.5 (Sec. IV-A).
- **Optimizer.** Adam with decoupled weight decay (AdamW), cosine decay to 0, batch 50. The
  paper does not give its classifiers' recipe; this one is a common CIFAR-10 setting.
- **Outputs** in the run folder: ``<arch>.keras`` per classifier (the file is named by the
  architecture whatever the preset's width, so ``jndtf train dmv --classifiers RUN`` finds
  ``alexnet.keras``, ``vgg.keras``, ``resnet.keras``, ``densenet.keras``), ``classifiers.json``
  (class names, normalization, data path + sha256 of the archive + sha256 of the decoded
  arrays, split, per classifier: preset, sha256, per-epoch loss / accuracy / validation
  accuracy / seconds, settings, command, versions), ``logs/<arch>/`` (TensorBoard scalars) and,
  while training, ``classifiers.ckpt.npz`` (rewritten atomically after every epoch; resume is
  exact: the resumed run ends with the weights of an uninterrupted one).

**Training for the issue's targets** (ResNet/DenseNet >= 88 %, VGG >= 85 %, AlexNet >= 75 %)
is a GPU job: on 2 shared CPU cores one epoch of ResNet-20 over 45,000 images takes tens of
minutes (``benchmarks/cam_classifiers_step.py``).

Example:
    >>> cfg = ClassifiersTrainConfig(data_dir="cifar10-train-jpg75.tar.gz", arch=("resnet",),
    ...                              output_dir="runs/classifiers", epochs=60)
    >>> result = train_classifiers(cfg)
    >>> result.val_accuracy["resnet"]
"""

from __future__ import annotations

from jndtf.train.classifiers.config import (
    RESUMABLE_CHANGES,
    ClassifiersProgress,
    ClassifiersTrainConfig,
    ClassifiersTrainResult,
    checkpoint_file,
    progress_fields,
    report,
)
from jndtf.train.classifiers.data import PreparedData, prepare_data
from jndtf.train.classifiers.loop import predict_labels, train_classifiers

__all__ = [
    "RESUMABLE_CHANGES",
    "ClassifiersProgress",
    "ClassifiersTrainConfig",
    "ClassifiersTrainResult",
    "PreparedData",
    "checkpoint_file",
    "predict_labels",
    "prepare_data",
    "progress_fields",
    "report",
    "train_classifiers",
]
