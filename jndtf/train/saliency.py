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

Example:
    >>> cfg = SaliencyTrainConfig(data_dir="DUTS-TR/DUTS-TR-Image",
    ...                           masks_dir="DUTS-TR/DUTS-TR-Mask", epochs=30)
    >>> result = train_saliency(cfg)
    >>> result.heldout_mae, result.heldout_max_f
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import io
import json
import math
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from keras import ops

#: β² of the F-measure (PoolNet §4.1, following Achanta et al. 2009): precision weighted more.
F_BETA2 = 0.3

#: Thresholds of the F-measure curve: the map quantized to 0..255, ``S >= t`` for t = 0..255.
F_THRESHOLDS = 256

#: Lower bound of the IoU denominator (an all-background mask with an all-zero prediction).
IOU_EPS = 1.0

#: Settings that may differ between a run and its resumption (everything else must match).
RESUMABLE_CHANGES = ("data_dir", "masks_dir", "resume", "command", "verbose")

CHECKPOINT_FORMAT = 1


# ------------------------------------------------------------------------------- losses


def saliency_bce(y_true, logits):
    """Per-image binary cross-entropy ``mean_pixels BCE(g, σ(z))`` from logits (numerically
    stable: ``max(z, 0) − z·g + log(1 + e^−|z|)``).

    Args:
        y_true: ``(N, H, W, 1)`` masks in 0..1 (soft values allowed).
        logits: ``(N, H, W, 1)`` logits.

    Returns:
        ``(N,)`` losses in nats.
    """
    z = ops.convert_to_tensor(logits)
    g = ops.cast(y_true, z.dtype)
    per_pixel = ops.relu(z) - z * g + ops.log1p(ops.exp(-ops.abs(z)))
    return ops.mean(per_pixel, axis=(1, 2, 3))


def soft_iou_loss(y_true, logits, eps: float = IOU_EPS):
    """Per-image soft IoU loss ``1 − (Σ p·g + ε) / (Σ (p + g − p·g) + ε)``, ``p = σ(z)``.

    ``ε`` (one pixel's worth, :data:`IOU_EPS`) bounds the division for an empty mask and an
    empty prediction (loss 0 there) and keeps the gradient finite.

    Returns:
        ``(N,)`` losses in 0..1.
    """
    z = ops.convert_to_tensor(logits)
    g = ops.cast(y_true, z.dtype)
    p = ops.sigmoid(z)
    inter = ops.sum(p * g, axis=(1, 2, 3))
    union = ops.sum(p + g - p * g, axis=(1, 2, 3))
    return 1.0 - (inter + eps) / (union + eps)


def saliency_loss(y_true, logits, iou_weight: float = 0.0):
    """``BCE + iou_weight · IoU`` per image (:func:`saliency_bce`, :func:`soft_iou_loss`).

    Example:
        >>> g = np.ones((1, 4, 4, 1), "float32")
        >>> float(saliency_loss(g, np.full_like(g, 20.0))[0]) < 1e-6
        True
    """
    loss = saliency_bce(y_true, logits)
    if iou_weight:
        loss = loss + float(iou_weight) * soft_iou_loss(y_true, logits)
    return loss


@keras.saving.register_keras_serializable(package="jndtf")
class SaliencyLoss(keras.losses.Loss):
    """Keras loss around :func:`saliency_loss`: ``y_pred`` are logits (train
    :func:`jndtf.models.saliency.logits_model`, not the sigmoid output).

    Args:
        iou_weight: weight of the soft IoU term (0: BCE only, as PoolNet).
        **kwargs: standard :class:`keras.losses.Loss` arguments.

    Example:
        >>> model = logits_model(build_poolnet("poolnet_tiny"))
        >>> model.compile("adam", loss=SaliencyLoss(iou_weight=1.0))
    """

    def __init__(self, iou_weight: float = 0.0, name: str = "saliency_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        if not (math.isfinite(float(iou_weight)) and float(iou_weight) >= 0):
            raise ValueError(f"iou_weight must be a finite number >= 0, got {iou_weight!r}")
        self.iou_weight = float(iou_weight)

    def call(self, y_true, y_pred):
        return saliency_loss(y_true, y_pred, self.iou_weight)

    def get_config(self):
        return {**super().get_config(), "iou_weight": self.iou_weight}


# ------------------------------------------------------------------------------ metrics


def _as_pair(pred, gt) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred, np.float32)
    g = np.asarray(gt, np.float32)
    p = p[..., 0] if p.ndim == 3 and p.shape[2] == 1 else p
    g = g[..., 0] if g.ndim == 3 and g.shape[2] == 1 else g
    if p.shape != g.shape or p.ndim != 2:
        raise ValueError(f"prediction and mask must be equal HxW maps, got {p.shape} and {g.shape}")
    if not (np.isfinite(p).all() and p.min() >= 0.0 and p.max() <= 1.0):
        raise ValueError("the prediction must be finite and in 0..1")
    return p, g >= 0.5


def mae(pred, gt) -> float:
    """Mean absolute error between a saliency map and its mask binarized at 0.5, ``mean |S − G|``
    (PoolNet §4.1); both ``HxW``, the map in 0..1.

    Example:
        >>> mae(np.full((2, 2), 0.25), np.eye(2))
        0.5
    """
    p, g = _as_pair(pred, gt)
    return float(np.mean(np.abs(p - g.astype(np.float32))))


def precision_recall(pred, gt) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall of ``round(255·S) >= t`` for t = 0..255 against the mask binarized
    at 0.5: two ``(256,)`` arrays (precision 0 where nothing is predicted, recall 0 for an empty
    mask)."""
    p, g = _as_pair(pred, gt)
    q = np.rint(p * (F_THRESHOLDS - 1)).astype(np.int64)
    fg = np.bincount(q[g], minlength=F_THRESHOLDS)[::-1].cumsum()[::-1]  # TP at t
    bg = np.bincount(q[~g], minlength=F_THRESHOLDS)[::-1].cumsum()[::-1]  # FP at t
    positive = fg + bg
    precision = np.divide(fg, positive, out=np.zeros(F_THRESHOLDS), where=positive > 0)
    recall = fg / g.sum() if g.any() else np.zeros(F_THRESHOLDS)
    return precision, recall


def max_f_measure(preds: Sequence, gts: Sequence, beta2: float = F_BETA2) -> float:
    """The maximum F-measure of a set of maps (PoolNet §4.1):
    ``F = (1 + β²)·P·R / (β²·P + R)`` with precision P and recall R averaged over the images at
    each of 256 thresholds, maximized over the thresholds.

    Args:
        preds: saliency maps ``HxW`` in 0..1.
        gts: masks ``HxW`` (binarized at 0.5), the same sizes.
        beta2: β² (0.3).

    Example:
        >>> max_f_measure([np.eye(3)], [np.eye(3)])
        1.0
    """
    if len(preds) != len(gts) or not len(preds):
        raise ValueError(f"need as many masks as maps (>= 1), got {len(preds)} and {len(gts)}")
    pr = [precision_recall(p, g) for p, g in zip(preds, gts, strict=True)]
    precision = np.mean([a for a, _ in pr], axis=0)
    recall = np.mean([b for _, b in pr], axis=0)
    denom = beta2 * precision + recall
    f = np.divide(
        (1 + beta2) * precision * recall, denom, out=np.zeros_like(denom), where=denom > 0
    )
    return float(f.max())


def evaluate_saliency(model, pairs, *, max_side: int | None = 384, threshold=None) -> dict:
    """Held-out MAE and max F-measure of a saliency model through the deployment path.

    Args:
        model: a ``.keras`` / ``.tflite`` path or a :class:`keras.Model` (:class:`SaliencyPrior`).
        pairs: :class:`jndtf.data.saliency_pairs.SaliencyPair` list.
        max_side: working long side of the prior.
        threshold: mask binarization when reading (metrics binarize at 0.5 anyway).

    Returns:
        ``{"mae", "max_f", "pairs", "max_side", "beta2"}``.
    """
    from jndtf.data.saliency_pairs import load_pair
    from jndtf.models.saliency_prior import SaliencyPrior

    prior = SaliencyPrior(model, max_side=max_side)
    maps, masks = [], []
    for pair in pairs:
        rgb, mask = load_pair(pair, threshold=threshold)
        maps.append(prior(rgb))
        masks.append(mask)
    return {
        "mae": float(np.mean([mae(s, g) for s, g in zip(maps, masks, strict=True)])),
        "max_f": max_f_measure(maps, masks),
        "pairs": len(pairs),
        "max_side": max_side,
        "beta2": F_BETA2,
    }


# ------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class SaliencyTrainConfig:
    """Settings of :func:`train_saliency` (frozen; defaults have no side effects).

    Attributes:
        data_dir: folder of photos (e.g. ``DUTS-TR/DUTS-TR-Image``).
        masks_dir: folder of masks with the photos' stems (e.g. ``DUTS-TR/DUTS-TR-Mask``).
        output: path of the ``.keras`` file; the manifest goes to the same name with ``.json``,
            the checkpoint to ``.ckpt.npz``.
        preset: saliency model of the registry: ``poolnet_small`` or ``poolnet_tiny``.
        epochs: passes of ``steps_per_epoch`` batches.
        steps_per_epoch: batches per epoch (None: ``ceil(training pairs / batch_size)``).
        batch_size: crops per batch.
        crop_size: side of the random square crops, pixels (>= 32).
        learning_rate: initial AdamW learning rate (cosine decay to 0 over the run).
        weight_decay: AdamW's decoupled weight decay (PoolNet: 5e-4 L2 with Adam).
        iou_weight: weight of the soft IoU loss added to BCE (0: BCE only, as PoolNet).
        flip: random horizontal flips.
        holdout_fraction: share of the pairs held out for the metrics.
        holdout: explicit held-out stems (overrides `holdout_fraction`).
        eval_max_side: long side at which the held-out photos are run (SaliencyPrior's
            ``max_side``; None: full size).
        mask_threshold: binarize training masks at this value (None: keep soft masks).
        strict_pairs: unmatched stems are an error (False: skipped with a warning).
        seed: seed of the split, the weights, the visiting order, the crops and the flips.
        resume: continue from ``<output>.ckpt.npz`` (refused if it was made with other
            settings; starts afresh when there is none). Without it an existing checkpoint is
            an error, never overwritten.
        jit_compile: XLA-compile the TensorFlow train step (GPU; slower on CPU). JAX always
            compiles.
        command: command line recorded in the manifest (None: ``sys.argv``).
        verbose: Keras progress output (0 silent, 1 bar, 2 a line per epoch).
    """

    data_dir: str
    masks_dir: str
    output: str = "runs/saliency/poolnet_small.keras"
    preset: str = "poolnet_small"
    epochs: int = 30
    steps_per_epoch: int | None = None
    batch_size: int = 8
    crop_size: int = 224
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    iou_weight: float = 0.0
    flip: bool = True
    holdout_fraction: float = 0.1
    holdout: tuple[str, ...] = ()
    eval_max_side: int | None = 384
    mask_threshold: float | None = None
    strict_pairs: bool = True
    seed: int = 0
    resume: bool = False
    jit_compile: bool = False
    command: str | None = None
    verbose: int = 0

    def __post_init__(self):
        from jndtf.models.registry import available_models

        for name in ("data_dir", "masks_dir"):
            if not str(getattr(self, name)).strip():
                raise ValueError(f"{name} is empty: give the folder of {name[:-4]}")
        presets = available_models("saliency")
        if self.preset not in presets:
            raise ValueError(
                f"preset {self.preset!r} is not a saliency model; choose from {', '.join(presets)}"
            )
        ints = {"epochs": 1, "batch_size": 1, "crop_size": 32, "seed": 0, "verbose": 0}
        optional = {"steps_per_epoch": 1, "eval_max_side": 8}
        for name, lo in {**ints, **optional}.items():
            v = getattr(self, name)
            if v is None and name in optional:
                continue
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
        for name, lo, strict in (
            ("learning_rate", 0.0, True),
            ("weight_decay", 0.0, False),
            ("iou_weight", 0.0, False),
        ):
            v = getattr(self, name)
            ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            if not ok or (v <= lo if strict else v < lo):
                raise ValueError(
                    f"{name} must be a finite number {'>' if strict else '>='} {lo}, got {v!r}"
                )
        if not 0.0 < self.holdout_fraction < 1.0:
            raise ValueError(f"holdout_fraction must be in (0, 1), got {self.holdout_fraction!r}")
        if self.mask_threshold is not None and not 0.0 < self.mask_threshold <= 1.0:
            raise ValueError(f"mask_threshold must be in (0, 1] or None, got {self.mask_threshold}")
        if isinstance(self.holdout, str):
            raise ValueError(f"holdout must be a tuple of stems, got the string {self.holdout!r}")
        if not str(self.output).endswith(".keras"):
            raise ValueError(f"output must end with .keras, got {self.output!r}")

    def resume_key(self) -> dict:
        """The settings a checkpoint must share with this config to be resumed."""
        settings = json.loads(json.dumps(dataclasses.asdict(self)))
        return {k: v for k, v in settings.items() if k not in RESUMABLE_CHANGES}


@dataclass(frozen=True)
class SaliencyTrainResult:
    """What :func:`train_saliency` wrote and measured.

    Attributes:
        model_path, manifest_path: the files written.
        heldout_mae: mean absolute error on the held-out pairs (0..1, lower is better).
        heldout_max_f: maximum F-measure (β² = 0.3) on the held-out pairs (higher is better).
        history: per-epoch ``{"epoch", "loss", "seconds"}``.
        train_stems, heldout_stems: the split.
        seconds: wall time of all sessions.
        resumed_from: the epoch (0-based) the run resumed at, or None.
    """

    model_path: Path
    manifest_path: Path
    heldout_mae: float
    heldout_max_f: float
    history: tuple[dict, ...]
    train_stems: tuple[str, ...]
    heldout_stems: tuple[str, ...]
    seconds: float
    resumed_from: int | None


# -------------------------------------------------------------------------- checkpoints


def write_checkpoint(path: Path, meta: dict, weights, optimizer_variables) -> None:
    """One ``.npz``: JSON `meta`, weights ``w#``, optimizer state ``o#``; temp file + rename."""
    from jndtf.io import atomic_write_bytes

    arrays = {"meta": np.array(json.dumps(meta))}
    arrays.update({f"w{i:05d}": np.asarray(w) for i, w in enumerate(weights)})
    arrays.update({f"o{i:05d}": np.asarray(v) for i, v in enumerate(optimizer_variables)})
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def read_checkpoint(path: str | Path) -> tuple[dict, list[np.ndarray], list[np.ndarray]]:
    """``(meta, weights, optimizer_variables)`` of a :func:`write_checkpoint` file."""
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        weights = [z[k] for k in sorted(z.files) if k.startswith("w")]
        opt = [z[k] for k in sorted(z.files) if k.startswith("o")]
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{path}: checkpoint format {meta.get('format')!r}, expected {CHECKPOINT_FORMAT}"
        )
    return meta, weights, opt


def _listing_sha256(pairs) -> str:
    """sha256 of the pairs' stems and file sizes: a cheap identity of the data for resuming."""
    h = hashlib.sha256()
    for p in pairs:
        h.update(f"{p.stem}\0{p.image.stat().st_size}\0{p.mask.stat().st_size}\n".encode())
    return h.hexdigest()


# ----------------------------------------------------------------------------- training


def train_saliency(config: SaliencyTrainConfig) -> SaliencyTrainResult:
    """Trains the compact PoolNet on photo/mask pairs and writes model + manifest.

    Args:
        config: the settings (:class:`SaliencyTrainConfig`).

    Returns:
        :class:`SaliencyTrainResult` with the paths, the held-out MAE / max F-measure and the
        loss history.

    Raises:
        FileNotFoundError: a folder is missing.
        PairingError, SizeMismatchError: photos and masks do not pair (names them).
        FileExistsError: a checkpoint exists and ``resume`` is False.
        ValueError: a checkpoint made with other settings or other data; too few pairs.
        FloatingPointError: the loss became NaN/Inf (the last epoch's checkpoint is kept).
    """
    from jndtf.data.saliency_pairs import (
        SaliencyPairDataset,
        check_sizes,
        find_pairs,
        split_pairs,
    )
    from jndtf.models.registry import get_model_spec
    from jndtf.models.saliency.network import logits_model
    from jndtf.models.saliency.presets import get_preset, macs_per_pixel
    from jndtf.train._common import atomic_save_model, atomic_write_json, sha256_file, versions

    t0 = time.perf_counter()
    cfg = config
    spec = get_model_spec(cfg.preset)
    output = Path(cfg.output)
    manifest_path = output.with_suffix(".json")
    ckpt = output.with_name(output.stem + ".ckpt.npz")

    meta = None
    if ckpt.is_file():
        if not cfg.resume:
            raise FileExistsError(
                f"{ckpt} holds an unfinished run; pass resume=True to continue it, or remove it "
                "(or choose another output) to start afresh"
            )
        meta, saved_weights, saved_opt = read_checkpoint(ckpt)

    pairs = find_pairs(cfg.data_dir, cfg.masks_dir, strict=cfg.strict_pairs)
    check_sizes(pairs)
    train_pairs, held_pairs = split_pairs(
        pairs, fraction=cfg.holdout_fraction, holdout=cfg.holdout, seed=cfg.seed
    )
    listing = _listing_sha256(pairs)
    if meta is not None:
        wanted = cfg.resume_key()
        diffs = [
            f"{k}={meta['config_key'].get(k)!r} then, {wanted.get(k)!r} now"
            for k in sorted(set(wanted) | set(meta["config_key"]))
            if meta["config_key"].get(k) != wanted.get(k)
        ]
        if diffs:
            raise ValueError(f"cannot resume from {ckpt}: other settings ({'; '.join(diffs)})")
        if meta["data_listing_sha256"] != listing:
            raise ValueError(
                f"cannot resume from {ckpt}: the pairs differ from the checkpoint's "
                f"({meta['pairs']} then, {len(pairs)} now, or changed files)"
            )
    data = SaliencyPairDataset(
        train_pairs,
        crop_size=cfg.crop_size,
        batch_size=cfg.batch_size,
        seed=cfg.seed,
        flip=cfg.flip,
        threshold=cfg.mask_threshold,
        steps_per_epoch=cfg.steps_per_epoch,
    )
    steps = data.steps_per_epoch

    keras.utils.set_random_seed(cfg.seed)
    net = spec.build()
    model = logits_model(net)
    schedule = keras.optimizers.schedules.CosineDecay(cfg.learning_rate, cfg.epochs * steps)
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=cfg.weight_decay, name="adamw")
    jit = True if keras.backend.backend() == "jax" else cfg.jit_compile
    model.compile(optimizer=optimizer, loss=SaliencyLoss(cfg.iou_weight), jit_compile=jit)
    model.optimizer.build(model.trainable_variables)

    history: list[dict] = []
    sessions: list[dict] = []
    start, previous_seconds = 0, 0.0
    if meta is not None:
        names = [v.path for v in model.weights]
        opt_names = [v.path for v in model.optimizer.variables]
        if names != meta["weight_paths"] or opt_names != meta["optimizer_paths"]:
            raise ValueError(
                f"cannot resume from {ckpt}: its variables do not match this model's (the "
                "network code changed since it was written)"
            )
        model.set_weights(saved_weights)
        for var, value in zip(model.optimizer.variables, saved_opt, strict=True):
            var.assign(value)
        start = int(meta["epoch"])
        history = list(meta["history"])
        sessions = list(meta["sessions"])
        previous_seconds = float(meta["seconds"])

    class _Epoch(keras.utils.PyDataset):
        def __init__(self, epoch):
            super().__init__(workers=1, use_multiprocessing=False)
            self.epoch = epoch

        def __len__(self):
            return steps

        def __getitem__(self, idx):
            return data.batch(self.epoch, int(idx))

    def session_record(epoch):
        return [*sessions, {"seconds": time.perf_counter() - t0, "ended_at_epoch": epoch}]

    for epoch in range(start, cfg.epochs):
        te = time.perf_counter()
        hist = model.fit(
            _Epoch(epoch),
            epochs=epoch + 1,
            initial_epoch=epoch,
            shuffle=False,
            verbose=cfg.verbose,
        )
        loss = float(hist.history["loss"][-1])
        if not math.isfinite(loss):
            kept = (
                f"the checkpoint {ckpt} of epoch {epoch} is kept"
                if ckpt.is_file()
                else ("no checkpoint was written yet")
            )
            raise FloatingPointError(
                f"non-finite loss ({loss}) in epoch {epoch + 1}; {kept}. Lower learning_rate "
                "and resume, or check the masks"
            )
        history.append(
            {"epoch": epoch + 1, "loss": loss, "seconds": round(time.perf_counter() - te, 2)}
        )
        record = {
            "format": CHECKPOINT_FORMAT,
            "epoch": epoch + 1,
            "history": history,
            "seconds": previous_seconds + time.perf_counter() - t0,
            "sessions": session_record(epoch + 1),
            "config_key": cfg.resume_key(),
            "data_listing_sha256": listing,
            "pairs": len(pairs),
            "weight_paths": [v.path for v in model.weights],
            "optimizer_paths": [v.path for v in model.optimizer.variables],
            "written": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        }
        write_checkpoint(
            ckpt, record, model.get_weights(), [np.asarray(v) for v in model.optimizer.variables]
        )

    metrics = evaluate_saliency(
        net, held_pairs, max_side=cfg.eval_max_side, threshold=cfg.mask_threshold
    )
    atomic_save_model(net, output)
    seconds = previous_seconds + time.perf_counter() - t0
    preset = get_preset(cfg.preset)
    settings = json.loads(json.dumps(dataclasses.asdict(cfg)))
    record = {
        "family": spec.family,
        "preset": cfg.preset,
        "model_name": net.name,
        "description": spec.description,
        "architecture": json.loads(json.dumps(preset)),
        "paper": "Liu, Hou, Cheng, Feng & Jiang, 'A Simple Pooling-Based Design for Real-Time "
        "Salient Object Detection', CVPR 2019 (PoolNet); compact encoder trained from scratch",
        "inputs": {
            "channels": 3,
            "normalization": "RGB / 255 (0..1)",
            "layout": "NHWC float32, H and W dynamic",
        },
        "outputs": {
            "channels": 1,
            "units": spec.jnd_units,
            "activation": "sigmoid (logits in layer 'logits')",
        },
        "prior": {
            "use": "jndtf.models.saliency_prior.SaliencyPrior(model_path, max_side=...)",
            "max_side": cfg.eval_max_side,
            "replaces": "the classical 'saliency' prior (spectral residual) as f_va",
        },
        "macs_per_pixel": macs_per_pixel(cfg.preset),
        "params": int(net.count_params()),
        "training": {
            "data": {
                "images_dir": str(cfg.data_dir),
                "masks_dir": str(cfg.masks_dir),
                "pairs": len(pairs),
                "train_pairs": len(train_pairs),
                "heldout_stems": [p.stem for p in held_pairs],
                "listing_sha256": listing,
            },
            "loss": {
                "equation": "mean BCE(mask, sigmoid(logits)) + iou_weight * soft IoU loss",
                "iou_weight": cfg.iou_weight,
            },
            "optimizer": {
                "name": "adamw",
                "learning_rate": cfg.learning_rate,
                "schedule": "cosine decay to 0",
                "weight_decay": cfg.weight_decay,
            },
            "augmentation": {"random_crop": cfg.crop_size, "horizontal_flip": cfg.flip},
            "settings": settings,
            "epochs": len(history),
            "steps_per_epoch": steps,
            "history": history,
            "sessions": session_record(len(history)),
        },
        "command": cfg.command if cfg.command is not None else shlex.join(sys.argv),
        "metrics": {
            "heldout_mae": metrics["mae"],
            "heldout_max_f": metrics["max_f"],
            "beta2": metrics["beta2"],
            "heldout_pairs": metrics["pairs"],
            "eval_max_side": metrics["max_side"],
            "protocol": "SaliencyPrior at eval_max_side, map vs mask at the mask's size, mask "
            "binarized at 0.5; max F over 256 thresholds of P, R averaged over images",
        },
        "versions": versions(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
        "sha256": sha256_file(output),
    }
    atomic_write_json(manifest_path, record)
    ckpt.unlink(missing_ok=True)
    return SaliencyTrainResult(
        model_path=output,
        manifest_path=manifest_path,
        heldout_mae=metrics["mae"],
        heldout_max_f=metrics["max_f"],
        history=tuple(history),
        train_stems=tuple(p.stem for p in train_pairs),
        heldout_stems=tuple(p.stem for p in held_pairs),
        seconds=seconds,
        resumed_from=None if meta is None else int(meta["epoch"]),
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
