"""Building the manifest beside each exported model (``NAME.tflite`` -> ``NAME.json``).

Reading, writing (atomic) and verifying it is the core's :mod:`jndtf.manifest`, the module the edge
runtime reads with; this module keeps what needs the export side (:func:`build_manifest`: the
format, the jndtf and library versions, the source ``.keras``) and re-exports the rest.

Contents: the source model's manifest essentials (family, preset, inputs with priors, their
settings (:func:`prior_settings`) and normalization, the learned prior nets that replace a
classical prior (``inputs.prior_overrides``, :mod:`jndtf.export.prior_nets`), outputs with JND
units), the export format and quantization with the I/O tensors' scales and zero points, the
input-size policy (fixed H, W or dynamic), the resize details, the sha256 of the exported file
and of the source ``.keras``, the jndtf version (``jndtf_version`` and ``versions``) and the
parity numbers with how their inputs were made. :func:`verify` refuses a model whose file or
manifest does not match (and, with ``prior_nets=True``, whose prior nets do not).

Example:
    >>> m = verify("out/jnd-tflite-int8.tflite")
    >>> m["input_size"]["policy"], m["inputs"]["priors"][0], m["jndtf_version"]
    ('fixed', 'pattern_masking', '0.1.0')
"""

from __future__ import annotations

from pathlib import Path

from jndtf.manifest import (  # the contract lives in the core; export writes through it
    PRIOR_CONSTANTS,
    REQUIRED,
    SCHEMA,
    manifest_path,
    prior_settings,
    read_manifest,
    verify,
    write_manifest,
)

#: How the networks' ResizeLike layers resize (resize_like -> tf.image.resize): the bilinear
#: TFLite RESIZE_BILINEAR op with half_pixel_centers=True, align_corners=False.
RESIZE = {
    "op": "RESIZE_BILINEAR",
    "source": "tf.image.resize(method='bilinear')",
    "half_pixel_centers": True,
    "align_corners": False,
    "note": "half_pixel_centers=True is unsupported by some delegates (tensorflow#45207)",
}


def build_manifest(
    *,
    model_path: Path,
    fmt,
    source: dict,
    input_size: tuple[int, int] | None,
    quantization: dict,
    io: dict | None,
    extra: dict | None = None,
) -> dict:
    """Assembles the manifest record of one exported file.

    Args:
        model_path: the exported file.
        fmt: its :class:`jndtf.export.formats.ExportFormat`.
        source: ``name``, ``family``, ``preset``, ``width``, ``priors``, ``normalization``
            (:func:`jndtf.priors.inputs.normalization_info` layout), ``channels``,
            ``output_channels``, ``jnd_units``, ``keras`` (path) of the source model, and
            optionally ``prior_overrides`` (:func:`jndtf.export.prior_nets.export_prior_nets`)
            and ``input_record`` (:func:`jndtf.export.inputs.export_inputs`: the channels by
            name, the modality providers, the CAM classifiers; merged into ``inputs``).
        input_size: fixed ``(H, W)`` or None (dynamic).
        quantization: :meth:`QuantizationConfig.describe`.
        io: input/output tensor details (name, dtype, shape, scale, zero point) or None.
        extra: merged in last (e.g. ``parity``, ``calibration``).
    """
    import jndtf
    from jndtf.io import file_sha256 as sha256_file
    from jndtf.train._common import versions

    keras_path = source.get("keras")
    record = {
        "schema": SCHEMA,
        "format": fmt.name,
        "backend": fmt.backend,
        "runtime": fmt.runtime,
        "file": model_path.name,
        "sha256": sha256_file(model_path),
        "size_bytes": model_path.stat().st_size,
        "family": source.get("family"),
        "preset": source.get("preset"),
        "model_name": source.get("name"),
        "width": source.get("width"),
        "jndtf_version": jndtf.__version__,
        "input_size": (
            {"policy": "fixed", "height": int(input_size[0]), "width": int(input_size[1])}
            if input_size is not None
            else {"policy": "dynamic", "height": None, "width": None}
        ),
        "inputs": {
            "channels": int(source["channels"]),
            "priors": list(source["priors"]),
            "normalization": source["normalization"],
            "layout": "NHWC, batch 1",
            "prior_settings": prior_settings(source["priors"]),
            "prior_overrides": dict(source.get("prior_overrides") or {}),
            "builder": "jndtf.priors.inputs.model_input(image, priors, normalization, overrides)",
            "priors_on": "the whole image (a frame at deployment; calibration and parity crops "
            "are cut from the input of the whole image, as in training)",
        },
        "outputs": {
            "channels": int(source["output_channels"]),
            "kind": source.get("output_kind", "jnd_map"),
            "jnd_units": source.get("jnd_units", "pixel values 0..255"),
        },
        "quantization": {**quantization, "io": io},
        "resize": RESIZE,
        "source": {
            "keras": str(keras_path) if keras_path else None,
            "sha256": sha256_file(keras_path) if keras_path else None,
        },
        "versions": versions(),
    }
    family_inputs = dict(source.get("input_record") or {})
    if "builder" in family_inputs:  # a family's own builder replaces the RGB + priors one
        record["inputs"]["builder"] = family_inputs.pop("builder")
    if "priors_on" in family_inputs:
        record["inputs"]["priors_on"] = family_inputs.pop("priors_on")
    record["inputs"].update(family_inputs)
    overrides = record["inputs"]["prior_overrides"]
    for prior, rec in record["inputs"]["prior_settings"]["priors"].items():
        if prior in overrides:  # the classical settings above do not apply to this channel
            rec["overridden_by"] = f"inputs.prior_overrides.{prior} ({overrides[prior]['model']})"
    record.update(extra or {})
    return record


#: Class-logit outputs: the edge classifier's ``output`` value (softmax applied on device).
CLASSIFIER_OUTPUT = "logits"


def classifier_fields(input_hw, source) -> dict:
    """The keys that make a classifier's export manifest also a ``jndtf.classifier/1`` manifest
    (:mod:`jndtf.edge.classifier`: ``task``, ``input``, ``output``, ``labels``), beside the JND
    export keys (``inputs``/``outputs`` are other keys, ``file`` and ``sha256`` are shared).

    The classifiers take RGB / 255 (their first layer normalizes), so the range is [0, 1];
    labels come from the source's training manifest (``class_names``) when it records them.

    Args:
        input_hw: the fixed ``(H, W)`` or None (dynamic: no ``input.size``).
        source: the source ``.keras`` path or None.
    """
    from jndtf.export.inputs import _class_names

    fields = {
        "task": "classification",
        "input": {"range": [0.0, 1.0], "resize": "auto"},
        "output": CLASSIFIER_OUTPUT,
    }
    if input_hw is not None:
        fields["input"]["size"] = [int(input_hw[0]), int(input_hw[1])]
    labels = _class_names(Path(source)) if source else None
    if labels:
        fields["labels"] = labels
    return fields


__all__ = [
    "CLASSIFIER_OUTPUT",
    "PRIOR_CONSTANTS",
    "REQUIRED",
    "RESIZE",
    "SCHEMA",
    "build_manifest",
    "classifier_fields",
    "manifest_path",
    "prior_settings",
    "read_manifest",
    "verify",
    "write_manifest",
]
