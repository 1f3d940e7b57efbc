"""Fine-tuning of the quantization-aware ACoL-JND: distillation from the fp32 teacher (default)
or the training loss, eq. (6) of the ACoL-JND paper.

- ``"distill"``: ``mean((S_q(x) − T(x))²)`` over pixels and channels, maps in pixel values
  (0..255), S_q the fake-quantized student, T the float rebuild of the trained model (checked
  equal to the Keras 3 model before fine-tuning). The goal of a QAT export is the trained
  model's map in int8, so the loss is the parity itself.
- ``"eq6"``: ``δ·L1(x_o, x_o + S_q(x)) + η·L2(x_o, S_q(x))`` (A-IQA + 0.1 · eq. (5)), the loss
  the shipped weights were trained with (:class:`jndtf.losses.ACoLJNDLoss`, Keras 3 ops on the
  same TensorFlow tensors). Kept to compare: it optimises the task, not the agreement with the
  fp32 map.

Each step draws ``batch_size`` inputs at random (seeded) and flips each one at random
horizontally and/or vertically; the teacher sees the same flipped input.

Example:
    >>> history = finetune(qat, teacher, inputs, steps=200, loss="distill", learning_rate=1e-5)
"""

from __future__ import annotations

import time

import numpy as np
import tensorflow as tf
import tf_keras

LOSSES = ("distill", "eq6")
#: What each loss is, for the manifest.
LOSS_DEFINITIONS = {
    "distill": "distillation: mean squared difference of the int8-simulated map and the fp32 "
    "teacher's map, pixel values 0..255",
    "eq6": "training loss, eq. (6) of ACoL-JND: A-IQA + 0.1 * eq. (5) gradient loss",
}


def _eq6_loss(task_loss: str | None = None):
    """The family's training loss (a Keras loss class, ``y_true`` = original RGB 0..255,
    ``y_pred`` = the network's output) as ``fn(x, student, teacher)``."""
    from jndtf.export.qat import job_hooks

    from jndtf.models.registry import load_object

    task_loss = task_loss or job_hooks({}).qat_task_loss
    if not task_loss:
        raise ValueError("loss='eq6' needs the family's training loss (ExportHooks.qat_task_loss)")
    loss = load_object(task_loss)()

    def fn(x, student, teacher):
        del teacher
        return tf.reduce_mean(loss.call(255.0 * x[..., :3], student))

    return fn


def _distill(x, student, teacher):
    del x
    return tf.reduce_mean(tf.square(student - teacher))


def finetune(
    qat_model: tf_keras.Model,
    teacher: tf_keras.Model,
    inputs: np.ndarray,
    *,
    steps: int,
    loss: str = "distill",
    task_loss: str | None = None,
    learning_rate: float = 1e-5,
    batch_size: int = 4,
    seed: int = 0,
    log_every: int = 10,
    log=None,
) -> list[dict]:
    """Adam fine-tuning of `qat_model` in training mode (fake quantization, EMA ranges).

    Args:
        qat_model: the tfmot QAT model (calibrated ranges).
        teacher: the float model (distillation target; unused by ``"eq6"``).
        inputs: ``(N, H, W, C)`` float32 network inputs.
        steps: optimiser steps (0: none).
        loss: ``"distill"`` or ``"eq6"`` (the family's training loss).
        task_loss: ``"module:Class"`` of that training loss (``ExportHooks.qat_task_loss``;
            None: that of the one family with QAT hooks, ACoL-JND's eq. (6)).
        learning_rate: Adam step size.
        batch_size: inputs per step (at most N).
        seed: seed of the batches and flips.
        log_every: a history entry every this many steps (and at the last).
        log: optional ``fn(str)`` for progress lines.

    Returns:
        ``[{"step", "loss", "seconds"}, ...]`` (loss of that step's batch).
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    inputs = np.asarray(inputs, np.float32)
    loss_fn = _distill if loss == "distill" else _eq6_loss(task_loss)
    optimizer = tf_keras.optimizers.Adam(learning_rate)
    variables = qat_model.trainable_variables

    @tf.function
    def step(x):
        target = teacher(x, training=False)
        with tf.GradientTape() as tape:
            value = loss_fn(x, qat_model(x, training=True), target)
        grads = tape.gradient(value, variables)
        optimizer.apply_gradients(zip(grads, variables, strict=True))
        return value

    rng = np.random.default_rng(seed)
    n = min(int(batch_size), len(inputs))
    history, start = [], time.perf_counter()
    for i in range(1, int(steps) + 1):
        batch = inputs[rng.choice(len(inputs), n, replace=False)].copy()
        for j in range(n):
            if rng.random() < 0.5:
                batch[j] = batch[j, :, ::-1]
            if rng.random() < 0.5:
                batch[j] = batch[j, ::-1]
        value = float(step(tf.constant(batch)))
        if not np.isfinite(value):
            raise FloatingPointError(f"QAT fine-tuning loss is {value} at step {i}")
        if i % log_every == 0 or i == steps:
            entry = {"step": i, "loss": value, "seconds": round(time.perf_counter() - start, 2)}
            history.append(entry)
            if log:
                log(f"step {i}/{steps} loss {value:.4g} ({entry['seconds']} s)")
    return history


__all__ = ["LOSSES", "LOSS_DEFINITIONS", "finetune"]
