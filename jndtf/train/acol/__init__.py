"""Training recipe of ACoL-JND and its ablations (``jndtf train acol --data DIR``).

Yu, Jin, Meng, Chen & Zhang, "Adversarial Complementary Learning for Just Noticeable Difference
Estimation", KSII TIIS 18(2), 2024, §3.3-3.4. The network (:func:`jndtf.models.acol.build_acol`,
any preset of the registry's ``acol`` family) maps the prior-guided input of an original image
x_o to a JND map x_j; :func:`~jndtf.models.acol.with_distorted_output` adds it to the image,
``x_d = x_o ⊕ x_j`` (eq. (3)), and the loss is eq. (6)::

    L = δ·L1 + η·L2,   L1 = Q(x_o, x_d)  (eq. (4), A-IQA),   L2 = eq. (5) gradient loss(x_o, x_j)

with δ = 1, η = 0.1, batch 32, Adam at 1e-5 on 176 x 176 crops (the paper trains on 1000 COCO
images; it gives no epoch count, :attr:`AcolTrainConfig.epochs` is jndtf's choice). L1 is the
A-IQA loss (:class:`jndtf.losses.AIQALoss`, the shipped distortion classifier) or, for quick
runs, any :mod:`jndtf.iqa` metric as :class:`jndtf.losses.IQALoss`. Both terms are computed in
float32, also under mixed precision. Batches come from
:class:`jndtf.data.image_folder.ImageFolderDataset` (priors of each whole image computed once by
:func:`jndtf.models.inputs.model_input` and cached on disk, seeded random crops).

Outputs under ``output_dir``:

- ``model.keras``: the JND network alone (float32, no optimizer state), input
  ``(N, H, W, 3 + priors)`` 0..1, output ``(N, H, W, 3)`` JND in pixel values 0..255;
- ``manifest.json``: family, preset, width, input channels with their priors and
  normalization, JND units, training data (folder, number of images, sha256 of each), the
  command and every setting, per-epoch losses, final losses, time, versions, sha256 of the model;
- ``checkpoints/last.npz``: weights + optimizer state + position (epoch, step) + loss history,
  rewritten atomically (temporary file + rename) after every epoch and on Ctrl-C, so ``kill -9``
  loses at most the epoch in progress; ``resume=True`` continues exactly where it stopped
  (batches are a pure function of (seed, epoch, step));
- ``logs/``: TensorBoard event files (epoch means of L1, L2 and the total).

**Distribution.** TensorFlow backend: ``tf.distribute.MirroredStrategy`` over local GPUs (or the
devices named in ``devices``) and ``MultiWorkerMirroredStrategy`` over several machines, one
process per machine started with the same config and a ``TF_CONFIG`` naming the cluster; the
chief (worker 0) writes the outputs, and resuming needs ``output_dir`` on a filesystem every
worker reads; Ctrl-C must reach every worker (a launcher's process group does that), else the
others wait in their collectives. JAX backend: one device, or
``keras.distribution.DataParallel`` over the local devices of one process
(``distribution="data_parallel"``); multi-process JAX is not supported.
``batch_size`` is the global batch, split evenly over the replicas. With ``l1="aiqa"`` each
replica routes its own share of the batch (A-IQA's batch routing), so the loss can differ
slightly from a single-device run; per-image metrics (``"ssim"``, ...) give the same loss.

Example:
    >>> cfg = AcolTrainConfig(data_dir="coco/train2017", max_images=1000, epochs=100)
    >>> result = train_acol(cfg, progress=lambda p: print(p.epoch, p.step, p.total))
    >>> result.model_path
    PosixPath('runs/acol/model.keras')

Modules: :mod:`~jndtf.train.acol.config` (settings, progress, result),
:mod:`~jndtf.train.acol.errors`, :mod:`~jndtf.train.acol.checkpoint` (``last.npz`` and the run
state in it), :mod:`~jndtf.train.acol.distribute` (strategies), :mod:`~jndtf.train.acol.trainer`
(the model fit() trains, eq. (6)), :mod:`~jndtf.train.acol.manifest` and
:mod:`~jndtf.train.acol.loop` (:func:`train_acol`).
"""

from jndtf.train.acol.checkpoint import (
    CHECKPOINT_FORMAT,
    checkpoint_path,
    read_checkpoint,
    write_checkpoint,
)
from jndtf.train.acol.config import (
    DISTRIBUTIONS,
    RESUMABLE_CHANGES,
    AcolProgress,
    AcolTrainConfig,
    AcolTrainResult,
)
from jndtf.train.acol.errors import (
    CheckpointMismatchError,
    NonFiniteLossError,
    TrainingInterrupted,
)
from jndtf.train.acol.loop import train_acol

__all__ = [
    "CHECKPOINT_FORMAT",
    "DISTRIBUTIONS",
    "RESUMABLE_CHANGES",
    "AcolProgress",
    "AcolTrainConfig",
    "AcolTrainResult",
    "CheckpointMismatchError",
    "NonFiniteLossError",
    "TrainingInterrupted",
    "checkpoint_path",
    "read_checkpoint",
    "train_acol",
    "write_checkpoint",
]
