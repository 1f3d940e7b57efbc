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

from jndtf.settings import option, parse_width, path_option

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

    data_dir: str = path_option(
        "--data",
        help="Folder of training images (the paper: 1000 random COCO2017 images).",
    )
    output_dir: str = path_option(
        "--out",
        "-o",
        default="runs/acol",
        help="Run folder: model.keras, manifest.json, checkpoints/, logs/.",
    )
    preset: str = option(default="acol", help="acol (full) or an ablation: bl, bl_acol, bl_pmcm.")
    width: str | float = option(
        default="default",
        help="Width multiplier: default, tiny or a number.",
        cli_type=str,
        parse=parse_width,
    )
    padding: str = option(
        default="reflect",
        help="Border handling of the convs: reflect (a flat image gives a flat map to the "
        "edge) or zeros (the presets' 'same', as the shipped weights; border lines).",
    )
    epochs: int = option(default=100, help="Total epochs (a resumed run continues to this).")
    steps_per_epoch: int | None = option(
        "--steps", default=None, help="Batches per epoch (default: images / batch)."
    )
    batch_size: int = option(default=32, help="Global batch (paper: 32).")
    crop_size: int = option(default=176, help="Random square crop side (paper: 176).")
    learning_rate: float = option("--lr", default=1e-5, help="Adam learning rate (paper: 1e-5).")
    delta: float = option(default=1.0, help="δ of eq. (6), weight of L1.")
    eta: float = option(default=0.1, help="η of eq. (6), weight of the eq. (5) loss.")
    l1: str = option(default="aiqa", help="L1 of eq. (6): aiqa (paper) or an IQA metric name.")
    injection: str = option(
        default="signed",
        help="How L1 sees the map: signed (x_o + R·x_j, R = ±1 every step, as eq. 7) or add "
        "(x_o + x_j, eq. 3 literally, which the A-IQA metrics barely see).",
    )
    term_log_every: int = option(
        "--term-every",
        default=10,
        help="Every N steps, log δ·L1, η·L2 and L1's share of the gradient norm per layer "
        "group (progress line + TensorBoard); 0: off.",
    )
    aiqa_classifier: str | None = path_option(
        default=None,
        help="A-IQA classifier .keras (default: the shipped one).",
    )
    saliency_model: str | None = path_option(
        default=None,
        help="Trained saliency net (.keras/.tflite from `jndtf train saliency`) for the "
        "f_va prior (default: the classical spectral residual).",
    )
    max_images: int | None = option(default=None, help="Seeded random subset of the images.")
    seed: int = option(default=0, help="Seed of weights, subset, order and crops.")
    cache_dir: str | None = path_option(
        default=None,
        help="Prior cache (default: $JNDTF_CACHE_DIR or ~/.cache/jndtf/inputs).",
    )
    resume: bool = False
    mixed_precision: bool = option(
        "--mixed-precision", default=False, help="mixed_float16 compute (GPU)."
    )
    jit_compile: bool = option("--xla", default=False, help="XLA-compile the train step (GPU).")
    distribution: str = option(
        default="auto",
        help="auto, none, mirrored, multi_worker (TF_CONFIG) or data_parallel (JAX).",
    )
    devices: tuple[str, ...] = ()
    tensorboard: bool = option(
        "--tensorboard/--no-tensorboard", default=True, help="Write TensorBoard logs."
    )
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


def checkpoint_file(settings: dict) -> Path:
    """The checkpoint ``--resume`` continues from, for the settings the command line gave."""
    from jndtf.train.acol.checkpoint import checkpoint_path

    return checkpoint_path(settings["output_dir"])


def progress_fields(p: AcolProgress) -> dict | None:
    """One progress report as ``jndtf train``'s progress bar shows it."""
    if p.phase == "inputs":
        return {"description": "priors", "completed": p.step, "total": p.steps, "text": p.item}
    if p.phase != "train":
        return None
    text = f"L1 {p.l1:.4g}  L2 {p.l2:.4f}  L {p.total:.4f}"
    if p.terms:
        text += (
            f"  δL1 {p.terms['delta_l1']:.3g} ηL2 {p.terms['eta_l2']:.3g} "
            f"∇ share L1 {100 * p.terms['share_l1']:.0f}%"
        )
    return {
        "description": f"epoch {p.epoch}/{p.epochs}",
        "completed": p.step,
        "total": p.steps,
        "text": text,
    }


def report(result: AcolTrainResult) -> str:
    """The line ``jndtf train acol`` prints on stdout when the run is done."""
    losses = result.final_losses
    return (
        f"{result.epochs} epochs in {result.seconds:.0f} s, final L1 {losses['l1']:.4f} "
        f"L2 {losses['l2']:.4f} L {losses['total']:.4f} -> {result.model_path}"
    )


__all__ = [
    "DISTRIBUTIONS",
    "RESUMABLE_CHANGES",
    "AcolProgress",
    "AcolTrainConfig",
    "AcolTrainResult",
    "checkpoint_file",
    "progress_fields",
    "report",
]
