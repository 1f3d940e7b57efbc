"""How far float32 runs of the shipped ACoL-JND are from each other and from float64.

The bound behind the LiteRT-vs-Keras tolerances of tests/test_edge_runtime.py. XNNPACK picks
its kernels per instruction set (AVX2, AVX-512), so another CPU sums float32 in another order;
this runs the same frames through several summation orders on one machine:

- ``keras32``: Keras fp32 (TensorFlow CPU, oneDNN);
- ``keras64``: the same weights with every layer in float64 (the reference for rounding);
- ``xnnpack`` / ``builtin`` / ``reference``: LiteRT fp32 (dynamic-shape export) with its default
  delegate, without it (``BUILTIN_WITHOUT_DEFAULT_DELEGATES``) and with the reference kernels.

Per frame and run it prints the max abs difference from float64 and from Keras fp32 (grey
levels), the map PSNR against Keras fp32, and, for the eq. (7) image at 26.06 dB (λ solved on
the Keras map, same signs), the share of uint8 values that differ and by how much. Asserts
nothing. The clip is jndtf.samples.clip_frames (3 scenes; frames 3, 20, 40).

    python benchmarks/fp32_parity_bound.py                    # 96x160 ... 160x256, ~5 min
    python benchmarks/fp32_parity_bound.py --sizes 160x96 --reference
"""

from __future__ import annotations

import argparse
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from jndtf.metrics import psnr_from_mse
from jndtf.refs import DEFAULT_JND_MODEL
from jndtf.sysinfo import cpu_line as cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="160x96,112x64,200x120,224x128,256x160", help="WxH list")
    ap.add_argument("--reference", action="store_true", help="also LiteRT's reference kernels")
    args = ap.parse_args()

    import keras
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    from jndtf.export import export_model

    from jndtf.apply import inject
    from jndtf.evaluate.learned import load_learned
    from jndtf.io import parse_size
    from jndtf.models.inputs import model_input
    from jndtf.samples import clip_frames

    k32 = load_learned(DEFAULT_JND_MODEL)

    def to64(layer):
        cfg = layer.get_config()
        cfg["dtype"] = "float64"
        return layer.__class__.from_config(cfg)

    m64 = keras.models.clone_model(k32.model, clone_function=to64)
    m64.set_weights([w.astype(np.float64) for w in k32.model.get_weights()])
    (dyn,) = export_model(
        DEFAULT_JND_MODEL,
        ["tflite-fp32"],
        out_dir=tempfile.mkdtemp(),
        input_size=None,
        parity=False,
    )
    kinds = {
        "xnnpack": OpResolverType.AUTO,
        "builtin": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    }
    if args.reference:
        kinds["reference"] = OpResolverType.BUILTIN_REF

    def litert(x, kind):
        it = Interpreter(
            model_path=str(dyn.path), num_threads=1, experimental_op_resolver_type=kind
        )
        d = it.get_input_details()[0]
        it.resize_tensor_input(d["index"], x.shape)
        it.allocate_tensors()
        it.set_tensor(d["index"], x.astype(np.float32))
        it.invoke()
        return it.get_tensor(it.get_output_details()[0]["index"])[0]

    print(f"CPU: {cpu()}")
    print(
        "| frame | run | max vs float64 | max vs Keras fp32 | map PSNR vs Keras "
        "| eq. (7) values changed |"
    )
    print("|---|---|---|---|---|---|")
    worst = {"f64": 0.0, "k32": 0.0, "psnr": np.inf, "eq7": 0.0}
    for size in args.sizes.split(","):
        w, h = parse_size(size)
        clip = clip_frames(seconds=3.0, fps=15.0, size=(w, h), scene_seconds=1.0)
        for i, frame in enumerate(clip):
            if i not in (3, 20, 40):
                continue
            x = model_input(
                frame, k32.priors, normalization=k32.normalization, overrides=k32.prior_overrides
            )[None]
            y32 = np.asarray(k32.model(x, training=False), np.float64)[0]
            y64 = np.asarray(m64(x.astype(np.float64), training=False), np.float64)[0]
            ref = inject(frame, y32.astype(np.float32), psnr=26.06, seed=0)
            runs = {
                "keras32": y32,
                **{k: litert(x, t).astype(np.float64) for k, t in kinds.items()},
            }
            for name, y in runs.items():
                d64, d32 = np.abs(y - y64).max(), np.abs(y - y32)
                psnr = psnr_from_mse(float(np.mean(d32**2)))
                img = inject(frame, y.astype(np.float32), scale=ref.scale, seed=0).image
                ch = np.abs(img.astype(int) - ref.image.astype(int))
                print(
                    f"| {h}x{w} #{i} | {name} | {d64:.2e} | {d32.max():.2e} | {psnr:.1f} dB | "
                    f"{100 * np.mean(ch > 0):.3f} % (max {ch.max()}) |",
                    flush=True,
                )
                worst["f64"] = max(worst["f64"], d64)
                if name != "keras32":
                    worst["k32"] = max(worst["k32"], d32.max())
                    worst["psnr"] = min(worst["psnr"], psnr)
                    worst["eq7"] = max(worst["eq7"], 100 * np.mean(ch > 0))
    print(
        f"\nworst: {worst['f64']:.2e} from float64, {worst['k32']:.2e} LiteRT vs Keras fp32, "
        f"map PSNR {worst['psnr']:.1f} dB, eq. (7) values changed {worst['eq7']:.3f} %"
    )


if __name__ == "__main__":
    main()
