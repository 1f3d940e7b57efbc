"""What the edge runtime reads from an exported model's manifest, and the checks before loading.

The manifest (``NAME.json`` beside ``NAME.tflite``, written by :mod:`jndtf.export.manifest`)
is checked by the same :func:`jndtf.export.manifest.verify` the export side uses (file name and
sha256 of the model; it imports nothing heavy), then the runtime takes from it everything it
needs, so the user never repeats it: the input-size policy (fixed H, W or dynamic), the priors
and their normalization (the channels after RGB), the input/output quantization and the
optional learned prior nets (``inputs.prior_overrides``, e.g. a trained saliency ``.tflite``
standing in for the classical f_va, each beside the manifest with its own sha256, checked by
the same ``verify(..., prior_nets=True)``). Anything that does not fit
refuses to start with a message naming the file and what to do.

Example:
    >>> spec = read_model_spec("acol-tflite-fp32.tflite")
    >>> spec.priors, spec.input_size, spec.channels
    (('pattern_masking', 'contrast_masking', 'saliency'), (96, 160), 6)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from jndtf.models.inputs import normalization_info


@dataclass(frozen=True)
class PriorOverride:
    """A learned prior net named by the manifest (``inputs.prior_overrides.NAME``).

    Attributes:
        name: the prior it replaces (``"saliency"``).
        path: the model file, beside the manifest (file name of the record's ``model``).
        sha256: its sha256 as recorded at export time (checked by
            :func:`jndtf.export.manifest.verify` before anything loads).
        max_side: working long side (:class:`jndtf.models.saliency_prior.SaliencyPrior`).
        rescale: min-max rescaling of its map.
    """

    name: str
    path: Path
    sha256: str | None
    max_side: int | None
    rescale: bool


@dataclass(frozen=True)
class ModelSpec:
    """An exported JND model as the runtime uses it (read by :func:`read_model_spec`).

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


def _bad(path: Path, what: str) -> ValueError:
    return ValueError(f"{path}: {what}; re-export the model with jndtf.export.export_model")


def _input_size(path: Path, record) -> tuple[int, int] | None:
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


def _check_prior_settings(path: Path, manifest: dict, priors: tuple[str, ...]) -> None:
    """Refuses a model whose prior maps were computed with other defaults, constants or
    normalization divisors than this jndtf's (the network would see other inputs)."""
    import json

    from jndtf.export.manifest import prior_settings

    recorded = ((manifest["inputs"].get("prior_settings") or {}).get("priors")) or {}
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


def read_model_spec(model_path: str | os.PathLike) -> ModelSpec:
    """Verifies an exported ``.tflite`` against its manifest and returns what the runtime needs.

    Raises:
        ValueError: no/malformed manifest, sha256 mismatch (the file changed after export), a
            format the runtime does not run (ONNX), inputs that do not add up, or prior maps
            whose recorded settings (``inputs.prior_settings``) differ from this jndtf's.
        FileNotFoundError: a learned prior net named by the manifest is missing.
    """
    from jndtf.export.manifest import verify

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
    _check_prior_settings(path, manifest, priors)
    channels = int(inputs.get("channels", 3 + len(priors)))
    if channels != 3 + len(priors):
        raise _bad(
            path, f"inputs.channels is {channels} but RGB + {list(priors)} make {3 + len(priors)}"
        )
    out_channels = int(outputs.get("channels", 0))
    if out_channels not in (1, 3):
        raise _bad(path, f"outputs.channels is {out_channels}; a JND map has 1 or 3")
    quant = manifest.get("quantization") or {}
    return ModelSpec(
        path=path,
        manifest=manifest,
        priors=priors,
        normalization=norm,
        channels=channels,
        output_channels=out_channels,
        input_size=_input_size(path, manifest["input_size"]),
        io=quant.get("io") if isinstance(quant, dict) else None,
        prior_overrides=_overrides(path, inputs, priors),
    )


def check_io(spec: ModelSpec, model) -> None:
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


__all__ = ["ModelSpec", "PriorOverride", "check_io", "read_model_spec"]
