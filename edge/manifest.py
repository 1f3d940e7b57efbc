"""What the edge runtime reads from an exported model's manifest: moved to the core,
:mod:`jndtf.manifest` (the deployment contract that export writes and the edge reads); this module
re-exports it. ``ModelSpec`` is :class:`jndtf.manifest.DeploySpec` under its old name.

Example:
    >>> spec = read_model_spec("jnd-tflite-fp32.tflite")
    >>> spec.priors, spec.input_size, spec.channels
    (('pattern_masking', 'contrast_masking', 'saliency'), (96, 160), 6)
"""

from __future__ import annotations

from jndtf.manifest import (
    DeploySpec,
    ModelSpec,
    PriorOverride,
    check_io,
    read_deploy_spec,
    read_model_spec,
)

__all__ = [
    "DeploySpec",
    "ModelSpec",
    "PriorOverride",
    "check_io",
    "read_deploy_spec",
    "read_model_spec",
]
