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
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import io
import json
import math
import os
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Values of :attr:`AcolTrainConfig.distribution`.
DISTRIBUTIONS = ("auto", "none", "mirrored", "multi_worker", "data_parallel")

#: Settings that may change between a run and its resumption; every other field of
#: :class:`AcolTrainConfig` must match the checkpoint's.
RESUMABLE_CHANGES = (
    "data_dir",
    "output_dir",
    "epochs",
    "cache_dir",
    "resume",
    "jit_compile",
    "distribution",
    "devices",
    "tensorboard",
    "command",
    "verbose",
)

CHECKPOINT_FORMAT = 1
_MIN_CROP = 32


@dataclass(frozen=True)
class AcolTrainConfig:
    """Settings of :func:`train_acol` (frozen; defaults have no side effects).

    Attributes:
        data_dir: folder of training images (not recursive), e.g. COCO's ``train2017``.
        output_dir: where ``model.keras``, ``manifest.json``, ``checkpoints/``, ``logs/`` go.
        preset: ACoL-family model of the registry: ``acol``, ``bl``, ``bl_acol``, ``bl_pmcm``.
        width: width multiplier of the hidden layers, ``"default"`` (1), ``"tiny"`` (0.25) or
            a positive number.
        epochs: total epochs of the run (a resumed run continues up to this number).
        steps_per_epoch: batches per epoch (None: ``ceil(images / batch_size)``).
        batch_size: global batch (paper: 32), split over the replicas.
        crop_size: side of the random square crops in pixels (paper: 176; at most the
            smallest image side; A-IQA's MS-SSIM needs >= 176).
        learning_rate: Adam learning rate (paper: 1e-5), constant.
        delta: δ of eq. (6), the weight of L1 (paper: 1).
        eta: η of eq. (6), the weight of L2 (paper: 0.1).
        l1: eq. (4)'s quality term: ``"aiqa"`` (paper) or a :mod:`jndtf.iqa` metric name
            (``"ssim"``, ``"gmsd"``, ...) used through :class:`jndtf.losses.IQALoss`.
        aiqa_classifier: ``.keras`` distortion classifier for ``l1="aiqa"`` (None: shipped).
        max_images: train on a seeded random subset of this many images (paper: 1000).
        seed: seed of the weights, the image subset, the visiting order and the crops.
        cache_dir: cache of the network inputs (None: ``$JNDTF_CACHE_DIR`` or
            ``~/.cache/jndtf/inputs``).
        resume: continue from ``output_dir/checkpoints/last.npz`` (refused when the checkpoint
            was made with other settings; starts afresh when there is none). Without it an
            existing checkpoint is an error, never overwritten.
        mixed_precision: ``mixed_float16`` compute (GPU); losses and x_d stay float32, the
            loss is scaled dynamically, the saved model is float32.
        jit_compile: XLA-compile the TensorFlow train step (GPU; slower on CPU). The JAX
            backend always compiles with XLA.
        distribution: ``"auto"`` (TF: multi_worker when ``TF_CONFIG`` names several tasks,
            mirrored with several GPUs, else none; JAX: data_parallel with several devices),
            ``"none"``, ``"mirrored"``, ``"multi_worker"`` (TF) or ``"data_parallel"`` (JAX).
        devices: devices of the mirrored strategy (e.g. ``("/gpu:0", "/gpu:1")``; empty: all
            GPUs, else the CPU).
        tensorboard: write TensorBoard logs (skipped with a warning when TensorFlow is absent).
        command: command line recorded in the manifest (None: ``sys.argv``).
        verbose: Keras' own progress output (0 silent, 1 bar, 2 a line per epoch).
    """

    data_dir: str
    output_dir: str = "runs/acol"
    preset: str = "acol"
    width: str | float = "default"
    epochs: int = 100
    steps_per_epoch: int | None = None
    batch_size: int = 32
    crop_size: int = 176
    learning_rate: float = 1e-5
    delta: float = 1.0
    eta: float = 0.1
    l1: str = "aiqa"
    aiqa_classifier: str | None = None
    max_images: int | None = None
    seed: int = 0
    cache_dir: str | None = None
    resume: bool = False
    mixed_precision: bool = False
    jit_compile: bool = False
    distribution: str = "auto"
    devices: tuple[str, ...] = ()
    tensorboard: bool = True
    command: str | None = None
    verbose: int = 0

    def __post_init__(self):
        from jndtf.models.acol.presets import width_multiplier
        from jndtf.models.registry import available_models

        if not str(self.data_dir).strip():
            raise ValueError("data_dir is empty: give the folder of training images")
        presets = available_models("acol")
        if self.preset not in presets:
            raise ValueError(
                f"preset {self.preset!r} is not an ACoL-JND model; choose from {', '.join(presets)}"
            )
        width_multiplier(self.width)  # ValueError names a bad width
        ints = {"epochs": 1, "batch_size": 1, "crop_size": _MIN_CROP, "seed": 0, "verbose": 0}
        optional = {"steps_per_epoch": 1, "max_images": 1}
        for name, lo in {**ints, **optional}.items():
            v = getattr(self, name)
            if v is None and name in optional:
                continue
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
        if not (
            isinstance(self.learning_rate, int | float)
            and math.isfinite(self.learning_rate)
            and self.learning_rate > 0
        ):
            raise ValueError(
                f"learning_rate must be a finite number > 0, got {self.learning_rate!r}"
            )
        for name in ("delta", "eta"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
        if self.delta == 0 and self.eta == 0:
            raise ValueError("delta and eta are both 0: eq. (6) would be a constant")
        if not isinstance(self.l1, str) or not self.l1:
            raise ValueError(f"l1 must be 'aiqa' or a jndtf.iqa metric name, got {self.l1!r}")
        if self.aiqa_classifier is not None and self.l1 != "aiqa":
            raise ValueError(f"aiqa_classifier is set but l1={self.l1!r}; it applies to l1='aiqa'")
        if self.distribution not in DISTRIBUTIONS:
            raise ValueError(
                f"unknown distribution {self.distribution!r}; "
                f"choose from {', '.join(DISTRIBUTIONS)}"
            )
        if isinstance(self.devices, str) or not all(isinstance(d, str) for d in self.devices):
            raise ValueError(f"devices must be a tuple of device names, got {self.devices!r}")
        if self.devices and self.distribution not in ("auto", "mirrored"):
            raise ValueError(
                f"devices apply to the mirrored strategy, not distribution={self.distribution!r}"
            )

    def resume_key(self) -> dict:
        """The settings a checkpoint must share with this config to be resumed."""
        settings = dataclasses.asdict(self)
        return {k: v for k, v in settings.items() if k not in RESUMABLE_CHANGES}


@dataclass(frozen=True)
class AcolProgress:
    """One progress report of :func:`train_acol`.

    Attributes:
        phase: ``"inputs"`` (hashing images, computing and caching priors: `step` of `steps`
            images, `item` the file), ``"train"`` (after each training step: L1, L2 and the
            total of that step) or ``"epoch"`` (after each epoch: the epoch means).
        epoch: 1-based epoch (0 in the inputs phase).
        epochs: epochs of the run.
        step: 1-based step within the epoch (images done in the inputs phase).
        steps: steps per epoch (images in the inputs phase).
        global_step: steps done since the run began, resumed sessions included.
        total_steps: ``epochs * steps``.
        l1, l2, total: eq. (4), eq. (5) and eq. (6) values (None in the inputs phase).
        seconds: wall time of this session so far.
        item: file name (inputs phase), else None.
    """

    phase: str
    epoch: int
    epochs: int
    step: int
    steps: int
    global_step: int = 0
    total_steps: int = 0
    l1: float | None = None
    l2: float | None = None
    total: float | None = None
    seconds: float = 0.0
    item: str | None = None


@dataclass(frozen=True)
class AcolTrainResult:
    """What :func:`train_acol` wrote and measured.

    Attributes:
        output_dir, model_path, manifest_path, checkpoint_path: the files (written by the chief
            only in a multi-worker run).
        epochs: epochs completed in total.
        final_losses: ``{"l1", "l2", "total"}`` means of the last epoch.
        history: per-epoch records ``{"epoch", "l1", "l2", "total", "steps", "seconds"}``.
        seconds: training wall time over all sessions (caching included).
        resumed_from: ``(epoch, step)`` position the run resumed at (0-based), or None.
        replicas: number of replicas that trained.
    """

    output_dir: Path
    model_path: Path
    manifest_path: Path
    checkpoint_path: Path
    epochs: int
    final_losses: dict[str, float]
    history: tuple[dict, ...]
    seconds: float
    resumed_from: tuple[int, int] | None
    replicas: int


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or Inf; the run stopped and the last good checkpoint is intact.

    Attributes:
        epoch, step: 1-based position of the offending batch.
        files: source image files of the batch's crops, in batch order.
        values: ``{"l1", "l2", "total"}`` of that step.
        checkpoint: the last good checkpoint (None if none was written yet).
    """

    def __init__(self, epoch, step, files, values, checkpoint):
        self.epoch, self.step, self.files = epoch, step, list(files)
        self.values, self.checkpoint = dict(values), checkpoint
        unique = list(dict.fromkeys(self.files))
        kept = (
            f"the last good checkpoint {checkpoint} is kept"
            if checkpoint is not None
            else "no checkpoint had been written yet"
        )
        shown = ", ".join(f"{k}={v:.6g}" for k, v in self.values.items())
        super().__init__(
            f"non-finite loss at epoch {epoch}, step {step} ({shown}); the batch's crops came "
            f"from {', '.join(unique)}; {kept}. Check those images, or lower learning_rate / "
            f"turn mixed_precision off, then resume."
        )


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) stopped the run after a step; its state was checkpointed.

    Attributes:
        checkpoint: the checkpoint written (None on a non-chief worker).
        epoch, step: 0-based position the checkpoint resumes at.
    """

    def __init__(self, checkpoint, epoch, step):
        self.checkpoint, self.epoch, self.step = checkpoint, epoch, step
        super().__init__(
            f"interrupted; state saved to {checkpoint} (epoch {epoch + 1}, step {step + 1}); "
            "run again with resume=True to continue"
        )


class CheckpointMismatchError(ValueError):
    """The checkpoint in output_dir was made with other settings than this run's."""


# ------------------------------------------------------------------------------ checkpoints


def checkpoint_path(output_dir: str | os.PathLike) -> Path:
    """``output_dir/checkpoints/last.npz``."""
    return Path(output_dir) / "checkpoints" / "last.npz"


def write_checkpoint(path: Path, meta: dict, weights, optimizer_variables) -> None:
    """Writes one ``.npz``: JSON `meta`, the model weights ``w#``, the optimizer state ``o#``,
    through a temporary file and a rename."""
    from jndtf.io import atomic_write_bytes

    arrays = {"meta": np.array(json.dumps(meta))}
    arrays.update({f"w{i:05d}": np.asarray(w) for i, w in enumerate(weights)})
    arrays.update({f"o{i:05d}": np.asarray(v) for i, v in enumerate(optimizer_variables)})
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def read_checkpoint(path: str | os.PathLike) -> tuple[dict, list[np.ndarray], list[np.ndarray]]:
    """``(meta, weights, optimizer_variables)`` of a checkpoint written by :func:`train_acol`."""
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        weights = [z[k] for k in sorted(z.files) if k.startswith("w")]
        opt = [z[k] for k in sorted(z.files) if k.startswith("o")]
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointMismatchError(
            f"{path}: checkpoint format {meta.get('format')!r}, this jndtf reads "
            f"{CHECKPOINT_FORMAT}"
        )
    return meta, weights, opt


def _check_resumable(path: Path, meta: dict, config: AcolTrainConfig, data_hashes) -> None:
    saved = meta["config_key"]
    wanted = config.resume_key()
    wanted = json.loads(json.dumps(wanted))  # tuples -> lists, as stored
    diffs = [
        f"{k}={saved.get(k)!r} in the checkpoint, {wanted.get(k)!r} now"
        for k in sorted(set(saved) | set(wanted))
        if saved.get(k) != wanted.get(k)
    ]
    if diffs:
        raise CheckpointMismatchError(
            f"cannot resume from {path}: it was made with other settings ({'; '.join(diffs)}). "
            "Use the checkpoint's settings, or another output_dir for a new run."
        )
    if meta["data_sha256"] != list(data_hashes):
        raise CheckpointMismatchError(
            f"cannot resume from {path}: the training images differ from the checkpoint's "
            f"({len(meta['data_sha256'])} then, {len(data_hashes)} now, or changed content). "
            "Use the same images, or another output_dir for a new run."
        )


# ----------------------------------------------------------------------------- distribution


def _tf_config_workers() -> int:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return 0
    try:
        cluster = json.loads(raw).get("cluster", {})
    except ValueError as err:
        raise ValueError(f"TF_CONFIG is not valid JSON: {err}") from None
    return sum(len(v) for k, v in cluster.items() if k in ("chief", "worker"))


def _is_chief() -> bool:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return True
    task = json.loads(raw).get("task", {})
    cluster = json.loads(raw).get("cluster", {})
    if "chief" in cluster:
        return task.get("type") == "chief"
    return task.get("type", "worker") == "worker" and int(task.get("index", 0)) == 0


@dataclass
class _Distribution:
    kind: str  # none | mirrored | multi_worker | data_parallel
    replicas: int
    chief: bool
    strategy: object = None  # tf.distribute.Strategy
    jax_distribution: object = None

    def scope(self):
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def describe(self) -> dict:
        out = {"kind": self.kind, "replicas": self.replicas}
        if self.kind == "multi_worker":
            out["workers"] = _tf_config_workers()
        return out


def _make_distribution(config: AcolTrainConfig) -> _Distribution:
    import keras

    backend = keras.backend.backend()
    kind = config.distribution
    if backend == "tensorflow":
        import tensorflow as tf

        if kind == "data_parallel":
            raise ValueError(
                "distribution='data_parallel' is the JAX backend's; under TensorFlow use "
                "'mirrored' (local GPUs) or 'multi_worker' (TF_CONFIG)"
            )
        if kind == "auto":
            if _tf_config_workers() > 1:
                kind = "multi_worker"
            elif config.devices or len(tf.config.list_physical_devices("GPU")) > 1:
                kind = "mirrored"
            else:
                kind = "none"
        if kind == "none":
            return _Distribution("none", 1, True)
        if kind == "mirrored":
            strategy = tf.distribute.MirroredStrategy(list(config.devices) or None)
            return _Distribution("mirrored", strategy.num_replicas_in_sync, True, strategy)
        if _tf_config_workers() < 1:
            raise ValueError(
                "distribution='multi_worker' needs TF_CONFIG naming the cluster and this task"
            )
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        return _Distribution("multi_worker", strategy.num_replicas_in_sync, _is_chief(), strategy)
    if backend == "jax":
        import jax

        if kind in ("mirrored", "multi_worker"):
            raise ValueError(
                f"distribution={kind!r} needs the TensorFlow backend; under JAX use "
                "'data_parallel' (the local devices of one process) or 'none'"
            )
        devices = jax.devices()
        if kind == "auto":
            kind = "data_parallel" if len(devices) > 1 else "none"
        if kind == "none" or len(devices) == 1:
            return _Distribution("none", 1, True)
        dist = keras.distribution.DataParallel(devices=devices)
        return _Distribution("data_parallel", len(devices), True, jax_distribution=dist)
    raise RuntimeError(f"train_acol supports the tensorflow and jax backends, not {backend!r}")


# ----------------------------------------------------------------------------------- model


def _make_l1(config: AcolTrainConfig):
    """Eq. (4)'s loss object: AIQALoss or IQALoss(metric)."""
    if config.l1 == "aiqa":
        from jndtf.losses import AIQALoss

        return AIQALoss(classifier=config.aiqa_classifier)
    from jndtf.losses import IQALoss

    return IQALoss(config.l1)


@contextlib.contextmanager
def _dtype_policy(name: str):
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _build_trainer(spec, config: AcolTrainConfig, dist: _Distribution):
    """``(net, train_model)``: the JND network and the model fit() trains (eq. (6) loss)."""
    import keras
    from keras import ops

    from jndtf.losses import GradientLoss
    from jndtf.models.acol import with_distorted_output

    delta, eta = float(config.delta), float(config.eta)
    vector_logs = dist.kind == "multi_worker"
    replicas = dist.replicas if dist.strategy is not None else 1

    class _Last(keras.metrics.Metric):
        """The value of the last step (per replica; fit() averages the replicas)."""

        def __init__(self, name):
            super().__init__(name=name, dtype="float32")
            self.value = self.add_variable((), "zeros", aggregation="mean", name="value")

        def update_state(self, value):
            self.value.assign(ops.cast(value, "float32"))

        def result(self):
            return ops.convert_to_tensor(self.value)

        def reset_state(self):
            self.value.assign(0.0)

    class _AcolTrainer(keras.Model):
        """x -> {"jnd", "distorted"}; loss eq. (6) on y = x_o (pixel values)."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.terms = {name: _Last(name) for name in ("l1", "l2", "total")}

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            x_o = ops.cast(y, "float32")
            l1 = ops.mean(l1_loss.call(x_o, ops.cast(y_pred["distorted"], "float32")))
            l2 = ops.mean(l2_loss.call(x_o, ops.cast(y_pred["jnd"], "float32")))
            total = delta * l1 + eta * l2
            for name, value in (("l1", l1), ("l2", l2), ("total", total)):
                self.terms[name].update_state(value)
            # fit() sums the replicas' gradients: each replica contributes 1/replicas
            return total / replicas if replicas > 1 else total

        @property
        def metrics(self):
            return [*super().metrics, *self.terms.values()]

        def get_metrics_result(self):
            result = super().get_metrics_result()
            if vector_logs:
                # Keras 3.15 reduces multi-worker logs with reduce(MEAN, axis=0), which fails
                # on scalars (tensorflow#72388): give it shape (1,) values.
                result = {k: ops.reshape(v, (1,)) for k, v in result.items()}
            return result

        def _maybe_symbolic_build(self, iterator=None, data_batch=None):
            # Keras 3.15 reduces a (x, y) batch with strategy.reduce before building, which
            # MultiWorkerMirroredStrategy rejects; everything is built before fit() here.
            if self.built and self.optimizer is not None and self.optimizer.built:
                return None
            return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    with dist.scope():
        l1_loss = _make_l1(config)  # A-IQA's classifier: its variables under the strategy too
        l2_loss = GradientLoss()
        keras.utils.set_random_seed(config.seed)
        policy = "mixed_float16" if config.mixed_precision else keras.config.dtype_policy().name
        with _dtype_policy(policy):
            net = spec.build(width=config.width)
        with _dtype_policy("float32"):  # x_d = x_o + x_j in float32 (eq. (3))
            core = with_distorted_output(net)
        inputs = keras.Input((None, None, spec.input_channels), name="inputs")
        model = _AcolTrainer(inputs, core(inputs), name=f"{net.name}_trainer")
        # explicit names: the checkpoint matches optimizer variables by path
        optimizer = keras.optimizers.Adam(config.learning_rate, name="adam")
        if config.mixed_precision:  # dynamic loss scaling of the float16 gradients
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer, name="loss_scale")
        model.compile(
            optimizer=optimizer,
            jit_compile=True if keras.backend.backend() == "jax" else config.jit_compile,
        )
        model.optimizer.build(model.trainable_variables)
    return net, model


def _save_final_model(spec, config: AcolTrainConfig, net, path: Path) -> None:
    """The network in float32 with the trained weights, without optimizer state."""
    from jndtf.train._common import atomic_save_model

    with _dtype_policy("float32"):
        lean = spec.build(width=config.width)
    lean.set_weights([np.asarray(w, np.float32) for w in net.get_weights()])
    atomic_save_model(lean, path)


# -------------------------------------------------------------------------------- training


class _SigintFlag:
    """First Ctrl-C: set a flag (the run checkpoints and stops after the step); second: raise."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


def _resolve_command(config: AcolTrainConfig) -> str:
    return config.command if config.command is not None else shlex.join(sys.argv)


def train_acol(
    config: AcolTrainConfig, progress: Callable[[AcolProgress], None] | None = None
) -> AcolTrainResult:
    """Trains an ACoL-JND model with eq. (6), ``L = δ·L1 + η·L2``, and writes model + manifest.

    Args:
        config: the settings (:class:`AcolTrainConfig`).
        progress: called with an :class:`AcolProgress` per image while the inputs are cached,
            after every step (L1, L2, total of the step) and after every epoch (means).

    Returns:
        :class:`AcolTrainResult` with the paths, the loss history and the time.

    Raises:
        FileNotFoundError: the data folder does not exist.
        ValueError: no images, a crop larger than the smallest image, a batch not divisible
            by the replicas, an L1 metric that cannot run at this crop size.
        ImageError: an unreadable image (named).
        FileExistsError: ``output_dir`` holds a checkpoint and ``resume`` is False.
        CheckpointMismatchError: ``resume`` with a checkpoint of other settings or data.
        NonFiniteLossError: NaN/Inf in L1, L2 or the total (epoch, step and files named).
        TrainingInterrupted: Ctrl-C; the state was checkpointed first.

    Ctrl-C is caught only when this runs in the main thread (Python delivers signals there);
    the first one stops after the current step, a second one interrupts at once.
    """
    from jndtf._deps import require

    keras = require("keras", "training ACoL-JND")
    from jndtf.data.image_folder import ImageFolderDataset
    from jndtf.models.registry import get_model_spec
    from jndtf.train._common import atomic_write_json

    t0 = time.perf_counter()
    cfg = config
    spec = get_model_spec(cfg.preset)
    out = Path(cfg.output_dir)
    ckpt = checkpoint_path(out)
    model_path, manifest_path, log_dir = out / "model.keras", out / "manifest.json", out / "logs"

    meta = None
    if ckpt.is_file():
        if not cfg.resume:
            raise FileExistsError(
                f"{out} already holds a checkpoint ({ckpt}); pass resume=True to continue that "
                "run, or choose another output_dir"
            )
        meta, saved_weights, saved_opt = read_checkpoint(ckpt)

    dist = _make_distribution(cfg)
    if cfg.batch_size % dist.replicas:
        raise ValueError(
            f"batch_size {cfg.batch_size} does not split evenly over {dist.replicas} replicas "
            f"({dist.kind}); use a multiple of {dist.replicas}"
        )

    def report(phase, epoch, step, steps, values=None, item=None):
        if progress is None:
            return
        training = phase != "inputs"
        progress(
            AcolProgress(
                phase=phase,
                epoch=epoch,
                epochs=cfg.epochs,
                step=step,
                steps=steps,
                global_step=(epoch - 1) * steps + step if training else 0,
                total_steps=cfg.epochs * steps if training else 0,
                seconds=time.perf_counter() - t0,
                item=item,
                **(values or {}),
            )
        )

    def inputs_progress(done, total, name):
        report("inputs", 0, done, total, item=name)

    data = ImageFolderDataset(
        cfg.data_dir,
        crop_size=cfg.crop_size,
        batch_size=cfg.batch_size,
        priors=spec.priors,
        normalization=spec.normalization,
        seed=cfg.seed,
        steps_per_epoch=cfg.steps_per_epoch,
        max_images=cfg.max_images,
        cache_dir=cfg.cache_dir,
        progress=inputs_progress,
    )
    hashes = [r.sha256 for r in data.records]
    if meta is not None:
        _check_resumable(ckpt, meta, cfg, hashes)

    if dist.jax_distribution is not None:
        previous_distribution = keras.distribution.distribution()
        keras.distribution.set_distribution(dist.jax_distribution)
    try:
        net, model = _build_trainer(spec, cfg, dist)
        _check_l1_runs(model, data)
        state = _TrainState.fresh() if meta is None else _TrainState.from_meta(meta)
        if meta is not None:
            _restore(model, saved_weights, saved_opt, meta, ckpt, dist)
        resumed_from = None if meta is None else (state.epoch, state.step)
        steps = data.steps_per_epoch

        def save(synced_model, position_epoch, position_step):
            # synced_model: Callback.model, which (under JAX) attaches the step's state first
            if not dist.chief:
                return
            record = state.to_meta(cfg, hashes, position_epoch, position_step, synced_model, t0)
            opt = [v.numpy() for v in synced_model.optimizer.variables]
            write_checkpoint(ckpt, record, synced_model.get_weights(), opt)
            state.saved = (position_epoch, position_step)

        class _Monitor(keras.callbacks.Callback):
            """Per step: progress, NaN check, Ctrl-C; per epoch: means and the checkpoint."""

            def __init__(self, epoch, start_step, sigint):
                super().__init__()
                self.epoch, self.start_step, self.sigint = epoch, start_step, sigint

            def on_train_batch_end(self, batch, logs=None):
                step = self.start_step + int(batch)
                values = {k: _scalar(logs[k]) for k in ("l1", "l2", "total")}
                if not all(math.isfinite(v) for v in values.values()):
                    state.failure = (self.epoch, step, values)
                    self.model.stop_training = True
                    return
                state.add_step(values)
                report("train", self.epoch + 1, step + 1, steps, values)
                if self.sigint.requested and step + 1 < steps:
                    save(self.model, self.epoch, step + 1)
                    state.interrupted = (self.epoch, step + 1)
                    self.model.stop_training = True

            def on_epoch_end(self, epoch, logs=None):
                if logs is not None:
                    logs.clear()  # nothing partial or NaN reaches TensorBoard
                if state.failure is not None or state.interrupted is not None:
                    return
                record = state.close_epoch(self.epoch, steps)
                means = {k: record[k] for k in ("l1", "l2", "total")}
                if logs is not None:
                    logs.update({"loss": means["total"], **means})
                save(self.model, self.epoch + 1, 0)
                report("epoch", self.epoch + 1, steps, steps, means)
                if self.sigint.requested and self.epoch + 1 < cfg.epochs:
                    state.interrupted = (self.epoch + 1, 0)
                    self.model.stop_training = True

        board = _tensorboard(keras, log_dir) if (cfg.tensorboard and dist.chief) else None
        with _SigintFlag() as sigint:
            epoch, start = state.epoch, state.step
            while epoch < cfg.epochs:
                callbacks = [_Monitor(epoch, start, sigint)] + ([board] if board else [])
                model.fit(
                    data.keras_dataset(epoch, start),
                    epochs=epoch + 1,
                    initial_epoch=epoch,
                    shuffle=False,
                    callbacks=callbacks,
                    verbose=cfg.verbose,
                )
                if state.failure is not None:
                    e, s, values = state.failure
                    raise NonFiniteLossError(
                        e + 1,
                        s + 1,
                        data.batch_files(e, s),
                        values,
                        ckpt if state.saved is not None or meta is not None else None,
                    )
                if state.interrupted is not None:
                    e, s = state.interrupted
                    raise TrainingInterrupted(ckpt if dist.chief else None, e, s)
                epoch, start = epoch + 1, 0
    finally:
        if dist.jax_distribution is not None:
            keras.distribution.set_distribution(previous_distribution)

    seconds = state.previous_seconds + time.perf_counter() - t0
    final = {k: state.history[-1][k] for k in ("l1", "l2", "total")} if state.history else {}
    result = AcolTrainResult(
        output_dir=out,
        model_path=model_path,
        manifest_path=manifest_path,
        checkpoint_path=ckpt,
        epochs=len(state.history),
        final_losses=final,
        history=tuple(state.history),
        seconds=seconds,
        resumed_from=resumed_from,
        replicas=dist.replicas,
    )
    if not dist.chief:
        return result

    _save_final_model(spec, cfg, net, model_path)
    record = _manifest(cfg, spec, net, data, state, dist, result, t0)
    atomic_write_json(manifest_path, record)
    return result


def _manifest(cfg, spec, net, data, state, dist, result: AcolTrainResult, t0) -> dict:
    """The model's manifest (DESIGN.md: family, preset, inputs and their priors and
    normalization, JND units, training data and command, losses, versions, sha256)."""
    from jndtf.models.inputs import normalization_info
    from jndtf.train._common import sha256_file, versions

    settings = json.loads(json.dumps(dataclasses.asdict(cfg)))
    l1_record = {"name": cfg.l1, "equation": "eq. (4) L1 = Q(x_o, x_d), x_d = x_o + x_j (eq. (3))"}
    if cfg.l1 == "aiqa":
        from jndtf.models.aiqa.loss import default_classifier_path

        clf = Path(cfg.aiqa_classifier) if cfg.aiqa_classifier else default_classifier_path()
        l1_record.update({"classifier": str(clf), "classifier_sha256": sha256_file(clf)})
    record = {
        "family": spec.family,
        "preset": cfg.preset,
        "width": cfg.width,
        "model_name": net.name,
        "description": spec.description,
        "inputs": {
            "channels": spec.input_channels,
            "priors": list(spec.priors),
            "normalization": normalization_info(spec.priors, spec.normalization),
            "builder": "jndtf.models.inputs.model_input(image, priors, normalization='unit')",
            "priors_on": "the whole image (crops are cut from its input)",
        },
        "outputs": {"channels": spec.output_channels, "jnd_units": spec.jnd_units},
        "training": {
            "data": data.describe(),
            "loss": {
                "equation": "eq. (6) L = delta * L1 + eta * L2",
                "delta": cfg.delta,
                "eta": cfg.eta,
                "l1": l1_record,
                "l2": "eq. (5) gradient loss (Prewitt, per pixel, h0 = 0.001)",
                "precision": "float32",
            },
            "optimizer": {"name": "adam", "learning_rate": cfg.learning_rate},
            "settings": settings,
            "epochs": len(state.history),
            "steps_per_epoch": data.steps_per_epoch,
            "history": state.history,
            "final_losses": result.final_losses,
            "sessions": state.all_sessions(t0, len(state.history), 0),
            "distribution": dist.describe(),
            "mixed_precision": cfg.mixed_precision,
            "jit_compile": cfg.jit_compile,
        },
        "command": _resolve_command(cfg),
        "versions": versions(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "seconds": round(result.seconds, 1),
        "params": int(net.count_params()),
        "sha256": sha256_file(result.model_path),
    }
    return record


def _scalar(value) -> float:
    return float(np.asarray(value, dtype=np.float64).reshape(-1)[0])


def _check_l1_runs(model, data) -> None:
    """Evaluates eq. (6) once on a zero crop so a metric that cannot run at this crop size (e.g.
    A-IQA's MS-SSIM below 176 px) fails now, with its own message, not mid-run."""
    x = np.zeros((1, data.crop_size, data.crop_size, data.input_channels), np.float32)
    y = np.zeros((1, data.crop_size, data.crop_size, 3), np.float32)
    try:
        model.compute_loss(x, y, model(x))
    except ValueError as err:
        raise ValueError(f"the loss cannot run on {data.crop_size} px crops: {err}") from err
    model.reset_metrics()


def _restore(model, weights, opt_values, meta, path, dist) -> None:
    names = [v.path for v in model.weights]
    opt_names = [v.path for v in model.optimizer.variables]
    if names != meta["weight_paths"] or opt_names != meta["optimizer_paths"]:
        raise CheckpointMismatchError(
            f"cannot resume from {path}: its variables ({len(meta['weight_paths'])} weights, "
            f"{len(meta['optimizer_paths'])} optimizer values) do not match this model's "
            f"({len(names)}, {len(opt_names)}); the network code changed since it was written"
        )
    with dist.scope():
        model.set_weights(weights)
        for var, value in zip(model.optimizer.variables, opt_values, strict=True):
            var.assign(value)


def _tensorboard(keras, log_dir: Path):
    """keras.callbacks.TensorBoard at epoch granularity, or None (with a warning) when the
    packages that write event files are missing: TensorFlow's ``tf.summary`` needs the
    ``tensorboard`` package, which TensorFlow 2.21 no longer installs (the callback would fail
    at the end of the first epoch)."""
    import importlib.util

    missing = [m for m in ("tensorflow", "tensorboard") if importlib.util.find_spec(m) is None]
    if missing:
        import warnings

        warnings.warn(
            f"TensorBoard logs skipped: writing them needs {' and '.join(missing)} "
            f"(pip install {' '.join(missing)})",
            stacklevel=3,
        )
        return None
    return keras.callbacks.TensorBoard(log_dir=str(log_dir), update_freq="epoch", write_graph=False)


@dataclass
class _TrainState:
    """Position, loss history and the running sums of the epoch in progress."""

    epoch: int
    step: int
    history: list
    partial: dict
    previous_seconds: float
    sessions: list
    failure: tuple | None = None
    interrupted: tuple | None = None
    saved: tuple | None = None

    @classmethod
    def fresh(cls):
        return cls(0, 0, [], _empty_partial(), 0.0, [])

    @classmethod
    def from_meta(cls, meta):
        return cls(
            meta["epoch"],
            meta["step"],
            list(meta["history"]),
            dict(meta["partial"]),
            float(meta["seconds"]),
            list(meta["sessions"]),
        )

    def add_step(self, values):
        for k, v in values.items():
            self.partial[k] += v
        self.partial["steps"] += 1

    def close_epoch(self, epoch, steps):
        n = max(self.partial["steps"], 1)
        record = {"epoch": epoch + 1, "steps": steps}
        record.update({k: self.partial[k] / n for k in ("l1", "l2", "total")})
        self.history.append(record)
        self.partial = _empty_partial()
        return record

    def all_sessions(self, t0, epoch, step):
        """Earlier sessions plus this one (seconds, and the position it ended at)."""
        return [*self.sessions, {"seconds": time.perf_counter() - t0, "ended_at": [epoch, step]}]

    def to_meta(self, cfg, hashes, epoch, step, model, t0):
        import jndtf

        return {
            "format": CHECKPOINT_FORMAT,
            "jndtf": jndtf.__version__,
            "epoch": epoch,
            "step": step,
            "history": self.history,
            "partial": self.partial,
            "seconds": self.previous_seconds + time.perf_counter() - t0,
            "sessions": self.all_sessions(t0, epoch, step),
            "config_key": json.loads(json.dumps(cfg.resume_key())),
            "data_sha256": list(hashes),
            "data_state": {"seed": cfg.seed, "epoch": epoch, "step": step},
            "weight_paths": [v.path for v in model.weights],
            "optimizer_paths": [v.path for v in model.optimizer.variables],
            "written": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        }


def _empty_partial() -> dict:
    return {"l1": 0.0, "l2": 0.0, "total": 0.0, "steps": 0}


__all__ = [
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
