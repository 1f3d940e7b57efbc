"""What the edge runtime reads from an exported model's manifest.

- RGB + HVS priors (ACoL-JND, DMV's maps): moved to the core, :mod:`jndtf.manifest` (the
  deployment contract that export writes and the edge reads); this module re-exports it.
  ``ModelSpec`` is :class:`jndtf.manifest.DeploySpec` under its old name.
- RGB + modality maps with an image output (hmJND-Net: ``outputs.kind == "image"``, the
  redundancy-removed image I_rr): :func:`read_modality_spec` checks the manifest's channel names,
  normalization and modality providers (``inputs.providers``, each provider's ``describe()``
  as :func:`jndtf.priors.modalities.describe_stack` wrote it at export time), and
  :func:`rebuild_providers` turns those records back into the same provider objects of
  :mod:`jndtf.priors.modalities` that training and export used, by the core's
  :func:`jndtf.priors.modalities.provider_from_record` (the evaluation calls it too). A
  classical provider is rebuilt from its settings and must describe itself exactly as
  recorded; a ``.tflite`` provider is found beside the manifest (or at its recorded path),
  sha256-checked and run by LiteRT; a Keras provider (``.keras`` file or in-memory model) is
  refused with what to do instead: the edge runtime runs no Keras.

Example:
    >>> spec = read_model_spec("jnd-tflite-fp32.tflite")
    >>> spec.priors, spec.input_size, spec.channels
    (('pattern_masking', 'contrast_masking', 'saliency'), (96, 160), 6)
    >>> hm = read_modality_spec("hmjnd_tiny-tflite-int8.tflite")
    >>> [p.name for p in rebuild_providers(hm)]
    ['spectral_residual', 'defocus_vertical', 'slic_regions']
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from jndtf.manifest import (
    REEXPORT,
    DeploySpec,
    ModelSpec,
    PriorOverride,
    check_io,
    input_size_of,
    read_deploy_spec,
    read_manifest,
    read_model_spec,
    verify,
)
from jndtf.priors.modalities import MODALITY_CHANNELS as _MODALITY_CHANNELS

#: ``outputs.kind`` of a network that outputs the redundancy-removed image I_rr (hmJND-Net).
IMAGE_KIND = "image"

#: The first three input channels of every model the edge runs.
RGB_CHANNELS = ("red", "green", "blue")

#: Input channel name (``inputs.channel_names``) -> modality provider kind (the core's table).
MODALITY_CHANNELS = _MODALITY_CHANNELS


def output_kind(model_path: str | os.PathLike) -> str:
    """``outputs.kind`` of an exported model's manifest (``"jnd_map"`` when unrecorded), read
    without checking the file (the backend that opens it verifies everything).

    Raises:
        ValueError: no readable manifest beside the model.
    """
    outputs = read_manifest(model_path).get("outputs")
    return str((outputs or {}).get("kind", "jnd_map")) if isinstance(outputs, dict) else "jnd_map"


@dataclass(frozen=True)
class ModalitySpec:
    """An exported RGB + modality-maps model with an image output, as the runtime uses it (read
    by :func:`read_modality_spec`; the attributes :func:`jndtf.manifest.check_io` reads have the
    names of :class:`jndtf.manifest.DeploySpec`).

    Attributes:
        path: the ``.tflite`` file.
        manifest: the whole manifest (verified).
        channel_names: the input channels in order (``red, green, blue``, then modality names).
        kinds: the provider kind of each modality channel, in channel order.
        providers: the manifest's provider records (``describe()``), in channel order.
        rgb_divisor: RGB is fed as ``rgb / rgb_divisor`` (255: the ``"unit"`` normalization).
        channels: network input channels.
        output_channels: 3 (the RGB image I_rr).
        input_size: fixed ``(H, W)`` or None (dynamic H, W).
        io: the manifest's ``quantization.io`` record.
        output_kind: ``"image"``.
        calibration: the manifest's ``strength_calibration`` record or None.
    """

    path: Path
    manifest: dict
    channel_names: tuple[str, ...]
    kinds: tuple[str, ...]
    providers: tuple[dict, ...]
    rgb_divisor: float
    channels: int
    output_channels: int
    input_size: tuple[int, int] | None
    io: dict | None
    output_kind: str = IMAGE_KIND
    calibration: dict | None = None


def _bad(path: Path, what: str) -> ValueError:
    return ValueError(f"{path}: {what}; {REEXPORT}")


def _rgb_divisor(path: Path, norm) -> float:
    if not isinstance(norm, dict):
        if str(norm) != "unit":
            raise _bad(path, f"inputs.normalization {norm!r}: the edge feeds RGB as 'unit' only")
        return 255.0
    if str(norm.get("name", "unit")) != "unit":
        raise _bad(path, f"inputs.normalization {norm.get('name')!r}: the edge feeds 'unit' only")
    divisors = {
        float(c.get("divisor", 255.0))
        for c in norm.get("channels") or []
        if isinstance(c, dict) and c.get("name") in RGB_CHANNELS
    }
    if len(divisors) > 1:
        raise _bad(path, f"RGB channels with different divisors {sorted(divisors)}")
    value = divisors.pop() if divisors else 255.0
    if not value > 0:
        raise _bad(path, f"RGB divisor {value!r} is not > 0")
    return value


def read_modality_spec(model_path: str | os.PathLike) -> ModalitySpec:
    """Verifies an exported RGB + modality-maps ``.tflite`` (hmJND-Net) against its manifest
    and returns what the runtime needs.

    Raises:
        ValueError: no/malformed manifest, sha256 mismatch, an output that is not an image, a
            channel the edge cannot build (the message names it), providers that do not match
            the channels, or a normalization other than ``"unit"``.
    """
    path = Path(model_path)
    if path.suffix.lower() != ".tflite":
        raise ValueError(f"{path}: the edge runtime runs .tflite models (jndtf export --int8)")
    manifest = verify(path, prior_nets=True)
    if manifest.get("backend", "tflite") != "tflite":
        raise _bad(path, f"the manifest is for backend {manifest.get('backend')!r}, not tflite")
    inputs, outputs = manifest["inputs"], manifest["outputs"]
    if not isinstance(inputs, dict) or not isinstance(outputs, dict):
        raise _bad(path, "the manifest's inputs/outputs must be objects")
    kind = str(outputs.get("kind", "jnd_map"))
    if kind != IMAGE_KIND:
        raise _bad(path, f"outputs.kind is {kind!r}, not {IMAGE_KIND!r} (an I_rr image)")
    if inputs.get("priors"):
        raise _bad(path, f"inputs.priors {inputs['priors']!r}: an image model takes modality maps")
    names = inputs.get("channel_names")
    if not isinstance(names, list) or tuple(names[:3]) != RGB_CHANNELS:
        raise _bad(path, f"inputs.channel_names {names!r} must start with red, green, blue")
    names = tuple(str(n) for n in names)
    unknown = [n for n in names[3:] if n not in MODALITY_CHANNELS]
    if unknown:
        raise _bad(
            path,
            f"input channel(s) {unknown} cannot be built by the edge runtime (it builds "
            f"{', '.join(RGB_CHANNELS)} and the modality maps {', '.join(MODALITY_CHANNELS)})",
        )
    kinds = tuple(MODALITY_CHANNELS[n] for n in names[3:])
    if len(set(kinds)) != len(kinds):
        raise _bad(path, f"inputs.channel_names {list(names)} repeats a modality")
    channels = int(inputs.get("channels", len(names)))
    if channels != len(names):
        raise _bad(path, f"inputs.channels is {channels} but channel_names has {len(names)}")
    records = inputs.get("providers")
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise _bad(path, "inputs.providers must list one provider record per modality map")
    recorded = tuple(str(r.get("kind")) for r in records)
    if recorded != kinds:
        raise _bad(
            path,
            f"inputs.providers are for {list(recorded)} but the modality channels need "
            f"{list(kinds)}, in that order",
        )
    out_channels = int(outputs.get("channels", 0))
    if out_channels != 3:
        raise _bad(path, f"outputs.channels is {out_channels}; an RGB image has 3")
    quant = manifest.get("quantization") or {}
    return ModalitySpec(
        path=path,
        manifest=manifest,
        channel_names=names,
        kinds=kinds,
        providers=tuple(records),
        rgb_divisor=_rgb_divisor(path, inputs.get("normalization", "unit")),
        channels=channels,
        output_channels=out_channels,
        input_size=input_size_of(path, manifest["input_size"]),
        io=quant.get("io") if isinstance(quant, dict) else None,
        calibration=manifest.get("strength_calibration"),
    )


def rebuild_provider(spec: ModalitySpec, rec: dict, *, num_threads: int = 1):
    """One modality provider of :mod:`jndtf.priors.modalities` from its manifest record:
    :func:`jndtf.priors.modalities.provider_from_record`, the code training and evaluation
    use too, with a provider network looked for beside the manifest first and Keras refused.

    Raises:
        ValueError: a Keras provider (the edge runs no Keras), an unknown implementation, a
            classical provider whose settings this jndtf rebuilds differently, or a provider
            network whose sha256 differs; each message names the provider.
        FileNotFoundError: a provider network that is neither beside the manifest nor at its
            recorded path.
    """
    from jndtf.priors.modalities import provider_from_record

    return provider_from_record(
        rec,
        spec.path,
        search=(spec.path.parent,),
        allow_keras=False,
        num_threads=num_threads,
        version=spec.manifest.get("jndtf_version"),
    )


def rebuild_providers(spec: ModalitySpec, *, num_threads: int = 1) -> list:
    """The providers of every modality channel, in channel order (:func:`rebuild_provider`);
    on an error, the ones already opened are closed."""
    out: list = []
    try:
        for rec in spec.providers:
            out.append(rebuild_provider(spec, rec, num_threads=num_threads))
    except BaseException:
        for p in out:
            getattr(p, "close", lambda: None)()
        raise
    return out


__all__ = [
    "IMAGE_KIND",
    "MODALITY_CHANNELS",
    "RGB_CHANNELS",
    "DeploySpec",
    "ModalitySpec",
    "ModelSpec",
    "PriorOverride",
    "check_io",
    "output_kind",
    "read_deploy_spec",
    "read_modality_spec",
    "read_model_spec",
    "rebuild_provider",
    "rebuild_providers",
]
