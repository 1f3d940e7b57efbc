"""The manifest beside each exported model (``NAME.tflite`` -> ``NAME.json``), and its check.

Contents: the source model's manifest essentials (family, preset, inputs with priors, their
settings (:func:`prior_settings`) and normalization, the learned prior nets that replace a
classical prior (``inputs.prior_overrides``, :mod:`jndtf.export.prior_nets`), outputs with JND
units), the export format and quantization with the I/O tensors' scales and zero points, the
input-size policy (fixed H, W or dynamic), the resize details, the sha256 of the exported file
and of the source ``.keras``, the jndtf version (``jndtf_version`` and ``versions``) and the
parity numbers with how their inputs were made. :func:`verify` refuses a model whose file or
manifest does not match (and, with ``prior_nets=True``, whose prior nets do not).

Example:
    >>> m = verify("out/acol-tflite-int8.tflite")
    >>> m["input_size"]["policy"], m["inputs"]["priors"][0], m["jndtf_version"]
    ('fixed', 'pattern_masking', '0.1.0')
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

#: Module constants of the prior formulas, recorded with the priors' keyword defaults.
PRIOR_CONSTANTS = {
    "pattern_masking": ("jndtf.priors.pattern", ("CT_GAIN", "CT_EXPONENT", "CT_OFFSET")),
    "contrast_masking": ("jndtf.priors.contrast", ("CM_GAIN", "CM_SATURATION")),
}


def prior_settings(priors) -> dict:
    """Everything a prior channel depends on besides the image, as manifest data.

    Per prior: the function that computes it, its one-line description (formula, units), its
    keyword defaults (e.g. saliency ``method``, ``centre_weight``), the constants of its formula
    and the divisor of the "unit" normalization; plus ``code_sha256``, the sha256 over the
    prior and input-builder source files (the same fingerprint that keys the training cache),
    so a runtime can tell that its prior code differs from the exporter's.

    Example:
        >>> prior_settings(["saliency"])["saliency"]["defaults"]["method"]
        'spectral_residual'
    """
    import importlib
    import inspect

    from jndtf.data.image_folder import _code_fingerprint
    from jndtf.models.inputs import PRIOR_FULL_SCALE
    from jndtf.priors import PRIORS

    out = {}
    for name in priors:
        fn, doc = PRIORS[name]
        defaults = {
            k: p.default
            for k, p in inspect.signature(fn).parameters.items()
            if p.default is not inspect.Parameter.empty
        }
        rec = {
            "function": f"{fn.__module__}.{fn.__name__}",
            "description": doc,
            "defaults": defaults,
            "divisor": PRIOR_FULL_SCALE.get(name),
        }
        if name in PRIOR_CONSTANTS:
            module, names = PRIOR_CONSTANTS[name]
            mod = importlib.import_module(module)
            rec["constants"] = {c: float(getattr(mod, c)) for c in names}
        out[name] = rec
    return {"priors": out, "code_sha256": _code_fingerprint()}


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


def verify(model_path: str | os.PathLike, *, prior_nets: bool = False) -> dict:
    """Checks an exported model against its manifest; returns the manifest.

    Args:
        model_path: the exported file.
        prior_nets: also check the learned prior nets of ``inputs.prior_overrides``: each file
            beside the manifest, its sha256 as recorded (the edge runtime checks them itself
            when it loads them).

    Raises:
        ValueError: no/malformed manifest, a manifest for another file, or a sha256 mismatch
            (the file was changed or replaced after export).
        FileNotFoundError: ``prior_nets=True`` and a prior net is missing.
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
    if prior_nets:
        _verify_prior_nets(model_path, data)
    return data


def _verify_prior_nets(model_path: Path, data: dict) -> None:
    from jndtf.data.image_folder import file_sha256 as sha256_file

    records = (data.get("inputs") or {}).get("prior_overrides") or {}
    if not isinstance(records, dict):
        raise ValueError(f"{model_path}: inputs.prior_overrides must map prior names to records")
    for name, rec in records.items():
        if not isinstance(rec, dict) or not rec.get("model") or not rec.get("model_sha256"):
            raise ValueError(
                f"{model_path}: prior override {name!r} lacks its model file or sha256; re-export"
            )
        net = model_path.parent / Path(str(rec["model"])).name
        if not net.is_file():
            raise FileNotFoundError(
                f"{model_path} needs its {name} net {net.name} beside it, which is missing: copy "
                "it from the export folder or re-export"
            )
        digest = sha256_file(net)
        if digest != rec["model_sha256"]:
            raise ValueError(
                f"{net}: sha256 {digest[:16]}... does not match the {str(rec['model_sha256'])[:16]}"
                f"... that {model_path.name}'s manifest records - refusing to load"
            )


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
            ``output_channels``, ``jnd_units``, ``keras`` (path) of the source model, and
            optionally ``prior_overrides`` (:func:`jndtf.export.prior_nets.export_prior_nets`).
        input_size: fixed ``(H, W)`` or None (dynamic).
        quantization: :meth:`QuantizationConfig.describe`.
        io: input/output tensor details (name, dtype, shape, scale, zero point) or None.
        extra: merged in last (e.g. ``parity``, ``calibration``).
    """
    import jndtf
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
            "builder": "jndtf.models.inputs.model_input(image, priors, normalization, overrides)",
            "priors_on": "the whole image (a frame at deployment; calibration and parity crops "
            "are cut from the input of the whole image, as in training)",
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
    overrides = record["inputs"]["prior_overrides"]
    for prior, rec in record["inputs"]["prior_settings"]["priors"].items():
        if prior in overrides:  # the classical settings above do not apply to this channel
            rec["overridden_by"] = f"inputs.prior_overrides.{prior} ({overrides[prior]['model']})"
    record.update(extra or {})
    return record


__all__ = [
    "SCHEMA",
    "build_manifest",
    "manifest_path",
    "prior_settings",
    "read_manifest",
    "verify",
    "write_manifest",
]
