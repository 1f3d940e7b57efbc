"""jndtf.export: TFLite / ONNX / TensorRT export of trained jndtf models, with manifest + parity.

One call, :func:`export_model`, exports a learned model to the formats of the table
(:mod:`jndtf.export.formats`): each file is staged in a temporary folder, checked against Keras
on held-back real images (:mod:`jndtf.export.parity`), and only then moved into place with its
manifest (:mod:`jndtf.export.manifest`), so a failed conversion leaves nothing half-written.
Learned prior nets the model was trained with travel beside the export
(:mod:`jndtf.export.prior_nets`). ``jndtf export`` (:mod:`jndtf.cli.export`) is the command.

Example:
    >>> results = export_model("acol", ["tflite-fp32", "tflite-int8"], out_dir="out",
    ...                        input_size=(640, 360))  # (width, height)
    >>> results[1].path, results[1].parity.map_psnr_db
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from jndtf.export.formats import FORMATS, ExportFormat, export_formats, get_format
from jndtf.export.manifest import build_manifest, read_manifest, verify, write_manifest
from jndtf.export.onnx import ONNX_OPSET
from jndtf.export.parity import ParityReport, parity_check, parity_images
from jndtf.export.quantization import QuantizationConfig
from jndtf.export.run import DYNAMIC_CALIB_SIZE


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


#: The export recipe's defaults, written once (`jndtf export` reads them): the fixed input
#: size (width, height; the training crop), representative crops for int8, held-back parity
#: crops, the QAT fine-tuning steps.
DEFAULT_INPUT_SIZE = (176, 176)
DEFAULT_NUM_CALIBRATION = 32
DEFAULT_NUM_PARITY = 2
DEFAULT_QAT_STEPS = 200


def _source_info(learned, spec_name: str | None) -> dict:
    from jndtf.manifest import read_source_manifest
    from jndtf.models.registry import get_model_spec
    from jndtf.priors.inputs import normalization_info

    src = learned.source
    m = read_source_manifest(Path(src)) if src else {}
    model = learned.model
    preset = m.get("preset") or spec_name
    try:  # the registry fills what a bare .keras has no manifest for
        registered = get_model_spec(preset) if preset else None
    except KeyError:  # a preset of an unregistered family: leave it unknown
        registered = None
    family = m.get("family") or (registered.family if registered else None)
    units = (m.get("outputs") or {}).get("jnd_units") or (
        registered.jnd_units if registered else "pixel values 0..255"
    )
    return {
        "name": m.get("model_name") or learned.name,
        "family": family,
        "preset": preset,
        "width": m.get("width"),
        "priors": learned.priors,
        "normalization": normalization_info(learned.priors, learned.normalization),
        "channels": int(model.inputs[0].shape[-1]),
        "output_channels": int(model.outputs[0].shape[-1]),
        "jnd_units": units,
        "output_kind": (m.get("outputs") or {}).get("kind")
        or (registered.output_kind if registered else "jnd_map"),
        "keras": str(src) if src else None,
    }


def _registered(preset: str | None):
    """The registry's spec of `preset`, or None (no preset, or an unregistered one)."""
    from jndtf.models.registry import get_model_spec

    try:
        return get_model_spec(preset) if preset else None
    except KeyError:
        return None


def _recorded_strength(source) -> dict | None:
    """The calibrated strength recorded for `source` (``jndtf calibrate``), carried into the
    export's manifest; None when nothing valid is recorded (none, or measured on other weights:
    an export never carries a stale value)."""
    if not isinstance(source, str | os.PathLike):
        return None
    from jndtf.apply.calibrate import CalibrationError, recorded_calibration

    try:
        return recorded_calibration(str(source))
    except (CalibrationError, ValueError, OSError):
        return None


def resolve_formats(formats: Sequence[str] | str) -> list[ExportFormat]:
    """The rows of `formats`, each once, in order; ``onnx`` is added before the first
    ``tensorrt*`` row when missing (an engine is built from the ONNX export).

    Raises:
        ValueError: no or unknown formats.
    """
    names = [formats] if isinstance(formats, str) else list(formats)
    fmts: list[ExportFormat] = []
    for n in names:
        f = get_format(n)
        if f not in fmts:
            fmts.append(f)
    if not fmts:
        raise ValueError(f"no formats given; choose from {', '.join(FORMATS)}")
    trt = [i for i, f in enumerate(fmts) if f.backend == "tensorrt"]
    if trt and not any(f.backend == "onnx" for f in fmts):
        fmts.insert(trt[0], FORMATS["onnx"])
    return fmts


def _check_available(fmts: Sequence[ExportFormat], parity: bool) -> None:
    """Fails before any work when a format's toolchain is missing (message names the fix)."""
    for f in fmts:
        if f.backend == "tensorrt":
            from jndtf.export.tensorrt import PRECISION_OF_MODE, cuda_runtime, require_tensorrt

            require_tensorrt(PRECISION_OF_MODE[f.quantization])
            if parity:  # the parity check runs the engine: cuda-python copies to the GPU
                cuda_runtime()
        elif f.quantization == "int8-qat":
            from jndtf.export.qat import require_qat

            require_qat()


def export_model(
    source,
    formats: Sequence[str] | str,
    *,
    out_dir: str | os.PathLike,
    input_size: tuple[int, int] | None = DEFAULT_INPUT_SIZE,
    calib_data: str | os.PathLike | Sequence[np.ndarray] | None = None,
    num_calibration: int = DEFAULT_NUM_CALIBRATION,
    int8_io: bool = False,
    parity: bool = True,
    num_parity: int = DEFAULT_NUM_PARITY,
    spec: str | None = None,
    name: str | None = None,
    seed: int = 0,
    qat_steps: int = DEFAULT_QAT_STEPS,
    trt_opt_size: tuple[int, int] | None = None,
    trt_max_size: tuple[int, int] | None = None,
    providers=None,
    classifiers=None,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[ExportResult]:
    """Exports a learned model to each of `formats`, each file with its manifest.

    The network input of calibration and parity is built by the family's own builder
    (:mod:`jndtf.export.inputs`: RGB + priors, RGB + modality maps, RGB + merged CAM, RGB).

    Args:
        source: registered name (shipped weights), ``.keras`` path, ``SPEC:PATH``, or a
            :class:`jndtf.evaluate.learned.LearnedJnd`.
        formats: names from :data:`jndtf.export.formats.FORMATS` (or one name); ``onnx`` is
            added when a ``tensorrt*`` engine is asked for without it.
        out_dir: output folder (created); files are ``NAME-FORMAT.tflite|.onnx|.engine``, each
            with ``NAME-FORMAT.json``; learned prior nets go beside them
            (``NAME-PRIOR.tflite``, :mod:`jndtf.export.prior_nets`).
        input_size: fixed ``(width, height)`` of the exported input (``--size`` WIDTHxHEIGHT),
            or None for dynamic H, W (calibration and parity crops are then 176x176).
        calib_data: calibration images: a folder, a list of uint8 RGB arrays, or None for the
            bundled sample photos. With `parity`, one image in eight (at least one) is held back
            from a folder/list for the parity check; the sample photos hold back
            ``motorcycle_left``.
        num_calibration: number of representative crops (priors on the whole image, then crops).
        int8_io: int8 input/output tensors for ``tflite-int8``/``tflite-int8-qat``.
        parity: measure parity against Keras on the held-back images (into the manifest).
        num_parity: number of held-back crops.
        spec: registered model describing the input when `source` is a bare ``.keras``.
        name: file stem (default: the model's name).
        seed: seed of calibration crops, QAT batches and injection signs.
        qat_steps: fine-tuning steps of ``tflite-int8-qat``.
        trt_opt_size, trt_max_size: ``(width, height)`` of a dynamic TensorRT profile
            (:func:`jndtf.export.tensorrt.profile_shapes`).
        providers: modality providers of a family with modality maps (hmJND-Net), what
            :func:`jndtf.priors.modalities.modality_stack` takes; None: the classical
            defaults. Recorded in ``inputs.providers``.
        classifiers: CAM classifiers of a family with a ``cam`` channel (DMV-JND-NET): a
            ``jndtf train classifiers`` run folder, ``.keras`` paths or a list of them
            (:class:`jndtf.export.inputs.CamSource`); None: the folder the model's manifest
            says it was trained through. Recorded in ``inputs.cam``.
        progress: ``progress(description, done, total)``, called once per format.

    Returns:
        One :class:`ExportResult` per format, in order.

    Raises:
        ValueError: unknown format, bad size, or an option a format does not support.
        ImportError: a missing extra or TensorRT (the message names the pip command); raised
            before any conversion starts.
    """
    from jndtf.export.inputs import (
        FamilyModel,
        export_inputs,
        load_family_model,
        uses_family_builder,
    )
    from jndtf.export.manifest import classifier_fields
    from jndtf.export.prior_nets import export_prior_nets
    from jndtf.export.run import ExportData, ExportRun, atomic_copy

    from jndtf.evaluate.learned import LearnedJnd, load_learned
    from jndtf.manifest import read_source_manifest
    from jndtf.refs import resolve_model

    fmts = resolve_formats(formats)
    input_hw = None  # private (h, w): the NHWC order of the model, crops and manifest
    if input_size is not None:
        if len(input_size) != 2 or min(int(s) for s in input_size) < 4:
            raise ValueError(
                f"input_size must be (width, height) with both >= 4 or None, got {input_size}"
            )
        input_hw = (int(input_size[1]), int(input_size[0]))
    if int8_io and not any(f.int8_io for f in fmts):
        raise ValueError(
            "int8_io applies to tflite-int8 and tflite-int8-qat only; neither is among the formats"
        )
    _check_available(fmts, parity)

    source_manifest: dict = {}
    if not isinstance(source, (LearnedJnd, FamilyModel)):
        ref = resolve_model(source, runtime="keras", learned=True)
        path = ref.model_path()  # FileNotFoundError: no shipped weights, or a missing file
        source_manifest = read_source_manifest(path) if path.suffix == ".keras" else {}
        spec = spec if spec is not None else ref.preset  # "NAME:path.keras" -> "NAME"
        family_spec = _registered(spec or source_manifest.get("preset"))
        if uses_family_builder(family_spec):  # not RGB + priors: the family's own input
            learned = load_family_model(path, family_spec, name=ref.label)
        else:
            learned = load_learned(ref, spec=spec)
    else:
        learned = source
        if learned.source:
            source_manifest = read_source_manifest(Path(learned.source))
    info = _source_info(learned, spec)
    model_spec = _registered(info["preset"])
    inputs = export_inputs(
        learned,
        model_spec,
        providers=providers,
        classifiers=classifiers,
        source_manifest=source_manifest,
    )
    info["input_record"] = inputs.record
    if uses_family_builder(model_spec):
        info["inputs_made"] = (
            f"{model_spec.name}'s own input (ModelSpec.make_input: "
            f"{', '.join(inputs.record['channel_names'])}) on the whole image, then random crops"
        )
    strength = _recorded_strength(source)
    stem = name or info["name"] or "model"
    out_dir = Path(out_dir)
    data = ExportData(calib_data, parity)
    run = ExportRun(
        learned, info, data, input_hw, num_calibration, int8_io, seed, inputs.make_input
    )
    p_images, p_inputs = (
        parity_images(run.make_input, data.held, run.size_hw, num=num_parity, seed=seed + 1)
        if parity
        else ([], [])
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    info["prior_overrides"] = export_prior_nets(learned, out_dir, stem, images=data.held[:1])
    results = []
    kind = info["output_kind"]
    parity_inputs = "priors on the whole held-back image, then crops (as calibration and training)"
    if "inputs_made" in info:
        parity_inputs = (
            info["inputs_made"].replace(
                "whole image, then random crops", "whole held-back image, then crops"
            )
            + " (as calibration)"
        )
    with tempfile.TemporaryDirectory(prefix="jndtf-export-") as tmp:
        run.tmp = Path(tmp)
        stage = run.tmp / "stage"
        stage.mkdir()
        for i, fmt in enumerate(fmts):
            if progress is not None:
                progress(f"export {fmt.name}", i, len(fmts))
            staged = stage / f"{stem}-{fmt.name}{fmt.suffix}"
            runner, quant, io, extra = run.convert(
                fmt,
                staged,
                qat_steps=qat_steps,
                trt_opt_size=trt_opt_size,
                trt_max_size=trt_max_size,
            )
            if fmt.backend == "onnx":
                run.onnx = staged
            report = None
            if parity:
                report = parity_check(
                    runner, run.keras, p_images, p_inputs, seed=seed, output_kind=kind
                )
                extra["parity"] = {
                    **report.to_dict(),
                    "images": data.held_label + " (random crops)",
                    "inputs": parity_inputs,
                }
            if kind == "classifier":  # also a jndtf.classifier/1 manifest (jndtf.edge.classifier)
                extra.update(classifier_fields(input_hw, learned.source))
            if strength is not None:  # `--strength auto` on the edge reads it from here
                extra["strength_calibration"] = strength
            record = build_manifest(
                model_path=staged,
                fmt=fmt,
                source=info,
                input_size=input_hw,  # build_manifest takes (H, W): the manifest's layout
                quantization=quant,
                io=io,
                extra=extra,
            )
            path = out_dir / staged.name  # only now, checked, into place: model, then manifest
            atomic_copy(staged, path)
            mpath = write_manifest(path, record)
            results.append(ExportResult(fmt.name, path, mpath, path.stat().st_size, report, record))
        if progress is not None:
            progress("export done", len(fmts), len(fmts))
    return results


__all__ = [
    "DYNAMIC_CALIB_SIZE",
    "FORMATS",
    "ONNX_OPSET",
    "ExportFormat",
    "ExportResult",
    "ParityReport",
    "QuantizationConfig",
    "export_formats",
    "export_model",
    "get_format",
    "read_manifest",
    "resolve_formats",
    "verify",
]
