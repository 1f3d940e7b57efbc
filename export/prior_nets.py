"""Learned prior nets of an exported model (manifest ``inputs.prior_overrides``).

A JND model trained with ``--saliency-model NET`` (``jndtf train FAMILY``) takes its f_va prior
from that net, not from the classical spectral residual; its training manifest records the
net (``inputs.prior_overrides.saliency``: path, sha256, working size). An exported model needs
the same f_va on the device, and the edge runtime runs no Keras and checks every file it loads.

**Decision: the net travels with the export.** Each net is written beside the exported model as
``STEM-PRIOR.tflite`` (a ``.keras`` net converted to float32 TFLite with dynamic H, W, or the
``.tflite`` the model was trained with, copied as is); the manifest records it by file name
(relative to the manifest's folder) with the sha256 of that copy, the working size and
rescaling, and where it came from (the training-time file and its sha256). So the folder holds
everything the runtime needs and :mod:`jndtf.manifest` finds the net beside the model and
refuses it when its sha256 differs. A converted net's own parity (max abs difference of its map
vs the Keras net's, on the parity images) is recorded too.

Example:
    >>> records = export_prior_nets(learned, out_dir, "jnd", images=[photo])
    >>> records["saliency"]["model"], len(records["saliency"]["model_sha256"])
    ('jnd-saliency.tflite', 64)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def prior_net_file(stem: str, prior: str) -> str:
    """File name of a prior net written beside the export of `stem`."""
    return f"{stem}-{prior}.tflite"


def export_prior_nets(
    learned, out_dir: str | Path, stem: str, *, images: Sequence[np.ndarray] = ()
) -> dict:
    """Writes every learned prior net of `learned` beside the export; returns manifest records.

    Args:
        learned: :class:`jndtf.evaluate.learned.LearnedJnd`; its ``prior_overrides`` map prior
            names to :class:`jndtf.priors.learned.SaliencyPrior` objects (or the Keras-loading
            subclass :class:`jndtf.models.saliency_prior.SaliencyPrior`).
        out_dir: the export folder.
        stem: the export's file stem.
        images: uint8 RGB images on which a converted net is compared with its Keras source.

    Returns:
        prior name -> record (``model`` file name, ``model_sha256``, ``max_side``, ``rescale``,
        ``fixed_size``, ``backend``, ``source``, ``conversion``, ``max_abs_err``); {} when the
        model has no learned prior.

    Raises:
        ValueError: an override that is not a saliency net jndtf can export.
    """
    from jndtf.io import atomic_write_bytes, file_sha256

    records = {}
    for name, prior in sorted((getattr(learned, "prior_overrides", None) or {}).items()):
        describe = getattr(prior, "describe", None)
        if not callable(describe) or getattr(prior, "backend", None) not in ("keras", "litert"):
            raise ValueError(
                f"the {name!r} prior override of {learned.name} is not a saliency net "
                "(jndtf.models.saliency_prior.SaliencyPrior); jndtf can only export those"
            )
        rec = describe()
        path = Path(out_dir) / prior_net_file(stem, name)
        if prior.backend == "litert":
            atomic_write_bytes(path, Path(prior.path).read_bytes())
            conversion, err = "copied: the .tflite the model was trained with", 0.0
        else:
            atomic_write_bytes(path, _convert_keras_net(prior))
            conversion = "float32 TFLite of the Keras net (jndtf.export.tflite.convert_model)"
            err = _max_abs_err(prior, path, images)
        records[name] = {
            "prior": name,
            "model": path.name,
            "model_sha256": file_sha256(path),
            "backend": "litert",
            "implementation": rec.get("implementation"),
            "max_side": rec.get("max_side"),
            "fixed_size": rec.get("fixed_size"),
            "rescale": bool(rec.get("rescale", False)),
            "input": rec.get("input"),
            "output": rec.get("output"),
            "source": {"model": rec.get("model"), "sha256": rec.get("model_sha256")},
            "conversion": conversion,
            "max_abs_err": err,
            "location": "beside the manifest (file name relative to its folder)",
        }
    return records


def _convert_keras_net(prior) -> bytes:
    from jndtf.export.quantization import QuantizationConfig
    from jndtf.export.tflite import convert_model

    model = prior._keras_model
    if model is None:
        raise ValueError(f"the saliency net {prior.path} was closed before export")
    return convert_model(model, prior.fixed_size, 3, QuantizationConfig.none())


def _max_abs_err(prior, tflite_path: Path, images: Sequence[np.ndarray]) -> float | None:
    """Largest |TFLite map - Keras map| of the net over `images` (0..1 units), None if none."""
    from jndtf.priors.learned import SaliencyPrior  # a .tflite: the core class runs it

    if not images:
        return None
    converted = SaliencyPrior(tflite_path, max_side=prior.max_side, rescale=prior.rescale)
    try:
        return max(float(np.abs(converted(im) - prior(im)).max()) for im in images)
    finally:
        converted.close()


__all__ = ["export_prior_nets", "prior_net_file"]
