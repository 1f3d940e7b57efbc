"""The manifest beside each exported model (``NAME.tflite`` -> ``NAME.json``), and its check.

Contents: the source model's manifest essentials (family, preset, inputs with priors and their
normalization, outputs with JND units), the export format and quantization with the I/O tensors'
scales and zero points, the input-size policy (fixed H, W or dynamic), the resize details, the
sha256 of the exported file and of the source ``.keras``, versions and the parity numbers.
:func:`verify` refuses a model whose file or manifest does not match.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

SCHEMA = "jndtf.export/1"

#: How Up1/Up2 resize (jndtf.models.acol.layers.resize_like -> tf.image.resize): the bilinear
#: TFLite RESIZE_BILINEAR op with half_pixel_centers=True, align_corners=False.
RESIZE = {
    "op": "RESIZE_BILINEAR",
    "source": "tf.image.resize(method='bilinear')",
    "half_pixel_centers": True,
    "align_corners": False,
    "note": "half_pixel_centers=True is unsupported by some delegates (tensorflow#45207)",
}

REQUIRED = ("schema", "format", "file", "sha256", "inputs", "outputs", "input_size")


def manifest_path(model_path: str | os.PathLike) -> Path:
    """``NAME.tflite`` -> ``NAME.json``."""
    return Path(model_path).with_suffix(".json")


def write_manifest(model_path: str | os.PathLike, record: dict) -> Path:
    """Writes `record` atomically beside `model_path`; returns the manifest's path."""
    from jndtf.train._common import atomic_write_json

    path = manifest_path(model_path)
    atomic_write_json(path, record)
    return path


def read_manifest(model_path: str | os.PathLike) -> dict:
    """The manifest of an exported model (ValueError when missing or malformed)."""
    path = manifest_path(model_path)
    if not path.is_file():
        raise ValueError(f"{model_path}: no manifest {path.name} beside it; re-export the model")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: not a readable JSON manifest ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the manifest must be a JSON object")
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise ValueError(f"{path}: manifest lacks {missing}; re-export the model")
    if data["schema"] != SCHEMA:
        raise ValueError(f"{path}: manifest schema {data['schema']!r}, expected {SCHEMA!r}")
    return data


def verify(model_path: str | os.PathLike) -> dict:
    """Checks an exported model against its manifest; returns the manifest.

    Raises:
        ValueError: no/malformed manifest, a manifest for another file, or a sha256 mismatch
            (the file was changed or replaced after export).
    """
    # Not jndtf.train._common (same function): that package needs Keras, and the TF-free edge
    # runtime calls verify().
    from jndtf.data.image_folder import file_sha256 as sha256_file

    model_path = Path(model_path)
    if not model_path.is_file():
        raise ValueError(f"{model_path}: no such model file")
    data = read_manifest(model_path)
    if data["file"] != model_path.name:
        raise ValueError(
            f"{model_path}: its manifest describes {data['file']!r}, not {model_path.name!r}"
        )
    digest = sha256_file(model_path)
    if digest != data["sha256"]:
        raise ValueError(
            f"{model_path}: sha256 {digest[:16]}... does not match the manifest's "
            f"{str(data['sha256'])[:16]}...; the file was modified after export - refusing to load"
        )
    return data


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
            (:func:`jndtf.models.inputs.normalization_info` layout), ``channels``,
            ``output_channels``, ``jnd_units``, ``keras`` (path) of the source model.
        input_size: fixed ``(H, W)`` or None (dynamic).
        quantization: :meth:`QuantizationConfig.describe`.
        io: input/output tensor details (name, dtype, shape, scale, zero point) or None.
        extra: merged in last (e.g. ``parity``, ``calibration``).
    """
    from jndtf.train._common import sha256_file, versions

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
            "builder": "jndtf.models.inputs.model_input(image, priors, normalization)",
            "priors_on": "the whole image",
        },
        "outputs": {
            "channels": int(source["output_channels"]),
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
    record.update(extra or {})
    return record


__all__ = ["SCHEMA", "build_manifest", "manifest_path", "read_manifest", "verify", "write_manifest"]
