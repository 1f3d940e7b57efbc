"""Settings, progress reports and results of :func:`~jndtf.train.acol.train_acol`.

:class:`AcolTrainConfig` validates every field on construction and names the fields a resumed
run may change (:data:`RESUMABLE_CHANGES`); :class:`AcolProgress` is what the ``progress``
callback receives; :class:`AcolTrainResult` is what the run returns.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

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
    "term_log_every",
)

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
        padding: border handling of the network's convs, ``"reflect"`` (default: a flat image
            gives a flat map to the edge) or ``"zeros"`` (the presets' 'same' padding, as the
            shipped weights were trained; lines along the border).
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
        injection: how L1's distorted image is made: ``"signed"`` (default), ``x_o + R·x_j``
            with R = ±1 drawn afresh every step (eq. (7)'s R, λ = 1), or ``"add"``, eq. (3)
            read literally, ``x_o + x_j``, which the A-IQA metrics barely see (a smooth
            brightening: L1 ~1e-5..4e-3 against η·L2 ~0.03, so only eq. (5) trains; see
            :func:`jndtf.models.acol.layers.inject_signed`).
        term_log_every: every this many steps, measure each term of eq. (6) and its gradient
            norm per layer group on a fixed probe batch (progress + TensorBoard); 0: never.
        aiqa_classifier: ``.keras`` distortion classifier for ``l1="aiqa"`` (None: shipped).
        saliency_model: a trained saliency net (``.keras`` or ``.tflite``, ``jndtf train
            saliency``) computing the f_va prior instead of the classical spectral residual
            (None); recorded in the manifest, so inference uses the same net.
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
    padding: str = "reflect"
    epochs: int = 100
    steps_per_epoch: int | None = None
    batch_size: int = 32
    crop_size: int = 176
    learning_rate: float = 1e-5
    delta: float = 1.0
    eta: float = 0.1
    l1: str = "aiqa"
    injection: str = "signed"
    term_log_every: int = 10
    aiqa_classifier: str | None = None
    saliency_model: str | None = None
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
        ints = {
            "epochs": 1,
            "batch_size": 1,
            "crop_size": _MIN_CROP,
            "seed": 0,
            "verbose": 0,
            "term_log_every": 0,
        }
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
        if self.padding not in ("reflect", "zeros"):
            raise ValueError(f"padding must be 'reflect' or 'zeros', got {self.padding!r}")
        if self.injection not in ("signed", "add"):
            raise ValueError(f"injection must be 'signed' or 'add', got {self.injection!r}")
        if self.aiqa_classifier is not None and self.l1 != "aiqa":
            raise ValueError(f"aiqa_classifier is set but l1={self.l1!r}; it applies to l1='aiqa'")
        if self.saliency_model is not None:
            from jndtf.models.registry import get_model_spec

            if "saliency" not in get_model_spec(self.preset).priors:
                raise ValueError(
                    f"saliency_model is set but preset {self.preset!r} takes no saliency prior"
                )
            if not Path(self.saliency_model).is_file():
                raise FileNotFoundError(f"saliency model {self.saliency_model} does not exist")
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
        terms: the latest term check (every ``term_log_every`` steps, on the probe batch):
            ``{"step", "delta_l1", "eta_l2", "share_l1", "groups": {group: {"l1", "l2",
            "share_l1"}}}`` with the gradient norms of δ·L1 and η·L2 alone per layer group and
            δ·L1's share of their sum; None before the first check or when it is off.
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
    terms: dict | None = None


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


__all__ = [
    "DISTRIBUTIONS",
    "RESUMABLE_CHANGES",
    "AcolProgress",
    "AcolTrainConfig",
    "AcolTrainResult",
]
