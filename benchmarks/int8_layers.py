"""Where int8 loses ACoL-JND's map, and what keeping the head and threshold in float buys.

Exports the shipped ``acol`` at 176x176 as fp32, plain full-integer int8 and jndtf's default int8
(output head and §3.4 threshold inputs in float, :mod:`jndtf.export.quantization`), all calibrated
on the same 32 crops of the calibration photos; prints for each the file size relative to fp32,
the JND map's PSNR against Keras on held-back crops (motorcycle_left, held back from calibration,
and scikit-image's immunohistochemistry photo, which neither training nor calibration saw), and
the layers that lose the most dB (:func:`jndtf.export.layerwise.compare_layers`).

    python benchmarks/int8_layers.py [--crops 4] [--top 3]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from jndtf.metrics import psnr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--crops", type=int, default=4, help="held-back crops (default 4)")
    parser.add_argument("--top", type=int, default=3, help="worst layers listed (default 3)")
    args = parser.parse_args()

    import skimage.data
    from jndtf.export.layerwise import compare_layers
    from jndtf.export.parity import parity_images
    from jndtf.export.quantization import (
        CALIBRATION_IMAGES,
        QuantizationConfig,
        load_images,
        representative_inputs,
    )
    from jndtf.export.tflite import TFLiteRunner, convert_model

    from jndtf.evaluate.learned import load_learned
    from jndtf.models.inputs import model_input
    from jndtf.samples import sample_image

    size = (176, 176)
    learned = load_learned("acol")

    def make(image):
        return model_input(image, learned.priors, normalization=learned.normalization)

    calib = representative_inputs(make, load_images(None, CALIBRATION_IMAGES), size, num=32, seed=0)
    held = [sample_image("motorcycle_left"), skimage.data.immunohistochemistry()]
    _, xs = parity_images(make, held, size, num=args.crops, seed=1)
    variants = {
        "fp32": QuantizationConfig.none(),
        "int8, plain full-integer": QuantizationConfig.for_int8(
            calib, num_samples=32, float_head=False, float_thresholds=False
        ),
        "int8, jndtf default": QuantizationConfig.for_int8(calib, num_samples=32),
    }
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, config in variants.items():
            data = convert_model(learned.model, size, 6, config)
            path = Path(tmp) / "model.tflite"
            path.write_bytes(data)
            runner = TFLiteRunner(path)
            psnrs = [psnr(runner(x), np.asarray(learned.model(x, training=False))) for x in xs]
            layers = sorted(compare_layers(data, learned.model, xs[:1]), key=lambda r: -r.lost_db)
            worst = ", ".join(f"{r.layer} {r.lost_db:.1f} dB" for r in layers[: args.top])
            rows.append((name, len(data), float(np.mean(psnrs)), float(np.min(psnrs)), worst))
    fp32_bytes = rows[0][1]
    print(f"shipped acol at {size[0]}x{size[1]}, {len(xs)} held-back crops")
    print(f"{'variant':<26} {'bytes':>9} {'% fp32':>7} {'PSNR mean':>10} {'min':>7}  worst layers")
    for name, n, mean, low, worst in rows:
        share = 100 * n / fp32_bytes
        print(f"{name:<26} {n:>9,} {share:>6.1f}% {mean:>9.1f}  {low:>6.1f}  {worst}")


if __name__ == "__main__":
    main()
