"""The training function of hmJND-Net (overview: :mod:`jndtf.train.hmjnd`)."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import math
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from jndtf.train.hmjnd.config import (
    CHECKPOINT_NAME,
    MANIFEST_NAME,
    MODEL_NAME,
    HmjndProgress,
    HmjndTrainConfig,
    HmjndTrainResult,
)
from jndtf.train.hmjnd.data import (
    Sample,
    list_images,
    load_teacher,
    modality_maps,
    partition,
    read_samples,
    split_indices,
    teacher_map,
)

PAPER = (
    "Xie, Wang, Tian, Huang, Liu & Wang, 'Just Noticeable Visual Redundancy Forecasting: A Deep "
    "Multimodal-Driven Approach', AAAI 2023 (hmJND-Net, eq. (2))"
)

#: Target MSE of the eq. (13) injection of the validation number (the paper's protocol).
VAL_MSE = 100.0

#: Factor on the Glorot-initialized kernel of the Reshape conv at the start of training. Left
#: as it is, the untrained residual changes I by ~100 grey levels (I_rr = θ(I + residual)),
#: where SSIM is flat: self mode then crawled (3 epochs on 8 photos: SSIM 0.52 -> 0.66, mean
#: change still 90). Scaled, I_rr starts within a few grey levels of I, not at it (|I − I_rr|
#: at 0 has no gradient through |·|). Self mode only: distill from yang2005 with it (4 epochs,
#: 8 photos) stayed near the identity (mean |I − I_rr| 0.4) and scored MS-SSIM@MSE100 0.9773
#: on 6 photos against 0.9906 without it (one run each).
RESHAPE_INIT_SCALE = 0.01

#: Box size of the local mean taken out of the change before self mode's energy reward.
ENERGY_WINDOW = 7

#: Seed of the injection's random signs (fixed: every epoch is measured with the same R).
VAL_SEED = 0

MODE_TEXT = {
    "distill": "distillation: I_gt = eq. (14) pre-processing of the image under the teacher's "
    "JND map times the strength (jndtf.apply.methods eq14), loss eq. (2)",
    "self": "self-supervised: lambda_fea*L_fea + quality_weight*max(0, quality_target - "
    "Q(I, I_rr))^2 - energy_weight*[Q >= quality_target]*mean|d - box7(d)|/255, d = I - I_rr "
    "(no ground truth)",
    "pairs": "SHEN2020-style pairs: I_gt = redundancy_removed/NAME of originals/NAME, loss eq. (2)",
}


def _providers(cfg: HmjndTrainConfig) -> list:
    from jndtf.models.modality_models import modality_provider

    return [
        modality_provider(kind, getattr(cfg, kind))
        for kind in ("saliency", "depth", "segmentation")
    ]


def _quality_fn(name: str, min_side: int):
    """``(metric name, f(ref, dist) -> float)`` of the validation number: MS-SSIM (numpy,
    :func:`jndtf.metrics.ms_ssim`) when every validation image is large enough, else SSIM."""
    from jndtf.metrics import MS_SSIM_MIN_SIDE, ms_ssim

    if min_side >= MS_SSIM_MIN_SIDE:
        return "ms_ssim", lambda a, b: float(ms_ssim(a, b))
    from jndtf import iqa

    fn = iqa.get("ssim")

    def ssim(a, b):
        x = np.asarray(a, np.float32)[None]
        y = np.asarray(b, np.float32)[None]
        return float(np.asarray(fn(x, y, data_range=255.0))[0])

    return "ssim", ssim


def quality_at_mse(image: np.ndarray, jnd: np.ndarray, quality) -> float | None:
    """Eq. (13) of hmJND: inject ±JND noise at MSE = 100 (seeded signs), then
    ``quality(image, injected)``; None when the map cannot reach the target (all zero)."""
    from jndtf.apply.inject import InjectionError, inject

    try:
        res = inject(image, jnd, mse=VAL_MSE, seed=VAL_SEED)
    except InjectionError:
        return None
    return quality(image, res.image)


def _mean_or_none(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _data_record(samples, listing, train, val, test, cfg, n_patches) -> dict:
    def files(idx):
        return [
            {
                "name": samples[i].name,
                "sha256": samples[i].sha256,
                **(
                    {"target_sha256": samples[i].target_sha256}
                    if samples[i].target is not None
                    else {}
                ),
                "size": [int(samples[i].image.shape[1]), int(samples[i].image.shape[0])],
            }
            for i in idx
        ]

    record = {
        "folder": str(cfg.data_dir),
        "layout": "originals/ + redundancy_removed/ (same names)"
        if cfg.mode == "pairs"
        else "folder of photos",
        "images_in_folder": len(listing),
        "split": ":".join(map(str, cfg.split)),
        "train": files(train),
        "val": files(val),
        "test": files(test),
        "patch": cfg.patch,
        "partition": "adaptive: ceil(W/P) x ceil(H/P) patches, origins spread evenly",
        "train_patches": n_patches[0],
        "val_patches": n_patches[1],
    }
    h = hashlib.sha256(json.dumps([record["train"], record["val"], record["test"]]).encode())
    record["sha256"] = h.hexdigest()
    return record


def train_hmjnd(
    config: HmjndTrainConfig, progress: Callable[[HmjndProgress], None] | None = None
) -> HmjndTrainResult:
    """Trains hmJND-Net in one of three modes and writes ``hmjnd.keras`` + ``hmjnd.json``
    into the run folder (overview in :mod:`jndtf.train.hmjnd`).

    Raises:
        FileNotFoundError: no data folder, no images, a pair partner missing (named).
        FileExistsError: a checkpoint exists and ``resume`` is False.
        ValueError: a checkpoint made with other settings or data; an image smaller than
            the patch; an unknown teacher or provider.
        FloatingPointError: the loss became NaN/Inf (the last epoch's checkpoint is kept).
        RuntimeError: a Keras backend other than TensorFlow.
    """
    from jndtf.train._state import require_tensorflow_backend

    require_tensorflow_backend("jndtf train hmjnd")
    import keras
    import tensorflow as tf

    from jndtf.apply.calibrate import resolve_strength
    from jndtf.apply.methods import get_method
    from jndtf.data.image_folder import default_cache_dir
    from jndtf.losses.hmjnd import hmjnd_feature_loss, hmjnd_pixel_loss
    from jndtf.losses.iqa_loss import resolve_metric
    from jndtf.models.hmjnd.inputs import hmjnd_input
    from jndtf.models.hmjnd.presets import macs_per_pixel
    from jndtf.models.registry import get_model_spec
    from jndtf.train._common import atomic_save_model, atomic_write_json, sha256_file, versions
    from jndtf.train._state import (
        ScalarLog,
        interrupts_resumable,
        open_checkpoint,
        restore,
        save_state,
    )

    t0 = time.perf_counter()
    cfg = config
    say = progress or (lambda p: None)
    out = Path(cfg.output_dir)
    ckpt = out / CHECKPOINT_NAME

    meta, saved_vars, saved_opt = open_checkpoint(ckpt, cfg.resume, cfg.resume_key())

    # ---- data: listing, split, images, maps (cached), targets
    listing = list_images(cfg.data_dir, cfg.mode)
    train_idx, val_idx, test_idx = split_indices(len(listing), cfg.split, cfg.seed, cfg.max_images)
    used = np.concatenate([train_idx, val_idx])
    samples = read_samples(listing, np.concatenate([used, test_idx]))
    providers = _providers(cfg)
    from jndtf.priors.modalities import describe_stack

    provider_record = describe_stack(providers)
    cache = Path(cfg.cache_dir) if cfg.cache_dir else default_cache_dir()
    cache = cache / "hmjnd-maps"
    teacher, strength = None, None
    if cfg.mode == "distill":
        teacher = load_teacher(cfg.teacher)
        strength = resolve_strength(cfg.teacher, cfg.teacher_strength)
        eq14 = get_method("eq14")
    reused = 0
    inputs: dict[int, np.ndarray] = {}
    targets: dict[int, np.ndarray] = {}
    teacher_maps: dict[int, np.ndarray] = {}
    for k, i in enumerate(used, start=1):
        s: Sample = samples[int(i)]
        maps, hit = modality_maps(s, providers, cache)
        reused += hit
        inputs[int(i)] = hmjnd_input(
            s.image, saliency_map=maps[..., 0], depth=maps[..., 1], segmentation=maps[..., 2]
        )
        if cfg.mode == "distill":
            jnd, hit = teacher_map(s, teacher, cache)
            reused += hit
            teacher_maps[int(i)] = jnd
            targets[int(i)] = eq14.apply(s.image, jnd, strength)
        elif cfg.mode == "pairs":
            targets[int(i)] = s.target
        else:
            targets[int(i)] = s.image
        say(HmjndProgress("data", step=k, steps=len(used)))
    train_patches = partition(samples, train_idx, cfg.patch)
    val_patches = partition(samples, val_idx, cfg.patch)
    data_record = _data_record(
        samples, listing, train_idx, val_idx, test_idx, cfg, (len(train_patches), len(val_patches))
    )
    if meta is not None and meta["data_sha256"] != data_record["sha256"]:
        raise ValueError(
            f"cannot resume from {ckpt}: it was made from other images (give the same --data, "
            "--max-images, --split and --seed)"
        )

    def batch(patches) -> tuple[np.ndarray, np.ndarray]:
        p = cfg.patch
        x = np.stack([inputs[i][y : y + p, x0 : x0 + p] for i, y, x0 in patches])
        t = np.stack([targets[i][y : y + p, x0 : x0 + p] for i, y, x0 in patches])
        return x, t.astype(np.float32)

    # ---- model, optimizer (Adam, linear decay to 0 over the run)
    spec = get_model_spec(cfg.preset)
    keras.utils.set_random_seed(cfg.seed)
    net = spec.build(with_features=True)
    if cfg.mode == "self":
        reshape = net.get_layer("reshape")  # the Reshape module's 3x3 conv (C -> 3)
        reshape.kernel.assign(reshape.kernel * RESHAPE_INIT_SCALE)
    steps = math.ceil(len(train_patches) / cfg.batch_size)
    schedule = keras.optimizers.schedules.PolynomialDecay(
        cfg.learning_rate, decay_steps=max(1, steps * cfg.epochs), end_learning_rate=0.0, power=1.0
    )
    optimizer = keras.optimizers.Adam(schedule)
    optimizer.build(net.trainable_variables)
    start, history = 0, []
    if meta is not None:
        restore(ckpt, meta, net, optimizer, saved_vars, saved_opt)
        start, history = int(meta["epoch"]), list(meta["history"])
    sessions = list(meta["sessions"]) if meta else []
    previous_seconds = float(meta["seconds"]) if meta else 0.0

    lam_fea, lam_pix = float(cfg.lambda_fea), float(cfg.lambda_pix)
    if cfg.mode == "self":
        q_fn, q_higher = resolve_metric(cfg.quality_metric)
        q_target, q_w, e_w = cfg.quality_target, cfg.quality_weight, cfg.energy_weight

    def terms(x, t, training):
        """Per-image loss of the mode and its terms: ``(loss, l_fea, l_second, l_third)``."""
        o = net(x, training=training)
        i_rr = o["image"]
        l_fea = hmjnd_feature_loss(o["features_rgb"], o["features_prior"])
        if cfg.mode != "self":
            l_pix = hmjnd_pixel_loss(i_rr, t)
            return lam_fea * l_fea + lam_pix * l_pix, l_fea, l_pix, tf.zeros_like(l_pix)
        q = tf.cast(q_fn(t, i_rr, data_range=255.0), "float32")
        miss = tf.nn.relu(q_target - q) if q_higher else tf.nn.relu(q - q_target)
        # the change minus its local mean (7x7 box): SSIM tolerates a brightness shift, and a
        # reward on the raw change was won by shifting the image by ~50 grey levels
        d = t - i_rr
        d_hp = d - tf.nn.avg_pool2d(d, ENERGY_WINDOW, 1, "SAME")
        energy = tf.reduce_mean(tf.abs(d_hp), axis=[1, 2, 3]) / 255.0
        # the reward only where the image meets the quality target: from a far-off start
        # (an untrained residual changes I by ~100 grey levels, where SSIM is flat) an always-on
        # reward wins over the hinge and training settles on a destroyed image
        met = tf.stop_gradient(tf.cast(miss <= 0.0, "float32"))
        return lam_fea * l_fea + q_w * miss * miss - e_w * met * energy, l_fea, q, energy

    @tf.function(reduce_retracing=True)
    def train_step(x, t):
        with tf.GradientTape() as tape:
            loss, a, b, c = terms(x, t, True)
            mean = tf.reduce_mean(loss)
        grads = tape.gradient(mean, net.trainable_variables)
        optimizer.apply_gradients(zip(grads, net.trainable_variables, strict=True))
        return tf.stack([mean, tf.reduce_mean(a), tf.reduce_mean(b), tf.reduce_mean(c)])

    @tf.function(reduce_retracing=True)
    def eval_step(x, t):
        loss, a, b, c = terms(x, t, False)
        return tf.stack([tf.reduce_sum(v) for v in (loss, a, b, c)])

    @tf.function(input_signature=[tf.TensorSpec((1, None, None, 6), tf.float32)])
    def predict(x):
        return net(x, training=False)["image"]

    names = ("l_fea", "l_pix", "") if cfg.mode != "self" else ("l_fea", "quality", "energy")
    val_min_side = min(min(samples[int(i)].image.shape[:2]) for i in val_idx)
    val_metric, quality = _quality_fn("auto", val_min_side)

    def validate() -> dict:
        sums, n = np.zeros(4), 0
        for lo in range(0, len(val_patches), cfg.batch_size):
            chunk = val_patches[lo : lo + cfg.batch_size]
            x, t = batch(chunk)
            sums += np.asarray(eval_step(tf.constant(x), tf.constant(t)), np.float64)
            n += len(chunk)
        m = (sums / n).tolist()
        scores, changes = [], []
        for i in val_idx:
            s = samples[int(i)]
            i_rr = np.asarray(predict(tf.constant(inputs[int(i)][None])))[0]
            vt = np.abs(s.image.astype(np.float32) - i_rr)
            changes.append(float(vt.mean()))
            scores.append(quality_at_mse(s.image, vt, quality))
        rec = {"val_loss": m[0], f"val_{names[0]}": m[1], f"val_{names[1]}": m[2]}
        if names[2]:
            rec[f"val_{names[2]}"] = m[3]
        rec["val_quality"] = _mean_or_none(scores)
        rec["val_quality_per_image"] = scores
        rec["val_mean_abs_vt"] = float(np.mean(changes))
        return rec

    # reference numbers on the same validation images (computed once, before training)
    references = {}
    from jndtf.evaluate.models import uniform_jnd

    references["uniform"] = _mean_or_none(
        quality_at_mse(samples[int(i)].image, uniform_jnd(samples[int(i)].image), quality)
        for i in val_idx
    )
    if teacher is not None:
        references[f"teacher {teacher.label}"] = _mean_or_none(
            quality_at_mse(samples[int(i)].image, teacher_maps[int(i)], quality) for i in val_idx
        )

    out.mkdir(parents=True, exist_ok=True)
    log = ScalarLog(out / "logs", cfg.tensorboard)
    with interrupts_resumable(ckpt):
        for epoch in range(start, cfg.epochs):
            te = time.perf_counter()
            order = np.random.default_rng([cfg.seed, epoch]).permutation(len(train_patches))
            sums, seen = np.zeros(4), 0
            for step in range(steps):
                chunk = [train_patches[j] for j in order[step * cfg.batch_size :][: cfg.batch_size]]
                x, t = batch(chunk)
                values = np.asarray(train_step(tf.constant(x), tf.constant(t)), np.float64)
                sums += values * len(chunk)
                seen += len(chunk)
                say(HmjndProgress("train", epoch + 1, cfg.epochs, step + 1, steps, sums[0] / seen))
            m = (sums / seen).tolist()
            if not all(math.isfinite(v) for v in m):
                kept = f"{ckpt} (epoch {epoch}) is kept" if ckpt.is_file() else "no checkpoint yet"
                raise FloatingPointError(
                    f"non-finite loss ({m[0]}) in epoch {epoch + 1}; {kept}. Lower --lr and resume"
                )
            record = {"epoch": epoch + 1, "loss": m[0], names[0]: m[1], names[1]: m[2]}
            if names[2]:
                record[names[2]] = m[3]
            record["learning_rate"] = float(schedule(int(optimizer.iterations.numpy())))
            record.update(validate())
            record["seconds"] = round(time.perf_counter() - te, 2)
            history.append(record)
            log.write(
                epoch + 1,
                {
                    k: v
                    for k, v in record.items()
                    if k not in ("epoch", "seconds", "val_quality_per_image")
                },
            )
            save_state(
                ckpt,
                {
                    "config_key": cfg.resume_key(),
                    "data_sha256": data_record["sha256"],
                    "epoch": epoch + 1,
                    "history": history,
                    "seconds": previous_seconds + time.perf_counter() - t0,
                    "sessions": [*sessions, {"seconds": round(time.perf_counter() - t0, 2)}],
                    "written": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                },
                net,
                optimizer,
            )
            say(
                HmjndProgress(
                    "epoch",
                    epoch + 1,
                    cfg.epochs,
                    steps,
                    steps,
                    m[0],
                    record["val_loss"],
                    record["val_quality"],
                )
            )

    # the shipped model: I_rr alone (the features were for eq. (2) only)
    plain = keras.Model(net.input, net.get_layer("i_rr").output, name=cfg.preset)
    model_path = out / MODEL_NAME
    atomic_save_model(plain, model_path)
    seconds = previous_seconds + time.perf_counter() - t0
    last = history[-1]
    settings = json.loads(json.dumps(dataclasses.asdict(cfg)))
    atomic_write_json(
        out / MANIFEST_NAME,
        {
            "family": spec.family,
            "preset": cfg.preset,
            "model_name": plain.name,
            "description": spec.description,
            "paper": PAPER,
            "mode": cfg.mode,
            "mode_description": MODE_TEXT[cfg.mode],
            "teacher": None
            if teacher is None
            else {
                **teacher.describe(),
                "strength": strength,
                "strength_asked": str(cfg.teacher_strength),
            },
            "modality_providers": provider_record,
            "inputs": {
                "channels": 6,
                "modalities": ["rgb", "saliency_map", "depth", "segmentation"],
                "layout": "NHWC float32: RGB / 255, then the saliency, depth and segmentation "
                "maps in 0..1 of modality_providers; H and W dynamic",
                "builder": "jndtf.models.hmjnd.inputs:hmjnd_input",
            },
            "outputs": {
                # the word jndtf.refs reads to know a shipped file is a JND model (no registry)
                "kind": spec.output_kind,
                "channels": 3,
                "units": spec.jnd_units,
                "use": "visibility threshold |I - I_rr| (jndtf.models.hmjnd.inputs:"
                "visibility_threshold); eq. (13) injection or eq. (14) pre-processing with it",
            },
            "macs_per_pixel": macs_per_pixel(cfg.preset),
            "params": int(plain.count_params()),
            "training": {
                "data": {**data_record, "map_cache": str(cache), "maps_reused": reused},
                "loss": {
                    "equation": MODE_TEXT[cfg.mode],
                    "lambda_fea": cfg.lambda_fea,
                    **(
                        {
                            "quality_metric": cfg.quality_metric,
                            "quality_target": cfg.quality_target,
                            "quality_weight": cfg.quality_weight,
                            "energy_weight": cfg.energy_weight,
                        }
                        if cfg.mode == "self"
                        else {"lambda_pix": cfg.lambda_pix, "pixel_scale": "images / 255"}
                    ),
                },
                "optimizer": {
                    "name": "Adam",
                    "learning_rate": cfg.learning_rate,
                    "schedule": "linear decay to 0 over epochs * steps_per_epoch steps",
                },
                "batch_size": cfg.batch_size,
                "steps_per_epoch": steps,
                "epochs": len(history),
                "history": history,
                "settings": settings,
            },
            "metrics": {
                "val_loss": last["val_loss"],
                "val_quality": last["val_quality"],
                "val_metric": val_metric,
                "references": references,
                "protocol": f"{val_metric} of the validation image against itself with ±|I - I_rr| "
                f"noise injected by eq. (13) at MSE {VAL_MSE:g} (jndtf.apply.inject, seed "
                f"{VAL_SEED}), whole images, averaged; references: the same with the uniform "
                "map and (distill) the teacher's map",
            },
            "command": cfg.command if cfg.command is not None else shlex.join(sys.argv),
            "versions": versions(),
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "seconds": round(seconds, 1),
            "sha256": sha256_file(model_path),
        },
    )
    ckpt.unlink(missing_ok=True)
    return HmjndTrainResult(
        model_path=model_path,
        manifest_path=out / MANIFEST_NAME,
        mode=cfg.mode,
        val_loss=last["val_loss"],
        val_quality=last["val_quality"],
        val_metric=val_metric,
        history=tuple(history),
        seconds=seconds,
        resumed_from=None if meta is None else int(meta["epoch"]),
    )


__all__ = ["VAL_MSE", "quality_at_mse", "train_hmjnd"]
