"""The deployment contract (core): the ``NAME.json`` manifest beside an exported model.

One module reads, writes and verifies it, and the export side (:mod:`jndtf.export`) writes
through the same code the edge runtime (:mod:`jndtf.edge`) reads with; it imports numpy and the
standard library only (plus :mod:`jndtf.priors` for the prior settings).

Contents of a manifest (schema :data:`SCHEMA`): the exported file's name and sha256, the source
model's family and preset, the network input (``inputs``: channels, the priors stacked after RGB,
their normalization, their settings (:func:`prior_settings`) and the learned prior nets that
replace a classical prior (``inputs.prior_overrides``, each beside the manifest with its own
sha256)), the outputs (channels, JND units), the input-size policy (fixed H, W or dynamic), the
quantization with the I/O tensors' scales and zero points (``quantization.io``), the jndtf
version and the parity numbers, and optionally the model's calibrated strength
(``strength_calibration``: :func:`check_calibration`, :func:`write_calibration`; the key
``calibration`` is the int8 representative data's record). :func:`verify`
refuses a model whose file or manifest does not match; :func:`read_deploy_spec` gives the
runtime everything it needs (a :class:`DeploySpec`) so the user never repeats it.

Schema versions: a manifest whose ``schema`` is ``jndtf.export/N`` with ``N`` newer than this
jndtf knows fails with a message saying to upgrade jndtf or re-export the model; every manifest
written so far (``jndtf.export/1``, with or without ``prior_settings``/``prior_overrides``/
``strength_calibration``) loads.

Example:
    >>> spec = read_deploy_spec("jnd-tflite-int8.tflite")
    >>> spec.priors, spec.input_size, spec.channels
    (('pattern_masking', 'contrast_masking', 'saliency'), (360, 640), 6)
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from jndtf.io import atomic_write_json, file_sha256

#: Schema of the manifests this jndtf writes.
SCHEMA = "jndtf.export/1"

#: Schema versions this jndtf reads (``jndtf.export/N``).
SCHEMA_VERSIONS = (1,)

#: Keys every exported-model manifest has.
REQUIRED = ("schema", "format", "file", "sha256", "inputs", "outputs", "input_size")

#: Key of the calibrated strength (:mod:`jndtf.apply.calibrate`); not ``calibration``, which
#: records the int8 quantization's representative data.
CALIBRATION_KEY = "strength_calibration"

#: How to make a manifest this jndtf reads.
REEXPORT = "re-export the model with this jndtf (jndtf export MODEL --format ...)"

#: Module constants of the prior formulas, recorded with the priors' keyword defaults.
PRIOR_CONSTANTS = {
    "pattern_masking": ("jndtf.priors.pattern", ("CT_GAIN", "CT_EXPONENT", "CT_OFFSET")),
    "contrast_masking": ("jndtf.priors.contrast", ("CM_GAIN", "CM_SATURATION")),
}


# ---------------------------------------------------------------------------- prior settings


def prior_settings(priors) -> dict:
    """Everything a prior channel depends on besides the image, as manifest data.

    Per prior: the function that computes it, its one-line description (formula, units), its
    keyword defaults (e.g. saliency ``method``, ``centre_weight``), the constants of its formula
    and the divisor of the "unit" normalization; plus ``code_sha256``, the sha256 over the
    source files of :mod:`jndtf.priors` (:func:`jndtf.priors.inputs.code_fingerprint`), so a
    runtime can tell that its prior code differs from the exporter's.

    Example:
        >>> prior_settings(["saliency"])["priors"]["saliency"]["defaults"]["method"]
        'spectral_residual'
    """
    import importlib
    import inspect

    from jndtf.priors import PRIORS
    from jndtf.priors.inputs import PRIOR_FULL_SCALE, code_fingerprint

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
    return {"priors": out, "code_sha256": code_fingerprint()}


def check_prior_settings(path: Path, manifest: dict, priors: tuple[str, ...]) -> None:
    """Refuses a model whose prior maps were computed with other defaults, constants or
    normalization divisors than this jndtf's (the network would see other inputs); a manifest
    that records no settings (older exports) passes.

    Raises:
        ValueError: they differ (the message names each difference and what to do).
    """
    recorded = (((manifest.get("inputs") or {}).get("prior_settings") or {}).get("priors")) or {}
    if not recorded:
        return  # an older manifest: nothing recorded to compare
    local = json.loads(json.dumps(prior_settings(priors)["priors"]))
    diffs = [
        f"{name}.{key}: exported with {rec[key]!r}, here {local.get(name, {}).get(key)!r}"
        for name, rec in recorded.items()
        if isinstance(rec, dict)
        for key in ("defaults", "constants", "divisor")
        if key in rec and rec[key] != local.get(name, {}).get(key)
    ]
    if diffs:
        raise ValueError(
            f"{path}: its prior maps were computed differently from this jndtf's "
            f"({'; '.join(diffs)}); run the jndtf that exported it "
            f"({manifest.get('jndtf_version', 'version not recorded')}) or re-export"
        )


# ---------------------------------------------------------------------------- read / write


def manifest_path(model_path: str | os.PathLike) -> Path:
    """``NAME.tflite`` -> ``NAME.json``."""
    return Path(model_path).with_suffix(".json")


def write_manifest(model_path: str | os.PathLike, record: dict) -> Path:
    """Writes `record` atomically beside `model_path`; returns the manifest's path.

    Raises:
        ValueError: `record` lacks a key every manifest has, or names another schema.
    """
    missing = [k for k in REQUIRED if k not in record]
    if missing:
        raise ValueError(f"manifest record for {model_path} lacks {missing}")
    if record["schema"] != SCHEMA:
        raise ValueError(f"manifest record schema {record['schema']!r}, this jndtf writes {SCHEMA}")
    if record.get(CALIBRATION_KEY) is not None:
        check_calibration(record[CALIBRATION_KEY], str(model_path))
    path = manifest_path(model_path)
    atomic_write_json(path, record)
    return path


def _check_schema(path: Path, schema) -> None:
    match = re.fullmatch(r"jndtf\.export/(\d+)", str(schema))
    if match is None:
        raise ValueError(
            f"{path}: manifest schema {schema!r} is not a jndtf export manifest "
            f"(expected {SCHEMA!r}); {REEXPORT}"
        )
    version = int(match.group(1))
    if version not in SCHEMA_VERSIONS:
        newer = version > max(SCHEMA_VERSIONS)
        known = ", ".join(f"jndtf.export/{v}" for v in SCHEMA_VERSIONS)
        raise ValueError(
            f"{path}: manifest schema {schema!r} is "
            + ("newer than" if newer else "not one of")
            + f" the schemas this jndtf reads ({known}); "
            + ("upgrade jndtf (pip install -U jndtf) or " if newer else "")
            + REEXPORT
        )


def read_manifest(model_path: str | os.PathLike) -> dict:
    """The manifest of an exported model.

    Raises:
        ValueError: no manifest beside it, not a JSON object, a required key missing, or a schema
            this jndtf does not read (the message says how to re-export).
    """
    path = manifest_path(model_path)
    if not path.is_file():
        raise ValueError(f"{model_path}: no manifest {path.name} beside it; {REEXPORT}")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: not a readable JSON manifest ({err}); {REEXPORT}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the manifest must be a JSON object; {REEXPORT}")
    if "schema" in data:
        _check_schema(path, data["schema"])
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise ValueError(f"{path}: manifest lacks {missing}; {REEXPORT}")
    return data


def read_source_manifest(model_path: str | os.PathLike) -> dict:
    """The manifest of a trained (``.keras``) model: ``NAME.json`` beside ``NAME.keras`` (shipped
    weights, export), else the ``manifest.json`` of a ``jndtf train`` run folder; {} when there
    is neither (a bare ``.keras``).

    Raises:
        ValueError: a manifest that is not a readable JSON object.
    """
    path = Path(model_path)
    manifest = path.with_suffix(".json")
    if not manifest.is_file():
        manifest = path.parent / "manifest.json"
    if not manifest.is_file():
        return {}
    try:
        data = json.loads(manifest.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{manifest}: not a readable JSON manifest ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{manifest}: the manifest must be a JSON object")
    return data


def verify(model_path: str | os.PathLike, *, prior_nets: bool = False) -> dict:
    """Checks an exported model against its manifest; returns the manifest.

    Args:
        model_path: the exported file.
        prior_nets: also check the learned prior nets of ``inputs.prior_overrides``: each file
            beside the manifest, its sha256 as recorded.

    Raises:
        ValueError: no/malformed manifest, a manifest for another file, or a sha256 mismatch
            (the file was changed or replaced after export).
        FileNotFoundError: ``prior_nets=True`` and a prior net is missing.
    """
    model_path = Path(model_path)
    if not model_path.is_file():
        raise ValueError(f"{model_path}: no such model file")
    data = read_manifest(model_path)
    if data["file"] != model_path.name:
        raise ValueError(
            f"{model_path}: its manifest describes {data['file']!r}, not {model_path.name!r}"
        )
    digest = file_sha256(model_path)
    if digest != data["sha256"]:
        raise ValueError(
            f"{model_path}: sha256 {digest[:16]}... does not match the manifest's "
            f"{str(data['sha256'])[:16]}...; the file was modified after export - refusing to load"
        )
    if data.get(CALIBRATION_KEY) is not None:
        check_calibration(data[CALIBRATION_KEY], str(manifest_path(model_path)))
    if prior_nets:
        _verify_prior_nets(model_path, data)
    return data


# ---------------------------------------------------------------------------- calibration


def check_calibration(record, where: str) -> dict:
    """Checks a calibration record (:meth:`jndtf.apply.calibrate.Calibration.to_record`): an
    object with the ``proxy`` (text), ``target`` (number) and ``s`` (a finite number > 0, the
    calibrated strength); other keys are kept as they are. Returns it.

    Raises:
        ValueError: anything else (names `where` and the key).
    """
    import math

    if not isinstance(record, dict):
        raise ValueError(f"{where}: calibration must be an object, got {type(record).__name__}")
    for key, kind, what in (
        ("proxy", str, "text"),
        ("target", (int, float), "number"),
        ("s", (int, float), "number"),
    ):
        value = record.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ValueError(f"{where}: calibration.{key} is missing or not a {what}: {value!r}")
    if not (math.isfinite(record["s"]) and record["s"] > 0):
        raise ValueError(f"{where}: calibration.s must be a finite number > 0, got {record['s']!r}")
    return record


def write_calibration(model_path: str | os.PathLike, record: dict) -> Path:
    """Adds (or replaces) the calibrated strength (``strength_calibration``) of an exported
    model's manifest, atomically; the model is verified first (a manifest that does not match
    its file is not touched).

    Raises:
        ValueError: the model does not verify, or the record does not check.
    """
    data = verify(model_path)
    data[CALIBRATION_KEY] = check_calibration(record, str(model_path))
    return write_manifest(model_path, data)


def _verify_prior_nets(model_path: Path, data: dict) -> None:
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
        digest = file_sha256(net)
        if digest != rec["model_sha256"]:
            raise ValueError(
                f"{net}: sha256 {digest[:16]}... does not match the {str(rec['model_sha256'])[:16]}"
                f"... that {model_path.name}'s manifest records - refusing to load"
            )


# ---------------------------------------------------------------------------- deploy-side view


@dataclass(frozen=True)
class PriorOverride:
    """A learned prior net named by the manifest (``inputs.prior_overrides.NAME``).

    Attributes:
        name: the prior it replaces (``"saliency"``).
        path: the model file, beside the manifest (file name of the record's ``model``).
        sha256: its sha256 as recorded at export time (checked by :func:`verify` before
            anything loads).
        max_side: working long side (:class:`jndtf.priors.learned.SaliencyPrior`).
        rescale: min-max rescaling of its map.
    """

    name: str
    path: Path
    sha256: str | None
    max_side: int | None
    rescale: bool


@dataclass(frozen=True)
class DeploySpec:
    """An exported JND model as the runtime uses it (read by :func:`read_deploy_spec`).

    Attributes:
        path: the ``.tflite`` file.
        manifest: the whole manifest (verified).
        priors: prior names stacked after RGB, in order.
        normalization: input normalization name (``"unit"``).
        channels: network input channels (3 + len(priors)).
        output_channels: JND map channels (1 or 3).
        input_size: fixed ``(H, W)`` or None (dynamic H, W).
        io: the manifest's ``quantization.io`` record (tensor dtypes, scales, zero points).
        prior_overrides: learned prior nets, in manifest order.
        output_kind: what the network outputs (the registry's ``output_kind``: ``jnd_map``,
            ``saliency``, ...; manifests written before it was recorded are JND maps).
        calibration: the calibrated strength's record, the manifest's
            ``strength_calibration`` (``s``: what ``--strength auto`` means; not the int8
            ``calibration`` record), None when the model was not calibrated (older manifests).
    """

    path: Path
    manifest: dict
    priors: tuple[str, ...]
    normalization: str
    channels: int
    output_channels: int
    input_size: tuple[int, int] | None
    io: dict | None
    prior_overrides: tuple[PriorOverride, ...] = field(default=())
    output_kind: str = "jnd_map"
    calibration: dict | None = None


#: The name :mod:`jndtf.edge.manifest` used (it clashed with the registry's ``ModelSpec``).
ModelSpec = DeploySpec


def _bad(path: Path, what: str) -> ValueError:
    return ValueError(f"{path}: {what}; re-export the model with jndtf.export.export_model")


def input_size_of(path: str | os.PathLike, record) -> tuple[int, int] | None:
    """``(H, W)`` of a manifest's ``input_size`` record, None when dynamic (every edge reader's
    parse: :func:`read_deploy_spec`, :func:`jndtf.edge.manifest.read_modality_spec`).

    Raises:
        ValueError: a policy other than fixed/dynamic, or a fixed size without height/width
            (names `path` and says to re-export).
    """
    path = Path(path)
    if not isinstance(record, dict) or record.get("policy") not in ("fixed", "dynamic"):
        raise _bad(path, f"the manifest's input_size {record!r} is not fixed or dynamic")
    if record["policy"] == "dynamic":
        return None
    try:
        h, w = int(record["height"]), int(record["width"])
    except (KeyError, TypeError, ValueError):
        raise _bad(path, f"the fixed input_size {record!r} lacks height/width") from None
    return h, w


def _overrides(path: Path, inputs: dict, priors: tuple[str, ...]) -> tuple[PriorOverride, ...]:
    records = inputs.get("prior_overrides") or {}
    if not isinstance(records, dict):
        raise _bad(path, "inputs.prior_overrides must map prior names to records")
    out = []
    for name, rec in records.items():
        if name != "saliency" or not isinstance(rec, dict) or not rec.get("model"):
            raise _bad(path, f"unsupported prior override {name!r} (only a saliency net)")
        if name not in priors:
            raise _bad(path, f"prior override {name!r} for a prior the model does not take")
        # beside the manifest, by file name: where jndtf.export writes it and verify() looks
        model = path.parent / Path(str(rec["model"])).name
        if model.suffix.lower() != ".tflite":
            raise ValueError(
                f"{path}: its {name} net {model.name} is not a .tflite file; the edge runtime "
                "runs no Keras: export the net to TFLite and record it in the manifest"
            )
        max_side = rec.get("max_side")
        out.append(
            PriorOverride(
                name=name,
                path=model.resolve(),
                sha256=rec.get("model_sha256") or rec.get("sha256"),
                max_side=None if max_side is None else int(max_side),
                rescale=bool(rec.get("rescale", False)),
            )
        )
    return tuple(out)


def read_deploy_spec(model_path: str | os.PathLike) -> DeploySpec:
    """Verifies an exported ``.tflite`` against its manifest and returns what the runtime needs.

    Raises:
        ValueError: no/malformed manifest, sha256 mismatch (the file changed after export), a
            format the runtime does not run (ONNX), inputs that do not add up, or prior maps
            whose recorded settings (``inputs.prior_settings``) differ from this jndtf's.
        FileNotFoundError: a learned prior net named by the manifest is missing.
    """
    from jndtf.priors.inputs import normalization_info

    path = Path(model_path)
    if path.suffix.lower() != ".tflite":
        raise ValueError(
            f"{path}: the edge runtime runs .tflite models (export with "
            "jndtf.export.export_model(..., ['tflite-fp32' | 'tflite-int8']))"
        )
    # ValueError: missing manifest, other file, sha256 mismatch of the model or of a prior net;
    # FileNotFoundError: a prior net is missing. One check, shared with the export side.
    manifest = verify(path, prior_nets=True)
    if manifest.get("backend", "tflite") != "tflite":
        raise _bad(path, f"the manifest is for backend {manifest.get('backend')!r}, not tflite")
    inputs, outputs = manifest["inputs"], manifest["outputs"]
    if not isinstance(inputs, dict) or not isinstance(outputs, dict):
        raise _bad(path, "the manifest's inputs/outputs must be objects")
    priors = inputs.get("priors", [])
    if isinstance(priors, str) or not isinstance(priors, list):
        raise _bad(path, f"inputs.priors must be a list of prior names, got {priors!r}")
    priors = tuple(str(p) for p in priors)
    norm = inputs.get("normalization", "unit")
    norm = str(norm.get("name", "unit")) if isinstance(norm, dict) else str(norm)
    try:
        normalization_info(priors, norm)  # unknown prior or normalization
    except ValueError as err:
        raise _bad(path, str(err)) from None
    check_prior_settings(path, manifest, priors)
    channels = int(inputs.get("channels", 3 + len(priors)))
    if channels != 3 + len(priors):
        raise _bad(
            path, f"inputs.channels is {channels} but RGB + {list(priors)} make {3 + len(priors)}"
        )
    out_channels = int(outputs.get("channels", 0))
    if out_channels not in (1, 3):
        raise _bad(path, f"outputs.channels is {out_channels}; a JND map has 1 or 3")
    quant = manifest.get("quantization") or {}
    return DeploySpec(
        path=path,
        manifest=manifest,
        priors=priors,
        normalization=norm,
        channels=channels,
        output_channels=out_channels,
        input_size=input_size_of(path, manifest["input_size"]),
        io=quant.get("io") if isinstance(quant, dict) else None,
        prior_overrides=_overrides(path, inputs, priors),
        output_kind=str(outputs.get("kind", "jnd_map")),
        calibration=manifest.get(CALIBRATION_KEY),
    )


#: The name :mod:`jndtf.edge.manifest` used.
read_model_spec = read_deploy_spec


def check_io(spec: DeploySpec, model) -> None:
    """Checks a loaded :class:`jndtf.edge.interpreter.LiteRTModel` against its manifest: the
    channels, the shape policy and the integer I/O scales/zero points.

    Raises:
        ValueError: they disagree (the message names both values).
    """
    if model.channels != spec.channels or model.output_channels != spec.output_channels:
        raise _bad(
            spec.path,
            f"the model maps {model.channels} -> {model.output_channels} channels, the manifest "
            f"says {spec.channels} -> {spec.output_channels}",
        )
    if model.fixed_size != spec.input_size:
        raise _bad(
            spec.path,
            f"the model's input size is {model.fixed_size or 'dynamic'}, the manifest says "
            f"{spec.input_size or 'dynamic'}",
        )
    for side, got in (("input", model.input_quant), ("output", model.output_quant)):
        rec = (spec.io or {}).get(side) or {}
        want_dtype = rec.get("dtype")
        if want_dtype and (got is None) != (want_dtype == "float32"):
            raise _bad(
                spec.path, f"the {side} tensor's dtype differs from the manifest's {want_dtype}"
            )
        if got is not None and rec.get("scale") is not None:
            scale, zero = float(rec["scale"]), int(rec.get("zero_point") or 0)
            if abs(scale - got[0]) > 1e-6 * max(abs(scale), 1e-12) or zero != got[1]:
                raise _bad(
                    spec.path,
                    f"the {side} quantization (scale {got[0]:.6g}, zero point {got[1]}) differs "
                    f"from the manifest's (scale {scale:.6g}, zero point {zero})",
                )


__all__ = [
    "CALIBRATION_KEY",
    "PRIOR_CONSTANTS",
    "REQUIRED",
    "SCHEMA",
    "SCHEMA_VERSIONS",
    "DeploySpec",
    "ModelSpec",
    "PriorOverride",
    "check_calibration",
    "check_io",
    "check_prior_settings",
    "input_size_of",
    "manifest_path",
    "prior_settings",
    "read_deploy_spec",
    "read_manifest",
    "read_model_spec",
    "read_source_manifest",
    "verify",
    "write_calibration",
    "write_manifest",
]
