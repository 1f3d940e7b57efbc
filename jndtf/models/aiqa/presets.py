"""Named configurations of the A-IQA distortion-group classifier.

``aiqa_resnet_tiny`` is the configuration of jndtf's shipped weights (jndtf/weights/aiqa/): small
enough (~80k parameters, < 1 MB) to train on a laptop CPU in minutes and to run inside a training
loss on every batch. ``aiqa_resnet_small`` doubles the width and depth for users with a GPU and
a real image collection.
"""

from __future__ import annotations

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
