"""Named configurations of the A-IQA distortion-group classifier.

``aiqa_resnet_tiny`` is the configuration of jndtf's shipped weights (jndtf/weights/aiqa/): small
enough (~80k parameters, < 1 MB) to train on a laptop CPU in minutes and to run inside a training
loss on every batch. ``aiqa_resnet_small`` doubles the width and depth for users with a GPU and
a real image collection.

Pure Python (no Keras import): registers the presets in :mod:`jndtf.models.registry` as family
``"aiqa"``, output kind ``"classifier"`` (two RGB inputs 0..255, ``reference`` and
``distorted``; logits of the distortion groups), trained by ``jndtf train aiqa`` and not
exported (it runs inside the ACoL-JND training loss).
"""

from __future__ import annotations

import functools
from types import MappingProxyType

PRESETS = MappingProxyType(
    {
        "aiqa_resnet_tiny": MappingProxyType(
            {
                "stem_filters": 16,
                "stage_filters": (16, 32, 64),
                "blocks_per_stage": 1,
                "residual_gain": 8.0,
                "num_groups": 5,
            }
        ),
        "aiqa_resnet_small": MappingProxyType(
            {
                "stem_filters": 32,
                "stage_filters": (32, 64, 128),
                "blocks_per_stage": 2,
                "residual_gain": 8.0,
                "num_groups": 5,
            }
        ),
    }
)

DEFAULT_PRESET = "aiqa_resnet_tiny"


def get_preset(name: str) -> dict:
    """A copy of preset `name`'s settings; KeyError lists the known presets."""
    try:
        return dict(PRESETS[name])
    except KeyError:
        raise KeyError(f"unknown A-IQA preset {name!r}; available: {', '.join(PRESETS)}") from None


def macs_per_pixel(preset: str | dict = DEFAULT_PRESET) -> float:
    """Multiply-accumulates of the convolutions per input pixel (H, W multiples of 2^stages).

    Counts ``k*k*c_in*c_out`` per output pixel of each conv of
    :func:`jndtf.models.aiqa.network.build_classifier`, weighted by its output resolution
    relative to the input: the 3x3 stem on the 6 feature channels (distorted image + residual),
    then per block two 3x3 convs and a 1x1 projection where the shape changes (each stage starts
    at stride 2). Batch norm, ReLU, pooling and the Dense head (once per image) are left out.

    Example:
        >>> round(macs_per_pixel("aiqa_resnet_tiny"))
        3872
    """
    cfg = get_preset(preset) if isinstance(preset, str) else dict(preset)
    cin, area = 6, 1.0
    total = 9 * cin * int(cfg["stem_filters"]) * area
    cin = int(cfg["stem_filters"])
    for filters in cfg["stage_filters"]:
        f = int(filters)
        for b in range(int(cfg["blocks_per_stage"])):
            if b == 0:
                area /= 4
            total += (9 * cin * f + 9 * f * f) * area
            if b == 0 or cin != f:
                total += cin * f * area
            cin = f
    return total


def _build(preset: str, **kwargs):
    from jndtf.models.aiqa.network import build_classifier

    return build_classifier(preset, **kwargs)


#: ``jndtf train aiqa``: settings, run and report of :mod:`jndtf.train.aiqa` (lazy paths).
TRAIN = {
    "settings": "jndtf.train.aiqa:AIQATrainConfig",
    "run": "jndtf.train.aiqa:train_aiqa",
    "help": "Train the A-IQA distortion-group classifier (L1 of ACoL-JND) on TID2008-style "
    "distortions synthesized from a folder of clean images; no dataset download needed.",
    "report": "jndtf.train.aiqa:report",
}


def _register() -> None:
    from jndtf.models.registry import ExportHooks, TrainEntry, register_model

    train = TrainEntry(**TRAIN)
    for name, cfg in PRESETS.items():
        register_model(
            name,
            "aiqa",
            functools.partial(_build, name),
            input_channels=3,
            normalization="unit",
            output_channels=int(cfg["num_groups"]),
            jnd_units="distortion-group logits (not a JND map)",
            description=f"A-IQA distortion-group classifier ({name.rsplit('_', 1)[-1]} width)",
            output_kind="classifier",
            modalities=("rgb", "reference"),
            train=train,
            export=ExportHooks(exportable=False),
            macs=f"{__name__}:macs_per_pixel",
            overwrite=True,
        )


_register()
