"""jndtf.export: TFLite / ONNX / TensorRT export of trained jndtf models, with manifest + parity.

Example:
    >>> results = export_model("acol", ["tflite-fp32", "tflite-int8"], out_dir="out",
    ...                        input_size=(360, 640))
    >>> results[1].path, results[1].parity.map_psnr_db
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from jndtf.export.formats import FORMATS, ExportFormat, export_formats, get_format
from jndtf.export.manifest import build_manifest, read_manifest, verify, write_manifest
from jndtf.export.parity import ParityReport, parity_check, parity_images
from jndtf.export.quantization import (
    CALIBRATION_IMAGES,
    PARITY_IMAGES,
    QuantizationConfig,
    load_images,
    representative_inputs,
)

ONNX_OPSET = 17
#: Calibration/parity crop size for a dynamic-shape export.
DYNAMIC_CALIB_SIZE = (176, 176)


@dataclass(frozen=True)
class ExportResult:
    """One exported file.

    Attributes:
        format: the format's name.
        path: the exported model file.
        manifest_path: its manifest (``NAME.json``).
        size_bytes: size of the model file.
        parity: parity against Keras, or None when not measured.
        manifest: the manifest as written.
    """

    format: str
    path: Path
    manifest_path: Path
    size_bytes: int
    parity: ParityReport | None
    manifest: dict


def _source_info(learned, spec_name: str | None) -> dict:
    from jndtf.evaluate.learned import _read_manifest
    from jndtf.models.inputs import normalization_info

    src = learned.source
    m = _read_manifest(Path(src)) if src else {}
    model = learned.model
    return {
        "name": m.get("model_name") or spec_name or learned.name,
        "family": m.get("family"),
        "preset": m.get("preset") or spec_name,
        "width": m.get("width"),
        "priors": learned.priors,
        "normalization": normalization_info(learned.priors, learned.normalization),
        "channels": int(model.inputs[0].shape[-1]),
        "output_channels": int(model.outputs[0].shape[-1]),
        "jnd_units": (m.get("outputs") or {}).get("jnd_units", "pixel values 0..255"),
        "keras": str(src) if src else None,
    }


def _tensorrt_unavailable() -> ImportError:
    return ImportError(
        "format 'tensorrt' needs NVIDIA TensorRT on the GPU machine that runs the engine: "
        "`pip install tensorrt` (CUDA 13 libraries) there, export 'onnx' here and build the engine "
        "with `trtexec --onnx=NAME.onnx --saveEngine=NAME.engine` or the tensorrt Python API"
    )


def _export_onnx(saved_model: Path, path: Path) -> None:
    from jndtf._deps import require

    require("tf2onnx", "ONNX export")
    require("onnxruntime", "ONNX parity check")
    cmd = [
        sys.executable,
        "-m",
        "tf2onnx.convert",
        "--saved-model",
        str(saved_model),
        "--output",
        str(path),
        "--opset",
        str(ONNX_OPSET),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0 or not path.is_file():
        raise RuntimeError(f"tf2onnx failed ({done.returncode}):\n{done.stderr[-2000:]}")


class _OnnxRunner:
    def __init__(self, path: Path):
        import onnxruntime as ort

        self.sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.name = self.sess.get_inputs()[0].name

    def __call__(self, x):
        return self.sess.run(None, {self.name: np.asarray(x, np.float32)})[0]


def export_model(
    source,
    formats: Sequence[str] | str,
    *,
    out_dir: str | os.PathLike,
    input_size: tuple[int, int] | None = (176, 176),
    calib_data: str | os.PathLike | Sequence[np.ndarray] | None = None,
    num_calibration: int = 32,
    int8_io: bool = False,
    parity: bool = True,
    num_parity: int = 2,
    spec: str | None = None,
    name: str | None = None,
    seed: int = 0,
) -> list[ExportResult]:
    """Exports a learned JND model to each of `formats`, each file with its manifest.

    Args:
        source: registered name (shipped weights), ``.keras`` path, ``SPEC:PATH``, or a
            :class:`jndtf.evaluate.learned.LearnedJnd`.
        formats: names from :data:`jndtf.export.formats.FORMATS` (or one name).
        out_dir: output folder (created); files are ``NAME-FORMAT.tflite|.onnx``.
        input_size: fixed ``(H, W)`` of the exported input, or None for dynamic H, W.
        calib_data: int8 calibration images: a folder, a list of uint8 RGB arrays, or None for
            the bundled sample photos (all but the held-back parity photo).
        num_calibration: number of representative crops.
        int8_io: int8 input/output tensors for ``tflite-int8`` (float I/O otherwise).
        parity: measure parity against Keras on held-back real images (into the manifest).
        num_parity: number of held-back crops.
        spec: registered model describing the input when `source` is a bare ``.keras``.
        name: file stem (default: the model's name).
        seed: seed of calibration crops and injection signs.

    Returns:
        One :class:`ExportResult` per format, in order.

    Raises:
        ValueError: unknown format, bad size, or an option a format does not support.
        ImportError: a missing extra (the message names the pip command).
    """
    from jndtf.export.tflite import TFLiteRunner, convert_saved_model, export_saved_model

    from jndtf.evaluate.learned import LearnedJnd, load_learned
    from jndtf.io import atomic_write_bytes

    fmts: list[ExportFormat] = [
        get_format(f) for f in ([formats] if isinstance(formats, str) else formats)
    ]
    if not fmts:
        raise ValueError(f"no formats given; choose from {', '.join(FORMATS)}")
    if input_size is not None:
        if len(input_size) != 2 or min(int(s) for s in input_size) < 4:
            raise ValueError(f"input_size must be (H, W) with H, W >= 4 or None, got {input_size}")
        input_size = (int(input_size[0]), int(input_size[1]))
    if int8_io and not any(f.int8_io for f in fmts):
        raise ValueError("int8_io applies to tflite-int8 only; it is not among the formats")
    if any(f.backend == "tensorrt" for f in fmts):
        try:
            import tensorrt  # noqa: F401
        except ImportError:
            raise _tensorrt_unavailable() from None
        raise NotImplementedError("tensorrt engine build is not implemented yet; export 'onnx'")

    learned = source if isinstance(source, LearnedJnd) else load_learned(source, spec=spec)
    info = _source_info(learned, spec)
    from jndtf.models.inputs import model_input

    def make_input(im):
        return model_input(im, learned.priors, normalization=learned.normalization)

    def run_keras(x):
        return np.asarray(learned.model(x, training=False), np.float32)

    stem = name or info["name"] or "model"
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    size = input_size or DYNAMIC_CALIB_SIZE
    held = load_images(None, PARITY_IMAGES)
    p_images, p_inputs = (
        parity_images(make_input, held, size, num=num_parity, seed=seed + 1) if parity else ([], [])
    )
    calib = None
    results = []
    with tempfile.TemporaryDirectory(prefix="jndtf-export-") as tmp:
        sm = export_saved_model(
            learned.model, Path(tmp) / "saved_model", input_size, info["channels"]
        )
        for fmt in fmts:
            path = out_dir / f"{stem}-{fmt.name}{fmt.suffix}"
            io = None
            extra = {}
            if fmt.backend == "tflite":
                if fmt.quantization == "int8":
                    if calib is None:
                        imgs = load_images(calib_data, CALIBRATION_IMAGES)
                        calib = representative_inputs(
                            make_input, imgs, size, num=num_calibration, seed=seed
                        )
                    q = QuantizationConfig.for_int8(
                        calib,
                        io_dtype="int8" if int8_io else "float32",
                        num_samples=num_calibration,
                    )
                    extra["calibration"] = {
                        "images": "sample photos " + ", ".join(CALIBRATION_IMAGES)
                        if calib_data is None
                        else str(calib_data)
                        if isinstance(calib_data, (str, os.PathLike))
                        else f"{len(imgs)} arrays",
                        "crops": len(calib),
                        "crop_size": list(size),
                        "inputs": "priors on the whole image, then random crops (as training)",
                    }
                else:
                    q = {
                        "none": QuantizationConfig.none,
                        "float16": QuantizationConfig.for_float16,
                        "dynamic": QuantizationConfig.for_dynamic_range,
                    }[fmt.quantization]()
                atomic_write_bytes(path, convert_saved_model(sm, q))
                runner = TFLiteRunner(path)
                io = runner.io_details()
                quant = q.describe()
            else:  # onnx
                _export_onnx(sm, path)
                runner = _OnnxRunner(path)
                quant = {"mode": "none", "io_dtype": "float32", "opset": ONNX_OPSET}
            report = None
            if parity:
                report = parity_check(runner, run_keras, p_images, p_inputs, seed=seed)
                extra["parity"] = {
                    **report.to_dict(),
                    "images": "held-back sample photo "
                    + ", ".join(PARITY_IMAGES)
                    + " (random crops)",
                }
            record = build_manifest(
                model_path=path,
                fmt=fmt,
                source=info,
                input_size=input_size,
                quantization=quant,
                io=io,
                extra=extra,
            )
            mpath = write_manifest(path, record)
            results.append(ExportResult(fmt.name, path, mpath, path.stat().st_size, report, record))
    return results


__all__ = [
    "FORMATS",
    "ExportFormat",
    "ExportResult",
    "ParityReport",
    "QuantizationConfig",
    "export_formats",
    "export_model",
    "get_format",
    "read_manifest",
    "verify",
]
