"""QAT vs PTQ int8 on held-back real photos, in one run: ``python -m jndtf.export.qat.compare``.

For one learned model it exports ``tflite-int8`` by PTQ (:func:`jndtf.export.export_model`,
whatever PTQ recipe is current) and by QAT (:func:`jndtf.export.qat.convert_qat_with`, one run
per fine-tuning loss and step count) from the same calibration inputs, and measures each
against the Keras 3 fp32 model with the one parity check of :mod:`jndtf.export.parity` on the
same held-back crops (map PSNR, abs error, MS-SSIM of the eq. (7) injection). Numbers only:
nothing is chosen or written into the package.

Example:
    $ python -m jndtf.export.qat.compare --steps 0 --steps 200 --loss distill --loss eq6 \\
        -o qat_vs_ptq.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from jndtf.refs import DEFAULT_JND_MODEL


def compare(
    source: str = DEFAULT_JND_MODEL,
    *,
    input_size: tuple[int, int] = (176, 176),
    runs: list[tuple[str, int]] = (("distill", 200),),
    learning_rate: float = 1e-5,
    num_calibration: int = 32,
    num_parity: int = 2,
    seed: int = 0,
    log=print,
) -> dict:
    """PTQ and QAT parity rows for `source` (see the module docstring).

    Args:
        source: registered model name or ``.keras`` path.
        input_size: fixed export size (calibration and parity crops have it too).
        runs: ``(loss, steps)`` of each QAT export.
        learning_rate: Adam step size of the QAT runs.
        num_calibration: calibration (and fine-tuning) crops, as ``export_model``'s.
        num_parity: held-back crops, as ``export_model``'s.
        seed: seed of crops, batches and injection signs.
        log: progress printer.

    Returns:
        ``{"source", "input_size", "held_back", "rows": [{"method", "loss", "steps", "parity",
        "worker_parity", "seconds"}, ...]}``.
    """
    from jndtf.export import export_model
    from jndtf.export.parity import parity_check, parity_images
    from jndtf.export.qat import convert_qat_with
    from jndtf.export.quantization import (
        CALIBRATION_IMAGES,
        PARITY_IMAGES,
        load_images,
        representative_inputs,
    )
    from jndtf.export.tflite import TFLiteRunner

    from jndtf.evaluate.learned import load_learned
    from jndtf.models.inputs import model_input

    learned = load_learned(source)

    def make_input(im):
        return model_input(im, learned.priors, normalization=learned.normalization)

    def run_keras(x):
        return np.asarray(learned.model(x, training=False), np.float32)

    calib = representative_inputs(
        make_input,
        load_images(None, CALIBRATION_IMAGES),
        input_size,
        num=num_calibration,
        seed=seed,
    )
    images, inputs = parity_images(
        make_input, load_images(None, PARITY_IMAGES), input_size, num=num_parity, seed=seed + 1
    )
    rows = []
    with tempfile.TemporaryDirectory(prefix="jndtf-qat-compare-") as tmp:
        t0 = time.perf_counter()
        ptq = export_model(
            learned,
            ["tflite-int8"],
            out_dir=tmp,
            input_size=input_size[::-1],  # export_model takes (width, height); this is (H, W)
            num_calibration=num_calibration,
            num_parity=num_parity,
            seed=seed,
            spec=source if "/" not in source else None,
        )[0]
        rows.append(
            {
                "method": "ptq",
                "quantization": ptq.manifest.get("quantization"),
                "parity": ptq.parity.to_dict(),
                "seconds": round(time.perf_counter() - t0, 1),
            }
        )
        log(f"PTQ int8: {ptq.parity.map_psnr_db:.2f} dB")
        for loss, steps in runs:
            t0 = time.perf_counter()
            data, quant = convert_qat_with(
                learned,
                calib,
                input_size=input_size,
                steps=int(steps),
                seed=seed,
                loss=loss,
                learning_rate=learning_rate,
            )
            path = Path(tmp) / f"qat-{loss}-{steps}.tflite"
            path.write_bytes(data)
            report = parity_check(TFLiteRunner(path), run_keras, images, inputs, seed=seed)
            rows.append(
                {
                    "method": "qat",
                    "loss": loss,
                    "steps": int(steps),
                    "learning_rate": learning_rate,
                    "parity": report.to_dict(),
                    "worker_parity": quant["parity"],
                    "history": quant["history"],
                    "seconds": round(time.perf_counter() - t0, 1),
                }
            )
            log(f"QAT {loss} {steps} steps: {report.map_psnr_db:.2f} dB")
    return {
        "source": source,
        "input_size": list(input_size),
        "held_back": f"{num_parity} random crops of sample photo(s) {', '.join(PARITY_IMAGES)}",
        "calibration": f"{num_calibration} crops of {', '.join(CALIBRATION_IMAGES)}",
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    """Command line of :func:`compare` (prints a table, writes JSON with ``-o``)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=DEFAULT_JND_MODEL, help="registered name or .keras path")
    p.add_argument("--size", type=int, nargs=2, default=(176, 176), metavar=("H", "W"))
    p.add_argument("--loss", action="append", choices=("distill", "eq6"), help="repeatable")
    p.add_argument("--steps", type=int, action="append", help="repeatable (default 200)")
    p.add_argument("--lr", type=float, default=1e-5, help="Adam step size (default 1e-5)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", type=Path, help="JSON report")
    a = p.parse_args(argv)
    losses = a.loss or ["distill"]
    runs = [(loss, s) for loss in losses for s in (a.steps or [200]) if s or loss == losses[0]]
    out = compare(a.model, input_size=tuple(a.size), runs=runs, learning_rate=a.lr, seed=a.seed)
    print(f"{'method':<22}{'map PSNR dB':>12}{'max|d|':>9}{'mean|d|':>9}{'MS-SSIM d':>11}")
    for r in out["rows"]:
        name = "ptq" if r["method"] == "ptq" else f"qat {r['loss']} {r['steps']}"
        q = r["parity"]
        d = q["ms_ssim_delta"]
        print(
            f"{name:<22}{q['map_psnr_db']:>12.2f}{q['max_abs_err']:>9.2f}"
            f"{q['mean_abs_err']:>9.3f}{'' if d is None else f'{d:+.4f}':>11}"
        )
    if a.output:
        from jndtf.io import atomic_write_bytes

        atomic_write_bytes(a.output, json.dumps(out, indent=2).encode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
