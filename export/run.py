"""The work of one :func:`jndtf.export.export_model` call: its images and per-format conversion.

:class:`ExportData` splits the calibration images from the held-back parity images;
:class:`ExportRun` holds what the formats share (the SavedModel, the representative inputs,
the ONNX file a TensorRT engine is built from) and converts one format into a staged file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from jndtf.export.onnx import ONNX_OPSET
from jndtf.export.parity import held_back_split
from jndtf.export.quantization import (
    CALIBRATION_IMAGES,
    PARITY_IMAGES,
    QuantizationConfig,
    load_images,
    representative_inputs,
)

#: Calibration/parity crop size for a dynamic-shape export.
DYNAMIC_CALIB_SIZE = (176, 176)


class ExportData:
    """Calibration and parity images of one export, split so parity sees held-back pictures."""

    def __init__(self, calib_data, parity: bool):
        if calib_data is None:
            self.calib_images = load_images(None, CALIBRATION_IMAGES)
            self.held = load_images(None, PARITY_IMAGES) if parity else []
            self.calib_label = "sample photos " + ", ".join(CALIBRATION_IMAGES)
            self.held_label = "held-back sample photo " + ", ".join(PARITY_IMAGES)
            return
        if isinstance(calib_data, (str, os.PathLike)):
            from jndtf.io import iter_images

            folder = Path(calib_data)
            images = load_images(folder)
            names = [p.name for p in sorted(iter_images(folder))] if folder.is_dir() else []
            label = str(folder)
        else:
            images = load_images(calib_data)
            names = [f"array {i}" for i in range(len(images))]
            label = f"{len(images)} arrays"
        if parity:
            self.calib_images, self.held, held_names = held_back_split(images, names)
            self.held_label = f"held back from {label}: {', '.join(held_names)}"
        else:
            self.calib_images, self.held, self.held_label = images, [], None
        self.calib_label = f"{label} ({len(self.calib_images)} images)"


def export_hooks(family: str | None, preset: str | None = None):
    """The export hooks of registered model `preset`, else of `family`
    (:class:`jndtf.models.registry.ExportHooks`; the defaults for an unknown or unregistered
    family).

    Raises:
        ValueError: the preset (or family) registers itself as not exportable.
    """
    from jndtf.models.registry import (
        ExportHooks,
        available_families,
        available_models,
        family_spec,
        get_model_spec,
    )

    if preset and preset in available_models():
        hooks = get_model_spec(preset).export  # a family's presets may differ (the MobileNet)
        if not hooks.exportable:
            raise ValueError(
                f"model {preset!r} is not exported (its ModelSpec says exportable=False)"
            )
        return hooks
    if not family or family not in available_families():
        return ExportHooks()
    hooks = family_spec(family).export
    if not hooks.exportable:
        raise ValueError(
            f"models of family {family!r} are not exported (its ModelSpec says exportable=False)"
        )
    return hooks


def atomic_copy(src: Path, dst: Path) -> None:
    from jndtf.io import atomic_write_bytes

    atomic_write_bytes(dst, src.read_bytes())


class ExportRun:
    """The state one :func:`export_model` call shares between its formats."""

    def __init__(
        self, learned, info, data, input_hw, num_calibration, int8_io, seed, make_input=None
    ):
        """`input_hw`: the fixed ``(h, w)`` (NHWC order; :func:`export_model` converts its
        public ``(width, height)``), or None for a dynamic export. `make_input`: image ->
        ``HxWxC`` network input (:func:`jndtf.export.inputs.export_inputs`, the family's own
        builder); None: RGB + the model's priors (:func:`jndtf.priors.inputs.model_input`)."""
        self.learned, self.info, self.data = learned, info, data
        self.input_hw = input_hw
        self.size_hw = input_hw or DYNAMIC_CALIB_SIZE
        self.num_calibration, self.int8_io, self.seed = num_calibration, int8_io, seed
        self.tmp: Path | None = None
        self.onnx: Path | None = None
        self._saved_model: Path | None = None
        self._calib: list[np.ndarray] | None = None
        if make_input is None:
            from jndtf.export.inputs import export_inputs

            make_input = export_inputs(learned, None).make_input
        self.make_input = make_input
        self.hooks = export_hooks(info.get("family"), info.get("preset"))

    def float_layers(self) -> tuple[str, ...]:
        """The family's ``float_layers`` this model has: a family lists them for its deepest
        preset (hmJND-Net's three STA blocks), a shallower one has fewer."""
        names = {layer.name for layer in self.learned.model.layers}
        return tuple(n for n in self.hooks.float_layers if n in names)

    def keras(self, x):
        return np.asarray(self.learned.model(x, training=False), np.float32)

    def saved_model(self) -> Path:
        from jndtf.export.tflite import export_saved_model

        if self._saved_model is None:
            self._saved_model = export_saved_model(
                self.learned.model, self.tmp / "saved_model", self.input_hw, self.info["channels"]
            )
        return self._saved_model

    def calib(self) -> list[np.ndarray]:
        """Representative inputs: priors on the whole calibration image, then random crops."""
        if self._calib is None:
            self._calib = representative_inputs(
                self.make_input,
                self.data.calib_images,
                self.size_hw,
                num=self.num_calibration,
                seed=self.seed,
            )
        return self._calib

    def calibration_record(self) -> dict:
        return {
            "images": self.data.calib_label,
            "crops": len(self.calib()),
            "crop_size": list(self.size_hw),  # (H, W): the manifest's shipped layout
            "inputs": self.info.get(
                "inputs_made", "priors on the whole image, then random crops (as training)"
            ),
        }

    def convert(self, fmt, path: Path, *, qat_steps, trt_opt_size, trt_max_size):
        """Writes `fmt` to `path`; returns (runner, quantization record, io, extra)."""
        from jndtf.export.onnx import OnnxRunner, export_onnx
        from jndtf.export.tflite import TFLiteRunner, convert_saved_model

        from jndtf.io import atomic_write_bytes

        extra: dict = {}
        io_dtype = "int8" if self.int8_io and fmt.int8_io else "float32"
        if fmt.backend == "tflite":
            if fmt.quantization == "int8-qat":
                from jndtf.export.qat import convert_qat

                data, quant = convert_qat(
                    self.learned,
                    self.calib(),
                    input_size=self.input_hw,  # convert_qat's private (H, W)
                    io_dtype=io_dtype,
                    steps=qat_steps,
                    seed=self.seed,
                    family=self.info.get("family"),
                )
                quant = {"mode": "int8-qat", **dict(quant)}
                extra["calibration"] = self.calibration_record()
            else:
                if fmt.quantization == "int8":
                    q = QuantizationConfig.for_int8(
                        self.calib(),
                        io_dtype=io_dtype,
                        num_samples=self.num_calibration,
                        float_layers=self.float_layers(),
                    )
                    extra["calibration"] = self.calibration_record()
                else:
                    q = {
                        "none": QuantizationConfig.none,
                        "float16": QuantizationConfig.for_float16,
                        "dynamic": QuantizationConfig.for_dynamic_range,
                    }[fmt.quantization]()
                data = convert_saved_model(self.saved_model(), q)
                quant = None
            atomic_write_bytes(path, data)
            runner = TFLiteRunner(path)
            return runner, quant or q.describe(), runner.io_details(), extra
        if fmt.backend == "onnx":
            written = export_onnx(self.saved_model(), self.tmp / "tf2onnx.onnx")
            atomic_write_bytes(path, written.read_bytes())
            runner = OnnxRunner(path)
            quant = {"mode": "none", "io_dtype": "float32", "opset": ONNX_OPSET}
            return runner, quant, runner.io_details(), extra
        # tensorrt: built from this run's ONNX file (resolve_formats puts onnx first)
        from jndtf.export.tensorrt import PRECISION_OF_MODE, build_engine
        from jndtf.export.tensorrt_runner import TensorRTRunner

        from jndtf.data.image_folder import file_sha256

        precision = PRECISION_OF_MODE[fmt.quantization]
        engine, desc = build_engine(
            self.onnx,
            precision=precision,
            calib_inputs=self.calib() if precision == "int8" else None,
            opt_size=trt_opt_size,
            max_size=trt_max_size,
        )
        atomic_write_bytes(path, engine)
        if precision == "int8":
            extra["calibration"] = self.calibration_record()
        quant = {
            "mode": fmt.quantization,
            "io_dtype": "float32",
            "engine": desc,
            "onnx": {"file": self.onnx.name, "sha256": file_sha256(self.onnx)},
        }
        return TensorRTRunner(path), quant, None, extra


__all__ = ["DYNAMIC_CALIB_SIZE", "ExportData", "ExportRun", "atomic_copy", "export_hooks"]
