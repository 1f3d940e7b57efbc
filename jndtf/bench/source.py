"""What a benchmark needs to know about the model, without loading TensorFlow.

A :class:`ModelSource` says which priors build the network input (to time them), how many
multiply-accumulates the network spends per pixel (the count its registered spec declares,
:meth:`jndtf.models.registry.ModelSpec.macs_per_pixel`), and which Keras model the exports come
from.
It is read from the registry and the manifest beside the ``.keras`` file (:func:`model_source`)
or from the manifests of pre-exported files (:func:`resolve_files`, each file checked against
its sha256 by :func:`jndtf.manifest.verify`).

Example:
    >>> src = model_source("acol")
    >>> src.priors, round(src.macs_per_pixel)
    (('pattern_masking', 'contrast_masking', 'saliency'), 87147)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from jndtf.refs import DEFAULT_JND_MODEL, ModelRef, resolve_model

#: The runtimes, in table order: Keras (TensorFlow) and the export formats that run on CPU.
RUNTIMES = ("keras", "tflite-fp32", "tflite-fp16", "tflite-int8", "onnx")
#: Also accepted by ``runtimes`` (int8 weights, float activations).
EXTRA_RUNTIMES = ("tflite-dynamic",)


@dataclass(frozen=True)
class ModelSource:
    """The model a benchmark times.

    Attributes:
        name: label of the rows (registry name or file stem).
        family: model family folder (``"acol"``) or None when unknown.
        preset: registered preset of the network (``"acol"``) or None.
        width: width multiplier of the preset (number or ``"default"``/``"tiny"``), or None.
        priors: prior maps stacked after RGB (names of :data:`jndtf.priors.PRIORS`).
        normalization: input normalization name (:mod:`jndtf.priors.inputs`).
        keras_ref: what :func:`jndtf.evaluate.learned.load_learned` loads (registered name,
            ``.keras`` path or ``SPEC:PATH``), or None when no Keras model is available.
        keras_path: the ``.keras`` file itself, or None.
        macs_per_pixel: multiply-accumulates per input pixel, or None when the family has no
            count for this preset.
        notes: one-line remarks for the report (a count that is missing, ...).
    """

    name: str
    family: str | None
    preset: str | None
    width: float | str | None
    priors: tuple[str, ...]
    normalization: str
    keras_ref: str | None
    keras_path: Path | None
    macs_per_pixel: float | None
    notes: tuple[str, ...] = ()

    @property
    def keras_label(self) -> str:
        """The ``.keras`` file's name (the Keras row's ``file``)."""
        return self.keras_path.name if self.keras_path is not None else ""


@dataclass(frozen=True)
class ModelFile:
    """A pre-exported model file, checked against its manifest.

    Attributes:
        path: the ``.tflite``/``.onnx`` file.
        runtime: its format name (``"tflite-int8"``, ``"onnx"``, ...).
        shape: ``"fixed"`` or ``"dynamic"``.
        size: the fixed ``(H, W)``, or None when dynamic.
        manifest: the manifest read by :func:`jndtf.manifest.verify`.
    """

    path: Path
    runtime: str
    shape: str
    size: tuple[int, int] | None
    manifest: dict

    def fits(self, size: tuple[int, int]) -> bool:
        """Whether the file can run frames of `size` = (H, W)."""
        return self.size is None or tuple(self.size) == tuple(size)


def macs_per_pixel_of(
    family: str | None, preset: str | None, width: float | str | None = None
) -> float | None:
    """Multiply-accumulates per input pixel as the registered preset's spec counts them
    (:meth:`jndtf.models.registry.ModelSpec.macs_per_pixel`, pure Python, no Keras), or None
    when the preset is not registered (or belongs to another family than `family`), or its
    family has no count for it.

    Example:
        >>> macs_per_pixel_of("acol", "acol", "default")
        87147.0
    """
    if not preset:
        return None
    from jndtf.models.registry import get_model_spec

    try:
        spec = get_model_spec(preset)
    except KeyError:
        return None
    if family and spec.family != family:
        return None
    return spec.macs_per_pixel(width)


def _mac_note(name: str, family, preset, mac) -> tuple[str, ...]:
    if mac is not None:
        return ()
    return (f"{name}: no MAC count for family {family!r} preset {preset!r}; GMAC columns empty",)


def model_source(ref: str | os.PathLike | ModelRef) -> ModelSource:
    """The :class:`ModelSource` of a learned model reference
    (:func:`jndtf.refs.resolve_model`, ``runtime="keras"``: a shipped name, a ``.keras`` path or
    ``SPEC:PATH``).

    Raises:
        jndtf.refs.UnknownModelError: an unknown or classical name (a KeyError and ValueError;
            the message lists the learned models).
        FileNotFoundError: a missing file, or a registered model with no shipped weights.
        ValueError: a ``.keras`` file whose input priors nothing describes.
    """
    from jndtf.evaluate.learned import _input_from_manifest
    from jndtf.models.registry import get_model_spec

    if not isinstance(ref, ModelRef):
        ref = resolve_model(ref, runtime="keras", learned=True)
    path = ref.model_path()
    manifest = ref.read_manifest()
    notes: list[str] = []
    name = ref.label
    if ref.preset is not None:
        spec = get_model_spec(ref.preset)
        family, priors, norm = spec.family, spec.priors, spec.normalization
        preset = manifest.get("preset") or spec.name
    else:
        found = _input_from_manifest(path, manifest)
        if found is None:
            raise ValueError(
                f"{path}: no manifest beside it says which priors build the input; "
                f"pass it as SPEC:PATH with a registered model (e.g. {DEFAULT_JND_MODEL}:PATH)"
            )
        priors, norm = found
        family = manifest.get("family")
        preset = manifest.get("preset") or manifest.get("model")
    keras_ref = ref.text
    if (manifest.get("inputs") or {}).get("prior_overrides"):
        notes.append(
            f"{name} was trained with a saliency net in place of f_va; the priors time "
            "covers the classical priors only"
        )
    width = manifest.get("width")
    mac = macs_per_pixel_of(family, preset, width)
    notes.extend(_mac_note(name, family, preset, mac))
    return ModelSource(
        name=name,
        family=family,
        preset=preset,
        width=width,
        priors=tuple(priors),
        normalization=str(norm),
        keras_ref=keras_ref,
        keras_path=path,
        macs_per_pixel=mac,
        notes=tuple(notes),
    )


def read_model_file(path: str | os.PathLike) -> ModelFile:
    """A pre-exported file, verified against its manifest (sha256, file name).

    Raises:
        FileNotFoundError: no such file.
        ValueError: no/malformed manifest, a changed file, or a format that cannot be timed
            on this machine (TensorRT engines).
    """
    from jndtf.manifest import verify

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    manifest = verify(path)
    fmt = manifest.get("format")
    if fmt not in RUNTIMES + EXTRA_RUNTIMES or fmt == "keras":
        raise ValueError(f"{path}: format {fmt!r} cannot be timed here (TFLite and ONNX can)")
    size = manifest["input_size"]
    if size.get("policy") == "fixed":
        return ModelFile(path, fmt, "fixed", (int(size["height"]), int(size["width"])), manifest)
    return ModelFile(path, fmt, "dynamic", None, manifest)


def _norm_name(inputs: dict) -> str:
    norm = inputs.get("normalization", "unit")
    return str(norm.get("name", "unit") if isinstance(norm, dict) else norm)


def resolve_files(
    paths: Sequence[str | os.PathLike], model: str | None = None
) -> tuple[ModelSource, list[ModelFile]]:
    """Pre-exported files of one model and its :class:`ModelSource`.

    Without `model`, the source comes from the manifests: priors, normalization, family and
    preset; the Keras row uses the ``.keras`` file the manifests name when it still exists
    with the same sha256.

    Raises:
        FileNotFoundError, ValueError: see :func:`read_model_file`; files of different models,
            or files whose input differs from `model`'s.
    """
    from jndtf.io import file_sha256
    from jndtf.models.registry import available_models

    files = [read_model_file(p) for p in paths]
    if not files:
        raise ValueError("no model files given")
    first = files[0].manifest
    for f in files[1:]:
        m = f.manifest
        if (m.get("model_name"), (m.get("source") or {}).get("sha256")) != (
            first.get("model_name"),
            (first.get("source") or {}).get("sha256"),
        ):
            raise ValueError(
                f"{files[0].path.name} and {f.path.name} come from different source models; "
                "benchmark one model at a time"
            )
    inputs = first.get("inputs") or {}
    priors, norm = tuple(inputs.get("priors") or ()), _norm_name(inputs)
    if model is not None:
        source = model_source(model)
        if (source.priors, source.normalization) != (priors, norm):
            raise ValueError(
                f"the model files take priors {list(priors)} ({norm}), but {model} takes "
                f"{list(source.priors)} ({source.normalization}); they are not the same model"
            )
        return source, files
    name = first.get("model_name") or files[0].path.stem
    family, preset, width = first.get("family"), first.get("preset"), first.get("width")
    notes: list[str] = []
    src = first.get("source") or {}
    keras_path = Path(src["keras"]) if src.get("keras") else None
    keras_ref = None
    if keras_path is not None and keras_path.is_file():
        if src.get("sha256") and file_sha256(keras_path) != src["sha256"]:
            notes.append(f"{keras_path} changed since the export; the Keras row is left out")
            keras_path = None
        else:
            keras_ref = (
                f"{preset}:{keras_path}" if preset in available_models() else str(keras_path)
            )
    else:
        keras_path = None
    mac = macs_per_pixel_of(family, preset, width)
    notes.extend(_mac_note(name, family, preset, mac))
    source = ModelSource(
        name=name,
        family=family,
        preset=preset,
        width=width,
        priors=priors,
        normalization=norm,
        keras_ref=keras_ref,
        keras_path=keras_path,
        macs_per_pixel=mac,
        notes=tuple(notes),
    )
    return source, files


__all__ = [
    "ModelFile",
    "ModelSource",
    "macs_per_pixel_of",
    "model_source",
    "read_model_file",
    "resolve_files",
]
