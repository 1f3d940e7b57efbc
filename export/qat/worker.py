"""The QAT worker: ``python -m jndtf.export.qat.worker JOB_DIR``, run by
:func:`jndtf.export.qat.convert_qat` in a process of its own.

Importing tensorflow-model-optimization sets ``TF_USE_LEGACY_KERAS=1`` for the whole process and
tfmot needs ``tf_keras`` models (DESIGN.md), so nothing of this runs in the caller's process.

``JOB_DIR`` holds ``job.json`` (settings, the architecture from the family's ``qat_describe``
hook and the paths of its ``qat_rebuild`` module and ``qat_task_loss``, see
:class:`jndtf.models.registry.ExportHooks`) and ``arrays.npz`` (``calib``: ``(N, H, W, C)``
inputs; ``ref_inputs``/``ref_outputs``: maps of the Keras 3 model; ``w/<layer>/<index>``: its
weights). Steps of a ``"qat"`` job:

1. rebuild the network with ``tf_keras``, copy the weights, check the maps against the Keras 3
   model's (``max |Δ| <= REBUILD_TOLERANCE`` pixel values, else stop);
2. quantization-aware copy (tfmot), activation ranges from the float model
   (:func:`~jndtf.export.qat.quantize.calibrate_ranges`);
3. fine-tune (:func:`~jndtf.export.qat.finetune.finetune`) on all inputs but a hold-out;
4. convert to full-integer int8 TFLite, measure student vs teacher on the hold-out.

It writes ``model.tflite`` + ``result.json`` (atomically), or ``error.json`` and exits 2. A
``"rebuild"`` job stops after step 1 and also writes the rebuilt maps (``rebuild.npy``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from jndtf.metrics import psnr

#: Largest allowed |rebuilt map − Keras 3 map| in pixel values before any QAT step (1e-5 of the
#: 0..255 range is 2.6e-3; the same TF kernels measured 0.0 on the shipped model).
REBUILD_TOLERANCE = 1e-3
#: Fraction of the inputs held out of fine-tuning for the worker's parity figure (at least 1,
#: none when fewer than MIN_FOR_HOLDOUT inputs).
HOLDOUT_FRACTION = 1 / 8
MIN_FOR_HOLDOUT = 8


class QatJobError(RuntimeError):
    """A job the worker refuses or cannot finish (reported by name to the caller)."""


def _log(msg: str) -> None:
    print(f"[qat] {msg}", file=sys.stderr, flush=True)


def _predict(model, xs):
    import numpy as np

    return np.concatenate([np.asarray(model(x[None], training=False)) for x in xs])


def _versions() -> dict:
    from importlib.metadata import version

    out = {}
    for dist in ("tensorflow", "tf-keras", "tensorflow-model-optimization"):
        try:
            out[dist] = version(dist)
        except Exception:  # pragma: no cover - metadata missing
            out[dist] = None
    return out


def rebuild_and_check(job: dict, arrays) -> tuple:
    """Step 1: the float ``tf_keras`` rebuild, its weights, and its max |Δ| to Keras 3."""
    import importlib

    import numpy as np
    from jndtf.export.qat import job_hooks
    from jndtf.export.qat.rebuild import load_weights

    weights = {k[2:]: arrays[k] for k in arrays.files if k.startswith("w/")}
    module = importlib.import_module(job_hooks(job).qat_rebuild)  # the family's rebuild
    model = module.build(job["arch"])
    load_weights(model, weights)
    ref_in, ref_out = arrays["ref_inputs"], arrays["ref_outputs"]
    got = _predict(model, ref_in)
    if got.shape != ref_out.shape:
        raise QatJobError(f"rebuilt model maps {got.shape}, Keras 3 maps {ref_out.shape}")
    err = float(np.max(np.abs(got - ref_out)))
    return model, weights, got, err


def run_qat(job: dict, arrays, out_dir: Path) -> dict:
    """Steps 1-4 of the module docstring; returns the quantization description."""
    import numpy as np
    from jndtf.export.qat import finetune, quantize
    from jndtf.export.tflite import TFLiteRunner

    from jndtf.io import atomic_write_bytes

    start = time.perf_counter()
    teacher, weights, _, rebuild_err = rebuild_and_check(job, arrays)
    _log(f"rebuild max |diff| vs Keras 3: {rebuild_err:.3g}")
    if not rebuild_err <= REBUILD_TOLERANCE:
        raise QatJobError(
            f"the tf_keras rebuild differs from the Keras 3 model by {rebuild_err:.4g} pixel "
            f"values (tolerance {REBUILD_TOLERANCE}); not quantizing a different network"
        )
    calib = np.asarray(arrays["calib"], np.float32)
    n_hold = max(1, round(len(calib) * HOLDOUT_FRACTION)) if len(calib) >= MIN_FOR_HOLDOUT else 0
    train, hold = (calib[:-n_hold], calib[-n_hold:]) if n_hold else (calib, calib)
    from jndtf.export.qat import job_hooks

    hooks = job_hooks(job)
    qat = quantize.build_qat_model(job["arch"], weights, hooks.qat_rebuild)
    n_ranges = quantize.calibrate_ranges(qat, teacher, calib)
    t_hold = _predict(teacher, hold)
    before = psnr(_predict(qat, hold), t_hold)
    _log(f"{n_ranges} activation ranges calibrated; QAT model vs teacher {before:.2f} dB")
    history = finetune.finetune(
        qat,
        teacher,
        train,
        steps=int(job["steps"]),
        loss=job["loss"],
        task_loss=hooks.qat_task_loss,
        learning_rate=float(job["learning_rate"]),
        batch_size=int(job["batch_size"]),
        seed=int(job["seed"]),
        log=_log,
    )
    after = psnr(_predict(qat, hold), t_hold)
    _log(f"fine-tuned QAT model vs teacher {after:.2f} dB; converting")
    size = job["input_size"]
    data = quantize.convert_to_int8(
        qat, calib, input_size=None if size is None else tuple(size), io_dtype=job["io_dtype"]
    )
    path = out_dir / "model.tflite"
    atomic_write_bytes(path, data)
    runner = TFLiteRunner(path)
    got = np.concatenate([runner(x[None]) for x in hold])
    if not np.all(np.isfinite(got)):
        raise QatJobError("the int8 model's map is not finite")
    diff = np.abs(got - t_hold)
    held = (
        f"{n_hold} calibration input(s) held out of fine-tuning (same photos)"
        if n_hold
        else f"all {len(calib)} fine-tuning inputs (in-sample: fewer than {MIN_FOR_HOLDOUT})"
    )
    _log(f"int8 TFLite vs teacher {psnr(got, t_hold):.2f} dB")
    return {
        "mode": "int8-qat",
        "io_dtype": job["io_dtype"],
        "method": (
            "quantization-aware training: tfmot default 8-bit scheme on a tf_keras rebuild "
            "(activation ranges from the float model's min/max), fine-tuned, then full-integer "
            "TFLite (TFLITE_BUILTINS_INT8)"
        ),
        "steps": int(job["steps"]),
        "batch_size": int(job["batch_size"]),
        "loss": finetune.LOSS_DEFINITIONS[job["loss"]],
        "learning_rate": float(job["learning_rate"]),
        "optimizer": "adam",
        "seed": int(job["seed"]),
        "num_samples": len(calib),
        "fine_tune_inputs": len(train),
        "augmentation": "random horizontal/vertical flips",
        "rebuild_max_abs_err": rebuild_err,
        "parity": {
            "teacher": "fp32 tf_keras rebuild (equal to the Keras 3 model, rebuild_max_abs_err)",
            "inputs": held,
            "qat_keras_before_finetune_psnr_db": before,
            "qat_keras_psnr_db": after,
            "tflite_psnr_db": psnr(got, t_hold),
            "tflite_max_abs_err": float(diff.max()),
            "tflite_mean_abs_err": float(diff.mean()),
        },
        "history": history,
        "seconds": round(time.perf_counter() - start, 1),
        "versions": _versions(),
    }


def main(argv: list[str] | None = None) -> int:
    """Runs the job in ``argv[0]``; 0 on success, 2 on a refused/failed job (error.json)."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m jndtf.export.qat.worker JOB_DIR", file=sys.stderr)
        return 2
    out_dir = Path(argv[0])
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    from jndtf.io import atomic_write_bytes

    def write(name: str, data: dict) -> None:
        atomic_write_bytes(out_dir / name, json.dumps(data, indent=2).encode())

    try:
        import numpy as np

        job = json.loads((out_dir / "job.json").read_text())
        with np.load(out_dir / "arrays.npz") as loaded:
            arrays = _Arrays({k: loaded[k] for k in loaded.files})
        if job.get("mode") == "rebuild":
            _, _, got, err = rebuild_and_check(job, arrays)
            np.save(out_dir / "rebuild.npy", got)
            write("result.json", {"rebuild_max_abs_err": err, "versions": _versions()})
        else:
            write("result.json", run_qat(job, arrays, out_dir))
    except (QatJobError, ValueError, ImportError, FloatingPointError) as err:
        write("error.json", {"type": type(err).__name__, "message": str(err)})
        _log(f"{type(err).__name__}: {err}")
        return 2
    return 0


class _Arrays(dict):
    """The job's arrays with ``.files`` like a loaded npz (so both can be passed around)."""

    @property
    def files(self) -> list[str]:
        return list(self)


if __name__ == "__main__":
    sys.exit(main())
