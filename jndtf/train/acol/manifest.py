"""``manifest.json`` of a :func:`~jndtf.train.acol.train_acol` run (DESIGN.md)."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import shlex
import sys
from pathlib import Path

from jndtf.train.acol.config import AcolTrainConfig, AcolTrainResult


def _resolve_command(config: AcolTrainConfig) -> str:
    return config.command if config.command is not None else shlex.join(sys.argv)


def manifest_record(cfg, spec, net, data, state, dist, result: AcolTrainResult, t0) -> dict:
    """The model's manifest (DESIGN.md: family, preset, inputs and their priors and
    normalization, JND units, training data and command, losses, versions, sha256)."""
    from jndtf.models.inputs import normalization_info
    from jndtf.train._common import sha256_file, versions

    settings = json.loads(json.dumps(dataclasses.asdict(cfg), default=str))  # Path -> str
    l1_record = {"name": cfg.l1, "equation": "eq. (4) L1 = Q(x_o, x_d), x_d = x_o + x_j (eq. (3))"}
    if cfg.l1 == "aiqa":
        from jndtf.models.aiqa.loss import default_classifier_path

        clf = Path(cfg.aiqa_classifier) if cfg.aiqa_classifier else default_classifier_path()
        l1_record.update({"classifier": str(clf), "classifier_sha256": sha256_file(clf)})
    record = {
        "family": spec.family,
        "preset": cfg.preset,
        "width": cfg.width,
        "model_name": net.name,
        "description": spec.description,
        "inputs": {
            "channels": spec.input_channels,
            "priors": list(spec.priors),
            "normalization": normalization_info(spec.priors, spec.normalization),
            "builder": "jndtf.models.inputs.model_input(image, priors, normalization='unit')",
            "priors_on": "the whole image (crops are cut from its input)",
            "prior_overrides": {
                name: fn.describe() for name, fn in getattr(data, "prior_overrides", {}).items()
            },
        },
        "outputs": {"channels": spec.output_channels, "jnd_units": spec.jnd_units},
        "training": {
            "data": data.describe(),
            "loss": {
                "equation": "eq. (6) L = delta * L1 + eta * L2",
                "delta": cfg.delta,
                "eta": cfg.eta,
                "l1": l1_record,
                "l2": "eq. (5) gradient loss (Prewitt, per pixel, h0 = 0.001)",
                "precision": "float32",
            },
            "optimizer": {"name": "adam", "learning_rate": cfg.learning_rate},
            "settings": settings,
            "epochs": len(state.history),
            "steps_per_epoch": data.steps_per_epoch,
            "history": state.history,
            "final_losses": result.final_losses,
            "sessions": state.all_sessions(t0, len(state.history), 0),
            "distribution": dist.describe(),
            "mixed_precision": cfg.mixed_precision,
            "jit_compile": cfg.jit_compile,
        },
        "command": _resolve_command(cfg),
        "versions": versions(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "seconds": round(result.seconds, 1),
        "params": int(net.count_params()),
        "sha256": sha256_file(result.model_path),
    }
    return record


__all__ = ["manifest_record"]
