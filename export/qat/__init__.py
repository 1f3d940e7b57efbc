"""Quantization-aware training (QAT) export to full-integer int8 TFLite, for every model family
that registers QAT export hooks (:class:`jndtf.models.registry.ExportHooks`: ``qat_describe``,
``qat_rebuild``, ``qat_task_loss``); ACoL-JND's are in ``jndtf/models/acol/``.

tensorflow-model-optimization 0.8.1 only takes ``tf_keras`` models and, once imported, sets
``TF_USE_LEGACY_KERAS=1`` for its whole process (DESIGN.md). So :func:`convert_qat` describes
the trained Keras 3 network as data (the family's ``qat_describe``; the weights by
:mod:`~jndtf.export.qat.architecture`), hands it to ``python -m jndtf.export.qat.worker`` in a
fresh process, which rebuilds it with ``tf_keras`` (the family's ``qat_rebuild`` module),
checks the rebuild against the Keras 3 maps, fine-tunes a tfmot QAT copy
(:mod:`~jndtf.export.qat.quantize`, :mod:`~jndtf.export.qat.finetune`) and converts it.
Importing this package imports neither tfmot nor tf_keras.

**Measured against PTQ** (``python -m jndtf.export.qat.compare --steps 0 --steps 200 --loss
distill --loss eq6``; shipped ``acol``, fixed 176x176, 32 calibration crops of the four
calibration photos, the parity check of :mod:`jndtf.export.parity` on 2 held-back crops of
``motorcycle_left``; seconds on 2 shared CPU cores under varying load: noisy, the 507 s run
shared them with the most other work):

===============================================  ========  ======  =======  =========  =====
int8 export                                      map PSNR  max|Δ|  mean|Δ|  MS-SSIM Δ  time
===============================================  ========  ======  =======  =========  =====
PTQ tflite-int8 (head, threshold path float)     49.3 dB   4.6     0.58     +0.0002    10 s
QAT, ranges only (0 steps)                       45.1 dB   7.1     0.99     -0.0015    85 s
QAT, distillation, 200 steps, lr 1e-5 (default)  47.0 dB   7.2     0.78     -0.0011    507 s
QAT, distillation, 400 steps, lr 1e-5            47.0 dB   6.3     0.77     -0.0009    259 s
QAT, distillation, 200 steps, lr 3e-6            46.5 dB   7.4     0.82     -0.0010    160 s
QAT, distillation, 200 steps, lr 1e-4            32.3 dB   37.0    3.85     -0.0005    294 s
QAT, training loss eq. (6), 200 steps, lr 1e-5   39.4 dB   11.8    2.00     +0.0016    350 s
===============================================  ========  ======  =======  =========  =====

(|Δ| in grey levels; MS-SSIM Δ of the eq. (7) injection at 26.06 dB, export − Keras.) So:

- **QAT is worse than the current PTQ**: PTQ keeps the output head and the §3.4 threshold
  inputs in float; QAT here is full-integer (every op int8, the mask flips it causes are
  simulated but get no gradient). PTQ stays the default; QAT is offered for targets that need
  every op in int8 (where it beats full-integer PTQ, which collapsed the map to ~28 dB).
- **Distillation, not the training loss**: eq. (6) optimises the task, and 200 steps of it
  moved the int8 map away from the shipped model's (39.4 dB vs 47.0 dB); the teacher's map is
  what a QAT export promises to reproduce. lr 1e-4 diverged (batch loss 15-30 vs ~1.2),
  lr 3e-6 moved too little, 400 steps gained nothing over 200 (a plateau near 47 dB).
- Full-integer needs one rewrite: ``JndOutput`` as ``min(|255·x|, 255)`` (the same numbers) —
  with ``255·|x|`` the converter gave int8 ``ABS`` the scale of the ×255 product and the map
  rounded to 0 (28 dB), the fault PTQ works around by keeping its head in float.

Example:
    >>> data, quant = convert_qat(learned, calib_inputs, input_size=(176, 176))
    >>> quant["mode"], round(quant["parity"]["tflite_psnr_db"])
    ('int8-qat', 47)
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from jndtf.export.qat.architecture import NotAnAcolNetwork, describe_acol, weights_of

from jndtf.models.registry import ExportHooks

#: Defaults of the fine-tuning (chosen by the measurements in the module docstring).
DEFAULT_LOSS = "distill"
DEFAULT_LEARNING_RATE = 1e-5
DEFAULT_BATCH_SIZE = 4
#: Keras 3 reference maps sent along for the worker's rebuild check.
NUM_REFERENCE = 2
IO_DTYPES = ("float32", "int8", "uint8")
#: Fine-tuning losses of the worker (jndtf.export.qat.finetune.LOSSES, without importing it).
LOSSES = ("distill", "eq6")
QAT_MODULES = ("tensorflow_model_optimization", "tf_keras")
#: Progress of the worker (INFO lines).
LOG = logging.getLogger("jndtf.export.qat")


class QatError(RuntimeError):
    """The QAT worker refused the job or failed; the message says why."""


def require_qat() -> None:
    """Raises ImportError naming ``pip install "jndtf[qat]"`` when tfmot or tf_keras is
    missing (checked without importing them)."""
    from jndtf._deps import require_installed

    for module in QAT_MODULES:
        require_installed(module, "quantization-aware training (tflite-int8 --qat)")


def _check_inputs(calib_inputs, channels: int, input_size) -> np.ndarray:
    if isinstance(calib_inputs, np.ndarray) or not isinstance(calib_inputs, Sequence):
        raise ValueError("calib_inputs must be a list of (1, H, W, C) float32 network inputs")
    if not calib_inputs:
        raise ValueError("calib_inputs is empty: QAT needs real network inputs (priors applied)")
    arrays = [np.asarray(x, np.float32) for x in calib_inputs]
    first = arrays[0].shape
    for i, x in enumerate(arrays):
        if x.ndim != 4 or x.shape[0] != 1 or x.shape[-1] != channels:
            raise ValueError(
                f"calib_inputs[{i}] has shape {x.shape}; the model needs (1, H, W, {channels})"
            )
        if x.shape != first:
            raise ValueError(
                f"calib_inputs must share one shape (they are batched): [0] is {first}, "
                f"[{i}] is {x.shape}"
            )
        if not np.all(np.isfinite(x)):
            raise ValueError(f"calib_inputs[{i}] holds NaN or Inf")
    if input_size is not None and tuple(first[1:3]) != tuple(input_size):
        raise ValueError(
            f"calib_inputs are {first[1]}x{first[2]} but input_size is {tuple(input_size)}: "
            "make them at the export size (or pass input_size=None for dynamic H, W)"
        )
    return np.concatenate(arrays)


def _job(learned, calib: np.ndarray, job: dict, folder: Path) -> None:
    model = learned.model
    ref_in = calib[:NUM_REFERENCE]
    ref_out = np.concatenate(
        [np.asarray(model(x[None], training=False), np.float32) for x in ref_in]
    )
    arrays = {"calib": calib, "ref_inputs": ref_in, "ref_outputs": ref_out}
    arrays.update({f"w/{k}": v for k, v in weights_of(model).items()})
    np.savez(folder / "arrays.npz", **arrays)
    (folder / "job.json").write_text(json.dumps(job, indent=2))


def run_worker(folder: Path) -> dict:
    """Runs ``python -m jndtf.export.qat.worker FOLDER`` and returns its ``result.json``.

    The worker's progress lines (``[qat] step 10/200 loss ...``) go to the ``logging`` logger
    ``jndtf.export.qat`` at INFO level as they come (a CLI can show them); everything else it
    prints is kept for the error message.

    Raises:
        QatError: the worker refused the job (its message) or crashed (its output's tail).
    """
    env = dict(os.environ)
    env.update({"TF_USE_LEGACY_KERAS": "1", "KERAS_BACKEND": "tensorflow"})
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    cmd = [sys.executable, "-m", "jndtf.export.qat.worker", str(folder)]
    tail: list[str] = []
    with subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    ) as proc:
        for line in proc.stderr:
            if line.startswith("[qat] "):
                LOG.info(line[6:].rstrip())
            tail = [*tail[-60:], line]
    error = folder / "error.json"
    if error.is_file():
        info = json.loads(error.read_text())
        raise QatError(f"QAT worker: {info['type']}: {info['message']}")
    result = folder / "result.json"
    if proc.returncode != 0 or not result.is_file():
        raise QatError(f"QAT worker failed (exit code {proc.returncode}):\n{''.join(tail)[-3000:]}")
    return json.loads(result.read_text())


def job_hooks(job: dict) -> ExportHooks:
    """The QAT hooks a worker job names (``rebuild``, ``task_loss``); a job written before the
    hooks names none and means the one registered family with QAT hooks.

    Raises:
        ValueError: the job names no rebuild and not exactly one family registers QAT hooks.
    """
    from jndtf.models.registry import available_families, family_spec

    if job.get("rebuild"):
        return ExportHooks(
            qat_describe="-", qat_rebuild=job["rebuild"], qat_task_loss=job.get("task_loss")
        )
    found = [h for f in available_families() if (h := family_spec(f).export).supports_qat]
    if len(found) != 1:
        raise ValueError(
            f"the QAT job names no rebuild module and {len(found)} families register QAT hooks"
        )
    return found[0]


def qat_hooks(model, family: str | None = None) -> tuple[str, ExportHooks, dict]:
    """``(family, hooks, arch)``: the export hooks that describe `model` for the QAT worker.

    With `family` (the manifest's), that family's ``qat_describe`` must accept the model;
    without, every family that registers QAT hooks is asked in turn (the first whose
    ``qat_describe`` does not raise ValueError wins).

    Raises:
        ValueError: the family registers no QAT hooks, or no family's describes the model
            (the message of each refusal).
    """
    from jndtf.models.registry import available_families, family_spec, load_object

    if family is not None:
        hooks = family_spec(family).export
        if not hooks.supports_qat:
            raise ValueError(
                f"quantization-aware training export is not available for model family "
                f"{family!r} (its ModelSpec registers no qat_describe/qat_rebuild export hooks); "
                "use tflite-int8 (post-training quantization)"
            )
        return family, hooks, load_object(hooks.qat_describe)(model)
    refusals = []
    for name in available_families():
        hooks = family_spec(name).export
        if not hooks.supports_qat:
            continue
        try:
            return name, hooks, load_object(hooks.qat_describe)(model)
        except ValueError as e:
            refusals.append(e)
    if len(refusals) == 1:
        raise refusals[0]
    raise ValueError(
        "no model family's QAT hooks describe this model: " + "; ".join(str(e) for e in refusals)
    )


def convert_qat(
    learned,
    calib_inputs: Sequence[np.ndarray],
    *,
    input_size: tuple[int, int] | None,
    io_dtype: str = "float32",
    steps: int = 200,
    seed: int = 0,
    family: str | None = None,
) -> tuple[bytes, dict]:
    """Full-integer int8 TFLite of a network by quantization-aware training, through its
    family's QAT export hooks (:class:`jndtf.models.registry.ExportHooks`; ACoL-JND's below).

    The network is rebuilt with ``tf_keras`` in a worker process and checked against the Keras
    3 maps; every activation range starts at the float model's min/max over `calib_inputs`;
    the fake-quantized copy is fine-tuned for `steps` Adam steps (lr 1e-5, batches of 4 with
    random flips) to reproduce the fp32 model's JND map (distillation, pixel-value MSE) on
    `calib_inputs` minus a hold-out of 1/8, then converted (TFLITE_BUILTINS_INT8).

    Args:
        learned: a :class:`jndtf.evaluate.learned.LearnedJnd` of an ACoL-family network
            (``.model`` is used; every preset and width).
        calib_inputs: ``(1, H, W, C)`` float32 network inputs (priors applied), all one shape:
            the PTQ calibration inputs; they are the fine-tuning data too.
        input_size: fixed ``(H, W)`` of the exported input (must be the inputs' size), or None
            for dynamic ``[1, -1, -1, C]``.
        io_dtype: ``"float32"`` (quantize/dequantize inside), ``"int8"`` or ``"uint8"`` I/O.
        steps: fine-tuning steps (0: calibrated ranges only).
        seed: seed of the batches and flips.
        family: the model's family (None: the family whose QAT hooks describe the model).

    Returns:
        ``(tflite_bytes, quantization)``; ``quantization`` is manifest data: ``mode``
        ``"int8-qat"``, ``io_dtype``, ``steps``, ``loss``, ``learning_rate``, ``parity``
        (student vs fp32 teacher on the hold-out: QAT Keras before/after fine-tuning and the
        int8 TFLite), ``rebuild_max_abs_err``, ``history``, ``versions``.

    Raises:
        ImportError: the ``[qat]`` extra is missing (names ``pip install "jndtf[qat]"``).
        ValueError: bad inputs, size, dtype or steps; a model that is not ACoL-JND.
        QatError: the worker refused (e.g. the rebuild does not match) or failed.

    Example:
        >>> data, quant = convert_qat(load_learned("acol"), inputs, input_size=(176, 176))
    """
    return convert_qat_with(
        learned,
        calib_inputs,
        input_size=input_size,
        io_dtype=io_dtype,
        steps=steps,
        seed=seed,
        family=family,
    )


def convert_qat_with(
    learned,
    calib_inputs: Sequence[np.ndarray],
    *,
    input_size: tuple[int, int] | None,
    io_dtype: str = "float32",
    steps: int = 200,
    seed: int = 0,
    loss: str = DEFAULT_LOSS,
    learning_rate: float = DEFAULT_LEARNING_RATE,
    batch_size: int = DEFAULT_BATCH_SIZE,
    family: str | None = None,
) -> tuple[bytes, dict]:
    """:func:`convert_qat` with the fine-tuning settings exposed (for experiments).

    Args:
        loss: ``"distill"`` (fp32 teacher's map, the default) or ``"eq6"`` (the training loss,
            A-IQA + 0.1 · eq. (5)); see :mod:`jndtf.export.qat.finetune`.
        learning_rate: Adam step size.
        batch_size: inputs per step.
        learned, calib_inputs, input_size, io_dtype, steps, seed, family: as
            :func:`convert_qat`.
    """
    require_qat()
    if io_dtype not in IO_DTYPES:
        raise ValueError(f"io_dtype must be one of {IO_DTYPES}, got {io_dtype!r}")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    if not float(learning_rate) > 0 or int(batch_size) < 1:
        raise ValueError(
            f"need learning_rate > 0 and batch_size >= 1, got {learning_rate}, {batch_size}"
        )
    if input_size is not None:
        if len(input_size) != 2 or min(int(s) for s in input_size) < 4:
            raise ValueError(f"input_size must be (H, W) with H, W >= 4 or None, got {input_size}")
        input_size = (int(input_size[0]), int(input_size[1]))
    model = getattr(learned, "model", None)
    if model is None:
        raise ValueError(
            f"learned must be a LearnedJnd (with .model), got {type(learned).__name__}"
        )
    _, hooks, arch = qat_hooks(model, family)
    calib = _check_inputs(calib_inputs, arch["channels"], input_size)
    job = {
        "mode": "qat",
        "arch": arch,
        "rebuild": hooks.qat_rebuild,
        "task_loss": hooks.qat_task_loss,
        "input_size": None if input_size is None else list(input_size),
        "io_dtype": io_dtype,
        "steps": int(steps),
        "seed": int(seed),
        "loss": loss,
        "learning_rate": float(learning_rate),
        "batch_size": int(batch_size),
    }
    with tempfile.TemporaryDirectory(prefix="jndtf-qat-") as tmp:
        folder = Path(tmp)
        _job(learned, calib, job, folder)
        result = run_worker(folder)
        data = (folder / "model.tflite").read_bytes()
    return data, result


__all__ = [
    "DEFAULT_LOSS",
    "NotAnAcolNetwork",
    "QatError",
    "convert_qat",
    "convert_qat_with",
    "describe_acol",
    "job_hooks",
    "qat_hooks",
    "require_qat",
    "run_worker",
]
